"""The provenance watermark: payload round trip, invisibility, robustness to H.264 and downscaling,
no false positives, bad inputs."""
import numpy as np
import pytest

import labkit
from labkit.io.video import read_video, write_video
from labkit.provenance.watermark import (
    ATTACKS,
    MAX_MAGIC_ERRORS,
    Watermark,
    _encode,
    _viterbi,
    content_id_from,
    detect,
    half_size,
    payload_bits,
    robustness,
    verify,
)
from labkit.synthtalk import SynthTalk

CID = 0xC0FFEE42


@pytest.fixture(scope="module")
def clip():
    """One second of a SynthTalk test clip: (25, 128, 128, 3) uint8, and its watermarked copy."""
    frames = SynthTalk(split="test", resolution=128, seconds=1.0, num_clips=2)[0]["frames"]
    return frames, Watermark(CID).embed(frames)


def psnr(a, b):
    return 10 * np.log10(255 ** 2 / np.mean((a.astype(float) - b.astype(float)) ** 2))


def test_payload_round_trip(clip):
    frames, marked = clip
    d = detect(marked)
    assert d.found and d.magic_errors == 0 and d.confidence > 0.95 and d.frames == len(frames)
    assert d.version == labkit.__version__ and d.content_id == CID
    other = detect(Watermark(7, version="3.14.15").embed(frames[:3]))
    assert (other.version, other.content_id) == ("3.14.15", 7)


def test_frame_by_frame_equals_whole_clip_and_detect_takes_any_iterable(clip):
    frames, marked = clip
    wm = Watermark(CID)
    assert np.array_equal(np.stack([wm.embed_frame(f) for f in frames[:5]]), marked[:5])
    d = detect(f for f in marked[:5])
    assert d.found and d.content_id == CID and d.frames == 5


def _embed_by_definition(wm, frame):
    """The embedding as first written: every pass clips and re-reads the whole marked frame."""
    from labkit.provenance.watermark import _grid, _resampling, _slots, _unslots

    c = _slots(_grid(frame))
    target = wm.step * (np.round(c / wm.step - wm._offset) + wm._offset)
    P_h, P_w = _resampling(frame.shape[0])[1], _resampling(frame.shape[1])[1]
    base, delta = frame.astype(np.float32), np.zeros(frame.shape[:2], np.float32)
    for _ in range(wm.passes):
        marked = np.clip(base + delta[..., None], 0, 255)
        delta += P_h @ _unslots(target - _slots(_grid(marked))) @ P_w.T
    return np.rint(np.clip(base + delta[..., None], 0, 255)).astype(np.uint8)


@pytest.mark.parametrize("passes", [1, 3])
def test_embedding_visits_only_clipped_pixels_and_matches_the_definition(clip, passes):
    from skimage.data import astronaut

    frames, _ = clip
    photo = astronaut()                                    # saturated highlights and deep shadows: clipping
    harsh = np.clip(photo.astype(int) * 2 - 100, 0, 255).astype(np.uint8)[:300, :420]   # and a lot of it, not square
    wm = Watermark(CID, passes=passes)
    for frame in (frames[0], photo, harsh):
        fast, slow = wm.embed_frame(frame), _embed_by_definition(wm, frame)
        diff = np.abs(fast.astype(int) - slow.astype(int))
        assert diff.max() <= 1 and (diff > 0).mean() < 1e-3   # float rounding at the half-levels only
    assert ((harsh == 0) | (harsh == 255)).mean() > 0.2 and detect(wm.embed_frame(harsh)[None]).found


def test_invisible(clip):
    frames, marked = clip
    assert marked.shape == frames.shape and marked.dtype == np.uint8
    assert psnr(marked, frames) > 40
    assert np.abs(marked.astype(int) - frames).max() <= 16


def test_survives_h264_crf28(clip, tmp_path):
    _, marked = clip
    path = write_video(tmp_path / "marked.mp4", marked, 25, crf=28)
    decoded = read_video(path)[0]
    assert psnr(decoded, marked) < 45                             # the codec really did change the frames
    d = detect(decoded)
    assert d.found and d.content_id == CID and d.version == labkit.__version__
    v = verify(path, max_frames=10)
    assert v.found and v.content_id == CID and v.frames == 10


def test_survives_half_size_and_reencoding(clip):
    _, marked = clip
    small = half_size(marked)
    assert small.shape == (len(marked), 64, 64, 3)
    for frames in (small, ATTACKS["half"](marked)):
        d = detect(frames)
        assert d.found and d.content_id == CID


def test_any_size_square_or_not(clip):
    frames, _ = clip
    for crop in (frames[:4, :, :96], frames[:4, 14:114, :], np.repeat(np.repeat(frames[:2], 4, 1), 3, 2)):
        crop = np.ascontiguousarray(crop)                         # (4, 128, 96), (4, 100, 128), (2, 512, 384)
        marked = Watermark(CID).embed(crop)
        assert psnr(marked, crop) > 40
        d = detect(marked)
        assert d.found and d.content_id == CID


def test_no_false_positives(clip):
    frames, marked = clip
    for unmarked in (frames, ATTACKS["crf23"](frames), np.full((5, 64, 80, 3), 128, np.uint8),
                     np.random.default_rng(0).integers(0, 256, (5, 64, 64, 3), dtype=np.uint8)):
        d = detect(unmarked)
        assert not d.found and d.magic_errors > MAX_MAGIC_ERRORS and d.version is None and d.content_id is None
        assert abs(d.confidence) < 0.3
    assert not detect(marked, key=12345).found                    # another key sees nothing
    assert not detect(marked, step=9.0).found                     # nor another lattice


def test_convolutional_code_corrects_errors():
    rng = np.random.default_rng(0)
    bits = rng.integers(0, 2, 56).astype(np.uint8)
    coded = _encode(bits)
    assert coded.shape == (124,)
    soft = 1 - 2.0 * coded
    soft[rng.choice(124, 6, replace=False)] *= -1                 # six wrong coded bits, spread out
    assert np.array_equal(_viterbi(soft), bits)


def test_payload_bits_and_content_ids():
    bits = payload_bits(CID, "0.1.0")
    assert bits.shape == (104,) and np.packbits(bits[:48]).tobytes() == b"labkit"
    assert int.from_bytes(np.packbits(bits[72:]).tobytes(), "big") == CID
    assert content_id_from("a", b"b") == content_id_from("a", b"b") != content_id_from("a", b"c")
    assert 0 <= content_id_from("x") < 2 ** 32


def test_robustness_reports_rates(clip):
    frames, marked = clip
    r = robustness(iter([marked[:10]]), iter([frames[:10]]), attacks=("none", "crf28"), content_ids=[CID])
    assert (r["clips"], r["clean_clips"]) == (1, 1)
    assert r["detection"] == {"none": 1.0, "crf28": 1.0} and r["false_positive"] == {"none": 0.0, "crf28": 0.0}
    wrong = robustness([marked[:10]], [], attacks=("none",), content_ids=[CID + 1])
    assert wrong["detection"]["none"] == 0.0                      # found, but not that content id


def test_bad_inputs(clip):
    frames, _ = clip
    for cid in (-1, 2 ** 32, True, "5", 1.0):
        with pytest.raises(ValueError, match="content_id"):
            Watermark(cid)
    with pytest.raises(ValueError, match="version"):
        Watermark(1, version="v1")
    with pytest.raises(ValueError, match="step"):
        Watermark(1, step=0)
    wm = Watermark(1)
    with pytest.raises(ValueError, match="uint8"):
        wm.embed_frame(frames[0].astype(np.float32))
    with pytest.raises(ValueError, match=r"\(H, W, 3\)"):
        wm.embed_frame(frames[0, ..., 0])
    with pytest.raises(ValueError, match="at least 32 px"):
        wm.embed_frame(frames[0, :16])
    with pytest.raises(ValueError, match=r"\(T, H, W, 3\)"):
        wm.embed(frames[0])
    with pytest.raises(ValueError, match=r"\(T, H, W, 3\)"):
        detect(frames[0])
    with pytest.raises(ValueError, match="no frames"):
        detect([])
    with pytest.raises(ValueError, match="unknown attacks"):
        robustness([], [], attacks=("crf99",))
