"""The solutions of notebook 01's exercises (notebooks/solutions/ex01_synthtalk_tour.py) give the numbers that
the notebook's equations predict. The solutions file is imported by path: notebooks/ is not a package."""
import pytest
from conftest import load_solutions

from labkit.synthtalk import LANGUAGES, RESOLUTIONS


@pytest.fixture(scope="module")
def ex():
    return load_solutions("ex01_synthtalk_tour")


def test_ex1_blink_scales_with_resolution(ex):
    out = ex.ex1_blink_pixels()
    assert sorted(out) == sorted(RESOLUTIONS)
    for small, big in zip(RESOLUTIONS, RESOLUTIONS[1:]):
        # eq. (12): pixel distances are proportional to n, so doubling n doubles the lid gap ...
        assert 1.9 < out[big]["eye_gap_px"] / out[small]["eye_gap_px"] < 2.1
        # ... and the blink's area grows by at most about 4x (fewer edge pixels cross the threshold at low n)
        assert 2.0 < out[big]["pixels"] / out[small]["pixels"] < 4.4
    assert all(0.001 < v["fraction"] < 0.02 for v in out.values())   # a blink is a small part of the frame


def test_ex2_blendshape_linear_pose_not(ex):
    out = ex.ex2_linearity()
    assert abs(out["jaw_ratio"] - 0.5) < 0.02          # eq. (1): displacement linear in the weight
    assert out["jaw_px"] > 5
    # eq. (11): a rotation moves a point along a chord 2 r sin(θ / 2), concave in θ, so half the angle moves it
    # more than half as far: sin(35° / 4) / sin(35° / 2) = 0.506 (perspective adds a little)
    assert out["yaw_ratio"] > 0.505
    assert out["yaw_px"] > out["jaw_px"]


def test_ex3_faster_speech_more_phones(ex):
    slow, fast = 130, 200
    out = ex.ex3_phone_rates(rates=(slow, fast))
    for lang in LANGUAGES:
        assert 4 < out[slow][lang] < 25 and 4 < out[fast][lang] < 25   # phones per second of human speech
        # words per minute up by 200 / 130 = 1.54: the phone rate follows, give or take espeak's fixed pauses
        assert 1.3 < out[fast][lang] / out[slow][lang] < 1.8


def test_ex4_jaw_in_sync_with_loudness(ex):
    for clip in ex.ex4_sync_lag():
        assert clip["lag"] == 0                            # eq. (9): the jaw reads the same frame's RMS
        assert clip["r"] > 0.8 and clip["r"] - clip["r_next"] > 0.1
