"""Training the motion generator: ``labkit train motion --preset small --out runs/motion``.

The same conventions as the face latent model (labkit.latent.train): AdamW with warm-up and
cosine decay, everything a function of (seed, step), atomic checkpoints, exact resume,
log.jsonl + TensorBoard, a progress bar. Motion is extracted once (labkit.motion.data, cached)
and windows are cut from it at random. Conditions are dropped independently for classifier-free
guidance (VASA-1: each condition with 0.1, the previous-window context with 0.5).

Under ``torchrun`` the same command trains on several processes (labkit.training.distributed). The
denoiser's dropout draws its own masks on each process, so a sharded run matches the
one-process run exactly only with ``dropout = 0``; everything else is drawn for the whole batch.

``--process regression`` trains the deterministic baseline (VASA-1 compares against one): the same network and
data, MSE on x0 from the conditions alone.
"""
from __future__ import annotations

import contextlib
import logging
import os
from dataclasses import asdict
from pathlib import Path

import numpy as np
import torch

from labkit.io.weights import FACE_LATENT, resolve
from labkit.motion.config import TrainMotionConfig, make_config
from labkit.motion.data import extract_clips, sample_windows, source_id, window_controls
from labkit.motion.diffusion import make_process
from labkit.motion.dit import MotionDiT
from labkit.motion.generator import KIND
from labkit.synthtalk.dataset import LANGUAGES
from labkit.training import distributed
from labkit.training.runs import compiled, deadline_after, keeps_global_state, open_run, restore, run_steps

log = logging.getLogger(__name__)


_RESUMABLE_CHANGES = {"steps", "log_every", "checkpoint_every", "snapshot_steps", "accumulate", "compile"}


def motion_source(cfg: TrainMotionConfig):
    """What extract_clips reads: "factors", or the face latent checkpoint path."""
    if cfg.motion == "factors":
        return "factors"
    if cfg.motion != "latent":
        raise ValueError(f"motion must be 'latent' or 'factors', got {cfg.motion!r}")
    path = resolve(cfg.latent or None, "face_latent", FACE_LATENT)
    if not path.is_file():
        raise FileNotFoundError(f"no face latent checkpoint at {path}")
    return str(path)


def train_languages(cfg: TrainMotionConfig) -> tuple[str, ...]:
    if cfg.heldout_language is not None and cfg.heldout_language not in LANGUAGES:
        raise ValueError(f"heldout_language must be one of {LANGUAGES} or None, got {cfg.heldout_language!r}")
    return tuple(lang for lang in LANGUAGES if lang != cfg.heldout_language)


class MotionObjective(torch.nn.Module):
    """The denoiser and its diffusion (or regression) loss as one module, for DistributedDataParallel."""

    def __init__(self, model: MotionDiT, process):
        super().__init__()
        self.model, self.process = model, process

    def forward(self, x0: torch.Tensor, cond, generator: torch.Generator, rows: slice):
        return self.process.loss(self.model, x0, cond, generator=generator, rows=rows)


@keeps_global_state
def train_motion(cfg: TrainMotionConfig, out_dir: str | os.PathLike, *, model_overrides: dict | None = None,
                 device: str = "cpu", overwrite: bool = False, progress: bool = True, cache_dir=None,
                 time_limit: float | None = None) -> Path:
    """Train (or resume) a motion generator in `out_dir`; returns the weights path. Under
    ``torchrun`` every process trains its shard of each batch (labkit.training.distributed). `time_limit`
    (minutes, counted from this call): stop, checkpointed, at the first step that ends after it."""
    deadline = deadline_after(time_limit)
    process = make_process(cfg.diffusion)
    source = motion_source(cfg)
    d = distributed.setup(device)
    finished = False
    try:
        path = _train(cfg, out_dir, d, source, process, model_overrides=model_overrides, overwrite=overwrite,
                      progress=progress, cache_dir=cache_dir, deadline=deadline)
        finished = True
        return path
    finally:
        distributed.teardown(d, finished=finished)


def _train(cfg, out_dir, d, source, process, *, model_overrides, overwrite, progress, cache_dir, deadline) -> Path:
    device = d.device
    with d.main_first():                                   # rank 0 fills the motion cache, the others read it
        clips = extract_clips("train", cfg.train_clips, source=source, seconds=cfg.seconds, seed=cfg.seed,
                              languages=train_languages(cfg), cache_dir=cache_dir, progress=progress and d.is_main)
    model_cfg = make_config(cfg.preset, motion_dim=clips.motion.shape[-1], audio_dim=clips.audio.shape[-1],
                            **(model_overrides or {}))
    run, _ = open_run(d, out_dir, {"train": asdict(cfg), "model": asdict(model_cfg)}, kind=KIND,
                      resumable=_RESUMABLE_CHANGES, overwrite=overwrite)
    torch.manual_seed(cfg.seed)
    model = MotionDiT(model_cfg).to(device)
    _, control = window_controls(clips.factors, clips.emotion, clips.intensity)    # one command per clip
    model.set_statistics(torch.from_numpy(clips.motion.reshape(-1, model_cfg.motion_dim)),
                         torch.from_numpy(clips.audio.reshape(-1, model_cfg.audio_dim)), torch.from_numpy(control))
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay, betas=(0.9, 0.99))
    step, elapsed = restore(run, model, opt, d, device)
    net = distributed.wrap(MotionObjective(compiled(model) if cfg.compile else model, process), d)
    amp = torch.autocast("cuda", dtype=torch.bfloat16) if device.startswith("cuda") else contextlib.nullcontext()
    extra = {"diffusion": asdict(cfg.diffusion), "motion_source": source_id(source),
             "motion": cfg.motion, "latent": None if source == "factors" else Path(source).name,
             "heldout_language": cfg.heldout_language, "train_clips": cfg.train_clips}

    def loss_at(step, rows):
        # the whole step's batch, drop masks, timesteps and noise are drawn on every process (they
        # are cheap), each then computes its rows: the same numbers as one process
        rng = np.random.default_rng([cfg.seed, step])
        gen = torch.Generator().manual_seed(int(rng.integers(2 ** 62)))
        torch.manual_seed(int(rng.integers(2 ** 62)))          # dropout: a function of the step too (exact resume)
        x0, cond = sample_windows(clips, cfg.batch_size, model_cfg.window, model_cfg.context, rng)
        cond = cond.random_drop(cfg.drop_prob, cfg.drop_context, generator=gen).to(device)
        with amp:
            return net(model.normalize(x0.to(device)), cond, gen, rows)

    run_steps(run, model, opt, cfg, loss_at, start=step, elapsed=elapsed, model_config=asdict(model_cfg), extra=extra,
              desc=f"train motion ({cfg.diffusion.process})", progress=progress, dist=d, net=net,
              accumulate=cfg.accumulate, deadline=deadline)
    if run is None:
        return Path(out_dir) / "latest.safetensors"
    run.close()
    return run.weights
