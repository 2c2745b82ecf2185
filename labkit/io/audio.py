"""Audio in, features out: any file to mono float32, and log-mel features at the video rate.

VASA-1 conditions its motion generator on one audio feature vector per video frame
(paper §3.2, the audio condition `a`; the paper uses wav2vec2). labkit's default is a
log-mel spectrogram whose frame t lines up with video frame t, in the timing convention
of `labkit.synthtalk.motion`: frame t covers the samples [round(t*sr/fps), round((t+1)*sr/fps))
and describes the face at its centre time (t + 0.5) / fps. So the analysis window of frame t
is centred on that time:

    centre sample  c_t = round((t + 0.5) * sr / fps)      (exact fractions, half up: no drift at 29.97 fps)
    window         [c_t - win//2, c_t - win//2 + win)     (Hann, peak at c_t; zeros outside the signal)
    frames         T = ceil(S * fps / sr)

At 25 fps and 16 kHz the hop is 640 samples and c_t = 640 t + 320. One function
(`_featurise`) cuts and transforms the frames for `log_mel` (whole arrays, training),
`StreamingLogMel` (chunks, live) and `log_mel_file` (hours of audio in bounded memory),
so all three give the same features.

Decoding (`load_audio`): soundfile (libsndfile: wav, flac, ogg, mp3, ...) first, PyAV
(ffmpeg: m4a/aac, the audio track of mp4/mov/webm, ...) when libsndfile does not know the
format. A damaged file that still decodes in part is returned as far as it decodes, with a
logging warning. Truncation is detected against the length the header declares (WAV data
chunk, FLAC/Xing-mp3/mp4 durations); a cut CBR mp3 without a Xing header just looks shorter.
Shapes: S samples, T frames (glossary in labkit/__init__.py).
"""
from __future__ import annotations

import contextlib
import logging
import math
import os
import re
from dataclasses import dataclass
from fractions import Fraction
from functools import lru_cache
from pathlib import Path
from typing import Iterator

import librosa
import numpy as np
import soundfile as sf
import soxr

from labkit.io.errors import InputError

# PyAV (compressed audio) and transformers (wav2vec2) are imported where they are used: PyAV is missing
# from some GPU images and transformers is optional, and importing labkit needs neither.

log = logging.getLogger(__name__)

_BLOCK = 256  # frames transformed at once: bounds the temporary (N, n_fft) arrays


# ----------------------------------------------------------------------------- decoding
def load_audio(path: str | os.PathLike, *, sample_rate: int = 16000) -> np.ndarray:
    """Decode any audio file (or a video's audio track) to mono (S,) float32 at `sample_rate`.

    Channels are averaged; any sample format (8-bit unsigned .. 32-bit int, float) is scaled
    to [-1, 1]; other rates are resampled with soxr (HQ). Raises FileNotFoundError for a missing
    path and InputError (a ValueError) naming the file when it is not audio, has no audio stream,
    holds NaN, inf or unscaled samples or is too damaged to decode, or naming `sample_rate` when
    that is not a whole number of Hz. Truncated files and silent audio are returned with a logging
    warning.
    """
    sample_rate = check_sample_rate(sample_rate)
    path = _check_file(path)
    chunks, sr = [], sample_rate
    for chunk, sr in _decode(path, block_seconds=60.0):
        chunks.append(chunk)
    audio = np.concatenate(chunks) if chunks else np.zeros(0, np.float32)
    if sr != sample_rate and len(audio):
        audio = soxr.resample(audio, sr, sample_rate, quality="HQ")
    if is_silent(audio):
        log.warning("%s is silent (RMS below -60 dBFS, %d samples)", path, len(audio))
    return audio.astype(np.float32, copy=False)


SILENCE_DB = -60.0  # RMS level (dBFS) below which audio counts as silent


def is_silent(audio: np.ndarray, *, threshold_db: float = SILENCE_DB) -> bool:
    """True if the RMS level of `audio` (S,) lies below `threshold_db` dBFS (empty audio is silent)."""
    audio = np.asarray(audio, np.float64)
    return energy_is_silent(float(np.dot(audio, audio)), audio.size, threshold_db=threshold_db)


def energy_is_silent(sumsq: float, num_samples: int, *, threshold_db: float = SILENCE_DB) -> bool:
    """:func:`is_silent` from the sum of squared samples and their count (audio read in chunks)."""
    return num_samples == 0 or sumsq <= 0.0 or 10 * math.log10(sumsq / num_samples) < threshold_db


MAX_SAMPLE_RATE = 768_000   # Hz: anything higher is not audio labkit can use
MAX_FILE_PEAK = 100.0       # a file's samples beyond ±100 (+40 dBFS) are not audio scaled to [-1, 1]


def as_samples(x, *, name: str = "audio") -> np.ndarray:
    """Samples a caller hands over → mono float32 (S,) in [-1, 1], or an :class:`InputError` naming `name`.

    Accepts mono (S,) or interleaved (S, C) with C <= 8 channels (averaged); float samples as they
    are (peaks up to 2 are clipped to [-1, 1] with a warning: more means unscaled integer PCM), and
    integer PCM scaled by its type's full scale: int8/16/32 by 2^7/2^15/2^31, uint8 and uint16
    centred first (WAV's 8-bit convention). 64-bit integers are refused: their scale is unknown.
    """
    try:
        x = np.asarray(x)
    except (TypeError, ValueError) as e:  # ragged nested lists
        raise InputError(f"{name}: not an array of samples ({e})") from None
    kind = x.dtype.kind
    if kind == "f":
        x = x.astype(np.float32, copy=False)
        if not np.isfinite(x).all():
            raise InputError(f"{name} has non-finite samples (NaN or inf)")
        peak = float(np.abs(x).max()) if x.size else 0.0
        if peak > 2.0:
            raise InputError(f"{name}: float samples must lie in [-1, 1], got a peak of {peak:.4g} "
                             "(integer PCM stored as float? divide by its full scale, e.g. 32768)")
        if peak > 1.0:
            log.warning("%s peaks at %.3f: clipped to [-1, 1]", name, peak)
            x = np.clip(x, -1.0, 1.0)
    elif kind in "iu" and x.dtype.itemsize <= 4:
        bits = 8 * x.dtype.itemsize
        centre = 2.0 ** (bits - 1) if kind == "u" else 0.0
        x = ((x.astype(np.float64) - centre) / 2.0 ** (bits - 1)).astype(np.float32)
    else:
        raise InputError(f"{name}: samples must be float (in [-1, 1]) or int8/16/32 PCM, got dtype {x.dtype}")
    if x.ndim == 2 and 1 <= x.shape[1] <= 8:
        x = x.mean(1, dtype=np.float32) if x.shape[1] > 1 else x[:, 0]
    elif x.ndim != 1:
        raise InputError(f"{name} must be mono samples (S,) or interleaved (S, C) with at most 8 channels, "
                         f"got shape {x.shape}")
    return np.ascontiguousarray(x, np.float32)


def check_sample_rate(sample_rate, *, name: str = "sample_rate") -> int:
    """A sample rate as a positive whole number of Hz, or an InputError."""
    if isinstance(sample_rate, bool) or not isinstance(sample_rate, (int, float, np.integer, np.floating)) \
            or not 1 <= sample_rate <= MAX_SAMPLE_RATE or sample_rate != int(sample_rate):  # NaN fails the range
        raise InputError(f"{name} must be a whole number of Hz in 1..{MAX_SAMPLE_RATE}, got {sample_rate!r}")
    return int(sample_rate)


def _check_file(path: str | os.PathLike) -> Path:
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"no audio file at {path}")
    if not path.is_file():
        raise InputError(f"{path} is not a file")
    if path.stat().st_size == 0:
        raise InputError(f"{path} is not an audio file (empty file)")
    return path


def _decode(path: Path, *, block_seconds: float) -> Iterator[tuple[np.ndarray, int]]:
    """Yields (chunk (n,) float32 mono, sample rate) in file order, about `block_seconds` each.

    A float file can hold anything: NaN, inf or unscaled values refuse the file rather than spread
    through the resampler and the features. Lossy codecs overshoot 1 a little (full-scale noise
    decodes to peaks near 2), far below MAX_FILE_PEAK."""
    with contextlib.closing(_decode_any(path, block_seconds=block_seconds)) as chunks:  # closes the file early
        for chunk, sr in chunks:
            peak = float(np.abs(chunk).max()) if len(chunk) else 0.0
            if not peak <= MAX_FILE_PEAK:  # also NaN
                raise InputError(f"{path} holds samples that are not audio: a peak of {peak:.4g} (NaN, inf, "
                                 "or far outside [-1, 1]: integer PCM stored as float?)")
            yield chunk, sr


def _decode_any(path: Path, *, block_seconds: float) -> Iterator[tuple[np.ndarray, int]]:
    """`_decode` without the range check: soundfile first, PyAV for what libsndfile does not know."""
    try:
        f = sf.SoundFile(path)
    except RuntimeError as sf_error:  # libsndfile does not know this format: let ffmpeg try
        yield from _decode_av(path, block_seconds=block_seconds, sf_error=sf_error)
        return
    with f:
        # libsndfile quietly shortens a WAV whose data chunk is cut; its log still tells
        m = re.search(r"^data\s*:\s*(\d+) \(should be (\d+)\)", f.extra_info, re.M)
        if m and int(m[2]) < int(m[1]) < 0xFFFFFFFF:
            log.warning("%s looks truncated: its header declares %s bytes of audio but only %s are there; "
                        "returning the %.2f s present", path, m[1], m[2], f.frames / f.samplerate)
        done, block = 0, max(1, int(block_seconds * f.samplerate))
        try:  # not f.blocks(): it pads a short read (a cut mp3) with stale samples
            while len(x := f.read(block, dtype="float32", always_2d=True)):  # (n, channels)
                done += len(x)
                yield (x[:, 0] if x.shape[1] == 1 else x.mean(1)), f.samplerate
        except RuntimeError as e:
            _decode_failed(path, done, f.samplerate, e)
        if 0 < done < f.frames:
            _warn_truncated(path, done / f.samplerate, f.frames / f.samplerate)


def _decode_av(path: Path, *, block_seconds: float, sf_error: Exception) -> Iterator[tuple[np.ndarray, int]]:
    import av  # PyAV only for what soundfile cannot read

    try:
        box = av.open(str(path), metadata_errors="replace")  # tags that are not UTF-8 (old Latin-1 files) are fine
    except av.error.FFmpegError as e:
        raise InputError(f"{path} is not an audio file (soundfile: {sf_error}; ffmpeg: {e}), "
                         "or is too damaged to open") from None
    with box:
        if not box.streams.audio:
            kinds = ", ".join(s.type for s in box.streams) or "none"
            raise InputError(f"{path} has no audio stream (streams: {kinds})")
        st = box.streams.audio[0]
        if st.codec_context is None or not st.rate:  # a codec ffmpeg has no decoder for, or no sample rate
            raise InputError(f"{path} is not an audio file labkit can decode (soundfile: {sf_error}; "
                             "ffmpeg: no decoder for its audio stream)")
        sr = st.rate
        # The header's length: AAC/MP3 decoders drop the encoder's priming themselves,
        # but AAC pads its last packet, which this length cuts off. A length counted in ticks
        # of `tick` seconds (Matroska counts whole ms) may fall short of the audio by up to
        # a tick, so samples within that tick are kept: declared = ceil((length + tick) sr) - 1.
        length = tick = None
        if st.duration:
            length, tick = st.duration * st.time_base, st.time_base
        elif box.duration:
            length, tick = Fraction(box.duration, av.time_base), Fraction(1, 1000)
        declared = None if length is None else math.ceil((length + tick) * sr) - 1
        to_float = av.AudioResampler(format="fltp")  # any sample format -> planar float, same rate
        pending, done, yielded, block = [], 0, 0, max(1, int(block_seconds * sr))
        try:
            for frame in box.decode(st):
                for g in to_float.resample(frame):
                    x = g.to_ndarray().mean(0, dtype=np.float32)  # (channels, n) -> (n,)
                    x = x if declared is None else x[:max(0, declared - done)]
                    pending.append(x)
                    done += len(x)
                if done - yielded >= block:
                    yield np.concatenate(pending), sr
                    pending, yielded = [], done
        except av.error.FFmpegError as e:
            _decode_failed(path, done, sr, e)
        if pending:
            yield np.concatenate(pending), sr
        if declared and declared - done > 0.05 * sr:
            _warn_truncated(path, done / sr, declared / sr)


def _decode_failed(path: Path, done: int, sr: int, error: Exception) -> None:
    if done == 0:
        raise InputError(f"{path} is corrupt: no audio could be decoded ({error})") from None
    log.warning("%s is damaged: decoding stopped after %.2f s (%s); returning what decoded",
                path, done / sr, error)


def _warn_truncated(path: Path, got: float, declared: float) -> None:
    log.warning("%s looks truncated: %.2f s decoded of the %.2f s its header declares; "
                "returning what decoded", path, got, declared)


# ----------------------------------------------------------------------------- log-mel
@dataclass(frozen=True)
class MelFeatures:
    """Log-mel features, one vector per video frame (the hop is fixed by fps: sr / fps)."""
    sample_rate: int = 16000  # Hz; audio is resampled to this first
    fps: float = 25.0  # video frames per second: one feature vector per frame (30, 29.97, ... work)
    n_mels: int = 80  # mel bands
    win_length: int = 400  # Hann analysis window in samples (25 ms at 16 kHz)
    n_fft: int = 512  # FFT size; the window is zero-padded to it
    fmin: float = 55.0  # Hz, lowest mel band edge
    fmax: float = 7600.0  # Hz, highest mel band edge
    log_floor: float = 1e-5  # mel power is clamped here before the log (floor = log(1e-5) = -11.5)

    def __post_init__(self):
        if not (self.fps > 0 and self.sample_rate > 0):
            raise ValueError(f"fps and sample_rate must be positive: {self}")
        if not (0 < self.win_length <= self.n_fft):
            raise ValueError(f"need 0 < win_length <= n_fft: {self}")
        if not (0 <= self.fmin < self.fmax <= self.sample_rate / 2):
            raise ValueError(f"need 0 <= fmin < fmax <= sr/2: {self}")

    @property
    def hop_length(self) -> float:
        """Samples per video frame (640.0 at 25 fps and 16 kHz; not whole at 30 or 29.97 fps)."""
        return self.sample_rate / self.fps


@lru_cache(maxsize=8)
def _analysis(cfg: MelFeatures) -> tuple[np.ndarray, np.ndarray]:
    """Mel filterbank (n_mels, n_fft//2 + 1) and periodic Hann window (win_length,), both float64."""
    mel = librosa.filters.mel(sr=cfg.sample_rate, n_fft=cfg.n_fft, n_mels=cfg.n_mels,
                              fmin=cfg.fmin, fmax=cfg.fmax, dtype=np.float64)
    return mel, librosa.filters.get_window("hann", cfg.win_length, fftbins=True)


def _fps(fps: float) -> tuple[int, int]:
    r = Fraction(fps).limit_denominator(1001)  # 29.97 -> 2997/100, 30000/1001 stays exact
    return r.numerator, r.denominator


def frame_count(num_samples: int, *, sample_rate: int = 16000, fps: float = 25.0) -> int:
    """T = ceil(S * fps / sr): the video frames that S samples span (exact fractions, any fps)."""
    p, q = _fps(fps)
    return -(-num_samples * p // (sample_rate * q))


def _count(num_samples: int, cfg: MelFeatures) -> int:
    return frame_count(num_samples, sample_rate=cfg.sample_rate, fps=cfg.fps)


def window_starts(t: np.ndarray, cfg: MelFeatures = MelFeatures()) -> np.ndarray:
    """First sample of the analysis window of frames t (T,) int: round((t + 0.5) sr / fps) - win//2."""
    p, q = _fps(cfg.fps)
    centre = ((2 * np.asarray(t, np.int64) + 1) * cfg.sample_rate * q + p) // (2 * p)  # half up
    return centre - cfg.win_length // 2


def _featurise(x: np.ndarray, x_start: int, starts: np.ndarray, cfg: MelFeatures) -> np.ndarray:
    """Log-mel (N, n_mels) float32 of the windows at `starts` (N,), cut from x, which holds the
    samples [x_start, x_start + len(x)) of the signal; every other sample counts as zero."""
    mel, window = _analysis(cfg)
    out = np.empty((len(starts), cfg.n_mels), np.float32)
    offsets = np.arange(cfg.win_length)
    for i in range(0, len(starts), _BLOCK):
        idx = starts[i:i + _BLOCK, None] - x_start + offsets  # (N, win) positions in x
        inside = (idx >= 0) & (idx < len(x))
        frames = np.where(inside, x[np.clip(idx, 0, len(x) - 1)], 0.0) if len(x) else np.zeros(idx.shape)
        power = np.abs(np.fft.rfft(frames * window, n=cfg.n_fft)) ** 2  # (N, n_fft//2 + 1)
        out[i:i + _BLOCK] = np.log(np.maximum(power @ mel.T, cfg.log_floor))
    return out


def log_mel(audio: np.ndarray, cfg: MelFeatures = MelFeatures(), *, num_frames: int | None = None) -> np.ndarray:
    """Log-mel features (T, n_mels) float32 of mono audio (S,) at cfg.sample_rate, one per video frame.

    T = ceil(S * fps / sr) unless `num_frames` is given (frames past the audio see zeros).
    """
    audio = np.asarray(audio, np.float32)
    if audio.ndim != 1:
        raise ValueError(f"audio must be mono (S,), got shape {audio.shape}")
    T = _count(len(audio), cfg) if num_frames is None else int(num_frames)
    return _featurise(audio, 0, window_starts(np.arange(T), cfg), cfg)


class StreamingLogMel:
    """`log_mel` of audio that arrives in chunks of any size, identical to that of the whole.

    push(chunk (n,)) -> (t, n_mels): the frames whose window now lies fully inside the audio
    received (a frame comes out win_length - win_length//2 samples, 12.5 ms, after its centre).
    flush() -> (t', n_mels): the remaining frames up to T = ceil(S * fps / sr), zero-padded
    past the end; it also resets the stream for the next utterance.
    Memory stays at about one chunk plus one window, whatever the length of the stream.
    """

    def __init__(self, cfg: MelFeatures = MelFeatures()):
        self.cfg = cfg
        self.reset()

    def reset(self) -> None:
        self.num_samples = 0  # S received so far
        self.num_frames = 0  # frames emitted so far
        self._buf = np.zeros(0, np.float32)  # the samples [self._buf_start, self.num_samples)
        self._buf_start = 0

    def push(self, chunk: np.ndarray) -> np.ndarray:
        chunk = np.asarray(chunk, np.float32)
        if chunk.ndim != 1:
            raise ValueError(f"chunk must be mono (n,), got shape {chunk.shape}")
        self._buf = np.concatenate([self._buf, chunk])
        self.num_samples += len(chunk)
        t = np.arange(self.num_frames, _count(self.num_samples, self.cfg))
        complete = window_starts(t, self.cfg) + self.cfg.win_length <= self.num_samples
        return self._emit(self.num_frames + int(complete.sum()))  # starts grow with t: a prefix

    def flush(self) -> np.ndarray:
        out = self._emit(_count(self.num_samples, self.cfg))
        self.reset()
        return out

    def _emit(self, stop: int) -> np.ndarray:
        starts = window_starts(np.arange(self.num_frames, stop), self.cfg)
        out = _featurise(self._buf, self._buf_start, starts, self.cfg)
        self.num_frames = stop
        needed = int(window_starts(np.array([stop]), self.cfg)[0])  # first sample a later frame reads
        drop = int(np.clip(needed - self._buf_start, 0, len(self._buf)))
        self._buf, self._buf_start = self._buf[drop:], self._buf_start + drop
        return out


def audio_seconds(path: str | os.PathLike) -> float | None:
    """The duration a file's header declares, without decoding (for progress bars); None when it
    declares none or cannot be read (the decoder then says why)."""
    try:
        return float(sf.info(str(path)).duration)
    except (RuntimeError, OSError):
        pass
    import av

    try:
        with av.open(str(path), metadata_errors="replace") as box:
            return box.duration / av.time_base if box.duration else None
    except (av.error.FFmpegError, OSError, ValueError):
        return None


def iter_audio(path: str | os.PathLike, *, sample_rate: int = 16000,
               chunk_seconds: float = 30.0) -> Iterator[np.ndarray]:
    """`load_audio(path)` chunk by chunk: mono float32 chunks (n,) at `sample_rate`, about `chunk_seconds`
    each, holding one chunk at a time. Resampling streams through soxr, which gives the same samples as
    resampling the whole; the same errors as :func:`load_audio`."""
    sample_rate = check_sample_rate(sample_rate)
    path = _check_file(path)
    resampler = None
    for chunk, sr in _decode(path, block_seconds=chunk_seconds):
        if sr != sample_rate:
            resampler = resampler or soxr.ResampleStream(sr, sample_rate, 1, dtype="float32", quality="HQ")
            chunk = resampler.resample_chunk(chunk)
        yield chunk
    if resampler is not None:
        yield resampler.resample_chunk(np.zeros(0, np.float32), last=True)


def log_mel_file(path: str | os.PathLike, cfg: MelFeatures = MelFeatures(), *,
                 chunk_seconds: float = 30.0) -> np.ndarray:
    """`log_mel(load_audio(path))` (T, n_mels) float32, decoded and featurised chunk by chunk.

    Holds about one chunk of audio at a time (plus the features), so hour-long files fit.
    """
    stream, feats, sumsq = StreamingLogMel(cfg), [], 0.0
    for chunk in iter_audio(path, sample_rate=cfg.sample_rate, chunk_seconds=chunk_seconds):
        sumsq += float(np.dot(chunk, chunk))
        feats.append(stream.push(chunk))
    S = stream.num_samples
    feats.append(stream.flush())
    if energy_is_silent(sumsq, S):
        log.warning("%s is silent (RMS below -60 dBFS, %d samples)", path, S)
    return np.concatenate(feats)


# ----------------------------------------------------------------------------- wav2vec2
_W2V_WEIGHTS = ("model.safetensors", "pytorch_model.bin",  # or a sharded checkpoint's index:
                "model.safetensors.index.json", "pytorch_model.bin.index.json")


def wav2vec2_features(audio: np.ndarray, *, model_dir: str | os.PathLike, fps: float = 25.0, layer: int = -1,
                      sample_rate: int = 16000, num_frames: int | None = None, device: str = "cpu") -> np.ndarray:
    """wav2vec2 hidden states (T, D) float32 of mono audio (S,), resampled to one per video frame.

    The paper's audio encoder (VASA-1 §3.2). Optional: needs `transformers` and a checkpoint
    saved in `model_dir` (never downloads). `layer` indexes `hidden_states` (0 = the CNN
    features, -1 = the last transformer layer). The model's 50 Hz frames (receptive field 400
    samples, stride 320, so frame j is centred on (320 j + 200) / 16000 s) are linearly
    interpolated to the video frame centres (t + 0.5) / fps; T = ceil(S * fps / sr).
    """
    model_dir = Path(model_dir)
    missing = [n for n in ("config.json",) if not (model_dir / n).is_file()]
    if not any((model_dir / n).is_file() for n in _W2V_WEIGHTS):
        missing.append(" or ".join(_W2V_WEIGHTS[:2]))
    if missing:
        raise FileNotFoundError(
            f"no wav2vec2 checkpoint in {model_dir} (missing {', '.join(missing)}). Fetch one once on a machine "
            f"with internet, e.g. `huggingface-cli download facebook/wav2vec2-base-960h --local-dir {model_dir}`"
            f", or save a loaded model with `model.save_pretrained('{model_dir}')`.")
    try:
        import torch
        from transformers import Wav2Vec2Model
    except ImportError as e:
        raise ImportError(f"wav2vec2_features needs the optional package `transformers` ({e}); "
                          "install it with `pip install transformers`.") from e
    audio = np.asarray(audio, np.float32)
    if audio.ndim != 1:
        raise ValueError(f"audio must be mono (S,), got shape {audio.shape}")
    x = soxr.resample(audio, sample_rate, 16000, quality="HQ") if sample_rate != 16000 else audio
    if len(x) < 400:
        raise ValueError(f"wav2vec2 needs at least 400 samples (25 ms) at 16 kHz, got {len(x)}")
    x = (x - x.mean()) / np.sqrt(x.var() + 1e-7)  # as Wav2Vec2FeatureExtractor(do_normalize=True)
    model = Wav2Vec2Model.from_pretrained(str(model_dir), local_files_only=True).eval().to(device)
    with torch.no_grad():
        out = model(torch.from_numpy(x)[None].to(device), output_hidden_states=True)
    h = out.hidden_states[layer][0].float().cpu().numpy()  # (N, D) at 50 Hz
    T = frame_count(len(audio), sample_rate=sample_rate, fps=fps) if num_frames is None else int(num_frames)
    return resample_frames(h, (320 * np.arange(len(h)) + 200) / 16000, (np.arange(T) + 0.5) / fps)


def resample_frames(h: np.ndarray, src_times: np.ndarray, dst_times: np.ndarray) -> np.ndarray:
    """Linear interpolation of features h (N, D) at times src_times (N,) to dst_times (T,): (T, D)
    float32; times outside [src_times[0], src_times[-1]] take the edge frame."""
    return np.stack([np.interp(dst_times, src_times, column) for column in np.asarray(h).T], 1).astype(np.float32)
