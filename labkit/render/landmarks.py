"""The landmark-warping renderer: any photo + motion (SynthTalk factors) → frames, fully offline.

The face latent model can only decode portraits from its own domain; for any other photo labkit
moves the photo's own pixels. Per frame:

1. the photo's 68 landmarks, lifted to 3D with the depth of SynthTalk's mean face
   (:func:`labkit.faces.template.mean_face`), get the expression displacement learned on SynthTalk
   (:mod:`labkit.render.landmark_motion`), turn with the head pose about the top of the neck (as SynthTalk
   turns its heads), scale with 1/distance and shift with the translation → target landmarks;
2. control points beyond the face follow: a ring over hair and ears moves with the head, an outer
   ring, the neck and the image border stay;
3. the photo is warped piecewise-affinely over a triangulation of those points (each target
   triangle pulls its pixels from the source triangle) -- the mouth opens, lids close, the head turns;
4. what the photo never showed is synthesised: the mouth interior inside the target inner-lip
   contour (:mod:`labkit.render.mouth`: the photo's own teeth moved with the lips where it shows them,
   shaded teeth, tongue and cavity where it does not), and the iris shifted with the gaze command by
   moving an extra control point at each eye's centre (lids come from the skin above the eye
   stretched down by the warp).

A flat photo can only turn so far before the warp shows, so head angles are clipped to
MAX_ANGLES (degrees).
"""
from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
from scipy.spatial import Delaunay
from tqdm.auto import tqdm

from labkit.faces.align import ALIGN_POINTS, align_face, apply_affine, similarity_transform
from labkit.faces.image import as_rgb
from labkit.faces.landmarks import find_face
from labkit.faces.pose import rotation_from_euler
from labkit.faces.template import canonical_template, mean_face
from labkit.render.eyes import Lids
from labkit.render.landmark_motion import fit_landmark_motion
from labkit.render.mouth import Mouth
from labkit.synthtalk.factors import FACTOR_NAMES

MAX_ANGLES = (15.0, 10.0, 10.0)        # |yaw|, |pitch|, |roll| a photo is turned by at most
NECK_PIVOT = np.array([0.0, -1.0, -0.2])  # SynthTalk's head pivot (head units)
_COL = {n: i for i, n in enumerate(FACTOR_NAMES)}
_HEAD = [_COL[n] for n in ("yaw", "pitch", "roll", "tx", "ty")]     # the head motion --motion-scale scales
_EYES = (list(range(36, 42)), list(range(42, 48)))
_LIDS = np.array([(37, 41), (38, 40), (43, 47), (44, 46)])   # upper-lid point above its lower-lid point
_EYE_RADIUS = 0.11                      # SynthTalk's eyeball radius (head units): iris shift per sin(gaze)
HEAD_RING = (1.25, 1.55, 0.15)          # ellipse over hair and ears that turns with the head: rx, ry, centre y
OUTER_RING = (2.1, 2.4, 0.0)            # ellipse that stays: beyond it the photo does not move


def _opened(points: np.ndarray) -> np.ndarray:
    """Control points (P, 2) with the lower inner lip (iBUG 65-67) moved down to at least 4 % of the
    inter-ocular distance below the upper (61-63). A closed mouth puts them on top of one another, and
    a triangulation of coincident points drops one of each pair: the lips would then open with one lip
    dragging the other's skin. The triangles between the lips are what the mouth interior covers."""
    p = points.copy()
    gap = 0.04 * np.linalg.norm(p[36] - p[45])
    p[[67, 66, 65], 1] = np.maximum(p[[67, 66, 65], 1], p[[61, 62, 63], 1] + gap)
    return p


def pixel_grid(lo, shape, step: float = 1.0) -> np.ndarray:
    """The coordinates (h, w, 2) float32 (x, y) of an h x w grid `step` pixels apart whose first point is at `lo`."""
    h, w = shape
    x, y = np.arange(w, dtype=np.float64) * step + lo[0], np.arange(h, dtype=np.float64) * step + lo[1]
    return np.stack(np.meshgrid(x, y), -1).astype(np.float32)


def rotation(yaw: float, pitch: float, roll: float) -> np.ndarray:
    """R = R_roll · R_yaw · R_pitch (degrees), SynthTalk's composition and axes."""
    return rotation_from_euler(yaw, pitch, roll)


def _ellipse(n: int, rx: float, ry: float, cy: float, lo: float = 0.0, hi: float = 2 * np.pi) -> np.ndarray:
    a = np.linspace(lo, hi, n, endpoint=False)
    return np.stack([rx * np.cos(a), cy + ry * np.sin(a), np.zeros(n)], 1)


@dataclass
class PhotoRig:
    """A portrait prepared for warping: the R x R crop, its landmarks and its head frame."""
    image: np.ndarray       # (R, R, 3) uint8, the photo aligned to SynthTalk's framing
    landmarks: np.ndarray   # (68, 2) float32 pixels in the crop
    to_pixels: np.ndarray   # (2, 3) similarity: head units (x right, -y) → crop pixels
    points: np.ndarray      # (68, 3) the landmarks lifted to 3D, head units (x right, y up, z to camera)
    iod: float              # inter-ocular distance of `points`, head units
    from_photo: np.ndarray  # (2, 3) similarity: the photo's pixels → crop pixels

    @property
    def resolution(self) -> int:
        return self.image.shape[0]


def prepare(image: np.ndarray, resolution: int, *, landmarks: np.ndarray | None = None,
            backend: str = "auto", name: str | None = None, align: bool = True,
            face_index: int | None = None) -> PhotoRig:
    """Find the face (or take its `landmarks`), align the photo to an R x R crop and lift the landmarks.

    With `align=False` the image must already be R x R in SynthTalk's framing (e.g. a SynthTalk frame)."""
    image = as_rgb(image, name=name)
    if landmarks is None:
        landmarks = find_face(image, backend=backend, name=name, face_index=face_index).landmarks
    landmarks = np.asarray(landmarks, np.float64)
    if align:
        crop, from_photo, lm = align_face(image, landmarks, resolution)
    else:
        if image.shape[:2] != (resolution, resolution):
            raise ValueError(f"align=False needs a {resolution}x{resolution} image, "
                             f"got {image.shape[1]}x{image.shape[0]}")
        crop, lm, from_photo = image, landmarks.astype(np.float32), np.eye(2, 3)
    face = mean_face()
    head_xy = face.points[:, :2] * [1, -1]                                  # y down, like pixels
    idx = list(ALIGN_POINTS)
    M = similarity_transform(head_xy[idx], canonical_template(resolution)[idx])
    inv = np.linalg.inv(np.vstack([M, [0, 0, 1]]))[:2]
    xy = apply_affine(inv, lm.astype(np.float64)) * [1, -1]                 # back to y up
    points = np.concatenate([xy, face.points[:, 2:]], 1)
    iod = float(np.linalg.norm(points[36] - points[45]))
    return PhotoRig(image=crop, landmarks=lm.astype(np.float32), to_pixels=M, points=points, iod=iod,
                    from_photo=from_photo)


class LandmarkRenderer:
    """Warps one prepared photo with per-frame factors; see the module docstring."""

    def __init__(self, rig: PhotoRig, motion=None, *, max_angles=MAX_ANGLES):
        self.rig, self.motion = rig, motion or fit_landmark_motion()
        self.max_angles = np.asarray(max_angles, np.float64)
        R = rig.resolution
        # control points beyond the face (head units): hair/ears ring moves with the head; the outer
        # ring, neck and the image border (pixels) stay
        self._ring = _ellipse(16, *HEAD_RING)
        self._fixed = np.concatenate([self._pixels(_ellipse(20, *OUTER_RING)[:, :2]),
                                      self._pixels(np.array([[-0.7, -2.0], [0.0, -2.1], [0.7, -2.0]]))])
        e = np.linspace(-1, R, 6)
        border = np.array([(x, y) for x in e for y in e if x in (e[0], e[-1]) or y in (e[0], e[-1])])
        self._fixed = np.concatenate([self._fixed, border])
        self._src = self.control_points(np.zeros(len(FACTOR_NAMES)), 0, neutral=True)

        self._triangles = Delaunay(_opened(self._src)).simplices.astype(np.int32)   # one topology for every frame
        self._grid = pixel_grid((0, 0), (R, R))
        self._mouth = Mouth(rig.image, self._src)
        self._lids = Lids(rig.image, self._src)

    def _pixels(self, xy: np.ndarray) -> np.ndarray:
        """Head-unit points (N, 2), y up → crop pixels (N, 2)."""
        M = self.rig.to_pixels
        return (xy * [1, -1]) @ M[:, :2].T + M[:, 2]

    def _pose(self, f: np.ndarray) -> tuple[np.ndarray, np.ndarray, float]:
        angles = np.clip([f[_COL["yaw"]], f[_COL["pitch"]], f[_COL["roll"]]], -self.max_angles, self.max_angles)
        R = self.rig.resolution
        shift = np.array([f[_COL["tx"]], f[_COL["ty"]]]) * R
        return rotation(*angles), shift, float(np.clip(f[_COL["distance"]], 0.8, 1.25))

    def _project(self, p3: np.ndarray, rot: np.ndarray, shift: np.ndarray, distance: float) -> np.ndarray:
        p = (p3 - NECK_PIVOT) @ rot.T + NECK_PIVOT
        c = (self.rig.resolution - 1) / 2
        return c + (self._pixels(p[:, :2]) - c) / distance + shift

    def _expression(self, f: np.ndarray, emotion: int) -> np.ndarray:
        """The lifted landmarks (68, 3) moved by the expression of factors f (F,).

        The learned map closes the lids by SynthTalk's eye opening, which is not the photo's: a blink is
        taken instead as the share of the photo's own opening (with this expression's eyes open) that the lids
        close, so they meet at 1 and never cross (crossed lids fold the iris back into sight below them)."""
        rig = self.rig
        lm3 = rig.points + self.motion.displacement(f[None], emotion)[0] * rig.iod
        blink = float(np.clip(f[_COL["blink"]], 0, 1))
        wide = lm3
        if blink > 0:
            opened = f.copy()
            opened[_COL["blink"]] = 0.0
            wide = rig.points + self.motion.displacement(opened[None], emotion)[0] * rig.iod
        upper, lower = _LIDS[:, 0], _LIDS[:, 1]
        gap = np.clip(lm3[upper, 1] - lm3[lower, 1], 0, (1 - blink) * np.maximum(wide[upper, 1] - wide[lower, 1], 0))
        lm3[upper, 1] = lm3[lower, 1] + gap
        return lm3

    def control_points(self, f: np.ndarray, emotion: int, *, neutral: bool = False) -> np.ndarray:
        """Target positions (P, 2) of every control point for one frame of factors (F,).

        Order: 68 landmarks, the 2 eye centres, the head ring, then the fixed points."""
        rig = self.rig
        if neutral:
            lm3 = rig.points
            rot, shift, dist = np.eye(3), np.zeros(2), 1.0
        else:
            lm3 = self._expression(f, emotion)
            rot, shift, dist = self._pose(f)
        # the eye centres ride with the lids: as a blink closes them the centre sinks onto the closed lid line
        # (were it held at rest, the upper lid would fold over it and the iris show through the closed eye)
        eyes = np.stack([lm3[i].mean(0) for i in _EYES])
        if not neutral:                                                          # iris follows the gaze
            openness = 1 - float(np.clip(f[_COL["blink"]], 0, 1))
            gx = _EYE_RADIUS * np.sin(np.deg2rad(f[_COL["gaze_yaw"]])) * openness
            gy = _EYE_RADIUS * np.sin(np.deg2rad(f[_COL["gaze_pitch"]])) * openness
            eyes = eyes + [gx, gy, 0.0]
        moving = np.concatenate([lm3, eyes, self._ring])
        return np.concatenate([self._project(moving, rot, shift, dist), self._fixed])

    def landmarks(self, factors: np.ndarray, emotion: int = 0) -> np.ndarray:
        """The 68-landmark trajectory (T, 68, 2) of factors (T, F), crop pixels."""
        return np.stack([self.control_points(f, emotion)[:68]
                         for f in np.asarray(factors, np.float64)]).astype(np.float32)

    # ------------------------------------------------------------------ pixels

    def backward_map(self, dst: np.ndarray, grid: np.ndarray | None = None) -> np.ndarray:
        """For every output pixel, where to read the photo: (h, w, 2) float32 crop pixels, piecewise affine.

        grid: where to evaluate it, a regular grid of crop pixels (h, w, 2) (:func:`pixel_grid`; default every
        pixel of the crop); beyond the control points' hull a point reads itself."""
        if grid is None:
            grid = self._grid
        lo = grid[0, 0]
        step = float(grid[0, 1, 0] - lo[0]) if grid.shape[1] > 1 else 1.0
        tri_id = np.full(grid.shape[:2], -1, np.int32)
        corners = (dst[self._triangles] - lo) / step                                  # (K, 3, 2) grid units
        e1, e2 = corners[:, 1] - corners[:, 0], corners[:, 2] - corners[:, 0]
        # a triangle squashed flat (closed lids, closed lips) covers no area: its line of pixels belongs to its
        # neighbours, and its own map (a near-singular solve) would read from anywhere
        for k in np.flatnonzero(np.abs(e1[:, 0] * e2[:, 1] - e1[:, 1] * e2[:, 0]) > 0.1):
            cv2.fillConvexPoly(tri_id, np.round(corners[k] * 16).astype(np.int32), int(k), lineType=cv2.LINE_8,
                               shift=4)
        # per triangle the affine map target → source: [x_s, y_s] = A [x_d, y_d, 1]
        D = np.concatenate([dst[self._triangles], np.ones((len(self._triangles), 3, 1))], 2)   # (K, 3, 3)
        S = self._src[self._triangles]                                                           # (K, 3, 2)
        A = np.linalg.solve(D + np.eye(3) * 1e-9, S).astype(np.float32)                         # (K, 3, 2)
        inside = tri_id >= 0
        out = grid.copy()
        g = grid[inside]
        a = A[tri_id[inside]]
        out[inside] = g[:, :1] * a[:, 0] + g[:, 1:] * a[:, 1] + a[:, 2]
        return out

    def scale_head(self, f: np.ndarray, scale: float) -> np.ndarray:
        """Factors (..., F) with the head's turn and shift scaled by `scale` about the photo's own pose
        (0: a still head that still speaks, blinks and looks around; 2: twice the motion)."""
        f = np.array(f, np.float64)
        f[..., _HEAD] *= scale
        return f

    def render_frame(self, f: np.ndarray, emotion: int = 0) -> np.ndarray:
        """One frame of factors (F,) → (R, R, 3) uint8."""
        dst = self.control_points(np.asarray(f, np.float64), emotion)
        m = self.backward_map(dst)
        frame = cv2.remap(self.rig.image, m[..., 0], m[..., 1], interpolation=cv2.INTER_LINEAR,
                          borderMode=cv2.BORDER_REPLICATE)
        self._mouth.paint(frame, dst)
        self._lids.paint(frame, dst, f[_COL["blink"]])
        return frame

    def render(self, factors: np.ndarray, emotion: int = 0, *, progress: bool = False) -> np.ndarray:
        """Factors (T, F) → frames (T, R, R, 3) uint8."""
        factors = np.asarray(factors, np.float64)
        if factors.ndim != 2 or factors.shape[1] != len(FACTOR_NAMES):
            raise ValueError(f"factors must have shape (T, {len(FACTOR_NAMES)}), got {factors.shape}")
        it = range(len(factors))
        if progress:
            it = tqdm(it, desc="render (landmark warp)", unit="frame")
        R = self.rig.resolution
        out = np.empty((len(factors), R, R, 3), np.uint8)
        for t in it:
            out[t] = self.render_frame(factors[t], emotion)
        return out
