"""Crop and align a real face to SynthTalk's framing by a similarity transform.

A similarity (rotation, uniform scale, translation: 4 degrees of freedom) keeps the face's
proportions -- only where it sits, how big and how tilted changes -- so identity and expression
survive alignment. It is the least-squares fit (Umeyama, 1991) from the detected landmarks to
the canonical template (:mod:`labkit.faces.template`) over the points that expressions move
least: the four eye corners, the nose (bridge top, tip, nostril wings and base) and the two
mouth corners. Eyelids, brows, lips and the jaw line are left out: blinks, speech and the
silhouette-following jaw contour would drag the fit.
"""
from __future__ import annotations

import cv2
import numpy as np

from labkit.faces.image import as_rgb
from labkit.faces.template import canonical_template

# iBUG-68, 0-based: eye corners | nose bridge top, tip, nostril wings, base | mouth corners
ALIGN_POINTS = (36, 39, 42, 45, 27, 30, 31, 33, 35, 48, 54)
_BORDERS = ("replicate", "reflect")


def similarity_transform(src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """Least-squares similarity (Umeyama, 1991) mapping src (P, 2) onto dst (P, 2): M (2, 3), dst ≈ M [src; 1].

    Reflections are excluded (det R = +1)."""
    src, dst = np.asarray(src, np.float64), np.asarray(dst, np.float64)
    if not (src.shape == dst.shape and src.ndim == 2 and src.shape[1] == 2 and len(src) >= 2):
        raise ValueError(f"unexpected shapes {(src.shape, dst.shape)}")
    mu_s, mu_d = src.mean(0), dst.mean(0)
    xs, xd = src - mu_s, dst - mu_d                          # (P, 2) centred
    var_s = (xs ** 2).sum() / len(src)
    if var_s <= 1e-12:
        raise ValueError("similarity_transform: source points are all at one place")
    U, S, Vt = np.linalg.svd(xd.T @ xs / len(src))           # cross-covariance (2, 2)
    d = np.diag([1.0, np.sign(np.linalg.det(U) * np.linalg.det(Vt)) or 1.0])
    R = U @ d @ Vt                                            # (2, 2) rotation
    s = float((S * np.diag(d)).sum() / var_s)                 # uniform scale
    t = mu_d - s * R @ mu_s
    return np.concatenate([s * R, t[:, None]], 1)


def apply_affine(M: np.ndarray, points: np.ndarray) -> np.ndarray:
    """Points (..., 2) mapped by M (2, 3)."""
    return points @ M[:, :2].T + M[:, 2]


def align_face(image: np.ndarray, landmarks: np.ndarray, resolution: int, *, points=ALIGN_POINTS,
               border: str = "replicate") -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Warp `image` so `landmarks` meet SynthTalk's canonical template in an R x R crop.

    image: (H, W, 3) uint8 RGB; landmarks: (68, 2) pixels; resolution R: e.g. 64, 128, 256, 512.
    Returns crop (R, R, 3) uint8, M (2, 3) float64 mapping image pixels to crop pixels, and the
    aligned landmarks (68, 2) float32. Pixels outside the image repeat (`border="replicate"`)
    or mirror (`"reflect"`) the edge. Large reductions are pre-filtered by an image pyramid
    (cv2.pyrDown), so a 2000 px photo aligned to 64 px does not alias.
    """


    image = as_rgb(image)
    landmarks = np.asarray(landmarks, np.float64)
    if landmarks.shape != (68, 2) or not np.isfinite(landmarks).all():
        raise ValueError(f"landmarks must be finite (68, 2) iBUG points, got shape {landmarks.shape}")
    if border not in _BORDERS:
        raise ValueError(f"border must be one of {_BORDERS}, got {border!r}")
    template = canonical_template(resolution)
    idx = list(points)
    M = similarity_transform(landmarks[idx], template[idx])
    # pre-filter: halve the image while the warp would shrink it by more than 2x
    src, M_src = image, M.copy()
    while np.sqrt(abs(np.linalg.det(M_src[:, :2]))) < 0.5 and min(src.shape[:2]) > 32:
        src = cv2.pyrDown(src)                                # pyrDown: pixel j <- pixel 2j
        M_src[:, :2] *= 2.0
    flag = cv2.BORDER_REPLICATE if border == "replicate" else cv2.BORDER_REFLECT_101
    crop = cv2.warpAffine(src, M_src, (resolution, resolution), flags=cv2.INTER_LINEAR, borderMode=flag)
    return crop, M, apply_affine(M, landmarks).astype(np.float32)
