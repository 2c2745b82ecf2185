"""Face parts: the eyes (with the brows) and the mouth, cut out as small aligned crops.

At 128 px brow top to lower lid is ~9 px, a blink moves 2-3 rows and a 20° gaze the iris by 1-2 px.
A holistic encoder pooling the whole frame down to 4 x 4 learns none of it (data_cards/
model_face_latent.md measures why), while the same pixels, cut out and aligned, give a linear
probe blink and gaze at once. So the parts are cut out, in two ways:

- **by landmarks** (`face_crops`): placed by the outer eye corners, so a crop turns and scales with
  the head but not with the expression. Landmarks exist at training time only: D_crop's loss uses
  these (labkit.latent.losses.crop_l1);
- **by a head pose** (`PartEncoder`): each part is a flat patch of the canonical head, carried into
  the image by z_pose's rigid transform p ↦ s·R·p + t, the same one W_c→d applies (labkit.latent.warp).
  This needs no landmarks, so E_mot uses it at inference too: it reads its dynamics where its own
  pose says the eyes and the mouth are. After LivePortrait, whose eye and lip retargeting modules
  add small corrections to a holistic motion estimate, these crops add to E_mot's holistic z_dyn.

And they are drawn, in two ways, by the same small FiLM-conditioned network (`CropDecoder`):

- **D_crop**, a training aid: the driver's landmark-placed crops from the source's, given the
  driver's z_dyn (labkit.latent.losses.crop_l1), a short path from the pixels to E_mot;
- **the part painter** (`PartPainter`, G_part): after G_2D, each pose-placed crop of the
  generated image is repainted from z_dyn and pasted back through the inverse of the same
  rigid map. G_2D draws from a volume whose voxel is 4 px at 128 px, finer than a lid or an
  iris moves; G_part draws them at the pixel.
"""
from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from labkit.latent import warp
from labkit.latent.blocks import FiLM, ResBlock2d, groups

# each part, in units of the outer-eye-corner distance d from the corners' midpoint, along the eye line (x)
# and across it, down (y): (centre x, centre y, width, height), and its crop size (h, w) in pixels at 128 px
CROPS = {"eyes": ((0.0, -0.05, 1.4, 0.5), (20, 56)), "mouth": ((0.0, 0.62, 0.7, 0.6), (24, 28))}
EYE_CORNERS = (36, 45)  # iBUG-68 outer corners of the right and left eye (image left to right)
SPATIAL_GRID = {"eyes": (3, 8), "mouth": (4, 4)}  # G_part's coarse grid per part (SpatialCode), ~7 px cells at 128 px


def _unit_grid(h: int, w: int, like: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Cell centres of an (h, w) crop as offsets in [-1/2, 1/2]: ys (h,), xs (w,)."""
    ys = (torch.arange(h, dtype=like.dtype, device=like.device) + 0.5) / h - 0.5
    xs = (torch.arange(w, dtype=like.dtype, device=like.device) + 0.5) / w - 0.5
    return ys, xs


def face_crops(images: torch.Tensor, landmarks: torch.Tensor, region: str) -> torch.Tensor:
    """The `region` crop (CROPS) of images (B, 3, S, S), placed by the outer eye corners of landmarks
    (B, 68, 2) pixel (x, y), so it turns and scales with the head but not with the expression, and sampled
    about once per pixel (crop_size): (B, 3, h, w)."""
    S = images.shape[-1]
    (cx, cy, cw, ch), _ = CROPS[region]
    h, w = crop_size(region, S)
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

    def __init__(self, image_size: int, dyn_dim: int, width: int = 32, eye_size: int = 0):
        super().__init__()
        self.regions = tuple(CROPS)
        # the eyes may be read finer than the frame is drawn: a 10° gaze moves the iris about a pixel at 128 px
        read_at = {"eyes": eye_size or image_size}
        self.sizes = {r: crop_size(r, read_at.get(r, image_size)) for r in self.regions}
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

    def points(self, z_pose: torch.Tensor, region: str, anchor: torch.Tensor | None = None) -> torch.Tensor:
        """Where part `region`'s crop samples the image: z_pose (B, 6) → (B, h, w, 2) grid_sample (x, y)
        (at `anchor` (3,) instead of the learned one if given)."""
        k = self.regions.index(region)
        h, w = self.sizes[region]
        ys, xs = _unit_grid(h, w, z_pose)
        ew, eh = self.extents[k]
        patch = torch.stack(torch.broadcast_tensors(xs[None, :] * ew, ys[:, None] * eh, xs.new_zeros(1, 1)), -1)
        p = ((self.anchors[k] if anchor is None else anchor) + patch)[None, None].expand(len(z_pose), 1, h, w, 3)
        return warp.canonical_to_pose(p, z_pose)[:, 0, :, :, :2]

    def crop(self, x: torch.Tensor, z_pose: torch.Tensor, region: str,
             anchor: torch.Tensor | None = None) -> torch.Tensor:
        """Part `region`'s crop (B, 3, h, w) of x (B, 3, H, W), placed by z_pose (B, 6) (and `anchor`, as in points)."""
        return F.grid_sample(x, self.points(z_pose, region, anchor), mode="bilinear", padding_mode="border",
                             align_corners=False)

    def crops(self, x: torch.Tensor, z_pose: torch.Tensor, fine: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
        """{region: (B, 3, h, w)} crops of x (B, 3, H, W) placed by z_pose (B, 6). With `fine`, the same frame
        rendered finer (B, 3, S, S), a part read finer than x (the eyes, with eye_size) is cut from it; the others
        from x, so that no crop samples a frame more sparsely than its pixels (which would alias)."""
        return {r: self.crop(x if fine is None or self.sizes[r] == crop_size(r, x.shape[-1]) else fine, z_pose, r)
                for r in self.regions}

    def forward(self, x: torch.Tensor, z_pose: torch.Tensor, fine: torch.Tensor | None = None) -> torch.Tensor:
        return sum(self.nets[r](c) for r, c in self.crops(x, z_pose, fine).items())      # (B, Z_dyn)


class CropDecoder(nn.Module):
    """D_crop, a training aid with no counterpart in VASA-1: the driver's face-aligned eye or mouth crop
    (B, 3, h, w) in [0, 1] from the source's crop and a code z (B, z): as D_crop, the driver's z_dyn and both
    z_pose (Z_dyn + 12).

    At 128 px an eye with its brow is ~9 px tall, a blink moves 2-3 rows and a 10° gaze the iris by
    about a pixel. Through the full generator the gradient that would teach E_mot these barely
    exists until the generator draws them, and the generator cannot learn to draw what z_dyn does
    not carry. This small network sees only the crops, so z_dyn gets a short path to those pixels;
    the poses are given (and not taught) so that z_dyn need not explain what the head does.
    """

    def __init__(self, z: int, width: int = 32, blocks: int = 3, grid: tuple[int, int] | None = None,
                 reference: bool = False):
        super().__init__()
        self.inp = nn.Conv2d(3, width, 3, 1, 1)
        # a second image in: the source's own crop of the part; zero at init, so a painter trained without it
        # starts as it was
        self.ref = nn.Conv2d(3, width, 3, 1, 1) if reference else None
        if self.ref is not None:
            nn.init.zeros_(self.ref.weight)
            nn.init.zeros_(self.ref.bias)
        self.films = nn.ModuleList([FiLM(z, width) for _ in range(blocks)])
        self.blocks = nn.ModuleList([ResBlock2d(width, width) for _ in range(blocks)])
        self.out = nn.Sequential(nn.GroupNorm(groups(width), width), nn.SiLU(), nn.Conv2d(width, 3, 3, 1, 1))
        nn.init.zeros_(self.out[-1].weight)                                  # starts as a copy of the source crop
        nn.init.zeros_(self.out[-1].bias)
        self.spatial = SpatialCode(z, 2 + width, grid) if grid else None

    def forward(self, crop, z, reference=None):
        if self.spatial is None:
            x = self.inp(2 * crop - 1)                                       # (B, width, h, w)
        else:                                                                # move, then paint what moved
            code = self.spatial(z, crop.shape[-2:])                          # (B, 2 + width, h, w)
            crop = move(crop, code[:, :2])
            x = self.inp(2 * crop - 1) + code[:, 2:]
        if self.ref is not None:
            if reference is None or reference.shape != crop.shape:
                raise ValueError(f"this painter reads the source's own crop beside the drawn one: pass reference "
                                 f"{tuple(crop.shape)} (FaceLatentModel.part_reference), got "
                                 f"{None if reference is None else tuple(reference.shape)}")
            x = x + self.ref(2 * reference - 1)
        for film, block in zip(self.films, self.blocks):
            x = block(film(x, z))
        return crop + self.out(x)


class SpatialCode(nn.Module):
    """A code z (B, z) laid out over a crop: a linear map to a coarse (gh, gw) grid of `c` channels, upsampled
    smoothly to the crop's (h, w): (B, c, h, w); zero at init.

    FiLM scales and shifts every position alike, so a FiLM-only painter can change how an eye looks
    but not where its iris or its lid is. A map laid out over the crop can: its first two channels
    move the crop's pixels (`move`), the others say what to paint where.
    """

    def __init__(self, z: int, c: int, grid: tuple[int, int]):
        super().__init__()
        self.c, self.grid = c, tuple(grid)
        self.lin = nn.Linear(z, c * self.grid[0] * self.grid[1])
        nn.init.zeros_(self.lin.weight)
        nn.init.zeros_(self.lin.bias)

    def forward(self, z: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
        coarse = self.lin(z).view(len(z), self.c, *self.grid)
        return F.interpolate(coarse, size=tuple(size), mode="bicubic", align_corners=True)


def move(crop: torch.Tensor, flow: torch.Tensor) -> torch.Tensor:
    """crop (B, 3, h, w) resampled at each cell plus flow (B, 2, h, w), (x, y) in units of the crop's
    half-width and half-height (grid_sample's): the backward warp, (B, 3, h, w)."""
    h, w = crop.shape[-2:]
    ys, xs = _unit_grid(h, w, crop)
    base = torch.stack(torch.broadcast_tensors(2 * xs[None, :], 2 * ys[:, None]), -1)   # (h, w, 2)
    return F.grid_sample(crop, base + flow.permute(0, 2, 3, 1), mode="bilinear", padding_mode="border",
                         align_corners=False)


class PartPainter(nn.Module):
    """G_part: repaint the eyes and the mouth of generated images (B, 3, H, W) from z = (z_dyn, z_pose).

    For each part, the crop that E_mot's PartEncoder would cut at this pose (its anchors, detached:
    E_mot decides where the parts are) goes through a CropDecoder conditioned on z; the change is
    faded to zero at the patch's border and pasted back where each pixel's ray meets the flat
    patch (`patch_coords`). Zero at init: the painter starts as the identity.

    With `reference`, each part's painter also reads the source's own crop of that part, cut at the
    source's pose (`FaceLatentModel.part_reference`): the same canonical patch it paints, so whatever the
    volume blurs (a glasses rim is a pixel wide) is there to copy, sharp and in place.
    """

    def __init__(self, z: int, regions=tuple(CROPS), spatial: bool = False, reference: bool = False):
        super().__init__()
        self.nets = nn.ModuleDict({r: CropDecoder(z, grid=SPATIAL_GRID[r] if spatial else None, reference=reference)
                                   for r in regions})

    def forward(self, images: torch.Tensor, z_pose: torch.Tensor, z: torch.Tensor, parts: PartEncoder,
                reference: dict[str, torch.Tensor] | None = None) -> torch.Tensor:
        """images (B, 3, H, W) in [0, 1], z_pose (B, 6), z (B, z), E_mot's `parts` (and, with `reference`, the
        source's crops {part: (B, 3, h, w)}) → (B, 3, H, W) in [0, 1]."""
        out = images
        for r, net in self.nets.items():
            k = parts.regions.index(r)
            anchor, extent = parts.anchors[k].detach(), parts.extents[k]
            crop = parts.crop(images, z_pose, r, anchor)                              # (B, 3, h, w)
            change = self.paint(r, crop, z, None if reference is None else reference[r]) - crop
            native = crop_size(r, images.shape[-1])
            if tuple(change.shape[-2:]) != native:            # painted finer than the frame: each pixel the mean
                change = F.adaptive_avg_pool2d(change, native)  # of its cells
            uv = patch_coords(z_pose, anchor, extent, images.shape[-1])               # (B, H, W, 2)
            out = out + F.grid_sample(change, uv, mode="bilinear", padding_mode="zeros", align_corners=False)
        return out.clamp(0, 1)

    def paint(self, region: str, crop: torch.Tensor, z: torch.Tensor,
              reference: torch.Tensor | None = None) -> torch.Tensor:
        """One part's crop (B, 3, h, w) repainted from z (B, z) (and the source's crop of it), its change faded
        to zero at the border: what lands in the image inside the patch (before the clamp)."""
        return crop + (self.nets[region](crop, z, reference) - crop) * _taper(*crop.shape[-2:], crop)


def _taper(h: int, w: int, like: torch.Tensor) -> torch.Tensor:
    """A (h, w) raised-cosine window: 1 inside, falling over the outer quarter of each side to 0 at the
    outermost cells, so that the pasted change is zero at and beyond the patch's edge."""
    ramps = []
    for u, n in zip(_unit_grid(h, w, like), (h, w)):
        cells_in = (0.5 - u.abs()) * n - 0.5                                 # 0 at the outermost cell centres
        ramps.append(0.5 - 0.5 * torch.cos(math.pi * torch.clamp(cells_in / (n / 4), 0, 1)))
    return ramps[0][:, None] * ramps[1][None, :]


def patch_coords(z_pose: torch.Tensor, anchor: torch.Tensor, extent: torch.Tensor, image_size: int,
                 q: torch.Tensor | None = None) -> torch.Tensor:
    """Where each image pixel (or each point of q (B, ..., 2), grid_sample (x, y)) falls on a part's flat
    canonical patch: (B, H, W, 2) grid_sample (x, y) coordinates of the patch, [-1, 1] inside it. The
    inverse of PartEncoder.points: the pixel's orthographic ray meets the plane z = anchor_z at the
    canonical p solving (s·R·p + t)_xy = q."""
    R, t, s = warp.pose_parts(z_pose)                                      # (B, 3, 3), (B, 1, 1, 1, 3), (B, 1, 1, 1, 1)
    B = len(z_pose)
    s, t = s.view(B, 1, 1), t.view(B, 3)[:, :2]
    M = s * R[:, :2, :2]                                                     # (B, 2, 2): canonical x, y → image x, y
    c = t + s[:, 0] * R[:, :2, 2] * anchor[2]                                # (B, 2): where the plane's origin lands
    if q is None:
        ys, xs = _unit_grid(image_size, image_size, z_pose)
        q = torch.stack(torch.broadcast_tensors(2 * xs[None, :], 2 * ys[:, None]), -1).expand(B, -1, -1, -1)
    flat = q.reshape(B, -1, 2)                                               # (B, N, 2) pixel centres
    p = torch.einsum("bij,bnj->bni", torch.linalg.inv(M), flat - c[:, None])  # (B, N, 2) canonical x, y
    return (2 * (p - anchor[:2]) / extent).view(q.shape)                     # patch (x, y), [-1, 1] inside


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
    # R (N, 3, 3), t (N, 1, 1, 1, 3), s (N, 1, 1, 1, 1)
    R, t, s = warp.pose_parts(z_pose.double())
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
