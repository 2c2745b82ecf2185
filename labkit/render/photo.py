"""The whole photo out: the landmark renderer's motion applied to a photo at its own resolution.

SadTalker's "full" mode crops the face, animates the crop and pastes it back; every resampling on
the way softens the face against the sharp photo around it and the paste leaves a seam to hide.
labkit instead moves the photo's own pixels once. The landmark renderer
(:mod:`labkit.render.landmarks`) works in its aligned crop, where it knows where every pixel of a
frame reads from (a backward map); that map, taken as a displacement, is carried into the photo's
pixels through the similarity that made the crop:

    crop pixel q = L p + t,   photo pixel p reads  p + L⁻¹ d(q),   d(q) = map(q) − q

and the photo is resampled once at those positions. The displacement fades to exactly zero at the
renderer's outer ring (an ellipse round head, hair and neck: the *region*), so everything beyond it
is the input's pixels untouched and there is no boundary to blend: the motion itself goes to nothing.
The mouth interior (:mod:`labkit.render.mouth`) is painted in the photo's pixels, from the photo.

The crop only carries geometry, so it stays at WORK_RESOLUTION whatever the photo's size; the
displacement field is smooth, sampled every FIELD_STEP crop pixels and interpolated to the photo's.
"""
from __future__ import annotations

import cv2
import numpy as np

from labkit.faces.image import as_rgb
from labkit.render.eyes import Lids
from labkit.render.landmarks import OUTER_RING, LandmarkRenderer, _ellipse, pixel_grid, prepare
from labkit.render.mouth import Mouth
from labkit.synthtalk.factors import FACTOR_NAMES

MAX_SIDE = 1920            # px: a larger photo is scaled down to this longer side
WORK_RESOLUTION = 256      # px: the aligned crop the motion's geometry is worked out in
FADE = 0.28                # the displacement fades to zero over this outer share of the outer ring's radius
FIELD_STEP = 2.0           # crop px between the displacement field's samples (it is smooth: interpolated between)
_COL_BLINK = FACTOR_NAMES.index("blink")


def fit_photo(image: np.ndarray, max_side: int = MAX_SIDE) -> np.ndarray:
    """The photo as it is output: longer side at most `max_side` (area-averaged, aspect kept) and even
    sides (H.264 needs them: an odd last row or column is dropped). image: (H, W, 3) uint8."""
    H, W = image.shape[:2]
    w, h = _fitted_size(H, W, max_side)
    if (w, h) != (W, H):
        image = cv2.resize(image, (w, h), interpolation=cv2.INTER_AREA)
    return np.ascontiguousarray(image[:h - h % 2, :w - w % 2])


def fit_points(points: np.ndarray, shape: tuple, max_side: int = MAX_SIDE) -> np.ndarray:
    """Points (N, 2) in a photo of `shape` (H, W, ...) → the same points in :func:`fit_photo`'s output."""
    H, W = shape[:2]
    w, h = _fitted_size(H, W, max_side)
    return (np.asarray(points, np.float64) + 0.5) * [w / W, h / H] - 0.5       # pixel centres at integers


def _fitted_size(H: int, W: int, max_side: int) -> tuple[int, int]:
    if max_side < 64:
        raise ValueError(f"max_side must be at least 64 px, got {max_side}")
    if max(H, W) <= max_side:
        return W, H
    s = max_side / max(H, W)
    return max(2, round(W * s)), max(2, round(H * s))


class PhotoRenderer:
    """Animates the face of a whole photo; see the module docstring.

    photo: (H, W, 3) uint8, already fitted (:func:`fit_photo`); landmarks: its face's 68 points (68, 2)
    in its pixels (None: found with `backend`, face `face_index`)."""

    def __init__(self, photo: np.ndarray, landmarks: np.ndarray | None = None, *, backend: str = "auto",
                 name: str | None = None, face_index: int | None = None, motion=None):
        self.photo = as_rgb(photo, name=name)
        rig = prepare(self.photo, WORK_RESOLUTION, landmarks=landmarks, backend=backend, name=name,
                      face_index=face_index)
        self.crop = LandmarkRenderer(rig, motion)
        A = rig.from_photo                                            # photo pixels → crop pixels
        self._L, self._t = A[:, :2], A[:, 2]
        self._L_inv = np.linalg.inv(self._L)
        self._to_photo_units = np.concatenate([self._L_inv, np.zeros((2, 1))], 1).astype(np.float32)
        H, W = self.photo.shape[:2]

        # the region: inside the outer ring, in the photo's pixels; its bounding box is all a frame touches
        ring = self.crop._pixels(_ellipse(64, *OUTER_RING)[:, :2])                      # crop pixels
        outer = self._to_photo(ring)
        lo = np.floor(outer.min(0)).astype(int).clip(0, [W, H])
        hi = (np.ceil(outer.max(0)).astype(int) + 1).clip(0, [W, H])
        if (hi - lo).min() <= 0:
            raise ValueError("the face's region lies outside the photo")
        self.box = (int(lo[0]), int(lo[1]), int(hi[0]), int(hi[1]))   # left, top, right, bottom (exclusive)
        self._photo_grid = pixel_grid(lo, (hi[1] - lo[1], hi[0] - lo[0]))

        # the crop-space field: over the outer ring's box, weighted to fade to zero at the ring
        c_lo, c_hi = np.floor(ring.min(0)) - 2 * FIELD_STEP, np.ceil(ring.max(0)) + 3 * FIELD_STEP
        shape = np.ceil((c_hi - c_lo) / FIELD_STEP).astype(int)
        self._crop_grid = pixel_grid(c_lo, (shape[1], shape[0]), FIELD_STEP)
        head = self._to_head(self._crop_grid)
        rx, ry, cy = OUTER_RING
        rho = np.sqrt((head[..., 0] / rx) ** 2 + ((head[..., 1] - cy) / ry) ** 2)
        u = np.clip((1 - rho) / FADE, 0, 1)
        self._weight = (u * u * (3 - 2 * u)).astype(np.float32)[..., None]      # smoothstep, 0 beyond the ring
        # photo box pixel → crop field index, for cv2.warpAffine's inverse map
        self._field_from_photo = np.concatenate([self._L, (self._L @ lo + self._t - c_lo)[:, None]], 1) / FIELD_STEP
        self.region = np.zeros((H, W), bool)
        x0, y0, x1, y1 = self.box
        self.region[y0:y1, x0:x1] = self._field_at_photo(self._weight[..., 0])[..., 0] > 0
        src = self._to_photo(self.crop._src[:68])                                       # the photo's landmarks
        self._mouth, self._lids = Mouth(self.photo, src), Lids(self.photo, src)

    # ------------------------------------------------------------------ coordinates

    def _to_photo(self, q: np.ndarray) -> np.ndarray:
        """Crop pixels (..., 2) → photo pixels."""
        return (q - self._t) @ self._L_inv.T

    def _to_head(self, q: np.ndarray) -> np.ndarray:
        """Crop pixels (..., 2) → head units (x right, y up)."""
        M = self.crop.rig.to_pixels
        return ((q - M[:, 2]) @ np.linalg.inv(M[:, :2]).T) * [1, -1]

    def _field_at_photo(self, field: np.ndarray) -> np.ndarray:
        """A crop-space field (h, w) or (h, w, 2) sampled at the photo box's pixels → (bh, bw, C)."""
        x0, y0, x1, y1 = self.box
        out = cv2.warpAffine(field, self._field_from_photo, (x1 - x0, y1 - y0),
                             flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP, borderMode=cv2.BORDER_CONSTANT,
                             borderValue=0)
        return out.reshape(y1 - y0, x1 - x0, -1)

    # ------------------------------------------------------------------ frames

    @property
    def size(self) -> tuple[int, int]:
        """(H, W) of every frame."""
        return self.photo.shape[:2]

    def scale_head(self, f: np.ndarray, scale: float) -> np.ndarray:
        return self.crop.scale_head(f, scale)

    def landmarks(self, factors: np.ndarray, emotion: int = 0) -> np.ndarray:
        """The 68-landmark trajectory (T, 68, 2) of factors (T, F), photo pixels."""
        return self._to_photo(self.crop.landmarks(factors, emotion).astype(np.float64)).astype(np.float32)

    def render_frame(self, f: np.ndarray, emotion: int = 0) -> np.ndarray:
        """One frame of factors (F,) → the whole photo (H, W, 3) uint8, its face moved."""
        dst = self.crop.control_points(np.asarray(f, np.float64), emotion)
        d = (self.crop.backward_map(dst, self._crop_grid) - self._crop_grid) * self._weight   # (h, w, 2) crop px
        d = cv2.transform(d, self._to_photo_units)                 # L⁻¹ d: the same displacement in photo px
        m = self._photo_grid + self._field_at_photo(d)             # (bh, bw, 2) where each box pixel reads
        # where the displacement is exactly 0 the map is a whole pixel, which remap copies exactly
        x0, y0, x1, y1 = self.box
        frame = self.photo.copy()
        frame[y0:y1, x0:x1] = cv2.remap(self.photo, m[..., 0], m[..., 1], interpolation=cv2.INTER_LINEAR,
                                        borderMode=cv2.BORDER_REPLICATE)
        landmarks = self._to_photo(dst[:68])
        self._mouth.paint(frame, landmarks)
        self._lids.paint(frame, landmarks, f[_COL_BLINK])
        return frame


def region_outline(renderer: PhotoRenderer) -> np.ndarray:
    """The region's boundary (N, 2) in photo pixels (for figures)."""
    return renderer._to_photo(renderer.crop._pixels(_ellipse(128, *OUTER_RING)[:, :2]))
