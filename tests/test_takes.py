"""SynthTalk's takes (another performance of the same clip) and `labkit eval takes`'s shares of the
motion that the speech determines, on cases with known answers."""
import numpy as np
import pytest

from labkit.evaluation.takes import head_takes, predictability
from labkit.synthtalk import SynthTalk
from labkit.synthtalk.factors import FACTOR_NAMES


def test_a_take_keeps_the_speech_and_the_person_and_redraws_the_rest():
    ds = SynthTalk("test", seconds=3.0, num_clips=2)
    a, b, c = ds.sample_motion(1), ds.sample_motion(1, take=1), ds.sample_motion(1, take=2)
    assert np.array_equal(a["audio"], b["audio"]) and a["identity"] == b["identity"] and a["text"] == b["text"]
    assert a["emotion"] == b["emotion"]
    for name in ("jaw", "lip_spread", "lip_round"):                 # the mouth follows the speech alone
        assert np.array_equal(a["factors"][name], b["factors"][name])
    for name in ("yaw", "pitch", "blink", "gaze_yaw"):              # sway, blinks and saccades are drawn anew
        assert not np.allclose(a["factors"][name], b["factors"][name])
        assert not np.allclose(b["factors"][name], c["factors"][name])
    again = ds.sample_motion(1, take=1)
    assert all(np.array_equal(again["factors"][n], b["factors"][n]) for n in FACTOR_NAMES)
    with pytest.raises(ValueError, match="take"):
        ds.sample_motion(1, take=-1)


def test_predictability_on_known_cases():
    rng = np.random.default_rng(0)
    N, K, T = 30, 5, 100
    fixed = np.broadcast_to(rng.normal(0, 3, (N, 1, T, 3)), (N, K, T, 3)).copy()
    r = predictability(fixed + 1e-6 * rng.normal(size=(N, K, T, 3)), window=50)
    assert r["pose_explained"] == pytest.approx(1.0, abs=1e-6) and r["sway_explained"] == pytest.approx(1.0, abs=1e-6)
    assert r["regression_sway_ratio"] == pytest.approx(1.0, abs=1e-3) and r["take_spread_deg"] < 1e-4
    coin = rng.normal(0, 3, (N, K, T, 3))                          # every take independent of the speech
    r = predictability(coin, window=50)
    assert abs(r["sway_explained"]) < 0.03 and r["regression_sway_ratio"] < 0.15
    assert r["take_spread_deg"] == pytest.approx(0.94 * 3.0, rel=0.03)        # E[s] = c4(5) σ for 5 takes
    half = fixed + rng.normal(0, 3, (N, K, T, 3))                  # equal parts speech and chance
    assert predictability(half, window=50)["sway_explained"] == pytest.approx(0.5, abs=0.05)
    # the same motion in every take but for its sign: the sway's course is a coin toss, its size is fixed
    signs = rng.choice([-1.0, 1.0], (N, K, 1, 3))
    r = predictability(fixed * signs, window=50)
    assert abs(r["sway_explained"]) < 0.1 and r["sway_size_explained"] == pytest.approx(1.0, abs=1e-6)
    with pytest.raises(ValueError, match="whole window"):
        predictability(coin, window=200)


def test_head_takes_shape_and_checks():
    x = head_takes("test", clips=3, takes=2, seconds=2.0)
    assert x.shape == (3, 2, 50, 3)
    with pytest.raises(ValueError, match="at least 2"):
        head_takes("test", clips=3, takes=1)
