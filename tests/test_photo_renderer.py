"""The whole photo out: the face moves, everything beyond the head region is the input's pixels."""
import logging

import cv2
import numpy as np
import pytest
import skimage.data

from labkit.render.photo import MAX_SIDE, PhotoRenderer, fit_photo
from labkit.synthtalk.factors import factor_row


@pytest.fixture(scope="module")
def astronaut():
    return skimage.data.astronaut()


@pytest.fixture(scope="module")
def renderer(astronaut):
    return PhotoRenderer(fit_photo(astronaut), backend="dlib")


@pytest.mark.parametrize("motion", [dict(jaw=0.8), dict(yaw=12, pitch=6, roll=-5, tx=0.05), dict(blink=1.0),
                                    dict(gaze_yaw=25, distance=0.85)])
def test_pixels_beyond_the_region_are_the_input(renderer, astronaut, motion):
    frame = renderer.render_frame(factor_row(**motion))
    assert frame.shape == astronaut.shape and frame.dtype == np.uint8
    outside = ~renderer.region
    assert 0.05 < renderer.region.mean() < 0.5                   # the head and neck, not the photo
    np.testing.assert_array_equal(frame[outside], astronaut[outside])
    assert np.abs(frame.astype(int) - astronaut).max() > 20      # and the face did move


def test_no_seam_where_the_motion_fades_out(renderer, astronaut):
    """The displacement goes to zero at the region's edge, so a band just inside it barely changes."""
    frame = renderer.render_frame(factor_row(yaw=12, pitch=8, jaw=0.6))
    region = renderer.region.astype(np.uint8)
    band = (region - cv2.erode(region, np.ones((7, 7), np.uint8))).astype(bool)      # 3 px inside the edge
    diff = np.abs(frame.astype(float) - astronaut)[band]
    assert diff.mean() < 1.0
    inner = cv2.erode(region, np.ones((61, 61), np.uint8)).astype(bool)
    assert np.abs(frame.astype(float) - astronaut)[inner].mean() > 3 * diff.mean()


def test_mouth_opens_on_the_photo(renderer, astronaut):
    closed, opened = renderer.landmarks(np.stack([factor_row(), factor_row(jaw=0.8)]))
    gap = lambda lm: np.linalg.norm(lm[66] - lm[62])                                    # noqa: E731
    assert gap(opened) > gap(closed) + 10                         # pixels of the 512 px photo
    frame = renderer.render_frame(factor_row(jaw=0.8))
    y0, y1 = int(opened[62, 1]) + 2, int(opened[66, 1]) - 2
    x = int(opened[62, 0])
    inside = frame[y0:y1, x - 3:x + 4].astype(float)
    assert (inside.mean(-1) < astronaut[y0:y1, x - 3:x + 4].mean(-1) - 20).mean() > 0.5   # darker: the cavity


def test_fit_photo_caps_the_longer_side_and_evens_the_sides():
    wide = np.zeros((1001, 3001, 3), np.uint8)
    out = fit_photo(wide)
    assert max(out.shape[:2]) <= MAX_SIDE and out.shape[0] % 2 == 0 and out.shape[1] % 2 == 0
    assert abs(out.shape[1] / out.shape[0] - 3001 / 1001) < 0.01
    odd = np.arange(301 * 201 * 3, dtype=np.uint8).reshape(301, 201, 3)
    np.testing.assert_array_equal(fit_photo(odd), odd[:300, :200])        # no rescale: the pixels as they are
    with pytest.raises(ValueError, match="max_side"):
        fit_photo(wide, max_side=10)


def test_a_small_face_in_a_scene_is_animated_with_a_warning(astronaut, caplog):
    """The astronaut shrunk to a ~40 px face in a 960 x 720 scene: animated in place, not refused."""
    small = cv2.resize(astronaut, None, fx=0.45, fy=0.45, interpolation=cv2.INTER_AREA)
    scene = cv2.resize(cv2.GaussianBlur(astronaut, (0, 0), 6), (960, 720), interpolation=cv2.INTER_LINEAR)
    scene[300:300 + small.shape[0], 500:500 + small.shape[1]] = small
    with caplog.at_level(logging.WARNING):
        r = PhotoRenderer(scene, backend="dlib")
    assert "is small" in caplog.text
    frame = r.render_frame(factor_row(jaw=0.8))
    assert frame.shape == scene.shape
    x0, y0, x1, y1 = r.box
    assert 500 <= x0 and x1 <= 500 + small.shape[1] + 60 and 300 - 60 <= y0     # around her face only
    np.testing.assert_array_equal(frame[~r.region], scene[~r.region])
    assert np.abs(frame.astype(int) - scene).max() > 20


def test_a_face_the_detector_misses_can_be_given_by_its_landmarks(astronaut, tmp_path, monkeypatch):
    """Paintings and drawings: --points FILE / landmarks= skip the detector altogether."""
    from labkit.faces.landmarks import dlib_landmarks
    from labkit.io.errors import InputError
    from labkit.pipeline import Animator, given_landmarks

    points = dlib_landmarks(astronaut)
    np.savetxt(tmp_path / "points.txt", points)

    def never(*a, **k):
        raise AssertionError("the detector ran although landmarks were given")

    monkeypatch.setattr("labkit.render.landmarks.find_face", never)
    big = cv2.resize(astronaut, (2400, 2400), interpolation=cv2.INTER_CUBIC)     # scaled to MAX_SIDE on the way
    anim = Animator(big, landmarks=(points + 0.5) * 2400 / 512 - 0.5, watermark=False)
    assert anim.size == (MAX_SIDE, MAX_SIDE)
    lm = anim.landmarks(factor_row()[None])[0]
    np.testing.assert_allclose(lm[36:48], (points[36:48] + 0.5) * MAX_SIDE / 512 - 0.5, atol=4.0)
    assert Animator(astronaut, landmarks=tmp_path / "points.txt", watermark=False).region.any()
    with pytest.raises(InputError, match="68 finite"):
        given_landmarks(points[:60], astronaut.shape)
    with pytest.raises(InputError, match="outside the 512x512 image"):
        given_landmarks(points + 600, astronaut.shape)
    (tmp_path / "bad.txt").write_text("not numbers\n")
    with pytest.raises(InputError, match="cannot read the landmarks in bad.txt"):
        given_landmarks(tmp_path / "bad.txt", astronaut.shape)


def test_a_blink_shuts_the_eyes_with_lid_skin(renderer, astronaut):
    """At a full blink the lids meet (never cross) and no iris is left between them."""
    lm_open, lm_shut = renderer.landmarks(np.stack([factor_row(), factor_row(blink=1.0)]))
    upper, lower = [37, 38, 43, 44], [41, 40, 47, 46]
    np.testing.assert_allclose(lm_shut[upper, 1], lm_shut[lower, 1], atol=0.5)
    assert (lm_open[lower, 1] - lm_open[upper, 1]).min() > 3
    frame = renderer.render_frame(factor_row(blink=1.0))

    def darkest(image, eye):                              # the darkest 3 x 3 mean over the eye's open extent
        x0, y0 = np.floor(lm_open[eye].min(0)).astype(int)
        x1, y1 = np.ceil(lm_open[eye].max(0)).astype(int) + 1
        luma = cv2.blur(image.astype(np.float32) @ np.float32([0.299, 0.587, 0.114]), (3, 3))
        return luma[y0:y1, x0:x1].min()

    for eye in ([36, 37, 38, 39, 40, 41], [42, 43, 44, 45, 46, 47]):
        assert darkest(astronaut, eye) < 60                # the pupil
        assert darkest(frame, eye) > darkest(astronaut, eye) + 40    # gone: lid skin and lashes only
