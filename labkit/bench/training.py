"""``labkit bench train``: training throughput (samples per second) of each preset.

One optimizer step of the real trainers' objective (labkit.latent.train.LatentObjective with
VASA-1's consistency losses, labkit.motion.train.MotionObjective with the diffusion loss) on
batches already in memory, so the figure is the model's; the data side is timed apart
(SynthTalk frame pairs rendered per second on one process, which a GPU run must keep up with).
On CUDA: bf16 autocast for the motion generator, as its trainer uses; float32 with TF32 for the face
latent model, as its trainer uses unless --bf16 (``latent_bf16=True`` times that). ``compile=True``
times torch.compile'd networks (the first steps, which compile, are not timed; on CPU the motion
generator only, see labkit.latent.train.check_compile).
"""
from __future__ import annotations

import contextlib
import time

import numpy as np
import torch
from tqdm.auto import tqdm

from labkit.bench.inference import _sync, cpu_name
from labkit.latent import data as latent_data
from labkit.latent.config import LossWeights, make_config
from labkit.latent.model import FaceLatentModel
from labkit.latent.train import LatentObjective, check_compile
from labkit.motion.config import make_config as motion_config
from labkit.motion.diffusion import Diffusion
from labkit.motion.dit import MotionConditions, MotionDiT
from labkit.motion.train import MotionObjective
from labkit.training.runs import compiled, keeps_global_state

LATENT_CPU, LATENT_CUDA = ("tiny", "s64", "s128"), ("s128", "s256", "s512")
MOTION_CPU, MOTION_CUDA = ("tiny", "small", "base"), ("small", "base")


def _time_steps(step, *, device: str, warmup: int, repeats: int) -> float:
    """Seconds per call of step(), the median of `repeats` after `warmup` untimed calls."""
    for _ in range(warmup):
        step()
    times = []
    for _ in range(repeats):
        _sync(device)
        t0 = time.perf_counter()
        step()
        _sync(device)
        times.append(time.perf_counter() - t0)
    return float(np.median(times))


def _train_step(objective: torch.nn.Module, inputs, device: str, bf16: bool = True):
    opt = torch.optim.AdamW(objective.parameters(), lr=1e-4)
    cuda = device.startswith("cuda")
    if cuda:
        torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = True
    amp = torch.autocast("cuda", dtype=torch.bfloat16) if cuda and bf16 else contextlib.nullcontext()

    def step():
        opt.zero_grad(set_to_none=True)
        with amp:
            loss = objective(*inputs)[0]
        loss.backward()
        opt.step()
    return step


def latent_batch(size: int, B: int, device: str) -> dict:
    """A random batch shaped like latent_data.PairSampler's: images in [0, 1], landmarks in pixels."""
    g = torch.Generator().manual_seed(0)
    lm = size * (0.3 + 0.4 * torch.rand(B, 68, 2, generator=g))
    batch = dict(source=torch.rand(B, 3, size, size, generator=g), driver=torch.rand(B, 3, size, size, generator=g),
                 source_landmarks=lm, driver_landmarks=lm.flip(0), identity=torch.arange(B))
    return {k: v.to(device) for k, v in batch.items()}


@keeps_global_state
def bench_train_latent(preset: str, *, batch: int, device: str = "cpu", compile: bool = False,
                       repeats: int = 3, bf16: bool = False) -> dict:
    check_compile(compile, device)
    torch.manual_seed(0)
    cfg = make_config(preset)
    model = FaceLatentModel(cfg).to(device)
    objective = LatentObjective(compiled(model) if compile else model, LossWeights(), consistency=True)
    s = _time_steps(_train_step(objective, (latent_batch(cfg.image_size, batch, device),), device, bf16=bf16),
                    device=device, warmup=3 if compile else 1, repeats=repeats)
    return {"batch": batch, "image_size": cfg.image_size, "bf16": bf16 and device.startswith("cuda"),
            "ms_per_step": 1e3 * s, "samples_per_s": batch / s,
            "parameters_m": sum(p.numel() for p in model.parameters()) / 1e6}


@keeps_global_state
def bench_train_motion(preset: str, *, batch: int, device: str = "cpu", compile: bool = False,
                       repeats: int = 3) -> dict:
    torch.manual_seed(0)
    cfg = motion_config(preset, motion_dim=20, audio_dim=80)
    model = MotionDiT(cfg).to(device)
    K, W = cfg.context, cfg.window
    cond = MotionConditions.full(torch.randn(batch, K + W, cfg.audio_dim), torch.randn(batch, K, cfg.motion_dim),
                                 torch.randn(batch, 2), torch.randn(batch, cfg.control_dim)).to(device)
    x0 = torch.randn(batch, W, cfg.motion_dim, device=device)
    objective = MotionObjective(compiled(model) if compile else model, Diffusion())
    s = _time_steps(_train_step(objective, (x0, cond, torch.Generator().manual_seed(0), slice(None)), device),
                    device=device, warmup=3 if compile else 1, repeats=repeats)
    return {"batch": batch, "window": W, "ms_per_step": 1e3 * s, "samples_per_s": batch / s,
            "parameters_m": sum(p.numel() for p in model.parameters()) / 1e6}


def synthtalk_pairs_per_s(resolution: int = 128, pairs: int = 16) -> float:
    """SynthTalk frame pairs rendered per second by one process (the latent trainer's data side)."""
    bank = latent_data.motion_bank("train", 2, seconds=2.0, seed=0)
    sampler = latent_data.PairSampler("train", resolution, bank)
    sampler.batch(2, np.random.default_rng(0))                          # warm-up
    t0 = time.perf_counter()
    sampler.batch(pairs, np.random.default_rng(1))
    return pairs / (time.perf_counter() - t0)


def bench_train(*, device: str = "cpu", latent_presets=None, motion_presets=None, latent_batch_size: int | None = None,
                motion_batch_size: int | None = None, compile: bool = False, latent_bf16: bool = False,
                progress: bool = False) -> dict:
    """Samples/s of one training step per preset (defaults: small presets on CPU, the large ones on CUDA)."""
    cuda = device.startswith("cuda")
    latent_presets = latent_presets or (LATENT_CUDA if cuda else LATENT_CPU)
    motion_presets = motion_presets or (MOTION_CUDA if cuda else MOTION_CPU)
    lb = latent_batch_size or (8 if cuda else 2)
    mb = motion_batch_size or (256 if cuda else 32)
    out = {"device": torch.cuda.get_device_name(device) if cuda else cpu_name(), "threads": torch.get_num_threads(),
           "torch": torch.__version__, "compile": compile, "latent": {}, "motion": {}}
    jobs = [("latent", p) for p in latent_presets] + [("motion", p) for p in motion_presets]
    bar = None
    if progress:
        bar = tqdm(total=len(jobs) + 1, desc="bench train", unit="preset")
    if compile and not cuda:                               # see train_latent.check_compile
        jobs = [j for j in jobs if j[0] == "motion"]
    for kind, preset in jobs:
        if kind == "latent":
            out[kind][preset] = bench_train_latent(preset, batch=lb, device=device, compile=compile, bf16=latent_bf16)
        else:
            out[kind][preset] = bench_train_motion(preset, batch=mb, device=device, compile=compile)
        if bar is not None:
            bar.update(1)
    out["synthtalk_pairs_per_s_128"] = synthtalk_pairs_per_s(128)
    if bar is not None:
        bar.update(1)
        bar.close()
    return out
