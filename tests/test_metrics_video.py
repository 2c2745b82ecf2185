"""Video metrics (Fréchet distance / FVD, ΔP, SyncNet scores, LMD, CSIM): closed forms, sanity
bounds, sign conventions and errors."""
import numpy as np
import pytest
from scipy.linalg import sqrtm

from labkit.evaluation.motion import delta_p as delta_p_from_eval_motion
from labkit.metrics import csim, delta_p, feature_stats, frechet_distance, fvd, lmd, offset_distances, sync_scores
from labkit.metrics.landmarks import FACE, MOUTH


def _random_psd(rng, D, rank=None):
    """A random PSD matrix (D, D) of the given rank (full by default)."""
    a = rng.standard_normal((D, rank or D))
    return a @ a.T / (rank or D)


# ---- Fréchet distance / FVD ------------------------------------------------------------------

def test_feature_stats_float64_unbiased():
    x = np.random.default_rng(0).standard_normal((50, 4)).astype(np.float32)
    mu, sigma = feature_stats(x)
    assert mu.dtype == sigma.dtype == np.float64 and mu.shape == (4,) and sigma.shape == (4, 4)
    np.testing.assert_allclose(sigma, np.cov(x.astype(np.float64), rowvar=False))
    assert feature_stats(x[:, :1])[1].shape == (1, 1)


def test_frechet_closed_forms():
    rng = np.random.default_rng(1)
    mu1, mu2 = rng.standard_normal(6), rng.standard_normal(6)
    s1, s2 = rng.uniform(0.1, 3, 6), rng.uniform(0.1, 3, 6)          # standard deviations
    expected = np.sum((mu1 - mu2) ** 2) + np.sum((s1 - s2) ** 2)
    assert frechet_distance(mu1, np.diag(s1 ** 2), mu2, np.diag(s2 ** 2)) == pytest.approx(expected, rel=1e-12)
    # 1-D: (m1 - m2)^2 + (s1 - s2)^2
    assert frechet_distance([1.0], [[4.0]], [-2.0], [[9.0]]) == pytest.approx(9.0 + 1.0, rel=1e-12)


def test_frechet_identical_symmetric_nonnegative():
    rng = np.random.default_rng(2)
    mu, s = rng.standard_normal(8), _random_psd(rng, 8)
    assert frechet_distance(mu, s, mu, s) == pytest.approx(0.0, abs=1e-8)
    for trial in range(20):
        D = int(rng.integers(1, 12))
        rank1, rank2 = (int(r) for r in rng.integers(1, D + 1, size=2))
        a = (rng.standard_normal(D), _random_psd(rng, D, rank1))
        b = (rng.standard_normal(D), _random_psd(rng, D, rank2))
        d_ab, d_ba = frechet_distance(*a, *b), frechet_distance(*b, *a)
        assert d_ab >= 0.0
        assert d_ab == pytest.approx(d_ba, rel=1e-8, abs=1e-10)


def test_frechet_matches_scipy_sqrtm_reference():
    rng = np.random.default_rng(3)
    D = 10
    mu1, mu2 = rng.standard_normal(D), rng.standard_normal(D)
    s1 = _random_psd(rng, D, 3 * D) + 0.5 * np.eye(D)                  # well conditioned
    s2 = _random_psd(rng, D, 3 * D) + 0.5 * np.eye(D)
    covmean = np.real(sqrtm(s1 @ s2))
    ref = np.sum((mu1 - mu2) ** 2) + np.trace(s1) + np.trace(s2) - 2 * np.trace(covmean)
    assert frechet_distance(mu1, s1, mu2, s2) == pytest.approx(ref, rel=1e-6)


def test_fvd_rank_deficient_and_shift():
    rng = np.random.default_rng(4)
    few_a, few_b = rng.standard_normal((5, 16)), rng.standard_normal((7, 16)) + 1.0   # N < D
    d = fvd(few_a, few_b)
    assert np.isfinite(d) and d > 0
    a = rng.standard_normal((400, 8))
    c = rng.standard_normal(8)
    assert fvd(a, a) == pytest.approx(0.0, abs=1e-8)
    assert fvd(a, a + c) == pytest.approx(c @ c, rel=1e-9, abs=1e-8)   # same covariance: only the means move
    # shifting one set by c changes ||Δμ||^2 and nothing else
    b = 2.0 * rng.standard_normal((300, 8)) - 1.0
    mu_a, mu_b = a.mean(0), b.mean(0)
    shift = 2 * (mu_a - mu_b) @ c + c @ c
    assert fvd(a + c, b) - fvd(a, b) == pytest.approx(shift, rel=1e-9, abs=1e-8)


def test_frechet_bad_shapes_raise():
    mu, s = np.zeros(3), np.eye(3)
    with pytest.raises(ValueError, match="same dimension"):
        frechet_distance(mu, s, np.zeros(4), np.eye(4))
    with pytest.raises(ValueError, match="sigma2"):
        frechet_distance(mu, s, mu, np.eye(4))
    with pytest.raises(ValueError, match="sigma1"):
        frechet_distance(mu, np.ones((3, 2)), mu, s)
    with pytest.raises(ValueError, match="mu1"):
        frechet_distance(np.zeros((3, 1)), s, mu, s)
    with pytest.raises(ValueError, match="same feature size"):
        fvd(np.zeros((10, 3)), np.zeros((10, 4)))
    with pytest.raises(ValueError, match="at least 2 samples"):
        feature_stats(np.zeros((1, 3)))
    with pytest.raises(ValueError, match="2-D"):
        fvd(np.zeros(10), np.zeros(10))


# ---- ΔP --------------------------------------------------------------------------------------

def test_delta_p():
    T = 30
    assert delta_p(np.full((2, T, 3), 12.5)) == 0.0                     # frozen head
    ramp = np.zeros((T, 3))
    ramp[:, 1] = np.arange(T)                                          # pitch: 1 degree per frame
    assert delta_p(ramp) == pytest.approx(1 / 3)
    assert delta_p(ramp) == delta_p(ramp[None])
    assert delta_p_from_eval_motion is delta_p
    with pytest.raises(ValueError, match="at least 2 frames"):
        delta_p(np.zeros((1, 3)))
    with pytest.raises(ValueError, match="at least 2 frames"):
        delta_p(np.zeros((4, 1, 3)))
    with pytest.raises(ValueError, match=r"\(T, K\)"):
        delta_p(np.zeros(5))


# ---- SyncNet scores --------------------------------------------------------------------------

def _unit_rows(T=60, D=64, seed=0):
    x = np.random.default_rng(seed).standard_normal((T, D))
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def test_offset_distances_layout():
    video, audio = _unit_rows(T=8, D=4, seed=1), _unit_rows(T=8, D=4, seed=2)
    d = offset_distances(video, audio, vshift=2)
    assert d.shape == (8, 5)
    assert d[3, 2] == pytest.approx(np.linalg.norm(video[3] - audio[3]))       # column vshift: no offset
    assert d[3, 4] == pytest.approx(np.linalg.norm(video[3] - audio[5]))       # column k: audio[t + k - vshift]
    assert d[0, 0] == pytest.approx(np.linalg.norm(video[0]))                  # outside the clip: zero rows


def test_sync_aligned_shifted_and_unrelated():
    video = _unit_rows()
    aligned = sync_scores(video, video)
    assert aligned.offset == 0 and aligned.min_dist == pytest.approx(0.0, abs=1e-12)
    assert aligned.confidence > 1.0 and aligned.mean_dists.shape == (31,)
    s = 3
    late = np.concatenate([np.repeat(video[:1], s, 0), video[:-s]])   # audio[t] = video[t - s]: audio delayed
    early = np.concatenate([video[s:], np.repeat(video[-1:], s, 0)])  # audio[t] = video[t + s]: audio leads
    assert sync_scores(video, late).offset == -s
    assert sync_scores(video, early).offset == +s
    assert sync_scores(video, late).confidence > 0.8 * aligned.confidence
    unrelated = sync_scores(video, _unit_rows(seed=9))
    assert unrelated.confidence < 0.2 * aligned.confidence


def test_sync_bad_inputs_raise():
    v = _unit_rows(T=10, D=4)
    with pytest.raises(ValueError, match="same shape"):
        sync_scores(v, v[:9])
    with pytest.raises(ValueError, match="T >= 1"):
        sync_scores(np.zeros((0, 4)), np.zeros((0, 4)))
    with pytest.raises(ValueError, match="vshift"):
        sync_scores(v, v, vshift=0)
    with pytest.raises(ValueError, match="vshift"):
        offset_distances(v, v, vshift=2.5)
    with pytest.raises(ValueError, match="2-D"):
        sync_scores(v[0], v[0])


# ---- LMD -------------------------------------------------------------------------------------

def test_lmd():
    rng = np.random.default_rng(5)
    target = rng.uniform(0, 128, (2, 10, 68, 2))                       # (N, T, L, 2)
    assert lmd(target, target) == 0.0
    assert lmd(target + np.array([3.0, 4.0]), target) == pytest.approx(5.0)
    assert lmd(target[0] + np.array([3.0, 4.0]), target[0], points=MOUTH) == pytest.approx(5.0)
    mouth_moved = target.copy()
    mouth_moved[..., list(MOUTH), :] += np.array([3.0, 4.0])
    assert lmd(mouth_moved, target, points=MOUTH) == pytest.approx(5.0)
    assert lmd(mouth_moved, target, points=FACE) == pytest.approx(5.0 * 20 / 68)
    assert lmd(mouth_moved, target, points=MOUTH, normalize=128) == pytest.approx(5.0 / 128)
    with pytest.raises(ValueError, match="same shape"):
        lmd(target, target[..., :60, :])
    with pytest.raises(ValueError, match="points"):
        lmd(target[..., :40, :], target[..., :40, :], points=MOUTH)
    with pytest.raises(ValueError, match="normalize"):
        lmd(target, target, normalize=0)
    with pytest.raises(ValueError, match=r"\(T, L, 2\)"):
        lmd(target[..., :1], target[..., :1])


# ---- CSIM ------------------------------------------------------------------------------------

def test_csim():
    rng = np.random.default_rng(6)
    ref = rng.standard_normal(16)
    other = rng.standard_normal(16)
    ortho = other - (other @ ref) / (ref @ ref) * ref
    assert csim(ref, ref[None]) == pytest.approx(1.0)
    assert csim(ref, -ref[None]) == pytest.approx(-1.0)
    assert csim(ref, ortho[None]) == pytest.approx(0.0, abs=1e-12)
    frames = rng.standard_normal((5, 16))
    assert csim(3.0 * ref, frames * rng.uniform(0.1, 10, (5, 1))) == pytest.approx(csim(ref, frames))
    assert csim(ref, np.stack([ref, -ref])) == pytest.approx(0.0, abs=1e-12)   # the mean over frames
    with pytest.raises(ValueError, match="zero norm"):
        csim(np.zeros(16), frames)
    with pytest.raises(ValueError, match="zero norm"):
        csim(ref, np.concatenate([frames, np.zeros((1, 16))]))
    with pytest.raises(ValueError, match="embedding size"):
        csim(ref, frames[:, :8])
