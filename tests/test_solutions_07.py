"""The solutions of notebook 07's exercises (notebooks/solutions/ex07_evaluation.py) give the numbers that the
notebook's equations predict. The solutions file is imported by path: notebooks/ is not a package."""
import numpy as np
import pytest
from conftest import load_solutions


@pytest.fixture(scope="module")
def ex():
    return load_solutions("ex07_evaluation")


def test_ex1_labsync_finds_the_shift(ex):
    out = ex.ex1_audio_shift()
    for k, r in out.items():
        if abs(k) <= 15:
            assert r["offsets"] == [-k] * len(r["offsets"])              # eq. (3): delayed audio reads negative
            assert r["S_C"] > 0.6 and abs(r["S_D"] - out[0]["S_D"]) < 0.1   # ... and fits as well as in sync
    # beyond the ±15 frames scanned no offset fits: the confidence collapses, the distance rises
    assert out[20]["S_C"] < 0.3 * out[0]["S_C"] and out[20]["S_D"] > out[0]["S_D"] + 0.3


def test_ex2_fvd_floor_falls_as_one_over_n(ex):
    out = ex.ex2_fvd_floor()
    g = out["gauss"]
    for n, r in g.items():
        assert 0.85 < r["mean_term"] / r["predicted"] < 1.15          # eq. (9): tr Σ (1/n + 1/n), exactly in mean
        assert r["fvd"] > r["mean_term"]                               # the covariance term adds to the floor
    sizes = sorted(g)
    for small, big in zip(sizes, sizes[1:]):
        assert 3.3 < g[small]["fvd"] / g[big]["fvd"] < 4.7             # 4 times the samples, a quarter the floor
    assert 0 < out["halves"] < out["frozen"] / 1.5                     # real halves differ, a frozen half far more


def test_ex3_delta_p_of_jitter(ex):
    out = ex.ex3_delta_p_jitter()
    assert out["still"] == 0.0                                         # eq. (7): no change, no ΔP
    for s, (measured, predicted) in out["jitter"].items():
        assert abs(measured / predicted - 1) < 0.03                   # 2σ/√π
        # E|x + n| >= max(|x|, E|n|) for symmetric noise n, and <= |x| + E|n| (triangle inequality)
        true_jitter = out["true_jitter"][s]
        assert max(out["true"], 0.97 * predicted) <= true_jitter <= out["true"] + 1.03 * predicted
    assert 0.05 < out["true"] < 1.0                                    # SynthTalk heads sway by tenths of a degree


def test_ex4_capp_reads_the_amount_of_motion(ex):
    out = ex.ex4_capp_amplitude()
    amp = out["amplitude"]
    assert amp[0.0] < 0 < amp[1.0]                                     # a still head is CAPP's trained negative
    assert max(amp, key=amp.get) == 1.0                                # the true amount of motion scores best
    assert all(np.diff([amp[a] for a in sorted(amp) if a <= 1.0]) > 0)   # more motion, up to the true amount
    shift = out["shift"]
    assert shift[0] >= max(shift.values()) - 0.01                      # no shifted pose clearly beats the true one
