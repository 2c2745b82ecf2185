"""Solutions to the exercises of notebook 09, "Your portrait".

One function per exercise; each returns plain numbers so that tests/test_solutions_09.py can check them.
Equation numbers refer to the notebook. Every function runs in a few seconds on one CPU core: 128 px crops
and about one second of the bundled speech.
"""
from __future__ import annotations

import logging

import cv2
import numpy as np
from skimage.data import astronaut

from labkit.faces.landmarks import find_face
from labkit.motion.blinks import BlinkConfig, Blinks
from labkit.pipeline import Animator, Controls, default_speech
from labkit.provenance.watermark import detect, h264

SAMPLE_RATE = 16_000
NOSE = slice(27, 36)          # iBUG-68 nose points (0-based): they move with the head, hardly with the expression


def _speech(seconds: float) -> np.ndarray:
    """The first `seconds` of the bundled speech (16 kHz): past its leading pause, so the mouth moves."""
    return default_speech()[:int(seconds * SAMPLE_RATE)]


def ex1_head_motion(scales: tuple[float, ...] = (0.0, 1.0, 2.0), seconds: float = 1.2) -> dict[float, float]:
    """Exercise 1: how far the head moves at each head-motion scale s.

    The astronaut, the 128 px aligned crop, the same speech and seed for every s: the motion generator does
    not see s, so only eq. (5) differs. Returns {s: mean distance (crop px) of the nose points from where
    they sit in the photo, over the frames}. Eq. (5) scales the turn and the shift by s and eq. (4) is
    nearly linear in small angles, so the distance is about 0 at s = 0 and about doubles from 1 to 2
    (a little less: sin is concave and the angles are clipped).
    """
    out = {}
    for s in scales:
        anim = Animator(astronaut(), resolution=128, crop=True, controls=Controls(motion_scale=s))
        video = anim.animate(_speech(seconds))
        moved = anim.landmarks(video.motion)[:, NOSE]                          # (T, 9, 2) crop px
        rest = anim._draw.rig.landmarks[NOSE]                                  # (9, 2) the photo's own
        out[s] = float(np.linalg.norm(moved - rest, axis=-1).mean())
    return out


class _Warnings(logging.Handler):
    """Collects the warnings labkit logs while it is attached."""

    def __init__(self):
        super().__init__(logging.WARNING)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


def ex2_small_face(shrinks: tuple[float, ...] = (1.0, 0.75, 0.6, 0.46)) -> dict[float, dict[str, float]]:
    """Exercise 2: shrink the astronaut (512 px) by each factor and see what the face checks say.

    Returns {shrink: {"side": photo side px, "box": the detected face box px, "iod": eye-corner distance px,
    "warned": 1.0 if labkit logged the small-face warning else 0.0, "frames": frames of a 1 s animation of the
    128 px crop (animated all the same)}}. Box and eye distance shrink with the photo, in proportion; the
    warning comes once the box is under MIN_BOX = 48 px or the eyes under MIN_IOD = 20 px apart.
    """
    log, catcher = logging.getLogger("labkit"), _Warnings()
    log.addHandler(catcher)
    previous, log.propagate = log.propagate, False                           # no stderr lines from this
    try:
        out = {}
        for k in shrinks:
            side = int(round(512 * k))
            photo = cv2.resize(astronaut(), (side, side), interpolation=cv2.INTER_AREA)
            catcher.messages.clear()
            face = find_face(photo, backend="dlib")
            warned = any("is small" in m for m in catcher.messages)
            anim = Animator(photo, resolution=128, crop=True, landmarks=face.landmarks)
            frames = len(anim.animate(_speech(1.0)).frames)
            out[k] = {"side": float(side), "box": face.size, "iod": face.iod, "warned": float(warned),
                      "frames": float(frames)}
        return out
    finally:
        log.removeHandler(catcher)
        log.propagate = previous


def ex3_watermark_quality(crfs: tuple[int, ...] = (18, 23, 28, 33, 38, 43, 51),
                          seconds: float = 1.2) -> dict[int, dict[str, float]]:
    """Exercise 3: re-encode a 128 px clip at lower and lower quality (H.264 CRF) and read its watermark.

    Returns {crf: {"found", "id_right", "id_wrong" (1.0 / 0.0), "confidence" (the mean magic-slot score of
    eq. 12: 1 on the lattice, about 0 unmarked), "magic_errors"}}. Coding noise n on a slot coefficient costs
    cos(2π n / Δ) of its score (eq. 12), so the confidence falls as the CRF rises; the CRC keeps a wrong id
    from ever being reported.
    """
    anim = Animator(astronaut(), resolution=128, crop=True)
    video = anim.animate(_speech(seconds))
    out = {}
    for crf in crfs:
        found = detect(h264(video.frames, crf=crf))
        out[crf] = {"found": float(found.found), "id_right": float(found.content_id == video.content_id),
                    "id_wrong": float(found.content_id is not None and found.content_id != video.content_id),
                    "confidence": found.confidence, "magic_errors": float(found.magic_errors)}
    return out


def ex4_blink_statistics(minutes: float = 30.0, fps: float = 25.0, seed: int = 0) -> dict[str, float]:
    """Exercise 4: the blink process of eqs. (6)-(7) run for `minutes`, read back from its frames.

    A blink is counted where the closure first reaches 0.5. Returns the blinks per minute, the mean and the
    shortest onset-to-onset interval (s), the share of frames with the lids more than half closed, and the
    rate, mean interval and shortest gap the configuration asks for.
    """
    cfg = BlinkConfig()
    closure = Blinks(cfg, fps=fps, seed=seed).next(int(minutes * 60 * fps))          # (T,) in [0, 1]
    shut = closure >= 0.5
    onsets = np.flatnonzero(shut[1:] & ~shut[:-1]) + 1                                 # frame indices
    gaps = np.diff(onsets) / fps
    return {"per_minute": len(onsets) / minutes, "mean_interval": float(gaps.mean()),
            "min_interval": float(gaps.min()), "shut_fraction": float(shut.mean()),
            "rate": cfg.rate, "expected_interval": 60.0 / cfg.rate, "min_gap": cfg.min_gap}


if __name__ == "__main__":
    print(ex1_head_motion())
    print(ex2_small_face())
    print(ex3_watermark_quality())
    print(ex4_blink_statistics())
