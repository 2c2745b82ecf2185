"""The canonical face: SynthTalk's mean neutral head, in 2D (the alignment template) and 3D (for pose).

Real photos are aligned to where SynthTalk frames its heads, so a face latent model trained on
SynthTalk sees real faces in the same place and scale. The template is the mean iBUG-68
landmark layout of TEMPLATE_IDENTITIES train identities, neutral expression, eyes open, pose
zero, nominal distance -- projected through SynthTalk's own camera without rendering a pixel
(rig vertices -> ``Renderer.camera_vertices`` -> landmark embedding -> ``Renderer.project``).

- ``canonical_template(R)`` (68, 2): those landmarks in an R x R crop; the unit-square version
  (x / frame size, y / frame size, in [0, 1]) is ``mean_face().unit``.
- ``mean_face().points`` (68, 3): the same identities' mean landmarks in 3D head units
  (x right, y up, z toward the camera; origin at the head centre) -- the generic 3D face that
  head pose is solved against.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from labkit.synthtalk import Renderer, neutral_factors, sample_identity, split_identities
from labkit.synthtalk.head import build_rig
from labkit.synthtalk.renderer import MESH_GRID, RESOLUTIONS, expression_weights

TEMPLATE_IDENTITIES = 200   # train identities averaged into the template
_CAMERA_RES = 64            # any resolution works: projections are divided by the frame size


@dataclass(frozen=True)
class MeanFace:
    unit: np.ndarray     # (68, 2) float64 landmarks in a SynthTalk frame, as fractions of its size
    points: np.ndarray   # (68, 3) float64 3D landmarks, head units, head frame (x right, y up, z to camera)
    spread: np.ndarray   # (68,) float64 std over identities of the 2D positions (fraction of the frame)


@lru_cache(maxsize=2)
def mean_face(n_identities: int = TEMPLATE_IDENTITIES) -> MeanFace:
    """Mean neutral, frontal landmarks of the first `n_identities` SynthTalk train identities."""
    factors = neutral_factors(1)
    weights, openness = expression_weights(factors, 0)          # zero blendshapes, eyes open
    if openness != 1.0:
        raise RuntimeError("SynthTalk's neutral factors must leave the eyes open")
    pose = [float(factors[k][0]) for k in ("yaw", "pitch", "roll", "tx", "ty", "distance")]
    cam = Renderer(_CAMERA_RES, supersample=1)
    grid = MESH_GRID[max(RESOLUTIONS)]
    unit, points = [], []
    for i in split_identities("train")[:n_identities]:
        # the mesh SynthTalk renders its largest frames with: landmarks are bilinear in the mesh,
        # so coarser meshes move them by up to ~1 px at 512 px
        rig = build_rig(sample_identity(int(i)), n_theta=grid[0], n_phi=grid[1])
        idx, w = rig.lm_index[0], rig.lm_weight[0]               # (68, 4) each: the open-eye embedding
        points.append(np.einsum("pk,pkd->pd", w, rig.vertices[idx]))            # (68, 3) head frame
        v = cam.camera_vertices(rig, weights, pose)                              # (N, 3) camera frame
        xy, _ = cam.project(np.einsum("pk,pkd->pd", w, v[idx]))                  # (68, 2) continuous px
        unit.append(xy / _CAMERA_RES)
    unit, points = np.asarray(unit, np.float64), np.asarray(points, np.float64)  # (I, 68, 2), (I, 68, 3)
    return MeanFace(unit=unit.mean(0), points=points.mean(0), spread=unit.std(0).mean(-1))


def canonical_template(resolution: int) -> np.ndarray:
    """(68, 2) float32: where SynthTalk puts a neutral frontal face's landmarks in an R x R frame
    (R = `resolution`, e.g. 64, 128, 256, 512), pixel centres at integers."""
    if int(resolution) != resolution or resolution < 16:
        raise ValueError(f"resolution must be an integer >= 16, got {resolution}")
    return (mean_face().unit * resolution - 0.5).astype(np.float32)
