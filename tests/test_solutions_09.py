"""The solutions of notebook 09's exercises (notebooks/solutions/ex09_your_portrait.py) give the numbers that
the notebook's equations predict. The solutions file is imported by path: notebooks/ is not a package."""
import pytest
from conftest import load_solutions

from labkit.faces.landmarks import MIN_BOX, MIN_IOD


@pytest.fixture(scope="module")
def ex():
    return load_solutions("ex09_your_portrait")


def test_ex1_head_motion_scales_linearly(ex):
    out = ex.ex1_head_motion()
    # eq. (5): s = 0 keeps the head where the photo has it; only the expression moves the nose (under 1 px)
    assert out[0.0] < 0.5
    assert out[1.0] > 1.0                                     # the generated head does move
    # eqs. (4)-(5): the same motion, turned and shifted s times as far, and small angles are nearly linear,
    # so twice the scale moves the nose about twice as far (a little less: sin is concave, angles are clipped)
    assert 1.8 < out[2.0] / out[1.0] < 2.05


def test_ex2_small_face_warns_below_the_floors(ex):
    shrinks = (1.0, 0.6, 0.46)
    out = ex.ex2_small_face(shrinks)
    full = out[1.0]
    for k in shrinks:
        r = out[k]
        # a similarity (eq. 1) of scale k: distances in the photo shrink by k. The eye corners follow closely;
        # dlib's box comes from a fixed window on an image pyramid, so it only roughly does
        assert abs(r["iod"] / full["iod"] - k) < 0.05
        assert abs(r["box"] / full["box"] - k) < 0.15 * k
        assert r["warned"] == float(r["box"] < MIN_BOX or r["iod"] < MIN_IOD)   # the only check that speaks
        assert r["frames"] == 25                              # a small face is animated all the same: 1 s at 25 fps
    assert full["warned"] == 0.0 and full["box"] > MIN_BOX
    assert 35 < out[0.46]["box"] < 48 and out[0.46]["warned"] == 1.0


def test_ex3_watermark_id_read_until_low_quality(ex):
    crfs = (18, 23, 33, 43, 51)
    out = ex.ex3_watermark_quality(crfs)
    assert out[18]["id_right"] == 1.0 and out[23]["id_right"] == 1.0    # ordinary qualities keep the id
    assert all(r["id_wrong"] == 0.0 for r in out.values())              # the CRC-16: never a wrong id
    assert out[51]["found"] == 0.0 and out[51]["id_right"] == 0.0      # at the lowest quality the mark is gone
    # eq. (12): coding noise n costs cos(2π n / Δ) of a slot's score, and more noise means a lower confidence
    assert out[18]["confidence"] > out[23]["confidence"] > out[33]["confidence"]
    assert out[18]["confidence"] > 0.5 and abs(out[51]["confidence"]) < 0.25   # unmarked slots: a fair coin, ~0


def test_ex4_blinks_follow_their_renewal_process(ex):
    out = ex.ex4_blink_statistics()
    # eq. (6): the mean interval is g + k θ = 60 / r; over 30 min the count's standard deviation is about
    # sqrt(T σ² / μ³) ≈ 13 blinks of ~510, i.e. 0.45 a minute
    assert abs(out["per_minute"] - out["rate"]) < 1.5
    assert abs(out["mean_interval"] - out["expected_interval"]) < 0.3
    # the refractory gap g = 0.6 s, less the spread of the half-closed moment within a blink and a frame
    assert out["min_interval"] > out["min_gap"] - 0.1
    # eq. (7): each blink is more than half shut for roughly 0.1-0.2 s, 17 times a minute: 3-6 % of the time
    assert 0.02 < out["shut_fraction"] < 0.08
