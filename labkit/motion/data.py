"""Motion sequences for the motion generator: SynthTalk clips → (motion, audio, controls), cached.

VASA-1 §3.2 trains its diffusion transformer on X = [z_pose, z_dyn] per frame, extracted from
video by the face latent model's motion encoder, with frame-aligned audio features and the
control signals. On SynthTalk the control signals are exact:

- main gaze: mean over the window of the eye direction relative to the camera,
  (pitch + gaze_pitch, yaw + gaze_yaw) in degrees (spherical angles);
- head-to-camera distance: mean of the distance factor over the window (1 = nominal);
- emotion: an offset vector, intensity × one-hot of the clip's emotion (zero when neutral).

Two motion sources: ``"latent"`` (the paper: E_mot codes of the rendered frames) and
``"factors"`` (the 14 ground-truth SynthTalk factors: an oracle ablation that shows what the
generator can do when the latent space is perfect). Extraction renders and encodes every
frame once; the result is cached as .npz keyed by everything it depends on.
"""
from __future__ import annotations

import hashlib
import json
import os
from dataclasses import asdict, dataclass, fields
from pathlib import Path

import numpy as np
import torch
from safetensors import safe_open
from tqdm.auto import tqdm

from labkit.io.atomic import save_npz_atomic
from labkit.io.audio import log_mel
from labkit.io.checkpoint import read_metadata
from labkit.latent.config import FaceLatentConfig
from labkit.latent.model import load_face_latent
from labkit.motion.dit import MotionConditions
from labkit.synthtalk import MOTION_VERSION, SynthTalk
from labkit.synthtalk.dataset import LANGUAGES
from labkit.synthtalk.factors import EMOTIONS, FACTOR_NAMES

_COL = {n: i for i, n in enumerate(FACTOR_NAMES)}
CONTROL_NAMES = ("distance", *(f"emotion_{e}" for e in EMOTIONS[1:]))   # the control vector's entries
HEAD_DIMS = 6   # both motion spaces start with the head pose: z_pose (labkit.latent.warp.POSE_DIM) or yaw … distance


def default_cache() -> Path:
    """Where extracted motion is cached: $LABKIT_CACHE/motion, else ~/.cache/labkit/motion."""
    return Path(os.environ.get("LABKIT_CACHE", Path.home() / ".cache" / "labkit")) / "motion"


@dataclass
class MotionClips:
    """N clips of T frames: motion (N, T, M), audio log-mel (N, T, A), factors (N, T, F),
    emotion (N,) index into EMOTIONS, intensity (N,), language (N,) str."""
    motion: np.ndarray
    audio: np.ndarray
    factors: np.ndarray
    emotion: np.ndarray
    intensity: np.ndarray
    language: np.ndarray

    def __len__(self) -> int:
        return len(self.motion)

    def subset(self, keep: np.ndarray) -> "MotionClips":
        return MotionClips(**{f.name: getattr(self, f.name)[keep] for f in fields(self)})


def gaze_of(factors: np.ndarray) -> np.ndarray:
    """Eye direction relative to the camera (..., 2) = (pitch, yaw) in degrees from factors (..., F)."""
    return np.stack([factors[..., _COL["pitch"]] + factors[..., _COL["gaze_pitch"]],
                     factors[..., _COL["yaw"]] + factors[..., _COL["gaze_yaw"]]], -1)


def emotion_offset(emotion: np.ndarray, intensity: np.ndarray) -> np.ndarray:
    """(N,) categories and intensities → (N, len(EMOTIONS) - 1) offsets; neutral is all zeros."""
    out = np.zeros((len(emotion), len(EMOTIONS) - 1), np.float32)
    rows = np.flatnonzero(emotion > 0)
    out[rows, emotion[rows] - 1] = intensity[rows]
    return out


def window_controls(factors: np.ndarray, emotion: np.ndarray, intensity: np.ndarray):
    """Commands of windows of factors (N, W, F): gaze (N, 2) and control (N, C) = [distance, emotion offset]."""
    gaze = gaze_of(factors).mean(1).astype(np.float32)
    distance = factors[..., _COL["distance"]].mean(1, keepdims=True)
    return gaze, np.concatenate([distance, emotion_offset(emotion, intensity)], 1).astype(np.float32)


# what sets a face latent model's codes: E_mot's tensors and the pose-residual map (G_2D and G_part only draw)
_CODE_TENSORS = ("motion_encoder.", "dyn_from_pose", "dyn_offset")
_DRAWING_ONLY = {"part_painter", "part_spatial", "part_reference", "crop_decoder"}   # config fields of the decoder


def source_id(source) -> str:
    """'factors', or 'latent:<digest>' for a face latent checkpoint path: a sha256 of what sets its codes, the
    motion encoder's tensors as stored, the pose-residual map and the model's config, so that a checkpoint
    that only draws differently (G_part retrained, every code kept) keeps the motion of the one before it,
    and the generators trained on that motion."""
    if source == "factors":
        return "factors"
    path = Path(source)
    cfg = asdict(FaceLatentConfig(**read_metadata(path)["config"]))        # every field, defaults filled in
    h = hashlib.sha256(json.dumps({k: v for k, v in cfg.items() if k not in _DRAWING_ONLY}, sort_keys=True).encode())
    with safe_open(str(path), framework="pt") as f:
        for name in sorted(f.keys()):
            if name.startswith(_CODE_TENSORS):
                t = f.get_tensor(name).contiguous()
                h.update(f"{name} {t.dtype} {tuple(t.shape)}".encode())
                h.update(t.numpy().tobytes())
    return f"latent:{h.hexdigest()[:16]}"


def extract_clips(split: str, num_clips: int, *, source="factors", seconds: float = 6.0, seed: int = 0,
                  languages: tuple[str, ...] | None = None, cache_dir: str | os.PathLike | None = None,
                  device: str = "cpu", progress: bool = False) -> MotionClips:
    """Motion, audio features and factors of `num_clips` SynthTalk clips of `split`.

    source: "factors" or the path of a face latent checkpoint (its motion encoder's codes).
    Results are cached under `cache_dir` (default_cache()); pass cache_dir=False to skip it.
    """
    languages = tuple(languages or LANGUAGES)
    key = dict(split=split, num_clips=num_clips, source=source_id(source), seconds=seconds, seed=seed,
               languages=list(languages), version=MOTION_VERSION)
    path = None
    if cache_dir is not False:
        name = hashlib.sha1(json.dumps(key, sort_keys=True).encode()).hexdigest()[:20]
        path = Path(cache_dir or default_cache()) / f"motion-{name}.npz"
        if path.is_file():
            z = np.load(path, allow_pickle=False)
            return MotionClips(**{f.name: z[f.name] for f in fields(MotionClips)})

    model = None
    if source != "factors":
        model = load_face_latent(source, device=device)
    # frames as finely as the motion encoder reads them (its eye branch may read finer than it draws); the
    # source's digest fixes this resolution, so the cache key need not name it
    ds = SynthTalk(split=split, seconds=seconds, seed=seed, num_clips=num_clips, languages=languages,
                   resolution=model.cfg.driver_size if model is not None else 128)
    it = range(num_clips)
    if progress:
        it = tqdm(it, desc=f"extract motion ({split}, {key['source']})", unit="clip")
    cols = {f.name: [] for f in fields(MotionClips)}
    for i in it:
        clip = ds[i] if model is not None else ds.sample_motion(i)
        f = np.stack([clip["factors"][n] for n in FACTOR_NAMES], 1).astype(np.float32)
        if model is not None:
            motion = _encode_motion(model, clip["frames"], device)
        else:
            motion = f
        cols["motion"].append(motion)
        cols["audio"].append(log_mel(clip["audio"], num_frames=len(f)))
        cols["factors"].append(f)
        cols["emotion"].append(EMOTIONS.index(clip["emotion"]))
        cols["intensity"].append(clip["emotion_intensity"])
        cols["language"].append(clip["language"])
    out = MotionClips(motion=np.stack(cols["motion"]).astype(np.float32), audio=np.stack(cols["audio"]),
                      factors=np.stack(cols["factors"]), emotion=np.asarray(cols["emotion"], np.int64),
                      intensity=np.asarray(cols["intensity"], np.float32),
                      language=np.asarray(cols["language"], dtype="U8"))
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        save_npz_atomic(path, **asdict(out))
    return out


@torch.no_grad()
def _encode_motion(model, frames: np.ndarray, device: str, batch: int = 64) -> np.ndarray:
    """E_mot codes [z_pose, z_dyn] (T, M) of frames (T, H, W, 3) uint8."""
    out = []
    for k in range(0, len(frames), batch):
        x = torch.from_numpy(frames[k:k + batch]).permute(0, 3, 1, 2).contiguous().float().div_(255).to(device)
        out.append(torch.cat(model.encode_motion(x), 1).cpu())
    return torch.cat(out).numpy()


def sample_windows(clips: MotionClips, B: int, window: int, context: int, rng: np.random.Generator):
    """B random training windows: raw motion x0 (B, W, M) and their MotionConditions (all present)."""
    N, T = clips.motion.shape[:2]
    if T < window + context:
        raise ValueError(f"clips of {T} frames are shorter than window + context = {window + context}")
    n = rng.integers(N, size=B)
    s = rng.integers(T - window - context + 1, size=B)
    idx = s[:, None] + np.arange(window + context)[None]                   # (B, K+W)
    motion = clips.motion[n[:, None], idx]                                  # (B, K+W, M)
    gaze, control = window_controls(clips.factors[n[:, None], idx[:, context:]], clips.emotion[n],
                                    clips.intensity[n])
    t = torch.from_numpy
    cond = MotionConditions.full(t(clips.audio[n[:, None], idx]), t(motion[:, :context].copy()), t(gaze),
                                 t(control))
    return t(motion[:, context:].copy()), cond
