"""Training the FVD clip encoder: ``labkit train video-features --out runs/video_features``.

Data: a pool of 16-frame windows cut from SynthTalk train clips (factors from labkit.motion_data,
cached; each window rendered once at 128 px by the SynthTalk renderer and kept at 64 px), each
labelled with its factors at four frames, how much each factor varies over the window, and its
emotion. Loss: mean squared error of the
standardised factors plus the emotion cross-entropy. Same run conventions as the other
trainers (labkit.runs): exact resume, atomic checkpoints.
"""
from __future__ import annotations

import logging
import os
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from labkit.motion_data import extract_clips
from labkit.runs import RunFolder, run_steps
from labkit.video_features import KIND, VideoFeatureNet, VideoFeaturesConfig

log = logging.getLogger(__name__)


@dataclass
class TrainVideoFeaturesConfig:
    train_clips: int = 4000        # SynthTalk train clips (6 s each; the same as CAPP's), one window from each
    seconds: float = 6.0           # clip length
    steps: int = 3000              # optimisation steps
    batch_size: int = 32           # windows per step
    lr: float = 1e-3               # peak AdamW learning rate
    weight_decay: float = 1e-4     # AdamW weight decay
    warmup: int = 100              # linear warm-up steps
    emotion_weight: float = 0.5    # weight of the emotion cross-entropy
    seed: int = 0                  # init, the windows and every batch
    log_every: int = 50            # steps between scalar logs
    checkpoint_every: int = 500    # steps between checkpoints
    snapshot_steps: tuple[int, ...] = ()


_RESUMABLE_CHANGES = {"steps", "log_every", "checkpoint_every", "snapshot_steps"}


def render_windows(split: str, num_clips: int, cfg: VideoFeaturesConfig, *, seconds: float = 6.0, seed: int = 0,
                   cache_dir=None, progress: bool = False) -> dict:
    """One random window of cfg.frames frames from each of `num_clips` SynthTalk clips of `split`:
    frames (N, T, size, size, 3) uint8, factors (N, T, F) and emotion (N,)."""
    from labkit.synthtalk import SynthTalk
    from labkit.synthtalk.factors import array_to_factors
    from labkit.synthtalk.renderer import render

    clips = extract_clips(split, num_clips, source="factors", seconds=seconds, seed=seed, cache_dir=cache_dir,
                          progress=progress)
    ds = SynthTalk(split=split, seconds=seconds, seed=seed, num_clips=num_clips)
    rng = np.random.default_rng([seed, 17])
    T, s = cfg.frames, cfg.size
    starts = rng.integers(clips.factors.shape[1] - T + 1, size=num_clips)
    frames = np.empty((num_clips, T, s, s, 3), np.uint8)
    it = range(num_clips)
    if progress:
        from tqdm.auto import tqdm
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


def _targets(data: dict, n: np.ndarray, cfg: VideoFeaturesConfig) -> tuple[torch.Tensor, torch.Tensor]:
    """Targets of windows n: standardised factors at the target frames and each factor's spread over
    the window in units of its overall spread (B, len(target_frames) + 1, F), and the emotion (B,)."""
    std = np.asarray(cfg.factor_std)
    f = (data["factors"][n][:, list(cfg.target_frames)] - np.asarray(cfg.factor_mean)) / std   # (B, 4, F)
    spread = data["factors"][n].std(1, keepdims=True) / std                                   # (B, 1, F)
    return torch.from_numpy(np.concatenate([f, 4 * spread], 1).astype(np.float32)), torch.from_numpy(data["emotion"][n])


def video_features_loss(model: VideoFeatureNet, clips: torch.Tensor, factors: torch.Tensor, emotion: torch.Tensor,
                        emotion_weight: float) -> tuple[torch.Tensor, dict]:
    pred_f, logits = model(clips)
    mse = F.mse_loss(pred_f, factors)
    ce = F.cross_entropy(logits, emotion)
    acc = (logits.argmax(1) == emotion).float().mean()
    return mse + emotion_weight * ce, {"mse": mse.item(), "ce": ce.item(), "emotion_acc": acc.item()}


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
        factors, emotion = _targets(data, n, model_cfg)
        clips = torch.from_numpy(data["frames"][n]).to(device)
        return video_features_loss(model, clips, factors.to(device), emotion.to(device), cfg.emotion_weight)

    run_steps(run, model, opt, cfg, loss_at, start=step, elapsed=elapsed, model_config=asdict(model_cfg),
              extra={"train_clips": cfg.train_clips}, desc="train video features", progress=progress, show="mse")
    run.close()
    return run.weights


@torch.no_grad()
def evaluate_video_features(model: VideoFeatureNet, *, num_clips: int = 200, cache_dir=None,
                            progress: bool = False) -> dict:
    """On one window of each of `num_clips` SynthTalk test clips: R² of each regressed factor
    (over the four target frames), emotion accuracy, and the FVD between two halves of the test
    windows (the sampling floor) and between the test windows and the same windows blurred or
    frozen on their first frame (the distance must grow)."""
    from labkit.metrics.fvd import fvd
    from labkit.synthtalk.factors import FACTOR_NAMES

    cfg = model.cfg
    data = render_windows("test", num_clips, cfg, cache_dir=cache_dir, progress=progress)
    n = np.arange(num_clips)
    factors, emotion = _targets(data, n, cfg)
    clips = torch.from_numpy(data["frames"])
    pred, logits = zip(*[model(clips[k:k + 64]) for k in range(0, num_clips, 64)])
    pred, logits = torch.cat(pred), torch.cat(logits)
    pred, factors = pred[:, :-1], factors[:, :-1]                                 # the factors at the target frames
    ss_res = ((pred - factors) ** 2).sum((0, 1))
    ss_tot = ((factors - factors.mean((0, 1))) ** 2).sum((0, 1)).clamp_min(1e-9)
    out = {f"r2_{name}": float(1 - r / t) for name, r, t in zip(FACTOR_NAMES, ss_res, ss_tot)}
    out["emotion_acc"] = float((logits.argmax(1) == emotion).float().mean())
    feats = model.video_features(data["frames"])
    half = num_clips // 2
    blurred = F.avg_pool2d(clips.flatten(0, 1).permute(0, 3, 1, 2).float(), 5, 1, 2).round().byte()
    blurred = blurred.permute(0, 2, 3, 1).reshape(clips.shape).numpy()
    frozen = np.repeat(data["frames"][:, :1], cfg.frames, axis=1)
    out["fvd_halves"] = fvd(feats[:half], feats[half:])
    out["fvd_blurred"] = fvd(feats[:half], model.video_features(blurred[half:]))
    out["fvd_frozen"] = fvd(feats[:half], model.video_features(frozen[half:]))
    out["clips"] = num_clips
    return out
