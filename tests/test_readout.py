"""labkit.latent.readout: the shipped face latent model's codes read as SynthTalk factors, and the blink
direction the latent renderer shuts the eyes along."""
import numpy as np
import pytest
import torch

from labkit.latent.data import PairSampler, mixed_frames, motion_bank
from labkit.latent.model import load_face_latent
from labkit.latent.readout import FactorReader, factor_reader
from labkit.render.latent import LatentRenderer
from labkit.synthtalk.factors import FACTOR_NAMES, factor_row


@pytest.fixture(scope="module")
def model():
    torch.set_num_threads(2)
    return load_face_latent()


@pytest.fixture(scope="module")
def reader(model):
    return FactorReader(model, frames=200)


def test_the_probes_read_the_head_and_the_jaw_of_people_never_seen(model, reader):
    rng = np.random.default_rng(7)
    test = PairSampler("test", model.cfg.driver_size, motion_bank("test", 2, seed=5), random_pose_prob=0.0)
    ids = test.identities[rng.integers(len(test.identities), size=60)]
    f, e = mixed_frames(test.bank, rng, 60)
    got = reader.read(reader.encode(test.render(ids, f, e)))
    assert got.shape == (60, len(FACTOR_NAMES))
    for name in ("yaw", "jaw"):
        k = FACTOR_NAMES.index(name)
        r2 = 1 - np.mean((got[:, k] - f[:, k]) ** 2) / np.var(f[:, k])
        assert r2 > 0.6, (name, r2)
    with pytest.raises(ValueError, match="codes must end in 30"):
        reader.read(np.zeros((3, 7)))


def test_a_direction_is_measured_once_and_names_its_factor(reader):
    d = reader.direction("blink", 0.0, 1.0)
    assert d.shape == (30,) and np.linalg.norm(d[6:]) > 5 * np.linalg.norm(d[:6])   # the eyes, not the head
    assert reader.level("blink", 1.0) is reader.level("blink", 1.0)          # each level is rendered once
    np.testing.assert_array_equal(reader.direction("blink", 0.0, 1.0), d)
    np.testing.assert_allclose(reader.level("blink", 1.0) - reader.level("blink", 0.0), d)
    with pytest.raises(ValueError, match="unknown factor 'wink'"):
        reader.direction("wink", 0, 1)


def test_the_reader_is_kept_per_weights(model):
    assert factor_reader(model) is factor_reader(load_face_latent())


def test_the_latent_renderer_shuts_the_eyes_it_is_told_to_and_leaves_shut_eyes_alone(model):
    test = PairSampler("test", model.cfg.driver_size, motion_bank("test", 1))
    portrait = test.render(test.identities[[3]], factor_row()[None], np.zeros(1, np.int64))   # eyes open
    image = (portrait[0].permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)
    r = LatentRenderer(image, 128, aligned=True, name="portrait")
    codes = np.repeat(r.codes[None], 3, 0)
    axis = r.blink_axis
    blinked = axis.add(codes, np.array([0.0, 1.0, 0.5]))
    np.testing.assert_array_equal(blinked[0], codes[0])                    # nothing asked: unchanged
    np.testing.assert_allclose(blinked[1], codes[1] + axis.shut, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(axis.add(blinked, np.ones(3))[1], blinked[1], atol=1e-5)   # already shut
    np.testing.assert_allclose(axis.add(blinked, np.zeros(3)), blinked, atol=1e-6)        # never opened
    assert not axis.shut[:6].any()                                         # the lids move, not the head
    frames = r.render_frames(blinked).astype(np.int16)
    change = np.abs(frames[1] - frames[0]).mean(-1)                        # (128, 128)
    assert change[40:68, 32:96].mean() > 3 * change[80:120, 32:96].mean()   # the eyes move, the mouth does not
