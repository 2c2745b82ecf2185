"""Modularity (Ridgeway & Mozer, "Learning Deep Disentangled Embeddings with the F-Statistic
Loss", NeurIPS 2018, Sec. 3).

Following disentanglement_lib's definitions (the modularity half of its
modularity_explicitness metric). A code is modular when it carries information about at most
one factor. With m_ij = I(code_i; factor_j), the plug-in mutual information of the binned code
and the discrete factor, and theta_i = max_j m_ij, the ideal code would keep only its best
factor: template t_ij = theta_i where j is that factor, else 0. The deviation from it,

    delta_i = sum_j (m_ij - t_ij)^2 / (theta_i^2 (num_factors - 1)),

is 0 for a perfectly modular code and 1 when the code knows every factor equally, and the
modularity is the mean over codes of 1 - delta_i. Unlike MIG it does not penalise two codes
that hold the same factor: modularity looks at codes, not at factors.
"""
from __future__ import annotations

import numpy as np

from labkit.metrics.utils import check_codes_factors, discrete_mutual_info, histogram_discretize


def modularity(codes, factors, *, num_bins: int = 20) -> float:
    """Modularity of codes (N, num_codes) against discrete factors (N, num_factors), in [0, 1].

    A code with no information about any factor (theta_i = 0, e.g. a constant or a dead code)
    has an undefined deviation 0/0; like disentanglement_lib it scores 0, so dead codes pull
    the mean down instead of counting as perfectly modular. Needs at least 2 factors.
    """
    codes, factors = check_codes_factors(codes, factors)
    num_factors = factors.shape[1]
    if num_factors < 2:
        raise ValueError("modularity compares a code's factors; need at least 2 factors, "
                         f"got {num_factors}")
    mi = discrete_mutual_info(histogram_discretize(codes, num_bins), factors)  # (num_codes, num_factors)
    sq = mi ** 2
    theta_sq = sq.max(axis=1)                                # (num_codes,), theta_i^2
    # Only the template's best entry is non-zero and it matches exactly, so the squared
    # deviation is the sum of the other entries: sum_j m_ij^2 - theta_i^2.
    deviation = sq.sum(axis=1) - theta_sq                    # (num_codes,)
    alive = theta_sq > 0
    score = np.zeros(mi.shape[0])
    score[alive] = 1.0 - deviation[alive] / (theta_sq[alive] * (num_factors - 1))
    return float(np.mean(score))
