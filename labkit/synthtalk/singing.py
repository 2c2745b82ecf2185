"""A crude sung SynthTalk clip: espeak-ng made to sing through SSML pitch and rate (VASA-1's
out-of-distribution claim that singing audio still drives the face).

Each note is one syllable, synthesised on its own inside ``<prosody pitch="…%" rate="…%">``:
the pitch sets the note (espeak's relative pitch is roughly linear in percent, about
+0.53 % of the base frequency per percent, measured on the bundled voices), the rate slows
the syllable until it fills the note, so the vowel is held, and the syllables are laid end to
end on the beat. The phone timings espeak reports come along, so SynthTalk's motion model
gives the sung clip the same exact ground truth (jaw opening per frame) as a spoken one.

The tune is the traditional round "Row, Row, Row Your Boat" (public domain).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from labkit.synthtalk.motion import generate_motion
from labkit.synthtalk.speech import Phone, Utterance, Voice, merge_pauses, synthesize


@dataclass(frozen=True)
class Note:
    syllable: str      # text espeak sings, one syllable
    semitone: int      # pitch, semitones above the tune's tonic
    beats: float       # length in beats (an eighth note of 6/8 time here)


# "Row, row, row your boat, gently down the stream; merrily ×4, life is but a dream."
ROW_YOUR_BOAT: tuple[Note, ...] = tuple(Note(s, p, b) for s, p, b in [
    ("row", 0, 3), ("row", 0, 3), ("row", 0, 2), ("your", 2, 1), ("boat", 4, 3),
    ("gent", 4, 2), ("lee", 2, 1), ("down", 4, 2), ("the", 5, 1), ("stream", 7, 6),
    ("mer", 12, 1), ("ree", 12, 1), ("lee", 12, 1), ("mer", 7, 1), ("ree", 7, 1), ("lee", 7, 1),
    ("mer", 4, 1), ("ree", 4, 1), ("lee", 4, 1), ("mer", 0, 1), ("ree", 0, 1), ("lee", 0, 1),
    ("life", 7, 2), ("is", 5, 1), ("but", 4, 2), ("a", 2, 1), ("dream", 0, 6),
])

_PERCENT_PER_RATIO = 1 / 0.0053     # espeak: f0 ≈ f0_base · (1 + 0.0053 · percent)
_NOMINAL_RATE = 100                  # % of the voice's rate at which a syllable is measured


def pitch_percent(semitone: float, centre: float = 6.0) -> int:
    """espeak's relative prosody pitch (percent) for a note `semitone` above the tonic, with the
    tune centred on the voice's own pitch (so an octave spans about -30 % … +40 %)."""
    ratio = 2.0 ** ((semitone - centre) / 12)
    return int(round((ratio - 1) * _PERCENT_PER_RATIO))


def sing(notes: tuple[Note, ...], voice: Voice, *, beat: float = 0.22, sample_rate: int = 16000) -> Utterance:
    """The tune sung by `voice`: audio (S,) at `sample_rate` and contiguous phones.

    beat: seconds per beat. Every syllable is slowed (espeak's rate, at most 5× slower) to fill
    its note, then cut or padded with silence to the note's exact length.
    """
    if not notes:
        raise ValueError("need at least one note")
    if beat <= 0:
        raise ValueError(f"beat must be positive seconds, got {beat}")
    pieces, phones, t = [], [], 0.0
    for note in notes:
        length = int(round(note.beats * beat * sample_rate))
        ssml = '<speak><prosody pitch="{:+d}%" rate="{}%">{}</prosody></speak>'
        probe = synthesize(ssml.format(pitch_percent(note.semitone), _NOMINAL_RATE, note.syllable), voice,
                           sample_rate=sample_rate, ssml=True)
        spoken = _voiced_length(probe)
        rate = int(np.clip(_NOMINAL_RATE * spoken / max(length, 1), 20, _NOMINAL_RATE))
        u = synthesize(ssml.format(pitch_percent(note.semitone), rate, note.syllable), voice,
                       sample_rate=sample_rate, ssml=True)
        audio = u.audio[:length]
        fade = min(len(audio), int(0.01 * sample_rate))                   # no click where a note is cut
        if fade:
            audio = audio.copy()
            audio[-fade:] *= np.linspace(1, 0, fade, dtype=np.float32)
        audio = np.pad(audio, (0, length - len(audio)))
        dur = length / sample_rate
        for p in u.phones:
            if p.start < dur:
                phones.append(Phone(t + p.start, t + min(p.end, dur), p.symbol))
        if phones and phones[-1].end < t + dur - 1e-9:                         # the note's silent tail
            phones.append(Phone(phones[-1].end, t + dur, "_"))
        pieces.append(audio)
        t += dur
    text = " ".join(n.syllable for n in notes)
    return Utterance(audio=np.concatenate(pieces), sample_rate=sample_rate, phones=merge_pauses(phones),
                     text=text, voice=voice)


def _voiced_length(u: Utterance) -> int:
    """Samples up to the end of the last non-pause phone."""
    end = max((p.end for p in u.phones if not p.symbol.startswith("_")), default=len(u.audio) / u.sample_rate)
    return int(end * u.sample_rate)


def sung_clip(voice: Voice, *, notes: tuple[Note, ...] = ROW_YOUR_BOAT, beat: float = 0.22, fps: float = 25.0,
              sample_rate: int = 16000, seed: int = 0) -> dict:
    """The tune sung by `voice` with SynthTalk's ground truth: dict(audio (S,), sample_rate, fps,
    factors (T-frame Factors from the phones, as for a spoken clip), phones, text)."""
    u = sing(notes, voice, beat=beat, sample_rate=sample_rate)
    factors = generate_motion(u.phones, u.audio, sample_rate, fps=fps, rng=np.random.default_rng(seed))
    return dict(audio=u.audio, sample_rate=sample_rate, fps=fps, factors=factors, phones=u.phones, text=u.text)
