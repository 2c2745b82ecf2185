"""The SynthTalk renderer: shapes, determinism, and that each factor shows up where it should."""
import numpy as np
import pytest

from labkit.synthtalk import Renderer, neutral_factors, render, sample_identity
from labkit.synthtalk.head import BLENDSHAPES, build_rig


def _frame(ident_id=7, resolution=128, **factors):
    f = neutral_factors(1)
    for k, v in factors.items():
        f[k][:] = v
    out = render(sample_identity(ident_id), f, resolution=resolution)
    return out.frames[0].astype(np.float32), out.landmarks[0]


def test_shapes_and_types():
    f = neutral_factors(3)
    out = render(sample_identity(1), f, resolution=64)
    assert out.frames.shape == (3, 64, 64, 3) and out.frames.dtype == np.uint8
    assert out.landmarks.shape == (3, 68, 2) and out.landmarks.dtype == np.float32


@pytest.mark.parametrize("resolution", [64, 128, 256, 512])
def test_every_resolution_renders_a_face_in_the_frame(resolution):
    img, lm = _frame(resolution=resolution)
    assert img.shape == (resolution, resolution, 3)
    assert (lm >= 0).all() and (lm < resolution).all()
    # the face is not the background: the nose tip differs from the top-left corner colour
    nose = lm[30].round().astype(int)
    assert np.abs(img[nose[1], nose[0]] - img[2, 2]).sum() > 20


def test_identities_differ_and_are_deterministic():
    a, _ = _frame(1)
    b, _ = _frame(2)
    a2, _ = _frame(1)
    assert np.array_equal(a, a2)
    assert np.abs(a - b).mean() > 10


def test_landmark_layout_is_anatomical():
    _, lm = _frame()
    y = lambda idx: lm[list(idx), 1].mean()
    brows, eyes, nose_tip, mouth, chin = range(17, 27), range(36, 48), [30], range(48, 68), [8]
    assert y(brows) < y(eyes) < y(nose_tip) < y(mouth) < y(chin)      # image y grows downward
    assert lm[36, 0] < lm[39, 0] < lm[42, 0] < lm[45, 0]              # right eye (image left), then left eye
    assert lm[48, 0] < lm[51, 0] < lm[54, 0]                          # mouth corners around the top lip


def test_landmarks_follow_the_pose():
    _, base = _frame()
    _, turned = _frame(yaw=25)
    _, down = _frame(ty=0.06)
    _, far = _frame(distance=1.2)
    assert turned[30, 0] - base[30, 0] > 5              # + yaw turns the nose to the camera's right
    assert np.allclose(down[:, 1] - base[:, 1], 0.06 * 128, atol=1.5)
    iod = lambda lm: np.linalg.norm(lm[36] - lm[45])
    assert iod(far) < iod(base) / 1.1


def test_mouth_blink_and_gaze_are_visible():
    img, lm = _frame(resolution=256)
    open_img, open_lm = _frame(resolution=256, jaw=0.8)
    gap = lambda lm: np.linalg.norm(lm[66] - lm[62])
    assert gap(open_lm) > gap(lm) + 4                   # inner lips part
    x0, y0 = lm[48:60].min(0).astype(int)
    x1, y1 = open_lm[48:60].max(0).astype(int)
    assert np.abs(open_img[y0:y1, x0:x1] - img[y0:y1, x0:x1]).mean() > 15   # teeth and cavity appear
    closed_img, closed_lm = _frame(resolution=256, blink=1.0)
    assert np.linalg.norm(closed_lm[37] - closed_lm[41]) < 0.3 * np.linalg.norm(lm[37] - lm[41])
    left, _ = _frame(resolution=256, gaze_yaw=-20)
    right, _ = _frame(resolution=256, gaze_yaw=20)
    x0, y0 = lm[36:42].min(0).astype(int) - 1
    x1, y1 = lm[36:42].max(0).astype(int) + 2
    def dark_centroid(im):
        patch = im[y0:y1, x0:x1].mean(-1)
        w = (patch < np.percentile(patch, 20)).astype(float)
        return (w * np.arange(patch.shape[1])).sum() / w.sum()
    assert dark_centroid(right) > dark_centroid(left) + 1   # the iris moves with the gaze


def test_emotions_change_the_face():
    neutral, _ = _frame(resolution=256)
    for emo in range(1, 5):
        img, _ = _frame(resolution=256, emotion=emo, emotion_intensity=1.0)
        assert np.abs(img - neutral).mean() > 0.3, emo


def test_blendshapes_leave_the_lip_line_closed_outside_the_corners():
    ident = sample_identity(3)
    rig = build_rig(ident)
    v = rig.vertices + rig.blendshapes[BLENDSHAPES.index("jaw")]
    # the two copies of the lip-line row must only separate between the mouth corners
    th = np.unique(rig.attrs[: len(rig.attrs)][rig.is_head, 0])
    rows = rig.is_head.sum() // len(th)
    grid = v[: rows * len(th)].reshape(rows, len(th), 3)
    fx = rig.attrs[: rows * len(th), 2].reshape(rows, len(th))
    fyt = rig.attrs[: rows * len(th), 3].reshape(rows, len(th))
    lower = int(np.argmin(np.abs(fyt[:, 0] - (ident.mouth_y - 0.02))))
    gap = np.linalg.norm(grid[lower + 1] - grid[lower], axis=-1)
    front = np.abs(rig.attrs[: rows * len(th), 0].reshape(rows, len(th))[lower]) < np.pi / 2
    outside = np.abs(fx[lower]) > ident.mouth_w * 1.01
    inside = front & (np.abs(fx[lower]) < ident.mouth_w * 0.5)
    assert gap[outside].max() < 1e-4 and gap[inside].min() > 0.05


def test_bad_arguments():
    with pytest.raises(ValueError, match="resolution 100 is not supported"):
        Renderer(100)
    with pytest.raises(ValueError, match="identity id must be >= 0"):
        sample_identity(-1)
    f = neutral_factors(2)
    f["yaw"][:] = 90
    with pytest.raises(ValueError, match="yaw"):
        render(sample_identity(0), f, resolution=64)
