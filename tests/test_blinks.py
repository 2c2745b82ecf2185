import numpy as np
import pytest

from labkit.motion.blinks import BlinkAxis, BlinkConfig, Blinks, add_blinks, blink_profile
from labkit.synthtalk.factors import FACTOR_NAMES

BLINK = FACTOR_NAMES.index("blink")


def onsets(x: np.ndarray) -> np.ndarray:
    """Frames where the lids start to move (0 → > 0)."""
    moving = x > 0
    return np.flatnonzero(moving[1:] & ~moving[:-1]) + 1


def test_values_are_blink_amounts_and_the_rate_is_the_configured_one():
    fps, minutes = 25.0, 10
    for seed in (0, 1, 2):
        for rate in (10.0, 17.0, 26.0):
            x = Blinks(BlinkConfig(rate=rate), fps=fps, seed=seed).next(int(minutes * 60 * fps))
            assert x.dtype == np.float32 and x.min() >= 0 and x.max() <= 1
            n = len(onsets(x))
            assert abs(n / minutes - rate) < 0.15 * rate, (seed, rate, n)


def test_every_blink_closes_the_lids_and_is_brief():
    x = Blinks(fps=25.0, seed=3).next(25 * 600)
    starts = onsets(x)
    ends = np.flatnonzero((x[:-1] > 0) & (x[1:] == 0)) + 1
    ends = ends[ends > starts[0]]
    for s, e in zip(starts, ends):
        assert x[s:e].max() >= 0.9
        assert 0.2 <= (e - s) / 25.0 <= 0.5                  # close + hold + reopen: a few hundred ms


def test_reopening_is_slower_than_closing():
    t = np.linspace(0, 0.5, 501)                              # 1 ms steps
    y = blink_profile(t, 0.08, 0.04, 0.2, 1.0)
    assert y[0] == 0 and y.max() == 1 and y[-1] == 0
    moving = (y > 0) & (y < 1)
    shut = np.flatnonzero(y == 1)
    assert moving[shut[-1]:].sum() > 2 * moving[:shut[0]].sum()


def test_chunked_calls_equal_one_call():
    whole = Blinks(seed=7).next(3000)
    b = Blinks(seed=7)
    rng = np.random.default_rng(0)
    parts, n = [], 0
    while n < 3000:
        k = int(min(rng.integers(0, 40), 3000 - n))
        parts.append(b.next(k))
        n += k
    np.testing.assert_array_equal(np.concatenate(parts), whole)


def test_seeds_differ_and_the_clip_does_not_open_on_a_blink():
    a, b = Blinks(seed=0).next(1000), Blinks(seed=1).next(1000)
    assert not np.array_equal(a, b)
    np.testing.assert_array_equal(a, Blinks(seed=0).next(1000))
    first = [onsets(np.r_[0, Blinks(seed=s).next(500)])[0] for s in range(40)]
    assert len(set(first)) > 20                               # the first blink comes at a random moment


def test_add_blinks_keeps_the_generated_blinks_and_the_rest():
    rng = np.random.default_rng(0)
    f = rng.uniform(0, 1, (200, len(FACTOR_NAMES))).astype(np.float32)
    out = add_blinks(f, fps=25.0, seed=0)
    assert out is not f and out.shape == f.shape and out.dtype == f.dtype
    keep = [i for i in range(len(FACTOR_NAMES)) if i != BLINK]
    np.testing.assert_array_equal(out[:, keep], f[:, keep])
    np.testing.assert_allclose(out[:, BLINK], np.maximum(f[:, BLINK], Blinks(seed=0).next(200)), atol=1e-6)


def test_a_blink_axis_in_any_motion_space_adds_what_a_row_lacks():
    rng = np.random.default_rng(1)
    axis = BlinkAxis(rng.normal(size=8).astype(np.float32), rng.normal(size=8).astype(np.float32))
    rows = axis.open + np.outer([0.0, 0.3, 1.2], axis.shut)                # closure 0, 0.3, 1.2
    np.testing.assert_allclose(axis.closure(rows), [0.0, 0.3, 1.2], atol=1e-5)
    out = axis.add(rows, np.array([1.0, 1.0, 1.0]))
    np.testing.assert_allclose(axis.closure(out), [1.0, 1.0, 1.2], atol=1e-5)  # shut, shut, already shut
    side = rng.normal(size=8).astype(np.float32)
    side -= (side @ axis.shut) / (axis.shut @ axis.shut) * axis.shut        # a change orthogonal to the blink
    np.testing.assert_allclose(axis.add(rows + side, np.ones(3)) - side, out, atol=1e-5)
    wide = axis.open - 0.2 * axis.shut                                     # eyes wider than `open`
    np.testing.assert_array_equal(axis.add(wide[None], np.zeros(1))[0], wide)      # no blink asked: untouched
    np.testing.assert_allclose(axis.closure(axis.add(wide[None], np.ones(1))), [1.0], atol=1e-5)  # a whole blink
    with pytest.raises(ValueError, match="no blink"):
        BlinkAxis(np.zeros(3), np.zeros(3))
    with pytest.raises(ValueError, match="two \\(M,\\) vectors"):
        BlinkAxis(np.zeros(3), np.ones(4))


def test_bad_arguments_are_refused():
    with pytest.raises(ValueError, match="rate must be > 0"):
        BlinkConfig(rate=0)
    with pytest.raises(ValueError, match="min_gap"):
        BlinkConfig(rate=60, min_gap=2.0)
    with pytest.raises(ValueError, match="closing must be a"):
        BlinkConfig(closing=(0.1, 0.05))
    with pytest.raises(ValueError, match="amplitude must be in"):
        BlinkConfig(amplitude=1.5)
    with pytest.raises(ValueError, match="fps must be a positive"):
        Blinks(fps=0)
    with pytest.raises(ValueError, match="seed must be an integer"):
        Blinks(seed=0.5)
    with pytest.raises(ValueError, match="non-negative number of frames"):
        Blinks().next(-1)
    with pytest.raises(ValueError, match="factors must have shape"):
        add_blinks(np.zeros((10, 3)))
