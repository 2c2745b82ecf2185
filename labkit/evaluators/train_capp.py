"""Training CAPP, the audio–pose contrastive pair: ``labkit train capp --out runs/capp``.

CLIP's recipe (VASA-1 §4.1): batches of 3 s windows of head pose and audio, each window from a
different clip, a symmetric cross-entropy over the batch's similarities. Data: the ground-truth
head pose and log-mel audio of SynthTalk train clips (labkit.motion.data, cached; no pixels are
rendered). Same run conventions as the other trainers (labkit.training.runs).
"""
from __future__ import annotations

import logging
import os
from dataclasses import asdict
from pathlib import Path

import numpy as np
import torch

from labkit.evaluators.capp import CAPP, KIND, pose_audio
from labkit.evaluators.config import CAPPConfig, TrainCAPPConfig
from labkit.training.runs import RunFolder, keeps_global_state, run_steps

log = logging.getLogger(__name__)


_RESUMABLE_CHANGES = {"steps", "log_every", "checkpoint_every", "snapshot_steps"}


def window_batch(pose: np.ndarray, audio: np.ndarray, B: int, window: int, rng: np.random.Generator):
    """B windows (B, window, ·) of pose and audio, from B different clips, and where they were picked:
    (clips, first frames), each (B,)."""
    N, T = pose.shape[:2]
    if B > N:
        raise ValueError(f"batch_size {B} exceeds the {N} clips (each window comes from another clip)")
    n = rng.choice(N, B, replace=False)
    start = rng.integers(T - window + 1, size=B)
    idx = start[:, None] + np.arange(window)
    return pose[n[:, None], idx], audio[n[:, None], idx], (n, start)


def hard_negatives(pose: np.ndarray, picked, window: int, rng: np.random.Generator, *,
                   shift: tuple[int, int] = (3, 12), still: float = 0.25) -> np.ndarray:
    """Pose windows that match none of the batch's audio: each picked window's clip read `shift` frames
    earlier or later (the same motion, out of time: CAPP must see timing, not only style), and for a
    share `still` of them the window with its motion damped to 0–25 % (a head that barely moves
    matches no speech). picked = (clips, starts) of the batch; returns (M, window, ·)."""
    (n, start), T = picked, pose.shape[1]
    out = []
    if shift:
        lo, hi = shift
        if not 1 <= lo <= hi:
            raise ValueError(f"shift must be (lo, hi) frames with 1 <= lo <= hi, got {shift}")
        moved = np.empty_like(start)
        for i, s in enumerate(start):
            cand = np.concatenate([np.arange(s - hi, s - lo + 1), np.arange(s + lo, s + hi + 1)])
            cand = cand[(cand >= 0) & (cand <= T - window)]
            moved[i] = rng.choice(cand) if len(cand) else (T - window if s < (T - window) / 2 else 0)
        out.append(pose[n[:, None], moved[:, None] + np.arange(window)])
    k = int(round(still * len(n)))
    if k:
        w = pose[n[:k, None], start[:k, None] + np.arange(window)]
        mean = w.mean(1, keepdims=True)
        out.append(mean + rng.uniform(0, 0.25, (k, 1, 1)) * (w - mean))
    if not out:
        return pose[:0, :window]
    return np.concatenate(out).astype(pose.dtype, copy=False)


@keeps_global_state
def train_capp(cfg: TrainCAPPConfig, out_dir: str | os.PathLike, *, model_cfg: CAPPConfig | None = None,
               device: str = "cpu", overwrite: bool = False, progress: bool = True, cache_dir=None) -> Path:
    """Train (or resume) CAPP in `out_dir`; returns the weights path."""
    model_cfg = model_cfg or CAPPConfig()
    pose, audio = pose_audio("train", cfg.train_clips, seconds=cfg.seconds, seed=cfg.seed, cache_dir=cache_dir,
                             progress=progress)
    run = RunFolder(out_dir, {"train": asdict(cfg), "model": asdict(model_cfg)}, kind=KIND,
                    resumable=_RESUMABLE_CHANGES, overwrite=overwrite)
    torch.manual_seed(cfg.seed)
    model = CAPP(model_cfg).to(device)
    a = torch.from_numpy(audio.reshape(-1, audio.shape[-1]))
    model.audio_mean.copy_(a.mean(0))
    model.audio_std.copy_(a.std(0).clamp_min(1e-3))
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    step, elapsed = run.load(model, opt, device)

    def loss_at(step):
        rng = np.random.default_rng([cfg.seed, step])
        p, a, picked = window_batch(pose, audio, cfg.batch_size, model_cfg.window, rng)
        neg = hard_negatives(pose, picked, model_cfg.window, rng, shift=cfg.shift_negatives, still=cfg.still_negatives)
        return model.loss(torch.from_numpy(p).to(device), torch.from_numpy(a).to(device),
                          torch.from_numpy(neg).to(device))

    run_steps(run, model, opt, cfg, loss_at, start=step, elapsed=elapsed, model_config=asdict(model_cfg),
              extra={"train_clips": cfg.train_clips}, desc="train capp", progress=progress, show="acc")
    run.close()
    return run.weights
