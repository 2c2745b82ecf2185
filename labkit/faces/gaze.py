"""A coarse gaze estimate: where the iris sits between the eyelids.

For each eye, the iris is the dark blob inside the eye contour (iBUG 37–42 and 43–48): the
centroid of the pixels darker than the contour's 35th brightness percentile, weighted by how
much darker they are. Its offset from the eye's landmark centre, measured along and across the
corner-to-corner axis (so head roll cancels) and divided by the eye's half-width, maps to
eyeball angles through the eyeball's geometry, offset = REST + GAIN · sin(angle), in SynthTalk's
conventions (gaze_yaw + = toward the camera's right, gaze_pitch + = up). REST and GAIN were
fitted on 300 SynthTalk renders (30 train identities × 10 gazes, 256 px, ground-truth
landmarks): vertically the lids hide part of the iris and the lashes darken the top of the
eye, so the vertical gain is smaller and the rest position sits higher. On real eyes the
estimate is coarse (several degrees, and it ignores head pose).
"""
from __future__ import annotations

import numpy as np

from labkit.faces.image import as_rgb

EYES = ((36, 37, 38, 39, 40, 41), (42, 43, 44, 45, 46, 47))   # subject's right (image left), left
REST = np.array([0.012, 0.061])   # iris offset (eye half-widths) looking straight ahead: (along, up)
GAIN = np.array([0.516, 0.332])   # offset per unit sin(angle): (yaw, pitch)


def _inside(poly: np.ndarray, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Even–odd rule: which points (x, y) lie inside the polygon poly (P, 2)."""
    inside = np.zeros(x.shape, bool)
    for (x0, y0), (x1, y1) in zip(poly, np.roll(poly, -1, 0)):
        crosses = (y0 > y) != (y1 > y)
        xc = x0 + (y - y0) * (x1 - x0) / np.where(y1 != y0, y1 - y0, 1e-9)
        inside ^= crosses & (x < xc)
    return inside


def iris_offsets(image, landmarks: np.ndarray) -> np.ndarray:
    """Iris centre of each eye relative to the eye's centre, in eye half-widths: (2, 2)
    [subject's right, left] × (along the eye axis toward the image right, up). NaN for an eye
    too closed to see an iris."""
    img = as_rgb(image).astype(np.float32).mean(-1)              # (H, W) gray
    lm = np.asarray(landmarks, np.float64)
    out = np.full((2, 2), np.nan)
    for e, idx in enumerate(EYES):
        poly = lm[list(idx)]
        axis = poly[3] - poly[0]
        half = np.linalg.norm(axis) / 2
        if half < 2:
            continue
        ex = axis / (2 * half) * np.sign(axis[0] or 1.0)             # unit vector toward the image right
        ey = np.array([ex[1], -ex[0]])                             # unit vector "up" in the image
        x0, y0 = np.floor(poly.min(0)).astype(int)
        x1, y1 = np.ceil(poly.max(0)).astype(int) + 1
        x0, y0, x1, y1 = max(x0, 0), max(y0, 0), min(x1, img.shape[1]), min(y1, img.shape[0])
        ys, xs = np.mgrid[y0:y1, x0:x1]
        mask = _inside(poly, xs + 0.0, ys + 0.0)
        if mask.sum() < 6:
            continue
        g = img[y0:y1, x0:x1][mask]
        w = np.maximum(np.percentile(g, 35) - g, 0)
        if w.sum() <= 0:
            continue
        c = np.array([(xs[mask] * w).sum(), (ys[mask] * w).sum()]) / w.sum() - poly.mean(0)
        out[e] = (c @ ex / half, c @ ey / half)
    return out


def gaze_angles(image, landmarks: np.ndarray) -> tuple[float, float]:
    """Coarse (gaze_yaw, gaze_pitch) in degrees, averaged over the visible eyes (NaN if none)."""
    off = iris_offsets(image, landmarks)
    seen = np.isfinite(off).all(1)
    if not seen.any():
        return float("nan"), float("nan")
    ang = np.rad2deg(np.arcsin(np.clip((off[seen].mean(0) - REST) / GAIN, -1, 1)))
    return float(ang[0]), float(ang[1])
