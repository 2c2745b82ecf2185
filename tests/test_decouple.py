"""Pose-residual dynamics (labkit.latent.decouple): z_dyn loses its linear copy of z_pose, images do not change."""
import pytest
import torch

from labkit.io.checkpoint import read_metadata, save_weights
from labkit.latent.config import make_config
from labkit.latent.decouple import (
    decouple,
    decouple_checkpoint,
    fit_linear,
    least_varied_basis,
    raw_motion,
    rotate_dynamics,
)
from labkit.latent.model import KIND, FaceLatentModel, load_face_latent


def leaky_tiny() -> FaceLatentModel:
    """A tiny s128d-like model whose z_dyn is half a linear copy of z_pose, half its own (E_mot's last
    layer rewired), with non-zero warps so that the dynamics show."""
    torch.manual_seed(0)
    m = FaceLatentModel(make_config("tiny", dense_warp=True, dyn_film=False, canonical_flow=True))
    for g in (m.warp_to_canonical, m.warp_from_canonical):
        torch.nn.init.normal_(g.out[-1].weight, std=0.3)
    head = m.motion_encoder.head[-1]
    torch.nn.init.normal_(head.weight, std=0.3)
    with torch.no_grad():
        mix = torch.randn(m.cfg.dyn_dim, 6)
        head.weight[6:] = 0.5 * head.weight[6:] + mix @ head.weight[:6]
    return m.eval()


def test_fit_linear_recovers_a_linear_copy_and_ignores_noise():
    g = torch.Generator().manual_seed(0)
    pose = torch.randn(500, 6, generator=g)
    A, b = torch.randn(5, 6, generator=g), torch.randn(5, generator=g)
    A_fit, b_fit, r2 = fit_linear(pose, pose @ A.T + b)
    assert torch.allclose(A_fit, A, atol=1e-4) and torch.allclose(b_fit, b, atol=1e-4) and r2 > 0.9999
    assert fit_linear(pose, torch.randn(500, 5, generator=g))[2] < 0.05     # independent codes: nothing to take
    with pytest.raises(ValueError, match="z_pose"):
        fit_linear(pose, torch.randn(499, 5))
    with pytest.raises(ValueError, match="more than 7 frames"):
        fit_linear(pose[:7], pose[:7, :5])


@torch.no_grad()
def test_decouple_removes_the_pose_from_z_dyn_and_keeps_every_image():
    m = leaky_tiny()
    x = torch.rand(64, 3, 64, 64, generator=torch.Generator().manual_seed(1))
    pose, dyn = m.encode_motion(x)
    assert fit_linear(pose, dyn)[2] > 0.5                                   # the leak we take out
    d, r2 = decouple(m, x)
    assert d.cfg.pose_residual and not m.cfg.pose_residual and r2 == pytest.approx(fit_linear(pose, dyn)[2], abs=1e-6)
    pose_d, dyn_d = d.encode_motion(x)
    assert torch.equal(pose_d, pose)
    assert fit_linear(pose_d, dyn_d)[2] < 1e-6                               # no linear copy of the pose is left
    assert torch.allclose(d(x[:4]), m(x[:4]), atol=1e-5)                    # a frame's own codes: same image
    assert torch.allclose(d.reenact(x[:4], x[4:8]), m.reenact(x[:4], x[4:8]), atol=1e-5)
    # a swap (pose of one frame, dynamics of another) is not the same: the pose-predicted part follows the pose
    lat = d.encode(x[:2])
    can = d.canonicalize(lat)
    swapped_d = d.decode(can, lat.z_id, pose[2:4], dyn_d[4:6])
    swapped_m = m.decode(can, lat.z_id, pose[2:4], dyn[4:6])
    assert (swapped_d - swapped_m).abs().max() > 1e-3
    # refitting a decoupled model finds the same map, from E_mot's raw output
    assert torch.allclose(raw_motion(d, x)[1], dyn, atol=1e-5)
    d2, _ = decouple(d, x)
    assert torch.allclose(d2.dyn_from_pose, d.dyn_from_pose, atol=1e-4)


def test_decoupled_checkpoints_round_trip_and_old_ones_load(tmp_path):
    from dataclasses import asdict

    m = leaky_tiny()
    src = tmp_path / "tiny.safetensors"
    save_weights(src, m, kind=KIND, config=asdict(m.cfg), extra={"step": 3})
    old = load_face_latent(src)                                              # no pose_residual: no buffers
    assert not hasattr(old, "dyn_from_pose")
    dst, r2 = decouple_checkpoint(src, tmp_path / "d.safetensors", frames=100, progress=False)
    meta = read_metadata(dst)
    assert meta["config"]["pose_residual"] and meta["step"] == 3 and meta["decouple"]["frames"] == 100
    d = load_face_latent(dst)
    assert d.dyn_from_pose.abs().sum() > 0 and 0 < r2 <= 1
    x = torch.rand(2, 3, 64, 64, generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        assert torch.allclose(d(x), old(x), atol=1e-5)
    with pytest.raises(FileExistsError, match="--overwrite"):
        decouple_checkpoint(src, dst, frames=100)
    with pytest.raises(ValueError, match="at least 100"):
        decouple_checkpoint(src, tmp_path / "e.safetensors", frames=10)


def _every_option_tiny(**overrides) -> FaceLatentModel:
    """A tiny model with every reader and user of z_dyn switched on, and no zero-initialised layer left zero, so
    that a map that missed one of them would change the images."""
    torch.manual_seed(3)
    cfg = make_config("tiny", part_crops=True, part_painter=True, part_spatial=True, crop_decoder=True,
                      dyn_film=True, pose_residual=True, **overrides)
    m = FaceLatentModel(cfg)
    with torch.no_grad():
        for p in m.parameters():
            p.add_(0.05 * torch.randn_like(p))
        m.dyn_from_pose.normal_(std=0.3)
        m.dyn_offset.normal_(std=0.3)
    return m.eval()


@pytest.mark.parametrize("dense_warp", [True, False])
@torch.no_grad()
def test_rotating_the_dynamics_basis_changes_the_codes_and_no_image(dense_warp):
    m = _every_option_tiny(dense_warp=dense_warp)
    x = torch.rand(6, 3, 64, 64, generator=torch.Generator().manual_seed(4))
    pose, dyn = m.encode_motion(x)
    before = m(x[:3]), m.reenact(x[:3], x[3:])
    crop = torch.rand(3, 3, 8, 16, generator=torch.Generator().manual_seed(6))
    drawn = m.crop_decoder(crop, torch.cat([dyn[:3], pose[:3], pose[3:]], 1))
    Q = least_varied_basis(torch.randn(200, m.cfg.dyn_dim) * torch.linspace(0.1, 3, m.cfg.dyn_dim))
    r = rotate_dynamics(m, Q)
    pose_r, dyn_r = r.encode_motion(x)
    assert torch.equal(pose_r, pose) and torch.allclose(dyn_r, dyn @ Q, atol=1e-5)
    assert not torch.allclose(dyn_r, dyn, atol=1e-2)
    assert torch.allclose(r(x[:3]), before[0], atol=1e-5)
    assert torch.allclose(r.reenact(x[:3], x[3:]), before[1], atol=1e-5)
    assert torch.allclose(r.crop_decoder(crop, torch.cat([dyn_r[:3], pose[:3], pose[3:]], 1)), drawn, atol=1e-5)
    with pytest.raises(ValueError, match="orthonormal"):
        rotate_dynamics(m, 2 * Q)


def test_the_least_varied_basis_starts_where_the_codes_vary_least():
    g = torch.Generator().manual_seed(5)
    z = torch.randn(500, 4, generator=g) * torch.tensor([3.0, 0.01, 1.0, 0.1])
    Q = least_varied_basis(z)
    assert torch.allclose(Q.T @ Q, torch.eye(4), atol=1e-5)
    assert (z @ Q).var(0).argsort().tolist() == [0, 1, 2, 3]                  # ascending variance
    assert abs(float(Q[1, 0])) > 0.99                                        # the 0.01 axis comes first
