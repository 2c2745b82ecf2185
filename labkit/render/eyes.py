"""Closed lids for the landmark renderer: what a photo shows where its eye has shut.

A blink moves the upper lid's landmarks down onto the lower lid, and the warp stretches the skin above the
eye down with them, so the lid is the photo's own skin. But the eye's opening is not a straight slit: between
the lids' curves a sliver of the eye's own pixels (white, iris) is left, squeezed into a few pixels, and it
reads as a dark fleck in a closed eye. As the lids meet, that sliver is covered with the colour of the lid
skin just above the eye, with the photo's own grain, faded in over the last part of the blink.
"""
from __future__ import annotations

import cv2
import numpy as np

from labkit.render.mouth import _polygon_mask

EYES = (list(range(36, 42)), list(range(42, 48)))   # iBUG eye contours: corner, upper lid ×2, corner, lower lid ×2
BROWS = (list(range(17, 22)), list(range(22, 27)))   # the brow above each eye
SHUT = (0.75, 0.95)                                   # blink amounts over which the cover fades in
FEATHER = 0.01                                       # blur of the cover's edge, in inter-ocular distances


class Lids:
    """Covers closing eyes with lid skin; see the module docstring.

    image: the photo (H, W, 3) uint8; src: its 68 landmarks (68, 2) in its pixels."""

    def __init__(self, image: np.ndarray, src: np.ndarray):
        src = np.asarray(src[:68], np.float64)
        self.iod = float(np.linalg.norm(src[36] - src[45]))
        H, W = image.shape[:2]
        self.skin = []
        for eye, brow in zip(EYES, BROWS):
            # the lid skin: a third of the way from the upper lid up to the brow, across the eye's middle
            lid = src[eye[1:3]].mean(0)
            top = src[brow].mean(0)
            at = lid + (top - lid) * np.linspace(0.2, 0.45, 5)[:, None]
            span = np.linspace(-0.25, 0.25, 5) * np.linalg.norm(src[eye[3]] - src[eye[0]])
            pts = (at[:, None, :] + np.stack([span, np.zeros(5)], 1)[None]).reshape(-1, 2)
            rgb = image[np.round(pts[:, 1]).astype(int).clip(0, H - 1),
                        np.round(pts[:, 0]).astype(int).clip(0, W - 1)]
            self.skin.append(np.median(rgb.astype(np.float32), 0))
        self._grain = np.random.default_rng(1).normal(0, 1.5, (32, 32)).astype(np.float32)

    def paint(self, frame: np.ndarray, dst: np.ndarray, blink: float) -> None:
        """Cover what is left of each eye's opening (target landmarks `dst` (P, 2)) on `frame` (H, W, 3), in place."""
        a = float(np.clip((blink - SHUT[0]) / (SHUT[1] - SHUT[0]), 0, 1))
        if a <= 0:
            return
        size = np.array(frame.shape[1::-1])
        feather = max(0.4, FEATHER * self.iod)
        for eye, skin in zip(EYES, self.skin):
            poly = np.asarray(dst[eye], np.float64)
            lo = (np.floor(poly.min(0)).astype(int) - 3).clip(0, size)
            hi = (np.ceil(poly.max(0)).astype(int) + 4).clip(0, size)
            if (hi - lo).min() <= 0:
                continue
            h, w = hi[1] - lo[1], hi[0] - lo[0]
            mask = _polygon_mask(poly, lo, (h, w))
            mask = cv2.GaussianBlur(cv2.dilate(mask, np.ones((3, 3), np.float32)), (0, 0), feather)[..., None] * a
            grain = self._grain[np.ix_(np.arange(lo[1], hi[1]) % 32, np.arange(lo[0], hi[0]) % 32)][..., None]
            region = frame[lo[1]:hi[1], lo[0]:hi[0]].astype(np.float32)
            out = region * (1 - mask) + (skin + grain) * mask
            frame[lo[1]:hi[1], lo[0]:hi[0]] = np.round(out).clip(0, 255).astype(np.uint8)
