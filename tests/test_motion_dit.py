"""The motion generator: denoiser shapes and conditions, the diffusion process, guidance, sliding
windows and streaming, training/resume and the CLI."""
import json
from dataclasses import asdict

import numpy as np
import pytest
import torch

from labkit.motion.blinks import BlinkAxis, BlinkConfig
from labkit.motion.config import DiffusionConfig, MotionDiTConfig, TrainMotionConfig, make_config
from labkit.motion.data import emotion_offset, extract_clips, gaze_of, sample_windows, window_controls
from labkit.motion.diffusion import Diffusion, Guidance, Regression, ar1_factor, cosine_alpha_bar, guided, make_process
from labkit.motion.dit import MotionConditions, MotionDiT
from labkit.motion.generator import MotionGenerator, window_starts
from labkit.motion.train import train_motion
from labkit.synthtalk.factors import FACTOR_NAMES

BLINK = FACTOR_NAMES.index("blink")


def _cond(cfg, B=3, seed=0):
    g = torch.Generator().manual_seed(seed)
    K, W = cfg.context, cfg.window
    return MotionConditions.full(torch.randn(B, K + W, cfg.audio_dim, generator=g),
                                 torch.randn(B, K, cfg.motion_dim, generator=g),
                                 torch.randn(B, 2, generator=g), torch.rand(B, cfg.control_dim, generator=g))


@pytest.fixture(scope="module")
def tiny():
    torch.manual_seed(0)
    m = MotionDiT(make_config("tiny", motion_dim=6, audio_dim=8)).eval()
    torch.nn.init.normal_(m.out.weight, std=0.1)          # not the zero init, so outputs depend on inputs
    return m


@pytest.fixture(scope="module")
def clips(tmp_path_factory):
    return extract_clips("train", 6, source="factors", seconds=2.0, cache_dir=tmp_path_factory.mktemp("cache"))


def test_denoiser_shapes_and_every_condition_matters(tiny):
    c = tiny.cfg
    cond = _cond(c)
    x = torch.randn(3, c.window, c.motion_dim)
    t = torch.tensor([0, 500, 999])
    y = tiny(x, t, cond)
    assert y.shape == (3, c.window, c.motion_dim)
    for name in ("audio", "context", "gaze", "control"):
        assert not torch.allclose(tiny(x, t, cond.drop(name)), y), name
    assert not torch.allclose(tiny(x, t.flip(0), cond), y)
    with pytest.raises(ValueError, match="unknown condition"):
        cond.drop("mood")
    with pytest.raises(ValueError, match="x_t"):
        tiny(torch.randn(3, c.window + 1, c.motion_dim), t, cond)
    with pytest.raises(ValueError, match="unknown motion preset"):
        make_config("huge")
    assert make_config("base").width == 512 and make_config("base").layers == 8 and make_config("base").heads == 8


def test_adaln_blocks_start_as_the_identity_and_read_the_step():
    torch.manual_seed(0)
    cfg = make_config("tiny", motion_dim=6, audio_dim=8, time_cond="adaln")
    assert make_config("small").time_cond == "token"       # what the shipped generators are
    block = MotionDiT(cfg).blocks[0].eval()
    x, time = torch.randn(2, 7, cfg.width), torch.randn(2, cfg.width)
    assert torch.equal(block(x, time), x)                 # adaLN-Zero: every branch gated off at init
    torch.nn.init.normal_(block.modulation[1].weight, std=0.1)
    assert not torch.allclose(block(x, time), block(x, time.flip(0)))
    # a checkpoint from before the field has no time_cond in its config: the step is a token only
    old = {k: v for k, v in asdict(cfg).items() if k != "time_cond"}
    legacy = MotionDiT(MotionDiTConfig(**old))
    assert legacy.cfg.time_cond == "token" and all(b.modulation is None for b in legacy.blocks)
    with pytest.raises(ValueError, match="time_cond"):
        make_config("tiny", time_cond="film")


def test_denoiser_learns_to_read_x_t_at_low_noise():
    """An adaLN denoiser must read x_t where the noise is low. Here the conditions say nothing
    about x0, so only x_t can: after a short training the error at t = 20 must fall far below
    that at t = 999 (and with the gates stuck at zero it would not)."""
    torch.manual_seed(0)
    m = MotionDiT(make_config("tiny", motion_dim=6, audio_dim=8, dropout=0.0, time_cond="adaln"))
    d, opt = Diffusion(), torch.optim.Adam(m.parameters(), lr=3e-3)
    g = torch.Generator().manual_seed(0)
    W = m.cfg.window
    phase = lambda B: torch.rand(B, 1, 6, generator=g) * 6.3
    wave = lambda ph: torch.sin(torch.linspace(0, 3, W)[None, :, None] + ph)
    for _ in range(250):
        loss, _ = d.loss(m, wave(phase(32)), _cond(m.cfg, B=32, seed=1), generator=g)
        opt.zero_grad()
        loss.backward()
        opt.step()
    m.eval()
    x0, cond = wave(phase(64)), _cond(m.cfg, B=64, seed=2)
    with torch.no_grad():
        err = {t: float(((m(d.q_sample(x0, torch.full((64,), t), torch.randn(x0.shape, generator=g)),
                                torch.full((64,), t), cond) - x0) ** 2).mean()) for t in (20, 999)}
    assert err[20] < 0.1 * err[999], err


def test_v_prediction_is_a_skip_from_x_t():
    """prediction="v": x̂0 = √ᾱ·x_t − √(1−ᾱ)·v̂. The exact v gives back x0; a network that outputs
    nothing (the denoiser's zero-initialised head) already keeps x_t at low noise, where an x0
    network returns 0, and returns 0 from pure noise."""
    g = torch.Generator().manual_seed(0)
    x0, eps = torch.randn(4, 12, 6, generator=g), torch.randn(4, 12, 6, generator=g)
    t = torch.tensor([0, 20, 500, 999])
    d = Diffusion(prediction="v")
    x_t = d.q_sample(x0, t, eps)
    ab = d.alpha_bar[t].float()[:, None, None]
    v = ab.sqrt() * eps - (1 - ab).sqrt() * x0
    assert torch.allclose(d.x0_of(v, x_t, t), x0, atol=1e-5)
    assert torch.equal(Diffusion().x0_of(v, x_t, t), v)                      # x0 prediction: the output itself
    m = MotionDiT(make_config("tiny", motion_dim=6, audio_dim=8)).eval()    # untrained: its head outputs zeros
    cond = _cond(m.cfg, B=4)
    x0 = torch.randn(4, m.cfg.window, 6, generator=g)
    for t_, most in ((20, 0.01), (999, 1e-4)):
        tt = torch.full((4,), t_)
        x_t = d.q_sample(x0, tt, torch.randn(x0.shape, generator=g))
        with torch.no_grad():
            err_v = float(((d.denoise(m, x_t, tt, cond) - x0) ** 2).mean())
            err_x0 = float(((Diffusion().denoise(m, x_t, tt, cond) - x0) ** 2).mean())
        assert err_x0 > 0.5 and (err_v < most if t_ == 20 else abs(err_v - err_x0) < 0.05), (t_, err_v, err_x0)
    with pytest.raises(ValueError, match="prediction"):
        Diffusion(prediction="eps")
    with pytest.raises(ValueError, match="predicts x0"):
        DiffusionConfig(process="regression", prediction="v")
    assert isinstance(make_process(DiffusionConfig(process="regression")), Regression)
    assert make_process(DiffusionConfig()).prediction == "x0"


def _lag1(x: torch.Tensor) -> float:
    """Correlation of consecutive frames of zero-mean (B, W, M), pooled."""
    return float((x[:, 1:] * x[:, :-1]).mean() / (x * x).mean())


def test_ar1_noise_is_correlated_in_time_in_training_and_sampling():
    """noise_rho = ρ: the noise has unit variance and correlation ρ^|i − j| between frames, both in
    the training loss's x_t and in the sampler's starting x_T; ρ = 0 draws exactly torch.randn."""
    i = torch.arange(20, dtype=torch.float64)
    L = ar1_factor(20, 0.8)
    assert torch.allclose(L @ L.T, 0.8 ** (i[:, None] - i[None, :]).abs(), atol=1e-12)
    assert torch.equal(L, L.tril()) and torch.equal(ar1_factor(20, 0.0), torch.eye(20, dtype=torch.float64))
    eps = Diffusion(noise_rho=0.9).noise((2000, 50, 3), torch.Generator().manual_seed(0))
    assert float(eps.var()) == pytest.approx(1.0, abs=0.02)
    assert float((eps[:, 1:] * eps[:, :-1]).mean()) == pytest.approx(0.9, abs=0.02)
    assert float((eps[:, 5:] * eps[:, :-5]).mean()) == pytest.approx(0.9 ** 5, abs=0.02)
    white = Diffusion().noise((2, 50, 3), torch.Generator().manual_seed(1))
    assert torch.equal(white, torch.randn((2, 50, 3), generator=torch.Generator().manual_seed(1)))

    class Spy(torch.nn.Module):                            # records what the process feeds the denoiser
        def __init__(self, cfg):
            super().__init__()
            self.cfg, self.w, self.seen = cfg, torch.nn.Parameter(torch.zeros(())), []

        def forward(self, x_t, t, cond):
            self.seen.append((x_t.clone(), t.clone()))
            return torch.zeros_like(x_t) + self.w

    cfg = make_config("tiny", motion_dim=6, audio_dim=8)
    for rho in (0.0, 0.9):
        d, spy = Diffusion(noise_rho=rho), Spy(cfg)
        d.loss(spy, torch.zeros(64, cfg.window, 6), _cond(cfg, B=64), generator=torch.Generator().manual_seed(0))
        d.sample(spy, _cond(cfg, B=64), steps=1, generator=torch.Generator().manual_seed(0))
        (x_train, t), (x_T, _) = spy.seen
        x_train = x_train / (1 - d.alpha_bar[t].float()).sqrt()[:, None, None]    # x0 = 0: x_t = √(1 − ᾱ)·ε
        for x in (x_train, x_T):
            assert _lag1(x) == pytest.approx(0.9 if rho else 0.0, abs=0.06), (rho, _lag1(x))
    with pytest.raises(ValueError, match="noise_rho"):
        Diffusion(noise_rho=1.0)
    with pytest.raises(ValueError, match="no noise"):
        DiffusionConfig(process="regression", noise_rho=0.5)


def test_random_drop_rates():
    cfg = make_config("tiny", motion_dim=6, audio_dim=8)
    cond = _cond(cfg, B=4000).random_drop(0.1, 0.5, generator=torch.Generator().manual_seed(0))
    assert abs(float((~cond.keep_audio).float().mean()) - 0.1) < 0.02
    assert abs(float((~cond.keep_context).float().mean()) - 0.5) < 0.03
    assert abs(float((cond.keep_gaze ^ cond.keep_control).float().mean()) - 0.18) < 0.03   # independent


def test_schedule_and_forward_process():
    ab = cosine_alpha_bar(1000)
    assert ab.shape == (1000,) and float(ab[0]) > 0.999 and float(ab[-1]) < 1e-3 and bool((ab.diff() <= 0).all())
    d = Diffusion()
    x0 = torch.ones(2, 4, 3)
    xt = d.q_sample(x0, torch.tensor([0, 999]), torch.zeros_like(x0))
    assert torch.allclose(xt[0], x0[0], atol=1e-3) and float(xt[1].abs().max()) < 0.05


def test_guidance_combines_the_dropped_predictions(tiny):
    c = tiny.cfg
    cond = _cond(c)
    x, t = torch.randn(3, c.window, c.motion_dim), torch.tensor([10, 10, 10])
    full, no_audio, no_gaze = tiny(x, t, cond), tiny(x, t, cond.drop("audio")), tiny(x, t, cond.drop("gaze"))
    assert torch.allclose(guided(tiny, x, t, cond, Guidance()), full, atol=1e-5)
    g = guided(tiny, x, t, cond, Guidance(audio=3.0, gaze=0.0))
    assert torch.allclose(g, full + 2 * (full - no_audio) - (full - no_gaze), atol=1e-5)


def test_emotion_guidance_contrasts_neutral_on_the_masked_channels(tiny):
    c = tiny.cfg
    cond = _cond(c)
    cond.control[:, 1:] = torch.tensor([0.0, 0.8, 0.0, 0.0])                     # sad at 0.8, distances kept
    neutral = cond.drop("emotion")
    assert torch.equal(neutral.control[:, 0], cond.control[:, 0]) and not neutral.control[:, 1:].any()
    assert bool(neutral.keep_control.all())                                     # a command, not the null token
    x, t = torch.randn(3, c.window, c.motion_dim), torch.tensor([10, 10, 10])
    full, calm = tiny(x, t, cond), tiny(x, t, neutral)
    assert not torch.allclose(full, calm, atol=1e-4)
    mask = (torch.arange(c.motion_dim) >= 2).float()
    g = guided(tiny, x, t, cond, Guidance(emotion=3.0), masks={"emotion": mask})
    assert torch.allclose(g, full + 2 * (full - calm) * mask, atol=1e-5)
    assert torch.allclose(g[..., :2], full[..., :2], atol=1e-6)                 # masked channels untouched
    with pytest.raises(ValueError, match="unknown condition"):
        cond.drop("mood")


def test_both_motion_spaces_start_with_the_head_pose():
    from labkit.latent.warp import POSE_DIM
    from labkit.motion.data import HEAD_DIMS
    from labkit.synthtalk.factors import FACTOR_NAMES

    assert HEAD_DIMS == POSE_DIM
    assert FACTOR_NAMES[:HEAD_DIMS] == ("yaw", "pitch", "roll", "tx", "ty", "distance")


def test_generator_emotion_guidance_leaves_the_head_pose(tiny):
    from labkit.motion.data import HEAD_DIMS
    from labkit.motion.generator import MotionGenerator

    torch.manual_seed(0)
    model = MotionDiT(make_config("tiny", motion_dim=HEAD_DIMS + 4, audio_dim=8)).eval()
    torch.nn.init.normal_(model.out.weight, std=0.1)
    gen = MotionGenerator(model)
    W = gen.cfg.window
    audio = np.random.default_rng(0).normal(size=(1, 2 * W, gen.cfg.audio_dim)).astype(np.float32)
    kw = dict(emotion=np.array([0.0, 0.0, 0.0, 1.0], np.float32), distance=1.0, seed=3)
    plain = gen.generate(audio, **kw)
    strong = gen.replace(guidance=Guidance(emotion=4.0)).generate(audio, **kw)
    first = W - gen.overlap                                # the first window's own frames (later ones read
    assert np.allclose(plain[:, :first, :HEAD_DIMS], strong[:, :first, :HEAD_DIMS], atol=1e-5)  # it as context)
    assert not np.allclose(plain[..., HEAD_DIMS:], strong[..., HEAD_DIMS:], atol=1e-4)
    neutral = dict(kw, emotion=None)                   # nothing to contrast: the emotion pass is skipped, no change
    assert np.array_equal(gen.generate(audio, **neutral),
                          gen.replace(guidance=Guidance(emotion=4.0)).generate(audio, **neutral))


def test_sampling_is_seeded_and_steps_are_checked(tiny):
    d = Diffusion()
    cond = _cond(tiny.cfg)
    a = d.sample(tiny, cond, steps=4, generator=torch.Generator().manual_seed(1))
    b = d.sample(tiny, cond, steps=4, generator=torch.Generator().manual_seed(1))
    c = d.sample(tiny, cond, steps=4, generator=torch.Generator().manual_seed(2))
    assert torch.equal(a, b) and not torch.allclose(a, c)
    with pytest.raises(ValueError, match="steps"):
        d.sample(tiny, cond, steps=0)
    r = Regression().sample(tiny, cond)
    assert torch.equal(r, Regression().sample(tiny, cond))


def test_generator_default_steps_match_the_cli(tiny):
    from labkit.cli import build_parser
    from labkit.motion.config import DEFAULT_STEPS

    animate = build_parser()._subparsers._group_actions[0].choices["animate"]
    steps_help = next(a.help for a in animate._actions if "--steps" in a.option_strings)
    assert f"else {DEFAULT_STEPS}" in steps_help          # the CLI's --help names it without importing torch
    assert MotionGenerator(tiny).steps == DEFAULT_STEPS and MotionGenerator(tiny, steps=3).steps == 3
    with pytest.raises(ValueError, match="steps must be >= 1"):
        MotionGenerator(tiny, steps=0)


def test_a_checkpoint_records_the_steps_it_samples_with(tiny, tmp_path):
    from labkit.cli import main
    from labkit.io.checkpoint import save_weights
    from labkit.motion.config import DEFAULT_STEPS

    src = tmp_path / "run.safetensors"
    save_weights(src, tiny, kind="motion_dit", config=asdict(tiny.cfg))
    assert MotionGenerator.load(src).steps == DEFAULT_STEPS                 # nothing recorded: the default
    assert main(["weights", "export", str(src), str(tmp_path / "shipped.safetensors"), "--sampling-steps", "4"]) == 0
    assert MotionGenerator.load(tmp_path / "shipped.safetensors").steps == 4
    assert MotionGenerator.load(tmp_path / "shipped.safetensors", steps=2).steps == 2   # asked for: obeyed
    assert main(["weights", "export", str(src), str(tmp_path / "bad.safetensors"), "--sampling-steps", "0"]) == 2
    assert not (tmp_path / "bad.safetensors").exists()


def test_denoiser_overfits_one_batch():
    torch.manual_seed(0)
    m = MotionDiT(make_config("tiny", motion_dim=6, audio_dim=8, dropout=0.0))
    cond = _cond(m.cfg, B=4)
    x0 = (torch.sin(torch.linspace(0, 6, m.cfg.window))[None, :, None].repeat(4, 1, 6)
          * torch.arange(1, 5)[:, None, None])
    d, opt = Diffusion(), torch.optim.Adam(m.parameters(), lr=3e-3)
    g = torch.Generator().manual_seed(0)
    first = None
    for _ in range(300):
        loss, _ = d.loss(m, x0, cond, generator=g)
        first = first if first is not None else float(loss.detach())
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert loss.item() < 0.1 * first


def test_motion_data_controls_and_windows(clips):
    assert clips.motion.shape == (6, 50, 14) and clips.audio.shape == (6, 50, 80)
    assert np.array_equal(clips.motion, clips.factors)                     # the oracle source
    off = emotion_offset(np.array([0, 2]), np.array([0.0, 0.7], np.float32))
    assert off.tolist() == [[0, 0, 0, 0], [0, pytest.approx(0.7), 0, 0]]
    f = np.zeros((1, 5, 14), np.float32)
    f[..., 0], f[..., 11], f[..., 5] = 10.0, 5.0, 1.1                        # yaw, gaze_yaw, distance
    g, ctrl = window_controls(f, np.array([0]), np.array([0.0], np.float32))
    assert g.tolist() == [[0.0, 15.0]] and ctrl[0, 0] == pytest.approx(1.1) and gaze_of(f).shape == (1, 5, 2)
    x0, cond = sample_windows(clips, 5, 12, 4, np.random.default_rng(0))
    assert x0.shape == (5, 12, 14) and cond.audio.shape == (5, 16, 80) and cond.context.shape == (5, 4, 14)
    with pytest.raises(ValueError, match="shorter"):
        sample_windows(clips, 5, 50, 4, np.random.default_rng(0))


def test_window_starts_cover_the_clip():
    assert window_starts(50, 50, 10) == [0] and window_starts(51, 50, 10) == [0, 40]
    assert window_starts(200, 50, 0) == [0, 50, 100, 150] and window_starts(200, 50, 10) == [0, 40, 80, 120, 160]
    for T in (1, 49, 50, 51, 89, 90, 91, 333):
        s = window_starts(T, 50, 10)
        assert s[-1] + 50 >= T and (len(s) == 1 or s[-2] + 50 < T)          # covered, and no window too many
    with pytest.raises(ValueError, match="overlap"):
        window_starts(100, 50, 50)


def test_prefix_pins_the_first_frames(tiny):
    from labkit.motion.diffusion import Prefix
    c = tiny.cfg
    cond = MotionConditions.full(torch.randn(2, c.context + c.window, c.audio_dim),
                                 torch.zeros(2, c.context, c.motion_dim), torch.zeros(2, 2),
                                 torch.zeros(2, c.control_dim), has_context=False)
    known = torch.full((2, 3, c.motion_dim), 5.0)
    for process in (Diffusion(), Regression()):
        free = process.sample(tiny, cond, steps=4, generator=torch.Generator().manual_seed(0))
        x = process.sample(tiny, cond, steps=4, generator=torch.Generator().manual_seed(0),
                           prefix=Prefix(known, torch.tensor([1.0, 0.5, 0.0])))
        assert torch.allclose(x[:, 0], known[:, 0])                          # weight 1: the known frame
        assert not torch.allclose(x[:, 0], free[:, 0])
        if isinstance(process, Regression):                                  # one pass: a plain cross-fade
            assert torch.allclose(x[:, 1], 0.5 * (known[:, 1] + free[:, 1]), atol=1e-5)
            assert torch.allclose(x[:, 2:], free[:, 2:], atol=1e-5)
        else:                                                                 # the known frames steer the rest
            assert not torch.allclose(x[:, 3:], free[:, 3:])
    with pytest.raises(ValueError, match="prefix"):
        Prefix(known, torch.ones(4))


@pytest.mark.parametrize("overlap", [0, 3])
def test_sliding_windows_and_streaming_agree(tiny, overlap):
    gen = MotionGenerator(tiny, steps=3, overlap=overlap)
    c = tiny.cfg
    other = gen.replace(steps=5, overlap=0)
    assert other.model is gen.model and (other.steps, other.overlap, gen.steps, gen.overlap) == (5, 0, 3, overlap)
    rng = np.random.default_rng(0)
    audio = rng.normal(size=16000 * 2).astype(np.float32) * 0.1            # 2 s → 50 frames, 5 windows of 12
    from labkit.io.audio import log_mel
    feats = log_mel(audio)[:, :c.audio_dim]
    tiny_audio_dim = c.audio_dim
    whole = gen.generate(feats, seed=3, gaze=(0, 10))
    assert whole.shape == (len(feats), c.motion_dim)
    assert np.array_equal(whole, gen.generate(feats, seed=3, gaze=(0, 10)))
    assert not np.allclose(whole, gen.generate(feats, seed=4, gaze=(0, 10)))
    batch = gen.generate(np.stack([feats, feats]), seed=3, gaze=(0, 10))
    assert batch.shape == (2, len(feats), c.motion_dim)
    with pytest.raises(ValueError, match="gaze"):
        gen.generate(feats, gaze=(1, 2, 3))
    # streaming: the same frames, window by window, from chunks of any size
    from labkit.io.audio import MelFeatures
    mel = MelFeatures(n_mels=tiny_audio_dim)
    feats_small = log_mel(audio, mel)
    ref = gen.generate(feats_small, seed=3, gaze=(0, 10))
    chunks = np.split(audio, [1000, 1700, 9000, 20000])
    parts = list(gen.stream(iter(chunks), seed=3, gaze=(0, 10), mel=mel))
    S = c.window - overlap
    assert all(len(p) == S for p in parts[:-1]) and sum(map(len, parts)) == 50
    assert len(parts) == len(window_starts(50, c.window, overlap))
    assert np.allclose(np.concatenate(parts), ref, atol=1e-5)
    emo = np.array([0, 0.8, 0, 0], np.float32)
    ref = gen.generate(feats_small, seed=5, distance=1.1, emotion=emo)
    assert not np.allclose(ref, gen.generate(feats_small, seed=5))              # the commands reach the model
    parts = list(gen.stream(iter(chunks), seed=5, distance=1.1, emotion=emo, mel=mel))
    assert np.allclose(np.concatenate(parts), ref, atol=1e-5)
    # with the blink process: along the axis, the same blinks offline and streamed, the rest untouched
    axis = BlinkAxis(np.zeros(c.motion_dim, np.float32), np.eye(c.motion_dim, dtype=np.float32)[-1])
    blinking = gen.replace(blinks=BlinkConfig(rate=40), blink_axis=axis)
    raw, ref = gen.generate(feats_small, seed=3), blinking.generate(feats_small, seed=3)
    np.testing.assert_array_equal(ref[:, :-1], raw[:, :-1])
    assert (ref[:, -1] >= raw[:, -1] - 1e-6).all() and ref[:, -1].max() > 0.9
    parts = list(blinking.stream(iter(chunks), seed=3, mel=mel))
    assert np.allclose(np.concatenate(parts), ref, atol=1e-5)
    pair = np.stack([feats_small, feats_small])
    added = blinking.generate(pair, seed=3)[..., -1] - gen.generate(pair, seed=3)[..., -1]
    assert added.max() > 0.5 and not np.allclose(added[0], added[1])            # each clip blinks on its own
    with pytest.raises(ValueError, match="does not record its motion space"):
        gen.replace(blinks=BlinkConfig()).generate(feats_small)


def test_training_resume_is_exact_and_checkpoint_loads(tmp_path, clips):
    cache = tmp_path / "cache"
    kw = dict(preset="tiny", motion="factors", train_clips=6, seconds=2.0, batch_size=8, warmup=2, log_every=1,
              checkpoint_every=2)
    full = train_motion(TrainMotionConfig(steps=4, **kw), tmp_path / "a", progress=False, cache_dir=cache)
    cut = train_motion(TrainMotionConfig(steps=4, **kw), tmp_path / "b", progress=False, cache_dir=cache, time_limit=0)
    assert MotionGenerator.load(cut).meta["step"] == 1                     # stopped by the time limit, checkpointed
    train_motion(TrainMotionConfig(steps=2, **kw), tmp_path / "b", progress=False, cache_dir=cache)
    resumed = train_motion(TrainMotionConfig(steps=4, **kw), tmp_path / "b", progress=False, cache_dir=cache)
    a, b = MotionGenerator.load(full), MotionGenerator.load(resumed)
    for (k, v), w in zip(a.model.state_dict().items(), b.model.state_dict().values()):
        assert torch.equal(v, w), k
    assert a.meta["motion"] == "factors" and a.meta["step"] == 4 and a.process_name == "diffusion"
    assert a.blinks == BlinkConfig() and np.array_equal(a.blink_axis.shut, BlinkAxis.factors().shut)   # it blinks
    silent = np.zeros((1500, a.cfg.audio_dim), np.float32)                     # a minute
    blinked, raw = a.generate(silent, steps=1), a.replace(blinks=None).generate(silent, steps=1)
    assert (blinked[:, BLINK] >= raw[:, BLINK] - 1e-6).all()                  # max(generated, process)
    np.testing.assert_array_equal(np.delete(blinked, BLINK, 1), np.delete(raw, BLINK, 1))
    shut = (blinked[:, BLINK] > raw[:, BLINK] + 0.5)                           # frames the process shut
    starts = np.flatnonzero(shut[1:] & ~shut[:-1])
    assert 8 <= len(starts) <= 30                                              # ~17 blinks in a minute
    assert float(a.model.motion_std[5]) > 0                                # statistics saved with the weights
    assert float(a.model.control_mean[0]) == pytest.approx(1.0, abs=0.2)   # distance, standardised around ~1
    assert float(a.model.control_std[0]) != 1.0
    with pytest.raises(ValueError, match="another config"):
        train_motion(TrainMotionConfig(steps=4, **{**kw, "batch_size": 4}), tmp_path / "b", progress=False,
                     cache_dir=cache)
    reg = train_motion(TrainMotionConfig(steps=2, diffusion=DiffusionConfig(process="regression"), **kw),
                       tmp_path / "r", progress=False, cache_dir=cache)
    assert MotionGenerator.load(reg).process_name == "regression"
    with pytest.raises(ValueError, match="regression"):
        DiffusionConfig(process="regression", prediction="v")
    v = MotionGenerator.load(train_motion(TrainMotionConfig(steps=2, diffusion=DiffusionConfig(prediction="v"), **kw),
                                          tmp_path / "v", progress=False, cache_dir=cache))
    assert v.meta["diffusion"]["prediction"] == "v" and v.process.prediction == "v" and a.process.prediction == "x0"
    assert v.replace(steps=3).process.prediction == "v"
    ar = MotionGenerator.load(train_motion(TrainMotionConfig(steps=2, diffusion=DiffusionConfig(noise_rho=0.9), **kw),
                                           tmp_path / "ar", progress=False, cache_dir=cache))
    assert ar.meta["diffusion"]["noise_rho"] == 0.9 and ar.replace(steps=3).process.noise_rho == 0.9
    assert a.noise_rho == 0.0 and ar.config_dict()["diffusion"]["noise_rho"] == 0.9
    legacy = {"process": "diffusion", "prediction": "v", "noise_rho": 0.5}                # older checkpoints' keys
    assert DiffusionConfig.from_meta(legacy) == DiffusionConfig(prediction="v", noise_rho=0.5)
    assert DiffusionConfig.from_meta({}) == DiffusionConfig()
    shipped = MotionGenerator.load()                                                       # the shipped ones load
    assert shipped.hold_face and shipped.diffusion == DiffusionConfig(prediction="v", noise_rho=0.9,
                                                                      velocity_weight=10.0)
    assert MotionGenerator.load("motion_dit_small_factors").diffusion == DiffusionConfig()
    assert np.isfinite(v.generate(np.zeros((30, v.cfg.audio_dim), np.float32), steps=3)).all()
    log = [json.loads(line) for line in (tmp_path / "a" / "log.jsonl").read_text().splitlines()]
    assert [r["step"] for r in log] == [1, 2, 3, 4] and all(np.isfinite(r["loss"]) for r in log)


def test_cli_train_motion_refuses_bad_input(tmp_path, capsys):
    from labkit.cli import main

    assert main(["train", "motion", "--out", str(tmp_path / "x"), "--latent", str(tmp_path / "none.safetensors"),
                 "--quiet"]) == 2
    assert "no face latent checkpoint" in capsys.readouterr().err
    assert main(["train", "motion", "--out", str(tmp_path / "x"), "--motion", "factors", "--heldout-language", "xx",
                 "--quiet"]) == 2
    assert "heldout_language" in capsys.readouterr().err
