"""PSNR, SSIM and MS-SSIM against hand values and scikit-image."""
import numpy as np
import pytest
import torch
from skimage.metrics import structural_similarity

from labkit.metrics import ms_ssim, psnr, ssim
from labkit.metrics.image import ms_ssim_scales


def _pair(seed=0, noise=0.1, size=64):
    g = torch.Generator().manual_seed(seed)
    x = torch.rand(2, 3, size, size, generator=g)
    return x, (x + noise * torch.randn(x.shape, generator=g)).clamp(0, 1)


def test_psnr_hand_value_and_identity():
    x = torch.zeros(1, 1, 4, 4)
    assert float(psnr(x, x + 0.1)) == pytest.approx(20.0, abs=1e-4)
    assert torch.isinf(psnr(x, x)).all()


def test_ssim_matches_skimage_gaussian_ssim():
    x, y = _pair()
    ref = structural_similarity(x[0].permute(1, 2, 0).numpy(), y[0].permute(1, 2, 0).numpy(), channel_axis=2,
                                gaussian_weights=True, sigma=1.5, use_sample_covariance=False, data_range=1)
    assert float(ssim(x, y)[0]) == pytest.approx(ref, abs=1e-4)


def test_ssim_and_ms_ssim_order_and_bounds():
    x, y_small = _pair(noise=0.02)
    _, y_big = _pair(noise=0.3)
    assert torch.allclose(ssim(x, x), torch.ones(2)) and torch.allclose(ms_ssim(x, x), torch.ones(2))
    assert (ssim(x, y_small) > ssim(x, y_big)).all() and (ms_ssim(x, y_small) > ms_ssim(x, y_big)).all()
    assert ms_ssim_scales(128) == 4 and ms_ssim_scales(64) == 3 and ms_ssim_scales(512) == 5


def test_ms_ssim_is_differentiable():
    x, y = _pair()
    y.requires_grad_(True)
    ms_ssim(x, y).sum().backward()
    assert y.grad is not None and torch.isfinite(y.grad).all() and y.grad.abs().sum() > 0


def test_bad_inputs():
    with pytest.raises(ValueError, match="same shape"):
        psnr(torch.zeros(1, 3, 8, 8), torch.zeros(1, 3, 8, 9))
    with pytest.raises(ValueError, match="at least 11"):
        ssim(torch.zeros(1, 3, 8, 8), torch.zeros(1, 3, 8, 8))
    with pytest.raises(ValueError, match=r"\(B, C, H, W\)"):
        ms_ssim(torch.zeros(3, 16, 16), torch.zeros(3, 16, 16))
    assert np.isfinite(float(psnr(torch.zeros(1, 1, 4, 4), torch.ones(1, 1, 4, 4))))
