"""The solutions of notebook 03's exercises (notebooks/solutions/ex03_disentanglement.py) give the numbers that
the notebook's equations predict. The solutions file is imported by path: notebooks/ is not a package."""
import pytest
from conftest import load_solutions

from labkit.evaluation.latent import PROBE_DYN


@pytest.fixture(scope="module")
def ex():
    return load_solutions("ex03_disentanglement")


def test_ex1_mig_punishes_a_copy_modularity_does_not(ex):
    out = ex.ex1_copied_code()
    # eq. (6): one coordinate per factor gives a gap of about 1 (less the plug-in bias, ~0.09 / log 20) ...
    assert out["identity"]["mig"] > 0.95
    # ... a copy of v1 gives v1 a gap of 0, so the mean over the two factors halves
    assert abs(out["copied"]["mig"] - out["identity"]["mig"] / 2) < 0.02
    # eq. (11): each coordinate of the copy still knows one factor only
    assert out["copied"]["modularity"] > 0.99 and out["identity"]["modularity"] > 0.99
    # eq. (10): the copy's two coordinates predict v1 equally well, so its gap is ~0 and SAP drops
    assert out["copied"]["sap"] < out["identity"]["sap"]
    # a 45° turn makes every coordinate know both factors: all three scores near 0
    assert max(out["rotated"].values()) < 0.05


def test_ex2_rotation_keeps_information_loses_dci(ex):
    out = ex.ex2_rotated_dci(angles=(0.0, 22.5, 45.0), n=300, levels=3)
    assert out[0.0]["disentanglement"] > 0.99 and out[0.0]["completeness"] > 0.99   # eqs. (7)-(8), identity
    assert out[45.0]["disentanglement"] < 0.1 and out[45.0]["completeness"] < 0.1   # both coordinates used alike
    assert out[0.0]["disentanglement"] > out[22.5]["disentanglement"] > out[45.0]["disentanglement"]
    assert all(v["informativeness"] > 0.9 for v in out.values())                   # eq. (9): nothing is lost


def test_ex3_emotions_cap_the_brow(ex):
    out = ex.ex3_brow_without_emotions(train_frames=400, test_frames=200)
    # notebook 01, eq. (2): without emotions the drawn brow weight and lid openness are linear in the factors
    assert all(out["without"][f] > 0.999 for f in PROBE_DYN)
    assert out["with"]["brow"] < 0.9 < out["with"]["jaw"]      # the emotions' brow share is what caps the brow
    assert out["with"]["brow"] < out["without"]["brow"] - 0.1


def test_ex4_a_mean_leak_can_hide_one_factor(ex):
    out = ex.ex4_leaks()
    assert all(v["block"] == "z_dyn" for v in out.values() if v["r2"] > 0.10)   # z_dyn leaks the pose, z_pose no
    previous = out["s128pp_cross"]                               # expression; the previous default's record:
    assert previous["mean"] <= 0.10 < previous["r2"]             # passes the bar on the mean, fails it on one factor
    assert previous["factor"] == "pitch"
    assert out["s128e_readout"]["r2"] <= 0.10                    # the default passes it on every factor
    assert out["s128"]["r2"] > 0.9                               # the first checkpoint copied the pose into z_dyn
    assert out["s128_consist"]["r2"] < out["s128_noconsist"]["r2"]   # eqs. (12)-(13) leave less of it
