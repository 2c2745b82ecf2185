"""Solutions to the exercises of notebook 05, "The motion generator".

One function per exercise; each returns plain numbers so that tests/test_solutions_05.py can check them.
Equation numbers refer to the notebook. Exercises 1-3 use the generator trained on SynthTalk's 14 true factors
(`motion_dit_small_factors`): it writes yaw, jaw and blink directly, so no probe stands between it and the
numbers, and its test clips need no rendering. Each function runs in seconds on one CPU core.
"""
from __future__ import annotations

from functools import lru_cache

import numpy as np
import torch

from labkit.evaluation.motion import blink_events, pearson_per_clip, spread_between, window_sway
from labkit.motion.data import MotionClips, extract_clips
from labkit.motion.diffusion import Diffusion, Guidance
from labkit.motion.generator import MotionGenerator
from labkit.synthtalk import SynthTalk
from labkit.synthtalk.factors import FACTOR_NAMES

SEED = 0
SECONDS = 8.0                       # four windows of 50 frames at 25 fps
COL = {name: i for i, name in enumerate(FACTOR_NAMES)}
ANGLES = [COL["yaw"], COL["pitch"], COL["roll"]]
FPS = 25.0


@lru_cache(maxsize=1)
def factor_generator() -> MotionGenerator:
    """The shipped diffusion generator over SynthTalk's factors, with its blink process."""
    return MotionGenerator.load("motion_dit_small_factors")


@lru_cache(maxsize=2)
def test_clips(n: int = 4) -> MotionClips:
    """The first n test clips, 8 s each: audio features and true factors (motion = factors); not cached on disk."""
    return extract_clips("test", n, source="factors", seconds=SECONDS, seed=SEED, cache_dir=False)


def _head(f: np.ndarray) -> np.ndarray:
    return f[..., ANGLES]                                   # (..., T, 3) yaw, pitch, roll in degrees


def ex1_steps_sway(steps: tuple[int, ...] = (1, 10), seeds: int = 3, clips: int = 2, takes: int = 4) -> dict:
    """Exercise 1: sway and spread (eq. 10) and lip sync (eq. 9) against the number of DDIM steps (eq. 7).

    Returns {"truth": {"sway", "spread"} over `takes` SynthTalk takes of each clip, steps: {"sway", "spread",
    "lipsync"}} with sway and spread in degrees, averaged over the clips. One step returns H(ε, 999, C), close to
    the mean motion for the audio (eq. 5): little sway, seeds alike. More steps let the noise pick a performance.
    """
    gen = factor_generator().replace(blinks=None)             # blinks do not touch the head; skip them
    data = test_clips()
    audio, truth = data.audio[:clips], data.factors[:clips]
    ds = SynthTalk("test", seconds=SECONDS, seed=SEED, num_clips=clips)
    tk = np.stack([np.stack([np.stack([ds.sample_motion(i, take=k)["factors"][n] for n in FACTOR_NAMES], 1)
                             for k in range(takes)]) for i in range(clips)])                  # (clips, takes, T, F)
    out = {"truth": {"sway": float(np.mean([window_sway(_head(x), 50) for x in tk])),
                     "spread": float(np.mean([spread_between(_head(x)) for x in tk]))}}
    for S in steps:
        f = np.stack([gen.generate(audio, seed=s, steps=S) for s in range(seeds)])           # (seeds, clips, T, F)
        out[S] = {"sway": float(np.mean([window_sway(_head(f[:, n]), 50) for n in range(clips)])),
                  "spread": float(np.mean([spread_between(_head(f[:, n])) for n in range(clips)])),
                  "lipsync": pearson_per_clip(f[0, ..., COL["jaw"]], truth[..., COL["jaw"]])}
    return out


def ex2_audio_guidance(scales: tuple[float, ...] = (0.0, 1.0, 2.0, 3.0), clips: int = 2) -> dict:
    """Exercise 2: audio guidance s (eq. 6) at one DDIM step.

    Returns {s: {"lipsync": r_jaw (eq. 9), "jaw_std": std of the generated jaw}} and "curvature": the largest
    |x(3) - 2 x(2) + x(1)| over the first window (x(s): the sample at audio scale s), with "step": the largest
    |x(2) - x(1)| for scale. With one step the sample is H(C) + (s - 1)(H(C) - H(C without audio)): affine in s,
    so the curvature is zero up to rounding; s = 0 is the prediction without audio.
    """
    gen = factor_generator().replace(blinks=None)             # the blink process is not affine in s
    data = test_clips()
    audio, jaw = data.audio[:clips], data.factors[:clips, :, COL["jaw"]]
    out = {}
    for s in scales:
        f = gen.generate(audio, seed=SEED, steps=1, guidance=Guidance(audio=s))
        out[s] = {"lipsync": pearson_per_clip(f[..., COL["jaw"]], jaw), "jaw_std": float(f[..., COL["jaw"]].std())}
    W = gen.cfg.window
    x1, x2, x3 = (gen.generate(audio[:, :W], seed=SEED, steps=1, guidance=Guidance(audio=s)) for s in (1, 2, 3))
    out["curvature"] = float(np.abs(x3 - 2 * x2 + x1).max())
    out["step"] = float(np.abs(x2 - x1).max())
    return out


def ex3_blinks(clips: int = 8) -> dict:
    """Exercise 3: full blinks a minute (blink factor reaching 0.5, peaks 0.2 s apart) in the truth, in the
    sampler's own output and with the generator's blink process. Blink times are independent of the audio, so
    at one step the sampler returns their average (eq. 5): a faint twitch that never closes the eyes.
    Returns {"truth", "sampler", "with_process": blinks a minute, "sampler_max": the highest blink value drawn}."""
    gen = factor_generator()
    data = test_clips(clips)
    alone = gen.replace(blinks=None).generate(data.audio, seed=SEED)[..., COL["blink"]]
    added = gen.generate(data.audio, seed=SEED)[..., COL["blink"]]
    return {"truth": blink_events(data.factors[..., COL["blink"]], FPS)[0], "sampler": blink_events(alone, FPS)[0],
            "with_process": blink_events(added, FPS)[0], "sampler_max": float(alone.max())}


def ex4_half_noise(clips: int = 4) -> dict:
    """Exercise 4: the step where ᾱ_t = 1/2 (eq. 3 solved for t), and x_t regressed on x_0 there (eq. 2).

    f(t + 1) / f(0) = 1/2 gives (t + 1) / T = (1 + s) (2 / π) arccos(sqrt(f(0) / 2)) - s. Returns "t_half"
    (that t, a real number), "t_table" (the first integer step with ᾱ_t <= 1/2 in the library's schedule),
    "slope" and "residual_std" of the least-squares fit x_t ≈ slope · x_0 on standardised true factors, and the
    predictions "sqrt_ab" = sqrt(ᾱ_t) and "sqrt_1mab" = sqrt(1 - ᾱ_t) at t = t_table.
    """
    T, s = 1000, 0.008
    f0 = np.cos(s / (1 + s) * np.pi / 2) ** 2
    t_half = T * ((1 + s) * 2 / np.pi * np.arccos(np.sqrt(f0 / 2)) - s) - 1
    d = Diffusion()
    ab = d.alpha_bar.numpy()
    t = int(np.argmax(ab <= 0.5))
    model = factor_generator().model
    x0 = model.normalize(torch.from_numpy(test_clips(clips).factors))                         # (N, T, F)
    eps = torch.randn(x0.shape, generator=torch.Generator().manual_seed(SEED))
    x_t = d.q_sample(x0, torch.full((len(x0),), t), eps)
    a, b = x0.double().flatten(), x_t.double().flatten()
    slope = float((a * b).sum() / (a * a).sum())
    return {"t_half": float(t_half), "t_table": t, "slope": slope, "residual_std": float((b - slope * a).std()),
            "sqrt_ab": float(np.sqrt(ab[t])), "sqrt_1mab": float(np.sqrt(1 - ab[t]))}
