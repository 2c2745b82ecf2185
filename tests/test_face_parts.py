"""Face parts: landmark- and pose-placed crops, E_mot's part branch, fitting its anchors."""
import math
from dataclasses import asdict, replace

import pytest
import torch

from labkit.latent.config import make_config
from labkit.latent.model import FaceLatentModel, reference_rows
from labkit.latent.parts import (
    CROPS,
    EYE_CORNERS,
    PartEncoder,
    PartPainter,
    crop_centres,
    crop_size,
    face_crops,
    fit_anchors,
    move,
    patch_coords,
)
from labkit.latent.warp import POSE_DIM, canonical_to_pose

S = 64


def _image(seed=0):
    """A random picture, dark at the border so that moving it loses nothing."""
    g = torch.Generator().manual_seed(seed)
    x = torch.zeros(1, 3, S, S)
    x[:, :, 8:-8, 8:-8] = torch.rand(1, 3, S - 16, S - 16, generator=g)
    return x


def test_face_crops_follow_the_eye_corners():
    lm = torch.zeros(1, 68, 2)
    lm[0, 36], lm[0, 45] = torch.tensor([20.0, 30.0]), torch.tensor([44.0, 30.0])   # eyes level, d = 24
    img = torch.zeros(1, 3, 64, 64)
    img[:, :, 29:31, 31:33] = 1.0                        # a bright spot between the eyes
    eyes = face_crops(img, lm, "eyes")
    h, w = crop_size("eyes", 64)                         # about one sample per pixel of the image
    assert eyes.shape == (1, 3, h, w) and (h, w) == tuple(n // 2 for n in CROPS["eyes"][1])
    peak = divmod(int(eyes[0, 0].argmax()), w)
    assert abs(peak[1] - (w - 1) / 2) <= 1 and abs(peak[0] - h / 2) <= 3   # the spot sits mid-crop
    # the same face shifted by (5, 3) px and rolled 90° about the spot gives the same crop
    rolled = torch.rot90(img, 1, (2, 3))                 # image rotated: (x, y) → (y, 63 - x)
    lm_r = torch.stack([lm[..., 1], 63 - lm[..., 0] + 1], -1)
    assert torch.allclose(face_crops(rolled, lm_r, "eyes"), eyes, atol=1e-4)


def test_pose_placed_crops_move_with_the_head():
    torch.manual_seed(0)
    parts = PartEncoder(S, dyn_dim=4)
    x = 2 * _image() - 1
    pose = torch.tensor([[0.0, 0.0, 0.1, 0.05, -0.02, 0.1]])
    base = parts.crops(x, pose)
    assert base["eyes"].shape == (1, 3, *crop_size("eyes", S)) and base["mouth"].shape == (1, 3, *crop_size("mouth", S))
    # the picture shifted 5 px right and 3 down, and the pose with it: the same crops
    shifted = torch.roll(x, (3, 5), dims=(2, 3))
    moved = pose + torch.tensor([[0, 0, 0, 2 * 5 / S, 2 * 3 / S, 0]])
    for r, c in parts.crops(shifted, moved).items():
        assert torch.allclose(c, base[r], atol=1e-5), r
    # turned a quarter turn in the image plane, and the roll with it
    turned = torch.rot90(x, 1, dims=(2, 3))
    quarter = torch.tensor([[0.0, 1.0], [-1.0, 0.0]])                   # rot90(+1) sends normalised (x, y) to (y, -x),
    t = pose[:, 3:5] @ quarter.T                                        # a roll by -90°
    moved = torch.cat([pose[:, :2], pose[:, 2:3] - math.pi / 2, t, pose[:, 5:]], 1)
    for r, c in parts.crops(turned, moved).items():
        assert torch.allclose(c, base[r], atol=1e-4), r
    # a crop placed elsewhere reads other pixels
    assert not torch.allclose(parts.crops(x, moved)["eyes"], base["eyes"], atol=1e-2)


def test_fit_anchors_recovers_the_parts_of_a_known_head():
    """Landmarks of a head seen with known rolls, shifts and zooms: the fitted anchors are the parts'
    canonical centres and the patch sizes follow the eye-corner distance."""
    g = torch.Generator().manual_seed(1)
    N, d = 40, 0.5
    pose = torch.zeros(N, POSE_DIM)
    pose[:, 2] = 0.3 * torch.randn(N, generator=g)                      # roll
    pose[:, 3:5] = 0.2 * torch.randn(N, 2, generator=g)                 # shift
    pose[:, 5] = 0.1 * torch.randn(N, generator=g)                      # log zoom
    mid = torch.tensor([0.02, -0.15, 0.0])
    corners = torch.stack([mid - torch.tensor([d / 2, 0, 0]), mid + torch.tensor([d / 2, 0, 0])])  # (2, 3)
    posed = canonical_to_pose(corners.expand(N, 1, 1, 2, 3), pose)[:, 0, 0, :, :2]   # (N, 2, 2) normalised
    lm = torch.zeros(N, 68, 2)
    lm[:, EYE_CORNERS[0]], lm[:, EYE_CORNERS[1]] = (posed[:, 0] + 1) * S / 2, (posed[:, 1] + 1) * S / 2
    parts = PartEncoder(S, dyn_dim=4)
    errors = fit_anchors(parts, pose, lm, S)
    assert max(errors.values()) < 1e-3
    for k, r in enumerate(parts.regions):
        (cx, cy, cw, ch), _ = CROPS[r]
        expected = mid[:2] + torch.tensor([cx * d, cy * d])
        assert torch.allclose(parts.anchors[k, :2].detach(), expected, atol=1e-4), r
        assert torch.allclose(parts.extents[k], torch.tensor([cw * d, ch * d]), atol=1e-4), r
    # the pose-placed crops now sit where the landmarks put them
    centres = torch.as_tensor(crop_centres(parts, pose, S))[:, 0]      # eyes (N, 2) pixels
    eyes_lm = (lm[:, EYE_CORNERS[0]] + lm[:, EYE_CORNERS[1]]) / 2
    u = lm[:, EYE_CORNERS[1]] - lm[:, EYE_CORNERS[0]]
    eyes_lm = eyes_lm + CROPS["eyes"][0][1] * torch.stack([-u[:, 1], u[:, 0]], 1)
    assert torch.allclose(centres, eyes_lm, atol=1e-3)
    with pytest.raises(ValueError, match="landmarks"):
        fit_anchors(parts, pose, lm[:, :5], S)


def test_part_branch_adds_to_z_dyn_and_leaves_the_pose_alone():
    torch.manual_seed(0)
    model = FaceLatentModel(make_config("tiny", part_crops=True))
    assert model.motion_encoder.parts is not None and FaceLatentModel(make_config("tiny")).motion_encoder.parts is None
    x = torch.rand(2, 3, 64, 64)
    z_pose, z_dyn = model.encode_motion(x)
    z_dyn.pow(2).sum().backward()
    head = model.motion_encoder.head[-1].weight.grad                   # rows: 6 pose, then z_dyn
    assert head[:POSE_DIM].abs().sum() == 0                            # the crops' placement teaches no pose
    assert model.motion_encoder.parts.nets["eyes"][-1].weight.grad.abs().sum() > 0
    assert model.motion_encoder.parts.anchors.grad.abs().sum() > 0      # where to look is learned
    with torch.no_grad():                                               # and what it reads counts
        model.motion_encoder.parts.nets["mouth"][-1].bias.add_(1.0)
        assert torch.allclose(model.encode_motion(x)[1], z_dyn + 1, atol=1e-5)


def test_training_places_the_parts_by_landmarks_once(tmp_path):
    from labkit.io.checkpoint import load_state, save_weights
    from labkit.latent.config import TrainLatentConfig
    from labkit.latent.train import train_latent

    cfg = TrainLatentConfig(preset="tiny", steps=2, batch_size=2, bank_clips=3, log_every=1, checkpoint_every=1,
                            image_every=1000, warmup=1)
    path = train_latent(cfg, tmp_path / "run", model_overrides={"part_crops": True}, progress=False, deterministic=True)
    state = load_state(path, kind="face_latent")[0]
    default = PartEncoder(64, dyn_dim=8)
    assert not torch.allclose(state["motion_encoder.parts.extents"], default.extents)      # fitted, not the default
    # a warm start from weights that have parts keeps their placement (extents are fixed, not trained)
    model = FaceLatentModel(make_config("tiny", part_crops=True))
    model.load_state_dict(state)
    model.motion_encoder.parts.extents.mul_(1.5)
    init = tmp_path / "init.safetensors"
    save_weights(init, model, kind="face_latent", config=asdict(model.cfg))
    warm = replace(cfg, init=str(init), steps=1)
    state2 = load_state(train_latent(warm, tmp_path / "warm", model_overrides={"part_crops": True}, progress=False,
                                     deterministic=True), kind="face_latent")[0]
    assert torch.allclose(state2["motion_encoder.parts.extents"], 1.5 * state["motion_encoder.parts.extents"])


def _pose(B, seed=0):
    g = torch.Generator().manual_seed(seed)
    z = torch.zeros(B, POSE_DIM)
    z[:, :3] = (torch.rand(B, 3, generator=g) - 0.5) * 0.6                   # up to ±17° each
    z[:, 3:5] = (torch.rand(B, 2, generator=g) - 0.5) * 0.1
    z[:, 5] = (torch.rand(B, generator=g) - 0.5) * 0.2
    return z


def test_patch_coords_invert_the_part_placement():
    parts = PartEncoder(S, 8)
    z_pose = _pose(3)
    for k, r in enumerate(parts.regions):
        h, w = parts.sizes[r]
        uv = patch_coords(z_pose, parts.anchors[k].detach(), parts.extents[k], S, q=parts.points(z_pose, r))
        cells = torch.stack(torch.meshgrid((torch.arange(h) + 0.5) / h * 2 - 1, (torch.arange(w) + 0.5) / w * 2 - 1,
                                           indexing="ij")[::-1], -1)       # (h, w, 2) crop cell centres (x, y)
        assert torch.allclose(uv, cells.expand_as(uv), atol=1e-4)
    assert patch_coords(z_pose, parts.anchors[0].detach(), parts.extents[0], S).shape == (3, S, S, 2)


def test_part_painter_starts_as_identity_and_paints_only_its_patches():
    torch.manual_seed(0)
    parts, painter = PartEncoder(S, 8), PartPainter(8 + POSE_DIM)
    x, z_pose = _image().expand(2, -1, -1, -1).clamp(0.2, 0.8), _pose(2)
    z = torch.randn(2, 8 + POSE_DIM)
    assert torch.equal(painter(x, z_pose, z, parts), x)                     # zero at init
    torch.nn.init.constant_(painter.nets["eyes"].out[-1].bias, 0.1)       # the eyes' painter now brightens its crop
    changed = (painter(x, z_pose, z, parts) - x).abs().amax(1)               # (B, H, W)
    inside = patch_coords(z_pose, parts.anchors[0].detach(), parts.extents[0], S).abs().amax(-1) < 1
    assert changed[~inside].max() < 1e-6 and changed[inside].max() > 0.09   # the change stays inside the eye patch


def test_part_painter_needs_the_part_branch_and_teaches_z_dyn_not_the_pose():
    with pytest.raises(ValueError, match="part_crops"):
        make_config("tiny", part_painter=True)
    torch.manual_seed(0)
    model = FaceLatentModel(make_config("tiny", part_crops=True, part_painter=True))
    net = model.part_painter.nets["eyes"]
    for layer in (net.out[-1], *(f.lin for f in net.films)):                # zero at init: as after some training
        torch.nn.init.normal_(layer.weight, std=0.1)
    seen = {}
    model.part_painter.register_forward_pre_hook(lambda m, args: seen.update(pose=args[1], z=args[2]))
    lat = model.encode(_image())
    canonical = model.canonicalize(lat).detach()
    z_pose, z_dyn = lat.z_pose.detach().requires_grad_(), lat.z_dyn.detach().requires_grad_()
    y = model.decode(canonical, lat.z_id.detach(), z_pose, z_dyn)
    painter, model.part_painter = model.part_painter, None
    y0 = model.decode(canonical, lat.z_id.detach(), z_pose, z_dyn)
    model.part_painter = painter
    assert y.shape == y0.shape and not torch.allclose(y, y0)               # it paints
    assert not seen["pose"].requires_grad                                  # placed by a pose it does not teach
    g_dyn, = torch.autograd.grad((y - y0).pow(2).sum(), [z_dyn])
    assert g_dyn.abs().sum() > 0                                           # what it paints teaches z_dyn


def test_move_shifts_a_crop_by_its_flow_and_zero_flow_keeps_it():
    x = torch.zeros(1, 3, 8, 16)
    x[..., 4, 5] = 1.0
    assert torch.allclose(move(x, torch.zeros(1, 2, 8, 16)), x, atol=1e-6)
    flow = torch.zeros(1, 2, 8, 16)
    flow[:, 0] = 2 * 2 / 16                                   # read 2 cells to the right: the dot moves 2 cells left
    moved = move(x, flow)
    assert moved[0, 0, 4].argmax() == 3 and abs(float(moved[0, 0, 4, 3]) - 1) < 1e-5


def test_spatial_painter_starts_as_identity_and_can_paint_by_position():
    torch.manual_seed(0)
    parts, painter = PartEncoder(S, 8), PartPainter(8 + POSE_DIM, spatial=True)
    x, z_pose = _image().expand(2, -1, -1, -1).clamp(0.2, 0.8), _pose(2)
    z = torch.randn(2, 8 + POSE_DIM)
    assert torch.allclose(painter(x, z_pose, z, parts), x, atol=1e-5)      # zero at init (up to resampling)
    code = painter.nets["eyes"].spatial
    assert code(z, (6, 20)).shape == (2, 2 + 32, 6, 20) and code(z, (6, 20)).abs().max() == 0
    torch.nn.init.normal_(code.lin.weight, std=0.1)                          # a code laid out over the crop:
    m = code(z, (6, 20))
    assert not torch.allclose(m[..., :10].mean((-1, -2)), m[..., 10:].mean((-1, -2)))  # left and right differ


def test_eyes_read_and_painted_finer_than_the_frame():
    parts = PartEncoder(S, 8, eye_size=2 * S)
    assert parts.sizes["eyes"] == crop_size("eyes", 2 * S) and parts.sizes["mouth"] == crop_size("mouth", S)
    fine = torch.nn.functional.interpolate(_image(), scale_factor=2, mode="bilinear", align_corners=False)
    z_pose = _pose(1)
    # the same placement at both resolutions: the fine frame's eye crop is the coarse one's, sampled twice as densely
    coarse = PartEncoder(S, 8).crop(_image(), z_pose, "eyes")
    pooled = torch.nn.functional.avg_pool2d(parts.crop(fine, z_pose, "eyes"), 2)
    assert pooled.shape == coarse.shape and (pooled - coarse).abs().mean() < 0.05
    painter = PartPainter(8 + POSE_DIM)
    torch.nn.init.constant_(painter.nets["eyes"].out[-1].bias, 0.1)
    x = _image().clamp(0.2, 0.8)
    with torch.no_grad():                                                   # painted at the finer size, pasted at S
        y = painter(x, z_pose, torch.zeros(1, 8 + POSE_DIM), parts)
    assert y.shape == x.shape and 0.09 < float((y - x).max()) < 0.11
    with pytest.raises(ValueError, match="eye_size"):
        make_config("tiny", part_crops=True, eye_size=32)                   # finer than the frame, or not at all
    with pytest.raises(ValueError, match="eye_size"):
        make_config("tiny", eye_size=128)                                   # needs the part branch
    assert make_config("s128e").driver_size == 256 and make_config("s128pp").driver_size == 128


def test_a_reference_painter_starts_as_the_plain_one_and_then_paints_from_the_source_crop():
    with pytest.raises(ValueError, match="part_painter"):
        make_config("tiny", part_crops=True, part_reference=True)
    torch.manual_seed(0)
    parts = PartEncoder(S, 8)
    plain, painter = PartPainter(8 + POSE_DIM), PartPainter(8 + POSE_DIM, reference=True)
    painter.load_state_dict(plain.state_dict(), strict=False)                # the same painter, plus a new input
    x, z_pose = _image().expand(2, -1, -1, -1).clamp(0.2, 0.8), _pose(2)
    z = torch.randn(2, 8 + POSE_DIM)
    for net in (plain.nets["eyes"], painter.nets["eyes"]):                  # as after some training
        torch.nn.init.normal_(net.out[-1].weight, std=0.1)
    painter.nets["eyes"].out[-1].weight.data.copy_(plain.nets["eyes"].out[-1].weight)
    ref = {r: torch.rand(2, 3, *parts.sizes[r]) for r in parts.regions}
    assert torch.allclose(painter(x, z_pose, z, parts, ref), plain(x, z_pose, z, parts), atol=1e-6)  # zero at init
    with pytest.raises(ValueError, match="reference"):
        painter(x, z_pose, z, parts)                                        # it cannot paint without the source
    torch.nn.init.normal_(painter.nets["eyes"].ref.weight, std=0.1)
    other = {r: torch.rand_like(v) for r, v in ref.items()}
    assert not torch.allclose(painter(x, z_pose, z, parts, ref), painter(x, z_pose, z, parts, other))


def test_a_reference_model_reads_the_source_at_its_own_pose_in_every_path():
    torch.manual_seed(0)
    model = FaceLatentModel(make_config("tiny", part_crops=True, part_painter=True, part_reference=True)).eval()
    for net in model.part_painter.nets.values():
        torch.nn.init.normal_(net.ref.weight, std=0.1)
        torch.nn.init.normal_(net.out[-1].weight, std=0.1)
    source, driver = _image(), _image().flip(-1)
    with torch.no_grad():
        lat = model.encode(source)
        ref = model.part_reference(source, lat.z_pose)
        parts = model.motion_encoder.parts
        assert set(ref) == set(parts.regions)
        assert torch.equal(ref["eyes"], parts.crop(source, lat.z_pose, "eyes"))   # the source, at its own pose
        _, pose, dyn = model.encode_codes(driver)
        by_hand = model.decode(model.canonicalize(lat), lat.z_id, pose, dyn, ref)
        assert torch.equal(model.reenact(source, driver), by_hand)
        with pytest.raises(ValueError, match="reference"):
            model.decode(model.canonicalize(lat), lat.z_id, pose, dyn)
    plain = FaceLatentModel(make_config("tiny", part_crops=True, part_painter=True))
    assert plain.part_reference(source, lat.z_pose) is None
    # the one helper that slices a batch's references or repeats a portrait's for a batch of codes
    assert reference_rows(None, 3) is None
    three = reference_rows(ref, 3)["eyes"]
    assert three.shape[0] == 3 and torch.equal(three[2], ref["eyes"][0])
    two = {r: torch.cat([v, v.flip(-1)]) for r, v in ref.items()}
    assert torch.equal(reference_rows(two, slice(1, None))["mouth"], ref["mouth"].flip(-1))
