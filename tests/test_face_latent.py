"""The face latent model: shapes, warps, losses, training/resume, checkpoints, evaluation."""
import functools
import json

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from labkit.io.checkpoint import load_matching, load_state, read_metadata, save_weights
from labkit.latent import warp
from labkit.latent.config import PRESETS, FaceLatentConfig, LossWeights, TrainLatentConfig, make_config
from labkit.latent.losses import (
    READOUT,
    cross_correlation,
    id_info_nce,
    latent_losses,
    masked_mean,
    pose_target,
    random_similarity,
    readout_targets,
    region_l1,
    region_masks,
)
from labkit.latent.model import DenseWarpGenerator, FaceLatentModel, load_face_latent
from labkit.latent.parts import crop_size
from labkit.latent.train import lr_at, train_latent
from labkit.synthtalk.factors import factor_row


@pytest.fixture(scope="module")
def tiny():
    torch.manual_seed(0)
    return FaceLatentModel(make_config("tiny")).eval()


@torch.no_grad()
def test_encode_decode_shapes(tiny):
    c = tiny.cfg
    x = torch.rand(3, 3, c.image_size, c.image_size)
    lat = tiny.encode(x)
    assert lat.volume.shape == (3, c.volume_channels, c.volume_depth, c.volume_size, c.volume_size)
    assert lat.z_id.shape == (3, c.id_dim) and lat.z_pose.shape == (3, 6) and lat.z_dyn.shape == (3, c.dyn_dim)
    y = tiny.decode(tiny.canonicalize(lat), lat.z_id, lat.z_pose, lat.z_dyn)
    assert y.shape == x.shape and float(y.min()) >= 0 and float(y.max()) <= 1
    assert tiny.reenact(x, x.flip(0)).shape == x.shape


def test_every_preset_builds_and_runs_at_its_size():
    for name in ("tiny", "s64"):
        m = FaceLatentModel(make_config(name))
        n = m.cfg.image_size
        assert m(torch.rand(1, 3, n, n)).shape == (1, 3, n, n)
    assert make_config("s512").image_size == 512 and set(PRESETS) >= {"tiny", "s64", "s128", "s256", "s512"}


def test_dense_warp_is_zero_at_init_full_size_and_local():
    c = make_config("tiny", dense_warp=True, dyn_film=False)
    g = DenseWarpGenerator(c)
    z_dyn, z_id = torch.randn(2, c.dyn_dim), torch.randn(2, c.id_dim)
    delta, residual = g(z_dyn, z_id)
    assert delta.shape == (2, c.volume_depth, c.volume_size, c.volume_size, 3)
    assert residual.shape == (2, c.volume_channels, c.volume_depth, c.volume_size, c.volume_size)
    assert delta.abs().max() == 0 and residual.abs().max() == 0          # a warm start changes nothing at first
    torch.manual_seed(0)
    torch.nn.init.normal_(g.out[-1].weight)
    delta = g(z_dyn, z_id)[0]
    # neighbouring voxels may move differently (a 4^3 MLP flow is smooth over 4 voxels)
    step = (delta[:, :, 1:] - delta[:, :, :-1]).abs().mean() / delta.abs().mean()
    assert step > 0.2
    m = FaceLatentModel(make_config("tiny", dense_warp=True, motion_size=64))
    assert m.motion_encoder.size == 64 and m.id_encoder.size == m.cfg.code_size == 32
    assert m(torch.rand(1, 3, 64, 64)).shape == (1, 3, 64, 64)
    s128d = make_config("s128d")
    assert s128d.motion_size == s128d.image_size and s128d.dense_warp and not s128d.dyn_film and s128d.canonical_flow


@pytest.mark.parametrize("canonical_flow", [True, False])
def test_canonical_flow_moves_the_dynamics_with_the_head(canonical_flow):
    # a head shifted k voxels to the right must show the same face, dynamics included, k voxels further right:
    # only a displacement read in canonical space (canonical_flow) follows it
    torch.manual_seed(0)
    c = make_config("tiny", dense_warp=True, dyn_film=False, canonical_flow=canonical_flow)
    m = FaceLatentModel(c).eval()
    torch.nn.init.normal_(m.warp_from_canonical.out[-1].weight, std=0.3)        # a non-zero, uneven field
    B, W, k = 2, c.volume_size, 3
    canonical = torch.randn(B, c.volume_channels, c.volume_depth, W, W)
    z_id, z_dyn = torch.randn(B, c.id_dim), torch.randn(B, c.dyn_dim)
    still, shifted = torch.zeros(B, 6), torch.zeros(B, 6)
    shifted[:, 3] = 2 * k / W                                                    # tx: k voxels (x in [-1, 1])
    with torch.no_grad():
        a = m.pose_volume(canonical, z_id, still, z_dyn)
        b = m.pose_volume(canonical, z_id, shifted, z_dyn)
    gap = (b[..., k:] - a[..., :-k]).abs().max()
    if canonical_flow:
        assert gap < 1e-5
    else:
        assert gap > 1e-2                                                        # laid out on the posed grid


def test_warm_start_copies_what_matches_and_says_what_does_not(tiny):
    dense = FaceLatentModel(make_config("tiny", dense_warp=True, dyn_film=False))
    fresh, dropped = load_matching(dense, tiny.state_dict())
    assert {n.split(".")[0] for n in fresh} == {"warp_to_canonical", "warp_from_canonical"}
    assert {n.split(".")[0] for n in dropped} == {"warp_to_canonical", "warp_from_canonical", "g2d"}  # + its FiLMs
    assert torch.equal(dense.state_dict()["app_encoder.lift.weight"], tiny.state_dict()["app_encoder.lift.weight"])
    with pytest.raises(ValueError, match="no tensor"):
        load_matching(dense, {"other.weight": torch.zeros(3)})


def test_bad_input_and_config_errors(tiny):
    with pytest.raises(ValueError, match="expected images"):
        tiny.encode(torch.rand(1, 3, 32, 32))
    with pytest.raises(ValueError, match="unknown preset"):
        make_config("s100")
    with pytest.raises(ValueError, match="power of two"):
        FaceLatentConfig(image_size=100)
    with pytest.raises(ValueError, match="motion_size"):
        FaceLatentConfig(motion_size=96)
    assert make_config("tiny", dyn_dim=5).dyn_dim == 5


def test_rotation_is_orthonormal_and_pose_warps_invert():
    g = torch.Generator().manual_seed(0)
    pose = torch.randn(4, 6, generator=g) * 0.3
    R = warp.rotation_matrix(pose[:, 0], pose[:, 1], pose[:, 2])
    assert torch.allclose(R @ R.transpose(1, 2), torch.eye(3).expand(4, 3, 3), atol=1e-5)
    assert torch.allclose(torch.det(R), torch.ones(4), atol=1e-5)
    pts = warp.identity_grid(3, 4, 5).expand(4, 3, 4, 5, 3)
    back = warp.pose_to_canonical(warp.canonical_to_pose(pts, pose), pose)
    assert torch.allclose(back, pts, atol=1e-5)
    # the identity grid samples a volume exactly at its voxel centres
    v = torch.randn(2, 3, 3, 4, 5, generator=g)
    assert torch.allclose(warp.sample_volume(v, warp.identity_grid(3, 4, 5).expand(2, 3, 4, 5, 3)), v, atol=1e-5)


def test_translation_moves_content_the_right_way():
    # content at the canonical centre must appear at +t after posing: x right, y down
    v = torch.zeros(1, 1, 1, 9, 9)
    v[0, 0, 0, 4, 4] = 1
    pose = torch.tensor([[0, 0, 0, 2 / 9 * 2, 0, 0]], dtype=torch.float32)        # two voxels right
    grid = warp.pose_to_canonical(warp.identity_grid(1, 9, 9)[None], pose)
    moved = warp.sample_volume(v, grid)[0, 0, 0]
    assert tuple(np.argwhere(moved.numpy() > 0.5)[0]) == (4, 6)


def test_losses_and_the_ablation_switch(tiny):
    g = torch.Generator().manual_seed(1)
    b = dict(source=torch.rand(4, 3, 64, 64, generator=g), driver=torch.rand(4, 3, 64, 64, generator=g),
             identity=torch.arange(4))
    total, terms, images = latent_losses(tiny, b, LossWeights(), consistency=True)
    assert {"rec", "transfer", "cross_id", "cross_motion", "id_contrast"} <= set(terms) and torch.isfinite(total)
    _, terms0, images0 = latent_losses(tiny, b, LossWeights(), consistency=False)
    assert "transfer" not in terms0 and "cross" not in images0 and "cross" in images
    assert "region" not in terms                         # needs landmarks
    b["source_landmarks"] = b["driver_landmarks"] = torch.full((4, 68, 2), 32.0) + torch.randn(4, 68, 2)
    _, terms1, _ = latent_losses(tiny, b, LossWeights(), consistency=False)
    _, terms2, _ = latent_losses(tiny, b, LossWeights(region=0), consistency=False)
    assert terms1["region"] > 0 and "region" not in terms2


def test_the_readout_loss_regresses_the_first_dynamics_coordinates_on_the_drawn_factors(tiny):
    g = torch.Generator().manual_seed(2)
    b = dict(source=torch.rand(3, 3, 64, 64, generator=g), driver=torch.rand(3, 3, 64, 64, generator=g),
             identity=torch.arange(3))
    with pytest.raises(ValueError, match="factors"):
        latent_losses(tiny, b, LossWeights(readout=1.0), consistency=False)
    rows = [factor_row(blink=1.0, brow=-1.0, gaze_yaw=25.0, gaze_pitch=0.0), factor_row(), factor_row(blink=0.5)]
    b["source_factors"] = torch.from_numpy(np.stack(rows)).float()
    b["driver_factors"] = b["source_factors"].flip(0)
    assert readout_targets(b["source_factors"])[0].tolist() == [1.0, -1.0, 1.0, 0.0]
    _, terms, _ = latent_losses(tiny, b, LossWeights(readout=1.0), consistency=False)
    with torch.no_grad():
        z_dyn = torch.cat([tiny.encode_motion(b["source"])[1], tiny.encode_motion(b["driver"])[1]])
        gt = readout_targets(torch.cat([b["source_factors"], b["driver_factors"]]))
    assert terms["readout"] == pytest.approx(float(((z_dyn[:, :len(READOUT)] - gt) ** 2).mean()), rel=1e-4)
    assert "readout" not in latent_losses(tiny, b, LossWeights(), consistency=False)[1]


def _fine_batch(n=4, size=128, seed=7):
    g = torch.Generator().manual_seed(seed)
    lm = size / 2 + size / 8 * torch.randn(n, 68, 2, generator=g)
    return dict(source=torch.rand(n, 3, size, size, generator=g), driver=torch.rand(n, 3, size, size, generator=g),
                cross_target=torch.rand(n, 3, size, size, generator=g), identity=torch.arange(n),
                source_landmarks=lm, driver_landmarks=lm.flip(0), cross_landmarks=lm.roll(1, 0))


def test_frames_finer_than_the_model_draws_are_its_own_frames_to_the_losses():
    torch.manual_seed(0)
    model = FaceLatentModel(make_config("tiny", part_crops=True, part_painter=True, crop_decoder=True)).eval()
    w = LossWeights(crops=1.0, cross_render=1.0)
    fine = _fine_batch()
    small = {**fine, **{k: F.interpolate(fine[k], size=(64, 64), mode="area")
                        for k in ("source", "driver", "cross_target")},
             **{k: fine[k] / 2 for k in ("source_landmarks", "driver_landmarks", "cross_landmarks")}}
    torch.manual_seed(1)
    total_fine, terms_fine, images = latent_losses(model, fine, w)
    torch.manual_seed(1)
    total_small, terms_small, _ = latent_losses(model, small, w)
    assert set(terms_fine) == set(terms_small) >= {"rec", "region", "crops", "cross_render", "transfer"}
    assert all(terms_fine[k] == pytest.approx(terms_small[k], rel=1e-4, abs=1e-6) for k in terms_fine)
    assert images["driver"].shape[-1] == 64
    # a model reading the eyes finer reads them from the fine frames, and learns from them
    eyes = FaceLatentModel(make_config("tiny", part_crops=True, part_painter=True, eye_size=128))
    with torch.no_grad():
        for p in eyes.part_painter.parameters():             # past the zero init, so that z_dyn shows
            p.add_(0.02 * torch.randn_like(p))
    total, _, _ = latent_losses(eyes, fine, LossWeights())
    total.backward()
    assert torch.isfinite(total) and eyes.motion_encoder.parts.nets["eyes"][-1].weight.grad.abs().sum() > 0


def test_a_reference_painter_learns_from_the_source_crops_in_every_loss():
    torch.manual_seed(0)
    model = FaceLatentModel(make_config("tiny", part_crops=True, part_painter=True, part_reference=True,
                                        eye_size=128))
    with torch.no_grad():
        for p in model.part_painter.parameters():            # past the zero init, so that the reference shows
            p.add_(0.02 * torch.randn_like(p))
    total, terms, _ = latent_losses(model, _fine_batch(), LossWeights(cross_render=1.0))
    total.backward()
    assert {"rec", "transfer", "cross_id", "cross_render"} <= set(terms) and torch.isfinite(total)
    assert all(net.ref.weight.grad.abs().sum() > 0 for net in model.part_painter.nets.values())


def test_region_loss_weighs_small_face_regions():
    lm = torch.zeros(2, 68, 2)
    lm[:, :, 0], lm[:, :, 1] = 20.0, 20.0               # eyes and brows around (20, 20) ...
    lm[:, 48:, 0], lm[:, 48:, 1] = 40.0, 50.0           # ... the mouth around (40, 50)
    lm[:, 48, 0] = 30.0                                  # a mouth 10 px wide
    m = region_masks(lm, 64)
    assert m.shape == (2, 2, 64, 64) and m[0, 1, 50, 40] == 1 and m[0, 1, 50, 10] == 0 and m[0, 0, 20, 20] == 1
    target = torch.zeros(2, 3, 64, 64)
    mouth = target.clone()
    mouth[:, :, 48:53, 32:39] = 1.0                      # a small change inside the mouth box
    corner = target.clone()
    corner[:, :, 0:5, 57:64] = 1.0                       # the same change far from the face
    assert (mouth - target).abs().mean() == (corner - target).abs().mean()
    assert region_l1(corner, target, lm) == 0 and region_l1(mouth, target, lm) > 0.1
    with pytest.raises(ValueError, match="landmarks"):
        region_masks(torch.zeros(2, 5, 2), 64)


def test_masked_mean_averages_inside_each_mask_only():
    err = torch.arange(16.0).reshape(1, 4, 4)
    masks = torch.zeros(1, 3, 4, 4)
    masks[0, 0, :2, :2] = 1                              # values 0, 1, 4, 5
    masks[0, 1] = 1                                      # the whole image
    out = masked_mean(err, masks)                        # mask 2 stays empty
    assert out.shape == (1, 3) and out.tolist() == [[2.5, 7.5, 0.0]]


def test_crop_loss_teaches_the_crop_decoder_and_needs_it():
    torch.manual_seed(0)
    lm = torch.full((4, 68, 2), 32.0) + torch.randn(4, 68, 2)
    lm[:, 36, 0], lm[:, 45, 0] = 20.0, 44.0
    batch = dict(source=torch.rand(4, 3, 64, 64), driver=torch.rand(4, 3, 64, 64), identity=torch.arange(4),
                 source_landmarks=lm, driver_landmarks=lm.flip(0))
    model = FaceLatentModel(make_config("tiny", crop_decoder=True))
    w = LossWeights(crops=1.0, region=0.0)
    _, terms, _ = latent_losses(model, batch, w, consistency=False)
    assert terms["crops"] > 0
    model.zero_grad()
    latent_losses(model, batch, w, consistency=False)[0].backward()
    assert model.crop_decoder.out[-1].weight.grad.abs().sum() > 0     # D_crop learns ...
    assert model.motion_encoder.head[-1].weight.grad.abs().sum() > 0  # ... and E_mot with it
    with pytest.raises(ValueError, match="crop_decoder"):
        latent_losses(FaceLatentModel(make_config("tiny")), batch, w, consistency=False)


def test_info_nce_prefers_matching_identity_codes():
    z = torch.randn(6, 8, generator=torch.Generator().manual_seed(0))
    ids = torch.arange(6)
    assert id_info_nce(z, z, ids) < id_info_nce(z, z.roll(1, 0), ids)


def test_decorrelation_term_is_one_sided():
    g = torch.Generator().manual_seed(0)
    pose, noise = torch.randn(2000, 6, generator=g), torch.randn(2000, 24, generator=g)
    assert float(cross_correlation(pose, noise)) < 0.002                     # independent codes: ~0
    copied = torch.cat([pose, noise[:, 6:]], 1)                              # z_dyn repeats the pose in 6 of 24
    assert float(cross_correlation(pose, copied)) == pytest.approx(6 / (6 * 24), abs=0.003)
    with pytest.raises(ValueError, match="N >= 3"):
        cross_correlation(pose[:2], noise[:2])
    model = FaceLatentModel(PRESETS["tiny"]())
    x = torch.rand(6, 3, 64, 64, generator=g)
    batch = {"source": x[:3], "driver": x[3:], "identity": torch.tensor([0, 1, 2])}
    w = LossWeights(region=0, decorrelate=1.0, l1=0, ms_ssim=0, id_contrast=0)
    total, terms, _ = latent_losses(model, batch, w, consistency=False)
    total.backward()                                                          # rec and id terms weigh 0 here
    assert terms["decorrelate"] > 0
    head = model.motion_encoder.head[-1].weight.grad                         # rows: 6 pose, then z_dyn
    assert head[:6].abs().sum() == 0 and head[6:].abs().sum() > 0           # only z_dyn is pushed


def test_pose_target_units():
    f = torch.zeros(1, 14)
    f[0, :6] = torch.tensor([90.0, 0, 0, 0.05, -0.05, 2.0])
    t = pose_target(f)[0]
    assert t[0] == pytest.approx(np.pi / 2) and t[3] == pytest.approx(0.1) and t[4] == pytest.approx(-0.1)
    assert t[5] == pytest.approx(-np.log(2.0))


@pytest.mark.parametrize("dense", [False, True])
def test_model_overfits_one_batch(dense):
    torch.manual_seed(0)
    m = FaceLatentModel(make_config("tiny", dense_warp=dense, dyn_film=not dense))
    g = torch.Generator().manual_seed(0)
    x = torch.rand(2, 3, 64, 64, generator=g).mul(0.2).add(torch.linspace(0, 0.8, 64).view(1, 1, 1, 64))
    opt = torch.optim.Adam(m.parameters(), 3e-3)
    first = None
    for _ in range(80):
        loss = (m(x) - x).abs().mean()
        first = first or float(loss.detach())
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert float(loss.detach()) < 0.5 * first


def test_lr_schedule():
    c = TrainLatentConfig(steps=1000, warmup=100, lr=1.0)
    assert lr_at(0, c) == pytest.approx(0.01) and lr_at(99, c) == pytest.approx(1.0)
    assert lr_at(1000, c) == pytest.approx(0.1) and lr_at(500, c) < lr_at(200, c)


def _centroid(img: torch.Tensor) -> torch.Tensor:
    """Intensity centroid of a (H, W) image in normalised coordinates (x right, y down)."""
    H, W = img.shape
    ys, xs = (2 * torch.arange(H) + 1) / H - 1, (2 * torch.arange(W) + 1) / W - 1
    return torch.stack([(img.sum(0) * xs).sum(), (img.sum(1) * ys).sum()]) / img.sum()


def test_similarity_moves_the_image_and_the_pose_alike():
    sim = torch.tensor([[0.1, 0.3, 0.1, -0.05]])                          # zoom e^0.1, 17°, shift
    a, th, d = np.exp(0.1), 0.3, torch.tensor([0.1, -0.05])
    rot = torch.tensor([[np.cos(th), -np.sin(th)], [np.sin(th), np.cos(th)]], dtype=torch.float32)
    # image content: a blob at q0 ends at a·Rot(θ)·q0 + d
    n = 96
    c = (2 * torch.arange(n) + 1) / n - 1
    q0 = torch.tensor([0.2, -0.15])
    blob = torch.exp(-((c[None, :] - q0[0]) ** 2 + (c[:, None] - q0[1]) ** 2) / 0.01)
    moved = warp.warp_image_similarity(blob[None, None], sim)[0, 0]
    assert torch.allclose(_centroid(moved), a * rot @ q0 + d, atol=2e-3)
    still = warp.warp_image_similarity(blob[None, None], torch.zeros(1, 4))[0, 0]
    assert torch.allclose(still, blob, atol=1e-5)
    # the model's rigid warp: posing with the moved pose = posing, then moving the image plane
    g = torch.Generator().manual_seed(0)
    pose = torch.randn(3, 6, generator=g) * 0.3
    pts = warp.identity_grid(2, 3, 4).expand(3, 2, 3, 4, 3)
    before = warp.canonical_to_pose(pts, pose)[..., :2]
    after = warp.canonical_to_pose(pts, warp.pose_after_similarity(pose, sim.expand(3, 4)))[..., :2]
    assert torch.allclose(after, a * before @ rot.T + d, atol=1e-5)
    assert torch.equal(warp.pose_after_similarity(pose, torch.zeros(3, 4)), pose)
    with pytest.raises(ValueError, match="similarities must be"):
        warp.pose_after_similarity(pose, torch.zeros(3, 3))


def _noise_pairs(seed: int):
    """Three (source, driver) pairs of noise images at the tiny preset's 64 px: the images (6, 3, 64, 64), the batch."""
    x = torch.rand(6, 3, 64, 64, generator=torch.Generator().manual_seed(seed))
    return x, dict(source=x[:3], driver=x[3:], identity=torch.arange(3))


def test_equivariance_term_teaches_the_motion_encoder_only(tiny):
    _, b = _noise_pairs(2)
    w = LossWeights(region=0, equivariance=1.0)
    with pytest.raises(ValueError, match="similarity"):
        latent_losses(tiny, b, w, consistency=False)
    sim = random_similarity(np.random.default_rng(0), 3)
    assert sim.shape == (3, 4) and sim[:, 1].abs().max() <= np.radians(10)
    _, still, _ = latent_losses(tiny, {**b, "similarity": torch.zeros(3, 4)}, w, consistency=False)
    assert still["equivariance"] < 1e-6                                    # no move: the same codes
    tiny.zero_grad()
    model_terms = latent_losses(tiny, {**b, "similarity": sim}, LossWeights(region=0, equivariance=1.0, l1=0,
                                ms_ssim=0, id_contrast=0), consistency=False)
    model_terms[0].backward()
    assert model_terms[1]["equivariance"] > 1e-4
    grads = {n.split(".")[0]: p.grad is not None and p.grad.abs().sum() > 0 for n, p in tiny.named_parameters()}
    assert grads["motion_encoder"] and not any(v for k, v in grads.items() if k != "motion_encoder")
    tiny.zero_grad()
    _, off, _ = latent_losses(tiny, b, LossWeights(region=0), consistency=False)
    assert "equivariance" not in off


def test_cross_render_term_compares_the_cross_reenactment_with_its_target(tiny):
    x, b = _noise_pairs(4)
    w = LossWeights(region=0, cross_render=1.0)
    with pytest.raises(ValueError, match="cross_target"):
        latent_losses(tiny, b, w, consistency=False)
    _, terms, images = latent_losses(tiny, {**b, "cross_target": x[:3]}, w, consistency=False)
    assert terms["cross_render"] > 0.05
    with torch.no_grad():                                                 # its own output as the target: no loss
        own = images["cross_render"].clone()
        lat = tiny.encode(x)
        k = torch.tensor([2, 0, 1])
        again = tiny.decode(tiny.canonicalize(lat)[:3], lat.z_id[:3], lat.z_pose[3:][k], lat.z_dyn[3:][k])
    assert torch.allclose(again, own, atol=1e-5)                          # row b takes driver b - 1's motion
    _, terms, _ = latent_losses(tiny, {**b, "cross_target": own}, w, consistency=False)
    assert terms["cross_render"] < 1e-4
    grads = []
    for weight in (0.0, 1.0):
        tiny.zero_grad()
        latent_losses(tiny, {**b, "cross_target": x[:3]}, LossWeights(region=0, cross_render=weight),
                      consistency=False)[0].backward()
        grads.append(tiny.motion_encoder.head[-1].weight.grad.clone())
    assert not torch.allclose(grads[0], grads[1])                         # it teaches E_mot's codes too
    tiny.zero_grad()


def _run(tmp_path, name, steps, **kw):
    cfg = TrainLatentConfig(preset="tiny", steps=steps, batch_size=2, bank_clips=3, log_every=1,
                            checkpoint_every=2, image_every=1000, warmup=2, **kw)
    return train_latent(cfg, tmp_path / name, progress=False, deterministic=True)


def test_training_is_seeded_and_resume_is_exact(tmp_path):
    torch.manual_seed(7)
    before = torch.random.get_rng_state()
    a = load_state(_run(tmp_path, "a", 4), kind="face_latent")[0]
    assert torch.equal(torch.random.get_rng_state(), before)          # the caller's RNG is left alone
    _run(tmp_path, "b", 2)
    b_path = _run(tmp_path, "b", 4)                                   # resumes at step 2
    b = load_state(b_path, kind="face_latent")[0]
    assert read_metadata(b_path)["step"] == 4
    assert all(torch.equal(a[k], b[k]) for k in a)
    lines = [json.loads(s) for s in (tmp_path / "b" / "log.jsonl").read_text().splitlines()]
    assert [r["step"] for r in lines] == [1, 2, 3, 4]
    with pytest.raises(ValueError, match="another config"):
        _run(tmp_path, "b", 4, lr=1e-2)
    (tmp_path / "c").mkdir()
    (tmp_path / "c" / "notes.txt").write_text("keep me")
    with pytest.raises(FileExistsError, match="--overwrite"):
        _run(tmp_path, "c", 2)


def test_training_with_equivariance_draws_similarities_and_logs_the_term(tmp_path):
    _run(tmp_path, "e", 1, losses=LossWeights(equivariance=0.5))
    record = json.loads((tmp_path / "e" / "log.jsonl").read_text().splitlines()[0])
    assert record["equivariance"] > 0


def test_training_with_cross_render_logs_the_term_and_needs_synthtalk(tmp_path):
    _run(tmp_path, "x", 1, losses=LossWeights(cross_render=1.0))
    record = json.loads((tmp_path / "x" / "log.jsonl").read_text().splitlines()[0])
    assert record["cross_render"] > 0
    (tmp_path / "prepared").mkdir()
    with pytest.raises(ValueError, match="--cross-render needs --data synthtalk"):
        _run(tmp_path, "y", 1, data=str(tmp_path / "prepared"), losses=LossWeights(cross_render=1.0))


def test_checkpoint_round_trip_and_errors(tmp_path, tiny):
    p = tmp_path / "m.safetensors"
    save_weights(p, tiny, kind="face_latent", config=tiny.cfg.__dict__)
    m = load_face_latent(p)
    x = torch.rand(1, 3, 64, 64)
    with torch.no_grad():
        assert torch.allclose(m(x), tiny(x))
    with pytest.raises(ValueError, match="not a 'motion'"):
        load_state(p, kind="motion")
    with pytest.raises(FileNotFoundError):
        load_face_latent(tmp_path / "missing.safetensors")


def test_cross_identity_re_encoding_does_not_train_the_encoders(tiny):
    from labkit.latent.losses import frozen_encode_codes

    x = torch.rand(2, 3, 64, 64, requires_grad=True)
    codes = frozen_encode_codes(tiny, x)
    assert all(torch.allclose(a, b) for a, b in zip(codes, tiny.encode_codes(x)))
    sum(c.sum() for c in codes).backward()
    assert x.grad.abs().sum() > 0
    assert all(p.grad is None for p in tiny.motion_encoder.parameters())
    assert all(p.grad is None for p in tiny.id_encoder.parameters())
    torch.manual_seed(0)                                   # pose-residual dynamics: the codes encode_codes gives
    residual = FaceLatentModel(make_config("tiny", pose_residual=True)).eval()
    residual.dyn_from_pose.normal_()
    with torch.no_grad():
        assert all(torch.allclose(a, b, atol=1e-6) for a, b in zip(frozen_encode_codes(residual, x),
                                                                    residual.encode_codes(x)))


def test_training_with_worker_processes_gives_the_same_weights(tmp_path):
    from labkit.latent.data import PairSampler, motion_bank
    from labkit.latent.train import draw_batch
    from labkit.training.prefetch import Prefetcher

    a = load_state(_run(tmp_path, "inline", 3, losses=LossWeights(equivariance=0.5)), kind="face_latent")[0]
    b = load_state(_run(tmp_path, "workers", 3, workers=2, losses=LossWeights(equivariance=0.5)), kind="face_latent")[0]
    assert all(torch.equal(a[k], b[k]) for k in a)          # the batches are drawn ahead, not differently
    factory = functools.partial(PairSampler, "train", 64, motion_bank("train", 2, seconds=1.0))
    draw = functools.partial(draw_batch, batch_size=4, seed=7, equivariance=True)
    with Prefetcher(factory, draw, 1, depth=2) as fetch:
        ahead = [fetch(s, slice(1, 3)) for s in (5, 6, 9)]  # in order, then a jump (a resumed run)
        with pytest.raises(ValueError, match="contiguous"):
            fetch(10, slice(0, 4, 2))
    for s, got in zip((5, 6, 9), ahead):
        want = draw(factory(), s, slice(1, 3))
        assert set(got) == set(want) and all(torch.equal(got[k], want[k]) for k in want)
    with pytest.raises(ValueError, match="workers must be 0"):
        _run(tmp_path, "bad", 1, workers=-1)


def test_bf16_is_opt_in_and_may_change_on_resume(tmp_path):
    from labkit.cli import build_parser

    assert TrainLatentConfig().bf16 is False                         # float32 (TF32) on CUDA unless asked
    assert build_parser().parse_args(["train", "latent", "--out", "x", "--bf16"]).bf16 is True
    _run(tmp_path, "r", 1)
    assert read_metadata(_run(tmp_path, "r", 2, bf16=True))["step"] == 2   # a resumed run may switch it


def test_a_time_limit_stops_checkpointed_and_the_same_command_resumes_exactly(tmp_path, capsys):
    from labkit.cli import main

    whole = load_state(_run(tmp_path, "whole", 3), kind="face_latent")[0]
    cfg = TrainLatentConfig(preset="tiny", steps=3, batch_size=2, bank_clips=3, log_every=1, checkpoint_every=2,
                            image_every=1000, warmup=2)
    path = train_latent(cfg, tmp_path / "limited", progress=False, deterministic=True, time_limit=0)
    assert read_metadata(path)["step"] == 1                            # out of time after the first step, saved
    resumed = load_state(train_latent(cfg, tmp_path / "limited", progress=False, deterministic=True),
                         kind="face_latent")[0]
    assert all(torch.equal(whole[k], resumed[k]) for k in whole)
    with pytest.raises(ValueError, match="minutes >= 0"):
        train_latent(cfg, tmp_path / "bad", progress=False, time_limit=-1)
    recipe = tmp_path / "r.toml"
    recipe.write_text('[train]\npreset = "tiny"\nbank_clips = 3\nwarmup = 2\n')
    assert main(["train", "latent", "--config", str(recipe), "--steps", "2", "--batch-size", "2", "--time-limit", "0",
                 "--quiet", "--out", str(tmp_path / "cli")]) == 0
    assert "stopped by --time-limit at step 1 of 2" in capsys.readouterr().out


def test_a_finer_driver_feeds_only_the_eye_reader():
    torch.manual_seed(0)
    model = FaceLatentModel(make_config("tiny", part_crops=True, part_painter=True, eye_size=128,
                                        part_spatial=True)).eval()
    assert model.cfg.driver_size == 128 and model.motion_encoder.parts.sizes["eyes"] == crop_size("eyes", 128)
    for p in model.motion_encoder.parts.parameters():                       # a reading that is not near zero
        p.data.add_(0.05 * torch.randn_like(p))
    fine = torch.rand(2, 3, 128, 128)
    small = model.frame(fine)
    assert small.shape == (2, 3, 64, 64) and torch.allclose(small, F.avg_pool2d(fine, 2), atol=1e-6)
    with torch.no_grad():
        pose_f, dyn_f = model.encode_motion(fine)
        pose_s, dyn_s = model.encode_motion(small)
        assert torch.equal(pose_f, pose_s)                                   # the pose is read from the frame
        assert not torch.allclose(dyn_f, dyn_s)                              # the eyes from the finer driver
        parts = model.motion_encoder.parts
        holistic = model.motion_encoder.holistic(2 * small - 1)[:, 6:]
        eyes = parts.nets["eyes"](2 * parts.crop(fine, pose_f, "eyes") - 1)
        mouth = parts.nets["mouth"](2 * parts.crop(small, pose_f, "mouth") - 1)  # read at its own resolution
        assert torch.allclose(dyn_f, holistic + eyes + mouth, atol=1e-5)
        assert model.reenact(fine, fine.flip(0)).shape == (2, 3, 64, 64)     # drawn at the model's own size
    with pytest.raises(ValueError, match="S >= 64"):
        model.encode(torch.rand(1, 3, 32, 32))
