"""Facial feature curves shared by the shader and the landmark definitions.

Eyes, lips and brows are drawn procedurally in *feature coordinates* (fx, fy): frontal
head units on the neutral skull (see :mod:`labkit.synthtalk.head`). The same scalar functions
place the iBUG-68 landmarks, so what the renderer draws and what the ground truth says can
never drift apart. They are numba-compiled because the shader calls them per pixel.
"""
from __future__ import annotations

import math

from numba import njit


@njit(cache=True)
def lid_curves(eye_y, eye_h, eye_tilt, ex, side):
    """Upper (fully open) and lower eyelid heights at normalised eye position ex ∈ [-1, 1].

    `side` is -1 for the subject's right eye (image left), so o = ex * side is +1 at the outer
    corner. A blink moves the upper lid from `upper` down onto `lower`.
    """
    o = ex * side
    base = eye_y + eye_tilt * o
    arc = max(1.0 - ex * ex, 0.0)
    upper = base + eye_h * arc ** 0.8 * (1.0 - 0.15 * o)
    lower = base - 0.55 * eye_h * arc ** 0.9 * (1.0 + 0.1 * o)
    return upper, lower


@njit(cache=True)
def lip_curves(mouth_y, mouth_w, lip_up, lip_lo, fx):
    """Outer upper-lip and lower-lip outlines (fy) at fx; the lip line itself is mouth_y."""
    t = min(max(fx / mouth_w, -1.0), 1.0)
    arc = math.sqrt(max(1.0 - t * t, 0.0))
    bow = 0.25 * math.exp(-((abs(t) - 0.3) / 0.15) ** 2) - 0.3 * math.exp(-(t / 0.12) ** 2)  # Cupid's bow
    upper = mouth_y + lip_up * (arc + bow) * arc ** 0.3
    lower = mouth_y - lip_lo * max(1.0 - t * t, 0.0) ** 0.6
    return upper, lower


@njit(cache=True)
def brow_curve(brow_y, brow_arch, brow_thick, ax):
    """Brow centre line (fy) and thickness at distance ax = |fx| from the midline."""
    y = brow_y + brow_arch * (1.0 - ((ax - 0.42) / 0.3) ** 2) + 0.02 * (0.16 - ax)
    thick = brow_thick * (1.15 - 0.6 * min(max((ax - 0.14) / 0.58, 0.0), 1.0))
    return y, thick
