import numpy as np
import pytest

from labkit.render.landmark_motion import FEATURE_NAMES, expression_features, fit_landmark_motion
from labkit.render.landmarks import MAX_ANGLES, LandmarkRenderer, prepare
from labkit.synthtalk.factors import FACTOR_NAMES

COL = {n: i for i, n in enumerate(FACTOR_NAMES)}


def still(T=1, **values):
    f = np.zeros((T, len(FACTOR_NAMES)))
    f[:, COL["distance"]] = 1.0
    for k, v in values.items():
        f[:, COL[k]] = v
    return f


@pytest.fixture(scope="module")
def renderer():
    from labkit.pipeline import default_portrait

    image, lm = default_portrait(128)
    return LandmarkRenderer(prepare(image, 128, landmarks=lm, align=False))


def test_the_landmark_map_is_learned_on_synthtalk_and_transfers_to_test_identities():
    m = fit_landmark_motion()
    assert m.test_r2 > 0.9
    d = m.displacement(still(jaw=1.0), 0)[0]                       # (68, 3) in IODs, y up
    assert d.shape == (68, 3)
    assert d[66, 1] < -0.1 and d[8, 1] < -0.05                      # lower lip and chin drop
    assert abs(d[62, 1]) < 0.05                                     # the upper lip stays
    closed = m.displacement(still(blink=1.0), 0)[0]
    assert closed[37, 1] < -0.02 and abs(closed[41, 1]) < 0.02      # upper lid comes down to the lower


def test_expression_features_check_their_input():
    x = expression_features(still(T=3, emotion_intensity=0.5), np.array([0, 1, 4]))
    assert x.shape == (3, len(FEATURE_NAMES))
    assert x[0, 5:].sum() == 0 and x[1, FEATURE_NAMES.index("happy")] == 0.5
    with pytest.raises(ValueError, match="factors must have shape"):
        expression_features(np.zeros((3, 5)), 0)
    with pytest.raises(ValueError, match="emotion indices"):
        expression_features(still(), 7)


def test_no_motion_gives_back_the_portrait(renderer):
    frame = renderer.render_frame(still()[0])
    diff = np.abs(frame.astype(int) - renderer.rig.image.astype(int))
    assert diff.mean() < 1.0


def test_jaw_opens_the_mouth_and_paints_its_interior(renderer):
    lm = renderer.landmarks(still(T=2, jaw=np.array([0.0, 1.0])))
    gap = lm[:, 66, 1] - lm[:, 62, 1]                              # pixels, y down
    assert gap[1] > gap[0] + 3
    shut, open_ = renderer.render(still(T=2, jaw=np.array([0.0, 1.0])))
    x0, y0 = np.floor(lm[1, 60:68].min(0)).astype(int)
    x1, y1 = np.ceil(lm[1, 60:68].max(0)).astype(int)
    mouth = (slice(y0, y1), slice(x0, x1))
    assert np.abs(open_[mouth].astype(int) - shut[mouth].astype(int)).mean() > 10


def test_head_turns_and_gaze_move_the_right_points(renderer):
    base = renderer.control_points(still()[0], 0)
    turned = renderer.control_points(still(yaw=10.0)[0], 0)
    assert turned[30, 0] > base[30, 0] + 1                          # + yaw: the nose moves right in the image
    np.testing.assert_allclose(turned[-4:], base[-4:])              # the image border stays
    looking = renderer.control_points(still(gaze_yaw=20.0)[0], 0)
    assert looking[68, 0] > base[68, 0] + 0.3                       # the eye centre (iris) follows the gaze
    far = renderer.control_points(still(yaw=80.0)[0], 0)            # clipped to a plausible turn
    assert np.allclose(far, renderer.control_points(still(yaw=MAX_ANGLES[0])[0], 0))


def test_bad_factors_are_refused(renderer):
    with pytest.raises(ValueError, match="factors must have shape"):
        renderer.render(np.zeros((4, 3)))


def test_a_real_photo_is_found_aligned_and_lifted():
    from skimage.data import astronaut

    rig = prepare(astronaut(), 128)
    assert rig.image.shape == (128, 128, 3)
    assert 0.8 < rig.iod < 1.4                                       # head units, like SynthTalk's faces
    assert (rig.landmarks > 0).all() and (rig.landmarks < 128).all()
    with pytest.raises(ValueError, match="no face found"):
        prepare(np.full((200, 200, 3), 128, np.uint8), 128)


def _inside_inner_lips(lm: np.ndarray, shape, erode: int = 1) -> np.ndarray:
    import cv2

    mask = np.zeros(shape[:2], np.uint8)
    cv2.fillPoly(mask, [np.round(lm[60:68]).astype(np.int32)], 1)
    return cv2.erode(mask, np.ones((3, 3), np.uint8), iterations=erode).astype(bool)


def test_a_synthesised_mouth_has_no_flat_colour_regions():
    """No polygon of one colour inside an open mouth: teeth and cavity are shaded, their edges soft."""
    import cv2

    from labkit.pipeline import default_portrait

    image, lm0 = default_portrait(256)
    r = LandmarkRenderer(prepare(image, 256, landmarks=lm0, align=False))
    f = still(jaw=1.0)
    frame = r.render_frame(f[0])
    inside = _inside_inner_lips(r.landmarks(f)[0], frame.shape)
    assert inside.sum() > 200
    flat = np.zeros(frame.shape[:2], bool)                        # pixels equal to their right and lower neighbours
    flat[:-1, :-1] = ((frame[:-1, :-1] == frame[1:, :-1]).all(-1) & (frame[:-1, :-1] == frame[:-1, 1:]).all(-1))
    n, labels, stats, _ = cv2.connectedComponentsWithStats((flat & inside).astype(np.uint8), connectivity=4)
    assert (stats[1:, cv2.CC_STAT_AREA].max() if n > 1 else 0) <= 6
    luma = frame[inside].astype(np.float32) @ [0.299, 0.587, 0.114]
    assert luma.max() - luma.min() > 60                           # bright teeth and a dark cavity, not one grey


def test_a_photo_showing_teeth_keeps_its_own_upper_teeth_as_the_mouth_opens():
    """The astronaut smiles with her upper teeth showing: opened, the row under her upper lip is still her
    teeth (their gaps included), moved with the lip, not a flat band."""
    from skimage.data import astronaut

    r = LandmarkRenderer(prepare(astronaut(), 256, backend="dlib"))
    src = r.rig.landmarks.astype(np.float64)
    f = still(jaw=0.7)
    dst = r.landmarks(f)[0]
    frame = r.render_frame(f[0])
    x = np.arange(int(round(src[61, 0])), int(round(src[63, 0])) + 1)       # the middle of the mouth
    depth = 0.35 * (src[66, 1] - src[62, 1])                                # a third of the way down her teeth
    row = lambda img, pts, dx: img[int(round(pts[62, 1] + depth)), x + dx].astype(np.float32) @ [0.3, 0.59, 0.11]  # noqa: E731
    own = row(r.rig.image, src, 0)
    drawn = row(frame, dst, int(round(dst[62, 0] - src[62, 0])))
    assert own.std() > 5 and drawn.std() > 5                                # texture: gaps between teeth
    assert np.corrcoef(own, drawn)[0, 1] > 0.7
    assert abs(float(drawn.mean()) - float(own.mean())) < 20
