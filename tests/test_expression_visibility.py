"""The emotion command must read on a real photo: measured on the rendered landmarks and by dlib on the frames."""
import numpy as np
import pytest

from labkit.render.landmark_motion import fit_landmark_motion
from labkit.render.landmarks import LandmarkRenderer, prepare
from labkit.synthtalk.factors import EMOTIONS, FACTOR_NAMES

INTENSITY = FACTOR_NAMES.index("emotion_intensity")
HAPPY, SAD, ANGRY, SURPRISED = (EMOTIONS.index(e) for e in ("happy", "sad", "angry", "surprised"))


def face(intensity=0.0):
    f = np.zeros(len(FACTOR_NAMES))
    f[FACTOR_NAMES.index("distance")] = 1.0
    f[INTENSITY] = intensity
    return f


def corner_lift(lm):
    """Mouth corners (48, 54) above the nose base (33), in IODs; up = positive (pixels are y down)."""
    return (lm[33, 1] - lm[[48, 54], 1].mean()) / np.linalg.norm(lm[36] - lm[45])


def brow_height(lm):
    """Brows (17-26) above the eye corners (36, 39, 42, 45), in IODs."""
    return (lm[[36, 39, 42, 45], 1].mean() - lm[17:27, 1].mean()) / np.linalg.norm(lm[36] - lm[45])


@pytest.fixture(scope="module")
def renderer():
    from skimage.data import astronaut

    return LandmarkRenderer(prepare(astronaut(), 256, backend="dlib"))


def effect(renderer, emotion, intensity, measure):
    """measure(emotion at intensity) - measure(neutral) on the renderer's own landmarks."""
    lm = renderer.landmarks(np.stack([face(), face(intensity)]), emotion)
    return measure(lm[1]) - measure(lm[0])


def test_happy_lifts_the_mouth_corners_and_surprise_raises_the_brows(renderer):
    assert effect(renderer, HAPPY, 1.0, corner_lift) > 0.08
    assert effect(renderer, SURPRISED, 1.0, brow_height) > 0.08
    assert effect(renderer, SAD, 1.0, corner_lift) < -0.05
    assert effect(renderer, ANGRY, 1.0, brow_height) < -0.03


def test_dlib_reads_the_expression_from_the_rendered_frames(renderer):
    from labkit.faces.landmarks import dlib_landmarks

    neutral, happy, surprised = (dlib_landmarks(renderer.render_frame(face(i), e))
                                 for e, i in ((0, 0.0), (HAPPY, 1.0), (SURPRISED, 1.0)))
    assert corner_lift(happy) - corner_lift(neutral) > 0.05
    assert brow_height(surprised) - brow_height(neutral) > 0.04


def test_intensity_zero_is_neutral_and_intensity_scales_monotonically(renderer):
    m = fit_landmark_motion()
    neutral = m.displacement(face()[None], 0)
    for e in range(len(EMOTIONS)):
        np.testing.assert_array_equal(m.displacement(face(0.0)[None], e), neutral)
    levels = np.linspace(0, 1, 5)
    lift = [effect(renderer, HAPPY, i, corner_lift) for i in levels]
    brows = [effect(renderer, SURPRISED, i, brow_height) for i in levels]
    assert (np.diff(lift) > 0.01).all() and (np.diff(brows) > 0.01).all()


def test_an_intensity_beyond_its_range_is_held_at_full():
    m = fit_landmark_motion()
    np.testing.assert_array_equal(m.displacement(face(2.5)[None], HAPPY), m.displacement(face(1.0)[None], HAPPY))


def test_the_action_units_are_left_right_symmetric():
    m = fit_landmark_motion()
    pairs = [(48, 54), (60, 64), (49, 53), (21, 22), (17, 26), (19, 24), (59, 55)]
    for e in range(1, len(EMOTIONS)):
        d = m.displacement(face(1.0)[None], e)[0] - m.displacement(face()[None], 0)[0]
        for a, b in pairs:
            np.testing.assert_allclose(d[a, 1], d[b, 1], atol=0.01)        # same rise on both sides
            np.testing.assert_allclose(d[a, 0], -d[b, 0], atol=0.01)       # mirrored sideways
