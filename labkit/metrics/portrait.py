"""Instruments for a talking photo, read from its pixels and from landmarks found in them.

Pure functions over arrays: 68-point landmarks in the iBUG layout (jaw 0-16, brows 17-26, nose
27-35, eyes 36-47, outer lips 48-59, inner lips 60-67) as (..., L, 2) pixel (x, y), images as
(H, W, C) uint8 or float. Face measures are divided by the inter-ocular distance (outer eye
corners, 300-W's normaliser) so they compare across resolutions and faces:

- the eye aspect ratio (Soukupová & Čech, "Real-time eye blink detection using facial
  landmarks", CVWW 2016): lid gap over eye width, ~0.3 open, ~0.05 shut;
- mouth opening, mouth-corner lift and brow raise in the face's own frame (eye line horizontal);
- whether the eyes dip at the blinks a generator drew;
- seam energy: the step in colour across the boundary of a pasted region, which a good blend keeps
  at the photo's own level;
- the largest patch of one flat colour inside a mask (a synthesised mouth interior should have none);
- the luminance of the band under the upper inner lip, where the upper teeth show.
"""
from __future__ import annotations

import numpy as np
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components
from skimage.draw import polygon

IOD_POINTS = (36, 45)                        # outer eye corners
EYE_LINE = (36, 39, 42, 45)                  # the four eye corners: they do not move when the lids do
EYES = ((36, 37, 38, 39, 40, 41), (42, 43, 44, 45, 46, 47))   # p1..p6 of each eye, Soukupová & Čech's order
BROWS = tuple(range(17, 27))
MOUTH_CORNERS = (48, 54)
INNER_LIP = tuple(range(60, 68))
OUTER_LIP = tuple(range(48, 60))
INNER_GAPS = ((61, 67), (62, 66), (63, 65))  # upper and lower inner-lip points facing each other
LUMA = np.array([0.299, 0.587, 0.114])       # ITU-R BT.601 luma weights


def _landmarks(lm) -> np.ndarray:
    lm = np.asarray(lm, np.float64)
    if lm.ndim < 2 or lm.shape[-2:] != (68, 2):
        raise ValueError(f"landmarks must be (..., 68, 2) iBUG points, got shape {lm.shape}")
    if not np.isfinite(lm).all():
        raise ValueError("landmarks contain NaN or inf")
    return lm


def inter_ocular(lm) -> np.ndarray:
    """Distance between the outer eye corners (...,) in pixels. lm: (..., 68, 2)."""
    lm = _landmarks(lm)
    return np.linalg.norm(lm[..., IOD_POINTS[0], :] - lm[..., IOD_POINTS[1], :], axis=-1)


def face_frame(lm) -> np.ndarray:
    """The landmarks (..., 68, 2) in the face's frame: origin at the mean of the eye corners, x along
    the eye line, y down, unit the inter-ocular distance. In-plane rotation and scale drop out."""
    lm = _landmarks(lm)
    origin = lm[..., EYE_LINE, :].mean(-2, keepdims=True)
    axis = lm[..., IOD_POINTS[1], :] - lm[..., IOD_POINTS[0], :]          # (..., 2) left to right eye
    iod = np.linalg.norm(axis, axis=-1, keepdims=True)
    if (iod < 1e-6).any():
        raise ValueError("the outer eye corners coincide: the inter-ocular distance is 0")
    c, s = (axis / iod)[..., 0:1], (axis / iod)[..., 1:2]
    d = lm - origin
    x = d[..., 0] * c + d[..., 1] * s                                       # rotate the eye line onto x
    y = -d[..., 0] * s + d[..., 1] * c
    return np.stack([x, y], -1) / iod[..., None]


def eye_aspect_ratio(lm) -> np.ndarray:
    """Mean eye aspect ratio of both eyes (...,): (|p2 - p6| + |p3 - p5|) / (2 |p1 - p4|)."""
    lm = _landmarks(lm)
    def dist(p, a, b):
        return np.linalg.norm(p[..., a, :] - p[..., b, :], axis=-1)

    out = []
    for eye in EYES:
        p = lm[..., eye, :]                                     # (..., 6, 2): p1..p6
        out.append((dist(p, 1, 5) + dist(p, 2, 4)) / (2 * np.maximum(dist(p, 0, 3), 1e-6)))
    return (out[0] + out[1]) / 2


def mouth_opening(lm) -> np.ndarray:
    """Gap between the inner lips (...,), mean of three facing pairs, over the inter-ocular distance."""
    f = face_frame(lm)
    return np.mean([f[..., b, 1] - f[..., a, 1] for a, b in INNER_GAPS], axis=0)


def mouth_corner_lift(lm) -> np.ndarray:
    """Height of the mouth corners relative to the eye line (...,), in IOD: about -1 (the corners sit
    one inter-ocular distance below the eyes); a smile lifts them, so larger is more lifted."""
    return -face_frame(lm)[..., MOUTH_CORNERS, 1].mean(-1)


def brow_raise(lm) -> np.ndarray:
    """Height of the brows above the eye line (...,), mean of the ten brow points, in IOD."""
    return -face_frame(lm)[..., BROWS, 1].mean(-1)


def pearson(x, y) -> float:
    """Pearson correlation of two series (T,); NaN when either is constant."""
    x, y = np.asarray(x, np.float64).ravel(), np.asarray(y, np.float64).ravel()
    if x.shape != y.shape or len(x) < 2:
        raise ValueError(f"need two series of the same length >= 2, got {x.shape} and {y.shape}")
    x, y = x - x.mean(), y - y.mean()
    den = np.sqrt((x @ x) * (y @ y))
    return float(x @ y / den) if den > 1e-12 else float("nan")


def blink_events(blink, threshold: float = 0.5) -> list[tuple[int, int]]:
    """Runs [start, stop) of frames where the generated lid closure `blink` (T,) is at least `threshold`."""
    on = np.concatenate([[False], np.asarray(blink, np.float64).ravel() >= threshold, [False]])
    edges = np.flatnonzero(on[1:] != on[:-1])
    return [(int(a), int(b)) for a, b in zip(edges[::2], edges[1::2])]


def blink_dips(ear, blink, *, threshold: float = 0.5, dip: float = 0.25, margin: int = 1) -> tuple[int, int]:
    """(generated blinks, blinks the eyes dip at). ear, blink: (T,).

    A blink is a run of `blink` >= `threshold`; the eyes dip at it when the smallest eye aspect ratio
    within the run (± `margin` frames, for a frame of lag) is at least `dip` (a fraction) below the
    open-eye level, the median EAR where `blink` < 0.1."""
    ear, blink = np.asarray(ear, np.float64).ravel(), np.asarray(blink, np.float64).ravel()
    if ear.shape != blink.shape:
        raise ValueError(f"ear and blink must both be (T,), got {ear.shape} and {blink.shape}")
    events = blink_events(blink, threshold)
    open_ = blink < 0.1
    if not events:
        return 0, 0
    if not open_.any():
        raise ValueError("the eyes are never open (blink < 0.1): there is no open-eye level to dip from")
    level = np.median(ear[open_])
    hits = sum(ear[max(0, a - margin):b + margin].min() <= (1 - dip) * level for a, b in events)
    return len(events), int(hits)


def seam_energy(image, region) -> float:
    """Mean colour step across the boundary of `region`: |I(p) - I(q)| averaged over channels and over
    every pair of 4-neighbours with p inside and q outside. image: (H, W) or (H, W, C); region: (H, W) bool.

    The ratio of an output frame's to the input photo's is 1 for a perfect copy and grows with a visible
    seam (a hard paste of other pixels)."""
    img = np.asarray(image)
    img = img[..., None] if img.ndim == 2 else img
    m = np.asarray(region, bool)
    if img.ndim != 3 or m.shape != img.shape[:2]:
        raise ValueError(f"image (H, W[, C]) and region (H, W) must match, got {img.shape} and {m.shape}")
    if m.any() and not m.all():                                 # only the boundary's neighbourhood matters
        ys, xs = np.nonzero(m)
        y0, y1, x0, x1 = max(ys.min() - 1, 0), ys.max() + 2, max(xs.min() - 1, 0), xs.max() + 2
        img, m = img[y0:y1, x0:x1], m[y0:y1, x0:x1]
    img = img.astype(np.float64)
    steps = []
    for axis in (0, 1):
        a, b = (slice(None, -1), slice(1, None))
        ia = (a, slice(None)) if axis == 0 else (slice(None), a)
        ib = (b, slice(None)) if axis == 0 else (slice(None), b)
        cross = m[ia] != m[ib]                                  # neighbours on either side of the boundary
        steps.append(np.abs(img[ia] - img[ib]).mean(-1)[cross])
    steps = np.concatenate(steps)
    if not len(steps):
        raise ValueError("the region has no boundary inside the image (empty, or the whole image)")
    return float(steps.mean())


def largest_flat_region(image, mask, *, tol: int = 0) -> int:
    """Pixels in the largest 4-connected patch inside `mask` whose neighbours differ by at most `tol`
    in every channel (0: one exact colour). image: (H, W) or (H, W, C); mask: (H, W) bool. 0 for an
    empty mask. With tol > 0 a slow ramp also chains into one patch, so keep tol small."""
    img = np.asarray(image)
    img = img[..., None] if img.ndim == 2 else img
    m = np.asarray(mask, bool)
    if img.ndim != 3 or m.shape != img.shape[:2]:
        raise ValueError(f"image (H, W[, C]) and mask (H, W) must match, got {img.shape} and {m.shape}")
    if not m.any():
        return 0
    ys, xs = np.nonzero(m)                                       # only the mask's bounding box matters
    m, img = m[ys.min():ys.max() + 1, xs.min():xs.max() + 1], img[ys.min():ys.max() + 1, xs.min():xs.max() + 1]
    img = img.astype(np.int64)
    idx = np.arange(m.size).reshape(m.shape)
    rows, cols = [], []
    for da, db in (((slice(None, -1), slice(None)), (slice(1, None), slice(None))),
                   ((slice(None), slice(None, -1)), (slice(None), slice(1, None)))):
        same = m[da] & m[db] & (np.abs(img[da] - img[db]).max(-1) <= tol)
        rows.append(idx[da][same])
        cols.append(idx[db][same])
    r, c = np.concatenate(rows), np.concatenate(cols)
    graph = coo_matrix((np.ones(len(r)), (r, c)), shape=(m.size, m.size))
    _, labels = connected_components(graph, directed=False)
    return int(np.bincount(labels[m.ravel()]).max())


def polygon_mask(shape: tuple[int, int], points) -> np.ndarray:
    """(H, W) bool: the pixels inside the polygon `points` (N, 2) pixel (x, y)."""
    p = np.asarray(points, np.float64)
    rr, cc = polygon(p[:, 1], p[:, 0], shape)
    m = np.zeros(shape, bool)
    m[rr, cc] = True
    return m


def luminance(image) -> np.ndarray:
    """BT.601 luma (H, W) in [0, 1] of an RGB uint8 image (H, W, 3)."""
    return np.asarray(image, np.float64) @ LUMA / 255.0


def teeth_luminance(image, lm, height: float, *, min_pixels: int = 6) -> float:
    """Median luminance in [0, 1] of the band `height` (IOD) deep under the upper inner lip, inside the
    inner-lip contour: where the upper teeth show, whatever the jaw does below them. NaN when the band
    holds fewer than `min_pixels` pixels. image: (H, W, 3); lm: (68, 2) landmarks of that image."""
    lm = _landmarks(lm)
    inner = lm[INNER_LIP, :]
    x0, y0 = np.floor(inner.min(0)).astype(int).clip(0)
    x1, y1 = np.ceil(inner.max(0)).astype(int) + 1
    patch = np.asarray(image)[y0:y1, x0:x1]
    if patch.size == 0:
        return float("nan")
    inside = polygon_mask(patch.shape[:2], inner - [x0, y0])
    upper = inner[:5] - [x0, y0]                                    # 60 (corner), 61-63, 64 (corner)
    order = np.argsort(upper[:, 0])
    top = np.interp(np.arange(patch.shape[1]), upper[order, 0], upper[order, 1])     # (w,) the lip's edge
    depth = np.arange(patch.shape[0])[:, None] - top[None, :]
    band = inside & (depth <= height * inter_ocular(lm))
    if band.sum() < min_pixels:
        return float("nan")
    return float(np.median(luminance(patch)[band]))


def lip_luminance(image, lm) -> float:
    """Median luminance in [0, 1] of the lips: between the outer and the inner lip contours. lm: (68, 2)."""
    lm = _landmarks(lm)
    shape = np.shape(image)[:2]
    lips = polygon_mask(shape, lm[OUTER_LIP, :]) & ~polygon_mask(shape, lm[INNER_LIP, :])
    return float(np.median(luminance(image)[lips])) if lips.any() else float("nan")


def outside_change(frames, photo, region) -> tuple[int, float]:
    """(largest |difference| of any channel, share of frames with any difference) of `frames`
    (T, H, W, C) against `photo` (H, W, C) outside `region` (H, W) bool. (0, 0.0): untouched."""
    frames, photo, m = np.asarray(frames), np.asarray(photo), np.asarray(region, bool)
    if frames.ndim != 4 or frames.shape[1:] != photo.shape or m.shape != photo.shape[:2]:
        raise ValueError(f"frames (T, H, W, C), photo (H, W, C) and region (H, W) must match, got "
                         f"{frames.shape}, {photo.shape} and {m.shape}")
    outside = photo[~m].astype(np.int16)                                         # (P, C)
    per_frame = np.array([np.abs(f[~m].astype(np.int16) - outside).max(initial=0) for f in frames], np.int64)
    return int(per_frame.max(initial=0)), float((per_frame > 0).mean()) if len(frames) else 0.0
