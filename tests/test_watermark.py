"""The provenance watermark: payload round trip, invisibility, robustness to H.264 and downscaling,
no false positives, no wrong ids (the CRC), bad inputs."""
import cv2
import numpy as np
import pytest

import labkit
from labkit.io.video import read_video, write_video
from labkit.provenance.watermark import (
    ATTACKS,
    GRID,
    KEY,
    LUMA,
    MAGIC_BITS,
    MAX_MAGIC_ERRORS,
    MAX_MAGIC_ERRORS_WITH_ID,
    Watermark,
    _encode,
    _grid,
    _layout,
    _read,
    _resampling,
    _slots,
    _unslots,
    _upsample,
    _viterbi,
    content_id_from,
    crc16,
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
    assert d.version == labkit.__version__ and d.content_id == CID and d.id_valid
    other = detect(Watermark(7, version="3.14.15").embed(frames[:3]))
    assert (other.version, other.content_id) == ("3.14.15", 7)


def test_frame_by_frame_equals_whole_clip_and_detect_takes_any_iterable(clip):
    frames, marked = clip
    wm = Watermark(CID)
    assert np.array_equal(np.stack([wm.embed_frame(f) for f in frames[:5]]), marked[:5])
    d = detect(f for f in marked[:5])
    assert d.found and d.content_id == CID and d.frames == 5


# ---------------------------------------------------------------- the dense-matrix reference
def _dense_resampling(n):
    """Along an axis of n pixels, as dense matrices: A (GRID, n) area means, U (n, GRID) bilinear,
    P = U (A U)^-1 (n, GRID) the smooth upsampling with A P = I."""
    edges = np.arange(GRID + 1) * n / GRID
    px = np.arange(n)
    overlap = np.minimum(px[None] + 1, edges[1:, None]) - np.maximum(px[None], edges[:-1, None])
    A = np.clip(overlap, 0, None) / (n / GRID)
    g = np.clip((px + 0.5) * GRID / n - 0.5, 0, GRID - 1)
    i0 = np.minimum(np.floor(g).astype(int), GRID - 2)
    U = np.zeros((n, GRID))
    U[px, i0], U[px, i0 + 1] = 1 - (g - i0), g - i0
    return A, U, U @ np.linalg.inv(A @ U)


def _dense_grid(frame):
    A_h, A_w = _dense_resampling(frame.shape[0])[0], _dense_resampling(frame.shape[1])[0]
    return (A_h @ (frame.astype(np.float64) @ LUMA) @ A_w.T).astype(np.float32)


def _embed_dense(wm, frame):
    """The embedding with dense matrices: A_h Y A_w^T for the grid, P_h change P_w^T for the pixels,
    the lost luma of the clipped pixels read back through A."""
    (A_h, _, P_h), (A_w, _, P_w) = _dense_resampling(frame.shape[0]), _dense_resampling(frame.shape[1])
    grid = _dense_grid(frame)
    c = _slots(grid)
    target = wm.step * (np.round(c / wm.step - wm._offset) + wm._offset)
    change = _unslots(target - c)
    lo, hi = frame.min(-1), frame.max(-1)
    for _ in range(wm.passes - 1):
        delta = P_h @ change @ P_w.T
        ys, xs = np.nonzero((lo + delta < 0) | (hi + delta > 255))
        if len(ys) == 0:
            break
        v = frame[ys, xs].astype(np.float32) + delta[ys, xs, None]
        lost = (np.clip(v, 0, 255) - v) @ LUMA
        change += _unslots(target - _slots(grid + change + (A_h[:, ys] * lost) @ A_w[:, xs].T))
    delta = np.rint(P_h @ change @ P_w.T).astype(np.int16)
    return np.clip(frame + delta[..., None], 0, 255).astype(np.uint8)


def _embed_by_definition(wm, frame):
    """The embedding as first written: every pass clips and re-reads the whole marked frame."""
    (A_h, _, P_h), (A_w, _, P_w) = _dense_resampling(frame.shape[0]), _dense_resampling(frame.shape[1])
    c = _slots(_dense_grid(frame))
    target = wm.step * (np.round(c / wm.step - wm._offset) + wm._offset)
    base, delta = frame.astype(np.float32), np.zeros(frame.shape[:2], np.float32)
    for _ in range(wm.passes):
        marked = np.clip(base + delta[..., None], 0, 255)
        delta += P_h @ _unslots(target - _slots(A_h @ (marked @ LUMA) @ A_w.T)) @ P_w.T
    return np.rint(np.clip(base + delta[..., None], 0, 255)).astype(np.uint8)


def _photos():
    """Real frames: the astronaut (512 x 512), a 1080 x 1920 frame made from it, a harsh crop."""
    from skimage.data import astronaut

    photo = astronaut()                                    # saturated highlights and deep shadows: clipping
    wide = cv2.resize(photo, (1920, 1080), interpolation=cv2.INTER_CUBIC)
    harsh = np.clip(photo.astype(int) * 2 - 100, 0, 255).astype(np.uint8)[:300, :420]   # a lot of it, not square
    return photo, wide, harsh


@pytest.mark.parametrize("n", [32, 45, 100, 128, 300, 512, 1080, 1920])
def test_resampling_is_cv2_area_and_bilinear(n):
    A, U, P = _dense_resampling(n)
    cells, weights, B = _resampling(n)[1:]
    assert np.allclose(_resampling(n)[0], A, atol=1e-7)
    taps = np.zeros_like(A)
    np.add.at(taps, (cells, np.broadcast_to(np.arange(n), cells.shape)), weights)
    assert np.allclose(taps, A, atol=1e-7)                 # a pixel overlaps at most two cells
    eye = np.eye(GRID, dtype=np.float32)
    assert np.allclose(cv2.resize(eye, (GRID, n), interpolation=cv2.INTER_LINEAR), U, atol=1e-6)   # U is cv2's
    assert np.allclose(U @ B, P, atol=1e-5)
    x = np.random.default_rng(n).normal(0, 5, (GRID, GRID)).astype(np.float32)
    assert np.allclose(_upsample(B @ x @ B.T, (n, n)), P @ x @ P.T, atol=1e-4)


def test_grid_is_the_dense_area_means():
    rng = np.random.default_rng(0)
    frames = [rng.integers(0, 256, (h, w, 3), dtype=np.uint8) for h, w in ((32, 32), (45, 77), (128, 96), (1000, 333))]
    for frame in frames + list(_photos()):
        assert np.allclose(_grid(frame), _dense_grid(frame), atol=1e-3), frame.shape


def test_embedding_equals_the_dense_matrices_within_a_level():
    rng = np.random.default_rng(1)
    randoms = [rng.integers(0, 256, (h, w, 3), dtype=np.uint8) for h, w in ((32, 32), (77, 45), (256, 200))]
    wm = Watermark(CID)
    for frame in randoms + list(_photos()):
        fast, dense = wm.embed_frame(frame), _embed_dense(wm, frame)
        diff = np.abs(fast.astype(int) - dense.astype(int))
        assert diff.max() <= 1 and (diff > 0).mean() < 1e-3, frame.shape   # float rounding at the half-levels only
    wide = _photos()[1]
    d = detect(wm.embed_frame(wide)[None])
    assert d.found and d.content_id == CID and d.magic_errors == 0


@pytest.mark.parametrize("passes", [1, 3])
def test_embedding_visits_only_clipped_pixels_and_matches_the_definition(clip, passes):
    frames, _ = clip
    photo, _, harsh = _photos()
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
        assert not d.id_valid
        assert abs(d.confidence) < 0.3
    assert not detect(marked, key=12345).found                    # another key sees nothing
    assert not detect(marked, step=9.0).found                     # nor another lattice


def test_convolutional_code_corrects_errors():
    rng = np.random.default_rng(0)
    bits = rng.integers(0, 2, 72).astype(np.uint8)
    coded = _encode(bits)
    assert coded.shape == (156,)
    soft = 1 - 2.0 * coded
    soft[rng.choice(156, 6, replace=False)] *= -1                 # six wrong coded bits, spread out
    assert np.array_equal(_viterbi(soft), bits)


def test_crc_has_its_check_value_and_catches_what_the_code_cannot_correct():
    assert crc16(b"123456789") == 0x29B1                          # CRC-16/CCITT-FALSE's catalogued check value
    assert crc16(b"") == 0xFFFF
    info = payload_bits(CID, "0.1.0")[MAGIC_BITS:]                # version, content id, CRC: (72,)
    assert _read(info) == ("0.1.0", CID)
    rng = np.random.default_rng(0)
    one_or_two = [{i, j} for i in range(72) for j in range(i, 72)]                  # every one or two wrong bits
    bursts = [{i, i + n} | set(i + np.flatnonzero(rng.random(n) < 0.5))             # wrong bits i..i+n, n < 16
              for n in range(2, 16) for i in range(72 - n)]
    for wrong in one_or_two + bursts:
        bad = info.copy()
        bad[sorted(wrong)] ^= 1
        assert _read(bad) is None, sorted(wrong)
    soft = 1 - 2.0 * _encode(info)
    soft[60:80] *= -1                                             # 20 coded bits in a row: too many to correct
    decoded = _viterbi(soft)
    assert not np.array_equal(decoded, info) and _read(decoded) is None


def test_clip_carrying_two_ids_never_reports_a_third(clip):
    frames, _ = clip
    a, b = CID, CID ^ 0xFFFFFFFF                                  # same magic and version, every id bit opposed
    mixed = np.concatenate([Watermark(a).embed(frames[:12]), Watermark(b).embed(frames[12:24])])
    d = detect(mixed)
    assert d.found and d.magic_errors == 0                        # the magic is intact ...
    assert d.content_id in (a, b, None), hex(d.content_id)        # ... the id is one of the two, or none
    assert d.id_valid == (d.content_id is not None) and (d.version is None) == (d.content_id is None)


def test_a_weaker_magic_counts_only_with_an_id_that_passes_its_crc(clip):
    frames, _ = clip
    _, bit_of_slot = _layout(KEY)
    wrong = np.flatnonzero(bit_of_slot < MAGIC_BITS)[:12]         # 12 magic slots carry the opposite bit
    assert MAX_MAGIC_ERRORS < len(wrong) <= MAX_MAGIC_ERRORS_WITH_ID

    def embed(cid, f):
        wm = Watermark(cid)
        wm._offset[wrong] = (wm._offset[wrong] + 0.5) % 1
        return wm.embed(f)

    d = detect(embed(CID, frames[:12]))
    assert d.found and d.magic_errors == 12 and d.id_valid and d.content_id == CID
    d = detect(np.concatenate([embed(CID, frames[:12]), embed(CID ^ 0xFFFFFFFF, frames[12:24])]))
    assert not d.found and d.magic_errors == 12 and d.content_id is None


def test_payload_bits_and_content_ids():
    bits = payload_bits(CID, "0.1.0")
    assert bits.shape == (120,) and np.packbits(bits[:48]).tobytes() == b"labkit"
    assert int.from_bytes(np.packbits(bits[72:104]).tobytes(), "big") == CID
    assert int.from_bytes(np.packbits(bits[104:]).tobytes(), "big") == crc16(np.packbits(bits[48:104]).tobytes())
    assert content_id_from("a", b"b") == content_id_from("a", b"b") != content_id_from("a", b"c")
    assert 0 <= content_id_from("x") < 2 ** 32


def test_robustness_reports_rates(clip):
    frames, marked = clip
    r = robustness(iter([marked[:10]]), iter([frames[:10]]), attacks=("none", "crf28"), content_ids=[CID],
                   lengths=(4, None))
    assert (r["clips"], r["clean_clips"]) == (1, 1)
    assert [(row["frames"], row["attack"]) for row in r["rows"]] == [(4, "none"), (4, "crf28"), (None, "none"),
                                                                      (None, "crf28")]
    for row in r["rows"]:
        assert (row["detected"], row["id_correct"], row["wrong_id"], row["unreadable"]) == (1.0, 1.0, 0.0, 0.0)
        assert row["false_positive"] == 0.0 and row["magic_errors"] <= MAX_MAGIC_ERRORS < row["clean_magic_errors"]
    (wrong,) = robustness([marked[:10]], [], attacks=("none",), content_ids=[CID + 1])["rows"]
    assert (wrong["detected"], wrong["id_correct"], wrong["wrong_id"]) == (1.0, 0.0, 1.0)   # found, another id
    (blind,) = robustness([marked[:10]], [], attacks=("none",))["rows"]
    assert blind["detected"] == 1.0 and np.isnan(blind["id_correct"]) and np.isnan(blind["clean_confidence"])


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
    with pytest.raises(ValueError, match="shorter"):
        robustness([frames[:5]], [], attacks=("none",), lengths=(10,))
