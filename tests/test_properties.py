"""Property tests for labkit's readers: every input gives a well-formed result or labkit's own error.

The contract checked here, for `labkit.faces.image.as_rgb`, `labkit.io.audio` (load_audio,
log_mel_file, as_samples, check_sample_rate) and the chunks `labkit.stream` takes: whatever array,
value or file a user hands over, the reader returns a valid result (right shape and dtype, finite
values in range) or raises InputError whose message names the input. Never an error from a library
underneath (Pillow, libsndfile, ffmpeg, numpy), never a "valid" result that is broken.

Examples are drawn with a fixed derandomized seed and kept small (images <= 64 px, audio <= 0.5 s),
so the file runs in well under a minute and gives the same examples on every machine. Inputs that
once broke a reader are pinned with @example, so they run every time whatever the draw.
"""
import io
import math
import tempfile
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import soundfile as sf
from hypothesis import HealthCheck, event, example, given, settings
from hypothesis import strategies as st
from PIL import Image

from labkit.faces.image import MIN_SIDE, as_rgb
from labkit.io.audio import MAX_SAMPLE_RATE, as_samples, check_sample_rate, frame_count, load_audio, log_mel_file
from labkit.io.errors import InputError

PROPERTY = settings(max_examples=60, deadline=None, derandomize=True, database=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


def outcome(call, *names):
    """call() → its result, or None if it raised InputError naming one of `names`; any other error fails."""
    try:
        return call()
    except InputError as e:
        assert any(n in str(e) for n in names), f"the error names none of {names}: {e}"
        return None


def corrupt(data: bytes, how: str, seed: int) -> bytes:
    """A damaged copy of a file's bytes: cut at a random byte, bytes flipped, garbage appended, or pure noise."""
    rng = np.random.default_rng([seed, 1])
    if how in ("truncate", "flip", "header") and not data:
        return data
    if how == "truncate":
        return data[:int(rng.integers(0, len(data)))]
    if how in ("flip", "header"):                # anywhere, or where the format's fields are
        out = bytearray(data)
        for i in rng.integers(0, len(out) if how == "flip" else min(len(out), 64), int(rng.integers(1, 9))):
            out[i] ^= int(rng.integers(1, 256))
        return bytes(out)
    if how == "append":
        return data + rng.bytes(int(rng.integers(1, 600)))
    if how == "noise":
        return rng.bytes(int(rng.integers(0, 2000)))
    return data


CORRUPTIONS = st.sampled_from(["none", "none", "truncate", "flip", "header", "append", "noise"])
SEEDS = st.integers(0, 2**32 - 1)


# ----------------------------------------------------------------------------- as_rgb on arrays
IMAGE_DTYPES = ["bool", "uint8", "int8", "int16", "uint16", "int32", "int64", "float16", "float32", "float64",
                "complex64", "object"]
SIDES = st.sampled_from([0, 1, 2, 3, MIN_SIDE - 1, MIN_SIDE, MIN_SIDE + 1, 31, 40])


def random_values(rng, shape, dtype: np.dtype, kind: str) -> np.ndarray:
    """Values of `dtype`: "in_range" for an image (0..255, float [0, 1]), "any" over the type's range,
    or "special": in range with a few NaN / inf / just-out-of-range entries."""
    if dtype.kind in "iu":
        info = np.iinfo(dtype)
        hi = 255 if kind != "any" and dtype != np.uint16 else int(info.max)
        lo = 0 if kind != "any" else int(info.min)
        a = rng.integers(lo, min(hi, info.max), shape, dtype=dtype, endpoint=True)
    elif dtype.kind == "f":
        a = (rng.random(shape) if kind != "any" else rng.normal(0, 10.0 ** rng.integers(-2, 6), shape)).astype(dtype)
    elif dtype.kind == "c":
        a = (rng.random(shape) + 1j * rng.random(shape) * (kind == "any")).astype(dtype)
    elif dtype.kind == "b":
        a = rng.random(shape) < 0.5
    else:
        a = rng.integers(0, 256, shape).astype(object)
    if kind == "special" and a.size and dtype.kind in "iuf":
        specials = [np.nan, np.inf, -np.inf, -1e-3, 1.001, 2.0] if dtype.kind == "f" else [256, -1]
        for i in rng.integers(0, a.size, int(rng.integers(1, 4))):
            v = specials[int(rng.integers(len(specials)))]
            if dtype.kind == "f" or np.iinfo(dtype).min <= v <= np.iinfo(dtype).max:
                a.flat[i] = v
    return a


@st.composite
def image_arrays(draw):
    dtype = np.dtype(draw(st.sampled_from(IMAGE_DTYPES)))
    if draw(st.booleans()):                                       # image-like: (H, W) or (H, W, C)
        shape = (draw(SIDES), draw(SIDES)) + draw(st.sampled_from([(), (1,), (2,), (3,), (4,), (5,)]))
    else:                                                         # anything from 0-D to 4-D
        shape = tuple(draw(st.lists(st.sampled_from([0, 1, 3, 4, 17]), max_size=4)))
    kind = draw(st.sampled_from(["in_range", "in_range", "any", "special"]))
    return random_values(np.random.default_rng(draw(SEEDS)), shape, dtype, kind)


def usable_image(a: np.ndarray) -> bool:
    """The module docstring's rule, written independently: which arrays as_rgb must accept."""
    if a.dtype.kind not in "iuf":
        return False
    if not (a.ndim == 2 or (a.ndim == 3 and a.shape[-1] in (1, 3, 4))) or min(a.shape[:2]) < MIN_SIDE:
        return False
    if a.dtype.kind == "f":
        return bool(np.isfinite(a).all() and a.min() >= 0 and a.max() <= 1)
    return a.dtype in (np.uint8, np.uint16) or bool(a.min() >= 0 and a.max() <= 255)


BACKGROUNDS = st.one_of(st.none(), st.tuples(*[st.integers(0, 255)] * 3),
                        st.sampled_from([(300, 0, 0), (1, 2), (-1, 0, 0), (float("nan"), 0, 0), (10**400, 0, 0),
                                         "grey", {"r": 1}, [[1, 2, 3]], [0, [1, 2]]]))


def background_rgb(bg) -> np.ndarray | None:
    """The colour a usable `background` means, (3,) float64, or None if it is not three values in 0..255."""
    if bg is None:
        return np.full(3, 128.0)
    try:
        v = np.asarray(bg, np.float64).ravel()
    except (TypeError, ValueError, OverflowError):
        return None
    return v if v.shape == (3,) and np.isfinite(v).all() and 0 <= v.min() and v.max() <= 255 else None


@PROPERTY
@given(image_arrays(), st.sampled_from([None, "portrait.png"]), BACKGROUNDS)
@example(np.zeros((16, 16, 4), np.uint8), None, "grey")            # a string background
@example(np.zeros((16, 16, 3), np.uint8), None, (300, 0, 0))       # a bad background with an opaque image
@example(np.zeros((16, 16, 4), np.uint8), None, (10**400, 0, 0))   # too large for a float
def test_as_rgb_on_any_array_gives_rgb_uint8_or_names_the_image(a, name, background):
    before = a.copy()
    out = outcome(lambda: as_rgb(a, name=name, background=background), name or "image", "background")
    assert np.array_equal(a, before, equal_nan=a.dtype.kind == "f"), "as_rgb changed its input"
    bg = background_rgb(background)
    if usable_image(a) and bg is not None:
        assert out is not None, f"a usable {a.dtype} {a.shape} image was refused"
    if out is None:
        return
    assert usable_image(a) and bg is not None, f"accepted {a.dtype} {a.shape} / {background!r}"
    assert out.shape == a.shape[:2] + (3,) and out.dtype == np.uint8 and out.flags.c_contiguous
    if a.ndim == 2 or a.shape[-1] == 1:
        assert (out == out[..., :1]).all(), "a grayscale image must come out grey"
    if a.dtype == np.uint8 and a.ndim == 3 and a.shape[-1] == 3:
        assert np.array_equal(out, a)
    if a.dtype == np.uint8 and a.ndim == 3 and a.shape[-1] == 4:   # alpha 255 keeps the colour, 0 shows the bg
        opaque, clear = a[..., 3] == 255, a[..., 3] == 0
        assert np.array_equal(out[opaque], a[..., :3][opaque])
        assert (out[clear] == np.round(bg).astype(np.uint8)).all()


# ----------------------------------------------------------------------------- as_rgb on image files
FILE_MODES = {  # the modes Pillow writes for each format ("PT": palette with a transparent index)
    "png": ["L", "LA", "P", "PT", "RGB", "RGBA", "I;16"],
    "jpg": ["L", "RGB", "CMYK"],
    "webp": ["L", "LA", "RGB", "RGBA"],
    "bmp": ["L", "P", "RGB", "RGBA"],
    "tiff": ["1", "L", "LA", "P", "PT", "RGB", "RGBA", "I;16", "I", "F", "CMYK"],
    "gif": ["L", "P", "PT", "RGB"],
}
PIL_FORMAT = {"png": "PNG", "jpg": "JPEG", "webp": "WEBP", "bmp": "BMP", "tiff": "TIFF", "gif": "GIF"}
BYTES_PER_PIXEL = {"L": 1, "LA": 2, "P": 1, "PT": 1, "RGB": 3, "RGBA": 4, "CMYK": 4, "I;16": 2, "I": 4, "F": 4}


def shown(a: np.ndarray, orientation: int | None) -> np.ndarray:
    """The picture a viewer shows for pixels `a` (H, W, ...) stored with an EXIF orientation
    (the spec's table: where the stored row 0 and column 0 land on screen)."""
    t = a.swapaxes(0, 1)
    return {None: a, 1: a, 2: a[:, ::-1], 3: a[::-1, ::-1], 4: a[::-1],
            5: t, 6: t[:, ::-1], 7: t[::-1, ::-1], 8: t[::-1]}[orientation]


@dataclass
class ImageFile:
    """A generated image file; the bytes and pixels stay out of the repr so a failing example reads well."""
    ext: str
    mode: str
    size: tuple[int, int]                 # (W, H) as stored
    orientation: int | None               # EXIF orientation, None: no tag
    compression: str | None
    corruption: str
    seed: int
    data: bytes = field(repr=False)
    pixels: np.ndarray = field(repr=False)  # (H, row bytes) uint8: the raw pixels as stored


def image_file(ext: str, mode: str, size: tuple[int, int], orientation: int | None = None,
               compression: str | None = None, corruption: str = "none", seed: int = 0) -> ImageFile:
    """Random pixels of `mode`, (W, H) = size, saved by Pillow as `ext`."""
    (w, h), rng = size, np.random.default_rng(seed)
    row = -(-w // 8) if mode == "1" else w * BYTES_PER_PIXEL[mode]     # "1" packs 8 pixels a byte
    pixels = rng.integers(0, 256, (h, row), dtype=np.uint8)   # "F": any float bits, NaN and inf included
    im = Image.frombytes("P" if mode == "PT" else mode, (w, h), pixels.tobytes())
    kw = {}
    if mode in ("P", "PT"):
        im.putpalette(rng.bytes(768))
        if mode == "PT":
            kw["transparency"] = int(pixels[0, 0])
    if orientation is not None:
        if ext == "tiff":
            kw["tiffinfo"] = {274: orientation}
        else:
            exif = Image.Exif()
            exif[274] = orientation
            kw["exif"] = exif.tobytes()
    if compression:
        kw["compression"] = compression
    buf = io.BytesIO()
    im.save(buf, PIL_FORMAT[ext], **kw)
    return ImageFile(ext, mode, size, orientation, compression, corruption, seed, buf.getvalue(), pixels)


@st.composite
def image_files(draw):
    ext = draw(st.sampled_from(sorted(FILE_MODES)))
    mode = draw(st.sampled_from(FILE_MODES[ext]))
    size = draw(st.integers(8, 64)), draw(st.integers(8, 64))
    orientation = draw(st.none() | st.integers(1, 8)) if ext in ("png", "jpg", "webp", "tiff") else None
    compression = draw(st.sampled_from([None, "tiff_lzw", "tiff_adobe_deflate", "packbits"])) if ext == "tiff" \
        else None
    return image_file(ext, mode, size, orientation, compression, draw(CORRUPTIONS), draw(SEEDS))


def expected_pixels(case: ImageFile) -> np.ndarray | None:
    """What a lossless file must decode to, or None where the format or mode changes the pixels."""
    if case.ext not in ("png", "bmp", "tiff") or case.mode not in ("L", "RGB", "I;16"):
        return None
    w, h = case.size
    if case.mode == "I;16":
        rgb = np.round(case.pixels.view("<u2") / 257.0).astype(np.uint8)
    else:
        rgb = case.pixels.reshape(h, w, -1)
    upright = shown(rgb.reshape(h, w, -1), case.orientation)
    return np.broadcast_to(upright, upright.shape[:2] + (3,))


@PROPERTY
@given(image_files())
@example(image_file("tiff", "L", (16, 17), orientation=6))         # uncompressed, turned a quarter
def test_as_rgb_on_any_image_file_gives_the_upright_picture_or_names_the_file(case):
    w, h = case.size
    with tempfile.TemporaryDirectory() as tmp:
        clean = Path(tmp, f"clean.{case.ext}")
        clean.write_bytes(case.data)
        whole = outcome(lambda: as_rgb(clean), clean.name)
        if min(w, h) >= MIN_SIDE:
            assert whole is not None, "an intact file was refused"
            upright = (w, h) if case.orientation in (5, 6, 7, 8) else (h, w)   # 5..8 turn the picture a quarter
            assert whole.shape == upright + (3,) and whole.dtype == np.uint8
            want = expected_pixels(case)
            if want is not None:
                assert np.array_equal(whole, want), "the file decoded to the wrong pixels"
        else:
            assert whole is None, f"a {w}x{h} image was accepted"
        if case.corruption == "none":
            return
        bad = Path(tmp, f"damaged.{case.ext}")
        bad.write_bytes(corrupt(case.data, case.corruption, case.seed))
        out = outcome(lambda: as_rgb(bad), bad.name)
    event(f"{case.ext} {case.corruption}: {'refused' if out is None else 'decoded'}")
    if out is None:
        return
    assert out.ndim == 3 and out.shape[-1] == 3 and out.dtype == np.uint8 and min(out.shape[:2]) >= MIN_SIDE
    if case.corruption in ("truncate", "append") and whole is not None:
        # a cut file is refused, never filled in; bytes after the end of the image change nothing
        assert np.array_equal(out, whole), "the damaged file decoded to different pixels"


# ----------------------------------------------------------------------------- load_audio / log_mel_file on files
AUDIO_FORMATS = [("wav", "PCM_U8"), ("wav", "PCM_16"), ("wav", "PCM_24"), ("wav", "PCM_32"), ("wav", "FLOAT"),
                 ("wav", "DOUBLE"), ("flac", "PCM_16"), ("flac", "PCM_24"), ("ogg", "VORBIS"), ("aiff", "PCM_16"),
                 ("mp3", "MPEG_LAYER_III"),
                 ("mka", "pcm_f32le"), ("m4a", "alac")]          # libsndfile reads neither: these go through PyAV
AV_CONTAINERS = {"mka": "matroska", "m4a": "mp4"}
FLOAT_SUBTYPES = ("FLOAT", "DOUBLE", "pcm_f32le")
MP3_RATES = [8000, 11025, 12000, 16000, 22050, 24000, 32000, 44100, 48000]   # the MPEG-1/2/2.5 rates
RATES = st.sampled_from([8000, 11025, 16000, 22050, 32000, 44100, 48000]) | st.integers(8000, 48000)


@dataclass
class AudioFile:
    """A generated audio file; the bytes and samples stay out of the repr."""
    ext: str
    subtype: str
    sample_rate: int
    shape: tuple[int, int]                # (S, C) written
    special: float | None                 # NaN, inf or a huge value written into a float file
    corruption: str
    seed: int
    data: bytes = field(repr=False)
    x: np.ndarray = field(repr=False)     # (S, C) float64 as written


def audio_file(ext: str, subtype: str, sample_rate: int, shape: tuple[int, int], *, amplitude: float = 0.5,
               special: float | None = None, corruption: str = "none", seed: int = 0) -> AudioFile:
    """Uniform noise (S, C) = shape written as `ext`/`subtype`, with `special` put in a few samples."""
    rng = np.random.default_rng(seed)
    x = amplitude * rng.uniform(-1, 1, shape)
    if special is not None:
        x.flat[rng.integers(0, x.size, int(rng.integers(1, 4)))] = special
    with np.errstate(over="ignore", invalid="ignore"):
        if ext in AV_CONTAINERS:
            data = write_av(x.astype(np.float32), sample_rate, codec=subtype, fmt=AV_CONTAINERS[ext])
        else:
            buf = io.BytesIO()
            sf.write(buf, x, sample_rate, format=ext.upper(), subtype=subtype)
            data = buf.getvalue()
    return AudioFile(ext, subtype, sample_rate, shape, special, corruption, seed, data, x)


@st.composite
def audio_files(draw, *, formats=AUDIO_FORMATS, special=st.none()):
    ext, subtype = draw(st.sampled_from(formats))
    if ext == "mp3":
        sr, channels = draw(st.sampled_from(MP3_RATES)), draw(st.integers(1, 2))
    elif ext in AV_CONTAINERS:
        sr, channels = draw(RATES), draw(st.integers(1, 2))
    else:
        sr, channels = draw(RATES), draw(st.integers(1, 4))
    n = draw(st.sampled_from([0, 1, 2, 3]) | st.integers(0, sr // 2))
    value = draw(special) if subtype in FLOAT_SUBTYPES and n else None    # float samples can hold anything
    return audio_file(ext, subtype, sr, (n, channels), amplitude=draw(st.sampled_from([0.0, 1e-4, 0.5, 1.0])),
                      special=value, corruption=draw(CORRUPTIONS), seed=draw(SEEDS))


def write_av(x: np.ndarray, sr: int, *, codec: str, fmt: str) -> bytes:
    """Samples x (S, C <= 2) float32 encoded with PyAV (ffmpeg) into a `fmt` container, titled in
    Latin-1 as old taggers wrote it (tags need not be UTF-8)."""
    buf, layout = io.BytesIO(), "mono" if x.shape[1] == 1 else "stereo"
    with av.open(buf, "w", format=fmt, metadata_encoding="latin-1") as box:
        box.metadata["title"] = "Café crème"
        stream = box.add_stream(codec, rate=sr)
        stream.layout = layout
        if len(x):
            frame = av.AudioFrame.from_ndarray(np.ascontiguousarray(x.T), format="fltp", layout=layout)
            frame.sample_rate, frame.pts, frame.time_base = sr, 0, Fraction(1, sr)
            box.mux(stream.encode(frame))
        box.mux(stream.encode())
    return buf.getvalue()


def decode_both(path: Path, target: int):
    """load_audio at `target`, at 16 kHz, and log_mel_file of one file: each result or None (InputError)."""
    audio = outcome(lambda: load_audio(path, sample_rate=target), path.name)
    at_16k = audio if target == 16000 else outcome(lambda: load_audio(path), path.name)
    feats = outcome(lambda: log_mel_file(path), path.name)
    # the chunked path agrees with the whole-array one: both succeed with the same frames, or both refuse
    assert (feats is None) == (at_16k is None), "log_mel_file and load_audio disagree on whether the file is usable"
    if feats is not None:
        assert feats.shape == (frame_count(len(at_16k)), 80) and feats.dtype == np.float32
        assert np.isfinite(feats).all()
    return audio


SPECIALS = st.sampled_from([np.nan, np.inf, -np.inf, 3e38, 1e300])


@PROPERTY
@given(audio_files(special=st.none() | SPECIALS), st.sampled_from([16000, 16000, 8000, 44100]))
@example(audio_file("mka", "pcm_f32le", 8000, (34, 1)), 16000)    # PyAV; Latin-1 title; 4.25 ms stored as 4
def test_load_audio_on_any_file_gives_finite_mono_at_the_rate_or_names_the_file(case, target):
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp, f"clip.{case.ext}")
        path.write_bytes(corrupt(case.data, case.corruption, case.seed))
        audio = decode_both(path, target)
    event(f"{case.ext} {case.corruption}: {'refused' if audio is None else 'decoded'}")
    intact = case.corruption == "none" and case.data
    if intact and case.special is None:
        assert audio is not None, "an intact file was refused"
    if audio is None:
        return
    assert audio.ndim == 1 and audio.dtype == np.float32 and np.isfinite(audio).all()
    expected_len = case.shape[0] * target / case.sample_rate
    if case.corruption in ("none", "truncate"):
        assert len(audio) <= expected_len + 2, "more samples than the file holds"
    if intact:
        assert abs(len(audio) - expected_len) <= 2, f"{len(audio)} samples, expected ~{expected_len:.1f}"
        if case.sample_rate == target and case.ext not in ("ogg", "mp3") and case.special is None:  # lossless
            assert np.abs(audio).max(initial=0) <= 1.0


@PROPERTY
@given(audio_files(formats=[("wav", "FLOAT"), ("wav", "DOUBLE"), ("mka", "pcm_f32le")],
                   special=st.sampled_from([np.nan, np.inf, -np.inf])),
       st.sampled_from([16000, 44100]))
@example(audio_file("wav", "FLOAT", 16000, (800, 2), special=np.nan), 16000)
def test_nan_or_inf_in_a_float_file_refuses_it_by_name(case, target):
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp, f"clip.{case.ext}")
        path.write_bytes(case.data)
        audio = decode_both(path, target)
    if case.special is not None:                     # None: an empty file, nowhere to put one
        assert audio is None, "NaN or inf in the file came out as audio"


def test_a_wav_of_a_codec_no_library_decodes_is_refused_by_name(tmp_path):
    """libsndfile does not know format tag 0x7D and ffmpeg opens the file with no decoder for it."""
    data = bytearray(audio_file("wav", "PCM_16", 16000, (800, 1)).data)
    assert data[20:22] == b"\x01\x00"                  # the fmt chunk's format tag: 1 = PCM
    data[20:22] = b"\x7d\x00"
    path = tmp_path / "odd_codec.wav"
    path.write_bytes(bytes(data))
    assert decode_both(path, 16000) is None


# ----------------------------------------------------------------------------- as_samples, check_sample_rate
SAMPLE_DTYPES = ["bool", "int8", "uint8", "int16", "uint16", "int32", "uint32", "int64", "uint64", "float16",
                 "float32", "float64", "complex64", "object", "U3"]


@st.composite
def sample_arrays(draw):
    dtype = np.dtype(draw(st.sampled_from(SAMPLE_DTYPES)))
    shape = tuple(draw(st.lists(st.sampled_from([0, 1, 2, 3, 8, 9, 50]), max_size=3)))
    rng = np.random.default_rng(draw(SEEDS))
    if dtype.kind in "iu":
        info = np.iinfo(dtype)
        return rng.integers(info.min, info.max, shape, dtype=dtype, endpoint=True)
    if dtype.kind == "f":
        a = (rng.uniform(-1, 1, shape) * draw(st.sampled_from([0.5, 1.0, 1.5, 2.0, 2.5, 40000.0, 1e300])))
        if a.size and draw(st.booleans()):
            a.flat[rng.integers(0, a.size)] = draw(st.sampled_from([np.nan, np.inf, -np.inf, -2.0, 2.0]))
        with np.errstate(over="ignore"):
            return a.astype(dtype)
    if dtype.kind == "c":
        return (rng.uniform(-1, 1, shape) + 1j * rng.uniform(-1, 1, shape)).astype(dtype)
    if dtype.kind == "b":
        return rng.random(shape) < 0.5
    if dtype.kind == "U":
        return np.full(shape, "0.5", dtype)
    return rng.uniform(-1, 1, shape).astype(object)


RAGGED = st.sampled_from([None, 0.5, "0.5", [0.1, [0.2, 0.3]], [[0.1, 0.2], [0.3]], [[]], [0.1, None], {"a": 1}])


def usable_samples(a: np.ndarray) -> bool:
    if not (a.ndim == 1 or (a.ndim == 2 and 1 <= a.shape[1] <= 8)):
        return False
    if a.dtype.kind in "iu":
        return a.dtype.itemsize <= 4
    if a.dtype.kind == "f":
        x = a.astype(np.float32)
        return bool(np.isfinite(x).all() and np.abs(x).max(initial=0) <= 2)
    return False


@PROPERTY
@given(sample_arrays() | RAGGED)
@example([0.1, [0.2, 0.3]])                                          # ragged: numpy refuses to make an array
def test_as_samples_gives_mono_float32_in_range_or_names_the_argument(x):
    with np.errstate(over="ignore"):
        out = outcome(lambda: as_samples(x, name="voice"), "voice")
        a = np.asarray(x) if isinstance(x, np.ndarray) else None
        ok = a is not None and usable_samples(a)
    assert (out is not None) == ok, f"{getattr(x, 'dtype', type(x))} {getattr(x, 'shape', '')}: ok={ok}"
    if out is None:
        return
    assert out.shape == (len(a),) and out.dtype == np.float32 and out.flags.c_contiguous
    assert np.isfinite(out).all() and np.abs(out).max(initial=0) <= 1.0
    if a.dtype == np.int16 and a.ndim == 1:
        assert np.array_equal(out, a / np.float32(32768))
    if a.dtype.kind == "f" and a.size and np.abs(a).max() <= 1:
        assert np.allclose(out, a.astype(np.float32).reshape(len(a), -1).mean(1), atol=1e-6)


RATE_VALUES = st.one_of(
    st.integers(-10, 2 * MAX_SAMPLE_RATE), st.integers(), st.floats(), st.booleans(), st.none(),
    st.integers(1, MAX_SAMPLE_RATE).map(float), st.integers(-5, 50000).map(np.int32),
    st.integers(0, 50000).map(np.float32), st.integers(0, 50000).map(np.uint16),
    st.sampled_from(["16000", Fraction(1, 2), complex(16000, 0), [16000], np.array(16000)]))


def whole_rate(v) -> int | None:
    """The rule: a real number (not a bool) that is a whole number of Hz in 1..MAX_SAMPLE_RATE."""
    if isinstance(v, (bool, np.bool_)) or not isinstance(v, (int, float, np.integer, np.floating)):
        return None
    if isinstance(v, (float, np.floating)) and not (math.isfinite(v) and v == int(v)):
        return None
    if not 1 <= v <= MAX_SAMPLE_RATE:
        return None
    return int(v)


@PROPERTY
@given(RATE_VALUES)
@example(10**400)                                                    # too large for a float
@example(np.float32(16000))
def test_check_sample_rate_accepts_whole_hz_and_names_the_argument(v):
    out = outcome(lambda: check_sample_rate(v, name="rate"), "rate")
    assert out == whole_rate(v) and (out is None or type(out) is int)


@PROPERTY
@given(RATE_VALUES)
@example(0)
def test_load_audio_refuses_a_bad_target_rate_by_name(v):
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp, "tone.wav")
        sf.write(path, np.linspace(-0.5, 0.5, 441), 44100, subtype="PCM_16")
        audio = outcome(lambda: load_audio(path, sample_rate=v), "sample_rate")
    assert (audio is not None) == (whole_rate(v) is not None)
    if audio is not None:
        assert audio.dtype == np.float32 and abs(len(audio) - 441 * whole_rate(v) / 44100) <= 2


# ---------------------------------------------------------------------------------------------- labkit.stream

@dataclass
class ChunkedSpeech:
    """One second of speech cut at random places, each piece in a random sample type and layout."""
    cuts: list = field(default_factory=list)
    kinds: list = field(default_factory=list)        # per piece: (dtype name, channels)
    poison: int | None = None                        # a piece that holds a NaN or inf


def _pieces(speech: np.ndarray, case: ChunkedSpeech) -> list:
    out = []
    for k, (piece, (kind, channels)) in enumerate(zip(np.split(speech, case.cuts), case.kinds)):
        if kind == "int16":
            piece = np.round(piece * 32767).astype(np.int16)
        elif kind == "int32":
            piece = np.round(piece.astype(np.float64) * 2 ** 31).clip(-2 ** 31, 2 ** 31 - 1).astype(np.int32)
        else:
            piece = piece.astype(kind)
        if channels > 1:
            piece = np.repeat(piece[:, None], channels, 1)           # the same signal on every channel
        if k == case.poison and len(piece):
            piece = piece.astype(np.float32)
            piece.flat[len(piece.flat) // 2] = np.nan if k % 2 else np.inf
        out.append(piece)
    return out


@st.composite
def chunked_speech(draw):
    n = draw(st.integers(0, 12))
    cuts = sorted(draw(st.lists(st.integers(0, 16000), min_size=n, max_size=n)))
    kinds = draw(st.lists(st.tuples(st.sampled_from(["float32", "float64", "int16", "int32"]), st.integers(1, 3)),
                          min_size=n + 1, max_size=n + 1))
    poison = draw(st.one_of(st.none(), st.integers(0, n)))
    return ChunkedSpeech(cuts, kinds, poison)


@settings(max_examples=12, deadline=None, derandomize=True, database=None,
          suppress_health_check=[HealthCheck.too_slow])
@given(chunked_speech())
def test_stream_takes_chunks_of_any_size_type_and_layout_or_names_the_bad_one(case):
    """Whatever the cuts, sample types and channel counts, the frames and the content id are those of
    the speech as float32 samples in one piece; a piece holding NaN or inf is refused, naming it."""
    anim, speech, reference, cid = _stream_reference()
    pieces = _pieces(speech, case)
    poisoned = case.poison is not None and len(pieces[case.poison]) > 0
    frames = outcome(lambda: np.stack(list(anim.stream(pieces))), f"audio chunk {case.poison}")
    if poisoned:
        assert frames is None
        return
    assert frames is not None and frames.shape == reference.shape
    exact = all(kind.startswith("float") and channels <= 2 for kind, channels in case.kinds)
    if exact:                                       # the same float32 samples: the same frames, the same id
        assert anim.stream_content_id == cid
        np.testing.assert_array_equal(frames, reference)
    else:                                           # integer PCM and 3-channel means round the samples a little
        assert np.abs(frames.astype(np.float32) - reference).mean() < 4.0  # and the watermark of another id


_REFERENCE = {}


def _stream_reference():
    """A stream of one second of speech through a tiny generator (frames at 128 px), computed once."""
    if not _REFERENCE:
        import torch

        from labkit.motion.config import make_config
        from labkit.motion.dit import MotionDiT
        from labkit.motion.generator import MotionGenerator
        from labkit.pipeline import Animator, default_speech
        from labkit.synthtalk.factors import FACTOR_NAMES

        torch.manual_seed(0)
        gen = MotionGenerator(MotionDiT(make_config("tiny", motion_dim=len(FACTOR_NAMES))), steps=1)
        anim = Animator(None, resolution=128, renderer="landmarks", generator=gen)
        speech = default_speech()[4000:20000]
        frames = np.stack(list(anim.stream([speech])))
        _REFERENCE.update(anim=anim, speech=speech, frames=frames, cid=anim.stream_content_id)
    r = _REFERENCE
    return r["anim"], r["speech"], r["frames"], r["cid"]
