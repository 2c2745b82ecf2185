"""ΔP: head-pose variation intensity, one of the evaluation metrics of VASA-1 (Xu et al. 2024,
arXiv 2404.10667, Sec. 4).

ΔP is the mean absolute frame-to-frame change of the head angles, averaged over clips, frames
and angles. It measures how much the head moves, not whether it moves well: generated motion
is compared with the ground truth's ΔP (a ratio near 1 is the aim).
"""
from __future__ import annotations

import numpy as np


def delta_p(angles) -> float:
    """ΔP of head angles (N, T, K) or (T, K) in degrees, K = 3 for (yaw, pitch, roll).

    Returns mean |angles[..., t+1, :] - angles[..., t, :]| over clips, steps and angles, in
    degrees per frame. Raises ValueError for fewer than 2 frames or a bad shape.
    """
    angles = np.asarray(angles, dtype=np.float64)
    if angles.ndim not in (2, 3):
        raise ValueError(f"angles must be (T, K) or (N, T, K), got shape {angles.shape}")
    if angles.shape[-1] < 1:
        raise ValueError(f"angles need at least one angle column K (3: yaw, pitch, roll), got shape {angles.shape}")
    if angles.ndim == 3 and angles.shape[0] < 1:
        raise ValueError(f"angles hold no clips, got shape {angles.shape}")
    if angles.shape[-2] < 2:
        raise ValueError(f"ΔP needs at least 2 frames T to take a difference, got T = {angles.shape[-2]}")
    steps = np.diff(angles, axis=-2)                # (..., T-1, K): change from frame t to t+1
    return float(np.abs(steps).mean())
