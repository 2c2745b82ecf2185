"""The solutions of notebook 04's exercises (notebooks/solutions/ex04_latent_interpolation.py) give the numbers
that the notebook's equations predict. The solutions file is imported by path: notebooks/ is not a package."""
import numpy as np
import pytest
from conftest import load_solutions


@pytest.fixture(scope="module")
def ex():
    return load_solutions("ex04_latent_interpolation")


def test_ex1_gaze_readout_follows_the_gaze(ex):
    out = ex.ex1_gaze_readout()
    true = out["true"]
    slopes = []
    for person in out["people"].values():
        read = person["read"]
        assert np.all(np.diff(read) > 0)                         # each step of the gaze reads as a step the same way
        assert np.corrcoef(true, read)[0, 1] > 0.97
        # eqs. (2) and (10) are both affine, so the readout of the straight line is the straight line between
        # the end readings ...
        assert np.allclose(person["read_lerp"], np.linspace(read[0], read[-1], len(read)), atol=1e-3)
        # ... and the true frames' readings stay near it (eq. (6) in degrees of gaze)
        assert np.abs(read - person["read_lerp"]).max() < 0.15 * (true[-1] - true[0])
        slopes.append(person["slope"])
    assert 0.5 < min(slopes) and max(slopes) < 1.5               # the readout's scale, per person, is within 50 %
    # eq. (11): the direction measured on training people predicts the test people's mean slope
    assert 0.8 < out["slope_direction"] < 1.0
    assert abs(np.mean(slopes) - out["slope_direction"]) < 0.15


def test_ex2_lerp_cuts_the_corner(ex):
    out = ex.ex2_norms()
    for pair in out.values():
        assert np.allclose(pair["lerp"], pair["eq4"], rtol=1e-4)            # eq. (4)
        # eq. (3): slerp's length is the straight line between the end lengths
        assert np.allclose(pair["slerp"], np.linspace(pair["norm_a"], pair["norm_b"], len(pair["slerp"])), rtol=1e-4)
        assert 60 < pair["omega_deg"] < 120                                  # the ends are far apart in angle ...
        # ... so the lerp midpoint is short: |a + b| / (|a| + |b|), which is cos(Omega / 2) for equal lengths and
        # a little more otherwise (by (|a| - |b|)^2 (1 - cos Omega) / 2 under the square)
        assert pair["cos_half"] <= pair["ratio_mid"] < pair["cos_half"] + 0.02
        assert pair["ratio_mid"] < 0.8
    true, dyn = out["z_dyn"]["true"], out["z_dyn"]
    mid = len(true) // 2
    # the true frames' codes dip as the straight line does, not as slerp's length
    assert abs(true[mid] - dyn["lerp"][mid]) < 0.5 * abs(true[mid] - dyn["slerp"][mid])


def test_ex3_identity_lives_in_the_volume(ex):
    out = ex.ex3_identity_morph()
    for name in ("both", "volume"):
        v = out[name]
        assert v["c_A"][0] > 0.95 and v["c_B"][-1] > 0.95                  # eq. (8) at the ends: A, then B
        assert 0.3 < v["cross"] < 0.7                                       # the encoder switches mid-way
        assert max(v["c_A"][len(v["c_A"]) // 2], v["c_B"][len(v["c_B"]) // 2]) < 0.6   # and sees neither there
    # the volume alone makes the same morph, and z_id alone does not make one: the decoded faces stay A's
    assert np.abs(out["both"]["c_A"] - out["volume"]["c_A"]).max() < 0.05
    assert out["z_id"]["cross"] == 1.0 and out["z_id"]["c_A"].min() > 0.9


def test_ex4_lerp_steps_evenly(ex):
    out = ex.ex4_evenness()
    assert 1.0 <= out["truth"] < out["lerp"] < out["slerp"]                # eq. (7): the truth is the most even
    assert out["lerp"] < 1.2 and out["slerp"] > 1.2
    assert out["psnr_lerp"] > out["psnr_slerp"] + 1.0                       # eq. (5), as with 7 steps
