"""Eyes that stay on their target while the head turns: the vestibulo-ocular reflex, in a motion space.

Where a person looks, relative to the camera, is the head's rotation plus the eyes' rotation in the
head. When the head turns and the target stays put, the eyes counter-rotate by as much (the
vestibulo-ocular reflex; Leigh & Zee, "The Neurology of Eye Movements", ch. 2). The motion
generator's gaze command is such a target, and a sampler that draws the head's sway after the face
(``MotionGenerator(hold_face=True)``) must move the eyes against it, or every degree of new sway
becomes a degree of gaze error.

A :class:`GazeAxes` says where both rotations are in a motion space of M values: how the head's
(pitch, yaw) in degrees is read from a row, and which change of a row turns the eyes by one degree.
In SynthTalk's factors both are columns; in a face latent model's codes they are measured by
``labkit.latent.readout`` (the codes' change as the reader's people turn their heads or their eyes,
everything else held), the head's read from z_pose alone, the eyes' confined to z_dyn.

    follow(std) ──▶ F (M, M), in the denoiser's standardised units:  Δeyes = Δrow · F
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from labkit.synthtalk.factors import FACTOR_NAMES

HEAD = ("pitch", "yaw")                 # the head's rotation that the gaze command adds to, degrees
EYES = ("gaze_pitch", "gaze_yaw")       # the eyes' rotation in the head, degrees, in the same order
# the spans the directions are measured over (degrees, within SynthTalk's ranges, where the codes are linear)
_SPAN = {"pitch": 10.0, "yaw": 20.0, "roll": 10.0, "gaze_pitch": 16.0, "gaze_yaw": 20.0}


@dataclass
class GazeAxes:
    """`head` (M, 2): a row's change · head → the head's (pitch, yaw) change in degrees; `eyes` (2, M):
    a row's change that turns the eyes by one degree of (pitch, yaw)."""
    head: np.ndarray
    eyes: np.ndarray

    def __post_init__(self):
        self.head = np.asarray(self.head, np.float32)
        self.eyes = np.asarray(self.eyes, np.float32)
        if self.head.ndim != 2 or self.head.shape[1] != 2 or self.eyes.shape != self.head.shape[::-1]:
            raise ValueError(f"head must be (M, 2) and eyes (2, M), got {self.head.shape} and {self.eyes.shape}")

    @classmethod
    def factors(cls) -> "GazeAxes":
        """SynthTalk's factors: the head's pitch and yaw columns, the eyes' gaze_pitch and gaze_yaw."""
        F = len(FACTOR_NAMES)
        head, eyes = np.zeros((F, 2), np.float32), np.zeros((2, F), np.float32)
        for k, (h, e) in enumerate(zip(HEAD, EYES)):
            head[FACTOR_NAMES.index(h), k] = 1.0
            eyes[k, FACTOR_NAMES.index(e)] = 1.0
        return cls(head, eyes)

    @classmethod
    def from_reader(cls, reader, pose_dims: int) -> "GazeAxes":
        """A face latent model's codes, from its `labkit.latent.readout.FactorReader`: the head is read from
        the first `pose_dims` values (z_pose) by least squares on the directions of pitch, yaw and roll, the
        eyes move along their own directions with z_pose held."""
        def per_degree(factor: str) -> np.ndarray:
            half = _SPAN[factor] / 2
            return reader.direction(factor, -half, half) / _SPAN[factor]

        turns = np.stack([per_degree(f) for f in (*HEAD, "roll")])                        # (3, M)
        head = np.zeros((turns.shape[1], 2), np.float32)
        head[:pose_dims] = np.linalg.pinv(turns[:, :pose_dims])[:, :2]   # Δz_pose → (pitch, yaw, roll), keep two
        eyes = np.stack([per_degree(f) for f in EYES])
        eyes[:, :pose_dims] = 0                                           # the eyes turn, not the head
        return cls(head, eyes)

    def follow(self, std: np.ndarray) -> np.ndarray:
        """(M, M) F for rows standardised by `std` (M,): the eyes' change Δrow · F that undoes the head's
        rotation Δrow · head, so that head plus eyes keep their direction."""
        std = np.asarray(std, np.float32)
        return (std[:, None] * self.head) @ (-self.eyes / std[None, :])
