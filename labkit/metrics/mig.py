"""MIG: the mutual information gap (Chen et al., "Isolating Sources of Disentanglement in
VAEs", NeurIPS 2018, Sec. 4.1, Eq. 6).

Following disentanglement_lib's definitions: codes are binned per column into `num_bins`
equal-width bins, I(code_i; factor_j) is the plug-in mutual information of the binned codes and
the discrete factors, and for each factor

    gap_j = (I(top code; v_j) - I(second code; v_j)) / H(v_j)

where "top" and "second" are the two codes most informative about factor v_j. MIG is the mean
gap over factors, in [0, 1]. It rewards one code per factor: a factor split over two codes, or
copied into two codes, has a small gap even though the code "knows" the factor.
"""
from __future__ import annotations

import numpy as np

from labkit.metrics.utils import check_codes_factors, discrete_entropy, discrete_mutual_info, histogram_discretize


def mig(codes, factors, *, num_bins: int = 20) -> float:
    """Mutual information gap of codes (N, num_codes) against discrete factors (N, num_factors).

    Constant factors (zero entropy) carry no information to capture, and their gap 0/0 is
    undefined (disentanglement_lib returns NaN), so they are left out of the mean.
    Raises ValueError when every factor is constant or there are fewer than two codes.
    """
    codes, factors = check_codes_factors(codes, factors)
    if codes.shape[1] < 2:
        raise ValueError(f"MIG compares the two most informative codes; need at least 2 codes, "
                         f"got {codes.shape[1]}")
    mi = discrete_mutual_info(histogram_discretize(codes, num_bins), factors)  # (num_codes, num_factors)
    entropy = discrete_entropy(factors)                                         # (num_factors,)
    varies = entropy > 0
    if not np.any(varies):
        raise ValueError("every factor is constant (zero entropy); MIG is undefined")
    top_two = np.sort(mi, axis=0)[::-1][:2]             # (2, num_factors), largest MI first
    gap = (top_two[0] - top_two[1])[varies] / entropy[varies]
    return float(np.mean(gap))
