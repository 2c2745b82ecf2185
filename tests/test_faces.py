"""Faces on real and synthetic images: landmarks, alignment, pose, openness, gaze, identity; bad input."""
import logging

import numpy as np
import pytest
import skimage.data

from labkit.faces import (
    LandmarkDetector,
    align_face,
    as_rgb,
    canonical_template,
    eye_openness,
    find_face,
    gaze_angles,
    head_pose,
    identity_embedding,
    identity_similarity,
    landmark_error_iod,
    models,
    mouth_openness,
)
from labkit.faces.validation import validate
from labkit.synthtalk import neutral_factors, render, sample_identity


@pytest.fixture(scope="module")
def astronaut():
    img = skimage.data.astronaut()
    return img, find_face(img, backend="dlib")


def _synth(ident=10, resolution=256, **factors):
    f = neutral_factors(1)
    for k, v in factors.items():
        f[k][:] = v
    out = render(sample_identity(ident), f, resolution=resolution)
    return out.frames[0], out.landmarks[0]


def test_astronaut_landmarks_are_anatomical(astronaut):
    img, face = astronaut
    lm = face.landmarks
    assert lm.shape == (68, 2) and face.backend == "dlib"
    y = lambda idx: lm[list(idx), 1].mean()
    assert y(range(36, 48)) < y([30]) < y(range(48, 68))            # eyes above nose above mouth
    assert lm[36:48, 0].min() < lm[27, 0] < lm[36:48, 0].max()       # the nose between the eyes
    l, t, r, b = face.box
    pad = 0.15 * (r - l)
    assert (lm[:, 0] > l - pad).all() and (lm[:, 0] < r + pad).all()
    assert (lm[17:, 1] > t - pad).all() and (lm[:, 1] < b + pad).all()


def test_astronaut_pose_and_alignment(astronaut):
    img, face = astronaut
    pose = head_pose(face.landmarks, img.shape[:2])
    # facing the camera: small yaw and roll; the photo looks slightly down at her (a generic
    # anthropometric 3D face gives about -20 deg of pitch too)
    assert abs(pose.yaw) < 15 and abs(pose.roll) < 10 and -30 < pose.pitch < 5
    crop, M, aligned = align_face(img, face.landmarks, 256)
    tpl = canonical_template(256)
    assert crop.shape == (256, 256, 3) and M.shape == (2, 3)
    for eye in (slice(36, 42), slice(42, 48)):
        assert np.linalg.norm(aligned[eye].mean(0) - tpl[eye].mean(0)) < 6      # px at 256


def test_landmarks_on_synthtalk_match_ground_truth():
    img, truth = _synth(yaw=12, pitch=-5)
    face = find_face(img, backend="dlib")
    assert landmark_error_iod(face.landmarks, truth) < 0.1


def test_pose_estimates_follow_synthtalk_ground_truth():
    est = {}
    for yaw, pitch, roll in ((0, 0, 0), (-20, 0, 0), (20, 0, 0), (0, 0, 8), (0, 10, 0), (0, -10, 0)):
        _, truth = _synth(yaw=yaw, pitch=pitch, roll=roll)
        p = head_pose(truth, (256, 256))
        est[yaw, pitch, roll] = p
        assert abs(p.yaw - yaw) < 4 and abs(p.roll - roll) < 3 and abs(p.pitch - pitch) < 12, (yaw, pitch, roll, p)
    # one generic 3D face cannot know a person's vertical proportions: absolute pitch carries a
    # per-person offset (about 5 deg on average), but pitch *changes* are tracked
    up = est[0, 10, 0].pitch - est[0, 0, 0].pitch
    down = est[0, -10, 0].pitch - est[0, 0, 0].pitch
    assert 7 < up < 13 and -13 < down < -7


def test_openness_and_gaze_follow_synthtalk_ground_truth():
    _, rest = _synth()
    _, shut = _synth(blink=1.0)
    _, talking = _synth(jaw=0.7)
    assert eye_openness(shut).mean() < 0.3 < 0.8 < eye_openness(rest).mean()
    assert mouth_openness(talking) > mouth_openness(rest) + 0.2
    left_img, left_lm = _synth(gaze_yaw=-20)
    right_img, right_lm = _synth(gaze_yaw=20)
    up_img, up_lm = _synth(gaze_pitch=12)
    gl, gr, gu = gaze_angles(left_img, left_lm), gaze_angles(right_img, right_lm), gaze_angles(up_img, up_lm)
    assert gl[0] < -10 and gr[0] > 10 and gu[1] > 5


def test_identity_embeddings_separate_people(astronaut):
    a0, _ = _synth(ident=10, yaw=-15)
    a1, _ = _synth(ident=10, yaw=15, jaw=0.5)
    b, _ = _synth(ident=20, yaw=15, jaw=0.5)
    ea0, ea1, eb = identity_embedding(a0), identity_embedding(a1), identity_embedding(b)
    assert ea0.shape == (128,)
    assert np.linalg.norm(ea0 - ea1) + 0.05 < np.linalg.norm(ea0 - eb)
    assert identity_similarity(ea0, ea1) > identity_similarity(ea0, eb)
    ast = identity_embedding(astronaut[0], astronaut[1])
    assert np.linalg.norm(ast - ea0) > 0.5                 # dlib's "different people" range


def test_several_faces_warn_and_take_the_largest(astronaut, caplog):
    img, face = astronaut
    l, t, r, b = face.box.astype(int)
    import cv2

    head = img[max(t - 40, 0):b + 40, max(l - 40, 0):r + 40]
    head = cv2.resize(head, None, fx=2.0, fy=2.0)              # a face box of ~170 px ...
    small = cv2.resize(head, None, fx=0.6, fy=0.6)             # ... and one of ~100 px
    canvas = np.full((head.shape[0] + 20, head.shape[1] + small.shape[1] + 40, 3), 128, np.uint8)
    canvas[10:10 + head.shape[0], 10:10 + head.shape[1]] = head
    canvas[10:10 + small.shape[0], 30 + head.shape[1]:30 + head.shape[1] + small.shape[1]] = small
    with caplog.at_level(logging.WARNING):
        found = LandmarkDetector("dlib").find(canvas)
    assert "faces found" in caplog.text
    assert found.box[0] < head.shape[1]                    # the big one, on the left
    other = LandmarkDetector("dlib").find(canvas, face_index=1)
    assert other.box[0] > head.shape[1] and other.size < found.size
    with pytest.raises(ValueError, match="face_index 5 is out of range"):
        LandmarkDetector("dlib").find(canvas, face_index=5)


def test_bad_images_fail_clearly(astronaut, tmp_path, caplog):
    with pytest.raises(ValueError, match="no face found in coffee"):
        find_face(skimage.data.coffee(), backend="dlib", name="coffee")
    with pytest.raises(ValueError, match="no face found"):
        find_face(np.full((200, 200, 3), 128, np.uint8), backend="dlib")
    import cv2

    small = cv2.resize(astronaut[0], None, fx=0.3, fy=0.3, interpolation=cv2.INTER_AREA)   # a ~36 px face
    with caplog.at_level(logging.WARNING):
        face = find_face(small, backend="dlib")                                            # used, with a warning
    assert "is small" in caplog.text and face.size < 48
    tiny = cv2.resize(astronaut[0], (60, 60), interpolation=cv2.INTER_AREA)                # the whole photo in 60 px
    with pytest.raises(ValueError, match="no face found in image .the image is only 60x60 px"):
        find_face(tiny, backend="dlib")
    with pytest.raises(ValueError, match="expected an image"):
        as_rgb(np.zeros((10,)))
    with pytest.raises(ValueError, match="expected a numeric image"):
        as_rgb(np.zeros((64, 64, 3), bool))
    with pytest.raises(ValueError, match="expected an image of shape"):
        as_rgb(np.zeros((64, 64, 5), np.uint8))
    with pytest.raises(ValueError, match="float images must hold values in"):
        as_rgb(np.full((64, 64, 3), 3.0))
    text = tmp_path / "not_an_image.png"
    text.write_text("hello")
    with pytest.raises(ValueError, match="cannot read this file as an image"):
        as_rgb(text)
    # accepted forms: grayscale, RGBA, float in [0, 1]
    g = as_rgb(astronaut[0].mean(-1).astype(np.uint8))
    assert g.shape == astronaut[0].shape
    assert as_rgb(np.concatenate([astronaut[0],
                                  np.full(astronaut[0].shape[:2] + (1,), 255, np.uint8)], -1)).shape[-1] == 3
    assert np.array_equal(as_rgb(astronaut[0] / 255.0), astronaut[0])


def test_fan_is_never_downloaded(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))        # an empty hub cache
    assert not models.fan_available()
    with pytest.raises(FileNotFoundError, match="FAN landmarks need") as err:
        LandmarkDetector("fan")
    assert "2DFAN4-11f355bf06.pth.tar" in str(err.value) and "s3fd-619a316812.pth" in str(err.value)
    assert LandmarkDetector("auto").backend == "dlib"
    with pytest.raises(ValueError, match="unknown landmark backend"):
        LandmarkDetector("mtcnn")
    # with the weight files present (empty stand-ins here), "auto" picks FAN without loading it
    for p in models.fan_weight_paths().values():
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(b"")
    assert models.fan_available() and LandmarkDetector("auto").backend == "fan"


def test_validation_against_synthtalk_ground_truth():
    r = validate(identities=(10,), yaws=(-20, 0, 20), pitches=(-10, 0, 10), rolls=(0, 8), jaws=(0.0, 0.5, 1.0),
                 blinks=(0.0, 1.0), gazes=((-20, 0), (20, 0), (0, -12), (0, 12)))
    gt, dl = r["gt"], r["dlib"]
    assert gt["pose_mae_yaw"] < 3 and gt["pose_mae_roll"] < 2 and gt["pitch_change_mae"] < 4
    assert gt["mouth_jaw_r"] > 0.95 and gt["eye_blink_r"] > 0.95 and gt["blink_accuracy"] == 1.0
    assert gt["gaze_yaw_sign"] == 1.0 and gt["gaze_pitch_sign"] == 1.0
    # from pixels, through dlib: pose and mouth survive; dlib does not see SynthTalk's closed eyes
    assert dl["detect_rate"] > 0.7 and dl["pose_mae_yaw"] < 8 and dl["mouth_jaw_r"] > 0.5
