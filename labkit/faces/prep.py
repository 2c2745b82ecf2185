"""Real talking-head videos → aligned training shards (``labkit prep VIDEO_DIR OUT_DIR``).

Per clip, the same framing SynthTalk renders, so models trained on either transfer:

1. decode frames with their timestamps (any container FFmpeg reads) and the audio track;
2. detect the face in every frame and *track* it: the face kept is the one overlapping the
   previous frame's most (the most confident in the first frame); a frame where the detector misses
   reuses the previous box for the landmark predictor;
3. smooth the 68 landmarks over time (Savitzky–Golay, zero phase) to remove detector jitter;
4. align every frame to SynthTalk's canonical template by a similarity transform;
5. log-mel audio features, one vector per video frame (:mod:`labkit.io.audio`);
6. per-frame estimates from the landmarks: head pose, eye and mouth openness.

Outputs per clip: ``<name>.mp4`` (aligned frames + the original speech, H.264/AAC) and
``<name>.npz`` (landmarks, transforms, features, estimates). ``manifest.json`` lists every clip
with its status. Resumable (clips done are skipped), several worker processes, a failing clip is
logged in the manifest and the run goes on; source files are only ever read.
"""
from __future__ import annotations

import json
import logging
import multiprocessing as mp
import os
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
from scipy.signal import savgol_filter
from tqdm.auto import tqdm

from labkit.faces.align import align_face
from labkit.faces.expression import eye_openness, mouth_openness
from labkit.faces.landmarks import LandmarkDetector, dlib_shape
from labkit.faces.pose import head_pose
from labkit.io.atomic import save_npz_atomic, write_json_atomic
from labkit.io.audio import MelFeatures, load_audio, log_mel
from labkit.io.video import iter_frames, video_info, write_video
from labkit.synthtalk.renderer import RESOLUTIONS

log = logging.getLogger(__name__)

VIDEO_EXTENSIONS = (".mp4", ".mov", ".webm", ".mkv", ".avi", ".m4v")
MANIFEST = "manifest.json"


@dataclass(frozen=True)
class PrepConfig:
    resolution: int = 256          # side of the aligned crops (64, 128, 256 or 512)
    backend: str = "auto"          # landmark backend: auto (FAN if its weights are cached), dlib, fan
    smooth_frames: int = 5         # Savitzky–Golay window over time (odd; 1 = no smoothing)
    sample_rate: int = 16_000      # audio resampled to this rate
    n_mels: int = 80               # log-mel bands per frame


def _name(video: Path, root: Path) -> str:
    rel = video.relative_to(root).with_suffix("")
    return "__".join(rel.parts)


def find_videos(root: str | os.PathLike) -> list[Path]:
    """Video files under `root` (recursively), sorted."""
    root = Path(root)
    if not root.is_dir():
        raise NotADirectoryError(f"video folder {root} does not exist or is not a folder")
    return sorted(p for p in root.rglob("*") if p.suffix.lower() in VIDEO_EXTENSIONS and p.is_file())


def _iou(a: np.ndarray, b: np.ndarray) -> float:
    w = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    h = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = w * h
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / max(union, 1e-9)


def track_landmarks(frames, detector) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Follow one face through `frames`: landmarks (T, 68, 2), boxes (T, 4), detected (T,) bool.

    The face is the most confident in the first frame where one is found, then the detection that
    overlaps the previous box most. Where the detector misses, the previous box is reused
    (dlib's predictor) or the previous landmarks are carried (FAN). Frames before the first
    detection take the first detection's values. ValueError if no frame has a face.
    """
    lms, boxes, found = [], [], []
    prev = None
    for img in frames:
        faces = detector.detect(img)
        if prev is not None and faces:
            best = max(faces, key=lambda f: _iou(f.box, prev))
            face = best if _iou(best.box, prev) > 0.2 else None
        else:
            face = faces[0] if faces else None
        if face is not None:
            lm, box = face.landmarks, face.box
        elif prev is not None:
            box = prev
            lm = dlib_shape(img, box) if detector.backend == "dlib" else lms[-1]
        else:
            lm, box = None, None
        lms.append(lm)
        boxes.append(box)
        found.append(face is not None)
        prev = box if box is not None else prev
    if not any(found):
        raise ValueError("no face found in any frame")
    first = found.index(True)
    for t in range(first):
        lms[t], boxes[t] = lms[first], boxes[first]
    return np.stack(lms).astype(np.float32), np.stack(boxes).astype(np.float32), np.array(found)


def smooth_landmarks(lms: np.ndarray, window: int) -> np.ndarray:
    """Zero-phase Savitzky–Golay smoothing (order 2) of landmarks (T, 68, 2) along time."""
    if window <= 1 or len(lms) < window:
        return lms
    window += 1 - window % 2                                  # odd
    return savgol_filter(lms, window, 2, axis=0, mode="interp").astype(np.float32)


def prepare_clip(video: Path, out_dir: Path, name: str, cfg: PrepConfig) -> dict:
    """Prepare one clip; returns its manifest entry. Raises on failure (the caller logs it)."""
    t0 = time.perf_counter()
    info = video_info(video)
    if not info["has_audio"]:
        raise ValueError(f"{video.name} has no audio track")
    stamps, frames = zip(*iter_frames(video))
    fps = info["fps"]
    detector = LandmarkDetector(cfg.backend)
    raw, boxes, found = track_landmarks(frames, detector)
    lms = smooth_landmarks(raw, cfg.smooth_frames)
    H, W = frames[0].shape[:2]
    crops, affine, aligned = [], [], []
    for img, lm in zip(frames, lms):
        crop, M, alm = align_face(img, lm, cfg.resolution)
        crops.append(crop)
        affine.append(M)
        aligned.append(alm)
    audio = load_audio(video, sample_rate=cfg.sample_rate)
    T = len(frames)
    mel = log_mel(audio, MelFeatures(sample_rate=cfg.sample_rate, fps=fps, n_mels=cfg.n_mels), num_frames=T)
    poses = [head_pose(lm, (H, W)) for lm in lms]
    arrays = dict(
        timestamps=np.asarray(stamps, np.float64), landmarks=lms, landmarks_raw=raw, boxes=boxes, detected=found,
        affine=np.stack(affine).astype(np.float32), aligned_landmarks=np.stack(aligned).astype(np.float32),
        mel=mel, pose=np.array([[p.yaw, p.pitch, p.roll] for p in poses], np.float32),
        eye_openness=eye_openness(lms).astype(np.float32), mouth_openness=mouth_openness(lms).astype(np.float32),
        fps=np.float64(fps))
    spf = cfg.sample_rate / fps
    audio = np.pad(audio, (0, max(0, int(round(T * spf)) - len(audio))))[: int(round(T * spf))]
    write_video(out_dir / f"{name}.mp4", np.stack(crops), fps, audio, cfg.sample_rate, overwrite=True,
                metadata={"title": f"labkit prep of {video.name}"})
    save_npz_atomic(out_dir / f"{name}.npz", **arrays)
    seconds = T / fps
    return {"name": name, "source": str(video), "status": "ok", "frames": T, "seconds": round(seconds, 3),
            "fps": fps, "detected_fraction": round(float(found.mean()), 4), "backend": detector.backend,
            "prep_seconds": round(time.perf_counter() - t0, 3)}


def _work(args) -> dict:
    video, out_dir, name, cfg = args
    try:
        return prepare_clip(video, out_dir, name, cfg)
    except Exception as e:                                    # one bad clip must not stop the run
        return {"name": name, "source": str(video), "status": "failed", "error": f"{type(e).__name__}: {e}"}


def _write_manifest(path: Path, settings: dict, clips: dict) -> None:
    write_json_atomic(path, {"settings": settings, "clips": sorted(clips.values(), key=lambda c: c["name"])})


def prepare(video_dir: str | os.PathLike, out_dir: str | os.PathLike, cfg: PrepConfig = PrepConfig(), *,
            workers: int = 1, overwrite: bool = False, progress: bool = True) -> Path:
    """Prepare every video under `video_dir` into `out_dir`; returns the manifest path."""
    if cfg.resolution not in RESOLUTIONS:
        raise ValueError(f"resolution {cfg.resolution} is not supported; choose one of {RESOLUTIONS}")
    if workers < 1:
        raise ValueError(f"workers must be >= 1, got {workers}")
    root, out = Path(video_dir).resolve(), Path(out_dir).resolve()
    videos = find_videos(root)
    if out == root or root in out.parents:
        raise ValueError(f"output folder {out} must not be inside the video folder {root}")
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise OSError(f"cannot create output folder {out}: {e.strerror}") from e
    settings = asdict(cfg)
    man = out / MANIFEST
    clips: dict[str, dict] = {}
    if man.exists():
        old = json.loads(man.read_text(encoding="utf-8"))
        if old.get("settings") != settings and not overwrite:
            raise FileExistsError(f"{out} holds clips prepared with other settings ({old.get('settings')}); "
                                  "use another folder or pass --overwrite")
        if old.get("settings") == settings:
            clips = {c["name"]: c for c in old.get("clips", [])}
    todo = []
    for v in videos:
        name = _name(v, root)
        done = clips.get(name, {}).get("status") == "ok" and (out / f"{name}.npz").exists()
        if not done:
            todo.append((v, out, name, cfg))
    log.info("%d videos, %d to prepare", len(videos), len(todo))
    bar = None
    if progress:
        bar = tqdm(total=len(todo), desc="prep", unit="clip")
    results = map(_work, todo) if workers == 1 else None
    # spawned, not forked: a fork of a process whose torch/OpenMP or tqdm threads hold a lock can hang
    # its children for good
    pool = ProcessPoolExecutor(max_workers=workers, mp_context=mp.get_context("spawn")) if workers > 1 else None
    try:
        if pool is not None:
            results = (f.result() for f in as_completed([pool.submit(_work, a) for a in todo]))
        for entry in results:
            clips[entry["name"]] = entry
            if entry["status"] != "ok":
                log.warning("clip %s failed: %s", entry["name"], entry["error"])
            _write_manifest(man, settings, clips)             # after every clip: a crash loses nothing
            if bar is not None:
                bar.update()
    finally:
        if pool is not None:
            pool.shutdown(cancel_futures=True)
        if bar is not None:
            bar.close()
    _write_manifest(man, settings, clips)
    return man
