"""The SynthTalk head: a rigged 3D mesh built procedurally from an :class:`Identity`.

Geometry is a displaced ellipsoid parameterised by the face chart (θ azimuth, φ elevation).
Expressions are linear blendshapes over the neutral mesh, the way 3D morphable models
(and FLAME, which many talking-head systems build on) represent facial dynamics. The mouth is
a real opening: the chart row on the lip line is doubled, and the jaw blendshape moves only the
lower copy, so the triangles between the two copies open up as the mouth interior.

Every vertex carries, besides its position, the *feature coordinates* (fx, fy) -- frontal
head-unit coordinates of the neutral skull, in which eyes, brows, lips and glasses are drawn
procedurally by the shader (:mod:`labkit.synthtalk.raster`) -- and the chart coordinates
(θ, φ) that index the identity's low-frequency albedo texture (skin tone, hair).

Landmarks (iBUG-68) are fixed points of the chart, embedded in the grid with bilinear weights,
so they follow every deformation exactly; the upper eyelid points blend between an open and
a closed embedding because lids are drawn by the shader.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from labkit.synthtalk.features import brow_curve, lid_curves, lip_curves
from labkit.synthtalk.identity import Identity

B_NOMINAL = 1.35      # nominal skull half-height: fy = sin(φ) * B_NOMINAL
SLIT = 0.02           # half-height of the mouth band inserted in fy-texture space
BLENDSHAPES = ("jaw", "lip_spread", "lip_round", "brow", "smile", "frown_mouth", "brow_inner_up",
               "brow_inner_down")
MATERIAL_HEAD, MATERIAL_FLAT = 0, 1


@dataclass
class HeadRig:
    """A renderable, deformable head for one identity. N vertices, M triangles, K blendshapes."""
    vertices: np.ndarray     # (N, 3) float32 neutral positions, head frame (x right, y up, z to camera)
    blendshapes: np.ndarray  # (K, N, 3) float32 displacement per unit weight, K = len(BLENDSHAPES)
    attrs: np.ndarray        # (N, 4) float32 per-vertex (θ, φ, fx, fy_tex) interpolated by the rasterizer
    colors: np.ndarray       # (N, 3) float32 albedo for flat-material vertices (neck, torso)
    triangles: np.ndarray    # (M, 3) int32, counter-clockwise seen from outside
    material: np.ndarray     # (M,) int8, MATERIAL_HEAD or MATERIAL_FLAT
    is_head: np.ndarray      # (N,) bool: vertex moves with the head pose (else with the torso)
    lm_index: np.ndarray     # (2, 68, 4) int32 grid vertices of each landmark (open, closed eyelid)
    lm_weight: np.ndarray    # (2, 68, 4) float32 bilinear weights


def smoothstep(e0, e1, x):
    t = np.clip((x - e0) / (e1 - e0), 0.0, 1.0)
    return t * t * (3 - 2 * t)


def chart(fx, fy):
    """Frontal feature coordinates (fx, fy) -> chart angles (θ, φ)."""
    phi = np.arcsin(np.clip(np.asarray(fy) / B_NOMINAL, -1, 1))
    theta = np.arcsin(np.clip(np.asarray(fx) / np.cos(phi), -1, 1))
    return theta, phi


def hair_mask(ident: Identity, theta, phi):
    """Soft hair coverage in [0, 1] over the chart, and the hair thickness (head units)."""
    fy = np.sin(phi) * B_NOMINAL
    s0 = 0.8 if ident.hair_style == "bob" else 0.5      # where hair starts to come down the sides
    side = smoothstep(s0, 1.35, np.abs(theta))           # 0 at the face, 1 from the ears back
    back = smoothstep(1.9, 2.6, np.abs(theta))
    style = ident.hair_style
    front = ident.brow_y + 0.50
    side_lvl, back_lvl, thick = ident.eye_y + 0.15, -0.75, 0.09
    if style == "bald":
        front, side_lvl, back_lvl, thick = 2.0, 0.05, -0.55, 0.03
    elif style == "buzz":
        thick = 0.025
    elif style == "fringe":
        front = ident.brow_y + 0.3
    elif style == "bob":
        side_lvl, back_lvl, thick = ident.mouth_y - 0.1, -1.25, 0.12
    level = front * (1 - side) + side_lvl * side
    level = level * (1 - back) + back_lvl * back
    if style == "bald":  # a horseshoe of hair low on the back and sides only
        level = np.where(np.abs(theta) > 1.2, level, 9.0)
        cap = smoothstep(0.35, 0.6, fy)
        m = smoothstep(level, level + 0.06, fy) * (1 - cap)
    else:
        m = smoothstep(level, level + 0.05, fy)
    if style == "fringe":  # bangs end at the brows, not at the cheeks: round off the corners
        m = m * (1 - (smoothstep(0.55, 0.75, np.abs(np.cos(phi) * np.sin(theta))) * (1 - side)
                       * smoothstep(front + 0.25, front, fy)))
    vol = thick * m * (0.7 + 0.3 * smoothstep(-0.5, 0.8, fy))
    if style == "bun":
        # a bun up at the back of the crown: a bump around the direction (0, sin 1.1, -cos 1.1)
        cos_ang = np.sin(phi) * np.sin(1.1) - np.cos(phi) * np.cos(theta) * np.cos(1.1)
        vol = vol + 0.4 * np.exp(-(np.arccos(np.clip(cos_ang, -1, 1)) / 0.35) ** 2)
    return m, vol


def _grid(n_theta: int, n_phi: int, ident: Identity):
    """Chart sample positions: denser over the face, with the lip-line row doubled."""
    t = np.linspace(-1, 1, n_theta)
    theta = np.pi * (0.35 * t + 0.65 * t ** 3)
    s = np.linspace(-1, 1, n_phi)
    phi = 0.085 + 1.4855 * (0.55 * s + 0.45 * s ** 3)   # -1.4 (under the chin) .. π/2 (the crown)
    phi_m = np.arcsin(ident.mouth_y / B_NOMINAL)
    i = int(np.argmin(np.abs(phi - phi_m)))
    phi[i] = phi_m                                         # a row exactly on the lip line ...
    phi = np.insert(phi, i, phi_m)                         # ... twice: lower copy first (rows go up)
    lower_slit = i
    return theta, phi, lower_slit


def _surface(ident: Identity, TH, PH):
    """Neutral head surface points (…, 3) and outward normals of the base ellipsoid."""
    a, b, c = ident.head_size
    cp, sp, st, ct = np.cos(PH), np.sin(PH), np.sin(TH), np.cos(TH)
    fx, fy = cp * st, sp * B_NOMINAL
    x, y, z = a * cp * st, b * sp, c * cp * ct
    y = y * (1 - 0.22 * smoothstep(-0.5, -1.3, fy))         # a shorter, rounder chin than an egg's
    low = smoothstep(-0.1, -0.95, fy)                      # jaw and below
    x = x * (1 - ident.jaw_taper * low * (0.55 + 0.45 * np.clip(ct, 0, 1)))
    z = z * (1 - 0.10 * np.exp(-(TH / 0.7) ** 2) * smoothstep(-1.2, 0.3, fy))  # faces are flatter than eggs
    z = z - 0.25 * low * smoothstep(0.3, -0.6, ct) * c     # narrow the back of the neck region
    n = np.stack([x / a ** 2, y / b ** 2, z / c ** 2], -1)
    n /= np.linalg.norm(n, axis=-1, keepdims=True)
    front = smoothstep(0.05, 0.6, ct)
    g = lambda x0, y0, sx, sy: np.exp(-((fx - x0) / sx) ** 2 - ((fy - y0) / sy) ** 2)
    e = ident
    tip_y = e.brow_y - e.nose_len
    ny = (fy - tip_y) / (e.brow_y - 0.05 - tip_y)          # 0 at the tip, 1 at the bridge
    ridge = np.where(ny >= 0, (0.06 + (e.nose_out - 0.06) * (1 - np.clip(ny, 0, 1)) ** 1.6)
                     * (ny <= 1.15), e.nose_out * np.exp(-(ny / 0.22) ** 2))
    nose = ridge * np.exp(-(fx / (0.06 + 0.07 * np.exp(-(ny / 0.35) ** 2))) ** 2)
    nose += 0.09 * (g(e.nose_w * 0.75, tip_y + 0.02, 0.07, 0.06) + g(-e.nose_w * 0.75, tip_y + 0.02, 0.07, 0.06))
    d = nose
    d += 0.06 * np.exp(-((fy - e.brow_y + 0.02) / 0.08) ** 2 - (fx / 0.62) ** 4)           # brow ridge
    for sx in (-1, 1):
        d += -0.08 * g(sx * e.eye_x, e.eye_y, 0.2, 0.12) + 0.05 * g(sx * e.eye_x, e.eye_y, 0.14, 0.07)
        d += (0.03 + e.cheek) * g(sx * 0.5, e.eye_y - 0.4, 0.22, 0.22)
    d += 0.09 * g(0, e.mouth_y + 0.02, 0.45, 0.28)                                          # muzzle
    d += 0.05 * np.exp(-(fx / e.mouth_w) ** 4) * (g(0, e.mouth_y + e.lip_up * 0.5, 9, e.lip_up)
                                                  + 1.2 * g(0, e.mouth_y - e.lip_lo * 0.5, 9, e.lip_lo))
    d += e.chin * g(0, e.mouth_y - 0.42, 0.28, 0.16)
    d = d * front
    for sx in (-1, 1):                                                                      # ears
        d += 0.16 * np.exp(-((TH - sx * 1.62) / 0.13) ** 2 - ((fy - e.eye_y + 0.15) / 0.28) ** 2)
    _, hair = hair_mask(ident, TH, PH)
    p = np.stack([x, y, z], -1) + (d + hair)[..., None] * n
    return p.astype(np.float32), fx, fy


def _blendshapes(ident: Identity, P, fx, fy, below):
    """(K, …, 3) displacement fields for BLENDSHAPES; `below` marks chart rows under the lip line."""
    e = ident
    dy = e.mouth_y - fy
    front = smoothstep(0.0, 0.5, P[..., 2] / ident.head_size[2])
    mouth = np.exp(-(fx / (e.mouth_w * 1.35)) ** 4 - (dy / 0.28) ** 2) * front
    # jaw: rotation about the jaw hinge (the temporomandibular joint, in front of the ears)
    width = e.mouth_w * 0.9 + (0.8 - e.mouth_w) * smoothstep(0.0, 0.3, dy)
    lat = np.where(dy > 1e-6, 1 / (1 + (np.abs(fx) / width) ** 6),
                   smoothstep(e.mouth_w, 0.75 * e.mouth_w, np.abs(fx)))  # the lip line opens only between the corners
    w = below * lat * smoothstep(1.5, 1.0, np.abs(np.arctan2(P[..., 0], P[..., 2])))
    hinge = np.array([0.0, e.eye_y - 0.35, -0.25], np.float32)
    ang = np.deg2rad(16)
    q = P - hinge
    rot = np.stack([q[..., 0], q[..., 1] * np.cos(ang) - q[..., 2] * np.sin(ang),
                    q[..., 1] * np.sin(ang) + q[..., 2] * np.cos(ang)], -1)
    jaw = w[..., None] * (rot - q)
    # lips part a little more than the jaw turns
    lip_part = mouth * np.exp(-((dy) / 0.12) ** 2) * smoothstep(e.mouth_w, 0.75 * e.mouth_w, np.abs(fx))
    jaw[..., 1] += np.where(below, -0.05, 0.025) * lip_part
    lat = fx / e.mouth_w
    spread = np.stack([0.1 * lat * mouth, 0.01 * np.sign(dy) * mouth, -0.03 * lat ** 2 * mouth], -1)
    rnd = np.stack([-0.3 * fx * mouth, 0 * fx, 0.09 * mouth * np.exp(-lat ** 2)], -1)
    corner = np.clip(lat ** 2, 0, 1.5) * mouth
    cheek = sum(np.exp(-((fx - sx * 0.5) / 0.25) ** 2 - ((fy - e.eye_y + 0.35) / 0.2) ** 2) for sx in (-1, 1))
    smile = np.stack([0.06 * lat * mouth, 0.07 * corner + 0.035 * cheek * front, 0.02 * cheek * front], -1)
    frown = np.stack([0 * fx, -0.06 * corner, 0 * fx], -1)
    brow_region = (np.exp(-((fy - e.brow_y - 0.03) / 0.13) ** 2) * smoothstep(0.85, 0.6, np.abs(fx))
                   + 0.35 * smoothstep(e.brow_y, e.brow_y + 0.4, fy) * smoothstep(0.8, 0.4, np.abs(fx)))
    brow_region = brow_region * front * (fy > e.eye_y + e.eye_h * 0.5)
    inner = brow_region * smoothstep(0.55, 0.1, np.abs(fx))
    brow = np.stack([0 * fx, 0.07 * brow_region, 0 * fx], -1)
    inner_up = np.stack([0 * fx, 0.06 * inner, 0 * fx], -1)
    inner_down = np.stack([-0.035 * np.sign(fx) * inner, -0.06 * inner, 0.01 * inner], -1)
    return np.stack([jaw, spread, rnd, brow, smile, frown, inner_up, inner_down]).astype(np.float32)


# ----------------------------------------------------------------------------------------------
# Landmarks: the iBUG-68 points as fixed places in feature coordinates (fx, fy)
# ----------------------------------------------------------------------------------------------

def landmark_chart(e: Identity, closed: bool = False):
    """(68, 2) feature coordinates (fx, fy_tex) of the iBUG-68 points, eyes open or closed."""
    pts = []
    top, chin = e.eye_y - 0.05, e.mouth_y - 0.52
    for k in range(17):                                       # 1-17 jaw line, subject's right to left
        b = np.pi * k / 16
        pts.append((-0.86 * np.cos(b), top - (top - chin) * np.sin(b)))
    for ax in (0.70, 0.57, 0.43, 0.29, 0.16):                 # 18-22 right brow, outer to inner
        y, th = brow_curve(e.brow_y, e.brow_arch, e.brow_thick, ax)
        pts.append((-ax, y + 0.3 * th))
    for ax in (0.16, 0.29, 0.43, 0.57, 0.70):                 # 23-27 left brow, inner to outer
        y, th = brow_curve(e.brow_y, e.brow_arch, e.brow_thick, ax)
        pts.append((ax, y + 0.3 * th))
    tip = e.brow_y - e.nose_len
    for k in range(4):                                        # 28-31 nose bridge to tip
        pts.append((0.0, e.eye_y + 0.02 + (tip - e.eye_y - 0.02) * k / 3))
    for fx, dy in ((-0.8, 0.03), (-0.45, 0.07), (0.0, 0.09), (0.45, 0.07), (0.8, 0.03)):  # 32-36
        pts.append((fx * e.nose_w, tip - dy))
    for side, order in ((-1, (1, 1 / 3, -1 / 3, -1, -1 / 3, 1 / 3)), (1, (-1, -1 / 3, 1 / 3, 1, 1 / 3, -1 / 3))):
        cx = side * e.eye_x                                   # 37-42 right eye, 43-48 left eye
        for k, o in enumerate(order):
            ex = o * side
            up, lo = lid_curves(e.eye_y, e.eye_h, e.eye_tilt, ex, side)
            y = lo if (k >= 4 or closed) else up
            pts.append((cx + ex * e.eye_w, float(y)))
    for t in (-1, -0.6, -0.28, 0, 0.28, 0.6, 1):              # 49-55 outer upper lip, right to left
        up, _ = lip_curves(e.mouth_y, e.mouth_w, e.lip_up, e.lip_lo, t * e.mouth_w)
        pts.append((t * e.mouth_w, float(up) if abs(t) < 1 else e.mouth_y))
    for t in (0.6, 0.28, 0, -0.28, -0.6):                     # 56-60 outer lower lip, left to right
        _, lo = lip_curves(e.mouth_y, e.mouth_w, e.lip_up, e.lip_lo, t * e.mouth_w)
        pts.append((t * e.mouth_w, float(lo)))
    m = e.mouth_w * 0.86
    pts.append((-m, e.mouth_y))                               # 61 inner corner
    for t in (-0.4, 0, 0.4):                                  # 62-64 upper inner lip
        pts.append((t * e.mouth_w, e.mouth_y + SLIT))
    pts.append((m, e.mouth_y))                                # 65
    for t in (0.4, 0, -0.4):                                  # 66-68 lower inner lip
        pts.append((t * e.mouth_w, e.mouth_y - SLIT))
    p = np.array(pts, np.float64)
    # outside the mouth band, feature fy becomes fy_tex by the same shift the grid uses
    shift = np.where(p[:, 1] > e.mouth_y + 1e-9, SLIT, np.where(p[:, 1] < e.mouth_y - 1e-9, -SLIT, 0.0))
    inner = np.zeros(68, bool)
    inner[61:64] = inner[65:68] = True
    p[:, 1] += np.where(inner, 0.0, shift)
    return p


def _embed(theta_cols, key_rows, theta, key):
    """Bilinear embedding of chart points in a (rows, cols) grid: vertex indices and weights (P, 4)."""
    n_cols = len(theta_cols)
    j = np.clip(np.searchsorted(theta_cols, theta) - 1, 0, n_cols - 2)
    i = np.clip(np.searchsorted(key_rows, key) - 1, 0, len(key_rows) - 2)
    s = (theta - theta_cols[j]) / (theta_cols[j + 1] - theta_cols[j])
    t = (key - key_rows[i]) / (key_rows[i + 1] - key_rows[i])
    idx = np.stack([i * n_cols + j, i * n_cols + j + 1, (i + 1) * n_cols + j, (i + 1) * n_cols + j + 1], -1)
    w = np.stack([(1 - s) * (1 - t), s * (1 - t), (1 - s) * t, s * t], -1)
    return idx.astype(np.int32), w.astype(np.float32)


# ----------------------------------------------------------------------------------------------
# Assembly
# ----------------------------------------------------------------------------------------------

def _grid_triangles(rows: int, cols: int, offset: int = 0) -> np.ndarray:
    r, c = np.meshgrid(np.arange(rows - 1), np.arange(cols - 1), indexing="ij")
    v00 = (r * cols + c).ravel() + offset
    v10, v01 = v00 + 1, v00 + cols
    v11 = v01 + 1
    return np.concatenate([np.stack([v00, v10, v11], -1), np.stack([v00, v11, v01], -1)]).astype(np.int32)


def _ellipsoid_patch(center, radii, phi_range, n_theta, n_phi):
    """An open ellipsoid band (rows of constant elevation), counter-clockwise from outside."""
    th = np.linspace(-np.pi, np.pi, n_theta)
    ph = np.linspace(*phi_range, n_phi)
    PH, TH = np.meshgrid(ph, th, indexing="ij")
    p = np.stack([radii[0] * np.cos(PH) * np.sin(TH), radii[1] * np.sin(PH),
                  radii[2] * np.cos(PH) * np.cos(TH)], -1) + np.asarray(center)
    return p.reshape(-1, 3), n_phi, n_theta


def build_rig(ident: Identity, *, n_theta: int = 61, n_phi: int = 57) -> HeadRig:
    """Build the deformable head (plus neck and shoulders) of `ident` at the given grid density."""
    theta, phi, lower = _grid(n_theta, n_phi, ident)
    rows = len(phi)
    PH, TH = np.meshgrid(phi, theta, indexing="ij")             # (rows, cols)
    P, fx, fy = _surface(ident, TH, PH)
    row = np.arange(rows)[:, None] * np.ones_like(TH)
    below = (row <= lower).astype(np.float32)
    shapes = _blendshapes(ident, P, fx, fy, below)
    fy_tex = fy + np.where(row > lower, SLIT, -SLIT)
    attrs = np.stack([TH, PH, fx, fy_tex], -1).reshape(-1, 4)
    head_tris = _grid_triangles(rows, n_theta)
    n_head = rows * n_theta

    # neck (a cylinder) and shoulders (the top of an ellipsoid), in the torso's frame
    neck, nr, nc = _ellipsoid_patch((0, -0.6, -0.2), (0.6, 2.2, 0.6), (-1.2, 0.0), 25, 6)
    neck[:, 0] = 0.6 * np.sin(np.linspace(-np.pi, np.pi, nc))[None].repeat(nr, 0).ravel()
    neck[:, 2] = -0.2 + 0.55 * np.cos(np.linspace(-np.pi, np.pi, nc))[None].repeat(nr, 0).ravel()
    body, br, bc = _ellipsoid_patch((0, -3.2, -0.45), (2.9, 1.4, 1.1), (0.0, np.pi / 2), 41, 12)
    tris = [head_tris, _grid_triangles(nr, nc, n_head), _grid_triangles(br, bc, n_head + len(neck))]
    n_all = n_head + len(neck) + len(body)
    colors = np.zeros((n_all, 3), np.float32)
    colors[n_head:n_head + len(neck)] = np.asarray(ident.skin) * 0.92
    colors[n_head + len(neck):] = ident.cloth_color
    verts = np.concatenate([P.reshape(-1, 3), neck, body]).astype(np.float32)
    K = len(BLENDSHAPES)
    bs = np.zeros((K, n_all, 3), np.float32)
    bs[:, :n_head] = shapes.reshape(K, -1, 3)
    material = np.concatenate([np.full(len(head_tris), MATERIAL_HEAD),
                               np.full(len(tris[1]) + len(tris[2]), MATERIAL_FLAT)])
    is_head = np.zeros(n_all, bool)
    is_head[:n_head] = True
    attrs_all = np.zeros((n_all, 4), np.float32)
    attrs_all[:n_head] = attrs
    # landmarks: rows are keyed by their fy_tex (monotonic thanks to the ±SLIT shift)
    key_rows = fy_tex[:, 0]
    lm_i, lm_w = [], []
    for closed in (False, True):
        p = landmark_chart(ident, closed)
        fy_geo = (p[:, 1] - np.where(p[:, 1] > ident.mouth_y + SLIT / 2, SLIT, 0)
                  + np.where(p[:, 1] < ident.mouth_y - SLIT / 2, SLIT, 0))
        th, _ = chart(p[:, 0], fy_geo)
        i, w = _embed(theta, key_rows, th, p[:, 1])
        lm_i.append(i)
        lm_w.append(w)
    return HeadRig(vertices=verts, blendshapes=bs, attrs=attrs_all, colors=colors,
                   triangles=np.concatenate(tris), material=material.astype(np.int8), is_head=is_head,
                   lm_index=np.stack(lm_i), lm_weight=np.stack(lm_w))
