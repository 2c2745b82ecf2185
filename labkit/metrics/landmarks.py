"""LMD: landmark distance (Chen et al., "Lip Movements Generation at a Glance", ECCV 2018).

The mean Euclidean distance between predicted and target 2-D facial landmarks, over frames and
a chosen set of points: the mouth points for lip shape (the original LMD), all 68 for the whole
face. Points use the iBUG-68 layout (jaw 0-16, brows 17-26, nose 27-35, eyes 36-47, mouth
48-67). Distances are in the landmarks' units (pixels) unless divided by `normalize`, e.g. the
inter-ocular distance or the image size, to compare across resolutions.
"""
from __future__ import annotations

import numpy as np

MOUTH = tuple(range(48, 68))   # iBUG-68 outer (48-59) and inner (60-67) lip points
FACE = tuple(range(68))        # all iBUG-68 points


def lmd(pred, target, *, points=None, normalize: float | None = None) -> float:
    """Mean landmark distance of pred and target, both (T, L, 2) or (N, T, L, 2).

    points: indices into L (e.g. MOUTH, FACE); None uses every landmark.
    normalize: a positive scalar the mean distance is divided by; None leaves it in pixels.
    Raises ValueError on mismatched or malformed shapes, bad indices or a bad normalizer.
    """
    pred = np.asarray(pred, dtype=np.float64)
    target = np.asarray(target, dtype=np.float64)
    if pred.shape != target.shape:
        raise ValueError(f"pred and target must have the same shape, got {pred.shape} and {target.shape}")
    if pred.ndim not in (3, 4) or pred.shape[-1] != 2:
        raise ValueError(f"landmarks must be (T, L, 2) or (N, T, L, 2), got shape {pred.shape}")
    if pred.size == 0:
        raise ValueError(f"landmarks are empty, got shape {pred.shape}")
    if not (np.all(np.isfinite(pred)) and np.all(np.isfinite(target))):
        raise ValueError("landmarks contain NaN or inf")
    L = pred.shape[-2]
    if points is not None:
        points = np.asarray(points)
        if points.ndim != 1 or points.size == 0 or points.dtype.kind not in "iu":
            raise ValueError(f"points must be a non-empty list of integer indices, got {points!r}")
        if points.min() < 0 or points.max() >= L:
            raise ValueError(f"points index landmarks 0..{L - 1}, got indices {points.min()}..{points.max()}")
        pred, target = pred[..., points, :], target[..., points, :]
    dist = np.linalg.norm(pred - target, axis=-1)            # (..., T, P): per frame and point
    value = float(dist.mean())
    if normalize is not None:
        if not np.isfinite(normalize) or normalize <= 0:
            raise ValueError(f"normalize must be a positive finite scalar, got {normalize!r}")
        value /= float(normalize)
    return value
