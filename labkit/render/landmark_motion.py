"""Motion → 68 landmarks: the map that lets generated motion drive a photo (labkit's landmark renderer).

VASA-1 decodes its motion latents with its own face decoder; a photo outside the face latent
model's domain has no such decoder, so labkit moves the photo's landmarks instead
(:mod:`labkit.render.landmarks`). This module learns, on SynthTalk -- where motion and
landmarks are both known exactly -- how the expression factors (jaw, lips, brows, blinks,
emotion) displace each of the 68 iBUG landmarks in 3D, in units of the inter-ocular distance
(IOD) so that the map transfers across face sizes. Head pose is not learned: it is geometry,
applied by the renderer as a rotation of the lifted landmarks.

The data: for `n_identities` SynthTalk train identities and `samples` random expressions each,
the exact 3D landmarks of the head mesh (blendshapes applied, eyelids blended, pose zero) minus
the identity's neutral ones. A ridge regression on :func:`expression_features` is fit on train
identities and scored (R²) on test identities.

SynthTalk's emotions are mild: learned from its meshes alone, a full-intensity smile lifts a photo's
mouth corners by about 0.04 IOD (under 3 pixels of a 256-pixel crop), too little to read on a
real face. On top of the learned map each emotion therefore adds its prototype in FACS action units
(Ekman & Friesen's EMFACS: happiness AU6+12, sadness AU1+4+15, anger AU4+5+7+23, surprise
AU1+2+5+26), written out as landmark displacements (:data:`ACTION_UNITS`) and scaled by the emotion's
intensity. The eyelid units (AU5, AU6, AU7) and the jaw drop (AU26) are left to the learned map,
which already narrows happy and angry eyes, widens surprised ones and drops a surprised jaw, and
keeps the lids consistent with blinks.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from sklearn.linear_model import Ridge
from sklearn.metrics import r2_score

from labkit.synthtalk import sample_identity, split_identities
from labkit.synthtalk.factors import EMOTIONS, FACTOR_NAMES, array_to_factors
from labkit.synthtalk.head import build_rig
from labkit.synthtalk.renderer import expression_weights

IOD_POINTS = (36, 45)                               # outer eye corners
_EXPRESSION = ("jaw", "lip_spread", "lip_round", "brow", "blink")
FEATURE_NAMES = (*_EXPRESSION, *EMOTIONS[1:], *(f"blink*{e}" for e in EMOTIONS[1:]))
_COL = {n: i for i, n in enumerate(FACTOR_NAMES)}

# FACS action units as displacements of the 68 iBUG points at unit strength: {points: (outward, up)}.
# A pair (left, right) names a point of the image's left half and its mirror (outward: away from the
# face's vertical midline). The profiles fall off along each brow and lip from where the muscle pulls.
ACTION_UNITS: dict[str, dict[tuple[int, ...], tuple[float, float]]] = {
    "AU1": {(21, 22): (0.0, 1.0), (20, 23): (0.0, 0.8), (19, 24): (0.0, 0.5),        # inner brow raiser
            (18, 25): (0.0, 0.25), (17, 26): (0.0, 0.1)},
    "AU2": {(17, 26): (0.0, 1.0), (18, 25): (0.0, 0.9), (19, 24): (0.0, 0.65),       # outer brow raiser
            (20, 23): (0.0, 0.35), (21, 22): (0.0, 0.15)},
    "AU4": {(21, 22): (-0.4, -1.0), (20, 23): (-0.3, -0.8), (19, 24): (-0.15, -0.5),  # brow lowerer: down and
            (18, 25): (0.0, -0.25), (17, 26): (0.0, -0.1)},                        # drawn together
    "AU12": {(48, 54): (0.5, 1.0), (60, 64): (0.5, 1.0), (49, 53): (0.2, 0.45),       # lip corner puller: up and
             (59, 55): (0.2, 0.45), (61, 63): (0.15, 0.35), (67, 65): (0.15, 0.35),  # out toward the cheekbone
             (50, 52): (0.05, 0.15), (58, 56): (0.05, 0.15)},
    "AU15": {(48, 54): (0.05, -1.0), (60, 64): (0.05, -1.0), (49, 53): (0.0, -0.45),  # lip corner depressor
             (59, 55): (0.0, -0.45), (61, 63): (0.0, -0.35), (67, 65): (0.0, -0.35),
             (50, 52): (0.0, -0.15), (58, 56): (0.0, -0.15)},
    "AU23": {(48, 54): (-0.6, 0.0), (60, 64): (-0.6, 0.0), (49, 53): (-0.2, -0.6),    # lip tightener: narrower
             (50, 52): (0.0, -0.9), (51,): (0.0, -1.0), (59, 55): (-0.2, 0.6),       # lips, their red thinned
             (58, 56): (0.0, 0.9), (57,): (0.0, 1.0)},                             # toward the lip line
}
# each emotion's prototype: action unit → strength in IODs at intensity 1, sized on a real photo to be
# read at a glance (dlib sees it too: tests/test_expression_visibility.py) without caricature
EMOTION_ACTION_UNITS: dict[str, dict[str, float]] = {
    "neutral": {},
    "happy": {"AU12": 0.06},
    "sad": {"AU1": 0.06, "AU4": 0.02, "AU15": 0.07},
    "angry": {"AU4": 0.06, "AU23": 0.03},
    "surprised": {"AU1": 0.04, "AU2": 0.06},
}


def action_unit_displacement(unit: str) -> np.ndarray:
    """One action unit at unit strength → displacement (68, 3) in IODs (x right, y up, z to camera)."""
    d = np.zeros((68, 3), np.float32)
    for points, (outward, up) in ACTION_UNITS[unit].items():
        for side, i in zip((-1.0, 1.0) if len(points) == 2 else (0.0,), points):
            d[i, :2] = side * outward, up
    return d


def emotion_displacement() -> np.ndarray:
    """Each emotion's action-unit prototype at intensity 1: (len(EMOTIONS), 68, 3) in IODs."""
    return np.stack([sum((w * action_unit_displacement(u) for u, w in EMOTION_ACTION_UNITS[e].items()),
                         np.zeros((68, 3), np.float32)) for e in EMOTIONS]).astype(np.float32)


def expression_features(factors: np.ndarray, emotion) -> np.ndarray:
    """Factors (T, F) and emotion index (T,) or scalar → features (T, len(FEATURE_NAMES)).

    The emotion enters as intensity on its category (neutral: nothing), and times the blink,
    because SynthTalk's eyelid opening is (1 - blink)·(1 + eye change of the emotion). The intensity
    is clipped to its range [0, 1]: a linear map only holds over the intensities it was fit on."""
    f = np.asarray(factors, np.float32)
    if f.ndim != 2 or f.shape[1] != len(FACTOR_NAMES):
        raise ValueError(f"factors must have shape (T, {len(FACTOR_NAMES)}), got {f.shape}")
    T = len(f)
    emo = np.broadcast_to(np.asarray(emotion, np.int64), (T,))
    if emo.min(initial=0) < 0 or emo.max(initial=0) >= len(EMOTIONS):
        raise ValueError(f"emotion indices must be in 0..{len(EMOTIONS) - 1}")
    onehot = np.zeros((T, len(EMOTIONS)), np.float32)
    onehot[np.arange(T), emo] = np.clip(f[:, _COL["emotion_intensity"]], 0.0, 1.0)
    expr = f[:, [_COL[n] for n in _EXPRESSION]]
    blink = f[:, _COL["blink"], None]
    return np.concatenate([expr, onehot[:, 1:], blink * onehot[:, 1:]], 1)


@dataclass(frozen=True)
class LandmarkMotion:
    """A linear map: features (T, E) → 3D landmark displacement (T, 68, 3), in IODs (x right, y up, z to camera),
    plus the emotion's action units (EMOTION_ACTION_UNITS) times its intensity."""
    weight: np.ndarray     # (E, 68 * 3)
    bias: np.ndarray       # (68 * 3,)
    test_r2: float         # R² of the displacement on test identities

    def displacement(self, factors: np.ndarray, emotion) -> np.ndarray:
        """Factors (T, F), emotion (T,) or scalar → displacement (T, 68, 3) in IODs."""
        x = expression_features(factors, emotion)
        learned = (x @ self.weight + self.bias).reshape(len(x), 68, 3)
        # the intensity of each frame's emotion sits on its one-hot feature (zero for neutral)
        per_emotion = x[:, len(_EXPRESSION):len(_EXPRESSION) + len(EMOTIONS) - 1]      # (T, E - 1)
        units = np.einsum("te,epd->tpd", per_emotion, _EMOTION_DISPLACEMENT[1:])
        return (learned + units).astype(np.float32)


_EMOTION_DISPLACEMENT = emotion_displacement()      # (E, 68, 3)


def _random_factors(rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray]:
    """n random expressions at pose zero: factors (n, F) and emotion indices (n,)."""
    f = np.zeros((n, len(FACTOR_NAMES)), np.float32)
    f[:, _COL["distance"]] = 1.0
    for name in ("jaw", "lip_spread", "lip_round", "emotion_intensity"):
        f[:, _COL[name]] = rng.uniform(0, 1, n)
    f[:, _COL["brow"]] = rng.uniform(-1, 1, n)
    f[:, _COL["blink"]] = np.where(rng.uniform(size=n) < 0.5, 0.0, rng.uniform(0, 1, n))
    return f, rng.integers(0, len(EMOTIONS), n)


def _mesh_landmarks(identity_id: int, factors: np.ndarray, emotion: np.ndarray) -> tuple[np.ndarray, float]:
    """Exact 3D landmarks (n, 68, 3) of one identity's head mesh for each expression, minus its
    neutral ones, and its neutral IOD (head units)."""
    rig = build_rig(sample_identity(int(identity_id)))

    def landmarks(weights, openness):
        v = rig.vertices + np.tensordot(weights, rig.blendshapes, axes=1)
        lm = np.einsum("cpk,cpkd->cpd", rig.lm_weight, v[rig.lm_index])          # (2, 68, 3): open, closed
        return lm[1] + openness * (lm[0] - lm[1])

    neutral = landmarks(np.zeros(len(rig.blendshapes), np.float32), 1.0)
    iod = float(np.linalg.norm(neutral[IOD_POINTS[0]] - neutral[IOD_POINTS[1]]))
    fd = array_to_factors(factors, emotion)
    out = np.stack([landmarks(*expression_weights(fd, t)) for t in range(len(factors))])
    return out - neutral, iod


@lru_cache(maxsize=2)
def fit_landmark_motion(n_identities: int = 24, samples: int = 48, seed: int = 0) -> LandmarkMotion:
    """Fit the map on SynthTalk train identities and score it on test identities (a few seconds)."""


    rng = np.random.default_rng(seed)

    def data(split: str, n: int):
        X, Y = [], []
        for i in split_identities(split)[:n]:
            f, e = _random_factors(rng, samples)
            d, iod = _mesh_landmarks(int(i), f, e)
            X.append(expression_features(f, e))
            Y.append(d.reshape(samples, -1) / iod)
        return np.concatenate(X), np.concatenate(Y)

    X, Y = data("train", n_identities)
    Xt, Yt = data("test", max(4, n_identities // 4))
    ridge = Ridge(alpha=1e-3).fit(X, Y)
    moving = Yt.std(0) > 1e-6                                                # points an expression moves
    r2 = float(r2_score(Yt[:, moving], ridge.predict(Xt)[:, moving], multioutput="variance_weighted"))
    return LandmarkMotion(weight=ridge.coef_.T.astype(np.float32), bias=ridge.intercept_.astype(np.float32), test_r2=r2)
