"""Eye and mouth openness from 68 landmarks: scale-free ratios, in SynthTalk's units.

Eye openness is the eye aspect ratio (EAR, Soukupová & Čech, 2016),
    EAR = (|p2 - p6| + |p3 - p5|) / (2 |p1 - p4|)
over one eye's six points p1..p6 (corner, two upper lid, corner, two lower lid), divided by the
EAR of SynthTalk's mean neutral face (:mod:`labkit.faces.template`): 1 = a normally open eye,
0 = closed. On SynthTalk ground truth it equals 1 - blink (the lids interpolate linearly).

Mouth openness is the inner-lip gap over the mouth width,
    (|62 - 68| + |63 - 67| + |64 - 66|) / 3 / |49 - 55|     (iBUG, 1-based)
0 for closed lips; it grows with the jaw opening that carries speech (VASA-1's lip sync).
"""
from __future__ import annotations

from functools import lru_cache

import numpy as np

from labkit.faces.template import mean_face

EYES = ((36, 37, 38, 39, 40, 41), (42, 43, 44, 45, 46, 47))   # subject's right (image left), left; p1..p6
INNER_LIP_PAIRS = ((61, 67), (62, 66), (63, 65))                # upper / lower inner lip, 0-based
MOUTH_CORNERS = (48, 54)
BLINK_THRESHOLD = 0.5     # eye openness below this counts as closed


def _check(landmarks) -> np.ndarray:
    lm = np.asarray(landmarks, np.float64)
    if lm.shape[-2:] != (68, 2):
        raise ValueError(f"landmarks must be (..., 68, 2) iBUG points, got shape {lm.shape}")
    return lm


def eye_aspect_ratio(landmarks: np.ndarray) -> np.ndarray:
    """Raw EAR of each eye: landmarks (..., 68, 2) -> (..., 2) [subject's right, left]."""
    lm = _check(landmarks)
    out = []
    for p1, p2, p3, p4, p5, p6 in EYES:
        d = lambda a, b: np.linalg.norm(lm[..., a, :] - lm[..., b, :], axis=-1)
        out.append((d(p2, p6) + d(p3, p5)) / (2 * np.maximum(d(p1, p4), 1e-9)))
    return np.stack(out, -1)


@lru_cache(maxsize=1)
def _neutral_ear() -> float:
    return float(eye_aspect_ratio(mean_face().unit).mean())


def eye_openness(landmarks: np.ndarray) -> np.ndarray:
    """Eye openness (..., 2) [subject's right, left]: EAR / EAR of SynthTalk's neutral face.
    landmarks: (..., 68, 2)."""
    return eye_aspect_ratio(landmarks) / _neutral_ear()


def eyes_closed(landmarks: np.ndarray, *, threshold: float = BLINK_THRESHOLD) -> np.ndarray:
    """Blink detector: mean openness of both eyes below `threshold`. landmarks (..., 68, 2) -> (...,) bool."""
    return eye_openness(landmarks).mean(-1) < threshold


def mouth_openness(landmarks: np.ndarray) -> np.ndarray:
    """Inner-lip gap / mouth width: landmarks (..., 68, 2) -> (...,); 0 = lips together."""
    lm = _check(landmarks)
    gap = np.mean([np.linalg.norm(lm[..., a, :] - lm[..., b, :], axis=-1) for a, b in INNER_LIP_PAIRS], 0)
    width = np.linalg.norm(lm[..., MOUTH_CORNERS[0], :] - lm[..., MOUTH_CORNERS[1], :], axis=-1)
    return gap / np.maximum(width, 1e-9)
