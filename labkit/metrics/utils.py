"""Shared helpers for the disentanglement metrics (DCI, MIG, SAP, modularity).

Following disentanglement_lib's definitions, every metric compares
    codes    (N, num_codes)    the learned latent code of N samples, real-valued
    factors  (N, num_factors)  the ground-truth factors of variation of the same samples
Information-based metrics need discrete variables, so continuous codes are binned per column
with `histogram_discretize` (equal-width bins over each column's range) and mutual information
is the plug-in estimate on the joint histogram, in nats. Factors are expected discrete already;
continuous factors are binned with the same `histogram_discretize` by the caller.
"""
from __future__ import annotations

import numpy as np
from sklearn.metrics import mutual_info_score

MIN_SAMPLES = 10  # below this no histogram, classifier or train/test split means anything


def check_codes_factors(codes, factors, *, discrete_factors: bool = True,
                        min_samples: int = MIN_SAMPLES) -> tuple[np.ndarray, np.ndarray]:
    """Validate a (codes, factors) pair; return codes as float64 and factors as int64
    (or float64 when `discrete_factors=False`). Raises ValueError naming the problem."""
    codes, factors = np.asarray(codes), np.asarray(factors)
    for name, a in (("codes", codes), ("factors", factors)):
        if a.ndim != 2:
            raise ValueError(f"{name} must be a 2-D array (N, num_{name}), got shape {a.shape}")
        if a.shape[1] == 0:
            raise ValueError(f"{name} must have at least one column, got shape {a.shape}")
        if a.dtype.kind not in "biuf":  # bool, int, unsigned, float
            raise ValueError(f"{name} must be real numbers, got dtype {a.dtype}")
        if not np.all(np.isfinite(a)):
            raise ValueError(f"{name} contains NaN or inf")
    if codes.shape[0] != factors.shape[0]:
        raise ValueError(f"codes and factors must have the same number of rows N, "
                         f"got {codes.shape[0]} and {factors.shape[0]}")
    if codes.shape[0] < min_samples:
        raise ValueError(f"need at least {min_samples} samples, got N = {codes.shape[0]}")
    if not discrete_factors:
        return codes.astype(np.float64), factors.astype(np.float64)
    # A continuous factor passed by mistake would make every value its own class and give
    # silently meaningless scores, so insist on integer labels.
    if not np.array_equal(factors, np.round(factors)):
        raise ValueError("factors must be discrete (integer-valued); "
                         "bin continuous factors first with histogram_discretize")
    return codes.astype(np.float64), factors.astype(np.int64)


def histogram_discretize(x, num_bins: int = 20) -> np.ndarray:
    """Bin each column of x (N, K) into `num_bins` equal-width bins over that column's range.

    Returns integer bin labels (N, K) in 1..num_bins: the bin edges are np.histogram's, and a
    value gets the index of the last left edge it reaches (the maximum lands in the last bin).
    A constant column falls entirely into one bin.
    """
    x = np.asarray(x, dtype=np.float64)
    if x.ndim != 2:
        raise ValueError(f"expected (N, K), got shape {x.shape}")
    if num_bins < 1:
        raise ValueError(f"num_bins must be >= 1, got {num_bins}")
    out = np.zeros(x.shape, dtype=np.int64)
    for k in range(x.shape[1]):
        edges = np.histogram(x[:, k], bins=num_bins)[1]  # num_bins + 1 edges
        out[:, k] = np.digitize(x[:, k], edges[:-1])     # drop the right edge: max -> last bin
    return out


def discrete_mutual_info(codes_d, factors_d) -> np.ndarray:
    """Mutual information (nats) between every discrete code and every discrete factor.

    codes_d (N, num_codes), factors_d (N, num_factors) -> (num_codes, num_factors).
    """
    codes_d, factors_d = np.asarray(codes_d), np.asarray(factors_d)
    if not (codes_d.ndim == 2 and factors_d.ndim == 2):
        raise ValueError(f"unexpected shapes {(codes_d.shape, factors_d.shape)}")
    if codes_d.shape[0] != factors_d.shape[0]:
        raise ValueError(f"unexpected shapes {(codes_d.shape, factors_d.shape)}")
    mi = np.zeros((codes_d.shape[1], factors_d.shape[1]))
    for i in range(codes_d.shape[1]):
        for j in range(factors_d.shape[1]):
            mi[i, j] = mutual_info_score(factors_d[:, j], codes_d[:, i])
    return mi


def discrete_entropy(factors_d) -> np.ndarray:
    """Entropy (nats) of each discrete factor: (N, num_factors) -> (num_factors,).

    H(y) = I(y; y), so it is measured with the same estimator as the mutual information.
    """
    factors_d = np.asarray(factors_d)
    if factors_d.ndim != 2:
        raise ValueError(f"expected (N, num_factors), got shape {factors_d.shape}")
    return np.array([mutual_info_score(f, f) for f in factors_d.T])


def split_train_test(n: int, *, train_fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Seeded random split of row indices 0..n-1 into (train, test), both non-empty."""
    if not 0.0 < train_fraction < 1.0:
        raise ValueError(f"train_fraction must be in (0, 1), got {train_fraction}")
    n_train = int(round(train_fraction * n))
    if not 0 < n_train < n:
        raise ValueError(f"train_fraction={train_fraction} leaves an empty train or test set "
                         f"with N = {n}")
    perm = np.random.default_rng(seed).permutation(n)
    return perm[:n_train], perm[n_train:]
