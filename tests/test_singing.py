"""The crude sung clip: the notes' pitch, held vowels, phones and ground truth."""
import numpy as np
import pytest

from labkit.synthtalk.singing import ROW_YOUR_BOAT, Note, pitch_percent, sing, sung_clip
from labkit.synthtalk.speech import Voice

VOICE = Voice(language="en", variant="f2", rate=150, pitch=40, pitch_range=0)
TUNE = (Note("row", 0, 3), Note("mer", 12, 2), Note("ree", 7, 2), Note("dream", 0, 3))


def _median_f0(audio, sr, lo, hi):
    import librosa
    f0, voiced, _ = librosa.pyin(audio[int(lo * sr):int(hi * sr)], fmin=60, fmax=800, sr=sr, frame_length=1024,
                                 hop_length=160)
    return float(np.median(f0[voiced])), float(voiced.mean())


def test_notes_are_sung_at_their_pitch_and_held():
    beat = 0.2
    u = sing(TUNE, VOICE, beat=beat)
    assert u.duration == pytest.approx(sum(n.beats for n in TUNE) * beat, abs=1e-3)
    bounds = np.cumsum([0] + [n.beats * beat for n in TUNE])
    f0 = [_median_f0(u.audio, u.sample_rate, a + 0.05, b - 0.05) for a, b in zip(bounds, bounds[1:])]
    low, octave, fifth, low2 = (f for f, _ in f0)
    assert low2 == pytest.approx(low, rel=0.03)                  # the same note twice
    assert low < fifth < octave and octave / low > 1.5           # the contour follows the tune (crudely)
    assert min(v for _, v in f0) > 0.8                           # vowels held: voiced through each note
    p = u.phones
    assert p[0].start == 0 and p[-1].end == pytest.approx(u.duration)
    assert all(a.end == pytest.approx(b.start) for a, b in zip(p, p[1:]))


def test_sung_clip_has_ground_truth_and_bad_input_is_refused():
    c = sung_clip(VOICE, notes=TUNE, beat=0.2)
    T = round(sum(n.beats for n in TUNE) * 0.2 * 25)
    assert len(c["factors"]["jaw"]) == T and c["factors"]["jaw"].max() > 0.3      # the mouth opens on the vowels
    assert pitch_percent(6) == 0 and pitch_percent(18) > 0 > pitch_percent(0)
    assert len(ROW_YOUR_BOAT) == 27
    with pytest.raises(ValueError, match="note"):
        sing((), VOICE)
    with pytest.raises(ValueError, match="beat"):
        sing(TUNE, VOICE, beat=0)
