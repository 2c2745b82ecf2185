"""Video-clip features for FVD: a small 3D conv trained on SynthTalk (the kit's stand-in for I3D).

FVD (Unterthiner et al., 2018) is the Fréchet distance between the feature statistics of real
and generated video clips, with features from I3D trained on Kinetics. Those weights cannot be
fetched here, so labkit trains its own clip encoder on SynthTalk, where every clip's content is
known exactly: from 16 frames and their frame-to-frame changes it regresses the factors (head
pose, jaw, lips, blink, brows, gaze, emotion intensity) at four of the frames and how much each
varies over the clip, and classifies the emotion. Its pooled last
stage is the feature: it has to see head motion, mouth and eye dynamics and expression, which
is what the evaluation compares.

    clip (B, 16, H, W, 3) uint8 ─ resize to 64², + changes ─ 3D conv stages ─ mean ─► f (B, 4·width)  the FVD feature
                                                          └─ linear ─► factors at frames 0, 5, 10, 15, their spread,
                                                                       emotion logits

Features are computed on clips cut every `hop` frames from each video (labkit.metrics.fvd
computes the distance). Users with I3D weights pass their own features to metrics.fvd.fvd.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from tqdm.auto import tqdm

from labkit.evaluators.config import VideoFeaturesConfig
from labkit.io.checkpoint import load_state
from labkit.io.weights import resolve
from labkit.motion.data import extract_clips
from labkit.synthtalk import SynthTalk
from labkit.synthtalk.factors import array_to_factors
from labkit.synthtalk.renderer import render

KIND = "video_features"


def _stage(c_in: int, c_out: int, stride) -> nn.Sequential:
    return nn.Sequential(nn.Conv3d(c_in, c_out, 3, stride, 1), nn.GroupNorm(8, c_out), nn.SiLU())


class VideoFeatureNet(nn.Module):
    """Clip (B, T, H, W, 3) → feature (B, 4·width); a linear head reads factors and emotion off it."""

    def __init__(self, cfg: VideoFeaturesConfig):
        super().__init__()
        self.cfg = cfg
        w = cfg.width
        self.stages = nn.Sequential(                                                       # in: frames and their change
            nn.Conv3d(6, w, (3, 5, 5), (1, 2, 2), (1, 2, 2)),
            nn.GroupNorm(8, w), nn.SiLU(),                                                 # (w, T, 32, 32): time kept
            _stage(w, 2 * w, 2),                                                           # (2w, T/2, 16, 16)
            _stage(2 * w, 4 * w, 2),                                                       # (4w, T/4, 8, 8)
            _stage(4 * w, 4 * w, 2))                                                       # (4w, T/8, 4, 4)
        self.head = nn.Linear(4 * w, cfg.num_factors * (len(cfg.target_frames) + 1) + cfg.num_emotions)

    def _input(self, clips: torch.Tensor) -> torch.Tensor:
        """uint8 or [0, 1] float clips (B, T, H, W, 3) → (B, 6, T, size, size): the frames in [-1, 1] and
        4 × their frame-to-frame difference (0 at the first frame), so motion is in plain view."""
        B, T, H, W, C = clips.shape
        if (T, C) != (self.cfg.frames, 3):
            raise ValueError(f"clips must be (B, {self.cfg.frames}, H, W, 3), got {tuple(clips.shape)}")
        x = clips.float().div(255) if clips.dtype == torch.uint8 else clips.float()
        x = x.reshape(B * T, H, W, C).permute(0, 3, 1, 2)
        if (H, W) != (self.cfg.size, self.cfg.size):
            x = F.interpolate(x, size=(self.cfg.size, self.cfg.size), mode="bilinear", antialias=True,
                              align_corners=False)
        s = self.cfg.size
        x = (2 * x - 1).reshape(B, T, C, s, s).transpose(1, 2)                   # (B, 3, T, s, s)
        return torch.cat([x, 4 * F.pad(x.diff(dim=2), (0, 0, 0, 0, 1, 0))], 1)

    def features(self, clips: torch.Tensor) -> torch.Tensor:
        """clips (B, T, H, W, 3) → (B, 4·width), the mean of the last stage over time and space."""
        return self.stages(self._input(clips)).mean((2, 3, 4))

    def forward(self, clips: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """clips → standardised factors at the target frames and their spread over the clip
        (B, len(target_frames) + 1, F), and emotion logits (B, num_emotions)."""
        out = self.head(self.features(clips))
        n = self.cfg.num_factors * (len(self.cfg.target_frames) + 1)
        return out[:, :n].reshape(len(out), len(self.cfg.target_frames) + 1, -1), out[:, n:]

    @torch.no_grad()
    def video_features(self, videos, *, hop: int | None = None, batch: int = 32) -> np.ndarray:
        """FVD features of every clip of `frames` frames cut every `hop` (default `frames`) frames
        from each video: videos is (N, T, H, W, 3) uint8 or a list of (T_i, H, W, 3) → (clips, 4·width)."""
        T = self.cfg.frames
        hop = hop or T
        clips = []
        for v in videos:
            v = np.asarray(v)
            if v.ndim != 4 or v.shape[-1] != 3 or v.dtype != np.uint8:
                raise ValueError(f"each video must be (T, H, W, 3) uint8, got {v.shape} {v.dtype}")
            if len(v) < T:
                raise ValueError(f"a video of {len(v)} frames is shorter than one {T}-frame clip")
            clips += [v[s:s + T] for s in range(0, len(v) - T + 1, hop)]
        dev = next(self.parameters()).device
        out = [self.features(torch.from_numpy(np.stack(clips[k:k + batch])).to(dev)).cpu()
               for k in range(0, len(clips), batch)]
        return torch.cat(out).numpy().astype(np.float64)


def load_video_features(path: str | Path | None = None, *, device: str = "cpu") -> VideoFeatureNet:
    """A trained clip encoder in eval mode; the shipped SynthTalk one by default."""
    path = resolve(path, KIND, "video_features")
    state, meta = load_state(path, kind=KIND)
    c = meta["config"]
    model = VideoFeatureNet(VideoFeaturesConfig(**{**c, "target_frames": tuple(c["target_frames"])}))
    model.load_state_dict(state)
    return model.to(device).eval()


def render_windows(split: str, num_clips: int, cfg: VideoFeaturesConfig, *, seconds: float = 6.0, seed: int = 0,
                   cache_dir=None, progress: bool = False) -> dict:
    """One random window of cfg.frames frames from each of `num_clips` SynthTalk clips of `split`:
    frames (N, T, size, size, 3) uint8, factors (N, T, F) and emotion (N,)."""
    clips = extract_clips(split, num_clips, source="factors", seconds=seconds, seed=seed, cache_dir=cache_dir,
                          progress=progress)
    ds = SynthTalk(split=split, seconds=seconds, seed=seed, num_clips=num_clips)
    rng = np.random.default_rng([seed, 17])
    T, s = cfg.frames, cfg.size
    starts = rng.integers(clips.factors.shape[1] - T + 1, size=num_clips)
    frames = np.empty((num_clips, T, s, s, 3), np.uint8)
    it = range(num_clips)
    if progress:
        it = tqdm(it, desc=f"render windows ({split})", unit="clip")
    for i in it:
        f = clips.factors[i, starts[i]:starts[i] + T]
        video = render(ds.identity(i), array_to_factors(f, clips.emotion[i]), resolution=128).frames
        x = torch.from_numpy(video).permute(0, 3, 1, 2).float()
        x = F.interpolate(x, size=(s, s), mode="bilinear", antialias=True, align_corners=False)
        frames[i] = x.round().clamp(0, 255).byte().permute(0, 2, 3, 1).numpy()
    idx = starts[:, None] + np.arange(T)
    return {"frames": frames, "factors": clips.factors[np.arange(num_clips)[:, None], idx],
            "emotion": clips.emotion}


def factor_targets(data: dict, n: np.ndarray, cfg: VideoFeaturesConfig) -> tuple[torch.Tensor, torch.Tensor]:
    """Targets of windows n: standardised factors at the target frames and each factor's spread over
    the window in units of its overall spread (B, len(target_frames) + 1, F), and the emotion (B,)."""
    std = np.asarray(cfg.factor_std)
    f = (data["factors"][n][:, list(cfg.target_frames)] - np.asarray(cfg.factor_mean)) / std   # (B, 4, F)
    spread = data["factors"][n].std(1, keepdims=True) / std                                   # (B, 1, F)
    return torch.from_numpy(np.concatenate([f, 4 * spread], 1).astype(np.float32)), torch.from_numpy(data["emotion"][n])
