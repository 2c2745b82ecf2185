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
    if pose.shape != (B, POSE_DIM):
        raise ValueError(f"pose must be (B, {POSE_DIM}), got {tuple(pose.shape)}")
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


def _similarity_parts(sim: torch.Tensor):
    """(B, 4) similarities (log zoom, angle in radians, shift x, shift y) → zoom (B,), the 2x2
    rotation (B, 2, 2) in (x right, y down) axes, and the shift (B, 2)."""
    if sim.ndim != 2 or sim.shape[1] != 4:
        raise ValueError(f"similarities must be (B, 4): log zoom, angle, shift x, shift y; got {tuple(sim.shape)}")
    zero = torch.zeros_like(sim[:, 1])
    rot = rotation_matrix(zero, zero, sim[:, 1])[:, :2, :2]             # the roll's own convention
    return torch.exp(sim[:, 0]), rot, sim[:, 2:]


def warp_image_similarity(x: torch.Tensor, sim: torch.Tensor) -> torch.Tensor:
    """Move the content of images x (B, C, H, W) by the image-plane similarity q ↦ a·Rot(θ)·q + d
    (normalised coordinates, x right, y down; `sim` as in pose_after_similarity); the border
    pixels fill what comes into view."""
    a, rot, d = _similarity_parts(sim.to(x.dtype))
    inv = rot.transpose(1, 2) / a.view(-1, 1, 1)                       # the backward map q = inv·(q' - d)
    theta = torch.cat([inv, -(inv @ d.unsqueeze(-1))], 2)
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    return F.grid_sample(x, grid, mode="bilinear", padding_mode="border", align_corners=False)


def pose_after_similarity(pose: torch.Tensor, sim: torch.Tensor) -> torch.Tensor:
    """The z_pose of a face whose image was moved by the similarity `sim` (B, 4): (log zoom a,
    in-plane angle θ, shift d). A posed point s·R·p + t becomes a·Rot(θ)·(s·R·p + t) + d, and since
    R = R_roll·R_yaw·R_pitch with roll about the viewing axis, that is the pose (yaw, pitch,
    roll + θ, a·Rot(θ)·t + d, log s + log a): yaw and pitch stay."""
    a, rot, d = _similarity_parts(sim.to(pose.dtype))
    t = a.view(-1, 1) * (rot @ pose[:, 3:5].unsqueeze(-1)).squeeze(-1) + d
    return torch.cat([pose[:, :2], pose[:, 2:3] + sim[:, 1:2].to(pose), t, pose[:, 5:6] + sim[:, :1].to(pose)], 1)


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
