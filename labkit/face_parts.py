"""Face parts: the eyes (with the brows) and the mouth, cut out as small aligned crops.

At 128 px brow top to lower lid is ~9 px, a blink moves 2-3 rows and a 20° gaze the iris by 1-2 px.
A holistic encoder pooling the whole frame down to 4 x 4 learns none of it (data_cards/
model_face_latent.md measures why), while the same pixels, cut out and aligned, give a linear
probe blink and gaze at once. So the parts are cut out, in two ways:

- **by landmarks** (`face_crops`): placed by the outer eye corners, so a crop turns and scales with
  the head but not with the expression. Landmarks exist at training time only: D_crop's loss uses
  these (labkit.latent_losses.crop_l1);
- **by a head pose** (`PartEncoder`): each part is a flat patch of the canonical head, carried into
  the image by z_pose's rigid transform p ↦ s·R·p + t, the same one W_c→d applies (labkit.warp).
  This needs no landmarks, so E_mot uses it at inference too: it reads its dynamics where its own
  pose says the eyes and the mouth are. After LivePortrait, whose eye and lip retargeting modules
  add small corrections to a holistic motion estimate, these crops add to E_mot's holistic z_dyn.
"""
from __future__ import annotations


import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from labkit import warp
from labkit.blocks import ResBlock2d

# each part, in units of the outer-eye-corner distance d from the corners' midpoint, along the eye line (x)
# and across it, down (y): (centre x, centre y, width, height), and its crop size (h, w) in pixels at 128 px
CROPS = {"eyes": ((0.0, -0.05, 1.4, 0.5), (20, 56)), "mouth": ((0.0, 0.62, 0.7, 0.6), (24, 28))}
EYE_CORNERS = (36, 45)  # iBUG-68 outer corners of the right and left eye (image left to right)


def _unit_grid(h: int, w: int, like: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Cell centres of an (h, w) crop as offsets in [-1/2, 1/2]: ys (h,), xs (w,)."""
    ys = (torch.arange(h, dtype=like.dtype, device=like.device) + 0.5) / h - 0.5
    xs = (torch.arange(w, dtype=like.dtype, device=like.device) + 0.5) / w - 0.5
    return ys, xs


def face_crops(images: torch.Tensor, landmarks: torch.Tensor, region: str) -> torch.Tensor:
    """The `region` crop (CROPS) of images (B, 3, H, W), placed by the outer eye corners of landmarks
    (B, 68, 2) pixel (x, y), so it turns and scales with the head but not with the expression: (B, 3, h, w)."""
    (cx, cy, cw, ch), (h, w) = CROPS[region]
    S = images.shape[-1]
    left, right = landmarks[:, EYE_CORNERS[0]], landmarks[:, EYE_CORNERS[1]]  # (B, 2)
    u = right - left                                                        # along the eyes, length d
    v = torch.stack([-u[:, 1], u[:, 0]], 1)                                 # across, down in the image
    centre = (left + right) / 2 + cx * u + cy * v
    ys, xs = _unit_grid(h, w, images)
    pts = (centre[:, None, None] + (cw * xs)[None, None, :, None] * u[:, None, None]
           + (ch * ys)[None, :, None, None] * v[:, None, None])              # (B, h, w, 2) pixel (x, y)
    return F.grid_sample(images, 2 * pts / S - 1, mode="bilinear", padding_mode="border", align_corners=False)


def crop_size(region: str, image_size: int) -> tuple[int, int]:
    """A part's crop (h, w) in pixels for images of `image_size`: about one sample per pixel."""
    return tuple(max(4, round(n * image_size / 128)) for n in CROPS[region][1])


class PartEncoder(nn.Module):
    """E_mot's part branch: images (B, 3, H, W) in [-1, 1] and their z_pose (B, 6) → (B, Z_dyn), read
    from eye and mouth crops placed by the pose.

    Part r is the canonical patch {anchor_r + (x·w_r, y·h_r, 0) : x, y in [-1/2, 1/2]}, a flat square of
    the head facing the camera; s·R·p + t carries each of its points into the image (orthographic, so
    (x, y) of the result are grid_sample coordinates). The anchors are learned (fitted to landmarks when
    training starts, `fit_anchors`); the patch sizes are fixed then. Each crop goes through a small CNN
    whose features keep their layout (an iris's position is the gaze), and a linear head.
    """

    def __init__(self, image_size: int, dyn_dim: int, width: int = 32):
        super().__init__()
        self.regions = tuple(CROPS)
        self.sizes = {r: crop_size(r, image_size) for r in self.regions}
        # default placement for a frontal face filling the frame; fit_anchors replaces it with the data's
        self.anchors = nn.Parameter(torch.tensor([[0.0, -0.2, 0.0], [0.0, 0.35, 0.0]]))   # (R, 3) canonical x, y, z
        self.register_buffer("extents", torch.tensor([[0.84, 0.30], [0.42, 0.36]]))       # (R, 2) width, height
        self.nets = nn.ModuleDict()
        for r, (h, w) in self.sizes.items():
            for _ in range(2):                                               # two stride-2 stages
                h, w = (h + 1) // 2, (w + 1) // 2
            self.nets[r] = nn.Sequential(
                nn.Conv2d(3, width, 3, 1, 1), ResBlock2d(width, 2 * width, 2), ResBlock2d(2 * width, 4 * width, 2),
                nn.GroupNorm(8, 4 * width), nn.SiLU(), nn.Flatten(), nn.Linear(4 * width * h * w, dyn_dim))
            # small but not zero: a zero head would leave the branch to learn only through a generator that
            # does not yet draw what it reads (the saddle data_cards/model_face_latent.md describes)
            self.nets[r][-1].weight.data.mul_(0.1)
            nn.init.zeros_(self.nets[r][-1].bias)

    def points(self, z_pose: torch.Tensor, region: str) -> torch.Tensor:
        """Where part `region`'s crop samples the image: z_pose (B, 6) → (B, h, w, 2) grid_sample (x, y)."""
        k = self.regions.index(region)
        h, w = self.sizes[region]
        ys, xs = _unit_grid(h, w, z_pose)
        ew, eh = self.extents[k]
        patch = torch.stack(torch.broadcast_tensors(xs[None, :] * ew, ys[:, None] * eh, xs.new_zeros(1, 1)), -1)
        p = (self.anchors[k] + patch)[None, None].expand(len(z_pose), 1, h, w, 3)  # (B, 1, h, w, 3) canonical
        return warp.canonical_to_pose(p, z_pose)[:, 0, :, :, :2]

    def crops(self, x: torch.Tensor, z_pose: torch.Tensor) -> dict[str, torch.Tensor]:
        """{region: (B, 3, h, w)} crops of x (B, 3, H, W) placed by z_pose (B, 6)."""
        return {r: F.grid_sample(x, self.points(z_pose, r), mode="bilinear", padding_mode="border",
                                 align_corners=False) for r in self.regions}

    def forward(self, x: torch.Tensor, z_pose: torch.Tensor) -> torch.Tensor:
        return sum(self.nets[r](c) for r, c in self.crops(x, z_pose).items())      # (B, Z_dyn)


@torch.no_grad()
def fit_anchors(parts: PartEncoder, z_pose: torch.Tensor, landmarks: torch.Tensor, image_size: int) -> dict:
    """Place the parts where the landmarks put them: for each part, the canonical point p whose image
    s·R·p + t best matches (least squares over the frames) the centre of its landmark-placed crop
    (`face_crops`), and patch sizes from the median canonical eye-corner distance.

    z_pose (N, 6) are the frames' own poses, landmarks (N, 68, 2) their pixel (x, y). Writes
    parts.anchors and parts.extents; returns the fit's RMS error per part in pixels.
    """
    N = len(z_pose)
    if N < 3 or landmarks.shape != (N, 68, 2):
        raise ValueError(f"fit_anchors needs N >= 3 poses (N, 6) and landmarks (N, 68, 2), got "
                         f"{tuple(z_pose.shape)} and {tuple(landmarks.shape)}")
    R, t, s = warp.pose_parts(z_pose.double())                              # (N, 3, 3), (N, 1, 1, 1, 3), (N, 1, 1, 1, 1)
    t, s = t.view(N, 3)[:, :2], s.view(N, 1)
    lm = 2 * landmarks.double() / image_size - 1                            # normalised (x, y)
    left, right = lm[:, EYE_CORNERS[0]], lm[:, EYE_CORNERS[1]]
    u = right - left
    v = torch.stack([-u[:, 1], u[:, 0]], 1)
    d = float(torch.median(u.norm(dim=1) / s[:, 0]))                        # canonical eye-corner distance
    errors = {}
    for k, r in enumerate(parts.regions):
        (cx, cy, cw, ch), _ = CROPS[r]
        centre = (left + right) / 2 + cx * u + cy * v                          # (N, 2)
        A = (s[:, :, None] * R[:, :2, :]).reshape(2 * N, 3)                  # rows of s·R restricted to x, y
        b = (centre - t).reshape(2 * N)
        # a little ridge on the depth: near-frontal frames barely constrain it
        p = torch.linalg.solve(A.T @ A + 1e-3 * torch.diag(torch.tensor([0.0, 0.0, 1.0], dtype=A.dtype)), A.T @ b)
        errors[r] = float(((A @ p - b).view(N, 2).norm(dim=1) ** 2).mean().sqrt() * image_size / 2)
        parts.anchors[k] = p.to(parts.anchors)
        parts.extents[k] = torch.tensor([cw * d, ch * d], dtype=parts.extents.dtype)
    return errors


def crop_centres(parts: PartEncoder, z_pose: torch.Tensor, image_size: int) -> np.ndarray:
    """Pixel (x, y) of every part's crop centre: (B, R, 2), for drawing where E_mot looks."""
    pts = torch.stack([parts.points(z_pose, r).mean((1, 2)) for r in parts.regions], 1)
    return ((pts + 1) * image_size / 2).detach().cpu().numpy()
