"""Solutions to the exercises of notebook 06, "Control-signal ablations".

One function per exercise; each returns plain numbers so that tests/test_solutions_06.py can check them.
Equation numbers refer to the notebook. Every function takes the generator by its shipped name (`model`) and the
size of the evaluation: the defaults are the notebook's (the latent-code generator, 16 test and 48 training clips,
cached after the first run); the tests use the generator trained on SynthTalk's own factors, whose clips need no
rendering, and a few clips, so that each function runs in seconds on one CPU core.
"""
from __future__ import annotations

from dataclasses import replace
from functools import lru_cache

import numpy as np

from labkit.evaluation.motion import MotionEvaluation, generate_for, motion_source_of
from labkit.motion.data import HEAD_DIMS, gaze_of
from labkit.motion.diffusion import Guidance
from labkit.motion.generator import MotionGenerator
from labkit.synthtalk.factors import FACTOR_NAMES

MODEL = "motion_dit_small"          # the notebook's generator (its motion: the face latent model's codes)
JAW = FACTOR_NAMES.index("jaw")


@lru_cache(maxsize=4)
def _setup(model: str, test_clips: int, train_clips: int, cache_dir=None, seed: int = 0):
    """The generator `model` and an evaluation of it, as in the notebook's setup (cached per arguments)."""
    gen = MotionGenerator.load(model)
    ev = MotionEvaluation(motion_source_of(gen), gen.cfg.window, heldout_language=gen.meta.get("heldout_language"),
                          test_clips=test_clips, train_clips=train_clips, seed=seed, cache_dir=cache_dir)
    return gen, ev


def _first_window(gen, ev, guidance: Guidance, *, seed: int = 0) -> np.ndarray:
    """Raw motion (N, S, M) of the test clips' first window (the S = W − O frames no later window changes),
    every command given, sampled with `guidance`. Only the first W frames of each clip are generated: one window,
    the same audio, commands and noise as the first window of the whole clip. The blink process is off: it adds
    blinks after sampling, up to a closure (a maximum, not a sum), so it is no part of eq. (5)."""
    W, S = gen.cfg.window, gen.cfg.window - gen.overlap
    clips = replace(ev.test, motion=ev.test.motion[:, :W], audio=ev.test.audio[:, :W], factors=ev.test.factors[:, :W])
    return generate_for(gen.replace(guidance=guidance, blinks=None), clips, seed=seed)[:, :S]


def ex1_emotion_guidance(scales=(1.0, 2.0, 4.0, 8.0), *, model: str = MODEL, test_clips: int = 16,
                         train_clips: int = 48, cache_dir=None) -> dict:
    """Exercise 1: sweep the emotion guidance s_e and find the smallest scale whose emotion accuracy reaches 90 %.

    Returns {"emotion_acc": {s: accuracy}, "distance_err_rel": {s: error}, "passes": the smallest s with accuracy
    >= 0.9, or None, "head_shift": max over s of max |head-pose channels at s − at s = 1| in the first window,
    "face_shift": {s: mean |face channels at s − at s = 1| in the first window}}.
    Eq. (5): at one DDIM step the sample *is* the guided x̂_0, and the emotion term is masked to the face, so the
    first window's head pose does not move at all and its face moves in proportion to s_e − 1.
    """
    gen, ev = _setup(model, test_clips, train_clips, cache_dir)
    base = _first_window(gen, ev, Guidance())
    out = {"emotion_acc": {}, "distance_err_rel": {}, "face_shift": {}, "head_shift": 0.0}
    for s in scales:
        r = ev.score(gen.replace(guidance=Guidance(emotion=s)), seams=False)
        out["emotion_acc"][s], out["distance_err_rel"][s] = r["emotion_acc"], r["distance_err_rel"]
        x = _first_window(gen, ev, Guidance(emotion=s))
        out["head_shift"] = max(out["head_shift"], float(np.abs(x[..., :HEAD_DIMS] - base[..., :HEAD_DIMS]).max()))
        out["face_shift"][s] = float(np.abs(x[..., HEAD_DIMS:] - base[..., HEAD_DIMS:]).mean())
    out["passes"] = next((s for s in scales if out["emotion_acc"][s] >= 0.9), None)
    return out


def ex2_audio_guidance(scales=(0.0, 0.5, 1.0, 2.0), *, model: str = MODEL, test_clips: int = 16,
                       train_clips: int = 48, cache_dir=None) -> dict:
    """Exercise 2: lip sync (eq. 6) against the audio guidance s_a, from the audio dropped (s_a = 0) to doubled.

    Returns {"lipsync": {s: lip sync}, "midpoint_err": max |x(0.5) − (x(0) + x(1)) / 2| over the first window,
    "scale": the first window's typical |x(1) − x(0)|}. Eq. (5) at one step is affine in s_a: s_a = 0 gives the
    prediction without audio, f(C \\ a), and s_a = 0.5 lies half-way between it and f(C).
    """
    gen, ev = _setup(model, test_clips, train_clips, cache_dir)
    lipsync = {s: ev.score(gen.replace(guidance=Guidance(audio=s)), seams=False)["lipsync_corr"] for s in scales}
    x0, xh, x1 = (_first_window(gen, ev, Guidance(audio=s)) for s in (0.0, 0.5, 1.0))
    return {"lipsync": lipsync, "midpoint_err": float(np.abs(xh - (x0 + x1) / 2).max()),
            "scale": float(np.abs(x1 - x0).mean())}


def ex3_steps_and_seams(steps=(1, 2, 5, 10), overlaps=(0, 5), *, model: str = MODEL, test_clips: int = 16,
                        train_clips: int = 48, cache_dir=None) -> dict:
    """Exercise 3: the seam ratio (eq. 13) for each number of DDIM steps, with windows abutting and overlapping.

    Returns {(steps, overlap): seam ratio}. Eq. (12) pins the overlap to the previous window and cross-fades it,
    so at every number of steps the overlapping windows join more smoothly than abutting ones.
    """
    gen, ev = _setup(model, test_clips, train_clips, cache_dir)
    return {(n, o): ev.score(gen.replace(steps=n, overlap=o))["seam_ratio"] for n in steps for o in overlaps}


def ex4_gaze_extrapolation(steps=(1, 5), yaw: float = 20.0, *, model: str = MODEL, test_clips: int = 16,
                           train_clips: int = 48, cache_dir=None) -> dict:
    """Exercise 4: command a gaze yaw of `yaw` degrees, read back the first window's mean gaze yaw at gaze
    guidance s_g = 1, 2 and 3, and predict the last from the first two as a straight line in s_g.

    Returns {steps: {"read": [yaw at s_g = 1, 2, 3] (degrees, mean over clips), "predicted": 2·read[1] − read[0],
    "error": |predicted − read[2]|, "s_hit": the s_g at which the line reads `yaw`, "at_s_hit": the yaw read when
    sampling at s_hit}}. At one step, eq. (5) is affine in s_g and the probes are affine in the motion, so the line
    is exact, and s_hit hits the command; with more steps the guided x̂_0 feeds back into x_t (eq. 11) and it is not.
    The blink process is off (see _first_window).
    """
    gen, ev = _setup(model, test_clips, train_clips, cache_dir)
    W, S = gen.cfg.window, gen.cfg.window - gen.overlap

    def read_yaw(n: int, s: float) -> float:
        sampler = gen.replace(steps=n, guidance=Guidance(gaze=s), blinks=None)   # the sampler alone
        m = sampler.generate(ev.test.audio[:, :W], gaze=(0.0, yaw), seed=0)
        return float(gaze_of(ev.reader.factors(m[:, :S]))[..., 1].mean())       # the first window, read as factors

    out = {}
    for n in steps:
        read = [read_yaw(n, s) for s in (1.0, 2.0, 3.0)]
        predicted = 2 * read[1] - read[0]
        s_hit = 1 + (yaw - read[0]) / (read[1] - read[0])
        out[n] = {"read": read, "predicted": predicted, "error": abs(predicted - read[2]), "s_hit": s_hit,
                  "at_s_hit": read_yaw(n, s_hit)}
    return out
