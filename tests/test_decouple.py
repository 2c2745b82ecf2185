"""Pose-residual dynamics (labkit.latent.decouple): z_dyn loses its linear copy of z_pose, images do not change."""
import pytest
import torch

from labkit.io.checkpoint import read_metadata, save_weights
from labkit.latent.config import make_config
from labkit.latent.decouple import decouple, decouple_checkpoint, fit_linear, raw_motion
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
