"""Image similarity: PSNR, SSIM and multi-scale SSIM, as differentiable torch functions.

All functions take images (B, C, H, W) with values in [0, `data_range`] and return one value
per image, shape (B,). SSIM follows Wang et al. 2004 (Gaussian window 11, sigma 1.5, K1 = 0.01,
K2 = 0.03, valid convolution, as in skimage's `gaussian_weights=True` and most papers).
MS-SSIM follows Wang et al. 2003 with the standard five scale weights, renormalised over as
many scales as the image size allows (128 px images get 4 scales, 64 px get 3).
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F

MS_SSIM_WEIGHTS = (0.0448, 0.2856, 0.3001, 0.2363, 0.1333)
WINDOW, SIGMA = 11, 1.5


def _check(x: torch.Tensor, y: torch.Tensor) -> None:
    if x.shape != y.shape:
        raise ValueError(f"images must have the same shape, got {tuple(x.shape)} and {tuple(y.shape)}")
    if x.ndim != 4:
        raise ValueError(f"expected images (B, C, H, W), got shape {tuple(x.shape)}")


def psnr(x: torch.Tensor, y: torch.Tensor, *, data_range: float = 1.0) -> torch.Tensor:
    """Peak signal-to-noise ratio in dB per image: (B,). Identical images give +inf."""
    _check(x, y)
    mse = (x.float() - y.float()).pow(2).flatten(1).mean(1)
    return 10 * torch.log10(data_range ** 2 / mse)


def _window(channels: int, device, dtype) -> torch.Tensor:
    g = torch.arange(WINDOW, device=device, dtype=dtype) - (WINDOW - 1) / 2
    g = torch.exp(-g ** 2 / (2 * SIGMA ** 2))
    g = g / g.sum()
    return (g[:, None] * g[None, :]).expand(channels, 1, WINDOW, WINDOW).contiguous()


def _ssim_terms(x, y, data_range):
    """Per-image mean SSIM and mean contrast-structure term: two (B,) tensors."""
    C = x.shape[1]
    w = _window(C, x.device, x.dtype)
    blur = lambda z: F.conv2d(z, w, groups=C)  # noqa: E731  valid Gaussian filtering, per channel
    mu_x, mu_y = blur(x), blur(y)
    var_x = blur(x * x) - mu_x ** 2
    var_y = blur(y * y) - mu_y ** 2
    cov = blur(x * y) - mu_x * mu_y
    c1, c2 = (0.01 * data_range) ** 2, (0.03 * data_range) ** 2
    cs = (2 * cov + c2) / (var_x + var_y + c2)
    lum = (2 * mu_x * mu_y + c1) / (mu_x ** 2 + mu_y ** 2 + c1)
    return (lum * cs).flatten(1).mean(1), cs.flatten(1).mean(1)


def ssim(x: torch.Tensor, y: torch.Tensor, *, data_range: float = 1.0) -> torch.Tensor:
    """Structural similarity per image: (B,), 1 for identical images."""
    _check(x, y)
    if min(x.shape[-2:]) < WINDOW:
        raise ValueError(f"SSIM needs images of at least {WINDOW} px, got {tuple(x.shape[-2:])}")
    return _ssim_terms(x.float(), y.float(), data_range)[0]


def ms_ssim_scales(size: int) -> int:
    """How many of the five MS-SSIM scales fit an image of `size` px (the coarsest >= window)."""
    return max(1, min(len(MS_SSIM_WEIGHTS), int(math.log2(size / WINDOW)) + 1))


def ms_ssim(x: torch.Tensor, y: torch.Tensor, *, data_range: float = 1.0) -> torch.Tensor:
    """Multi-scale SSIM per image: (B,). Contrast-structure at every scale, luminance at the last."""
    _check(x, y)
    if min(x.shape[-2:]) < WINDOW:
        raise ValueError(f"MS-SSIM needs images of at least {WINDOW} px, got {tuple(x.shape[-2:])}")
    x, y = x.float(), y.float()
    n = ms_ssim_scales(min(x.shape[-2:]))
    weights = torch.tensor(MS_SSIM_WEIGHTS[:n], device=x.device)
    weights = weights / weights.sum()
    values = []
    for k in range(n):
        s, cs = _ssim_terms(x, y, data_range)
        values.append(s if k == n - 1 else cs)
        if k < n - 1:
            x, y = F.avg_pool2d(x, 2), F.avg_pool2d(y, 2)
    v = torch.stack(values, 1).clamp_min(1e-6)   # (B, n); negative cs would make the power undefined
    return torch.prod(v ** weights, dim=1)
