"""The solutions of notebook 06's exercises (notebooks/solutions/ex06_control_ablations.py) give the numbers that
the notebook's equations predict. The solutions file is imported by path: notebooks/ is not a package.

To stay fast the tests use the generator trained on SynthTalk's own factors (its clips need no rendering) and a
few test clips; every check is one the guidance formula (5), the cross-fade (12) or the metrics predict for any
generator."""
import pytest
from conftest import load_solutions

SMALL = dict(model="motion_dit_small_factors", test_clips=6, train_clips=18, cache_dir=False)


@pytest.fixture(scope="module")
def ex():
    return load_solutions("ex06_control_ablations")


def test_ex1_emotion_guidance_moves_the_face_only(ex):
    out = ex.ex1_emotion_guidance(scales=(1.0, 2.0, 4.0), **SMALL)
    # eq. (5): the emotion term is masked to the face channels, so at one step the first window's head is untouched
    assert out["head_shift"] < 1e-4
    # ... and the face moves in proportion to s_e - 1: (4 - 1) / (2 - 1) = 3
    assert out["face_shift"][2.0] > 1e-3
    assert out["face_shift"][4.0] / out["face_shift"][2.0] == pytest.approx(3.0, rel=1e-3)
    # the distance is read from the head, which only later windows' context can move a little
    assert abs(out["distance_err_rel"][4.0] - out["distance_err_rel"][1.0]) < 0.005
    assert all(0.0 <= a <= 1.0 for a in out["emotion_acc"].values())
    assert out["passes"] is None or out["emotion_acc"][out["passes"]] >= 0.9


def test_ex2_audio_guidance_from_dropped_to_doubled(ex):
    out = ex.ex2_audio_guidance(scales=(0.0, 0.5, 1.0), **SMALL)
    lip = out["lipsync"]
    assert abs(lip[0.0]) < 0.2                  # s_a = 0 is f(C \ a): the mouth no longer follows the speech
    assert lip[1.0] > 0.8 and lip[0.5] > lip[0.0] + 0.5
    # eq. (5) is affine in s_a at one step: s_a = 0.5 is the midpoint of s_a = 0 and s_a = 1, to float rounding
    assert out["scale"] > 0.01
    assert out["midpoint_err"] < 1e-3 * out["scale"] + 1e-5


def test_ex3_overlap_hides_seams_at_every_step_count(ex):
    steps = (1, 5)
    out = ex.ex3_steps_and_seams(steps=steps, overlaps=(0, 5), **SMALL)
    for n in steps:
        assert out[(n, 0)] > 1.3                 # abutting windows jump where they join
        assert out[(n, 5)] < 0.8 * out[(n, 0)]   # eq. (12): the pinned, cross-faded overlap joins them smoothly
        assert out[(n, 5)] < 1.5                 # within the bar


def test_ex4_guidance_is_a_straight_line_only_at_one_step(ex):
    out = ex.ex4_gaze_extrapolation(steps=(1, 5), **SMALL)
    one, five = out[1], out[5]
    assert one["read"][0] < one["read"][1] < one["read"][2]     # guidance pushes the gaze further each time
    assert one["error"] < 0.01                                   # eq. (5) and the affine probes: exact at one step
    assert abs(one["at_s_hit"] - 20.0) < 0.01                    # so the line says which scale hits the command
    assert five["error"] > 0.5                                   # eq. (11) feeds x̂_0 back: no longer a line
