"""The face latent model's fast decode draws what the plain one does: G_2D's upsampling blocks computed at
low resolution, frames decoded in batches, the latent renderer's batches in the pipeline."""
import numpy as np
import pytest
import torch
import torch.nn.functional as F

from labkit.latent import warp
from labkit.latent.blocks import ResBlock2d, upsample_conv3x3
from labkit.latent.config import make_config
from labkit.latent.model import FaceLatentModel, load_face_latent


def test_upsampled_block_is_the_block_on_the_upsampled_input():
    torch.manual_seed(0)
    for c_in, c_out, H, W in ((8, 8, 5, 7), (16, 8, 6, 4)):
        block = ResBlock2d(c_in, c_out).eval()
        for p in block.parameters():                       # away from the zero-mean init
            p.data.add_(0.1 * torch.randn_like(p))
        x = torch.randn(2, c_in, H, W)
        up = F.interpolate(x, scale_factor=2, mode="nearest")
        with torch.no_grad():
            torch.testing.assert_close(upsample_conv3x3(x, block.body[2]), block.body[2](up), atol=1e-5, rtol=1e-5)
            torch.testing.assert_close(block.upsampled(x), block(up), atol=1e-5, rtol=1e-5)
    with pytest.raises(ValueError, match="stride-1"):
        ResBlock2d(4, 8, stride=2).upsampled(torch.zeros(1, 4, 4, 4))


def reference_decode(model, canonical, z_id, z_pose, z_dyn):
    """FaceLatentModel.decode of one frame written plainly from the paper's steps (§3.1): W_c→d, the
    projection, G_2D upsampling by F.interpolate, then G_part."""
    c = model.cfg
    dyn = model.generator_dyn(z_pose, z_dyn)
    delta, residual = model.warp_from_canonical(dyn, z_id)
    if residual is not None:
        canonical = canonical + residual
    B, C, D, Hv, Wv = canonical.shape
    points = warp.pose_to_canonical(warp.identity_grid(D, Hv, Wv).expand(B, D, Hv, Wv, 3), z_pose)
    if c.canonical_flow:
        delta = warp.sample_field(delta, points)
    posed = warp.sample_volume(canonical, points + delta)
    g, z = model.g2d, torch.cat([z_id, dyn], 1)
    x = g.mid(g.inp(posed.reshape(B, C * D, Hv, Wv)))
    for k, up in enumerate(g.ups):
        if g.films is not None:
            x = g.films[k](x, z)
        x = up(F.interpolate(x, scale_factor=2, mode="nearest"))
    if g.films is not None:
        x = g.films[-1](x, z)
    image = torch.sigmoid(g.out(x))
    if model.part_painter is not None:
        image = model.part_painter(image, z_pose, model.painter_code(z_pose, z_dyn), model.motion_encoder.parts)
    return image


@pytest.fixture(scope="module")
def shipped():
    """The shipped face latent model, a portrait's canonical volume and identity, and 6 frames' codes."""
    model = load_face_latent()
    g = torch.Generator().manual_seed(0)
    S = model.cfg.image_size
    with torch.no_grad():
        lat = model.encode(torch.rand(1, 3, S, S, generator=g))
        canonical = model.canonicalize(lat)
    z_pose = lat.z_pose + 0.1 * torch.randn(6, lat.z_pose.shape[1], generator=g)
    z_dyn = lat.z_dyn + 0.5 * torch.randn(6, lat.z_dyn.shape[1], generator=g)
    return model, canonical, lat.z_id, z_pose, z_dyn


def test_decode_draws_what_the_plain_decode_draws_alone_and_in_a_batch(shipped):
    model, canonical, z_id, z_pose, z_dyn = shipped
    T = len(z_pose)
    with torch.no_grad():
        ref = torch.cat([reference_decode(model, canonical, z_id, z_pose[t:t + 1], z_dyn[t:t + 1]) for t in range(T)])
        alone = torch.cat([model.decode(canonical, z_id, z_pose[t:t + 1], z_dyn[t:t + 1]) for t in range(T)])
        batch = model.decode(canonical.expand(T, *canonical.shape[1:]), z_id.expand(T, -1), z_pose, z_dyn)
    assert ref.shape == (T, 3, model.cfg.image_size, model.cfg.image_size)
    assert (alone - ref).abs().max() < 1e-4
    assert (batch - ref).abs().max() < 1e-4


def test_latent_renderer_batches_draw_the_frames_of_one_at_a_time():
    from labkit.render.latent import LatentRenderer

    with torch.random.fork_rng(devices=[]):
        r = LatentRenderer(np.full((64, 64, 3), 128, np.uint8), 64, aligned=True, name="grey", preset="tiny")
    rng = np.random.default_rng(0)
    codes = np.concatenate([np.tile(r.z_pose, (7, 1)), np.zeros((7, r.model.cfg.dyn_dim))], 1)
    codes += rng.normal(0, 0.1, codes.shape)
    alone = np.stack([r.render_frame(c) for c in codes])
    for batch in (None, 3):
        frames = r.render_frames(codes, batch=batch)
        assert frames.shape == (7, 64, 64, 3) and frames.dtype == np.uint8
        assert np.abs(frames.astype(int) - alone).max() <= 1                # float32 rounding, at most one level
    assert r.render_frames(codes[:0]).shape == (0, 64, 64, 3)
    with pytest.raises(ValueError, match="codes must be"):
        r.render_frames(codes[:, :-1])


def test_streamed_latent_frames_equal_the_offline_ones():
    """The latent renderer's batches are grouped alike offline and streaming, so the frames are equal."""
    from labkit.pipeline import Animator, chunked, repeated_speech

    speech = repeated_speech(3.0)
    anim = Animator(None, resolution=128, renderer="latent")
    offline = anim.animate(speech)
    streamed = np.stack(list(anim.stream(chunked(speech))))
    np.testing.assert_array_equal(streamed, offline.frames)


def test_bench_latent_times_decode_apart_from_canonicalize():
    from labkit.bench.inference import bench_latent

    r = bench_latent(sizes=(64,), repeats=1, frames=2)["sizes"][64]
    for stage in ("encode", "canonicalize", "decode"):
        assert r[f"{stage}_ms"] > 0 and r[f"{stage}_gflops"] > 0
    assert r["decode_batched_ms"] > 0


def test_the_latent_renderer_hands_a_reference_painter_the_portraits_own_crops(monkeypatch):
    import labkit.render.latent as latent_render

    torch.manual_seed(0)
    model = FaceLatentModel(make_config("tiny", part_crops=True, part_painter=True, part_reference=True)).eval()
    for net in model.part_painter.nets.values():                            # as after training: it reads them
        torch.nn.init.normal_(net.ref.weight, std=0.1)
        torch.nn.init.normal_(net.out[-1].weight, std=0.1)
    monkeypatch.setattr(latent_render, "load_face_latent", lambda device="cpu": model)
    image = np.random.default_rng(0).integers(0, 256, (64, 64, 3), dtype=np.uint8)
    r = latent_render.LatentRenderer(image, 64, aligned=True, name="noise")
    codes = np.concatenate([r.z_pose, np.zeros(model.cfg.dyn_dim)])[None].astype(np.float32)
    x = torch.from_numpy(image).permute(2, 0, 1)[None].float().div(255)
    with torch.no_grad():
        lat = model.encode(x)
        ref = model.part_reference(x, lat.z_pose)
        by_hand = model.decode(model.canonicalize(lat), lat.z_id, torch.from_numpy(codes[:, :6]),
                               torch.from_numpy(codes[:, 6:]), ref)
    expected = by_hand.clamp(0, 1).mul(255).round().byte().permute(0, 2, 3, 1).numpy()
    assert np.abs(r.render_frames(codes).astype(int) - expected).max() <= 1
