"""The solutions of notebook 05's exercises (notebooks/solutions/ex05_motion_diffusion.py) give the numbers that
the notebook's equations predict. The solutions file is imported by path: notebooks/ is not a package."""
import math

import pytest
from conftest import load_solutions


@pytest.fixture(scope="module")
def ex():
    return load_solutions("ex05_motion_diffusion")


def test_ex1_more_steps_more_sway(ex):
    out = ex.ex1_steps_sway(steps=(1, 10))
    one, ten, truth = out[1], out[10], out["truth"]
    # eqs. (5), (7): one step returns about the mean motion for the audio, so its seeds are alike and its head
    # sways far less than real takes of the same speech
    assert one["spread"] < 0.5 * truth["spread"] and one["sway"] < 0.5 * truth["sway"]
    # more steps let the noise choose a performance: the seeds spread apart and the head sways more
    assert ten["spread"] > 2 * one["spread"] and ten["sway"] > 1.3 * one["sway"]
    # ... and the audio still drives the mouth
    assert one["lipsync"] > 0.85 and ten["lipsync"] > 0.8


def test_ex2_guidance_is_affine_in_its_scale(ex):
    out = ex.ex2_audio_guidance(scales=(0.0, 1.0, 2.0, 3.0))
    # eq. (6) at s = 0 is the prediction without audio: no lip sync, an almost still jaw
    assert abs(out[0.0]["lipsync"]) < 0.3 and out[0.0]["jaw_std"] < 0.3 * out[1.0]["jaw_std"]
    assert out[1.0]["lipsync"] > 0.85
    # above 1 the correlation barely moves (the same curve, scaled), while the jaw's amplitude grows with s
    assert abs(out[3.0]["lipsync"] - out[1.0]["lipsync"]) < 0.05
    assert 2.5 < out[3.0]["jaw_std"] / out[1.0]["jaw_std"] < 3.5
    # eqs. (6)-(7) with one step: the sample is affine in s, so its second difference vanishes
    assert out["step"] > 0.1 and out["curvature"] < 1e-4 * out["step"]


def test_ex3_sampler_averages_blinks_away(ex):
    out = ex.ex3_blinks()
    assert 8 < out["truth"] < 30                               # SynthTalk blinks at human rates
    # eq. (5): blink times do not follow the audio, so one step draws their average: lids never half shut
    assert out["sampler"] < 0.25 * out["truth"] and out["sampler_max"] < 0.5
    assert 0.6 < out["with_process"] / out["truth"] < 1.6       # the generator's blink process restores them


def test_ex4_half_signal_half_noise(ex):
    out = ex.ex4_half_noise()
    # eq. (3) solved for ᾱ_t = 1/2 lands between two integer steps; the library's table crosses at the next one
    assert 480 < out["t_half"] < 510 and out["t_table"] == math.ceil(out["t_half"])
    # eq. (2): x_t = sqrt(ᾱ_t) x_0 + sqrt(1 - ᾱ_t) ε, so the slope of x_t on x_0 is sqrt(ᾱ_t) and the residual
    # is the noise, both close to 0.707 here
    assert abs(out["slope"] - out["sqrt_ab"]) < 0.02
    assert abs(out["residual_std"] - out["sqrt_1mab"]) < 0.02
