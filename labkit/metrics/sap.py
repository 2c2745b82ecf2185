"""SAP: the separated attribute predictability score (Kumar et al., "Variational Inference of
Disentangled Latent Concepts from Unlabeled Observations", ICLR 2018, Sec. 3).

Following disentanglement_lib's definitions. A score matrix S (num_codes, num_factors) says how
well each single code predicts each factor:
    continuous factors  S_ij = R^2 of a linear fit = cov(z_i, v_j)^2 / (var(z_i) var(v_j)),
                        0 when either variance is 0
    discrete factors    S_ij = held-out accuracy of a linear SVM (LinearSVC, C = 0.01, balanced
                        class weights) trained on code i alone to classify factor j
SAP is the mean over factors of the gap between the best and second-best code, S_top - S_second:
high when each factor is predictable from exactly one code.
"""
from __future__ import annotations

import numpy as np
from sklearn.svm import LinearSVC

from labkit.metrics.utils import check_codes_factors, split_train_test

_TINY_VAR = 1e-12  # a variance below this counts as a constant column


def sap(codes, factors, *, continuous_factors: bool = False, train_fraction: float = 0.8,
        seed: int = 0) -> float:
    """SAP of codes (N, num_codes) against factors (N, num_factors).

    With `continuous_factors=True` factors are raw real values and S is the squared
    correlation over all N rows (no split, `train_fraction` and `seed` unused). Otherwise
    factors are discrete labels and the rows are split train/test by a permutation seeded with
    `seed`. Needs at least 2 codes, since SAP compares the two best.
    """
    codes, factors = check_codes_factors(codes, factors, discrete_factors=not continuous_factors)
    if codes.shape[1] < 2:
        raise ValueError(f"SAP compares the two best codes per factor; need at least 2 codes, "
                         f"got {codes.shape[1]}")
    if continuous_factors:
        S = _squared_correlation(codes, factors)
    else:
        train, test = split_train_test(codes.shape[0], train_fraction=train_fraction, seed=seed)
        S = _svm_accuracy(codes[train], factors[train], codes[test], factors[test])
    top_two = np.sort(S, axis=0)[::-1][:2]  # (2, num_factors), best code first
    return float(np.mean(top_two[0] - top_two[1]))


def _squared_correlation(codes: np.ndarray, factors: np.ndarray) -> np.ndarray:
    """S_ij = cov(z_i, v_j)^2 / (var z_i var v_j): (N, num_codes), (N, num_factors) -> (num_codes, num_factors)."""
    z = codes - codes.mean(axis=0)                 # (N, num_codes), centred
    v = factors - factors.mean(axis=0)             # (N, num_factors), centred
    n = codes.shape[0]
    cov = z.T @ v / (n - 1)                        # (num_codes, num_factors)
    var_z = (z ** 2).sum(axis=0) / (n - 1)         # (num_codes,)
    var_v = (v ** 2).sum(axis=0) / (n - 1)         # (num_factors,)
    denom = np.outer(var_z, var_v)
    ok = (var_z[:, None] > _TINY_VAR) & (var_v[None, :] > _TINY_VAR)
    return np.where(ok, cov ** 2 / np.where(ok, denom, 1.0), 0.0)


def _svm_accuracy(codes_train, factors_train, codes_test, factors_test) -> np.ndarray:
    """S_ij = test accuracy of a LinearSVC fit on code i alone to predict factor j."""
    num_codes, num_factors = codes_train.shape[1], factors_train.shape[1]
    S = np.zeros((num_codes, num_factors))
    for j in range(num_factors):
        if np.unique(factors_train[:, j]).size < 2:
            raise ValueError(f"factor {j} takes a single value on the train rows; "
                             "SAP needs every factor to vary")
        for i in range(num_codes):
            # dual=False: with one feature the primal problem is small and its solver is
            # deterministic; it has the same optimum as the dual one disentanglement_lib used.
            clf = LinearSVC(C=0.01, class_weight="balanced", dual=False)
            clf.fit(codes_train[:, i:i + 1], factors_train[:, j])
            S[i, j] = np.mean(clf.predict(codes_test[:, i:i + 1]) == factors_test[:, j])
    return S
