import numpy as np
import pytest

from labkit.metrics.portrait import (
    blink_dips,
    blink_events,
    brow_raise,
    eye_aspect_ratio,
    face_frame,
    inter_ocular,
    largest_flat_region,
    lip_luminance,
    mouth_corner_lift,
    mouth_opening,
    outside_change,
    pearson,
    polygon_mask,
    seam_energy,
    teeth_luminance,
)


def face(*, lid: float = 0.3, jaw: float = 0.0, smile: float = 0.0, brow: float = 0.0, angle: float = 0.0,
         scale: float = 100.0) -> np.ndarray:
    """A schematic iBUG-68 face (68, 2), eyes 1 unit apart, turned by `angle` radians, `scale` px per unit."""
    lm = np.zeros((68, 2))
    lm[0:17] = np.stack([np.linspace(-0.9, 0.9, 17), 1.2 - 0.3 * np.cos(np.linspace(0, np.pi, 17))], 1)
    lm[17:27] = np.stack([np.r_[np.linspace(-0.8, -0.2, 5), np.linspace(0.2, 0.8, 5)], np.full(10, -0.35 - brow)], 1)
    lm[27:31] = np.stack([np.zeros(4), np.linspace(0, 0.4, 4)], 1)                 # nose bridge
    lm[31:36] = np.stack([np.linspace(-0.15, 0.15, 5), np.full(5, 0.5)], 1)        # nostrils
    for cx, k in ((-0.35, 36), (0.35, 42)):                     # p1..p6: corner, two upper, corner, two lower
        h = lid * 0.3 / 2                                       # EAR = lid for a 0.3-wide eye
        lm[k:k + 6] = [(cx - 0.15, 0), (cx - 0.05, -h), (cx + 0.05, -h), (cx + 0.15, 0), (cx + 0.05, h), (cx - 0.05, h)]
    lm[36, 0], lm[45, 0] = -0.5, 0.5                            # outer corners one unit apart
    ang = np.linspace(np.pi, -np.pi, 12, endpoint=False)
    lm[48:60] = np.stack([0.3 * np.cos(ang), 1.0 - (0.1 + jaw / 2) * np.sin(ang)], 1)      # upper lip first
    lm[48, 1] -= smile
    lm[54, 1] -= smile
    ang = np.linspace(np.pi, -np.pi, 8, endpoint=False)
    lm[60:68] = np.stack([0.2 * np.cos(ang), 1.0 - (0.02 + jaw / 2) * np.sin(ang)], 1)
    c, s = np.cos(angle), np.sin(angle)
    return lm @ np.array([[c, s], [-s, c]]) * scale + 200


def test_face_measures_are_rotation_and_scale_free():
    a, b = face(), face(angle=0.3, scale=37.0)
    assert np.allclose(face_frame(a), face_frame(b))
    assert inter_ocular(a) == pytest.approx(100.0) and inter_ocular(b) == pytest.approx(37.0)
    for f in (eye_aspect_ratio, mouth_opening, mouth_corner_lift, brow_raise):
        assert f(a) == pytest.approx(f(b))


def test_open_eyes_have_a_larger_aspect_ratio_than_closed_ones():
    assert eye_aspect_ratio(face(lid=0.3)) == pytest.approx(0.3)
    assert eye_aspect_ratio(face(lid=0.03)) == pytest.approx(0.03)
    assert eye_aspect_ratio(np.stack([face(lid=0.3), face(lid=0.1)])).shape == (2,)


def test_mouth_opening_smile_and_brows_move_the_way_they_should():
    assert mouth_opening(face(jaw=0.4)) > mouth_opening(face()) + 0.3
    assert mouth_corner_lift(face(smile=0.1)) == pytest.approx(mouth_corner_lift(face()) + 0.1)
    assert brow_raise(face(brow=0.1)) == pytest.approx(brow_raise(face()) + 0.1)
    assert -1.2 < mouth_corner_lift(face()) < -0.8 and 0.2 < brow_raise(face()) < 0.5


def test_bad_landmarks_are_refused():
    with pytest.raises(ValueError, match="68, 2"):
        eye_aspect_ratio(np.zeros((5, 2)))
    with pytest.raises(ValueError, match="NaN"):
        mouth_opening(np.full((68, 2), np.nan))
    with pytest.raises(ValueError, match="inter-ocular"):
        face_frame(np.zeros((68, 2)))


def test_pearson():
    x = np.arange(10.0)
    assert pearson(x, 2 * x + 1) == pytest.approx(1.0) and pearson(x, -x) == pytest.approx(-1.0)
    assert np.isnan(pearson(x, np.ones(10)))
    with pytest.raises(ValueError):
        pearson(x, x[:5])


def test_blink_dips_count_the_blinks_the_eyes_follow():
    blink = np.zeros(40)
    blink[5:8], blink[20:23], blink[32:34] = 1.0, 0.8, 0.9
    assert blink_events(blink) == [(5, 8), (20, 23), (32, 34)]
    ear = np.full(40, 0.3)
    ear[6], ear[22] = 0.05, 0.25                                  # the first dips, the second barely, the third not
    assert blink_dips(ear, blink) == (3, 1)
    ear[34] = 0.1                                                 # one frame late still counts
    assert blink_dips(ear, blink) == (3, 2)
    assert blink_dips(ear, np.zeros(40)) == (0, 0)


def test_seam_energy_is_one_for_a_copy_and_large_for_a_hard_paste():
    rng = np.random.default_rng(0)
    photo = (np.add.outer(np.arange(64), np.arange(64)) * 2 + rng.integers(0, 4, (64, 64)))[..., None].repeat(3, -1)
    region = np.zeros((64, 64), bool)
    region[20:40, 16:48] = True
    assert seam_energy(photo, region) / seam_energy(photo.copy(), region) == 1.0
    pasted = photo.copy()
    pasted[region] = 128                                          # a flat patch pasted without blending
    assert seam_energy(pasted, region) / seam_energy(photo, region) > 1.2
    with pytest.raises(ValueError, match="boundary"):
        seam_energy(photo, np.zeros((64, 64), bool))


def test_the_largest_flat_region_is_found_inside_the_mask_only():
    rng = np.random.default_rng(0)
    img = rng.integers(0, 256, (48, 48, 3))
    mask = np.zeros((48, 48), bool)
    mask[10:30, 10:30] = True
    assert largest_flat_region(img, mask) <= 2                    # noise: no flat patches
    img[12:17, 12:18] = (40, 20, 20)                              # a 5 x 6 flat patch inside
    img[35:45, 35:45] = (0, 0, 0)                                 # a larger one outside the mask
    assert largest_flat_region(img, mask) == 30
    assert largest_flat_region(img, np.zeros((48, 48), bool)) == 0
    ramp = np.add.outer(np.arange(48), np.zeros(48))[..., None].repeat(3, -1)  # a one-level-a-row ramp
    assert largest_flat_region(ramp, mask) == 20 and largest_flat_region(ramp, mask, tol=1) == 400


def test_the_band_under_the_upper_lip_reads_the_teeth_however_far_the_jaw_drops():
    img = np.full((400, 400, 3), 150, np.uint8)                   # skin and lips
    for jaw in (0.2, 0.6):
        lm = face(jaw=jaw)
        inside = polygon_mask((400, 400), lm[60:68])
        top = np.interp(np.arange(400), lm[60:65, 0], lm[60:65, 1])    # the upper inner lip (x rises 60 → 64)
        img[inside] = 20                                              # a dark cavity ...
        img[inside & (np.arange(400)[:, None] <= top + 8)] = 230      # ... under 8 px of upper teeth
        assert teeth_luminance(img, lm, 0.06) == pytest.approx(230 / 255)
        assert teeth_luminance(img, lm, 0.5) == pytest.approx(20 / 255)    # deeper: the cavity's median
    assert lip_luminance(img, lm) == pytest.approx(150 / 255)
    assert np.isnan(teeth_luminance(img, face(jaw=0.0), 0.06, min_pixels=10_000))


def test_outside_change_sees_any_pixel_changed_outside_the_region():
    photo = np.zeros((8, 8, 3), np.uint8)
    region = np.zeros((8, 8), bool)
    region[2:5, 2:5] = True
    frames = np.repeat(photo[None], 4, 0)
    frames[:, 3, 3] = 200                                         # inside: allowed
    assert outside_change(frames, photo, region) == (0, 0.0)
    frames[1, 0, 0, 2] = 3
    assert outside_change(frames, photo, region) == (3, 0.25)
