import torch

from labkit.latent.blocks import ResBlock2d, ResBlock3d, groups


def test_strided_block_shapes_and_key_layout():
    # the key names are what every shipped checkpoint (face latent, E_mot's parts, LabSync) stores
    b = ResBlock2d(8, 16, stride=2)
    assert b(torch.randn(2, 8, 12, 12)).shape == (2, 16, 6, 6)
    assert sorted(b.state_dict()) == sorted(
        [f"body.{i}.{p}" for i in (0, 2, 3, 5) for p in ("weight", "bias")] + ["skip.weight", "skip.bias"])


def test_blocks_are_residual():
    torch.manual_seed(0)
    x2, x3 = torch.randn(2, 8, 5, 5), torch.randn(1, 4, 3, 5, 5)
    b2, b3 = ResBlock2d(8, 8), ResBlock3d(4)
    assert isinstance(b2.skip, torch.nn.Identity)
    for b, x in ((b2, x2), (b3, x3)):
        torch.nn.init.zeros_(b.body[-1].weight)
        torch.nn.init.zeros_(b.body[-1].bias)
        assert torch.equal(b(x), x)          # a block whose last conv is zero passes its input through


def test_groups_divides_channels():
    for c in (3, 4, 8, 12, 24, 256):
        assert c % groups(c) == 0 and groups(c) <= 8
    assert groups(256) == 8 and groups(12) == 4
