"""The face held at the first DDIM step while later steps sample the head, and the eyes that follow it."""
from dataclasses import asdict

import numpy as np
import pytest
import torch

from labkit.motion.config import make_config
from labkit.motion.data import HEAD_DIMS, gaze_of
from labkit.motion.diffusion import Diffusion, Hold
from labkit.motion.dit import MotionConditions, MotionDiT
from labkit.motion.gaze import GazeAxes
from labkit.motion.generator import MotionGenerator
from labkit.synthtalk.factors import FACTOR_NAMES

F = len(FACTOR_NAMES)
JAW = FACTOR_NAMES.index("jaw")


@pytest.fixture(scope="module")
def factor_model():
    """A denoiser of SynthTalk's factors with random weights whose outputs depend on x_t and the step."""
    torch.manual_seed(0)
    m = MotionDiT(make_config("tiny", motion_dim=F, audio_dim=8)).eval()
    torch.nn.init.normal_(m.out.weight, std=0.1)
    return m


def _cond(cfg, B=2):
    g = torch.Generator().manual_seed(0)
    return MotionConditions.full(torch.randn(B, cfg.context + cfg.window, cfg.audio_dim, generator=g),
                                 torch.zeros(B, cfg.context, cfg.motion_dim), torch.zeros(B, 2),
                                 torch.zeros(B, cfg.control_dim), has_context=False)


def test_held_channels_keep_the_first_step_and_the_rest_move_on(factor_model):
    d, cond = Diffusion(noise_rho=0.9), _cond(factor_model.cfg)
    weight = (torch.arange(F) >= HEAD_DIMS).float()

    def sample(steps, hold=None):
        return d.sample(factor_model, cond, steps=steps, generator=torch.Generator().manual_seed(3), hold=hold)

    one, four, held = sample(1), sample(4), sample(4, Hold(weight))
    assert torch.allclose(held[..., HEAD_DIMS:], one[..., HEAD_DIMS:], atol=1e-6)     # the face of one step
    assert not torch.allclose(held[..., :HEAD_DIMS], one[..., :HEAD_DIMS], atol=1e-3)  # the head sampled on
    assert not torch.allclose(four[..., HEAD_DIMS:], one[..., HEAD_DIMS:], atol=1e-3)  # unheld, the face moves too
    follow = torch.zeros(F, F)
    follow[0, JAW] = 1.0                                     # a held channel following a free one
    f = sample(4, Hold(weight, follow))
    assert torch.allclose(f[..., JAW], one[..., JAW] + f[..., 0] - one[..., 0], atol=1e-5)
    assert torch.allclose(sample(1, Hold(weight)), one)      # one step: nothing to hold
    with pytest.raises(ValueError, match="one weight per motion channel"):
        sample(2, Hold(torch.ones(F - 1)))
    with pytest.raises(ValueError, match="follow"):
        Hold(weight, torch.zeros(F, F - 1))


def test_eyes_counter_rotate_against_the_head():
    axes = GazeAxes.factors()
    std = np.linspace(0.5, 2.0, F).astype(np.float32)
    follow = axes.follow(std)
    row = np.zeros(F, np.float32)
    row[FACTOR_NAMES.index("yaw")], row[FACTOR_NAMES.index("pitch")] = 3.0, -2.0    # the head turns (degrees)
    eyes = (row / std) @ follow * std                        # in standardised units and back
    assert eyes[FACTOR_NAMES.index("gaze_yaw")] == pytest.approx(-3.0)
    assert eyes[FACTOR_NAMES.index("gaze_pitch")] == pytest.approx(2.0)
    assert np.count_nonzero(np.abs(eyes) > 1e-6) == 2        # nothing else moves
    with pytest.raises(ValueError, match="head must be"):
        GazeAxes(np.zeros((F, 3)), np.zeros((3, F)))


def test_latent_axes_read_the_head_from_the_pose_codes_only():
    class Reader:                                            # codes: 2 pose values, 2 expression values
        dirs = {"pitch": [1.0, 0.0, 0.3, 0.0], "yaw": [0.0, 2.0, 0.0, 0.1], "roll": [0.0, 0.0, 0.0, 0.0],
                "gaze_pitch": [0.5, 0.0, 1.0, 0.0], "gaze_yaw": [0.0, 0.0, 0.0, 4.0]}

        def direction(self, factor, low, high):
            return np.array(self.dirs[factor], np.float32) * (high - low)

    axes = GazeAxes.from_reader(Reader(), pose_dims=2)
    assert np.allclose(np.array([2.0, 3.0, 0.0, 0.0]) @ axes.head, [2.0, 1.5])      # (pitch, yaw) in degrees
    assert np.allclose(axes.eyes, [[0.0, 0.0, 1.0, 0.0], [0.0, 0.0, 0.0, 4.0]])      # z_pose untouched


def test_a_held_face_keeps_the_gaze_and_the_mouth_of_one_step(factor_model, tmp_path):
    """In SynthTalk's factors the eyes' counter-rotation is exact: a held face at four steps looks where one
    step looks and moves its jaw as one step does, while its head goes elsewhere."""
    from labkit.cli import main
    from labkit.io.checkpoint import save_weights

    gen = MotionGenerator(factor_model, blinks=None, gaze_axes=GazeAxes.factors())
    audio = np.random.default_rng(0).normal(size=(1, gen.cfg.window, gen.cfg.audio_dim)).astype(np.float32)
    one = gen.replace(steps=1).generate(audio, seed=1)
    held = gen.replace(steps=4, hold_face=True).generate(audio, seed=1)
    free = gen.replace(steps=4).generate(audio, seed=1)
    assert np.allclose(gaze_of(held), gaze_of(one), atol=1e-3)
    assert np.allclose(held[..., JAW], one[..., JAW], atol=1e-4)
    assert np.abs(held[..., :2] - one[..., :2]).mean() > 1e-2
    assert not np.allclose(gaze_of(free), gaze_of(one), atol=1e-3)

    src = tmp_path / "run.safetensors"
    save_weights(src, factor_model, kind="motion_dit", config=asdict(factor_model.cfg), extra={"motion": "factors"})
    assert not MotionGenerator.load(src).hold_face
    assert main(["weights", "export", str(src), str(tmp_path / "held.safetensors"), "--sampling-steps", "4",
                 "--hold-face"]) == 0
    loaded = MotionGenerator.load(tmp_path / "held.safetensors")
    assert loaded.hold_face and loaded.steps == 4 and loaded.gaze_axes.head.shape == (F, 2)
    assert not MotionGenerator.load(tmp_path / "held.safetensors", hold_face=False).hold_face


def test_the_motion_bench_times_the_shipped_setting():
    from labkit.bench.inference import bench_motion
    from labkit.io.checkpoint import read_metadata
    from labkit.io.weights import MOTION, resolve

    meta = read_metadata(resolve(None, "motion_dit", MOTION["latent"]))
    r = bench_motion(presets=(), seconds=3.0, repeats=1)
    shipped = r["results"]["shipped"]
    assert shipped["steps"] == meta.get("sampling_steps", 1) and shipped["hold_face"] == meta.get("hold_face", False)
    assert r["motion_fps"] == shipped["motion_fps"] > 0 and f"{shipped['steps']} steps" in r["shipped"]
