"""Convolutional building blocks shared by the face latent networks, E_mot's part branch and LabSync.

Pre-activation residual blocks (GroupNorm → SiLU → conv, twice) as in the diffusion U-Nets that
MegaPortraits' and LivePortrait's encoders resemble; a strided block downsamples through a 1 × 1
convolution on its skip path.
"""
from __future__ import annotations

import math

import torch
import torch.nn as nn
import torch.nn.functional as F


def groups(c: int) -> int:
    """GroupNorm groups for c channels: 8 where c allows it."""
    return math.gcd(c, 8)


class ResBlock2d(nn.Module):
    """(B, c_in, H, W) → (B, c_out, H / stride, W / stride)."""

    def __init__(self, c_in: int, c_out: int, stride: int = 1):
        super().__init__()
        self.body = nn.Sequential(
            nn.GroupNorm(groups(c_in), c_in), nn.SiLU(), nn.Conv2d(c_in, c_out, 3, stride, 1),
            nn.GroupNorm(groups(c_out), c_out), nn.SiLU(), nn.Conv2d(c_out, c_out, 3, 1, 1))
        self.skip = nn.Identity() if (c_in == c_out and stride == 1) else nn.Conv2d(c_in, c_out, 1, stride)

    def forward(self, x):
        return self.skip(x) + self.body(x)

    def upsampled(self, x):
        """forward(F.interpolate(x, scale_factor=2, mode="nearest")), the same function in under half
        the work: (B, c_in, H, W) → (B, c_out, 2H, 2W), for a stride-1 block.

        Repeating every pixel 2 x 2 changes neither GroupNorm's statistics nor SiLU, and the 1 × 1 skip
        acts per pixel, so all three run at H x W; the first 3 × 3 convolution reads the repeated
        pixels through `upsample_conv3x3`, and the skip is added to each 2 x 2 block by broadcasting.
        """
        norm1, act1, conv1, norm2, act2, conv2 = self.body
        if conv1.stride != (1, 1):
            raise ValueError("upsampled() is for stride-1 blocks")
        h = conv2(act2(norm2(upsample_conv3x3(act1(norm1(x)), conv1))))    # (B, c_out, 2H, 2W)
        s = self.skip(x)                                                     # (B, c_out, H, W)
        B, C, H, W = s.shape
        return (h.view(B, C, H, 2, W, 2) + s.view(B, C, H, 1, W, 1)).reshape(B, C, 2 * H, 2 * W)


def upsample_conv3x3(x: torch.Tensor, conv: nn.Conv2d) -> torch.Tensor:
    """conv(F.interpolate(x, scale_factor=2, mode="nearest")) for a 3 × 3, stride-1, padding-1 conv:
    (B, c_in, H, W) → (B, c_out, 2H, 2W), as one 2 × 2 convolution of x per output phase.

    Output pixel (2i + a, 2j + b) reads upsampled rows 2i + a - 1 .. 2i + a + 1, which repeat rows
    (i - 1, i, i) of x for a = 0 and (i, i, i + 1) for a = 1: the kernel's rows fold to two taps, and
    its columns likewise. 16 products per 2 x 2 output block instead of 36.
    """
    B, _, H, W = x.shape
    c_out = conv.out_channels
    fold = conv.weight.new_tensor([[[1, 0, 0], [0, 1, 1]],                   # (phase, 2 taps, 3 taps)
                                   [[1, 1, 0], [0, 0, 1]]])
    # the four phases' kernels (a, b, c_out, c_in, 2, 2), stacked as output channels of one convolution
    w = torch.einsum("ary,oiyx,bcx->aboirc", fold, conv.weight, fold).reshape(4 * c_out, -1, 2, 2)
    bias = None if conv.bias is None else conv.bias.repeat(4)
    y = F.conv2d(F.pad(x, (1, 1, 1, 1)), w, bias).view(B, 2, 2, c_out, H + 1, W + 1)
    out = y.new_empty(B, c_out, H, 2, W, 2)
    for a in (0, 1):                        # phase a reads x's rows (i - 1, i) at y's row i, (i, i + 1) at row i + 1
        for b in (0, 1):
            out[:, :, :, a, :, b] = y[:, a, b, :, a:a + H, b:b + W]
    return out.view(B, c_out, 2 * H, 2 * W)


class ResBlock3d(nn.Module):
    """(B, c, D, H, W) → same shape."""

    def __init__(self, c: int):
        super().__init__()
        self.body = nn.Sequential(nn.GroupNorm(groups(c), c), nn.SiLU(), nn.Conv3d(c, c, 3, 1, 1),
                                  nn.GroupNorm(groups(c), c), nn.SiLU(), nn.Conv3d(c, c, 3, 1, 1))

    def forward(self, x):
        return x + self.body(x)


class FiLM(nn.Module):
    """Feature-wise scale and shift of (B, c, H, W) features from a code (B, z); identity at init."""

    def __init__(self, z: int, c: int):
        super().__init__()
        self.lin = nn.Linear(z, 2 * c)
        nn.init.zeros_(self.lin.weight)
        nn.init.zeros_(self.lin.bias)

    def forward(self, x, z):
        scale, shift = self.lin(z)[:, :, None, None].chunk(2, 1)
        return x * (1 + scale) + shift
