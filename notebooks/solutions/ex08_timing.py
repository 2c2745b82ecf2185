"""Solutions to the exercises of notebook 08, "Timing: how close to real time, stage by stage".

One function per exercise; each returns plain numbers so that tests/test_solutions_08.py can check them.
Equation numbers refer to the notebook. Timings are the best of a few repeats after a warm-up (the least
disturbed by other work on the machine); each function runs in a few seconds on one CPU core.
"""
from __future__ import annotations

import math
import time

import numpy as np
import torch
import torch.nn as nn
from torch.utils.flop_counter import FlopCounterMode

from labkit.io.audio import MelFeatures
from labkit.io.weights import MOTION
from labkit.motion.config import make_config
from labkit.motion.diffusion import Guidance
from labkit.motion.dit import MotionDiT
from labkit.motion.generator import MotionGenerator
from labkit.pipeline import FPS, Animator, Controls, chunked, repeated_speech


def _best_ms(f, repeats: int) -> float:
    """The shortest of `repeats` timed calls of f(), in ms, after one untimed call (the warm-up)."""
    f()
    best = math.inf
    for _ in range(repeats):
        t0 = time.perf_counter()
        f()
        best = min(best, time.perf_counter() - t0)
    return 1e3 * best


def peak_gflops(n: int = 512, repeats: int = 5) -> float:
    """P of eq. (8): the best float32 matmul rate of this machine (GFLOP/s), best of `repeats` n × n products."""
    a, b = torch.randn(n, n), torch.randn(n, n)
    return 2 * n ** 3 / _best_ms(lambda: a @ b, repeats) / 1e6


def animated_generator() -> MotionGenerator:
    """The shipped motion generator that drives the landmark renderer, with the guidance `labkit animate` uses
    by default (audio and emotion; with no emotion commanded the emotion pass is skipped: two denoiser passes per
    step, batched)."""
    c = Controls()
    return MotionGenerator.load(MOTION["landmarks"]).replace(
        guidance=Guidance(audio=c.cfg_audio, gaze=c.cfg_gaze, emotion=c.cfg_emotion))


def dit_gflops(gen: MotionGenerator) -> float:
    """Eqs. (6)-(7): GFLOPs of one guided denoiser evaluation over one window (B = guidance variants)."""
    c = gen.cfg
    B = 1 + len([n for n in gen.guidance.active() if n != "emotion"])      # no emotion commanded: no emotion pass
    K, W, D, A, M, C = c.context, c.window, c.width, c.audio_dim, c.motion_dim, c.control_dim
    N = 3 + K + W
    linear = 2 * B * ((K + W) * (A * D + D * D + M * D) + 2 * D * D + (c.gaze_dim * D + D * D)
                      + (C * D + D * D) + W * D * M)
    blocks = c.layers * (24 * B * N * D * D + 4 * B * N * N * D)
    return (linear + blocks) / 1e9


def ex1_render_vs_pixels(resolutions=(128, 256, 512), seconds: float = 1.0, repeats: int = 2) -> dict:
    """Exercise 1: the landmark renderer's time per frame at each resolution, and the exponent α of
    time ∝ pixels^α fitted over all of them (least squares in log-log), plus the local exponent between
    neighbouring sizes. Eq. (9) with a fixed cost t0 > 0 predicts α < 1, rising towards 1 with size."""
    speech = repeated_speech(seconds)
    ms = {}
    for R in resolutions:
        anim = Animator(resolution=R, renderer="landmarks")
        best = math.inf
        anim.animate(speech[:8000])                                         # warm-up
        for _ in range(repeats):
            v = anim.animate(speech)
            best = min(best, v.timings["render"] / len(v.frames))
        ms[R] = 1e3 * best
    px = np.array([R * R for R in resolutions], float)
    t = np.array([ms[R] for R in resolutions])
    alpha = float(np.polyfit(np.log(px), np.log(t), 1)[0])
    local = [float(np.log(t[k + 1] / t[k]) / np.log(px[k + 1] / px[k])) for k in range(len(px) - 1)]
    return {"ms": ms, "alpha": alpha, "local_alpha": local}


def ex2_steps_in_budget(steps=(1, 2, 4, 8), fps: float = FPS, pixel_ms: float = 2.2, repeats: int = 2) -> dict:
    """Exercise 2: time one window of motion at several step counts, fit eq. (5), c(n) = c0 + n c_step, and
    solve eq. (4) for the most steps that keep up at `fps` when rendering and watermarking take `pixel_ms`
    a frame (2.2 ms: the 128 px figures of data_cards/model_animate.md on this 2-core CPU). Also eq. (8):
    the step's FLOPs over the time it takes, as a fraction of the measured matmul rate."""
    gen = animated_generator()
    audio = np.random.default_rng(0).normal(size=(gen.cfg.window, gen.cfg.audio_dim)).astype(np.float32)
    window_ms = {n: _best_ms(lambda n=n: gen.generate(audio, steps=n), repeats) for n in steps}
    step_ms, c0_ms = np.polyfit(np.array(steps, float), np.array([window_ms[n] for n in steps]), 1)
    S = gen.cfg.window - gen.overlap                                        # new frames per window
    budget_ms = 1e3 * S / fps - S * pixel_ms                                # eq. (4): what motion may take
    n_max = int((budget_ms - c0_ms) // step_ms)                             # eq. (5)
    gflop = dit_gflops(gen)
    P = peak_gflops()
    return {"window_ms": window_ms, "c0_ms": float(c0_ms), "step_ms": float(step_ms), "hop": S,
            "budget_ms": float(budget_ms), "n_max": n_max, "step_gflop": gflop, "matmul_gflops": P,
            "efficiency": gflop / (step_ms / 1e3) / P}


def ex3_threads(steps: int = 1, repeats: int = 2) -> dict:
    """Exercise 3: one window of motion with 1 and with 2 torch threads. Returns both times, the speed-up
    s = t1 / t2 and the parallel fraction p that Amdahl's law, s = 1 / ((1 - p) + p / 2), gives for it
    (negative when the second thread costs more than it gives: on a machine busy with other work, a thread
    that waits for a descheduled partner slows everyone down)."""
    gen = animated_generator()
    audio = np.random.default_rng(0).normal(size=(gen.cfg.window, gen.cfg.audio_dim)).astype(np.float32)
    before = torch.get_num_threads()
    ms = {}
    try:
        for k in (1, 2):
            torch.set_num_threads(k)
            ms[k] = _best_ms(lambda: gen.generate(audio, steps=steps), repeats)
    finally:
        torch.set_num_threads(before)
    s = ms[1] / ms[2]
    return {"ms": ms, "speedup": s, "parallel_fraction": 2 * (1 - 1 / s), "threads_before": before,
            "threads_after": torch.get_num_threads()}


def ex4_small_kernels(sizes=(8, 32, 128), channels: int = 16, repeats: int = 20) -> dict:
    """Exercise 4: a 3×3 convolution (channels → channels, padding 1) on sizes × sizes images. For each
    size: its FLOPs by eq. (6) and by torch's counter, its time, and eq. (8)'s fraction of the measured
    matmul rate. A fixed cost per call (eq. 9) makes the small images the least efficient."""
    conv = nn.Conv2d(channels, channels, 3, padding=1).eval()
    P = peak_gflops()
    out = {}
    with torch.inference_mode():
        for n in sizes:
            x = torch.randn(1, channels, n, n)
            hand = 2 * channels * n * n * channels * 3 * 3                 # eq. (6), stride 1, 'same' padding
            with FlopCounterMode(display=False) as fc:
                conv(x)
            t = _best_ms(lambda x=x: conv(x), repeats)
            out[n] = {"flops_hand": hand, "flops_counter": int(fc.get_total_flops()), "ms": t,
                      "efficiency": hand / (t / 1e3) / (P * 1e9)}
    return out


def _samples_before_first_window(gen: MotionGenerator, chunk: int) -> int:
    """Audio samples that generator.stream takes in before it yields its first frames."""
    taken = 0

    def counted(chunks):
        nonlocal taken
        for c in chunks:
            taken += len(c)
            yield c

    speech = np.zeros(int(4 * 16000), np.float32)                           # silence: the content is irrelevant
    next(gen.stream(counted(chunked(speech, chunk_ms=1e3 * chunk / 16000))))
    return taken


def ex5_first_frame_wait(chunks=(640, 80)) -> dict:
    """Exercise 5: the audio a stream must receive before its first window can be sampled, for the shipped
    generator (W = 50) and the `tiny` preset (W = 12, random weights: only the window matters), delivered
    in chunks of `chunks` samples (640 = 40 ms, 80 = 5 ms). Eq. (3) predicts the samples needed,
    (W - 1/2) h + w/2, rounded up to whole chunks; and the longest window whose wait alone fits in 170 ms."""
    mel = MelFeatures()
    # the longest window whose wait alone fits VASA-1's 170 ms: (W - 1/2) h + w/2 <= 0.170 sr
    out = {"window_for_170ms": math.floor((0.170 * mel.sample_rate - mel.win_length / 2) / mel.hop_length + 0.5)}
    for name, gen in (("shipped", animated_generator()),
                      ("tiny", MotionGenerator(MotionDiT(make_config("tiny", motion_dim=14))))):
        W = gen.cfg.window
        need = (W - 0.5) * mel.hop_length + mel.win_length / 2                 # eq. (3), in samples
        out[name] = {"window": W, "predicted": need,
                     "taken": {c: _samples_before_first_window(gen, c) for c in chunks}}
    return out
