"""Convolutional building blocks shared by the face latent networks, E_mot's part branch and LabSync.

Pre-activation residual blocks (GroupNorm → SiLU → conv, twice) as in the diffusion U-Nets that
MegaPortraits' and LivePortrait's encoders resemble; a strided block downsamples through a 1 × 1
convolution on its skip path.
"""
from __future__ import annotations

import math

import torch.nn as nn


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
