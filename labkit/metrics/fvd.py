"""Fréchet distance between feature Gaussians: the maths of FID (Heusel et al., "GANs Trained by a
Two Time-Scale Update Rule Converge to a Local Nash Equilibrium", NeurIPS 2017) and FVD
(Unterthiner et al., "Towards Accurate Generative Models of Video: A New Metric & Challenges",
arXiv 1812.01717, 2018).

Each set of features is summarised by a Gaussian N(mu, Sigma), and the squared 2-Wasserstein
(Fréchet) distance between two Gaussians is

    d^2 = ||mu1 - mu2||^2 + tr(S1) + tr(S2) - 2 tr((S1 S2)^{1/2}).

FVD is this distance over features of video clips: 16-frame clips embedded by an I3D network
trained on Kinetics in the original (VASA-1 reports it on 25-frame clips, FVD_25). The feature
extractor is pluggable and lives elsewhere; these functions only see the (N, D) features.

tr((S1 S2)^{1/2}) is computed without a general (possibly complex) matrix square root: with
R = S1^{1/2} the PSD square root of S1, S1 S2 has the same eigenvalues as the symmetric PSD
matrix R S2 R, so the trace is the sum of the square roots of those eigenvalues. Both steps use
`eigh` and clip rounding-level negative eigenvalues to 0, which also makes rank-deficient
covariances (fewer samples than dimensions) safe.
"""
from __future__ import annotations

import numpy as np


def _check_features(features, name: str) -> np.ndarray:
    features = np.asarray(features, dtype=np.float64)
    if features.ndim != 2:
        raise ValueError(f"{name} must be a 2-D array (N, D), got shape {features.shape}")
    if features.shape[0] < 2:
        raise ValueError(f"{name} needs at least 2 samples for a covariance, got N = {features.shape[0]}")
    if features.shape[1] < 1:
        raise ValueError(f"{name} must have at least one feature column, got shape {features.shape}")
    if not np.all(np.isfinite(features)):
        raise ValueError(f"{name} contains NaN or inf")
    return features


def feature_stats(features) -> tuple[np.ndarray, np.ndarray]:
    """Mean (D,) and covariance (D, D) of features (N, D), N >= 2, in float64 (ddof = 1)."""
    features = _check_features(features, "features")
    mu = features.mean(axis=0)                                  # (D,)
    sigma = np.atleast_2d(np.cov(features, rowvar=False))       # (D, D); D = 1 gives a scalar
    return mu, sigma


def _psd_sqrt(s: np.ndarray) -> np.ndarray:
    """Square root of a symmetric PSD matrix (D, D) by eigh, negative eigenvalues clipped to 0."""
    w, v = np.linalg.eigh(s)
    return (v * np.sqrt(np.clip(w, 0.0, None))) @ v.T


def frechet_distance(mu1, sigma1, mu2, sigma2) -> float:
    """Squared Fréchet distance between N(mu1, sigma1) and N(mu2, sigma2).

    mu1, mu2: (D,) means; sigma1, sigma2: (D, D) covariances. Returns a float >= 0 (rounding
    can push an exact 0 slightly below; the result is clamped). Raises ValueError on shapes
    that do not fit together.
    """
    mu1, mu2 = np.asarray(mu1, dtype=np.float64), np.asarray(mu2, dtype=np.float64)
    sigma1, sigma2 = np.asarray(sigma1, dtype=np.float64), np.asarray(sigma2, dtype=np.float64)
    for name, mu in (("mu1", mu1), ("mu2", mu2)):
        if mu.ndim != 1 or mu.shape[0] < 1:
            raise ValueError(f"{name} must be a 1-D mean vector (D,), got shape {mu.shape}")
    if mu1.shape != mu2.shape:
        raise ValueError(f"mu1 and mu2 must have the same dimension D, got {mu1.shape} and {mu2.shape}")
    D = mu1.shape[0]
    for name, s in (("sigma1", sigma1), ("sigma2", sigma2)):
        if s.shape != (D, D):
            raise ValueError(f"{name} must be a (D, D) = ({D}, {D}) covariance to match the means, "
                             f"got shape {s.shape}")
    for name, a in (("mu1", mu1), ("sigma1", sigma1), ("mu2", mu2), ("sigma2", sigma2)):
        if not np.all(np.isfinite(a)):
            raise ValueError(f"{name} contains NaN or inf")
    s1 = (sigma1 + sigma1.T) / 2                    # symmetrise away rounding asymmetry
    s2 = (sigma2 + sigma2.T) / 2
    root1 = _psd_sqrt(s1)                           # (D, D), S1^{1/2}
    middle = root1 @ s2 @ root1                     # (D, D), PSD, same spectrum as S1 S2
    eig = np.linalg.eigvalsh((middle + middle.T) / 2)
    tr_covmean = np.sqrt(np.clip(eig, 0.0, None)).sum()     # tr((S1 S2)^{1/2})
    diff = mu1 - mu2
    d2 = diff @ diff + np.trace(s1) + np.trace(s2) - 2.0 * tr_covmean
    return float(max(d2, 0.0))


def fvd(features_a, features_b) -> float:
    """Fréchet distance between the Gaussians fit to features_a (Na, D) and features_b (Nb, D).

    With video-clip features (one row per clip) this is FVD; with image features, FID.
    """
    a = _check_features(features_a, "features_a")
    b = _check_features(features_b, "features_b")
    if a.shape[1] != b.shape[1]:
        raise ValueError(f"features_a and features_b must have the same feature size D, "
                         f"got {a.shape[1]} and {b.shape[1]}")
    return frechet_distance(*feature_stats(a), *feature_stats(b))
