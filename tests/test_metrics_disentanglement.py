"""Disentanglement metrics (DCI, MIG, SAP, modularity): helpers, sanity bounds, errors."""
import math

import numpy as np
import pytest

from labkit.metrics import dci, histogram_discretize, mig, modularity, sap
from labkit.metrics.dci import completeness, disentanglement
from labkit.metrics.utils import check_codes_factors, discrete_entropy, discrete_mutual_info, split_train_test

N = 1000
LEVELS = (4, 3, 5)  # values taken by each of the 3 discrete factors


def _factors(seed=0):
    """(N, 3) independent uniform discrete factors."""
    return np.random.default_rng(seed).integers(0, LEVELS, size=(N, len(LEVELS)))


def _identity_codes(factors, seed=1):
    """Codes that are the factors, shuffled, rescaled, shifted and slightly noisy: (N, 3)."""
    rng = np.random.default_rng(seed)
    perm = [2, 0, 1]
    noisy = factors + 0.05 * rng.standard_normal(factors.shape)
    return noisy[:, perm] * np.array([3.0, -0.5, 10.0]) + np.array([1.0, 7.0, -2.0])


# ---- helpers ---------------------------------------------------------------------------------

def test_histogram_discretize_hand_computed():
    x = np.array([[0.0, 5.0, 0.0],
                  [1.0, 5.0, 0.1],
                  [2.0, 5.0, 0.9],
                  [3.0, 5.0, 1.0],
                  [4.0, 5.0, 1.0]])
    # col 0: edges 0,1,2,3,4 -> left edges 0,1,2,3; the maximum 4 joins the last bin.
    # col 1: constant 5 -> np.histogram range [4.5, 5.5], left edges 4.5,4.75,5.0,5.25 -> bin 3.
    # col 2: edges 0,.25,.5,.75,1 -> 0 and .1 in bin 1, .9 and 1 in bin 4.
    expected = np.array([[1, 3, 1], [2, 3, 1], [3, 3, 4], [4, 3, 4], [4, 3, 4]])
    out = histogram_discretize(x, num_bins=4)
    assert out.dtype.kind == "i"
    np.testing.assert_array_equal(out, expected)


def test_mutual_info_and_entropy():
    f = np.tile(np.arange(4), 25)[:, None]                     # (100, 1), uniform over 4 values
    codes_d = np.concatenate([f, np.zeros_like(f)], axis=1)    # (100, 2): a copy, and a constant
    mi = discrete_mutual_info(codes_d, f)
    assert mi.shape == (2, 1)
    np.testing.assert_allclose(mi[:, 0], [math.log(4), 0.0], atol=1e-12)
    np.testing.assert_allclose(discrete_entropy(np.concatenate([f, f % 2], axis=1)),
                               [math.log(4), math.log(2)])


def test_dci_scores_on_hand_made_importance():
    assert disentanglement(np.eye(3)) == pytest.approx(1.0)
    assert completeness(np.eye(3)) == pytest.approx(1.0)
    assert disentanglement(np.ones((3, 3))) == pytest.approx(0.0, abs=1e-12)
    assert completeness(np.ones((3, 3))) == pytest.approx(0.0, abs=1e-12)
    one_code_for_all = np.array([[1.0, 1.0], [0.0, 0.0]])      # code 0 drives both factors
    assert disentanglement(one_code_for_all) == pytest.approx(0.0, abs=1e-12)
    assert completeness(one_code_for_all) == pytest.approx(1.0)
    assert disentanglement(np.zeros((2, 2))) == 0.0 and completeness(np.zeros((2, 2))) == 0.0


def test_sap_continuous_is_squared_correlation():
    rng = np.random.default_rng(0)
    v = rng.standard_normal((500, 1))
    codes = np.concatenate([v + rng.standard_normal((500, 1)), rng.standard_normal((500, 1))], axis=1)
    r2 = np.corrcoef(codes.T, v.T)[:2, 2] ** 2                 # squared correlation of each code with v
    assert sap(codes, v, continuous_factors=True) == pytest.approx(abs(r2[0] - r2[1]))


# ---- sanity bounds ---------------------------------------------------------------------------

def test_identity_codes_score_high():
    f = _factors()
    z = _identity_codes(f)
    assert mig(z, f) > 0.8
    d = dci(z, f)
    assert d["disentanglement"] > 0.8 and d["completeness"] > 0.8
    assert d["informativeness_test"] > 0.95
    assert modularity(z, f) > 0.9
    assert sap(z, f.astype(float), continuous_factors=True) > 0.9
    # Discrete SAP is an accuracy gap; the second-best code still scores chance-level
    # accuracy (about 1/levels), so even perfect codes stay below 1 - 1/max(LEVELS).
    assert sap(z, f) > 0.4


def test_constant_codes_score_zero():
    f = _factors()
    z = np.zeros((N, 3))
    assert mig(z, f) == pytest.approx(0.0, abs=1e-12)
    d = dci(z, f)
    assert d["disentanglement"] == 0.0 and d["completeness"] == 0.0
    assert d["informativeness_test"] < 0.5                      # majority class at best
    assert modularity(z, f) == 0.0                              # dead codes score 0
    assert sap(z, f) == pytest.approx(0.0, abs=1e-12)
    assert sap(z, f.astype(float), continuous_factors=True) == 0.0


def test_noise_codes_score_low():
    f = _factors()
    z = np.random.default_rng(2).standard_normal((N, 3))
    assert mig(z, f) < 0.05
    d = dci(z, f)
    assert d["disentanglement"] < 0.2 and d["completeness"] < 0.2
    assert d["informativeness_test"] < 0.45                     # about chance (1/levels)
    assert sap(z, f) < 0.1
    assert sap(z, f.astype(float), continuous_factors=True) < 0.05


def test_duplicated_codes_low_mig_high_modularity():
    f = _factors()
    z = _identity_codes(f)
    z2 = np.repeat(z, 2, axis=1) + 1e-3 * np.random.default_rng(3).standard_normal((N, 6))
    assert mig(z2, f) < 0.05                                    # top two codes tie for each factor
    assert modularity(z2, f) > 0.9                              # each code still holds one factor
    d = dci(z2, f)
    assert d["disentanglement"] > 0.9
    # each factor's importance splits between 2 of the 6 codes: C = 1 - log 2 / log 6
    assert d["completeness"] == pytest.approx(1 - math.log(2) / math.log(6), abs=0.05)


def test_mig_skips_constant_factors():
    f = _factors()
    z = _identity_codes(f)
    f_plus = np.concatenate([f, np.full((N, 1), 7)], axis=1)   # a factor that never varies
    assert mig(z, f_plus) == pytest.approx(mig(z, f))


# ---- determinism -----------------------------------------------------------------------------

def test_seeded_determinism():
    f = _factors()
    z = _identity_codes(f) + np.random.default_rng(4).standard_normal((N, 3))  # imperfect codes
    assert dci(z, f, seed=5) == dci(z, f, seed=5)
    assert sap(z, f, seed=5) == sap(z, f, seed=5)
    tr0, te0 = split_train_test(N, train_fraction=0.8, seed=0)
    tr1, _ = split_train_test(N, train_fraction=0.8, seed=1)
    assert len(tr0) == 800 and len(te0) == 200 and not set(tr0) & set(te0)
    assert not np.array_equal(tr0, tr1)


# ---- bad input -------------------------------------------------------------------------------

_F = np.zeros((20, 2), dtype=int)
_F[::2] = 1
_Z = np.arange(40.0).reshape(20, 2)


@pytest.mark.parametrize("codes, factors, match", [
    (_Z[:, 0], _F, "2-D"),
    (_Z, _F[:19], "same number of rows"),
    (np.where(_Z == 3, np.nan, _Z), _F, "NaN or inf"),
    (_Z, np.where(_F == 1, np.inf, _F), "NaN or inf"),
    (_Z[:5], _F[:5], "at least 10 samples"),
    (_Z, _F + 0.5, "integer-valued"),
    (_Z[:, :0], _F, "at least one column"),
])
def test_bad_input_raises(codes, factors, match):
    with pytest.raises(ValueError, match=match):
        check_codes_factors(codes, factors)
    for metric in (mig, modularity, sap, dci):                  # every metric validates first
        with pytest.raises(ValueError, match=match):
            metric(codes, factors)


def test_metric_specific_errors():
    with pytest.raises(ValueError, match="at least 2 codes"):
        mig(_Z[:, :1], _F)
    with pytest.raises(ValueError, match="at least 2 codes"):
        sap(_Z[:, :1], _F)
    with pytest.raises(ValueError, match="every factor is constant"):
        mig(_Z, np.zeros_like(_F))
    with pytest.raises(ValueError, match="at least 2 factors"):
        modularity(_Z, _F[:, :1])
    with pytest.raises(ValueError, match="single value"):
        dci(_Z, np.zeros_like(_F))
    with pytest.raises(ValueError, match="train_fraction"):
        sap(_Z, _F, train_fraction=1.0)
