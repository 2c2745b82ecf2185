"""What the crops hold: the supervised crop reader, the crops at each resolution, the ceilings' report."""
import numpy as np
import pytest
import torch

from labkit.evaluation.ceilings import (
    PROBE_DYN,
    CropReader,
    expression_ceilings,
    flat_crops,
    part_crops,
    reader_predict,
    render_crops,
    train_reader,
)
from labkit.evaluation.probes import r2_per_target
from labkit.latent.data import PairSampler, mixed_frames, motion_bank
from labkit.latent.parts import crop_size


def _spot_crops(n: int, rng: np.random.Generator, eyes=(8, 24), mouth=(10, 12)):
    """Crops of a dark background with one bright spot in the eye crop at a random column: (crops, column)."""
    col = rng.uniform(2, eyes[1] - 3, n)
    xs = np.arange(eyes[1])
    spot = np.exp(-0.5 * (xs[None] - col[:, None]) ** 2)                       # (n, w)
    e = np.broadcast_to(spot[:, None, None, :], (n, 3, *eyes)) * 255
    m = rng.uniform(0, 30, size=(n, 3, *mouth))
    return {"eyes": e.round().astype(np.uint8), "mouth": m.round().astype(np.uint8)}, col


def test_the_reader_learns_where_a_spot_is_which_a_mean_cannot():
    rng = np.random.default_rng(0)
    crops, col = _spot_crops(600, rng)
    reader, mean, std = train_reader({r: c[:500] for r, c in crops.items()}, col[:500, None], epochs=12, seed=0)
    pred = reader_predict(reader, {r: c[500:] for r, c in crops.items()}, mean, std)
    assert pred.shape == (100, 1)
    assert r2_per_target(col[500:, None], pred)[0] > 0.9
    # a reader trained on a target the crops do not show learns nothing that generalises
    noise = rng.normal(size=(600, 1))
    reader, mean, std = train_reader({r: c[:500] for r, c in crops.items()}, noise[:500], epochs=4, seed=0)
    held_out = reader_predict(reader, {r: c[500:] for r, c in crops.items()}, mean, std)
    assert r2_per_target(noise[500:], held_out)[0] < 0.2


def test_the_reader_is_seeded_and_checks_its_input():
    rng = np.random.default_rng(1)
    crops, col = _spot_crops(64, rng)
    r1, m1, s1 = train_reader(crops, col[:, None], epochs=1, seed=3)
    r2, m2, s2 = train_reader(crops, col[:, None], epochs=1, seed=3)
    assert np.array_equal(reader_predict(r1, crops, m1, s1), reader_predict(r2, crops, m2, s2))
    with pytest.raises(ValueError, match="number of frames"):
        train_reader(crops, col[:10, None], epochs=1)
    assert CropReader(5)({r: torch.zeros(2, 3, *c.shape[2:]) for r, c in crops.items()}).shape == (2, 5)


def test_crops_are_cut_at_the_images_resolution_from_the_same_draws():
    bank = motion_bank("train", 2, seconds=1.0, seed=0)
    rng = np.random.default_rng(0)
    f, e = mixed_frames(bank, rng, 3)
    shapes = {}
    for size in (64, 128):
        s = PairSampler("train", size, bank, random_pose_prob=0.0)
        ids = s.identities[:3]
        crops = render_crops(s, ids, f, e, batch=2)
        shapes[size] = {r: c.shape for r, c in crops.items()}
        for r, c in crops.items():
            assert c.dtype == np.uint8 and c.shape == (3, 3, *crop_size(r, size))
        img, lm = s.render_with_landmarks(ids, f, e)
        assert np.array_equal(part_crops(img, torch.as_tensor(lm))["eyes"], crops["eyes"])
        flat = flat_crops(crops)
        assert flat.shape == (3, sum(np.prod(v[1:]) for v in shapes[size].values())) and flat.max() <= 1
    assert shapes[128]["eyes"][2:] == tuple(2 * n for n in shapes[64]["eyes"][2:])


def test_expression_ceilings_report_every_factor_at_every_size():
    r = expression_ceilings((64,), people_train=6, people_test=3, per_person=3, epochs=1)
    assert set(r["drawn"]) == set(PROBE_DYN) and set(r["sizes"]) == {"64"}
    assert set(r["sizes"]["64"]) == {"pixels", "reader"}
    for reads in (r["drawn"], *r["sizes"]["64"].values()):
        assert all(np.isfinite(v) for v in reads.values())
    assert r["drawn"]["jaw"] > 0.8                                  # what SynthTalk draws carries the jaw
    assert r["counts"]["train_frames"] == 18 and r["counts"]["test_frames"] == 9
    with pytest.raises(ValueError, match="ceiling sizes"):
        expression_ceilings((100,))
