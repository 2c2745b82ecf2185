"""Training LabSync, the lip-sync expert: ``labkit train labsync --out runs/labsync``.

SyncNet learns from true pairs and pairs whose audio is shifted in time. Here each video
window is scored against the audio windows of its own clip at every offset in ±max_offset
frames and against the in-sync audio of the other clips in the batch; a cross-entropy picks
the true one (an InfoNCE over offsets, as in later SyncNet variants). Near offsets are the
hard negatives: they differ from the truth only in timing, so the towers must learn timing.

Data: SynthTalk train clips at 128 px, mouth crops and audio features extracted once and
cached (uint8 crops, float16 log-mel). Augmentation makes the expert robust to the softer
mouths that a learned renderer draws: random blur, contrast and small shifts of the box.
Same run conventions as the other trainers (labkit.training.runs): exact resume, atomic checkpoints.
"""
from __future__ import annotations

import logging
import os
from dataclasses import asdict
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from labkit.evaluators.config import LabSyncConfig, TrainLabSyncConfig
from labkit.evaluators.labsync import KIND, LabSync, extract_sync_clips
from labkit.training.runs import RunFolder, keeps_global_state, run_steps

log = logging.getLogger(__name__)


_RESUMABLE_CHANGES = {"steps", "log_every", "checkpoint_every", "snapshot_steps"}


def augment(x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """Windows (B, T, 3, h, w) in [0, 1]: a random shift (±6 %) and scale (±5 %) of the box, the same
    for the window's frames; blur for half of them; contrast and brightness ±15 %."""
    B, T, C, h, w = x.shape
    u = lambda *s: torch.rand(*s, generator=generator)                        # noqa: E731
    theta = torch.zeros(B, 2, 3)
    s = 1 + 0.1 * (u(B) - 0.5)
    theta[:, 0, 0], theta[:, 1, 1] = s, s
    theta[:, :, 2] = 0.12 * (u(B, 2) - 0.5)
    grid = F.affine_grid(theta, (B, C, h, w), align_corners=False)
    x = F.grid_sample(x.reshape(B, T * C, h, w), grid, padding_mode="border", align_corners=False)
    blur = F.avg_pool2d(F.pad(x, (1, 1, 1, 1), mode="replicate"), 3, 1)
    x = torch.where(u(B, 1, 1, 1) < 0.5, blur, x)
    mean = x.mean((1, 2, 3), keepdim=True)
    x = (x - mean) * (1 + 0.3 * (u(B, 1, 1, 1) - 0.5)) + mean + 0.15 * (u(B, 1, 1, 1) - 0.5)
    return x.clamp(0, 1).reshape(B, T, C, h, w)


def offset_batch(data: dict, cfg: LabSyncConfig, B: int, max_offset: int, rng: np.random.Generator):
    """B video windows (B, frames, 3, h, w) uint8 and the audio windows of every offset in ±max_offset
    of their own clip (B, 2·max_offset + 1, frames·audio_rate, n_mels), with a validity mask (B, 2·max_offset + 1)
    (offsets that leave the clip are masked)."""
    N, T = data["crops"].shape[:2]
    n = rng.integers(N, size=B)
    t = rng.integers(T - cfg.frames + 1, size=B)
    video = data["crops"][n[:, None], t[:, None] + np.arange(cfg.frames)]
    k = np.arange(-max_offset, max_offset + 1)
    ta = t[:, None] + k[None]                                                    # (B, K) audio window starts
    valid = (ta >= 0) & (ta <= T - cfg.frames)
    ta = np.clip(ta, 0, T - cfg.frames)
    rows = ta[..., None] * cfg.audio_rate + np.arange(cfg.audio_window)          # (B, K, A)
    audio = data["audio"][n[:, None, None], rows]
    return video, audio, valid


def labsync_loss(model: LabSync, video: torch.Tensor, audio: torch.Tensor,
                 valid: torch.Tensor) -> tuple[torch.Tensor, dict]:
    """InfoNCE: each window against its clip's audio at every offset (the centre is true) and the
    in-sync audio of the batch's other windows. video (B, frames, 3, h, w) float, audio (B, K, A, n_mels)."""
    B, K = valid.shape
    ev = model.embed_video(video)                                                # (B, E)
    ea = model.embed_audio(audio.flatten(0, 1)).view(B, K, -1)                   # (B, K, E)
    scale = model.logit_scale.exp().clamp(max=100)
    own = scale * torch.einsum("be,bke->bk", ev, ea)                              # (B, K)
    own = own.masked_fill(~valid, -1e4)
    centre = K // 2
    others = scale * ev @ ea[:, centre].T                                         # (B, B)
    others = others.masked_fill(torch.eye(B, dtype=torch.bool), -1e4)            # the diagonal is own[:, centre]
    logits = torch.cat([own, others], 1)
    loss = F.cross_entropy(logits, torch.full((B,), centre))
    with torch.no_grad():
        acc = (own.argmax(1) == centre).float().mean()
    return loss, {"offset_acc": float(acc), "scale": float(scale.detach())}


@keeps_global_state
def train_labsync(cfg: TrainLabSyncConfig, out_dir: str | os.PathLike, *, model_cfg: LabSyncConfig | None = None,
                  device: str = "cpu", overwrite: bool = False, progress: bool = True, cache_dir=None) -> Path:
    """Train (or resume) LabSync in `out_dir`; returns the weights path."""
    model_cfg = model_cfg or LabSyncConfig()
    data = extract_sync_clips("train", cfg.train_clips, model_cfg, seconds=cfg.seconds, seed=cfg.seed,
                              cache_dir=cache_dir, progress=progress)
    run = RunFolder(out_dir, {"train": asdict(cfg), "model": asdict(model_cfg)}, kind=KIND,
                    resumable=_RESUMABLE_CHANGES, overwrite=overwrite)
    torch.manual_seed(cfg.seed)
    model = LabSync(model_cfg).to(device)
    a = torch.from_numpy(data["audio"].reshape(-1, model_cfg.n_mels).astype(np.float32))
    model.audio_mean.copy_(a.mean(0))
    model.audio_std.copy_(a.std(0).clamp_min(1e-3))
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    step, elapsed = run.load(model, opt, device)

    def loss_at(step):
        rng = np.random.default_rng([cfg.seed, step])
        gen = torch.Generator().manual_seed(int(rng.integers(2 ** 62)))
        video, audio, valid = offset_batch(data, model_cfg, cfg.batch_size, cfg.max_offset, rng)
        video = torch.from_numpy(video).float().div_(255)
        if cfg.augment:
            video = augment(video, gen)
        return labsync_loss(model, video.to(device), torch.from_numpy(audio.astype(np.float32)).to(device),
                            torch.from_numpy(valid).to(device))

    run_steps(run, model, opt, cfg, loss_at, start=step, elapsed=elapsed, model_config=asdict(model_cfg),
              extra={"train_clips": cfg.train_clips}, desc="train labsync", progress=progress, show="offset_acc")
    run.close()
    return run.weights
