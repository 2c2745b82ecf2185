"""DCI: disentanglement, completeness and informativeness (Eastwood & Williams, ICLR 2018).

Following disentanglement_lib's definitions. One regressor per factor predicts that factor
from all codes; the regressors' feature importances form the importance matrix
R (num_codes, num_factors), R[i, j] = how much code i is used to predict factor j (Sec. 2).
As in disentanglement_lib the regressor is a gradient-boosted tree classifier (factors are
discrete) and informativeness is its classification accuracy, not a regression error.

    disentanglement  D_i = 1 - H_{num_factors}(P_i.),  P_ij = R_ij / sum_k R_ik    (Eq. 1-2)
                     D   = sum_i rho_i D_i,            rho_i = sum_j R_ij / sum_ij R_ij
    completeness     C_j = 1 - H_{num_codes}(P~_.j),   P~_ij = R_ij / sum_k R_kj   (Eq. 3)
                     C   = sum_j  w_j C_j,             w_j = sum_i R_ij / sum_ij R_ij
    informativeness  mean accuracy over factors, on the train and on the held-out rows

H_K is entropy with logarithm base K, so each score lies in [0, 1]; 1 is perfect.
"""
from __future__ import annotations

import numpy as np
from sklearn.ensemble import GradientBoostingClassifier

from labkit.metrics.utils import check_codes_factors, split_train_test


def dci(codes, factors, *, train_fraction: float = 0.8, seed: int = 0) -> dict[str, float]:
    """DCI scores of codes (N, num_codes) against discrete factors (N, num_factors).

    Rows are split into train/test by a permutation seeded with `seed`, which also seeds the
    tree ensembles, so the result is deterministic. Returns a dict with keys
    disentanglement, completeness, informativeness_train, informativeness_test.
    """
    codes, factors = check_codes_factors(codes, factors)
    train, test = split_train_test(codes.shape[0], train_fraction=train_fraction, seed=seed)
    importance, acc_train, acc_test = importance_matrix(
        codes[train], factors[train], codes[test], factors[test], seed=seed)
    return {
        "disentanglement": disentanglement(importance),
        "completeness": completeness(importance),
        "informativeness_train": acc_train,
        "informativeness_test": acc_test,
    }


def importance_matrix(codes_train, factors_train, codes_test, factors_test, *,
                      seed: int) -> tuple[np.ndarray, float, float]:
    """Fit one GradientBoostingClassifier (sklearn defaults) per factor on all codes.

    Returns R (num_codes, num_factors) of absolute feature importances, and the mean
    train and test accuracies over factors.
    """
    num_codes, num_factors = codes_train.shape[1], factors_train.shape[1]
    if not (codes_test.shape[1] == num_codes and factors_test.shape[1] == num_factors):
        raise ValueError('expected codes_test.shape[1] == num_codes and factors_test.shape[1] == num_factors')
    R = np.zeros((num_codes, num_factors))
    acc_train, acc_test = [], []
    for j in range(num_factors):
        if np.unique(factors_train[:, j]).size < 2:
            raise ValueError(f"factor {j} takes a single value on the train rows; "
                             "DCI needs every factor to vary")
        model = GradientBoostingClassifier(random_state=seed)
        model.fit(codes_train, factors_train[:, j])
        R[:, j] = np.abs(model.feature_importances_)  # all zeros if no split helped
        acc_train.append(np.mean(model.predict(codes_train) == factors_train[:, j]))
        acc_test.append(np.mean(model.predict(codes_test) == factors_test[:, j]))
    return R, float(np.mean(acc_train)), float(np.mean(acc_test))


def _normalised_entropy(weights: np.ndarray) -> np.ndarray:
    """Entropy of each row of non-negative weights (R, K), normalised to [0, 1] (log base K).

    A row of zeros carries no preference, so it counts as uniform (entropy 1), as the small
    epsilon in disentanglement_lib makes it. With K = 1 there is one outcome: entropy 0.
    """
    R, K = weights.shape
    if K == 1:
        return np.zeros(R)
    totals = weights.sum(axis=1, keepdims=True)
    p = np.where(totals > 0, weights / np.where(totals > 0, totals, 1.0), 1.0 / K)
    plogp = np.where(p > 0, p * np.log(np.where(p > 0, p, 1.0)), 0.0)  # 0 log 0 = 0
    return -plogp.sum(axis=1) / np.log(K)


def disentanglement(R: np.ndarray) -> float:
    """D: how much each code is devoted to a single factor, weighted by code importance."""
    if not (R.ndim == 2 and np.all(R >= 0)):
        raise ValueError("R must be a non-negative (num_codes, num_factors) matrix")
    if R.sum() == 0:  # no code predicts anything: nothing is disentangled
        return 0.0
    per_code = 1.0 - _normalised_entropy(R)          # (num_codes,)
    code_weight = R.sum(axis=1) / R.sum()            # (num_codes,), rho_i
    return float(np.sum(per_code * code_weight))


def completeness(R: np.ndarray) -> float:
    """C: how much each factor is captured by a single code, weighted by factor importance."""
    if not (R.ndim == 2 and np.all(R >= 0)):
        raise ValueError("R must be a non-negative (num_codes, num_factors) matrix")
    if R.sum() == 0:
        return 0.0
    per_factor = 1.0 - _normalised_entropy(R.T)      # (num_factors,)
    factor_weight = R.sum(axis=0) / R.sum()          # (num_factors,)
    return float(np.sum(per_factor * factor_weight))
