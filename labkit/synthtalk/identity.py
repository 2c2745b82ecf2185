"""SynthTalk identities: everything about a person that stays fixed over a clip.

An :class:`Identity` is drawn deterministically from an integer id, so identity 1234 is the
same face on every machine. Continuous shape and appearance parameters make the space of
identities effectively unbounded; the train/val/test splits own disjoint id sets
(see :mod:`labkit.synthtalk.dataset`).

Shape parameters are in *head units*: the skull's half-width is 1 (about 7.5 cm on a real
adult), the face chart (θ, φ) is azimuth/elevation on that skull in radians, and feature
positions are given as normalised frontal coordinates (x right, y up), see ``head.chart``.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

HAIR_STYLES = ("bald", "buzz", "short", "fringe", "bob", "bun")
GLASSES = ("none", "round", "rect")

# Skin tones spanning light to deep (linear-ish sRGB in [0, 1]), loosely following the
# ten-step Monk skin tone scale; an identity interpolates between two neighbours.
_SKIN = np.array([
    [0.96, 0.85, 0.77], [0.93, 0.78, 0.67], [0.88, 0.71, 0.58], [0.80, 0.62, 0.48],
    [0.72, 0.53, 0.39], [0.62, 0.44, 0.31], [0.52, 0.36, 0.25], [0.42, 0.29, 0.20],
    [0.33, 0.23, 0.16], [0.25, 0.17, 0.12]])
_HAIR = np.array([
    [0.06, 0.05, 0.05], [0.17, 0.11, 0.07], [0.32, 0.20, 0.11], [0.55, 0.38, 0.20],
    [0.80, 0.66, 0.42], [0.55, 0.22, 0.10], [0.62, 0.62, 0.62], [0.88, 0.87, 0.85]])
_IRIS = np.array([
    [0.25, 0.14, 0.07], [0.40, 0.25, 0.10], [0.30, 0.45, 0.65], [0.32, 0.48, 0.32],
    [0.45, 0.50, 0.52], [0.50, 0.38, 0.18]])


@dataclass(frozen=True)
class Identity:
    """One SynthTalk person. Every field is fixed for the identity's lifetime."""
    id: int                       # the integer the identity was drawn from
    # --- skull and face shape (head units) ---
    head_size: tuple[float, float, float] = (1.0, 1.35, 1.15)  # ellipsoid half-axes a (width), b (height), c (depth)
    jaw_taper: float = 0.25       # how much narrower the jaw is than the cheekbones (0 = square)
    chin: float = 0.08            # forward protrusion of the chin
    cheek: float = 0.05           # fullness of the cheeks
    eye_x: float = 0.42           # half the distance between the eye centres (frontal x)
    eye_y: float = 0.16           # eye height above the head centre (frontal y)
    eye_w: float = 0.20           # half-width of the eye opening (frontal x)
    eye_h: float = 0.075          # height of the open upper lid above the eye centre
    eye_tilt: float = 0.0         # outer corners up (+) or down (-), frontal y
    brow_y: float = 0.36          # brow height (frontal y)
    brow_arch: float = 0.05       # brow arch height
    brow_thick: float = 0.045     # brow thickness
    nose_len: float = 0.56        # from brow line to nose tip (frontal y)
    nose_w: float = 0.15          # half-width of the nostril wings
    nose_out: float = 0.30        # nose tip protrusion
    mouth_y: float = -0.51        # height of the lip line
    mouth_w: float = 0.33         # half-width of the mouth
    lip_up: float = 0.07          # upper lip thickness
    lip_lo: float = 0.09          # lower lip thickness
    # --- appearance ---
    skin: tuple[float, float, float] = (0.80, 0.62, 0.48)  # albedo RGB
    lip_color: tuple[float, float, float] = (0.70, 0.38, 0.36)
    iris: tuple[float, float, float] = (0.30, 0.18, 0.08)
    hair_color: tuple[float, float, float] = (0.17, 0.11, 0.07)
    hair_style: str = "short"     # one of HAIR_STYLES
    beard: float = 0.0            # stubble darkness on the lower face, 0 = none
    glasses: str = "none"         # one of GLASSES
    glasses_color: tuple[float, float, float] = (0.1, 0.1, 0.1)
    cloth_color: tuple[float, float, float] = (0.2, 0.3, 0.5)
    # --- scene ---
    background: tuple[tuple[float, float, float], tuple[float, float, float]] = ((0.6, 0.65, 0.7), (0.3, 0.32, 0.4))
    light_dir: tuple[float, float, float] = (0.3, 0.5, 0.8)  # unit vector toward the key light, camera coordinates
    ambient: float = 0.45         # ambient light level


def _lerp_palette(rng: np.random.Generator, palette: np.ndarray, jitter: float) -> tuple[float, float, float]:
    i = rng.uniform(0, len(palette) - 1)
    lo = int(i)
    c = palette[lo] * (1 - (i - lo)) + palette[min(lo + 1, len(palette) - 1)] * (i - lo)
    c = np.clip(c * (1 + rng.normal(0, jitter, 3)), 0.02, 0.98)
    return tuple(float(x) for x in c)


def sample_identity(identity_id: int) -> Identity:
    """Draw identity ``identity_id`` (any non-negative int), deterministically."""
    if identity_id < 0:
        raise ValueError(f"identity id must be >= 0, got {identity_id}")
    rng = np.random.default_rng([int(identity_id), 0x5EED_FACE])
    u = rng.uniform
    skin = _lerp_palette(rng, _SKIN, 0.03)
    skin_arr = np.array(skin)
    lip = tuple(float(x) for x in np.clip(skin_arr * np.array([0.92, 0.62, 0.64]) * u(0.8, 1.0)
                                           + np.array([0.06, 0.0, 0.02]), 0, 1))
    style = HAIR_STYLES[rng.choice(len(HAIR_STYLES), p=[0.06, 0.14, 0.30, 0.2, 0.2, 0.1])]
    hair = _HAIR[rng.integers(len(_HAIR))] * u(0.85, 1.15)
    bg_hue = rng.uniform(0.15, 0.85, 3)
    bg2 = np.clip(bg_hue * u(0.35, 0.8), 0.03, 1)
    az, el = u(-0.7, 0.7), u(0.15, 0.7)
    light = np.array([np.sin(az) * np.cos(el), np.sin(el), np.cos(az) * np.cos(el)])
    return Identity(
        id=int(identity_id),
        head_size=(u(0.93, 1.07), u(1.28, 1.45), u(1.08, 1.22)),
        jaw_taper=u(0.12, 0.38), chin=u(0.03, 0.14), cheek=u(0.0, 0.09),
        eye_x=u(0.39, 0.46), eye_y=u(0.12, 0.2), eye_w=u(0.18, 0.22), eye_h=u(0.065, 0.09),
        eye_tilt=u(-0.02, 0.03),
        brow_y=u(0.33, 0.42), brow_arch=u(0.02, 0.08), brow_thick=u(0.03, 0.06),
        nose_len=u(0.5, 0.62), nose_w=u(0.12, 0.18), nose_out=u(0.2, 0.32),
        mouth_y=u(-0.56, -0.46), mouth_w=u(0.27, 0.36), lip_up=u(0.045, 0.09), lip_lo=u(0.06, 0.11),
        skin=skin, lip_color=lip,
        iris=tuple(float(x) for x in _IRIS[rng.integers(len(_IRIS))] * u(0.8, 1.2)),
        hair_color=tuple(float(x) for x in np.clip(hair, 0.02, 0.95)),
        hair_style=style,
        beard=float(u(0.2, 0.6)) if rng.random() < 0.18 else 0.0,
        glasses=GLASSES[rng.choice(3, p=[0.72, 0.14, 0.14])],
        glasses_color=tuple(float(x) for x in rng.uniform(0.02, 0.45, 3)),
        cloth_color=tuple(float(x) for x in rng.uniform(0.05, 0.9, 3)),
        background=(tuple(float(x) for x in bg_hue), tuple(float(x) for x in bg2)),
        light_dir=tuple(float(x) for x in light),
        ambient=u(0.45, 0.6),
    )
