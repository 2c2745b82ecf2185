"""Render any SynthTalk identity with any motion: factors in, frames and landmarks out.

``render(identity, factors)`` is the one entry point: identity A can be rendered with the
motion of clip B, which gives exact ground truth for cross-identity reenactment -- something
real video never has (VASA-1 §4 evaluates exactly this kind of transfer).

Camera model: a pinhole camera at the origin looking down -z, the head `12 * distance` head
units away, with a vertical field of view that frames 4.6 head units (head and shoulders) at
nominal distance. Image coordinates follow OpenCV/dlib: x right, y down, the centre of pixel
(i, j) at (i, j).
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from tqdm.auto import tqdm

from labkit.synthtalk import raster
from labkit.synthtalk.factors import EMOTIONS, validate_factors
from labkit.synthtalk.head import BLENDSHAPES, SLIT, HeadRig, build_rig, hair_mask, smoothstep
from labkit.synthtalk.identity import Identity

RESOLUTIONS = (64, 128, 256, 512)
# mesh density (chart columns, rows) per output resolution: enough triangles, not more
MESH_GRID = {64: (41, 39), 128: (61, 57), 256: (81, 75), 512: (121, 111)}
CAMERA_DISTANCE = 12.0   # head units at distance = 1
FRAME_HEIGHT = 4.6       # head units visible vertically at the head's depth
CAMERA_Y = -0.3          # camera height: frames the head slightly above the centre
NECK_PIVOT = np.array([0.0, -1.0, -0.2], np.float32)  # head rotations turn about the top of the neck

# Expression baseline of each emotion (VASA-1 conditions on emotion; SynthTalk renders it):
# blendshape weights per unit intensity, and how much the eyes widen (+) or narrow (-).
_EMOTION_SHAPES = {
    "neutral": {},
    "happy": {"smile": 1.0, "lip_spread": 0.3},
    "sad": {"frown_mouth": 0.8, "brow_inner_up": 1.0},
    "angry": {"brow_inner_down": 1.0, "frown_mouth": 0.3, "lip_round": 0.1},
    "surprised": {"brow": 0.8, "jaw": 0.25},
}
_EMOTION_EYES = {"neutral": 0.0, "happy": -0.2, "sad": -0.1, "angry": -0.12, "surprised": 0.35}
EMOTION_EXPRESSION = np.array([[_EMOTION_SHAPES[e].get(b, 0.0) for b in BLENDSHAPES] for e in EMOTIONS], np.float32)
EMOTION_EYES = np.array([_EMOTION_EYES[e] for e in EMOTIONS], np.float32)


@dataclass
class Rendering:
    frames: np.ndarray      # (T, H, W, 3) uint8 RGB
    landmarks: np.ndarray   # (T, 68, 2) float32 iBUG-68 pixel coordinates (x, y)


def _rotation(yaw, pitch, roll):
    """Head rotation (degrees) as R = R_roll · R_yaw · R_pitch in camera axes (x right, y up, z to camera)."""
    y, p, r = np.deg2rad([yaw, pitch, roll])
    ry = np.array([[np.cos(y), 0, np.sin(y)], [0, 1, 0], [-np.sin(y), 0, np.cos(y)]])
    rx = np.array([[1, 0, 0], [0, np.cos(p), np.sin(p)], [0, -np.sin(p), np.cos(p)]])
    rz = np.array([[np.cos(r), np.sin(r), 0], [-np.sin(r), np.cos(r), 0], [0, 0, 1]])
    return (rz @ ry @ rx).astype(np.float32)


def expression_weights(factors: dict, t: int) -> tuple[np.ndarray, float]:
    """Blendshape weights (K,) and eyelid openness for frame t of a factor dict."""
    emo = int(factors["emotion"][t])
    inten = float(factors["emotion_intensity"][t])
    w = EMOTION_EXPRESSION[emo] * inten
    w[BLENDSHAPES.index("jaw")] += factors["jaw"][t]
    w[BLENDSHAPES.index("lip_spread")] += factors["lip_spread"][t]
    w[BLENDSHAPES.index("lip_round")] += factors["lip_round"][t]
    w[BLENDSHAPES.index("brow")] += factors["brow"][t]
    openness = (1.0 - float(factors["blink"][t])) * (1.0 + EMOTION_EYES[emo] * inten)
    return w, max(openness, 0.0)


def shader_params(ident: Identity) -> np.ndarray:
    """The shader's parameter vector (see the index constants in :mod:`raster`)."""
    P = np.zeros(raster.N_PARAMS)
    e = ident
    P[[raster.EYE_X, raster.EYE_Y, raster.EYE_W, raster.EYE_H, raster.EYE_TILT]] = (e.eye_x, e.eye_y, e.eye_w, e.eye_h,
                                                                                    e.eye_tilt)
    P[raster.IRIS:raster.IRIS + 3] = e.iris
    P[[raster.BROW_Y, raster.BROW_ARCH, raster.BROW_THICK]] = e.brow_y, e.brow_arch, e.brow_thick
    hair = np.asarray(e.hair_color)
    brow = np.minimum(hair * 0.6, np.asarray(e.skin) * 0.45)   # brows always darker than the skin
    P[raster.BROW_RGB:raster.BROW_RGB + 3] = brow
    P[[raster.MOUTH_Y, raster.MOUTH_W, raster.LIP_UP, raster.LIP_LO]] = e.mouth_y, e.mouth_w, e.lip_up, e.lip_lo
    P[raster.LIP_RGB:raster.LIP_RGB + 3] = e.lip_color
    P[raster.GLASSES] = ("none", "round", "rect").index(e.glasses)
    P[raster.GLASSES_RGB:raster.GLASSES_RGB + 3] = e.glasses_color
    P[raster.SLIT] = SLIT
    P[raster.TEX_PHI0], P[raster.TEX_PHI1] = -1.45, np.pi / 2
    return P


def albedo_texture(ident: Identity, width: int) -> np.ndarray:
    """(width/2, width, 4) float32: skin and hair albedo over the chart, alpha = hair coverage."""
    h = width // 2
    th = np.linspace(-np.pi, np.pi, width)
    ph = np.linspace(np.pi / 2, -1.45, h)
    PH, TH = np.meshgrid(ph, th, indexing="ij")
    fx, fy = np.cos(PH) * np.sin(TH), np.sin(PH) * 1.35
    rng = np.random.default_rng([ident.id, 7])
    skin = np.asarray(ident.skin, np.float32)
    noise = sum(a * np.sin(k1 * TH + k2 * PH + ph0) for a, k1, k2, ph0 in
                zip(rng.uniform(0.01, 0.02, 6), rng.integers(2, 9, 6), rng.integers(2, 9, 6), rng.uniform(0, 6, 6)))
    tex = skin * (1 + noise[..., None])
    g = lambda x0, y0, s: np.exp(-((fx - x0) ** 2 + (fy - y0) ** 2) / s ** 2)[..., None]
    blush = (g(0.5, ident.eye_y - 0.42, 0.2) + g(-0.5, ident.eye_y - 0.42, 0.2)
             + 0.6 * g(0, ident.brow_y - ident.nose_len, 0.1))
    tex = tex * (1 + blush * np.array([0.06, -0.03, -0.02]))
    front = (np.cos(TH) > 0)[..., None]
    if ident.beard > 0:
        lower = smoothstep(ident.mouth_y + 0.25, ident.mouth_y - 0.05, fy) * smoothstep(0.95, 0.6, np.abs(fx))
        grain = 0.7 + 0.3 * np.sin(TH * 900) * np.sin(PH * 700)
        tex = tex * (1 - ident.beard * 0.5 * (lower * grain)[..., None] * front)
    m, _ = hair_mask(ident, TH, PH)
    strands = 0.8 + 0.12 * np.sin(TH * 160 + 3 * np.sin(PH * 9)) + 0.08 * np.sin(TH * 430 + PH * 20)
    hair = np.asarray(ident.hair_color, np.float32) * strands[..., None]
    tex = tex * (1 - m[..., None]) + hair * m[..., None]
    return np.concatenate([np.clip(tex, 0, 1), m[..., None]], -1).astype(np.float32)


def background(ident: Identity, height: int, width: int) -> np.ndarray:
    """(H, W, 3) float32: a soft studio backdrop, different for every identity."""
    rng = np.random.default_rng([ident.id, 11])
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    y, x = y / height, x / width
    top, bottom = np.asarray(ident.background[0]), np.asarray(ident.background[1])
    img = top * (1 - y[..., None]) + bottom * y[..., None]
    for _ in range(3):
        cx, cy, s = rng.uniform(0, 1), rng.uniform(0, 0.7), rng.uniform(0.1, 0.3)
        img = img + rng.uniform(-0.12, 0.12) * np.exp(-((x - cx) ** 2 + (y - cy) ** 2) / s ** 2)[..., None]
    img = img * (1 - 0.25 * ((x - 0.5) ** 2 + (y - 0.5) ** 2))[..., None]
    return np.clip(img, 0, 1).astype(np.float32)


class Renderer:
    """Renders SynthTalk frames at one resolution; caches per-identity rigs, textures, backdrops."""

    def __init__(self, resolution: int = 128, *, supersample: int | None = None):
        if resolution not in RESOLUTIONS:
            raise ValueError(f"resolution {resolution} is not supported; choose one of {RESOLUTIONS}")
        if supersample is None:                 # 2x2 supersampling up to 256 px; edge AA at 512
            supersample = 2 if resolution <= 256 else 1
        if supersample not in (1, 2, 3, 4):
            raise ValueError(f"supersample must be 1..4, got {supersample}")
        self.resolution, self.ss = resolution, supersample
        n = resolution * supersample
        self._tri_id = np.empty((n, n), np.int32)
        self._bary = np.empty((n, n, 2), np.float32)
        self._zbuf = np.empty((n, n), np.float32)
        self._img = np.empty((n, n, 3), np.float32)
        self._lit = np.empty((0, 2), np.float32)    # per-vertex lighting, grown on demand
        self._cache: dict[int, tuple] = {}

    def _assets(self, ident: Identity):
        if ident.id not in self._cache or self._cache[ident.id][0] != ident:
            n = self.resolution * self.ss
            rig = build_rig(ident, n_theta=MESH_GRID[self.resolution][0], n_phi=MESH_GRID[self.resolution][1])
            tex = albedo_texture(ident, max(256, 2 * self.resolution))
            if len(self._cache) > 8:
                self._cache.pop(next(iter(self._cache)))
            P = shader_params(ident)
            decal = np.empty((int(1.4 * self.resolution * self.ss), self.resolution * self.ss, 6), np.float32)
            raster.bake_decal(P, tex, decal)
            self._cache[ident.id] = (ident, rig, tex, decal, background(ident, n, n), P)
        return self._cache[ident.id][1:]

    def camera_vertices(self, rig: HeadRig, weights, pose) -> np.ndarray:
        """Deformed, posed vertices (N, 3) in camera coordinates. pose = (yaw, pitch, roll, tx, ty, distance)."""
        yaw, pitch, roll, tx, ty, dist = pose
        v = rig.vertices + np.tensordot(weights, rig.blendshapes, axes=1)
        R = _rotation(yaw, pitch, roll)
        v[rig.is_head] = (v[rig.is_head] - NECK_PIVOT) @ R.T + NECK_PIVOT
        depth = CAMERA_DISTANCE * dist
        scale = FRAME_HEIGHT / CAMERA_DISTANCE * depth     # head units per image height at the head
        v += np.array([tx * scale, -ty * scale - CAMERA_Y, -depth], np.float32)
        return v

    def project(self, v: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Camera-space points (…, 3) → supersampled pixel coordinates (…, 2) and depth (…,)."""
        n = self.resolution * self.ss
        f = n * CAMERA_DISTANCE / FRAME_HEIGHT
        depth = -v[..., 2]
        xy = np.stack([n / 2 + f * v[..., 0] / depth, n / 2 - f * v[..., 1] / depth], -1)
        return xy.astype(np.float32), depth.astype(np.float32)

    def render_frame(self, ident: Identity, factors: dict, t: int, out: np.ndarray) -> np.ndarray:
        """Render frame t into `out` (H, W, 3) uint8; returns landmarks (68, 2)."""
        rig, tex, decal, bg, P = self._assets(ident)
        w, openness = expression_weights(factors, t)
        pose = [float(factors[k][t]) for k in ("yaw", "pitch", "roll", "tx", "ty", "distance")]
        v = self.camera_vertices(rig, w, pose)
        xy, depth = self.project(v)
        if len(self._lit) < len(v):
            self._lit = np.empty((len(v), 2), np.float32)
        lit = self._lit[:len(v)]
        raster.vertex_lighting(v, rig.triangles, np.asarray(ident.light_dir, np.float32), ident.ambient, lit)
        P = P.copy()
        P[raster.OPEN] = openness
        eye_r = 0.11
        P[raster.GAZE_X] = eye_r * np.sin(np.deg2rad(factors["gaze_yaw"][t]))
        P[raster.GAZE_Y] = eye_r * np.sin(np.deg2rad(factors["gaze_pitch"][t]))
        raster.rasterize(xy, depth, rig.triangles, self._tri_id, self._bary, self._zbuf)
        raster.shade(self._tri_id, self._bary, rig.triangles, rig.attrs, lit, rig.colors, rig.material,
                     tex, decal, P, bg, self._img)
        raster.downsample(self._img, self.ss, out)
        if self.ss == 1:
            raster.edge_antialias(self._tri_id, rig.material, out)
        # landmarks: bilinear embedding, eyelids between their closed and open places
        lm = np.einsum("cpk,cpkd->cpd", rig.lm_weight, v[rig.lm_index])   # (2, 68, 3): open, closed
        lm3 = lm[1] + openness * (lm[0] - lm[1])
        lxy, _ = self.project(lm3)
        return lxy / self.ss - 0.5

    def render(self, ident: Identity, factors: dict, *, progress: bool = False) -> Rendering:
        """Render every frame of `factors` (a validated factor dict) for `ident`."""
        validate_factors(factors)
        T = len(factors["yaw"])
        frames = np.empty((T, self.resolution, self.resolution, 3), np.uint8)
        lms = np.empty((T, 68, 2), np.float32)
        it = range(T)
        if progress:
            it = tqdm(it, desc="render", unit="frame")
        for t in it:
            lms[t] = self.render_frame(ident, factors, t, frames[t])
        return Rendering(frames, lms)


@lru_cache(maxsize=4)
def _renderer(resolution: int) -> Renderer:
    return Renderer(resolution)


def render(identity: Identity, factors: dict, *, resolution: int = 128, progress: bool = False) -> Rendering:
    """Render `identity` performing `factors` (any motion, any identity) at `resolution` px."""
    return _renderer(resolution).render(identity, factors, progress=progress)
