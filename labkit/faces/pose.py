"""Head pose from 68 landmarks: Perspective-n-Point against SynthTalk's generic 3D face.

The 3D model is SynthTalk's mean neutral head (:func:`labkit.faces.template.mean_face`, head
units), so the angles come out in SynthTalk's conventions and units -- the same yaw, pitch and
roll that VASA-1's motion latents are compared against (VASA-1 §3.2 conditions on head pose;
§4 measures pose errors):
    yaw   + = the subject turns to the camera's right (the nose moves right in the image)
    pitch + = head up
    roll  + = head tilts clockwise in the image
with R = R_roll · R_yaw · R_pitch in camera axes (x right, y up, z toward the camera), exactly
as :func:`labkit.synthtalk.renderer._rotation` composes them.

Only points that sit still on a real head are used (POSE_POINTS): eye corners, the nose and
the mouth corners. The jaw line is a silhouette on real faces (it slides as the head turns),
lids blink and lips speak.
"""
from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from labkit.faces.template import mean_face

# iBUG-68, 0-based: eye corners | nose bridge, tip, nostrils | mouth corners
POSE_POINTS = (36, 39, 42, 45, 27, 28, 29, 30, 31, 32, 33, 34, 35, 48, 54)
# SynthTalk's camera: focal length / frame size = CAMERA_DISTANCE / FRAME_HEIGHT (a ~22° field of
# view, a portrait lens). Used for images of unknown focal length.
FOCAL_PER_PIXEL = 12.0 / 4.6
_FLIP = np.diag([1.0, -1.0, -1.0])   # SynthTalk/OpenGL camera axes (y up, z to camera) <-> OpenCV (y down, z ahead)


@dataclass(frozen=True)
class HeadPose:
    yaw: float                # degrees, + = subject turns to the camera's right
    pitch: float              # degrees, + = head up
    roll: float               # degrees, + = clockwise in the image
    rotation: np.ndarray      # (3, 3) R = R_roll · R_yaw · R_pitch, SynthTalk camera axes
    translation: np.ndarray   # (3,) head centre in camera coordinates, head units (z < 0: in front)
    reprojection_px: float    # RMS reprojection error over the points used, pixels


def rotation_from_euler(yaw: float, pitch: float, roll: float) -> np.ndarray:
    """R (3, 3) = R_roll · R_yaw · R_pitch (degrees), SynthTalk's composition."""
    y, p, r = np.deg2rad([yaw, pitch, roll])
    ry = np.array([[np.cos(y), 0, np.sin(y)], [0, 1, 0], [-np.sin(y), 0, np.cos(y)]])
    rx = np.array([[1, 0, 0], [0, np.cos(p), np.sin(p)], [0, -np.sin(p), np.cos(p)]])
    rz = np.array([[np.cos(r), np.sin(r), 0], [-np.sin(r), np.cos(r), 0], [0, 0, 1]])
    return rz @ ry @ rx


def euler_from_rotation(R: np.ndarray) -> tuple[float, float, float]:
    """(yaw, pitch, roll) in degrees with R = R_roll · R_yaw · R_pitch; inverse of rotation_from_euler.

    The last row of R is (-sin yaw, -cos yaw sin pitch, cos yaw cos pitch); the first column is
    (cos roll cos yaw, -sin roll cos yaw, -sin yaw)."""
    yaw = np.arcsin(np.clip(-R[2, 0], -1.0, 1.0))
    pitch = np.arctan2(-R[2, 1], R[2, 2])
    roll = np.arctan2(-R[1, 0], R[0, 0])
    return tuple(float(np.rad2deg(a)) for a in (yaw, pitch, roll))


def camera_matrix(image_size: tuple[int, int], focal: float | None = None) -> np.ndarray:
    """Pinhole intrinsics K (3, 3) for an (H, W) image: principal point at the centre, focal
    length `focal` px (default FOCAL_PER_PIXEL * max(H, W), SynthTalk's camera)."""
    H, W = int(image_size[0]), int(image_size[1])
    f = FOCAL_PER_PIXEL * max(H, W) if focal is None else float(focal)
    return np.array([[f, 0, (W - 1) / 2], [0, f, (H - 1) / 2], [0, 0, 1]], np.float64)


def head_pose(landmarks: np.ndarray, image_size: tuple[int, int], *, focal: float | None = None,
              points=POSE_POINTS) -> HeadPose:
    """Head pose from landmarks (68, 2) in an image of size (H, W) (cv2.solvePnP: SQPnP, then
    Levenberg-Marquardt refinement). `focal`: focal length in pixels if known."""
    landmarks = np.asarray(landmarks, np.float64)
    if landmarks.shape != (68, 2) or not np.isfinite(landmarks).all():
        raise ValueError(f"landmarks must be finite (68, 2) iBUG points, got shape {landmarks.shape}")
    idx = list(points)
    obj = mean_face().points[idx] @ _FLIP                    # (P, 3) head units, OpenCV object axes
    img = np.ascontiguousarray(landmarks[idx])               # (P, 2)
    K = camera_matrix(image_size, focal)
    ok, rvec, tvec = cv2.solvePnP(obj, img, K, None, flags=cv2.SOLVEPNP_SQPNP)
    if not ok:
        raise ValueError("head pose: cv2.solvePnP found no solution for these landmarks")
    rvec, tvec = cv2.solvePnPRefineLM(obj, img, K, None, rvec, tvec)
    proj, _ = cv2.projectPoints(obj, rvec, tvec, K, None)
    rms = float(np.sqrt(((proj[:, 0] - img) ** 2).sum(-1).mean()))
    R_cv, _ = cv2.Rodrigues(rvec)
    R = _FLIP @ R_cv @ _FLIP                                  # the same rotation in SynthTalk's axes
    yaw, pitch, roll = euler_from_rotation(R)
    return HeadPose(yaw=yaw, pitch=pitch, roll=roll, rotation=R, translation=_FLIP @ tvec[:, 0],
                    reprojection_px=rms)
