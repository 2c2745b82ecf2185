"""Training the face latent model: ``labkit train latent --preset s128 --out runs/latent``.

AdamW with a linear warm-up and cosine decay; batches are rendered from SynthTalk on the fly
(or read from a ``labkit prep`` folder). Everything is a function of (seed, step): the batch of
step k is drawn from ``default_rng([seed, k])``, so a run killed at any point and resumed from
its last checkpoint continues exactly as if it had never stopped.

With ``workers`` > 0 the batches of the coming steps are rendered ahead in that many processes
(labkit.training.prefetch): the same batches, so the same weights, for a GPU that would otherwise wait on
SynthTalk's renderer.

The run folder is a :class:`labkit.training.runs.RunFolder` (config, latest weights and optimizer
state, log.jsonl, tb/). Under ``torchrun`` the same command trains on several processes
(labkit.training.distributed): each renders and trains its shard of every batch, so the run, and
its resumption, do not depend on the number of processes.
"""
from __future__ import annotations

import contextlib
import functools
import logging
import os
from dataclasses import asdict
from pathlib import Path

import numpy as np
import torch

from labkit.io.checkpoint import load_matching, load_state
from labkit.latent import data as latent_data
from labkit.latent.config import LossWeights, TrainLatentConfig, make_config
from labkit.latent.losses import latent_losses, random_similarity
from labkit.latent.model import KIND, FaceLatentModel
from labkit.latent.parts import fit_anchors
from labkit.training import distributed
from labkit.training.prefetch import Prefetcher
from labkit.training.runs import (
    compiled,
    deadline_after,
    keeps_global_state,
    open_run,
    restore,
    run_steps,
    warmup_cosine,
)

log = logging.getLogger(__name__)


# fields a resumed run may change: how long it runs and how often it reports (a longer run
# stretches the cosine schedule from the step it resumes at)
# (and how the batch is computed: accumulation and compilation do not change the maths)
_RESUMABLE_CHANGES = {"steps", "log_every", "image_every", "checkpoint_every", "snapshot_steps", "accumulate",
                      "compile", "workers", "bf16"}

# Why float32 on CUDA by default: with bf16 autocast a fine-tune of the shipped s128pp_cross diverged on an H200
# (2026-12-04: the L1 went from 0.013 to 0.16-0.28 within 50 steps), and on the CPU, on the same batches, bf16
# autocast let the L1 climb from 0.013 to 0.04 in 10 steps, with an overflowing gradient norm on 10 of 37 steps,
# where float32 stayed at 0.013-0.020 (data_cards/model_face_latent.md). The motion trainer keeps bf16.


def lr_at(step: int, cfg: TrainLatentConfig) -> float:
    """Linear warm-up, then cosine decay to a tenth of the peak."""
    return warmup_cosine(step, lr=cfg.lr, warmup=cfg.warmup, steps=cfg.steps)


def make_sampler(cfg: TrainLatentConfig, image_size: int, *, progress: bool = False):
    """The training pairs' sampler (latent_data.PairSampler or PreparedPairs)."""
    return sampler_factory(cfg, image_size, progress=progress)()


def sampler_factory(cfg: TrainLatentConfig, image_size: int, *, progress: bool = False):
    """A picklable callable that builds the sampler, so that worker processes can build their own
    (SynthTalk's motion bank is drawn once, here, and travels with it)."""
    if cfg.data == "synthtalk":
        bank = latent_data.motion_bank("train", cfg.bank_clips, seed=cfg.seed, progress=progress)
        return functools.partial(latent_data.PairSampler, "train", image_size, bank,
                                 random_pose_prob=cfg.random_pose_prob,
                                 random_expression_prob=cfg.random_expression_prob,
                                 same_pose_prob=cfg.same_pose_prob, cross_targets=cfg.losses.cross_render > 0)
    if cfg.losses.cross_render > 0:
        raise ValueError("--cross-render needs --data synthtalk: a prepared video folder has no render of one "
                         "person performing another's motion")
    if not Path(cfg.data).is_dir():
        raise FileNotFoundError(f"--data must be 'synthtalk' or a folder written by `labkit prep`; "
                                f"{cfg.data} is neither")
    return functools.partial(latent_data.PreparedPairs, cfg.data, image_size, seed=cfg.seed)


def draw_batch(sampler, step: int, rows: slice, *, batch_size: int, seed: int, equivariance: bool) -> dict:
    """Step `step`'s batch (its `rows`): a function of (seed, step, rows) alone."""
    rng = np.random.default_rng([seed, step])
    batch = sampler.batch(batch_size, rng, rows=rows, step=step)
    if equivariance:                                       # drawn after the batch: runs without it are unchanged
        batch["similarity"] = random_similarity(rng, len(batch["driver"]))
    return batch


def check_compile(compile: bool, device: str) -> None:
    """torch.compile of this model is for CUDA: inductor's CPU code for its backward pass crashes
    the process (a segmentation fault, torch 2.13), so it is refused here rather than met there."""
    if compile and not device.startswith("cuda"):
        raise ValueError("--compile of the face latent model needs --device cuda: torch 2.13's compiled CPU "
                         "backward of it crashes (segmentation fault)")


class LatentObjective(torch.nn.Module):
    """The model and its training losses as one module, so that DistributedDataParallel sees the
    whole forward pass (latent_losses calls the encoders and the decoder several times)."""

    def __init__(self, model: FaceLatentModel, weights: LossWeights, consistency: bool):
        super().__init__()
        self.model, self.weights, self.consistency = model, weights, consistency

    def forward(self, batch: dict):
        return latent_losses(self.model, batch, self.weights, consistency=self.consistency)


@keeps_global_state
def train_latent(cfg: TrainLatentConfig, out_dir: str | os.PathLike, *, model_overrides: dict | None = None,
                 device: str = "cpu", overwrite: bool = False, progress: bool = True,
                 deterministic: bool = False, time_limit: float | None = None) -> Path:
    """Train (or resume training) a face latent model in `out_dir`; returns the weights path.

    A folder holding a run is resumed when its config matches, refused when it does not
    (pass overwrite=True to start afresh there). Under ``torchrun`` every process trains its
    shard of each batch (labkit.training.distributed); rank 0 writes the folder. `time_limit` (minutes,
    counted from this call): stop, checkpointed, at the first step that ends after it.
    """
    deadline = deadline_after(time_limit)
    check_compile(cfg.compile, device)
    if cfg.workers < 0:
        raise ValueError(f"workers must be 0 (draw batches in the training process) or more, got {cfg.workers}")
    d = distributed.setup(device)
    finished = False
    try:
        path = _train(cfg, out_dir, d, model_overrides=model_overrides, overwrite=overwrite, progress=progress,
                      deterministic=deterministic, deadline=deadline)
        finished = True
        return path
    finally:
        distributed.teardown(d, finished=finished)


def _train(cfg, out_dir, d, *, model_overrides, overwrite, progress, deterministic, deadline) -> Path:
    device = d.device
    overrides = dict(model_overrides or {})
    if cfg.losses.crops > 0:                               # the crop loss trains the model's D_crop
        overrides["crop_decoder"] = True
    model_cfg = make_config(cfg.preset, **overrides)
    run, resume = open_run(d, out_dir, {"train": asdict(cfg), "model": asdict(model_cfg)}, kind=KIND,
                           resumable=_RESUMABLE_CHANGES, overwrite=overwrite)
    if deterministic:
        torch.use_deterministic_algorithms(True)
    torch.manual_seed(cfg.seed)
    model = FaceLatentModel(model_cfg).to(device)
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay, betas=(0.9, 0.99))
    fresh = list(model.state_dict())                       # without --init every tensor starts fresh
    if cfg.init and not resume and d.is_main:              # the other ranks get the weights from DDP
        fresh, dropped = load_matching(model, load_state(cfg.init, kind=KIND)[0])
        log.info("initialised from %s%s%s", cfg.init,
                 f"; {len(fresh)} tensors start fresh ({_modules(fresh)})" if fresh else "",
                 f"; {len(dropped)} of its tensors unused ({_modules(dropped)})" if dropped else "")
    step, elapsed = restore(run, model, opt, d, device)
    with d.main_first():                                   # rank 0 fills the SynthTalk caches first
        factory = sampler_factory(cfg, model_cfg.driver_size, progress=progress and d.is_main)
        sampler = factory()
    parts = model.motion_encoder.parts
    if parts is not None and step == 0 and "motion_encoder.parts.anchors" in fresh:
        place_parts(model, sampler, seed=cfg.seed)         # rank 0's placement reaches the others with DDP's broadcast
    objective = LatentObjective(compiled(model) if cfg.compile else model, cfg.losses, cfg.consistency)
    net = distributed.wrap(objective, d)
    amp = contextlib.nullcontext()
    if device.startswith("cuda"):
        torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = True
        if cfg.bf16:
            amp = torch.autocast("cuda", dtype=torch.bfloat16)
    images = {}

    draw = functools.partial(draw_batch, batch_size=cfg.batch_size, seed=cfg.seed,
                             equivariance=cfg.losses.equivariance > 0)
    if cfg.workers > 0:
        fetch = Prefetcher(factory, draw, cfg.workers)
    else:
        fetch = functools.partial(draw, sampler)

    def loss_at(step, rows):
        batch = fetch(step, rows)
        with amp:
            loss, terms, images["last"] = net({k: v.to(device) for k, v in batch.items()})
        return loss, terms

    def after_step(step):
        if run.tb is not None and (step % cfg.image_every == 0 or step == cfg.steps):
            grid = torch.cat([v[:4].detach().float().cpu() for v in images["last"].values()], 2)  # rows of kinds
            run.tb.add_images("train/source_driver_reenacted_cross", grid.clamp(0, 1), step)

    try:
        run_steps(run, model, opt, cfg, loss_at, start=step, elapsed=elapsed, model_config=asdict(model_cfg),
                  desc="train latent", progress=progress, show="l1", dist=d, net=net, accumulate=cfg.accumulate,
                  after_step=after_step, deadline=deadline)
    finally:
        if cfg.workers > 0:
            fetch.close()
    if run is None:
        return Path(out_dir) / "latest.safetensors"
    run.close()
    return run.weights


def place_parts(model: FaceLatentModel, sampler, *, seed: int = 0, frames: int = 64) -> dict[str, float]:
    """Fit E_mot's part anchors (labkit.latent.parts.fit_anchors) to the landmarks of `frames` training
    frames and the model's own poses of them, so that its crops start where the eyes and the mouth are."""
    batch = sampler.batch(frames, np.random.default_rng([seed, 0, 1]))  # a stream no step's [seed, k] draws
    x = batch["source"].to(next(model.parameters()).device)
    with torch.no_grad():
        z_pose, _ = model.encode_motion(x)
    landmarks = batch["source_landmarks"] * (model.cfg.image_size / x.shape[-1])    # frames may come finer
    errors = fit_anchors(model.motion_encoder.parts, z_pose.cpu(), landmarks, model.cfg.image_size)
    log.info("E_mot's part crops placed by %d frames' landmarks (RMS error: %s)", frames,
             ", ".join(f"{r} {e:.1f} px" for r, e in errors.items()))
    return errors


def _modules(names: list[str]) -> str:
    """The top-level modules a list of tensor names belongs to: 'motion_encoder, g2d'."""
    return ", ".join(dict.fromkeys(n.split(".")[0] for n in names))
