"""Interpolation between latent codes (VASA-1 §4 shows smooth latent traversals).

``lerp`` walks the straight line; ``slerp`` (Shoemake 1985) walks the great circle between two
codes' directions while interpolating their lengths linearly, which keeps the norm of codes
from shrinking mid-way -- the usual choice for codes that live near a sphere (normalised
identity codes).
"""
from __future__ import annotations

import torch


def lerp(a: torch.Tensor, b: torch.Tensor, t: torch.Tensor | float) -> torch.Tensor:
    """(1 - t) a + t b; a, b: (..., Z); t broadcastable, e.g. (T, 1) for T steps."""
    return a + (b - a) * t


def slerp(a: torch.Tensor, b: torch.Tensor, t: torch.Tensor | float, eps: float = 1e-7) -> torch.Tensor:
    """Spherical interpolation of direction, linear of norm; falls back to lerp for parallel codes."""
    t = torch.as_tensor(t, dtype=a.dtype)
    na, nb = a.norm(dim=-1, keepdim=True), b.norm(dim=-1, keepdim=True)
    ua, ub = a / na.clamp_min(eps), b / nb.clamp_min(eps)
    omega = torch.acos((ua * ub).sum(-1, keepdim=True).clamp(-1 + eps, 1 - eps))
    so = torch.sin(omega)
    direction = (torch.sin((1 - t) * omega) * ua + torch.sin(t * omega) * ub) / so
    out = direction * lerp(na, nb, t)
    return torch.where(so < 1e-4, lerp(a, b, t), out)
