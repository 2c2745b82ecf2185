"""The mouth interior for the landmark renderer: what a photo shows when its lips part further than they do.

When the warp opens a mouth, every pixel inside the target inner-lip contour must come from somewhere:

- **the photo's own teeth**, where its lips are parted and teeth show: the photo's mouth interior is cut along
  the line midway between the lips; the upper part moves with the upper lip (the upper teeth are fixed to the
  skull), the lower part with the lower lip (the lower teeth ride on the jaw), each kept at its own size, so
  opening reveals a gap between them instead of stretching the teeth;
- **synthesised teeth** otherwise: a band of upper teeth under the upper lip (8 % of the
  inter-ocular distance deep at most, shaded darker toward its lower edge and the mouth corners, each tooth marked by
  a faint gap and a rounded edge), and at wide openings the lower incisors and a tongue, coloured from the photo's own
  skin and lips so they sit in its light;
- **the cavity** behind them: the lips' hue, darker the further a pixel lies from the lip edge.

The inner-lip contour is a smooth curve through the landmarks and every layer has soft edges (the mask is
anti-aliased and feathered), so nothing reads as a polygon; what is painted carries the photo's own grain, so
nothing reads as a flat fill.
"""
from __future__ import annotations

import cv2
import numpy as np
from scipy.interpolate import PchipInterpolator

INNER = list(range(60, 68))       # iBUG inner-lip points (0-based): 60 left corner, 61-63 upper, 64 right, 65-67 lower
UPPER, LOWER = [61, 62, 63], [67, 66, 65]   # upper inner lip left→right and the lower points below them
TEETH_WHITE = np.array([236, 230, 218], np.float32)   # enamel under neutral light, before the photo's own
GRAIN = 64                        # px: side of the tile of grain the interior is given
IVORY = np.array([1.0, 0.97, 0.88], np.float32)       # dentine shows through enamel: teeth are never blue-white
FEATHER = 0.0068                  # blur of the interior's edge, in inter-ocular distances (0.5 px at 256 px crops)
# Where neighbouring teeth meet, as fractions of the mouth's half-width from the middle: incisors, canine, premolars
# foreshortened along the dental arch; the lower incisors are narrower.
UPPER_TEETH = (0.0, 0.2, 0.37, 0.52)
LOWER_TEETH = (0.0, 0.13, 0.26)


def _luma(rgb: np.ndarray) -> np.ndarray:
    return np.asarray(rgb, np.float32) @ np.array([0.299, 0.587, 0.114], np.float32)


def _curve(points: np.ndarray, x: np.ndarray) -> np.ndarray:
    """y of the smooth curve through `points` (N, 2) at the columns x: a shape-preserving cubic (PCHIP: no
    overshoot, so a lip never bulges past its landmarks), flat beyond the ends."""
    p = points[np.argsort(points[:, 0], kind="stable")]
    px = p[0, 0] + np.maximum.accumulate(p[:, 0] - p[0, 0]) + 1e-3 * np.arange(len(p))   # strictly increasing
    return PchipInterpolator(px, p[:, 1], extrapolate=False)(np.clip(x, px[0], px[-1]))


def lip_contour(points: np.ndarray, n: int = 24) -> np.ndarray:
    """The inner-lip contour (2n, 2) of 68 landmarks as a smooth closed curve: the upper inner lip from
    corner to corner, then the lower one back (never above the upper)."""
    x = np.linspace(points[60, 0], points[64, 0], n)
    top = _curve(points[[60, *UPPER, 64]], x)
    bottom = np.maximum(_curve(points[[60, *LOWER, 64]], x), top)
    return np.concatenate([np.stack([x, top], 1), np.stack([x, bottom], 1)[::-1]])


def _tooth_gaps(s: np.ndarray, edges: tuple) -> np.ndarray:
    """Shading (…) in (0, 1] that darkens the thin gaps between teeth at the signed mouth positions `edges`
    (fractions of the half-width; s in [-1, 1], 0 at the middle)."""
    shade = np.ones_like(s)
    for e in edges:
        for c in ((0.0,) if e == 0 else (-e, e)):
            shade = np.minimum(shade, 1 - 0.16 * np.exp(-((s - c) / 0.025) ** 2))
    return shade


def _polygon_mask(poly: np.ndarray, lo: np.ndarray, shape: tuple[int, int], ss: int = 4) -> np.ndarray:
    """Anti-aliased coverage (h, w) float32 in [0, 1] of polygon `poly` (N, 2) in a box starting at `lo`."""
    h, w = shape
    big = np.zeros((h * ss, w * ss), np.uint8)
    cv2.fillPoly(big, [np.round((poly - lo) * ss * 16).astype(np.int32)], 255, lineType=cv2.LINE_AA, shift=4)
    return cv2.resize(big, (w, h), interpolation=cv2.INTER_AREA).astype(np.float32) / 255


class Mouth:
    """Paints the mouth interior of one photo; see the module docstring.

    image: the photo (H, W, 3) uint8 (an aligned crop or the whole photo); src: its control points (P, 2) in
    that image's pixels, the 68 landmarks first."""

    def __init__(self, image: np.ndarray, src: np.ndarray):
        self.image = image
        self.src = np.asarray(src[:68], np.float64)
        self.iod = float(np.linalg.norm(self.src[36] - self.src[45]))
        self.src_gap = float(np.mean(np.linalg.norm(self.src[LOWER] - self.src[UPPER], axis=1)))
        H, W = image.shape[:2]
        pick = lambda pts: image[np.round(pts[:, 1]).astype(int).clip(0, H - 1),   # noqa: E731
                                 np.round(pts[:, 0]).astype(int).clip(0, W - 1)].astype(np.float32)
        lip = pick(self.src[[48, 54, 51, 57, 49, 53, 55, 59]]).mean(0)
        cheeks = np.concatenate([pick((self.src[[31, 35]] + self.src[[48, 54]]) / 2),       # beside the nose wings
                                 pick((self.src[[3, 13]] + self.src[[48, 54]]) / 2)])       # and the cheeks
        skin = np.median(cheeks, 0)
        self.cavity_edge, self.cavity_deep = lip * 0.42, lip * 0.10
        self.tongue = lip * np.array([0.8, 0.62, 0.62], np.float32)        # redder than the lips, in shade
        light = float(np.clip(_luma(skin) / 150.0, 0.7, 1.1))       # how brightly the face is lit
        # in the mouth's shade, warmed by the skin's light: a neutral grey reads as blue beside warm skin
        synthetic = (0.7 * TEETH_WHITE + 0.3 * skin) * IVORY * light
        self.own = self._own_teeth(skin)                          # the photo's mouth interior, if it shows teeth
        # the photo's grain, so that what is painted is as noisy as what is photographed (a painted region
        # without it reads as flat): the fine detail's spread in the face's flattest places (its 10th
        # percentile over 4 x 4 neighbourhoods: edges and texture lie above it, sensor noise does not)
        lo_f = np.floor(self.src.min(0)).astype(int).clip(0, None)
        face = _luma(image[lo_f[1]:int(self.src[:, 1].max()) + 1, lo_f[0]:int(self.src[:, 0].max()) + 1])
        sigma = 1.0
        if min(face.shape) >= 8:
            detail = face - cv2.GaussianBlur(face, (0, 0), 1.0)
            sigma = float(np.percentile(np.sqrt(cv2.blur(detail ** 2, (4, 4))), 10))
        self._grain = np.random.default_rng(0).normal(0, float(np.clip(sigma, 1.0, 4.0)), (GRAIN, GRAIN)) \
            .astype(np.float32)
        self.teeth = synthetic if self.own is None else self.own["colour"]

    def _own_teeth(self, skin: np.ndarray) -> dict | None:
        """The photo's mouth interior when its lips are parted and teeth show, else None."""
        if self.src_gap < 0.04 * self.iod:
            return None
        lips = lip_contour(self.src)
        lo = np.floor(lips.min(0)).astype(int) - 1
        hi = np.ceil(lips.max(0)).astype(int) + 2
        size = np.array(self.image.shape[1::-1])                  # (W, H)
        lo, hi = lo.clip(0, size), hi.clip(0, size)
        mask = _polygon_mask(lips, lo, (hi[1] - lo[1], hi[0] - lo[0]))
        patch = self.image[lo[1]:hi[1], lo[0]:hi[0]].astype(np.float32)
        rgb = patch[mask > 0.5]
        if len(rgb) < 8:
            return None
        sat = (rgb.max(1) - rgb.min(1)) / np.maximum(rgb.max(1), 1)
        bright = (_luma(rgb) > 0.75 * _luma(skin)) & (sat < 0.35)
        if bright.mean() < 0.25:                                 # parted lips, but no teeth to speak of
            return None
        x = np.arange(lo[0], hi[0], dtype=np.float64)
        mid = (_curve(self.src[[60, *UPPER, 64]], x) + _curve(self.src[[60, *LOWER, 64]], x)) / 2
        upper_half = (np.arange(lo[1], hi[1])[:, None] < mid[None])[mask > 0.5]
        teeth_in = lambda half: half.sum() > 0 and bright[half].mean() >= 0.25     # noqa: E731
        return {"colour": np.median(rgb[bright], 0),                    # the teeth's own colour
                "mask": mask, "mask_lo": lo,                            # the interior, in its box
                "halves": [top for top, half in ((True, upper_half), (False, ~upper_half)) if teeth_in(half)]}

    def paint(self, frame: np.ndarray, dst: np.ndarray) -> None:
        """Draw the interior inside the target inner-lip contour of `dst` (P, 2) on `frame` (H, W, 3), in place,
        faded in as the lips part beyond the photo's own opening."""
        dst = np.asarray(dst[:68], np.float64)
        lips = lip_contour(dst)
        gap = float(np.mean(np.linalg.norm(dst[LOWER] - dst[UPPER], axis=1)))
        fade = float(np.clip((gap - self.src_gap) / 2.0, 0, 1))      # no hard switch as the mouth opens
        if fade <= 0:
            return
        size = np.array(frame.shape[1::-1])                          # (W, H)
        lo = (np.floor(lips.min(0)).astype(int) - 2).clip(0, size)
        hi = (np.ceil(lips.max(0)).astype(int) + 3).clip(0, size)
        if (hi - lo).min() <= 0:
            return
        h, w = hi[1] - lo[1], hi[0] - lo[0]
        feather = max(0.35, FEATHER * self.iod)
        mask = cv2.GaussianBlur(_polygon_mask(lips, lo, (h, w)), (0, 0), feather)[..., None]
        x = np.arange(w, dtype=np.float64) + lo[0]
        y = (np.arange(h, dtype=np.float64) + lo[1])[:, None]
        top = _curve(dst[[60, *UPPER, 64]], x)[None]                 # upper inner lip at each column
        bottom = _curve(dst[[60, *LOWER, 64]], x)[None]              # lower inner lip
        height = np.maximum(bottom - top, 1e-3)
        v = np.clip((y - top) / height, 0, 1)                        # 0 at the upper lip, 1 at the lower
        cx, half = (dst[60, 0] + dst[64, 0]) / 2, max((dst[64, 0] - dst[60, 0]) / 2, 1.0)
        signed = np.clip((x - cx) / half, -1, 1)[None]               # -1 at the left corner, 1 at the right
        u = np.abs(signed)                                            # 0 in the middle, 1 at the corners

        # the cavity: lip-coloured at the edge, dark at the back
        depth = np.clip(np.minimum(v, 1 - v) * 2, 0, 1) * (1 - u ** 2)
        k = (depth ** 0.6)[..., None]
        out = self.cavity_edge * (1 - k) + self.cavity_deep * k

        s = self.iod / 100.0                                          # sizes in hundredths of the inter-ocular distance
        if gap > 12 * s:                                              # the tongue, low in a wide mouth
            a = np.clip((v - 0.5) / 0.3, 0, 1) * np.clip(1 - (u / 0.75) ** 2, 0, 1) * 0.9
            out = out * (1 - a[..., None]) + self.tongue * a[..., None]
        own = [] if self.own is None else self.own["halves"]         # where the photo shows teeth (True: upper)
        if gap > 14 * s and False not in own:                         # the lower incisors, on the jaw, mid-mouth
            band = min(5 * s, 0.18 * gap) * (1 - 0.3 * u ** 2)        # half hidden by the lower lip
            a = (np.clip((y - (bottom - band)) / max(feather, 0.5), 0, 1) * np.clip(1 - (u / 0.5) ** 2, 0, 1)
                 * np.clip((gap - 14 * s) / (4 * s), 0, 1) * 0.85)
            shade = (0.8 + 0.12 * np.clip((bottom - y) / np.maximum(band, 1e-3), 0, 1)) \
                * _tooth_gaps(signed, LOWER_TEETH)
            out = out * (1 - a[..., None]) + (self.teeth * shade[..., None]) * a[..., None]
        if True not in own:                                           # the upper teeth, under the upper lip
            gaps = _tooth_gaps(signed, UPPER_TEETH)
            band = min(8 * s, 0.45 * gap) * (1 - 0.25 * u ** 2) * (0.9 + 0.1 * gaps)   # each tooth's edge rounded
            a = np.clip((top + band - y) / max(feather, 0.5), 0, 1) * np.clip(1 - (u / 0.85) ** 4, 0, 1)
            shade = (1.0 - 0.22 * np.clip((y - top) / np.maximum(band, 1e-3), 0, 1)) * (1 - 0.35 * u ** 2) * gaps
            out = out * (1 - a[..., None]) + (self.teeth * shade[..., None]) * a[..., None]
        for top_half in own:                                          # the photo's own, each half with its lip
            pixels, a = self._own_part(dst, lo, (h, w), top_half=top_half)
            out = out * (1 - a[..., None]) + pixels * a[..., None]

        ys, xs = np.arange(lo[1], hi[1]) % GRAIN, np.arange(lo[0], hi[0]) % GRAIN
        out = out + self._grain[np.ix_(ys, xs)][..., None]             # fixed to the frame, like a sensor's
        region = frame[lo[1]:hi[1], lo[0]:hi[0]].astype(np.float32)
        m = mask * fade
        frame[lo[1]:hi[1], lo[0]:hi[0]] = np.round(region * (1 - m) + out * m).clip(0, 255).astype(np.uint8)

    def _own_part(self, dst: np.ndarray, lo: np.ndarray, shape: tuple[int, int], *, top_half: bool):
        """The photo's upper (or lower) mouth interior, moved with the upper (lower) lip, at its own size:
        pixels (h, w, 3) float32 and their coverage (h, w) in the box starting at `lo`."""
        h, w = shape
        idx = UPPER if top_half else LOWER
        shift = dst[idx].mean(0) - self.src[idx].mean(0)              # where that lip went
        widen = (dst[64, 0] - dst[60, 0]) / max(self.src[64, 0] - self.src[60, 0], 1e-3)
        cx_d, cx_s = (dst[60, 0] + dst[64, 0]) / 2, (self.src[60, 0] + self.src[64, 0]) / 2
        xs = cx_s + (np.arange(w) + lo[0] - cx_d) / widen               # target column → photo column
        ys = np.arange(h) + lo[1] - shift[1]
        map_x = np.broadcast_to(xs[None], (h, w)).astype(np.float32)
        map_y = np.broadcast_to(ys[:, None], (h, w)).astype(np.float32)
        pixels = cv2.remap(self.image, map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
        mlo = self.own["mask_lo"]
        cover = cv2.remap(self.own["mask"], map_x - np.float32(mlo[0]), map_y - np.float32(mlo[1]), cv2.INTER_LINEAR,
                          borderValue=0)
        mid = (_curve(self.src[[60, *UPPER, 64]], xs) + _curve(self.src[[60, *LOWER, 64]], xs)) / 2
        side = (mid[None] - map_y) if top_half else (map_y - mid[None])   # this half of the photo's interior
        cover = cover * np.clip(side + 0.5, 0, 1)
        return pixels.astype(np.float32), cover
