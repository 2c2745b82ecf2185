"""The part stage (labkit.latent.train_parts): what it freezes, what its bank holds, that it learns and resumes."""
import json
from dataclasses import replace

import numpy as np
import pytest
import torch

from labkit.io.checkpoint import load_state, save_weights
from labkit.latent.config import TrainPartsConfig, make_config
from labkit.latent.data import cross_partner
from labkit.latent.losses import READOUT
from labkit.latent.model import FaceLatentModel, load_face_latent
from labkit.latent.train_parts import build_bank, part_readings, stage_loss, stage_model, train_parts, trainable
from labkit.motion.data import source_id
from labkit.synthtalk.factors import factor_row


def _model(**overrides):
    torch.manual_seed(0)
    cfg = make_config("tiny", part_crops=True, **overrides)
    model = FaceLatentModel(cfg)
    for p in model.motion_encoder.parts.parameters():        # a part reading that is not near zero
        p.data.add_(0.05 * torch.randn_like(p))
    return model


def _checkpoint(tmp_path, **overrides):
    model = _model(**overrides)
    path = tmp_path / "init.safetensors"
    save_weights(path, model, kind="face_latent", config=model.cfg.__dict__)
    return path, model


class _Frames:
    """A sampler over fixed images: batch(n, rng) draws n (source, driver) pairs from them."""

    def __init__(self, n=12, size=64, seed=0):
        self.x = torch.rand(n, 3, size, size, generator=torch.Generator().manual_seed(seed))

    def batch(self, n, rng):
        i, j = rng.integers(len(self.x), size=n), rng.integers(len(self.x), size=n)
        return {"source": self.x[i], "driver": self.x[j]}


def test_stage_gives_a_painter_drops_the_decoupling_and_needs_a_part_branch(tmp_path):
    path, old = _checkpoint(tmp_path, pose_residual=True)
    model = stage_model(*load_state(path, kind="face_latent"))
    assert model.part_painter is not None and not model.cfg.pose_residual
    a, b = old.state_dict(), model.state_dict()
    assert all(torch.equal(a[k], b[k]) for k in b if not k.startswith("part_painter."))
    plain = FaceLatentModel(make_config("tiny"))
    save_weights(tmp_path / "plain.safetensors", plain, kind="face_latent", config=plain.cfg.__dict__)
    with pytest.raises(ValueError, match="part_crops"):
        stage_model(*load_state(tmp_path / "plain.safetensors", kind="face_latent"))


def test_only_the_named_part_readers_and_the_painter_learn():
    model = _model(part_painter=True)
    params = trainable(model, ("eyes",))
    names = {n for n, p in model.named_parameters() if p.requires_grad}
    assert names and all(n.startswith(("motion_encoder.parts.nets.eyes.", "part_painter.")) for n in names)
    assert any(n.startswith("part_painter.nets.mouth.") for n in names)
    assert len(params) == len(names)
    with pytest.raises(ValueError, match="unknown parts"):
        trainable(model, ("nose",))


@torch.no_grad()
def test_bank_holds_what_the_whole_model_computes():
    model = _model(part_painter=True).eval()
    frames = _Frames()
    bank = build_bank(model, frames, 5, ("eyes",), chunk=3, progress=False)
    assert len(bank["z_pose"]) == 5 and bank["target.eyes"].shape[1:] == (3, *model.motion_encoder.parts.sizes["eyes"])
    # the same draws again, to know which frames the bank holds
    drivers = torch.cat([frames.batch(n, np.random.default_rng([0, 2, k]))["driver"] for k, n in enumerate((3, 2))])
    sources = torch.cat([frames.batch(n, np.random.default_rng([0, 2, k]))["source"] for k, n in enumerate((3, 2))])
    z_pose, z_dyn = model.encode_motion(drivers)
    parts = model.motion_encoder.parts
    assert torch.allclose(bank["z_pose"], z_pose, atol=1e-5)
    # base + the eyes' reading = E_mot's z_dyn
    rebuilt = bank["base_dyn"] + parts.nets["eyes"](2 * bank["target.eyes"] - 1)
    assert torch.allclose(rebuilt, z_dyn, atol=1e-5)
    assert not torch.allclose(bank["base_dyn"], z_dyn, atol=1e-3)
    # the drawn crops are G_2D's crops of the reenactment; the targets the driver's own
    lat = model.encode(sources)
    drawn = model.draw(model.canonicalize(lat), lat.z_id, z_pose, z_dyn)
    for r in parts.regions:
        assert torch.allclose(bank[f"drawn.{r}"], parts.crop(drawn, z_pose, r), atol=1e-5)
        assert torch.allclose(bank[f"target.{r}"], parts.crop(drivers, z_pose, r), atol=1e-6)
    loss, terms = stage_loss(model, bank, torch.arange(5), ("eyes",))
    assert set(terms) == {"l1_eyes", "l1_mouth"} and float(loss) > 0


def test_stage_loss_teaches_the_eye_reader_and_the_painter_not_the_mouth_reader():
    model = _model(part_painter=True)
    trainable(model, ("eyes",))
    with torch.no_grad():
        bank = build_bank(model, _Frames(), 6, ("eyes",), progress=False)
    for p in model.part_painter.parameters():                 # past the zero init, so gradient flows back
        p.data.add_(0.02 * torch.randn_like(p))
    loss, _ = stage_loss(model, bank, torch.arange(6), ("eyes",))
    loss.backward()
    parts = model.motion_encoder.parts
    assert parts.nets["eyes"][-1].weight.grad.abs().sum() > 0
    assert model.part_painter.nets["mouth"].out[-1].weight.grad.abs().sum() > 0
    assert all(p.grad is None for p in parts.nets["mouth"].parameters())
    assert all(p.grad is None for p in model.motion_encoder.conv.parameters())


class _Crossed(_Frames):
    """_Frames whose batches also hold a cross target per row, as PairSampler(cross_targets=True)'s do."""

    def batch(self, n, rng):
        out = super().batch(n, rng)
        out["cross_target"] = torch.from_numpy(rng.random(out["driver"].shape, np.float32))
        return out


@torch.no_grad()
def test_cross_rows_paint_the_source_with_the_partners_motion_against_the_exact_render():
    model = _model(part_painter=True).eval()
    frames = _Crossed()
    bank = build_bank(model, frames, 4, ("eyes",), chunk=4, progress=False)
    assert len(bank["z_pose"]) == 8                                         # 4 own rows, then 4 cross rows
    b = frames.batch(4, np.random.default_rng([0, 2, 0]))
    z_pose, z_dyn = model.encode_motion(b["driver"])
    parts, j = model.motion_encoder.parts, cross_partner(4)
    own, cross = slice(0, 4), slice(4, 8)
    assert torch.allclose(bank["z_pose"][cross], z_pose[j], atol=1e-5)
    assert torch.equal(bank["read.eyes"][cross], bank["read.eyes"][own][j])    # the partner's eyes are read
    assert torch.equal(bank["read.eyes"][own], bank["target.eyes"][own])
    lat = model.encode(b["source"])
    drawn = model.draw(model.canonicalize(lat), lat.z_id, z_pose[j], z_dyn[j])  # the source, the partner's motion
    for r in parts.regions:
        assert torch.allclose(bank[f"drawn.{r}"][cross], parts.crop(drawn, z_pose[j], r), atol=1e-5)
        assert torch.allclose(bank[f"target.{r}"][cross], parts.crop(b["cross_target"], z_pose[j], r), atol=1e-6)
    # the reader reads read.r, not the target: E_mot's z_dyn of the partner's frame
    assert torch.allclose(part_readings(model, bank, torch.arange(4, 8), ("eyes",)), z_dyn[j], atol=1e-5)


def test_a_reference_stage_banks_each_rows_source_crops_and_teaches_the_new_input(tmp_path):
    path, _ = _checkpoint(tmp_path, part_painter=True)
    model = stage_model(*load_state(path, kind="face_latent"), encode=(), reference=True).eval()
    assert model.cfg.part_reference and all(net.ref.weight.abs().sum() == 0 for net in model.part_painter.nets.values())
    frames = _Crossed()
    with torch.no_grad():
        bank = build_bank(model, frames, 4, (), chunk=4, progress=False)
        b = frames.batch(4, np.random.default_rng([0, 2, 0]))
        ref = model.part_reference(b["source"], model.encode(b["source"]).z_pose)
    for r in model.motion_encoder.parts.regions:                            # own rows and cross rows: source b's
        assert torch.allclose(bank[f"ref.{r}"][:4], ref[r], atol=1e-6)
        assert torch.allclose(bank[f"ref.{r}"][4:], ref[r], atol=1e-6)
    trainable(model, ())
    for p in model.part_painter.parameters():                               # past the zero init
        p.data.add_(0.02 * torch.randn_like(p))
    loss, _ = stage_loss(model, bank, torch.arange(8), ())
    loss.backward()
    assert all(net.ref.weight.grad.abs().sum() > 0 for net in model.part_painter.nets.values())


def test_a_painter_only_stage_keeps_the_decoupling_and_every_code(tmp_path):
    path, old = _checkpoint(tmp_path, pose_residual=True)
    with torch.no_grad():
        old.dyn_from_pose.normal_()
    save_weights(path, old, kind="face_latent", config=old.cfg.__dict__)
    model = stage_model(*load_state(path, kind="face_latent"), encode=())
    assert model.cfg.pose_residual and torch.equal(model.dyn_from_pose, old.dyn_from_pose)
    assert [n for n, p in model.named_parameters() if id(p) in {id(q) for q in trainable(model, ())}] == \
        [n for n, _ in model.named_parameters() if n.startswith("part_painter.")]
    x = torch.rand(3, 3, 64, 64)
    for a, b in zip(model.encode_motion(x), old.encode_motion(x)):
        assert torch.allclose(a, b, atol=1e-6)
    with pytest.raises(ValueError, match="--encode"):
        train_parts(TrainPartsConfig(init=str(path), encode=(), readout=1.0), tmp_path / "x")
    # the motion source is what sets the codes: a new painter keeps it (and the generators trained on it) ...
    with torch.no_grad():
        for p in model.part_painter.parameters():
            p.add_(0.1)
    save_weights(tmp_path / "painted.safetensors", model, kind="face_latent", config=model.cfg.__dict__)
    assert source_id(tmp_path / "painted.safetensors") == source_id(path)
    with torch.no_grad():                                                   # ... a new motion encoder does not
        model.motion_encoder.head[-1].bias.add_(0.1)
    save_weights(tmp_path / "read.safetensors", model, kind="face_latent", config=model.cfg.__dict__)
    assert source_id(tmp_path / "read.safetensors") != source_id(path)


class _Labelled(_Frames):
    """_Frames whose drivers come with SynthTalk factor rows, as the SynthTalk sampler's do."""

    def batch(self, n, rng):
        out = super().batch(n, rng)
        out["driver_factors"] = torch.from_numpy(np.stack([factor_row(blink=rng.random(), brow=rng.uniform(-1, 1))
                                                           for _ in range(n)])).float()
        return out


def test_the_readout_ties_the_first_coordinates_to_the_drawn_factors_through_the_eye_reader_only():
    model = _model(part_painter=True)
    trainable(model, ("eyes",))
    with torch.no_grad():
        bank = build_bank(model, _Labelled(), 6, ("eyes",), progress=False)
        plain = build_bank(model, _Frames(), 6, ("eyes",), progress=False)
    assert bank["readout"].shape == (6, len(READOUT)) and "readout" not in plain
    rows = torch.arange(6)
    base, _ = stage_loss(model, bank, rows, ("eyes",))
    loss, terms = stage_loss(model, bank, rows, ("eyes",), readout=0.5)
    dyn = bank["base_dyn"] + model.motion_encoder.parts.nets["eyes"](2 * bank["target.eyes"] - 1)
    mse = float(((dyn[:, :len(READOUT)] - bank["readout"]) ** 2).mean().detach())
    assert terms["readout_mse"] == pytest.approx(mse, rel=1e-5)
    assert float(loss.detach()) == pytest.approx(float(base.detach()) + 0.5 * mse, rel=1e-5)
    model.zero_grad()
    (loss - base).backward()                                  # the readout term alone
    assert model.motion_encoder.parts.nets["eyes"][-1].weight.grad.abs().sum() > 0
    assert all(p.grad is None or not p.grad.any() for p in model.part_painter.parameters())


def _train(tmp_path, init, name, steps, **kw):
    cfg = TrainPartsConfig(init=str(init), pairs=8, steps=steps, batch_size=4, warmup=2, bank_clips=3, log_every=1,
                           checkpoint_every=2, lr=3e-3, **kw)
    return train_parts(cfg, tmp_path / name, progress=False)


def test_stage_learns_resumes_exactly_and_keeps_the_rest(tmp_path, resumes_exactly):
    init, _ = _checkpoint(tmp_path)
    cfg = TrainPartsConfig(init=str(init), pairs=8, steps=4, batch_size=4, warmup=4, bank_clips=3, checkpoint_every=2)
    folder = resumes_exactly(lambda c, out: train_parts(c, out, progress=False), load_face_latent, cfg)
    assert (folder / "bank.pt").exists()
    long = _train(tmp_path, init, "long", 30)
    log = [json.loads(s) for s in (tmp_path / "long" / "log.jsonl").read_text().splitlines()]
    assert np.mean([r["loss"] for r in log[-5:]]) < 0.9 * np.mean([r["loss"] for r in log[:5]])
    before = load_state(init, kind="face_latent")[0]
    after = load_face_latent(long).state_dict()
    for k, v in after.items():
        if k.startswith("part_painter.") or k.startswith("motion_encoder.parts.nets.eyes."):
            continue
        assert torch.equal(before[k].to(v.dtype), v), k
    assert not torch.equal(before["motion_encoder.parts.nets.eyes.6.weight"],
                           after["motion_encoder.parts.nets.eyes.6.weight"])
    with pytest.raises(FileNotFoundError, match="--init"):
        train_parts(replace(TrainPartsConfig(), init=str(tmp_path / "missing.safetensors")), tmp_path / "x")


def test_a_readout_run_turns_the_basis_once_resumes_exactly_and_learns_the_readout(tmp_path, resumes_exactly):
    init, _ = _checkpoint(tmp_path)
    cfg = TrainPartsConfig(init=str(init), pairs=8, steps=4, batch_size=4, warmup=4, bank_clips=3, checkpoint_every=2,
                           readout=1.0)
    folder = resumes_exactly(lambda c, out: train_parts(c, out, progress=False), load_face_latent, cfg)
    bank = torch.load(folder / "bank.pt")
    Q = bank["basis"]
    assert torch.allclose(Q.T @ Q, torch.eye(len(Q)), atol=1e-4)
    # the frozen holistic head was turned into the basis, not trained: the same map in other coordinates
    before = load_state(init, kind="face_latent")[0]["motion_encoder.head.2.weight"][6:]
    after = load_face_latent(folder / "latest.safetensors").state_dict()["motion_encoder.head.2.weight"][6:].float()
    assert torch.allclose(after, Q.T @ before.float(), atol=1e-5)
    _train(tmp_path, init, "long", 30, readout=1.0)
    log = [json.loads(s) for s in (tmp_path / "long" / "log.jsonl").read_text().splitlines()]
    assert np.mean([r["readout_mse"] for r in log[-5:]]) < 0.7 * np.mean([r["readout_mse"] for r in log[:5]])
    plain = _train(tmp_path, init, "plain", 2)                   # no readout asked: no basis, nothing turned
    assert "basis" not in torch.load(plain.parent / "bank.pt")


def test_overwrite_builds_a_new_bank(tmp_path):
    init, _ = _checkpoint(tmp_path)
    _train(tmp_path, init, "run", 1)
    cfg = TrainPartsConfig(init=str(init), pairs=6, steps=1, batch_size=4, warmup=2, bank_clips=3)
    train_parts(cfg, tmp_path / "run", progress=False, overwrite=True)
    assert len(torch.load(tmp_path / "run" / "bank.pt")["z_pose"]) == 6
