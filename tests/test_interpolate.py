import torch

from labkit.latent.interpolate import lerp, slerp


def test_endpoints_and_midpoint():
    g = torch.Generator().manual_seed(0)
    a, b = torch.randn(5, generator=g), torch.randn(5, generator=g)
    t = torch.linspace(0, 1, 5)[:, None]
    for f in (lerp, slerp):
        path = f(a, b, t)
        assert torch.allclose(path[0], a, atol=1e-5) and torch.allclose(path[-1], b, atol=1e-5)
    # slerp keeps the norm on the straight line between the two norms; lerp shrinks it mid-way
    a, b = torch.tensor([1.0, 0.0]), torch.tensor([0.0, 1.0])
    assert abs(float(slerp(a, b, 0.5).norm()) - 1) < 1e-5 and float(lerp(a, b, 0.5).norm()) < 0.8


def test_parallel_codes_fall_back_to_lerp():
    a = torch.tensor([1.0, 2.0])
    assert torch.allclose(slerp(a, 2 * a, 0.5), 1.5 * a, atol=1e-5)
