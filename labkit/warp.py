"""3D warping of appearance volumes (VASA-1 §3.1, after MegaPortraits §3.1).

A face is held as a feature volume V (B, C, D, Hv, Wv). Motion moves it with *backward* warps:
for every point of the output volume we say where to sample the input volume, in the
normalised coordinates of ``torch.nn.functional.grid_sample`` -- x (width) and y (height, down)
and z (depth) all in [-1, 1].

The warp is split as in the paper: a **rigid** part from the head pose
z_pose = (yaw, pitch, roll, tx, ty, log_scale) and a **non-rigid** part, a smooth 3D
displacement field generated from the facial-dynamics code z_dyn.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

POSE_DIM = 6  # yaw, pitch, roll (radians), tx, ty (normalised image units), log scale


def rotation_matrix(yaw: torch.Tensor, pitch: torch.Tensor, roll: torch.Tensor) -> torch.Tensor:
    """Rotation R = R_roll · R_yaw · R_pitch for angles (B,) in radians: returns (B, 3, 3).

    Axes are the volume's (x right, y down, z depth); yaw turns about y, pitch about x, roll
    about z (the viewing axis, so roll is an in-plane rotation of the image).
    """
    c, s = torch.cos, torch.sin
    one, zero = torch.ones_like(yaw), torch.zeros_like(yaw)
    r_yaw = torch.stack([c(yaw), zero, s(yaw), zero, one, zero, -s(yaw), zero, c(yaw)], -1).view(-1, 3, 3)
    r_pitch = torch.stack([one, zero, zero, zero, c(pitch), -s(pitch), zero, s(pitch), c(pitch)], -1).view(-1, 3, 3)
    r_roll = torch.stack([c(roll), -s(roll), zero, s(roll), c(roll), zero, zero, zero, one], -1).view(-1, 3, 3)
    return r_roll @ r_yaw @ r_pitch


def identity_grid(D: int, H: int, W: int, *, device=None, dtype=torch.float32) -> torch.Tensor:
    """Normalised coordinates of every voxel centre: (D, H, W, 3) as (x, y, z)."""
    axes = [torch.linspace(-1 + 1 / n, 1 - 1 / n, n, device=device, dtype=dtype) for n in (D, H, W)]
    z, y, x = torch.meshgrid(*axes, indexing="ij")
    return torch.stack([x, y, z], -1)


def pose_parts(pose: torch.Tensor):
    """z_pose (B, POSE_DIM) → rotation (B, 3, 3), translation (B, 1, 1, 1, 3) and scale (B, 1, 1, 1, 1)."""
    B = pose.shape[0]
    assert pose.shape == (B, POSE_DIM), f"pose must be (B, {POSE_DIM}), got {tuple(pose.shape)}"
    R = rotation_matrix(pose[:, 0], pose[:, 1], pose[:, 2])
    t = torch.cat([pose[:, 3:5], torch.zeros_like(pose[:, :1])], 1)     # no depth shift
    return R, t.view(B, 1, 1, 1, 3), torch.exp(pose[:, 5]).view(B, 1, 1, 1, 1)


def pose_to_canonical(points: torch.Tensor, pose: torch.Tensor) -> torch.Tensor:
    """Undo a head pose: points seen in a posed frame → where they sit in the canonical volume.

    points: (B, D, H, W, 3) posed-frame coordinates; pose: (B, POSE_DIM). The forward model of
    a pose is p_posed = s · R · p_canonical + t, so the inverse is R^T (p_posed - t) / s.
    """
    R, t, s = pose_parts(pose)
    return torch.einsum("bij,bdhwi->bdhwj", R, (points - t) / s)         # R^T p, row-vector form


def canonical_to_pose(points: torch.Tensor, pose: torch.Tensor) -> torch.Tensor:
    """Apply a head pose to canonical points: (B, D, H, W, 3) → posed-frame coordinates."""
    R, t, s = pose_parts(pose)
    return s * torch.einsum("bij,bdhwj->bdhwi", R, points) + t


def upsample_flow(flow: torch.Tensor, size: tuple[int, int, int]) -> torch.Tensor:
    """Low-resolution displacement (B, 3, d, h, w) → (B, D, H, W, 3) at the volume's size."""
    return F.interpolate(flow, size=size, mode="trilinear", align_corners=False).permute(0, 2, 3, 4, 1)


def sample_field(field: torch.Tensor, points: torch.Tensor) -> torch.Tensor:
    """Read a displacement field (B, D, H, W, 3) at points (B, D', H', W', 3), trilinearly: (B, D', H', W', 3);
    zero outside the volume."""
    return sample_volume(field.permute(0, 4, 1, 2, 3), points).permute(0, 2, 3, 4, 1)


def sample_volume(volume: torch.Tensor, grid: torch.Tensor) -> torch.Tensor:
    """Trilinearly sample volume (B, C, D, H, W) at grid (B, D', H', W', 3); zeros outside."""
    return F.grid_sample(volume, grid, mode="bilinear", padding_mode="zeros", align_corners=False)
