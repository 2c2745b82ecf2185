"""SynthTalk as a ``torch.utils.data.Dataset``: speech → motion → rendered talking head.

Each clip is a pure function of ``(seed, split, index)``: the same clip comes out on every
machine and in every DataLoader worker. A clip is: an identity from the split's identity
pool, bundled sentences of one language spoken by one voice (espeak-ng), ground-truth
motion generated from that speech, and the rendered frames with their 68 landmarks.

Splits are disjoint in identities, sentences and voices:
- identity ``i`` belongs to test if ``i % 10 == 0``, val if ``i % 10 == 1``, else train;
- sentence ``k`` of each language file likewise by ``k % 10``;
- espeak voice variants: test speaks with m3/f2, val with m5/f4, train with the rest.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from functools import lru_cache

import numpy as np
import torch

from labkit.synthtalk.factors import EMOTIONS
from labkit.synthtalk.identity import Identity, sample_identity
from labkit.synthtalk.motion import generate_motion, sample_style
from labkit.synthtalk.renderer import RESOLUTIONS, Renderer
from labkit.synthtalk.speech import (
    LANGUAGES,
    VOICE_VARIANTS,
    Phone,
    load_sentences,
    merge_pauses,
    sample_voice,
    synthesize,
)

SPLITS = ("train", "val", "test")
IDENTITIES_PER_SPLIT_SLOT = 10_000          # ids 0 .. 99_999: 10k test, 10k val, 80k train
_SPLIT_VARIANTS = {"test": ("m3", "f2"), "val": ("m5", "f4")}
_SPLIT_VARIANTS["train"] = tuple(v for v in VOICE_VARIANTS if v not in _SPLIT_VARIANTS["test"] + _SPLIT_VARIANTS["val"])


def split_of(index: int) -> str:
    """The split that owns identity / sentence number `index`."""
    return {0: "test", 1: "val"}.get(index % 10, "train")


def _check_split(split: str) -> None:
    if split not in SPLITS:
        raise ValueError(f"unknown split {split!r}; choose one of {SPLITS}")


@lru_cache(maxsize=3)
def split_identities(split: str) -> np.ndarray:
    """All identity ids of a split (test: 0, 10, 20, …; val: 1, 11, …; train: the rest), ascending."""
    _check_split(split)
    slots = {"test": [0], "val": [1], "train": list(range(2, 10))}[split]
    ids = (10 * np.arange(IDENTITIES_PER_SPLIT_SLOT)[:, None] + np.array(slots)[None]).ravel()
    ids.flags.writeable = False                        # cached: shared by every caller
    return ids


def split_sentences(split: str, language: str) -> list[str]:
    """The bundled sentences of `language` that belong to `split`."""
    _check_split(split)
    return [s for k, s in enumerate(load_sentences(language)) if split_of(k) == split]


def split_voices(split: str) -> tuple[str, ...]:
    """espeak voice variants spoken in `split`."""
    _check_split(split)
    return _SPLIT_VARIANTS[split]


@dataclass(frozen=True)
class SynthTalkConfig:
    split: str = "train"          # train / val / test: disjoint identities, sentences and voices
    resolution: int = 128         # frame size in pixels: 64, 128, 256 or 512
    seconds: float | None = 4.0   # clip length; None = one sentence, as long as it lasts
    seed: int = 0                 # everything is a deterministic function of (seed, split, index)
    num_clips: int = 1000         # length of the dataset
    fps: float = 25.0             # video frame rate (audio and frames align sample-exactly)
    sample_rate: int = 16_000     # audio sample rate
    languages: tuple[str, ...] = LANGUAGES  # which sentence lists to speak from
    emotion_prob: float = 0.5     # chance that a clip is emotional rather than neutral


def _check_config(c: SynthTalkConfig) -> None:
    _check_split(c.split)
    if c.resolution not in RESOLUTIONS:
        raise ValueError(f"resolution {c.resolution} is not supported; choose one of {RESOLUTIONS}")
    if c.seconds is not None and not (isinstance(c.seconds, (int, float)) and c.seconds > 0):
        raise ValueError(f"seconds must be a positive number of seconds or None, got {c.seconds!r}")
    if c.num_clips < 0:
        raise ValueError(f"num_clips must be >= 0, got {c.num_clips}")
    if c.fps <= 0 or c.sample_rate <= 0:
        raise ValueError(f"fps and sample_rate must be positive, got {c.fps}, {c.sample_rate}")
    if (c.sample_rate / c.fps) != int(c.sample_rate / c.fps):
        raise ValueError(f"sample_rate / fps must be a whole number of samples per frame, "
                         f"got {c.sample_rate} / {c.fps}")
    bad = [lang for lang in c.languages if lang not in LANGUAGES]
    if bad or not c.languages:
        raise ValueError(f"languages must be a non-empty subset of {LANGUAGES}, got {c.languages}")


def speak(rng: np.random.Generator, split: str, language: str, num_samples: int | None, sample_rate: int):
    """Speech for one clip: sentences of the split, one voice, joined by short pauses.

    Returns (audio (S,) float32, phones, text, voice). With `num_samples` the audio is cut or
    padded with silence to exactly that length; phones are clipped to match.
    """
    voice = sample_voice(rng, language, variants=split_voices(split))
    sentences = split_sentences(split, language)
    pieces, phones, texts = [], [], []
    lead = int(rng.uniform(0.1, 0.4) * sample_rate)   # leading silence, whole samples
    pieces.append(np.zeros(lead, np.float32))
    phones.append(Phone(0.0, lead / sample_rate, "_"))
    n = lead                                           # samples so far
    order = rng.permutation(len(sentences))         # no sentence twice in one clip
    for k in range(len(sentences)):
        text = sentences[order[k]]
        utt = synthesize(text, voice, sample_rate=sample_rate)
        start = n / sample_rate
        pause = np.zeros(int(rng.uniform(0.15, 0.5) * sample_rate), np.float32)
        pieces += [utt.audio, pause]
        n += len(utt.audio) + len(pause)
        phones += [Phone(start + p.start, start + p.end, p.symbol) for p in utt.phones]
        phones.append(Phone(phones[-1].end, n / sample_rate, "_"))
        texts.append(text)
        if num_samples is None or n >= num_samples:
            break
    phones = merge_pauses(phones)                      # adjacent pauses (sentence joins) become one
    audio = np.concatenate(pieces)
    if num_samples is not None:
        audio = np.pad(audio, (0, max(0, num_samples - len(audio))))[:num_samples]
        dur = num_samples / sample_rate
        phones = [Phone(p.start, min(p.end, dur), p.symbol) for p in phones if p.start < dur]
    return audio, phones, " ".join(texts), voice


class SynthTalk(torch.utils.data.Dataset):
    """Procedural talking heads with exact ground truth.

    ``SynthTalk(split="train", resolution=128, seconds=4.0, seed=0)[i]`` returns a dict:
    frames (T, H, W, 3) uint8, audio (S,) float32, sample_rate, fps, factors {name: (T,)},
    landmarks (T, 68, 2) float32 pixels, identity (id), text, language, voice (str).
    """

    def __init__(self, split: str = "train", resolution: int = 128, seconds: float | None = 4.0, seed: int = 0,
                 **kwargs):
        self.config = SynthTalkConfig(split=split, resolution=resolution, seconds=seconds, seed=seed, **kwargs)
        _check_config(self.config)
        self._renderer: Renderer | None = None

    def __len__(self) -> int:
        return self.config.num_clips

    @property
    def renderer(self) -> Renderer:
        if self._renderer is None:                     # built lazily: one per DataLoader worker
            self._renderer = Renderer(self.config.resolution)
        return self._renderer

    def clip_rng(self, index: int) -> np.random.Generator:
        c = self.config
        return np.random.default_rng([c.seed, SPLITS.index(c.split), index])

    def _identity_draw(self, index: int) -> tuple[Identity, np.random.Generator]:
        """Clip `index`'s identity, drawn first from its generator, and that generator."""
        rng = self.clip_rng(index)
        pool = split_identities(self.config.split)
        return sample_identity(int(pool[int(rng.integers(len(pool)))])), rng

    def identity(self, index: int) -> Identity:
        """The identity of clip `index` (drawn from the split's identity pool)."""
        return self._identity_draw(index)[0]

    def sample_motion(self, index: int, take: int = 0) -> dict:
        """Everything of clip `index` except the pixels: audio, phones, factors and metadata.

        take: another performance of the same clip. Take 0 is the clip; take k > 0 keeps its person,
        speech, emotion and motion style and redraws every random part of the motion (head sway and
        posture, nods kept, blinks, saccades), as a second recording of the same sentence would."""
        if not 0 <= index < len(self):
            raise IndexError(f"clip index {index} out of range for {len(self)} clips")
        if take < 0:
            raise ValueError(f"take must be >= 0, got {take}")
        c = self.config
        ident, rng = self._identity_draw(index)
        language = c.languages[int(rng.integers(len(c.languages)))]
        spf = int(c.sample_rate / c.fps)
        T = None if c.seconds is None else int(round(c.seconds * c.fps))
        audio, phones, text, voice = speak(rng, c.split, language, None if T is None else T * spf, c.sample_rate)
        if T is None:
            T = math.ceil(len(audio) / spf)
            audio = np.pad(audio, (0, T * spf - len(audio)))
        emotional = rng.random() < c.emotion_prob
        emotion = EMOTIONS[int(rng.integers(1, len(EMOTIONS)))] if emotional else "neutral"
        intensity = float(rng.uniform(0.4, 1.0)) if emotional else 0.0
        style = sample_style(rng)                      # the person's manner, shared by every take
        if take:
            rng = np.random.default_rng([c.seed, SPLITS.index(c.split), index, take])
        factors = generate_motion(phones, audio, c.sample_rate, fps=c.fps, num_frames=T, emotion=emotion,
                                  emotion_intensity=intensity, style=style, rng=rng)
        return dict(audio=audio, sample_rate=c.sample_rate, fps=c.fps, factors=factors, phones=phones,
                    identity=ident.id, text=text, language=language,
                    voice=f"{voice.language}+{voice.variant} rate={voice.rate} pitch={voice.pitch}",
                    emotion=emotion, emotion_intensity=intensity)

    def __getitem__(self, index: int) -> dict:
        clip = self.sample_motion(index)
        out = self.renderer.render(sample_identity(clip["identity"]), clip["factors"])
        del clip["phones"]                             # variable-length; see sample_motion()
        clip.update(frames=out.frames, landmarks=out.landmarks)
        return clip

    def config_dict(self) -> dict:
        d = asdict(self.config)
        d["languages"] = list(d["languages"])
        return d
