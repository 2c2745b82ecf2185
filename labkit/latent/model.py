"""The face latent model: one image factored into appearance, identity, pose and dynamics (VASA-1 §3.1).

    image ─ E_app ─► V_app (B, C, D, Hv, Wv)   3D appearance volume
          ─ E_id  ─► z_id  (B, Z_id)           identity code
          ─ E_mot ─► z_pose (B, 6), z_dyn (B, Z_dyn)   head pose, holistic facial dynamics
                     (+ what eye and mouth crops placed by z_pose show, with `part_crops`)

    decode: V_app ─ W_s→c ─► G_3D ─ W_c→d ─► project (C·D channels) ─ G_2D ─► image

W_s→c undoes the source's pose and dynamics (rigid part from z_pose, non-rigid part generated
from z_dyn), W_c→d applies the target's; both non-rigid generators also see z_id, because
where a mouth opens depends on whose face it is (MegaPortraits feeds its warp generators the
same global descriptor). Any combination of codes from different images can be decoded, which
is what reenactment, the consistency losses and every disentanglement test rely on.

The same code runs from 64 to 512 px: the number of down/up-sampling stages follows from
image_size / volume_size. Presets are one-line functions in PRESETS.
"""
from __future__ import annotations

import math
import os
from typing import NamedTuple

import torch
import torch.nn as nn
import torch.nn.functional as F

from labkit.io.checkpoint import load_state
from labkit.io.weights import FACE_LATENT, resolve
from labkit.latent import warp
from labkit.latent.blocks import FiLM, ResBlock2d, ResBlock3d, groups
from labkit.latent.config import FaceLatentConfig
from labkit.latent.parts import CropDecoder, PartEncoder, PartPainter
from labkit.latent.warp import POSE_DIM

KIND = "face_latent"                      # checkpoint kind (labkit.io.checkpoint)


# one-line presets: `tiny` keeps tests fast; s64..s512 are the real sizes


class Latents(NamedTuple):
    volume: torch.Tensor   # (B, C, D, Hv, Wv) appearance volume V_app
    z_id: torch.Tensor     # (B, Z_id)
    z_pose: torch.Tensor   # (B, 6): yaw, pitch, roll (rad), tx, ty, log scale
    z_dyn: torch.Tensor    # (B, Z_dyn)


# ---------------------------------------------------------------------------- building blocks

def _widths(cfg: FaceLatentConfig, stages: int) -> list[int]:
    return [min(cfg.width * 2 ** k, cfg.max_width) for k in range(stages + 1)]


class ConvEncoder(nn.Module):
    """Image (B, 3, H, W) → features (B, c, H / 2^stages, W / 2^stages) by strided residual blocks."""

    def __init__(self, cfg: FaceLatentConfig, stages: int):
        super().__init__()
        w = _widths(cfg, stages)
        self.stem = nn.Conv2d(3, w[0], 3, 1, 1)
        self.blocks = nn.Sequential(*[ResBlock2d(w[k], w[k + 1], stride=2) for k in range(stages)])
        self.out_channels = w[-1]

    def forward(self, x):
        return self.blocks(self.stem(x))


# ---------------------------------------------------------------------------- the paper's networks

class AppearanceEncoder(nn.Module):
    """E_app: image → 3D appearance volume V_app (B, C, D, Hv, Wv), by lifting 2D features
    (B, C·D, Hv, Wv) into depth, as in MegaPortraits."""

    def __init__(self, cfg: FaceLatentConfig):
        super().__init__()
        self.cfg = cfg
        self.conv = ConvEncoder(cfg, int(math.log2(cfg.image_size // cfg.volume_size)))
        self.lift = nn.Conv2d(self.conv.out_channels, cfg.volume_channels * cfg.volume_depth, 1)
        self.refine = ResBlock3d(cfg.volume_channels)

    def forward(self, x):
        c = self.cfg
        f = self.lift(self.conv(x))                                          # (B, C·D, Hv, Wv)
        B = f.shape[0]
        v = f.view(B, c.volume_channels, c.volume_depth, c.volume_size, c.volume_size)
        return self.refine(v)


class CodeEncoder(nn.Module):
    """A global encoder: image resized to code_size → pooled features → linear head of `out` values."""

    def __init__(self, cfg: FaceLatentConfig, out: int, size: int | None = None):
        super().__init__()
        self.size = size or cfg.code_size
        self.conv = ConvEncoder(cfg, int(math.log2(self.size // 4)))       # down to 4 x 4
        self.head = nn.Sequential(nn.Flatten(), nn.SiLU(), nn.Linear(self.conv.out_channels * 16, out))

    def forward(self, x):
        if x.shape[-1] != self.size:
            x = F.interpolate(x, size=(self.size, self.size), mode="bilinear", antialias=True, align_corners=False)
        return self.head(self.conv(x))


class MotionEncoder(CodeEncoder):
    """E_mot: image (B, 3, H, W) in [-1, 1] → (B, 6 + Z_dyn), the head pose z_pose then the dynamics.

    Holistic, as in VASA-1: both codes from one pooled view of the whole frame. With `part_crops` a
    part branch (labkit.latent.parts.PartEncoder) adds to z_dyn what it reads from eye and mouth crops
    placed by the detached z_pose, so the pose is learned from the whole frame alone.
    """

    def __init__(self, cfg: FaceLatentConfig):
        super().__init__(cfg, POSE_DIM + cfg.dyn_dim, cfg.motion_size)
        nn.init.normal_(self.head[-1].weight, std=1e-3)                    # start near the identity pose
        nn.init.zeros_(self.head[-1].bias)
        self.parts = PartEncoder(cfg.image_size, cfg.dyn_dim, eye_size=cfg.eye_size) if cfg.part_crops else None

    def holistic(self, x):
        """The pooled view alone: (B, 6 + Z_dyn), z_pose then z_dyn before the part branch adds to it."""
        return super().forward(x)

    def forward(self, x, fine=None):
        """x (B, 3, H, W) in [-1, 1]; `fine`: the same frame rendered finer (B, 3, S, S), which the part
        branch reads the parts it reads finer from (their placement is resolution-free)."""
        m = self.holistic(x)                                               # (B, 6 + Z_dyn)
        if self.parts is None:
            return m
        z_pose = m[:, :POSE_DIM]
        return torch.cat([z_pose, m[:, POSE_DIM:] + self.parts(x, z_pose.detach(), fine)], 1)


class WarpGenerator(nn.Module):
    """W: (z_dyn, z_id) → a smooth non-rigid 3D displacement field, generated as a coarse
    (B, 3, d, d, d) grid (d = flow_size) and upsampled to the volume: (B, D, Hv, Wv, 3), zero at init.
    Returns (displacement, None): it paints nothing (see DenseWarpGenerator)."""

    def __init__(self, cfg: FaceLatentConfig):
        super().__init__()
        self.d = cfg.flow_size
        self.shape = (cfg.volume_depth, cfg.volume_size, cfg.volume_size)
        self.mlp = nn.Sequential(nn.Linear(cfg.dyn_dim + cfg.id_dim, cfg.flow_hidden), nn.SiLU(),
                                 nn.Linear(cfg.flow_hidden, cfg.flow_hidden), nn.SiLU(),
                                 nn.Linear(cfg.flow_hidden, 3 * self.d ** 3))
        nn.init.zeros_(self.mlp[-1].weight)
        nn.init.zeros_(self.mlp[-1].bias)

    def forward(self, z_dyn, z_id):
        d = self.d
        flow = self.mlp(torch.cat([z_dyn, z_id], 1)).view(-1, 3, d, d, d)
        return warp.upsample_flow(flow, self.shape), None


class DenseWarpGenerator(nn.Module):
    """W as in MegaPortraits: (z_dyn, z_id) → a displacement field (B, D, Hv, Wv, 3) and a feature
    residual (B, C, D, Hv, Wv) at the volume's own size, both zero at init.

    The code is projected onto a grid 1/8 of the volume and upsampled by 3D conv blocks. A field
    this fine can move the upper lip up and the lower lip down a few voxels apart, which one
    coarse flow for the whole head cannot; the residual paints what no warp of visible texture
    shows (the mouth's inside, a closed eyelid). Both are laid out in canonical space (the
    displacement only with `canonical_flow`), so what z_dyn draws turns with the head and z_dyn has
    no use for the head pose.
    """

    def __init__(self, cfg: FaceLatentConfig, widths: tuple[int, ...] = (64, 32, 16)):
        super().__init__()
        self.shape = (cfg.volume_depth, cfg.volume_size, cfg.volume_size)              # (D, Hv, Wv)
        self.sizes = [tuple(max(n >> k, 1) for n in self.shape) for k in range(len(widths), 0, -1)]
        self.proj = nn.Linear(cfg.dyn_dim + cfg.id_dim, widths[0] * math.prod(self.sizes[0]))
        self.widths = widths
        self.blocks = nn.ModuleList([nn.Sequential(nn.GroupNorm(groups(a), a), nn.SiLU(), nn.Conv3d(a, b, 3, 1, 1))
                                     for a, b in zip(widths, widths[1:] + widths[-1:])])
        self.out = nn.Sequential(nn.GroupNorm(groups(widths[-1]), widths[-1]), nn.SiLU(),
                                 nn.Conv3d(widths[-1], 3 + cfg.volume_channels, 3, 1, 1))
        nn.init.zeros_(self.out[-1].weight)
        nn.init.zeros_(self.out[-1].bias)

    def forward(self, z_dyn, z_id):
        B = z_dyn.shape[0]
        x = self.proj(torch.cat([z_dyn, z_id], 1)).view(B, self.widths[0], *self.sizes[0])
        for k, block in enumerate(self.blocks):
            x = block(x)                                                              # (B, w, d, h, w) at sizes[k]
            x = F.interpolate(x, size=self.sizes[k + 1] if k + 1 < len(self.sizes) else self.shape,
                              mode="trilinear", align_corners=False)
        x = self.out(x)                                                               # (B, 3 + C, D, Hv, Wv)
        return x[:, :3].permute(0, 2, 3, 4, 1), x[:, 3:]


class Decoder2d(nn.Module):
    """G_2D: projected volume (B, C·D, Hv, Wv) → image (B, 3, H, W) in [0, 1]."""

    def __init__(self, cfg: FaceLatentConfig):
        super().__init__()
        stages = int(math.log2(cfg.image_size // cfg.volume_size))
        w = _widths(cfg, stages)[::-1]                                       # wide at low resolution
        self.inp = nn.Conv2d(cfg.volume_channels * cfg.volume_depth, w[0], 1)
        self.mid = ResBlock2d(w[0], w[0])
        self.ups = nn.ModuleList([ResBlock2d(w[k], w[k + 1]) for k in range(stages)])
        z = cfg.id_dim + cfg.dyn_dim
        self.films = nn.ModuleList([FiLM(z, c) for c in w[:stages + 1]]) if cfg.dyn_film else None
        self.out = nn.Sequential(nn.GroupNorm(groups(w[-1]), w[-1]), nn.SiLU(), nn.Conv2d(w[-1], 3, 3, 1, 1))

    def forward(self, x, z):
        x = self.mid(self.inp(x))
        for k, up in enumerate(self.ups):
            if self.films is not None:
                x = self.films[k](x, z)
            x = up.upsampled(x)                                             # up(2x nearest upsampling of x)
        if self.films is not None:
            x = self.films[-1](x, z)
        return torch.sigmoid(self.out(x))


# ---------------------------------------------------------------------------- the model

class FaceLatentModel(nn.Module):
    """Encode images into Latents, decode any combination of Latents back into images."""

    def __init__(self, cfg: FaceLatentConfig):
        super().__init__()
        self.cfg = cfg
        self.app_encoder = AppearanceEncoder(cfg)                          # E_app
        self.id_encoder = CodeEncoder(cfg, cfg.id_dim)                     # E_id
        self.motion_encoder = MotionEncoder(cfg)                           # E_mot
        W = DenseWarpGenerator if cfg.dense_warp else WarpGenerator
        self.warp_to_canonical = W(cfg)                                    # non-rigid part of W_s→c
        self.warp_from_canonical = W(cfg)                                  # non-rigid part of W_c→d
        self.g3d = nn.Sequential(*[ResBlock3d(cfg.volume_channels) for _ in range(cfg.res3d_blocks)])
        self.g2d = Decoder2d(cfg)
        self.part_painter = (PartPainter(cfg.dyn_dim + POSE_DIM, spatial=cfg.part_spatial,          # G_part
                                         reference=cfg.part_reference)
                             if cfg.part_painter else None)
        # training aid, unused at inference
        self.crop_decoder = CropDecoder(cfg.dyn_dim + 2 * POSE_DIM) if cfg.crop_decoder else None
        if cfg.pose_residual:                                              # z_dyn's linear prediction from z_pose:
            self.register_buffer("dyn_from_pose", torch.zeros(cfg.dyn_dim, POSE_DIM))  # dyn_from_pose @ z_pose
            self.register_buffer("dyn_offset", torch.zeros(cfg.dyn_dim))               # + dyn_offset
        c = cfg
        self.register_buffer("grid", warp.identity_grid(c.volume_depth, c.volume_size, c.volume_size),
                             persistent=False)                             # (D, Hv, Wv, 3)

    def _check_images(self, x):
        s = self.cfg.image_size
        if x.ndim != 4 or x.shape[1] != 3 or x.shape[2] != x.shape[3] or x.shape[-1] < s:
            raise ValueError(f"expected images (B, 3, S, S) in [0, 1], square, S >= {s}, got {tuple(x.shape)}")

    def frame(self, x: torch.Tensor) -> torch.Tensor:
        """Images (B, 3, S, S), S >= image_size, as the model's own frames (B, 3, H, W): each pixel the mean
        of the finer ones."""
        self._check_images(x)
        return at_size(x, self.cfg.image_size)

    def encode(self, x: torch.Tensor) -> Latents:
        """x: (B, 3, S, S) in [0, 1], S >= image_size (finer frames let E_mot read the eyes finer) → Latents."""
        z_id, z_pose, z_dyn = self.encode_codes(x)
        return Latents(self.app_encoder(2 * self.frame(x) - 1), z_id, z_pose, z_dyn)

    def encode_codes(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Only the small codes (z_id, z_pose, z_dyn) -- no appearance volume; cheap."""
        z_pose, z_dyn = self.encode_motion(x)
        return self.id_encoder(2 * self.frame(x) - 1), z_pose, z_dyn

    def encode_motion(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """E_mot alone: x (B, 3, S, S) in [0, 1], S >= image_size → z_pose (B, 6), z_dyn (B, Z_dyn), the
        motion that the motion generator learns to produce (VASA-1 §3.2). The holistic view reads the frame
        at image_size; with `eye_size`, the part branch reads its crops from x itself, as fine as it comes."""
        small = self.frame(x)
        m = self.motion_encoder(2 * small - 1, None if x is small else 2 * x - 1)
        z_pose, z_dyn = m[:, :POSE_DIM], m[:, POSE_DIM:]
        if self.cfg.pose_residual:
            z_dyn = z_dyn - self.dyn_predicted(z_pose)
        return z_pose, z_dyn

    def dyn_predicted(self, z_pose: torch.Tensor) -> torch.Tensor:
        """With `pose_residual`: the part of E_mot's dynamics output that z_pose predicts linearly,
        (B, 6) → (B, Z_dyn); E_mot's z_dyn is the rest."""
        return z_pose @ self.dyn_from_pose.to(z_pose.dtype).T + self.dyn_offset.to(z_pose.dtype)

    def generator_dyn(self, z_pose: torch.Tensor, z_dyn: torch.Tensor) -> torch.Tensor:
        """What the generators see of the dynamics (E_mot's own output): z_dyn, plus its pose-predicted
        part with `pose_residual`."""
        return z_dyn + self.dyn_predicted(z_pose) if self.cfg.pose_residual else z_dyn

    def canonicalize(self, lat: Latents) -> torch.Tensor:
        """W_s→c then G_3D: the source volume with its own pose and dynamics undone.

        For every canonical voxel p we sample the source at s·R·(p + δ(p)) + t: the point where
        that part of the face sits once the source's dynamics (δ) and pose (s, R, t) are applied.
        A dense generator also adds a feature residual (e.g. closing an open mouth).
        """
        B = lat.volume.shape[0]
        shape = lat.volume.shape[2:]                                          # (D, Hv, Wv)
        z_dyn = self.generator_dyn(lat.z_pose, lat.z_dyn)
        delta, residual = self.warp_to_canonical(z_dyn, lat.z_id)            # (B, D, Hv, Wv, 3), (B, C, D, Hv, Wv)
        points = self.grid.expand(B, *shape, 3) + delta
        canonical = warp.sample_volume(lat.volume, warp.canonical_to_pose(points, lat.z_pose))
        if residual is not None:
            canonical = canonical + residual
        return self.g3d(canonical)

    def pose_volume(self, canonical: torch.Tensor, z_id: torch.Tensor, z_pose: torch.Tensor,
                    z_dyn: torch.Tensor) -> torch.Tensor:
        """W_c→d: a canonical volume (B, C, D, Hv, Wv) with the target dynamics, then pose, applied.

        Every output voxel q samples the canonical volume at p + δ, p = R^T (q - t) / s: the pose
        undone, then the dynamics' displacement δ. With `canonical_flow` δ is read at p, so it moves
        with the head; without it, δ is read at q, where the part it moves sits in a frontal face.
        """
        B, C, D, Hv, Wv = canonical.shape
        # delta (B, D, Hv, Wv, 3), residual (B, C, ...)
        delta, residual = self.warp_from_canonical(self.generator_dyn(z_pose, z_dyn), z_id)
        if residual is not None:                                             # dynamics drawn in canonical space,
            canonical = canonical + residual                                 # before the pose is applied
        points = warp.pose_to_canonical(self.grid.expand(B, D, Hv, Wv, 3), z_pose)
        if self.cfg.canonical_flow:
            delta = warp.sample_field(delta, points)
        return warp.sample_volume(canonical, points + delta)                 # (B, C, D, Hv, Wv)

    def decode(self, canonical: torch.Tensor, z_id: torch.Tensor, z_pose: torch.Tensor,
               z_dyn: torch.Tensor, reference: dict[str, torch.Tensor] | None = None) -> torch.Tensor:
        """W_c→d, projection and G_2D (then G_part, with `part_painter`): a canonical volume shown with
        any pose and dynamics.

        canonical: (B, C, D, Hv, Wv); z_id (B, Z_id); z_pose (B, 6); z_dyn (B, Z_dyn) → (B, 3, H, W).
        With `part_reference` G_part also needs the source's part crops, `reference` (part_reference).
        """
        image = self.draw(canonical, z_id, z_pose, z_dyn)
        if self.part_painter is not None:                                    # G_part: eyes and mouth at the pixel
            pose = z_pose.detach()                                           # placed, like E_mot's crops, by a pose
            image = self.part_painter(image, pose, self.painter_code(pose, z_dyn), self.motion_encoder.parts,
                                      reference)
        return image

    def part_reference(self, x: torch.Tensor, z_pose: torch.Tensor) -> dict[str, torch.Tensor] | None:
        """What G_part reads of the source with `part_reference`: each part's crop of source images x
        (B, 3, S, S), placed by their own z_pose (B, 6), each at the resolution the part is painted at
        ({part: (B, 3, h, w)}); None for a model without it."""
        if self.part_painter is None or not self.cfg.part_reference:
            return None
        return self.motion_encoder.parts.crops(self.frame(x), z_pose, x)

    def draw(self, canonical: torch.Tensor, z_id: torch.Tensor, z_pose: torch.Tensor,
             z_dyn: torch.Tensor) -> torch.Tensor:
        """W_c→d, projection and G_2D, without G_part: (B, 3, H, W), what G_part repaints."""
        posed = self.pose_volume(canonical, z_id, z_pose, z_dyn)           # (B, C, D, Hv, Wv)
        B, C, D, Hv, Wv = posed.shape
        projected = posed.reshape(B, C * D, Hv, Wv)                          # orthographic: depth → channels
        return self.g2d(projected, torch.cat([z_id, self.generator_dyn(z_pose, z_dyn)], 1))

    def painter_code(self, z_pose: torch.Tensor, z_dyn: torch.Tensor) -> torch.Tensor:
        """G_part's condition (B, Z_dyn + 6): E_mot's own dynamics output and the pose, which it is
        placed by and does not teach (pass it detached)."""
        return torch.cat([self.generator_dyn(z_pose, z_dyn), z_pose], 1)

    def reenact(self, source: torch.Tensor, driver: torch.Tensor) -> torch.Tensor:
        """The source's appearance and identity with the driver's pose and dynamics: (B, 3, H, W)."""
        s = self.encode(source)
        _, pose, dyn = self.encode_codes(driver)
        return self.decode(self.canonicalize(s), s.z_id, pose, dyn, self.part_reference(source, s.z_pose))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Auto-encode: x (B, 3, H, W) → its reconstruction through the canonical volume."""
        lat = self.encode(x)
        return self.decode(self.canonicalize(lat), lat.z_id, lat.z_pose, lat.z_dyn, self.part_reference(x, lat.z_pose))


def reference_rows(ref: dict[str, torch.Tensor] | None, rows: slice | int) -> dict[str, torch.Tensor] | None:
    """Rows of a part reference (:meth:`FaceLatentModel.part_reference`): a slice of its batch, or, for an
    int, its one portrait repeated that many times (a view, no copy); None (no reference) stays None."""
    if ref is None:
        return None
    if isinstance(rows, int):
        return {r: v.expand(rows, *v.shape[1:]) for r, v in ref.items()}
    return {r: v[rows] for r, v in ref.items()}


def at_size(x: torch.Tensor, size: int) -> torch.Tensor:
    """Images (B, 3, S, S) at (B, 3, size, size), each pixel the mean of the finer ones (x itself if S == size)."""
    return x if x.shape[-1] == size else F.interpolate(x, size=(size, size), mode="area")


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def load_face_latent(path: str | os.PathLike | None = None, *, device: str = "cpu") -> FaceLatentModel:
    """A trained FaceLatentModel in eval mode: a path or a shipped name (labkit.io.weights), the default by default."""
    return model_from_state(*load_state(resolve(path, KIND, FACE_LATENT), kind=KIND)).to(device).eval()


def model_from_state(state: dict, meta: dict) -> FaceLatentModel:
    """The FaceLatentModel a checkpoint's (state, meta) describe (labkit.io.checkpoint.load_state), in float32."""
    model = FaceLatentModel(FaceLatentConfig(**meta["config"]))
    model.load_state_dict(state)
    return model
