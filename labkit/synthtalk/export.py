"""Export SynthTalk clips to disk: one mp4 (H.264 + AAC) and one factors .npz per clip, plus a manifest.

Resumable and safe: every file is written beside its final name and renamed into place, clips
already on disk are skipped, and a folder exported with different settings is never
overwritten unless asked (``overwrite=True``).
"""
from __future__ import annotations

import json
import logging
import os
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

from labkit.io.atomic import save_npz_atomic, write_json_atomic
from labkit.io.video import write_video
from labkit.synthtalk.dataset import SynthTalk

log = logging.getLogger(__name__)
MANIFEST = "manifest.json"


def clip_name(index: int) -> str:
    return f"clip_{index:06d}"


def export(dataset: SynthTalk, out_dir: str | os.PathLike, n: int | None = None, *, overwrite: bool = False,
           progress: bool = True) -> Path:
    """Write the first `n` clips of `dataset` (default: all) to `out_dir`; returns the manifest path."""
    out = Path(out_dir)
    n = len(dataset) if n is None else n
    if n < 0:
        raise ValueError(f"n must be >= 0, got {n}")
    if n > len(dataset):
        raise ValueError(f"n={n} is more than the dataset's {len(dataset)} clips")
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise OSError(f"cannot create output folder {out}: {e.strerror}") from e
    if not os.access(out, os.W_OK):
        raise PermissionError(f"output folder {out} is not writable")
    settings = dataset.config_dict()
    settings.pop("num_clips")
    man_path = out / MANIFEST
    clips: dict[str, dict] = {}
    if man_path.exists():
        old = json.loads(man_path.read_text(encoding="utf-8"))
        if old.get("settings") != settings:
            if not overwrite:
                raise FileExistsError(f"{out} holds an export made with other settings ({old.get('settings')}); "
                                      f"use another folder or pass overwrite=True")
            log.warning("overwriting %s, exported with other settings", out)
        else:
            clips = {c["name"]: c for c in old.get("clips", [])}
    elif any(out.glob("clip_*")) and not overwrite:
        raise FileExistsError(f"{out} already holds clip files but no manifest; pass overwrite=True to replace them")
    def save_manifest():
        write_json_atomic(man_path, {"settings": settings, "clips": sorted(clips.values(), key=lambda c: c["index"])})

    it = range(n)
    if progress:
        it = tqdm(it, desc="export SynthTalk", unit="clip")
    for i in it:
        name = clip_name(i)
        mp4, npz = out / f"{name}.mp4", out / f"{name}.npz"
        if name in clips and mp4.exists() and npz.exists():
            continue                                   # resume: done in an earlier run
        clip = dataset[i]
        meta = {k: clip[k] for k in ("identity", "text", "language", "voice", "emotion", "emotion_intensity",
                                     "sample_rate", "fps")}
        write_video(mp4, clip["frames"], clip["fps"], clip["audio"], clip["sample_rate"], overwrite=True,
                    metadata={"title": f"SynthTalk {dataset.config.split} {name}"})
        save_npz_atomic(npz, audio=clip["audio"], landmarks=clip["landmarks"],
                  **{f"factor_{k}": v for k, v in clip["factors"].items()},
                  meta=np.array(json.dumps(meta)))
        clips[name] = {"name": name, "index": i, "video": mp4.name, "factors": npz.name,
                       "frames": int(len(clip["frames"])), **meta}
        if (i + 1) % 10 == 0:                          # checkpoint the manifest now and then
            save_manifest()
    save_manifest()
    return man_path


def load_clip(npz_path: str | os.PathLike) -> dict:
    """Read back an exported clip's .npz: audio, landmarks, factors {name: (T,)} and metadata."""
    with np.load(npz_path) as z:
        factors = {k[len("factor_"):]: z[k] for k in z.files if k.startswith("factor_")}
        meta = json.loads(str(z["meta"]))
        return {"audio": z["audio"], "landmarks": z["landmarks"], "factors": factors, **meta}
