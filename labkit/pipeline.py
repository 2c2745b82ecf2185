"""``labkit.animate`` and ``labkit.stream``: one portrait + one speech clip → a talking-face video,
VASA-1 end to end (§3), watermarked.

    audio ─ log-mel ─┐
    controls ────────┼─ motion generator (diffusion transformer, §3.2) ─ motion ─ renderer ─ watermark ─ video
    portrait ────────┘                                                   (per frame)

Two renderers turn the same kind of motion into pixels:

- ``latent``: the face latent model (§3.1) encodes the portrait once and decodes each frame's pose
  and dynamics codes, made by the motion generator trained on those codes. For SynthTalk-domain
  portraits (the model has seen nothing else); output drawn at 128 px and resized.
- ``landmarks``: any photo, offline (:mod:`labkit.render.landmarks`): the motion generator trained
  on SynthTalk's factors drives the photo's landmarks through a map learned on SynthTalk, and the
  photo is warped to follow them. By default the output is the whole photo at its own size (longer
  side at most MAX_SIDE), only the head region moving (:mod:`labkit.render.photo`); ``crop=True``
  gives the aligned square crop at ``resolution`` instead.

``renderer="auto"`` picks ``latent`` only when it can move a face: the portrait must be from its
domain (SynthTalk) *and* the face latent checkpoint's dynamics code must carry expression (its
probe R² of jaw, blink, brow and gaze at least MIN_DYN_R2, from the checkpoint's evaluation).
Otherwise it picks ``landmarks`` and says why.

Every frame carries labkit's invisible watermark (:mod:`labkit.provenance.watermark`) with a content id
derived from the inputs, and the mp4 a metadata tag with the same; ``watermark=False`` exists
for research on the watermark itself and logs a warning each time. The content id is a hash of the
portrait's pixels, the controls, the renderer and the speech's first window (the audio the motion
generator needs before it makes its first frame, about 2 s): a stream knows exactly that much when
its first frame is marked, so ``animate`` and ``stream`` give the same inputs the same id.

Every input is checked before any work starts (speech first, then the portrait), and bad input
raises :class:`labkit.io.errors.InputError` naming it.
"""
from __future__ import annotations

import hashlib
import logging
import os
import time
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Iterable, Iterator

import numpy as np
import soxr
from threadpoolctl import ThreadpoolController
from tqdm.auto import tqdm

from labkit.faces.image import as_rgb
from labkit.io.audio import (
    StreamingLogMel,
    as_samples,
    audio_seconds,
    check_sample_rate,
    energy_is_silent,
    iter_audio,
    load_audio,
    log_mel,
)
from labkit.io.errors import InputError
from labkit.io.video import VideoWriter, write_video
from labkit.io.weights import FACE_LATENT, MOTION, eval_record
from labkit.motion.blinks import BlinkAxis, BlinkConfig
from labkit.motion.config import ANIMATE_CFG_AUDIO, DEFAULT_CFG_EMOTION
from labkit.motion.data import emotion_offset
from labkit.motion.diffusion import Guidance
from labkit.motion.generator import MotionGenerator
from labkit.provenance.watermark import Watermark
from labkit.render.landmarks import LandmarkRenderer, prepare
from labkit.render.latent import LatentRenderer
from labkit.render.photo import MAX_SIDE, PhotoRenderer, fit_photo, fit_points
from labkit.synthtalk import neutral_factors, render, sample_identity, split_identities
from labkit.synthtalk.dataset import split_sentences, split_voices
from labkit.synthtalk.factors import EMOTIONS, FACTOR_NAMES
from labkit.synthtalk.speech import Voice, synthesize
from labkit.version import __version__

log = logging.getLogger(__name__)

FPS = 25.0
SAMPLE_RATE = 16000                       # the motion generator's audio rate
RESOLUTIONS = (128, 256, 512)
RENDERERS = ("auto", "latent", "landmarks")
GAZE_RANGE = {"pitch": (-20.0, 20.0), "yaw": (-30.0, 30.0)}   # degrees; SynthTalk's commanded gaze stays inside
DISTANCE_RANGE = (0.8, 1.25)              # SynthTalk's head-to-camera distances (1 = nominal framing)
MIN_DYN_R2 = 0.5                          # auto: the latent renderer needs a dynamics code at least this expressive
MEMORY_FRACTION = 0.5                     # offline frames may take at most this share of the free memory
DEFAULT_SENTENCES = (0, 1)                # the bundled English test sentences the default clip speaks
MOTION_SCALE = (0.0, 2.0)                 # the head-motion scale a user may ask for
MIN_SPEECH_SECONDS = 0.2                  # shorter audio holds no speech to animate (5 frames)
CHUNK_SECONDS = 30.0                      # a speech file is decoded this much at a time
HEAD_SECONDS = 10.0                       # speech kept from a file read in passes: covers the content id's window
MAX_SEED = 2 ** 63 - 1                    # seeds are int64 for torch and numpy
_INTENSITY = FACTOR_NAMES.index("emotion_intensity")


# ---------------------------------------------------------------------------- inputs

@dataclass(frozen=True)
class Controls:
    """VASA-1's optional control signals (§3.2) and the sampler's settings; None = left to the model."""
    gaze: tuple[float, float] | None = None      # main eye direction (pitch, yaw), degrees
    distance: float | None = None                # head-to-camera distance, 1 = nominal
    emotion: str | None = None                   # one of EMOTIONS
    intensity: float = 1.0                       # emotion intensity 0..1
    cfg_audio: float = ANIMATE_CFG_AUDIO         # classifier-free guidance scale of the audio (1 = none)
    cfg_gaze: float = 1.0                        # … of the gaze command
    cfg_emotion: float = DEFAULT_CFG_EMOTION     # … of the emotion against neutral (the face, not the head)
    steps: int | None = None                     # sampling steps (None: the checkpoint's default)
    seed: int = 0
    motion_scale: float = 1.0                    # head motion about the portrait's pose: 0 still, 1 as made, 2 double

    def __post_init__(self):
        if self.gaze is not None:
            if len(self.gaze) != 2 or not np.isfinite(self.gaze).all():
                raise ValueError(f"gaze must be two finite angles (pitch, yaw) in degrees, got {self.gaze}")
            for (name, (lo, hi)), v in zip(GAZE_RANGE.items(), self.gaze):
                if not lo <= v <= hi:
                    raise ValueError(f"gaze {name} {v:g}° is out of range [{lo:g}, {hi:g}]°")
        if self.distance is not None and not DISTANCE_RANGE[0] <= self.distance <= DISTANCE_RANGE[1]:
            raise ValueError(f"distance {self.distance:g} is out of range {DISTANCE_RANGE} (1 = nominal framing)")
        if self.emotion is not None and self.emotion not in EMOTIONS:
            raise ValueError(f"unknown emotion {self.emotion!r}; choose one of {', '.join(EMOTIONS)}")
        if not 0.0 <= self.intensity <= 1.0:
            raise ValueError(f"emotion intensity must be in [0, 1], got {self.intensity:g}")
        if self.steps is not None and (not _whole(self.steps) or self.steps < 1):
            raise ValueError(f"steps must be a whole number >= 1, got {self.steps!r}")
        if not _whole(self.seed) or not 0 <= self.seed <= MAX_SEED:
            raise ValueError(f"seed must be a whole number in 0..2**63-1, got {self.seed!r}")
        if not (np.isfinite(self.motion_scale) and MOTION_SCALE[0] <= self.motion_scale <= MOTION_SCALE[1]):
            raise ValueError(f"motion_scale must be in [{MOTION_SCALE[0]:g}, {MOTION_SCALE[1]:g}] (1 = the head motion "
                             f"as generated, 0 = a still head), got {self.motion_scale:g}")
        for name in ("cfg_audio", "cfg_gaze", "cfg_emotion"):
            v = getattr(self, name)
            if not (np.isfinite(v) and v >= 0):
                raise ValueError(f"{name} must be a finite guidance scale >= 0 (1 = none), got {v:g}")

    @property
    def emotion_index(self) -> int:
        return EMOTIONS.index(self.emotion) if self.emotion else 0

    def commands(self) -> dict:
        """Keyword arguments of MotionGenerator.generate/stream."""
        emo = None
        if self.emotion is not None:
            emo = emotion_offset(np.array([self.emotion_index]), np.array([self.intensity], np.float32))[0]
        return {"gaze": None if self.gaze is None else np.asarray(self.gaze, np.float32),
                "distance": self.distance, "emotion": emo, "seed": self.seed, "steps": self.steps}


def given_landmarks(points, shape: tuple) -> np.ndarray:
    """A user's 68 landmarks (a (68, 2) array, or a text/CSV/.npy file of 68 rows x, y) checked against the
    image `shape` (H, W, ...) → (68, 2) float64."""
    name = "landmarks"
    if isinstance(points, (str, os.PathLike)):
        name, path = Path(points).name, Path(points)
        try:
            points = np.load(path) if path.suffix == ".npy" else np.loadtxt(path, delimiter="," if path.suffix ==
                                                                          ".csv" else None)
        except (OSError, ValueError) as e:
            raise InputError(f"cannot read the landmarks in {name}: {e}") from None
    p = np.asarray(points, np.float64)
    if p.shape != (68, 2) or not np.isfinite(p).all():
        raise InputError(f"{name} must hold 68 finite (x, y) points, iBUG order; got shape {p.shape}")
    H, W = shape[:2]
    if (p < -0.5).any() or (p[:, 0] > W - 0.5).any() or (p[:, 1] > H - 0.5).any():
        raise InputError(f"{name} has points outside the {W}x{H} image")
    return p


def _whole(v) -> bool:
    return isinstance(v, (int, np.integer)) and not isinstance(v, bool)


def parse_emotion(text: str) -> tuple[str, float]:
    """"happy" or "happy:0.6" → ("happy", 0.6); a clear error for anything else."""
    name, _, level = text.partition(":")
    if name not in EMOTIONS:
        raise ValueError(f"unknown emotion {name!r}; choose one of {', '.join(EMOTIONS)}")
    try:
        intensity = float(level) if level else 1.0
    except ValueError:
        raise ValueError(f"emotion intensity must be a number in [0, 1], got {level!r}") from None
    return name, intensity


def load_speech(audio, sample_rate: int | None = None) -> np.ndarray:
    """A path, or samples at `sample_rate` (default 16 kHz; see :func:`labkit.io.audio.as_samples`
    for the dtypes and shapes taken) → mono float32 at 16 kHz, checked: InputError for audio that
    is empty, shorter than MIN_SPEECH_SECONDS, non-finite or silent."""
    if isinstance(audio, (str, os.PathLike)):
        if sample_rate is not None:
            raise InputError("sample_rate is for sample arrays; a file's rate is read from the file")
        x = load_audio(audio, sample_rate=SAMPLE_RATE)
        name = Path(audio).name
    else:
        name = "audio"
        x = as_samples(audio, name=name)
        rate = SAMPLE_RATE if sample_rate is None else check_sample_rate(sample_rate)
        if rate != SAMPLE_RATE and len(x):
            x = soxr.resample(x, rate, SAMPLE_RATE, quality="HQ").astype(np.float32)
    if not np.isfinite(x).all():
        raise InputError(f"{name} has non-finite samples")
    _check_speech(name, len(x), float(np.dot(x.astype(np.float64), x)))
    return x


@dataclass(frozen=True)
class Speech:
    """Checked speech: its log-mel features, its first seconds, and a way to read all of it again.

    From samples it holds them; from a file it holds only the features (80 numbers a frame) and the
    first HEAD_SECONDS, and reads the file again chunk by chunk for the soundtrack, so hours of
    speech fit in flat memory. Made by :func:`read_speech`."""
    features: np.ndarray              # (T, n_mels) log-mel, one row per video frame
    num_samples: int                  # S, at 16 kHz
    head: np.ndarray                  # (min(S, HEAD_SECONDS * 16 kHz),) float32: the first samples
    name: str                         # for messages
    source: np.ndarray | Path         # the samples (S,), or the file they are decoded from
    seconds_to_read: float = 0.0      # what decoding and the features took

    @property
    def seconds(self) -> float:
        return self.num_samples / SAMPLE_RATE

    def chunks(self, seconds: float | None = None) -> Iterator[np.ndarray]:
        """The samples, 16 kHz float32, in chunks of about `seconds` (default CHUNK_SECONDS)."""
        seconds = CHUNK_SECONDS if seconds is None else seconds
        if isinstance(self.source, np.ndarray):
            n = max(1, int(seconds * SAMPLE_RATE))
            for k in range(0, self.num_samples, n):
                yield self.source[k:k + n]
            return
        done = 0
        for chunk in iter_audio(self.source, sample_rate=SAMPLE_RATE, chunk_seconds=seconds):
            done += len(chunk)
            yield chunk
        if done != self.num_samples:
            raise InputError(f"{self.name} changed while it was being read ({self.num_samples} samples, then {done})")

    def samples(self) -> np.ndarray:
        """All the samples (S,) float32 at once."""
        if isinstance(self.source, np.ndarray):
            return self.source
        return np.concatenate(list(self.chunks())) if self.num_samples else np.zeros(0, np.float32)


def read_speech(audio, sample_rate: int | None = None, *, progress: bool = False) -> Speech:
    """:func:`load_speech`'s checks and log-mel features; a file is read chunk by chunk, never whole
    (`progress`: a bar over its seconds). A :class:`Speech` is returned as is."""
    if isinstance(audio, Speech):
        return audio
    t0 = time.perf_counter()
    if not isinstance(audio, (str, os.PathLike)):
        x = load_speech(audio, sample_rate)
        return Speech(log_mel(x), len(x), x[:int(HEAD_SECONDS * SAMPLE_RATE)], "audio", x, time.perf_counter() - t0)
    if sample_rate is not None:
        raise InputError("sample_rate is for sample arrays; a file's rate is read from the file")
    path, name = Path(audio), Path(audio).name
    mel, feats, head, sumsq = StreamingLogMel(), [], [], 0.0
    bar = tqdm(total=audio_seconds(path), desc=f"read {name}", unit="s", disable=not progress,
               bar_format="{l_bar}{bar}| {n:.0f}/{total_fmt} s [{elapsed}<{remaining}]")
    chunks = iter_audio(path, sample_rate=SAMPLE_RATE, chunk_seconds=CHUNK_SECONDS)
    for chunk in _keeping_head(chunks, int(HEAD_SECONDS * SAMPLE_RATE), head):
        bar.update(len(chunk) / SAMPLE_RATE)
        feats.append(mel.push(chunk))
        sumsq += float(np.dot(chunk, chunk))
    bar.close()
    S = mel.num_samples
    feats.append(mel.flush())
    _check_speech(name, S, sumsq)
    return Speech(np.concatenate(feats), S, np.concatenate(head), name, path, time.perf_counter() - t0)


def _keeping_head(chunks: Iterable[np.ndarray], n: int, head: list) -> Iterator[np.ndarray]:
    """`chunks` passed through, their first `n` samples appended to `head` on the way."""
    held = 0
    for chunk in chunks:
        if held < n:
            head.append(chunk[:n - held])
            held += len(head[-1])
        yield chunk


def _check_speech(name: str, num_samples: int, sumsq: float) -> None:
    if num_samples == 0:
        raise InputError(f"{name} is empty: there is no speech to animate")
    if num_samples < MIN_SPEECH_SECONDS * SAMPLE_RATE:
        raise InputError(f"{name} is {num_samples / SAMPLE_RATE * 1e3:.1f} ms long: labkit needs at least "
                         f"{MIN_SPEECH_SECONDS:g} s of speech")
    if energy_is_silent(sumsq, num_samples):
        raise InputError(f"{name} is silent (RMS below -60 dBFS): there is no speech to animate")


@lru_cache(maxsize=1)
def default_speech() -> np.ndarray:
    """The bundled default: two English test sentences, a test-split voice, 16 kHz, short pauses around them."""
    voice = Voice(language="en", variant=split_voices("test")[0], rate=160, pitch=50, pitch_range=60)
    pad = np.zeros(int(0.25 * SAMPLE_RATE), np.float32)
    parts = [pad]
    for k in DEFAULT_SENTENCES:
        parts += [synthesize(split_sentences("test", "en")[k], voice, sample_rate=SAMPLE_RATE).audio, pad]
    return np.concatenate(parts)


def repeated_speech(seconds: float) -> np.ndarray:
    """The bundled default speech (:func:`default_speech`) repeated and cut to `seconds`: (S,) float32, 16 kHz."""
    x = default_speech()
    n = int(round(seconds * SAMPLE_RATE))
    return np.tile(x, -(-n // len(x)))[:n]


def default_portrait(resolution: int) -> tuple[np.ndarray, np.ndarray]:
    """The embedded default portrait: the first SynthTalk test identity, neutral, at `resolution` px,
    with its exact landmarks (68, 2)."""
    r = render(sample_identity(int(split_identities("test")[0])), neutral_factors(1), resolution=resolution)
    return r.frames[0], r.landmarks[0]


def content_id(portrait: np.ndarray, audio: np.ndarray, controls: Controls, renderer: str) -> int:
    """32-bit id of one animation's inputs (what the watermark and the metadata tag carry): `audio` is
    the speech's first window (:attr:`Animator.id_samples`), the part a stream knows before its first frame."""
    h = hashlib.blake2b(digest_size=4)
    for part in (np.ascontiguousarray(portrait).tobytes(), np.ascontiguousarray(audio).tobytes(),
                 repr(controls).encode(), renderer.encode()):
        h.update(part)
    return int.from_bytes(h.digest(), "big")


def _check_memory(num_frames: int, size: tuple[int, int]) -> None:
    need = num_frames * size[0] * size[1] * 3 * 2                           # frames + the encoder's copy
    try:
        free = os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        free = 8 << 30
    if need > MEMORY_FRACTION * free:
        raise MemoryError(f"{num_frames / FPS / 60:.1f} min of video at {size[1]}x{size[0]} px needs "
                          f"{need / 2**30:.1f} GiB "
                          f"held at once, more than {MEMORY_FRACTION:.0%} of the free memory ({free / 2**30:.1f} GiB); "
                          "stream it instead (labkit animate --stream, or labkit.stream)")


# ---------------------------------------------------------------------------- the result

@dataclass
class Video:
    """A generated talking-face video."""
    frames: np.ndarray          # (T, H, W, 3) uint8: the whole photo, or the R x R crop
    audio: np.ndarray           # (S,) float32 mono, exactly the input speech
    sample_rate: int
    fps: float
    motion: np.ndarray          # (T, M) the motion drawn (factors, or latent codes)
    renderer: str               # "latent" or "landmarks"
    content_id: int
    watermarked: bool
    timings: dict = field(default_factory=dict)    # seconds per stage

    @property
    def tag(self) -> str:
        return provenance_tag(self.content_id, self.watermarked)

    def save(self, path: str | os.PathLike, *, overwrite: bool = False, crf: int = 18) -> Path:
        """Write an H.264 + AAC mp4 (atomically; an existing file only with `overwrite`)."""
        return write_video(path, self.frames, self.fps, self.audio, self.sample_rate, crf=crf, overwrite=overwrite,
                           metadata={"description": self.tag})


def provenance_tag(cid: int, watermarked: bool = True) -> str:
    """The mp4 metadata tag: labkit, its version, the content id and whether frames are watermarked."""
    return f"labkit {__version__} content {cid:08x} watermark {'yes' if watermarked else 'no'}"


# ---------------------------------------------------------------------------- the pipeline

class Animator:
    """A portrait prepared once, with its motion generator and renderer; makes videos from speech."""

    def __init__(self, portrait=None, *, resolution: int = 256, renderer: str = "auto", controls: Controls = Controls(),
                 watermark: bool = True, generator=None, landmark_backend: str = "auto", device: str = "cpu",
                 latent_preset: str | None = None, face_index: int | None = None, background=None,
                 crop: bool = False, max_side: int = MAX_SIDE, landmarks=None):
        """`generator`: a MotionGenerator to use instead of the shipped one (tests, other checkpoints);
        `latent_preset`: time the latent renderer with an untrained face latent model of that preset
        (e.g. "s512", drawn at its own size) instead of the shipped 128 px checkpoint; `face_index`:
        which face of a photo with several (numbered left to right; None = the largest); `background`: RGB
        behind a transparent portrait's see-through pixels (default neutral grey); `crop`: a photo's
        aligned R x R crop (`resolution`) instead of the whole photo, whose longer side is kept at most
        `max_side` px. SynthTalk portraits and the latent renderer always give the crop; `landmarks`: the
        photo's 68 iBUG points (68, 2) in its pixels, for a face the detector misses (a painting, a drawing)."""
        if resolution not in RESOLUTIONS:
            raise ValueError(f"resolution must be one of {RESOLUTIONS}, got {resolution}")
        if renderer not in RENDERERS:
            raise ValueError(f"unknown renderer {renderer!r}; choose one of {RENDERERS}")

        self.resolution, self.controls, self.watermark = resolution, controls, watermark
        if portrait is None:
            image, landmarks = default_portrait(resolution)
            self.in_domain, self.portrait_name = True, "the default SynthTalk portrait"
        else:
            image = as_rgb(portrait, background=background)
            landmarks = None if landmarks is None else given_landmarks(landmarks, image.shape)
            self.in_domain = False
            self.portrait_name = Path(portrait).name if isinstance(portrait, (str, os.PathLike)) else "portrait"
        self.image = image
        self.renderer, self.reason = choose_renderer(renderer, self.in_domain)
        log.info("renderer: %s (%s)", self.renderer, self.reason)
        self.full_photo = self.renderer == "landmarks" and portrait is not None and not crop
        self.size = (resolution, resolution)                    # (H, W) of every frame
        self.photo = self.region = None
        if self.full_photo:
            self.photo = fit_photo(image, max_side)
            if landmarks is not None:
                landmarks = fit_points(landmarks, image.shape, max_side)
            self._draw = PhotoRenderer(self.photo, landmarks, backend=landmark_backend, name=self.portrait_name,
                                       face_index=face_index)
            self.size, self.region = self.photo.shape[:2], self._draw.region
            source = "landmarks"
        elif self.renderer == "landmarks":
            rig = prepare(image, resolution, landmarks=landmarks, backend=landmark_backend, name=self.portrait_name,
                          align=portrait is not None, face_index=face_index)
            self._draw = LandmarkRenderer(rig)
            source = "landmarks"
        else:
            self._draw = LatentRenderer(image, resolution, aligned=portrait is None, name=self.portrait_name,
                                     device=device, preset=latent_preset)
            source = "latent"
        if generator is None:

            generator = MotionGenerator.load(MOTION[source], device=device)

        # blinks from their own process (labkit.motion.blinks), measured from this portrait's open eyes
        axis = self._draw.blink_axis if self.renderer == "latent" else BlinkAxis.factors()
        self.generator = generator.replace(guidance=Guidance(audio=controls.cfg_audio, gaze=controls.cfg_gaze,
                                                             emotion=controls.cfg_emotion),
                                           steps=controls.steps, blinks=generator.blinks or BlinkConfig(),
                                           blink_axis=axis)
        # the speech the content id covers: the first window's audio, all a stream has before its first frame
        self.id_samples = int((self.generator.cfg.window - 1) * SAMPLE_RATE / FPS)
        if not watermark:
            log.warning("watermarking is OFF: these frames will not be recognisable as labkit's synthetic media")

    def _finish(self, motion: np.ndarray) -> np.ndarray:
        """The generated motion (T, M) as the renderer draws it: in factors, the emotion at the intensity
        commanded (the guided generator overshoots it)."""
        if self.renderer == "latent" or self.controls.emotion is None:
            return motion
        motion = np.array(motion, np.float32)
        motion[:, _INTENSITY] = self.controls.intensity
        return motion

    def _frame(self, motion_row: np.ndarray) -> np.ndarray:
        if self.controls.motion_scale != 1.0:
            motion_row = self._draw.scale_head(motion_row, self.controls.motion_scale)
        return self._draw.render_frame(motion_row, self.controls.emotion_index)

    def _drawn(self, motion: np.ndarray, timings: dict | None = None, *, first: bool = False) -> Iterator[list]:
        """The frames (H, W, 3) uint8 of motion rows (T, M), a list at a time, the seconds spent added to
        timings["render"]. The landmark renderers draw row by row. The latent renderer decodes its `batch`
        rows together, but a clip's first frame (`first`: motion starts with it) alone, so that a stream
        waits for no batch before it starts; offline and streamed frames are decoded alike, so they are equal."""
        latent = self.renderer == "latent"
        groups = _groups(len(motion), self._draw.batch, first=first) if latent else _groups(len(motion), 1)
        for rows in groups:
            with _one_blas_thread():
                t0 = time.perf_counter()
                if latent:
                    codes = motion[rows]
                    if self.controls.motion_scale != 1.0:
                        codes = self._draw.scale_head(codes, self.controls.motion_scale)
                    frames = list(self._draw.render_frames(codes, batch=1 if first and rows.start == 0 else
                                                           self._draw.batch))
                else:
                    frames = [self._frame(motion[rows.start])]
            if timings is not None:
                timings["render"] += time.perf_counter() - t0
            yield frames

    def content_id(self, speech: np.ndarray) -> int:
        """The content id of a video of `speech` (S,) float32 at 16 kHz (see :func:`content_id`)."""
        renderer = f"{self.renderer} photo {self.size[1]}x{self.size[0]}" if self.full_photo else self.renderer
        return content_id(self.image, speech[:self.id_samples], self.controls, renderer)

    def landmarks(self, motion: np.ndarray) -> np.ndarray:
        """The 68 landmarks (T, 68, 2) the landmark renderer moves the face to for `motion` (T, F) (the
        video's own, e.g. ``Video.motion``), in output pixels."""
        if self.renderer != "landmarks":
            raise ValueError("only the landmark renderer draws from landmarks")
        motion = np.asarray(motion, np.float64)
        if self.controls.motion_scale != 1.0:
            motion = self._draw.scale_head(motion, self.controls.motion_scale)
        return self._draw.landmarks(motion, self.controls.emotion_index)

    def _marker(self, cid: int):
        if not self.watermark:
            return None

        return Watermark(cid)

    def _motion(self, speech: Speech, timings: dict, progress: bool) -> np.ndarray:
        """The motion (T, M) of checked speech, the whole clip at once (the offline sampler)."""
        t0 = time.perf_counter()
        motion = self.generator.generate(speech.features, progress=progress, **self.controls.commands())
        motion = self._finish(motion)
        timings["motion"] = time.perf_counter() - t0
        return motion

    def _frames(self, motion: np.ndarray, cid: int, timings: dict, progress: bool) -> Iterator[np.ndarray]:
        """Rendered, watermarked frames (H, W, 3) uint8, one per motion row, each marked while in cache.

        Numpy's BLAS runs single-threaded here: the per-frame products are small, and its threads
        would fight the renderer's and torch's for the cores (on two cores that cost 5x)."""
        marker = self._marker(cid)
        timings["render"] = timings["watermark"] = 0.0
        bar = tqdm(total=len(motion), desc=f"render ({self.renderer})", unit="frame") if progress else None
        for frames in self._drawn(motion, timings, first=True):
            with _one_blas_thread():
                t0 = time.perf_counter()
                if marker is not None:
                    frames = [marker.embed_frame(frame) for frame in frames]
            timings["watermark"] += time.perf_counter() - t0
            if bar is not None:
                bar.update(len(frames))
            yield from frames
        if bar is not None:
            bar.close()

    def animate(self, audio, *, sample_rate: int | None = None, progress: bool = False) -> Video:
        """Speech (a path or samples) → the whole video at once, in memory (see :meth:`write` for long audio)."""
        speech = read_speech(audio, sample_rate)
        timings = {"audio features": speech.seconds_to_read}
        T = len(speech.features)
        _check_memory(T, self.size)
        cid = self.content_id(speech.head)
        motion = self._motion(speech, timings, progress)
        frames = np.empty((T, *self.size, 3), np.uint8)
        for t, frame in enumerate(self._frames(motion, cid, timings, progress)):
            frames[t] = frame
        return Video(frames=frames, audio=speech.samples(), sample_rate=SAMPLE_RATE, fps=FPS, motion=motion,
                     renderer=self.renderer, content_id=cid, watermarked=self.watermark, timings=timings)

    def write(self, audio, path: str | os.PathLike, *, sample_rate: int | None = None, overwrite: bool = False,
              crf: int = 18, progress: bool = False) -> dict:
        """Speech (a path, samples or :class:`Speech`) → an mp4 at `path`, frames encoded as they are drawn.

        The same video as ``animate(audio).save(path)``, in flat memory: only the audio features
        and the motion (a few hundred bytes a frame) are held for the whole clip, and a file is
        decoded chunk by chunk, so hours of speech fit. Returns the frame count, content id,
        provenance tag and the seconds each stage took."""
        speech = read_speech(audio, sample_rate)
        timings = {"audio features": speech.seconds_to_read}
        cid = self.content_id(speech.head)
        motion = self._motion(speech, timings, progress)
        tag = provenance_tag(cid, self.watermark)
        with VideoWriter(path, FPS, size=self.size, sample_rate=SAMPLE_RATE, crf=crf, overwrite=overwrite,
                         metadata={"description": tag}) as out:
            for chunk in speech.chunks():
                out.write_audio(chunk)
            timings.update(render=0.0, watermark=0.0, encode=0.0)         # the order they are printed in
            for frame in self._frames(motion, cid, timings, progress):
                t0 = time.perf_counter()
                out.write(frame)
                timings["encode"] += time.perf_counter() - t0
        return {"frames": len(motion), "seconds": speech.seconds, "content_id": cid, "tag": tag,
                "renderer": self.renderer, "timings": timings}

    def stream(self, audio_chunks: Iterable[np.ndarray]) -> Iterator[np.ndarray]:
        """16 kHz chunks as they arrive (any dtype and shape :func:`labkit.io.audio.as_samples` takes) →
        frames (H, W, 3) uint8 as soon as their window is sampled.

        Memory stays flat: one window of audio features and motion is held, whatever the length. The
        content id (``self.stream_content_id`` once the first frame is out) is the one ``animate`` gives
        the same speech: the first window's audio is in before the first frame is made."""
        head = []                                                # the speech the content id covers
        chunks = (as_samples(chunk, name=f"audio chunk {k}") for k, chunk in enumerate(audio_chunks))
        marker, first = None, True
        for motion in self.generator.stream(_keeping_head(chunks, self.id_samples, head), **self.controls.commands()):
            motion = self._finish(motion)
            if marker is None:
                self.stream_content_id = self.content_id(np.concatenate(head) if head else np.zeros(0, np.float32))
                marker = self._marker(self.stream_content_id) or False
            for frames in self._drawn(motion, first=first):
                if marker:
                    with _one_blas_thread():
                        frames = [marker.embed_frame(frame) for frame in frames]
                yield from frames
            first = first and len(motion) == 0


def _groups(T: int, size: int, *, first: bool = False) -> list[slice]:
    """Rows 0 .. T - 1 in consecutive groups of `size` (the last one shorter), row 0 alone when `first`."""
    lone = 1 if first and T else 0
    return [slice(0, 1)] * lone + [slice(k, min(k + size, T)) for k in range(lone, T, size)]


@lru_cache(maxsize=1)
def _blas_threads() -> ThreadpoolController:
    return ThreadpoolController()


def _one_blas_thread():
    """A context in which numpy's BLAS uses one thread (see :meth:`Animator._frames`)."""
    return _blas_threads().limit(limits=1, user_api="blas")


def choose_renderer(requested: str, in_domain: bool, evaluation: dict | None = None) -> tuple[str, str]:
    """The renderer to use and why (see the module docstring). `evaluation`: the face latent
    checkpoint's eval figures (default: the shipped checkpoint's)."""
    if requested != "auto":
        return requested, "forced"
    if not in_domain:
        return "landmarks", "the portrait is not from the face latent model's domain (SynthTalk)"
    if evaluation is None:
        evaluation = eval_record(FACE_LATENT)
    r2 = float(evaluation.get("probe_dyn_r2", float("nan")))
    if not r2 >= MIN_DYN_R2:
        return "landmarks", (f"the face latent checkpoint's dynamics code carries too little of the expression "
                             f"(mean probe R² of jaw, blink, brow and gaze {r2:.2f} < {MIN_DYN_R2})")
    return "latent", f"in-domain portrait; dynamics probe R² {r2:.2f}"


# ---------------------------------------------------------------------------- the API

def animate(portrait=None, audio=None, *, sample_rate: int | None = None, resolution: int = 256,
            renderer: str = "auto", watermark: bool = True, progress: bool = False, face_index: int | None = None,
            background=None, crop: bool = False, max_side: int = MAX_SIDE, landmarks=None, **controls) -> Video:
    """Portrait (path or image; None = the embedded SynthTalk default) + speech (path or samples;
    None = the bundled sentence) → :class:`Video`. `face_index`, `background`, `crop`, `max_side`, `landmarks`:
    see :class:`Animator`; `controls`: see :class:`Controls`. The speech is checked first, before the portrait."""
    speech = read_speech(default_speech() if audio is None else audio, sample_rate)
    anim = Animator(portrait, resolution=resolution, renderer=renderer, controls=Controls(**controls),
                    watermark=watermark, face_index=face_index, background=background, crop=crop, max_side=max_side,
                    landmarks=landmarks)
    return anim.animate(speech, progress=progress)


def stream(portrait=None, audio_chunks: Iterable[np.ndarray] | None = None, *, resolution: int = 256,
           renderer: str = "auto", watermark: bool = True, chunk_ms: float = 40.0, face_index: int | None = None,
           background=None, crop: bool = False, max_side: int = MAX_SIDE, landmarks=None,
           **controls) -> Iterator[np.ndarray]:
    """Like :func:`animate`, but audio arrives chunk by chunk (16 kHz; int16 and other PCM types are
    scaled, see :func:`labkit.io.audio.as_samples`) and frames (R, R, 3) are yielded as soon as they
    are made. None = the bundled sentence cut into `chunk_ms` chunks."""
    anim = Animator(portrait, resolution=resolution, renderer=renderer, controls=Controls(**controls),
                    watermark=watermark, face_index=face_index, background=background, crop=crop, max_side=max_side,
                    landmarks=landmarks)
    if audio_chunks is None:
        audio_chunks = chunked(default_speech(), chunk_ms)
    return anim.stream(audio_chunks)


def chunked(audio: np.ndarray, chunk_ms: float = 40.0) -> Iterator[np.ndarray]:
    """A microphone-like source: `audio` (S,) at 16 kHz in chunks of `chunk_ms`."""
    n = max(1, int(SAMPLE_RATE * chunk_ms / 1000))
    for k in range(0, len(audio), n):
        yield audio[k:k + n]


def stream_to_file(anim: Animator, audio, path: str | os.PathLike, *, sample_rate: int | None = None,
                   chunk_ms: float = 40.0, overwrite: bool = False, progress: bool = False) -> dict:
    """Stream speech through `anim` into an mp4 as frames come (flat memory), feeding the audio in
    `chunk_ms` chunks like a microphone. Returns the stream's figures: frames, first-frame latency
    (ms, compute only: audio is fed as fast as it is taken) and sustained fps."""
    speech = read_speech(audio, sample_rate)
    cid = anim.content_id(speech.head)
    T = len(speech.features)
    with VideoWriter(path, FPS, size=anim.size, sample_rate=SAMPLE_RATE, overwrite=overwrite,
                     metadata={"description": provenance_tag(cid, anim.watermark)}) as out:
        def feed():
            for block in speech.chunks():
                for chunk in chunked(block, chunk_ms):
                    out.write_audio(chunk)
                    yield chunk

        bar = None
        if progress:
            bar = tqdm(total=T, desc=f"stream ({anim.renderer})", unit="frame")
        t0 = time.perf_counter()
        first, n = None, 0
        for frame in anim.stream(feed()):
            if first is None:
                first = time.perf_counter() - t0
            out.write(frame)
            n += 1
            if bar is not None:
                bar.update()
        total = time.perf_counter() - t0
        if bar is not None:
            bar.close()
    return {"frames": n, "first_frame_ms": 1e3 * first, "fps": n / total, "content_id": cid,
            "renderer": anim.renderer, "window_seconds": anim.generator.cfg.window / FPS}
