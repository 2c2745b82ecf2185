"""A small deferred software rasterizer (numba) for SynthTalk heads.

Pipeline per frame, all on the CPU:

1. ``vertex_normals``  – area-weighted vertex normals of the deformed mesh;
2. ``rasterize``       – perspective-projected triangles → per-pixel (triangle, barycentrics)
                         through a z-buffer (depth ordering), back faces culled;
3. ``shade``           – once per visible pixel: albedo from the identity's texture plus the
                         procedural eyes, lids, brows, lips, mouth interior and glasses drawn in
                         feature coordinates, times Gouraud lighting;
4. ``downsample``      – box filter of the supersampled image (anti-aliasing) → uint8.

Deferred shading (visibility first, colour once) keeps the cost per frame close to the
number of output pixels, which is what makes hundreds of frames per second possible.
"""
from __future__ import annotations

import math

import numpy as np
from numba import njit

from labkit.synthtalk.features import brow_curve, lid_curves, lip_curves

# indices into the shader's parameter vector (built by renderer.shader_params)
(EYE_X, EYE_Y, EYE_W, EYE_H, EYE_TILT, OPEN, GAZE_X, GAZE_Y, IRIS, BROW_Y, BROW_ARCH, BROW_THICK,
 BROW_RGB, MOUTH_Y, MOUTH_W, LIP_UP, LIP_LO, LIP_RGB, GLASSES, GLASSES_RGB, SLIT, TEX_PHI0,
 TEX_PHI1, N_PARAMS) = (0, 1, 2, 3, 4, 5, 6, 7, 8, 11, 12, 13, 14, 17, 18, 19, 20, 21, 24, 25, 28, 29,
                        30, 31)


@njit(cache=True)
def vertex_lighting(v, tris, light, ambient, out):
    """Gouraud lighting per vertex into out (N, 2) = (diffuse, specular).

    v: (N, 3) camera-space positions (camera at the origin), tris: (M, 3), light: (3,) unit
    vector toward the key light. Normals are area-weighted sums of the face normals; diffuse
    light is "wrapped" (a softer terminator, like skin's subsurface scattering); the specular
    term is Blinn–Phong with exponent 24.
    """
    N = v.shape[0]
    n = np.zeros((N, 3), np.float32)
    for k in range(tris.shape[0]):
        a, b, c = tris[k, 0], tris[k, 1], tris[k, 2]
        e1x, e1y, e1z = v[b, 0] - v[a, 0], v[b, 1] - v[a, 1], v[b, 2] - v[a, 2]
        e2x, e2y, e2z = v[c, 0] - v[a, 0], v[c, 1] - v[a, 1], v[c, 2] - v[a, 2]
        fx, fy, fz = e1y * e2z - e1z * e2y, e1z * e2x - e1x * e2z, e1x * e2y - e1y * e2x
        for i in (a, b, c):
            n[i, 0] += fx
            n[i, 1] += fy
            n[i, 2] += fz
    lx, ly, lz = light[0], light[1], light[2]
    for i in range(N):
        s = math.sqrt(n[i, 0] ** 2 + n[i, 1] ** 2 + n[i, 2] ** 2) + 1e-12
        nx, ny, nz = n[i, 0] / s, n[i, 1] / s, n[i, 2] / s
        lam = min(max((nx * lx + ny * ly + nz * lz + 0.25) / 1.25, 0.0), 1.0)
        d = math.sqrt(v[i, 0] ** 2 + v[i, 1] ** 2 + v[i, 2] ** 2) + 1e-12
        hx, hy, hz = lx - v[i, 0] / d, ly - v[i, 1] / d, lz - v[i, 2] / d
        h = math.sqrt(hx * hx + hy * hy + hz * hz) + 1e-12
        spec = max((nx * hx + ny * hy + nz * hz) / h, 0.0) ** 24
        out[i, 0] = ambient + (1.2 - ambient) * lam
        out[i, 1] = spec


@njit(cache=True)
def rasterize(xy, depth, tris, tri_id, bary, zbuf):
    """Fill tri_id (H, W) int32 and bary (H, W, 2) with the nearest front-facing triangle.

    xy: (N, 2) pixel coordinates (x right, y down), depth: (N,) distance along the view axis.
    Pixel centres are at integer + 0.5. tri_id is -1 where nothing is drawn.
    """
    H, W = tri_id.shape
    zbuf[:] = np.inf
    tri_id[:] = -1
    for k in range(tris.shape[0]):
        a, b, c = tris[k, 0], tris[k, 1], tris[k, 2]
        x0, y0, x1, y1, x2, y2 = xy[a, 0], xy[a, 1], xy[b, 0], xy[b, 1], xy[c, 0], xy[c, 1]
        area = (x1 - x0) * (y2 - y0) - (x2 - x0) * (y1 - y0)
        if area >= -1e-9:            # counter-clockwise in y-up = clockwise in y-down: back face
            continue
        xmin = max(int(math.floor(min(x0, x1, x2) - 0.5)), 0)
        xmax = min(int(math.ceil(max(x0, x1, x2) - 0.5)), W - 1)
        ymin = max(int(math.floor(min(y0, y1, y2) - 0.5)), 0)
        ymax = min(int(math.ceil(max(y0, y1, y2) - 0.5)), H - 1)
        if xmin > xmax or ymin > ymax:
            continue
        inv = 1.0 / area
        z0, z1, z2 = depth[a], depth[b], depth[c]
        for py in range(ymin, ymax + 1):
            cy = py + 0.5
            for px in range(xmin, xmax + 1):
                cx = px + 0.5
                w0 = ((x1 - cx) * (y2 - cy) - (x2 - cx) * (y1 - cy)) * inv
                w1 = ((x2 - cx) * (y0 - cy) - (x0 - cx) * (y2 - cy)) * inv
                w2 = 1.0 - w0 - w1
                if w0 < 0 or w1 < 0 or w2 < 0:
                    continue
                z = w0 * z0 + w1 * z1 + w2 * z2
                if z < zbuf[py, px]:
                    zbuf[py, px] = z
                    tri_id[py, px] = k
                    bary[py, px, 0] = w0
                    bary[py, px, 1] = w1


@njit(cache=True)
def _blend(c, r, g, b, alpha):
    c[0] += (r - c[0]) * alpha
    c[1] += (g - c[1]) * alpha
    c[2] += (b - c[2]) * alpha


@njit(cache=True)
def _edge(d, width):
    """Soft inside-ness of a signed distance d (> 0 inside) over `width` feature units."""
    return min(max(d / width + 0.5, 0.0), 1.0)


@njit(cache=True)
def _face_static(c, fx, fy, P, hair):
    """Everything drawn on the face that does not move in feature space: the skin around the
    eyes (socket shadow, lid crease, lower-lid line), brows, lips and glasses. Each step blends
    c toward a colour that is constant or proportional to c, so the whole is affine in c --
    which is what lets ``bake_decal`` precompute it."""
    eh = P[EYE_H]
    for side in (-1.0, 1.0):
        ex = (fx - side * P[EYE_X]) / P[EYE_W]
        if abs(ex) > 1.4 or abs(fy - P[EYE_Y]) > 3.5 * eh:
            continue
        up, lo = lid_curves(P[EYE_Y], eh, P[EYE_TILT], min(max(ex, -1.0), 1.0), side)
        _blend(c, c[0] * 0.8, c[1] * 0.72, c[2] * 0.72,
               0.35 * math.exp(-(ex * ex) - ((fy - P[EYE_Y]) / (2.2 * eh)) ** 2))
        crease = up + 0.35 * eh - fy
        _blend(c, c[0] * 0.6, c[1] * 0.5, c[2] * 0.5, 0.5 * math.exp(-(crease / 0.012) ** 2) * max(1.0 - ex * ex, 0.0))
        lower_line = _edge(0.006 - abs(fy - lo + 0.003), 0.005) * _edge(1.0 - abs(ex), 0.1)
        _blend(c, c[0] * 0.55, c[1] * 0.45, c[2] * 0.45, 0.6 * lower_line)
    ax = abs(fx)                                       # brows (hidden under a fringe)
    if 0.08 < ax < 0.8 and hair < 0.5:
        y, th = brow_curve(P[BROW_Y], P[BROW_ARCH], P[BROW_THICK], ax)
        d = abs(fy - y)
        if d < th * 1.5:
            a = _edge(th - d, 0.012) * _edge(ax - 0.12, 0.04) * _edge(0.76 - ax, 0.06)
            a *= 0.8 + 0.2 * math.sin(fx * 420.0 + fy * 90.0)
            _blend(c, P[BROW_RGB], P[BROW_RGB + 1], P[BROW_RGB + 2], a)
    my, mw = P[MOUTH_Y], P[MOUTH_W]                    # lips
    t = fx / mw
    if abs(t) < 1.1 and my - 2.0 * P[LIP_LO] < fy < my + 2.0 * P[LIP_UP]:
        up, lo = lip_curves(my, mw, P[LIP_UP], P[LIP_LO], fx)
        a = min(_edge(up - fy, 0.008), _edge(fy - lo, 0.008)) * _edge(1.0 - abs(t), 0.04)
        tone = 0.85 if fy > my else 1.05               # the upper lip faces down: darker
        _blend(c, P[LIP_RGB] * tone, P[LIP_RGB + 1] * tone, P[LIP_RGB + 2] * tone, a)
        line = _edge(0.007 - abs(fy - my), 0.006) * _edge(1.04 - abs(t), 0.05)
        _blend(c, 0.25 * P[LIP_RGB], 0.2 * P[LIP_RGB + 1], 0.2 * P[LIP_RGB + 2], line)
    _glasses(c, fx, fy, P)


@njit(cache=True)
def _eye_dynamic(c, fx, fy, P, e):
    """The eyeball (iris and pupil following the gaze) inside the lids, and the lashes on the
    moving upper lid (blinks). `e` is a scratch RGB buffer."""
    for side in (-1.0, 1.0):
        cx = side * P[EYE_X]
        ex = (fx - cx) / P[EYE_W]
        if abs(ex) > 1.1 or abs(fy - P[EYE_Y]) > 1.6 * P[EYE_H]:
            continue
        up, lo = lid_curves(P[EYE_Y], P[EYE_H], P[EYE_TILT], min(max(ex, -1.0), 1.0), side)
        upper = lo + P[OPEN] * (up - lo)
        inside = min(_edge(upper - fy, 0.006), _edge(fy - lo, 0.006)) * _edge(1.0 - abs(ex), 0.05)
        if inside > 0.0:
            gx = fx - cx - P[GAZE_X]
            gy = fy - P[EYE_Y] - 0.15 * P[EYE_H] - P[GAZE_Y]
            r = math.sqrt(gx * gx + gy * gy)
            ir = 0.44 * P[EYE_W]
            shade = 1.0 - 0.45 * ex * ex
            e[0], e[1], e[2] = 0.93 * shade, 0.9 * shade, 0.87 * shade         # sclera
            if r < ir + 0.01:
                ang = math.atan2(gy, gx)
                streak = 0.85 + 0.15 * math.sin(23.0 * ang) * math.sin(7.0 * ang + 1.0)
                ring = 1.0 - 0.55 * min(max((r / ir - 0.75) / 0.25, 0.0), 1.0)
                _blend(e, P[IRIS] * streak * ring, P[IRIS + 1] * streak * ring, P[IRIS + 2] * streak * ring,
                       _edge(ir - r, 0.008))
                _blend(e, 0.02, 0.02, 0.03, _edge(0.4 * ir - r, 0.006))         # pupil
                hx, hy = gx + 0.25 * ir, gy - 0.3 * ir
                _blend(e, 1.0, 1.0, 1.0, 0.9 * _edge(0.14 * ir - math.sqrt(hx * hx + hy * hy), 0.006))
            d = (upper - fy) / 0.02                                             # shadow of the lid
            _blend(e, 0.0, 0.0, 0.0, 0.4 / (1.0 + d * d * d * d))
            _blend(c, e[0], e[1], e[2], inside)
        lash = _edge(0.014 - abs(fy - upper - 0.004), 0.006) * _edge(1.08 - abs(ex), 0.05)
        _blend(c, 0.04, 0.03, 0.03, 0.9 * lash)


@njit(cache=True)
def _mouth_interior(c, fx, fyt, P):
    """Inside the doubled lip-line band: the mouth cavity with teeth and tongue."""
    my, mw, slit = P[MOUTH_Y], P[MOUTH_W], P[SLIT]
    t = fx / mw
    s = (fyt - (my - slit)) / (2.0 * slit)            # 0 at the lower lip, 1 at the upper lip
    dark = 1.0 - 0.6 * t * t
    c[0], c[1], c[2] = 0.2 * dark, 0.05 * dark, 0.05 * dark
    if abs(t) < 0.55 and s < 0.45:
        _blend(c, 0.55 * dark, 0.22 * dark, 0.22 * dark, _edge(0.45 - s, 0.08))
    gap = 0.75 + 0.25 * abs(math.cos(t * 9.0))
    if abs(t) < 0.72:
        _blend(c, 0.88 * gap * dark, 0.86 * gap * dark, 0.8 * gap * dark, _edge(s - 0.74, 0.04))
    if abs(t) < 0.55:
        _blend(c, 0.8 * gap * dark, 0.78 * gap * dark, 0.72 * gap * dark, _edge(0.1 - s, 0.04))


@njit(cache=True)
def _glasses(c, fx, fy, P):
    kind = P[GLASSES]
    if kind == 0.0:
        return
    ex, ey = P[EYE_X], P[EYE_Y] + 0.01
    rx, ry = 1.45 * P[EYE_W], 2.4 * P[EYE_H]
    p = 2.0 if kind == 1.0 else 5.0
    w = 0.016
    for side in (-1.0, 1.0):
        dx, dy = (fx - side * ex) / rx, (fy - ey) / ry
        if abs(dx) > 1.3 or abs(dy) > 1.3:
            continue
        d = (abs(dx) ** p + abs(dy) ** p) ** (1.0 / p)
        if d < 1.0:
            _blend(c, 0.9, 0.95, 1.0, 0.06)          # a faint lens reflection
        _blend(c, P[GLASSES_RGB], P[GLASSES_RGB + 1], P[GLASSES_RGB + 2], _edge(w - abs(d - 1.0) * rx, 0.006))
    bridge = _edge(w * 0.8 - abs(fy - ey - 0.45 * ry), 0.006) * _edge(ex - rx - abs(fx) + 0.01, 0.01)
    temple = _edge(w * 0.8 - abs(fy - ey - 0.3 * ry), 0.006) * _edge(abs(fx) - ex - rx + 0.01, 0.01)
    _blend(c, P[GLASSES_RGB], P[GLASSES_RGB + 1], P[GLASSES_RGB + 2], max(bridge, temple))


DECAL_FY = (-1.0, 0.9)   # feature-space rows covered by the baked decal (chin to above the brows)


@njit(cache=True)
def bake_decal(P, tex, decal):
    """Precompute ``_face_static`` as an affine map c -> A c + B over a feature-space grid.

    decal: (Hd, Wd, 6) float32 output, (A, B) per texel, covering fx ∈ [-1, 1] and
    fy ∈ DECAL_FY (top row = DECAL_FY[1]). tex gives the hair coverage (brows under a fringe).
    """
    Hd, Wd = decal.shape[0], decal.shape[1]
    Ht, Wt = tex.shape[0], tex.shape[1]
    c = np.empty(3)
    for i in range(Hd):
        fy = DECAL_FY[1] - (DECAL_FY[1] - DECAL_FY[0]) * i / (Hd - 1)
        for j in range(Wd):
            fx = -1.0 + 2.0 * j / (Wd - 1)
            ph = math.asin(min(max(fy / 1.35, -1.0), 1.0))
            th = math.asin(min(max(fx / max(math.cos(ph), 1e-6), -1.0), 1.0))
            u = (th + math.pi) / (2.0 * math.pi) * (Wt - 1)
            v = (P[TEX_PHI1] - ph) / (P[TEX_PHI1] - P[TEX_PHI0]) * (Ht - 1)
            hair = tex[min(max(int(v + 0.5), 0), Ht - 1), min(max(int(u + 0.5), 0), Wt - 1), 3]
            c[0] = c[1] = c[2] = 0.0
            _face_static(c, fx, fy, P, hair)
            b0, b1, b2 = c[0], c[1], c[2]
            c[0] = c[1] = c[2] = 1.0
            _face_static(c, fx, fy, P, hair)
            decal[i, j, 0], decal[i, j, 1], decal[i, j, 2] = c[0] - b0, c[1] - b1, c[2] - b2
            decal[i, j, 3], decal[i, j, 4], decal[i, j, 5] = b0, b1, b2


@njit(cache=True)
def shade(tri_id, bary, tris, attrs, light, colors, material, tex, decal, P, bg, out):
    """Colour every pixel of `out` (H, W, 3) float32: background, or the visible surface.

    attrs: (N, 4) per-vertex (θ, φ, fx, fy_tex); light: (N, 2) per-vertex (diffuse, specular);
    tex: (Ht, Wt, 4) identity albedo (RGB) + hair coverage over θ ∈ [-π, π], φ ∈ [TEX_PHI0, TEX_PHI1];
    decal: the baked static face features (see ``bake_decal``).
    """
    H, W = tri_id.shape
    Ht, Wt = tex.shape[0], tex.shape[1]
    Hd, Wd = decal.shape[0], decal.shape[1]
    c = np.empty(3)
    eye = np.empty(3)
    my, slit = P[MOUTH_Y], P[SLIT]
    for py in range(H):
        for px in range(W):
            k = tri_id[py, px]
            if k < 0:
                out[py, px, 0], out[py, px, 1], out[py, px, 2] = bg[py, px, 0], bg[py, px, 1], bg[py, px, 2]
                continue
            a, b, cc = tris[k, 0], tris[k, 1], tris[k, 2]
            w0, w1 = bary[py, px, 0], bary[py, px, 1]
            w2 = 1.0 - w0 - w1
            dif = w0 * light[a, 0] + w1 * light[b, 0] + w2 * light[cc, 0]
            spec = w0 * light[a, 1] + w1 * light[b, 1] + w2 * light[cc, 1]
            if material[k] != 0:
                for ch in range(3):
                    out[py, px, ch] = colors[a, ch] * dif + 0.05 * spec
                continue
            th = w0 * attrs[a, 0] + w1 * attrs[b, 0] + w2 * attrs[cc, 0]
            ph = w0 * attrs[a, 1] + w1 * attrs[b, 1] + w2 * attrs[cc, 1]
            fx = w0 * attrs[a, 2] + w1 * attrs[b, 2] + w2 * attrs[cc, 2]
            fyt = w0 * attrs[a, 3] + w1 * attrs[b, 3] + w2 * attrs[cc, 3]
            # bilinear fetch of the albedo texture
            u = min(max((th + math.pi) / (2.0 * math.pi) * (Wt - 1), 0.0), Wt - 1.001)
            v = min(max((P[TEX_PHI1] - ph) / (P[TEX_PHI1] - P[TEX_PHI0]) * (Ht - 1), 0.0), Ht - 1.001)
            iu, iv = int(u), int(v)
            fu, fv = u - iu, v - iv
            for ch in range(3):
                c[ch] = ((tex[iv, iu, ch] * (1 - fu) + tex[iv, iu + 1, ch] * fu) * (1 - fv)
                         + (tex[iv + 1, iu, ch] * (1 - fu) + tex[iv + 1, iu + 1, ch] * fu) * fv)
            if abs(fx) < 1.0 and tex[iv, iu, 3] < 0.98:
                if abs(fyt - my) < slit:
                    _mouth_interior(c, fx, fyt, P)
                else:
                    fy = fyt - slit if fyt > my else fyt + slit
                    if DECAL_FY[0] < fy < DECAL_FY[1]:  # bilinear fetch of the baked decal
                        du = min((fx + 1.0) * 0.5 * (Wd - 1), Wd - 1.001)
                        dv = min((DECAL_FY[1] - fy) / (DECAL_FY[1] - DECAL_FY[0]) * (Hd - 1), Hd - 1.001)
                        ju, jv = int(du), int(dv)
                        gu, gv = du - ju, dv - jv
                        for ch in range(3):
                            A = ((decal[jv, ju, ch] * (1 - gu) + decal[jv, ju + 1, ch] * gu) * (1 - gv)
                                 + (decal[jv + 1, ju, ch] * (1 - gu) + decal[jv + 1, ju + 1, ch] * gu) * gv)
                            B = ((decal[jv, ju, ch + 3] * (1 - gu) + decal[jv, ju + 1, ch + 3] * gu) * (1 - gv)
                                 + (decal[jv + 1, ju, ch + 3] * (1 - gu) + decal[jv + 1, ju + 1, ch + 3] * gu) * gv)
                            c[ch] = A * c[ch] + B
                        _eye_dynamic(c, fx, fy, P, eye)
            sheen = 0.18 if tex[iv, iu, 3] > 0.5 else 0.1
            for ch in range(3):
                out[py, px, ch] = c[ch] * dif + sheen * spec


@njit(cache=True)
def downsample(img, ss, out):
    """Box-filter (H*ss, W*ss, 3) float image into (H, W, 3) uint8 `out` (anti-aliasing)."""
    H, W = out.shape[0], out.shape[1]
    norm = 255.0 / (ss * ss)
    for y in range(H):
        for x in range(W):
            for ch in range(3):
                s = 0.0
                for dy in range(ss):
                    for dx in range(ss):
                        s += img[y * ss + dy, x * ss + dx, ch]
                out[y, x, ch] = min(max(int(s * norm + 0.5), 0), 255)


@njit(cache=True)
def edge_antialias(tri_id, material, out):
    """Smooth silhouette pixels of a 1x render in place (uint8 `out`, (H, W, 3)).

    A pixel is on a silhouette when a 4-neighbour shows another object (background, head or
    body). Those pixels are replaced by a 3x3 tent-filtered average: a cheap morphological
    anti-aliasing for resolutions where supersampling would cost too much.
    """
    H, W = tri_id.shape
    obj = np.empty((H, W), np.int8)
    for y in range(H):
        for x in range(W):
            k = tri_id[y, x]
            obj[y, x] = -1 if k < 0 else material[k]
    src = out.copy()
    for y in range(1, H - 1):
        for x in range(1, W - 1):
            o = obj[y, x]
            if o == obj[y - 1, x] and o == obj[y + 1, x] and o == obj[y, x - 1] and o == obj[y, x + 1]:
                continue
            for ch in range(3):
                s = 4.0 * src[y, x, ch]
                s += 2.0 * (src[y - 1, x, ch] + src[y + 1, x, ch] + src[y, x - 1, ch] + src[y, x + 1, ch])
                s += src[y - 1, x - 1, ch] + src[y - 1, x + 1, ch] + src[y + 1, x - 1, ch] + src[y + 1, x + 1, ch]
                out[y, x, ch] = int(s / 16.0 + 0.5)
