"""The SynthTalk factor schema: every per-frame ground-truth factor, its range and unit.

This is the single source of truth shared by the motion generator (which writes factors),
the renderer (which draws them) and every metric that reads them. A ``Factors`` dict maps
each name in FACTOR_NAMES to a (T,) float32 array and "emotion" to a (T,) int64 array of
indices into EMOTIONS.
"""
from __future__ import annotations

import numpy as np

FACTORS: dict[str, tuple[float, float, str]] = {  # name: (low, high, unit / meaning)
    "yaw": (-35, 35, "deg, head rotation left/right, + = subject turns to camera's right"),
    "pitch": (-20, 20, "deg, + = head up"),
    "roll": (-15, 15, "deg, + = head tilts clockwise in the image"),
    "tx": (-0.08, 0.08, "head translation x, fraction of image width"),
    "ty": (-0.08, 0.08, "head translation y, fraction of image height, + = down"),
    "distance": (0.8, 1.25, "head-to-camera distance, 1 = nominal framing"),
    "jaw": (0, 1, "jaw opening"),
    "lip_spread": (0, 1, "horizontal lip stretch (ee, smile)"),
    "lip_round": (0, 1, "lip rounding / protrusion (oo)"),
    "blink": (0, 1, "eyelid closure, 1 = closed"),
    "brow": (-1, 1, "brow raise, - = frown"),
    "gaze_yaw": (-25, 25, "deg, eyeball rotation, + = toward camera's right, like yaw"),
    "gaze_pitch": (-15, 15, "deg, + = up"),
    "emotion_intensity": (0, 1, "strength of the clip's emotion"),
}
FACTOR_NAMES: tuple[str, ...] = tuple(FACTORS)
EMOTIONS: tuple[str, ...] = ("neutral", "happy", "sad", "angry", "surprised")
Factors = dict[str, np.ndarray]  # FACTOR_NAMES -> (T,) float32, plus "emotion" -> (T,) int64


def factors_to_array(f: Factors) -> np.ndarray:
    """Stack the continuous factors in FACTOR_NAMES order: returns (T, F) float32."""
    validate_factors(f)
    return np.stack([f[n] for n in FACTOR_NAMES], axis=1).astype(np.float32)


def array_to_factors(a: np.ndarray, emotion: np.ndarray | int) -> Factors:
    """Inverse of factors_to_array. a: (T, F); emotion: (T,) or a scalar index into EMOTIONS."""
    a = np.asarray(a, dtype=np.float32)
    if a.ndim != 2 or a.shape[1] != len(FACTOR_NAMES):
        raise ValueError(f"expected an array of shape (T, {len(FACTOR_NAMES)}), got {a.shape}")
    f = {n: a[:, i].copy() for i, n in enumerate(FACTOR_NAMES)}
    f["emotion"] = np.broadcast_to(np.asarray(emotion, dtype=np.int64), (len(a),)).copy()
    validate_factors(f)
    return f


def neutral_factors(T: int) -> Factors:
    """T frames of a still, neutral, camera-facing face with a closed mouth."""
    f = {n: np.zeros(T, np.float32) for n in FACTOR_NAMES}
    f["distance"][:] = 1.0
    f["emotion"] = np.zeros(T, np.int64)
    return f


def factor_row(**values: float) -> np.ndarray:
    """One frame (F,) float64 in FACTOR_NAMES order: a still, neutral, camera-facing face at the nominal
    distance, with `values` set by name (e.g. ``factor_row(jaw=0.8, blink=1.0)``)."""
    unknown = sorted(set(values) - set(FACTOR_NAMES))
    if unknown:
        raise ValueError(f"unknown factors {unknown}; the factors are {', '.join(FACTOR_NAMES)}")
    f = np.zeros(len(FACTOR_NAMES))
    f[FACTOR_NAMES.index("distance")] = 1.0
    for name, v in values.items():
        f[FACTOR_NAMES.index(name)] = v
    return f


def validate_factors(f: Factors) -> None:
    """Raise ValueError naming the first bad factor (missing, shape, non-finite, range)."""
    for name in (*FACTOR_NAMES, "emotion"):
        if name not in f:
            raise ValueError(f"factor '{name}' is missing")
    T = len(np.asarray(f["yaw"]))
    for name in (*FACTOR_NAMES, "emotion"):
        x = np.asarray(f[name])
        if x.shape != (T,):
            raise ValueError(f"factor '{name}' has shape {x.shape}, expected ({T},) like 'yaw'")
        if name == "emotion":
            if not np.issubdtype(x.dtype, np.integer) or ((x < 0) | (x >= len(EMOTIONS))).any():
                raise ValueError(f"factor 'emotion' must hold integer indices into {EMOTIONS}")
            continue
        if not np.isfinite(x).all():
            raise ValueError(f"factor '{name}' has non-finite values")
        lo, hi, _ = FACTORS[name]
        if x.min(initial=lo) < lo or x.max(initial=hi) > hi:
            raise ValueError(f"factor '{name}' leaves its range [{lo}, {hi}]: "
                             f"min {x.min():.4g}, max {x.max():.4g}")


def clip_factors(f: Factors) -> Factors:
    """Copy of f with every continuous factor hard-clipped into its range (float32)."""
    out = {n: np.clip(np.asarray(f[n], np.float32), FACTORS[n][0], FACTORS[n][1]) for n in FACTOR_NAMES}
    out["emotion"] = np.asarray(f["emotion"], np.int64).copy()
    return out
