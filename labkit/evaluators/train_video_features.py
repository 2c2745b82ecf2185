"""Training the FVD clip encoder: ``labkit train video-features --out runs/video_features``.

Data: a pool of 16-frame windows cut from SynthTalk train clips (factors from labkit.motion.data,
cached; each window rendered once at 128 px by the SynthTalk renderer and kept at 64 px), each
labelled with its factors at four frames, how much each factor varies over the window, and its
emotion. Loss: mean squared error of the
standardised factors plus the emotion cross-entropy. Same run conventions as the other
trainers (labkit.training.runs): exact resume, atomic checkpoints.
"""
from __future__ import annotations

import logging
import os
from dataclasses import asdict
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from labkit.evaluators.config import TrainVideoFeaturesConfig, VideoFeaturesConfig
from labkit.evaluators.video_features import KIND, VideoFeatureNet, factor_targets, render_windows
from labkit.training.runs import RunFolder, keeps_global_state, run_steps

log = logging.getLogger(__name__)


_RESUMABLE_CHANGES = {"steps", "log_every", "checkpoint_every", "snapshot_steps"}


def video_features_loss(model: VideoFeatureNet, clips: torch.Tensor, factors: torch.Tensor, emotion: torch.Tensor,
                        emotion_weight: float) -> tuple[torch.Tensor, dict]:
    pred_f, logits = model(clips)
    mse = F.mse_loss(pred_f, factors)
    ce = F.cross_entropy(logits, emotion)
    acc = (logits.argmax(1) == emotion).float().mean()
    return mse + emotion_weight * ce, {"mse": mse.item(), "ce": ce.item(), "emotion_acc": acc.item()}


@keeps_global_state
def train_video_features(cfg: TrainVideoFeaturesConfig, out_dir: str | os.PathLike, *,
                         model_cfg: VideoFeaturesConfig | None = None, device: str = "cpu", overwrite: bool = False,
                         progress: bool = True, cache_dir=None) -> Path:
    """Train (or resume) the clip encoder in `out_dir`; returns the weights path."""
    model_cfg = model_cfg or VideoFeaturesConfig()
    data = render_windows("train", cfg.train_clips, model_cfg, seconds=cfg.seconds, seed=cfg.seed,
                          cache_dir=cache_dir, progress=progress)
    f = data["factors"].reshape(-1, data["factors"].shape[-1])
    model_cfg.factor_mean = f.mean(0).astype(float).round(6).tolist()
    model_cfg.factor_std = np.maximum(f.std(0), 1e-3).astype(float).round(6).tolist()
    run = RunFolder(out_dir, {"train": asdict(cfg), "model": asdict(model_cfg)}, kind=KIND,
                    resumable=_RESUMABLE_CHANGES, overwrite=overwrite)
    torch.manual_seed(cfg.seed)
    model = VideoFeatureNet(model_cfg).to(device)
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    step, elapsed = run.load(model, opt, device)

    def loss_at(step):
        n = np.random.default_rng([cfg.seed, step]).integers(len(data["frames"]), size=cfg.batch_size)
        factors, emotion = factor_targets(data, n, model_cfg)
        clips = torch.from_numpy(data["frames"][n]).to(device)
        return video_features_loss(model, clips, factors.to(device), emotion.to(device), cfg.emotion_weight)

    run_steps(run, model, opt, cfg, loss_at, start=step, elapsed=elapsed, model_config=asdict(model_cfg),
              extra={"train_clips": cfg.train_clips}, desc="train video features", progress=progress, show="mse")
    run.close()
    return run.weights
