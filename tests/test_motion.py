"""Tests for labkit.synthtalk.motion: schema, determinism, ranges and the motion statistics
that make SynthTalk's ground truth lifelike (lip sync, closures, blinks, saccades, sway)."""
import time

import numpy as np
import pytest

from labkit.synthtalk import factors as F
from labkit.synthtalk import motion as M
from labkit.synthtalk import speech
from labkit.synthtalk.speech import Phone

SR, FPS = 16000, 25.0
_VOWELS, _NASALS = ("a", "i:", "u:", "E", "O"), ("m", "n", "l")


def fake_utterance(rng, seconds=5.0, sr=SR):
    """Hand-built phones and matching audio: loud harmonic vowels, softer nasals,
    quiet noisy obstruents, silent pauses. Returns (phones, audio (S,) float32)."""
    symbols = (*_VOWELS, *_NASALS, "p", "t", "s", "k", "f", "_")
    phones, chunks, t = [Phone(0.0, 0.3, "_")], [np.zeros(int(0.3 * sr))], 0.3
    while t < seconds - 0.4:
        sym = symbols[rng.integers(len(symbols))]
        d = min(rng.uniform(0.2, 0.5) if sym == "_" else rng.uniform(0.05, 0.2), seconds - 0.05 - t)
        n = int(round((t + d) * sr)) - int(round(t * sr))
        tt, f0 = np.arange(n) / sr, rng.uniform(90, 220)
        if sym in _VOWELS:
            x = 0.3 * sum(np.sin(2 * np.pi * f0 * k * tt) / k for k in range(1, 6))
        elif sym in _NASALS:
            x = 0.08 * np.sin(2 * np.pi * f0 * tt)
        elif sym == "_":
            x = np.zeros(n)
        else:
            x = 0.03 * rng.standard_normal(n)
        phones.append(Phone(t, t + d, sym))
        chunks.append(x)
        t += d
    phones.append(Phone(t, seconds, "_"))
    chunks.append(np.zeros(int(round(seconds * sr)) - int(round(t * sr))))
    return phones, np.concatenate(chunks).astype(np.float32)


def silent(seconds):
    return [Phone(0.0, seconds, "_")], np.zeros(int(seconds * SR), np.float32)


def jaw_rms_r(f, audio, sr):
    rms = M.frame_rms(audio, sr, FPS, len(f["jaw"]))
    return np.corrcoef(f["jaw"], rms)[0, 1]


def is_periodic(x, fps=FPS):
    """True when the Welch spectrum has a peak far above its neighbours (above 0.15 Hz)."""
    from scipy.signal import welch
    _, p = welch(x - x.mean(), fs=fps, nperseg=512)
    k = np.arange(3, len(p) - 4)
    neighbours = np.stack([p[k + d] for d in (-3, -2, -1, 1, 2, 3)]).mean(0)
    return (p[k] / neighbours).max() > 5.0


# ----------------------------------------------------------------------------- schema
def test_schema_round_trip_and_neutral():
    f = F.neutral_factors(7)
    F.validate_factors(f)
    a = F.factors_to_array(f)
    assert a.shape == (7, len(F.FACTOR_NAMES)) and a.dtype == np.float32
    g = F.array_to_factors(a, emotion=2)
    assert all(np.array_equal(f[n], g[n]) for n in F.FACTOR_NAMES)
    assert g["emotion"].dtype == np.int64 and (g["emotion"] == 2).all()
    # a generated clip survives the round trip exactly
    phones, audio = fake_utterance(np.random.default_rng(0), 2.0)
    h = M.generate_motion(phones, audio, SR, emotion="happy", emotion_intensity=0.5,
                          rng=np.random.default_rng(0))
    h2 = F.array_to_factors(F.factors_to_array(h), h["emotion"])
    assert all(np.array_equal(h[n], h2[n]) for n in (*F.FACTOR_NAMES, "emotion"))
    assert F.FACTOR_NAMES == tuple(F.FACTORS) and len(F.EMOTIONS) == 5


@pytest.mark.parametrize("breakage, name", [
    (lambda f: f.pop("lip_round"), "lip_round"),
    (lambda f: f.__setitem__("brow", np.full(5, np.nan, np.float32)), "brow"),
    (lambda f: f.__setitem__("yaw", np.full(5, 40.0, np.float32)), "yaw"),
    (lambda f: f.__setitem__("blink", np.zeros(4, np.float32)), "blink"),
    (lambda f: f.__setitem__("emotion", np.full(5, 9)), "emotion"),
])
def test_validate_factors_names_the_bad_factor(breakage, name):
    f = F.neutral_factors(5)
    breakage(f)
    with pytest.raises(ValueError, match=f"'{name}'"):
        F.validate_factors(f)


def test_clip_factors_and_bad_arguments():
    f = F.neutral_factors(3)
    f["gaze_pitch"][:] = [-99, 0, 99]
    assert list(F.clip_factors(f)["gaze_pitch"]) == [-15, 0, 15]
    phones, audio = silent(1.0)
    with pytest.raises(ValueError, match="emotion"):
        M.generate_motion(phones, audio, SR, emotion="bored", rng=np.random.default_rng(0))
    with pytest.raises(ValueError, match="emotion_intensity"):
        M.generate_motion(phones, audio, SR, emotion_intensity=2.0, rng=np.random.default_rng(0))


def test_frame_count_convention():
    phones, audio = silent(1.01)  # 25.25 frames of audio -> 26 frames
    assert len(M.generate_motion(phones, audio, SR, rng=np.random.default_rng(0))["jaw"]) == 26
    f = M.generate_motion(phones, audio, SR, fps=30.0, num_frames=40, rng=np.random.default_rng(0))
    assert all(len(f[n]) == 40 for n in (*F.FACTOR_NAMES, "emotion"))
    rms = M.frame_rms(np.ones(SR, np.float32), SR, FPS, 30)  # frames past the audio are silent
    assert np.allclose(rms[:25], 1) and np.allclose(rms[25:], 0)


# ----------------------------------------------------------------------------- generator
def test_deterministic_given_rng():
    phones, audio = fake_utterance(np.random.default_rng(1), 3.0)
    a = M.generate_motion(phones, audio, SR, rng=np.random.default_rng(5))
    b = M.generate_motion(phones, audio, SR, rng=np.random.default_rng(5))
    c = M.generate_motion(phones, audio, SR, rng=np.random.default_rng(6))
    assert all(np.array_equal(a[n], b[n]) for n in F.FACTOR_NAMES)
    assert not np.allclose(a["yaw"], c["yaw"]) and not np.allclose(a["blink"], c["blink"])


def test_all_factors_in_range_and_not_pinned_to_walls():
    for seed in range(30):
        rng = np.random.default_rng(seed)
        phones, audio = fake_utterance(rng, 4.0)
        emotion = F.EMOTIONS[seed % 5]
        f = M.generate_motion(phones, audio, SR, emotion=emotion, emotion_intensity=rng.uniform(), rng=rng)
        F.validate_factors(f)
        for name in ("yaw", "pitch", "roll", "tx", "ty", "distance", "brow", "gaze_yaw", "gaze_pitch"):
            lo, hi, _ = F.FACTORS[name]  # soft clipping never sits exactly on a wall
            assert ((f[name] <= lo) | (f[name] >= hi)).mean() < 0.01, name
        assert (f["emotion"] == F.EMOTIONS.index(emotion)).all()


def test_jaw_follows_speech_energy_on_synthetic_speech():
    rs = []
    for seed in range(20):
        rng = np.random.default_rng(seed)
        phones, audio = fake_utterance(rng, 4.0)
        rs.append(jaw_rms_r(M.generate_motion(phones, audio, SR, rng=rng), audio, SR))
    assert min(rs) > 0.3, rs


def test_jaw_follows_speech_energy_on_real_speech():
    rng = np.random.default_rng(0)
    for i, language in enumerate(speech.LANGUAGES * 2):
        sentences = speech.load_sentences(language)
        u = speech.synthesize(sentences[i % len(sentences)], speech.sample_voice(rng, language))
        f = M.generate_motion(u.phones, u.audio, u.sample_rate, emotion=F.EMOTIONS[i % 5],
                              emotion_intensity=0.7, rng=rng)
        F.validate_factors(f)
        assert jaw_rms_r(f, u.audio, u.sample_rate) > 0.3, (language, u.text, u.voice)


def test_bilabial_closes_the_lips_and_pauses_relax():
    # pause, open vowel, a long /m/, open vowel, pause: "_ a m a _"
    phones = [Phone(0.0, 0.4, "_"), Phone(0.4, 0.6, "a"), Phone(0.6, 0.85, "m"),
              Phone(0.85, 1.05, "a"), Phone(1.05, 2.0, "_")]
    t = np.arange(int(2.0 * SR)) / SR
    level = np.select([(t >= 0.4) & (t < 0.6), (t >= 0.6) & (t < 0.85), (t >= 0.85) & (t < 1.05)],
                      [0.3, 0.15, 0.3], 0.0)  # a hummed /m/ is still fairly loud
    audio = (level * np.sin(2 * np.pi * 120 * t)).astype(np.float32)
    for seed in range(5):
        f = M.generate_motion(phones, audio, SR, style=M.MotionStyle(), rng=np.random.default_rng(seed))
        jaw = f["jaw"]
        frame = lambda sec: int(sec * FPS)  # noqa: E731 - frame whose interval holds time sec
        assert jaw[frame(0.725)] < 0.05, jaw  # centre of /m/: lips shut
        assert jaw[frame(0.5)] > 0.5 and jaw[frame(0.95)] > 0.5  # vowels: open
        assert jaw[frame(1.7)] < 0.1 and jaw[frame(0.1)] < 0.1  # pauses: at rest


def test_blinks_rate_shape_and_peaks():
    phones, audio = silent(120.0)
    for seed, rate in enumerate((10.0, 18.0, 25.0)):
        style = M.MotionStyle(blink_rate_per_min=rate)
        blink = M.generate_motion(phones, audio, SR, style=style, rng=np.random.default_rng(seed))["blink"]
        closed = blink > 0.5
        starts = np.flatnonzero(closed[1:] & ~closed[:-1]) + 1
        ends = np.flatnonzero(~closed[1:] & closed[:-1]) + 1
        per_min = len(starts) / 2.0
        assert 0.6 * rate < per_min < 1.4 * rate, (rate, per_min)
        for s in starts:  # every blink episode reaches full closure and lasts 100..400 ms
            e = ends[ends > s][0] if (ends > s).any() else len(blink)
            assert blink[s:e].max() >= 0.9
            assert (e - s) / FPS <= 0.4
        assert (blink < 0.05).mean() > 0.8  # eyes are open most of the time


def test_gaze_has_rare_saccades_and_is_not_periodic():
    phones, audio = silent(120.0)
    for seed in range(3):
        f = M.generate_motion(phones, audio, SR, rng=np.random.default_rng(seed))
        g = np.stack([f["gaze_yaw"], f["gaze_pitch"]], 1)
        jump = np.linalg.norm(np.diff(g, axis=0), axis=1)
        big = (jump > 2.0).mean()
        assert 0.003 < big < 0.15, big  # saccades exist but fixations dominate
        assert np.median(jump) < 0.5  # between saccades the eyes barely move
        x = f["gaze_yaw"] - f["gaze_yaw"].mean()
        ac = np.correlate(x, x, "full")[len(x) - 1:] / (x @ x)
        assert ac[int(2 * FPS):int(20 * FPS)].max() < 0.5  # no repeating pattern
        assert not is_periodic(f["gaze_yaw"])


def test_head_sway_is_not_periodic_and_grows_with_speech():
    t = np.arange(int(120 * FPS)) / FPS
    noise = np.random.default_rng(0).standard_normal(len(t))
    assert is_periodic(np.sin(2 * np.pi * 0.25 * t) + noise)  # the detector does detect
    assert is_periodic(np.sin(2 * np.pi * 1.3 * t) + noise)
    assert not is_periodic(np.cumsum(noise))
    quiet, talking = [], []
    for seed in range(4):
        rng = np.random.default_rng(seed)
        f = M.generate_motion(*silent(120.0), SR, style=M.MotionStyle(), rng=rng)
        for name in ("yaw", "pitch", "roll", "tx"):
            assert not is_periodic(f[name]), name
        quiet.append(np.abs(np.diff(f["yaw"])).mean())
        phones, audio = fake_utterance(rng, 20.0)
        g = M.generate_motion(phones, audio, SR, style=M.MotionStyle(), rng=rng)
        talking.append(np.abs(np.diff(g["yaw"])).mean())
    assert np.mean(talking) > 1.3 * np.mean(quiet)


def test_phrases_split_at_pauses_not_at_stop_closures():
    active = np.zeros(100, bool)
    active[10:30] = active[32:50] = True                  # a 2-frame gap: a stop closure
    active[70:90] = True                                  # a 20-frame pause: a new phrase
    starts, ends = M.phrases(active, FPS)
    assert starts.tolist() == [10, 70] and ends.tolist() == [50, 90]
    assert [len(x) for x in M.phrases(np.zeros(10, bool), FPS)] == [0, 0]


def phrased(f0s, seconds=1.2, pause=0.8, sr=SR):
    """Phrases of harmonic voice separated by silent pauses; phrase k holds its f0 contour f0s[k]
    (Hz at the start and at the end, glided linearly). Returns (phones, audio, onset times (s))."""
    chunks, phones, onsets, t = [np.zeros(int(pause * sr))], [Phone(0.0, pause, "_")], [], pause
    for a, b in f0s:
        n = int(seconds * sr)
        phase = 2 * np.pi * np.cumsum(np.linspace(a, b, n)) / sr
        chunks += [0.3 * sum(np.sin(k * phase) / k for k in range(1, 6)), np.zeros(int(pause * sr))]
        phones += [Phone(t, t + seconds, "a"), Phone(t + seconds, t + seconds + pause, "_")]
        onsets.append(t)
        t += seconds + pause
    return phones, np.concatenate(chunks).astype(np.float32), np.array(onsets)


def test_head_turns_at_phrase_onsets_either_way_and_its_pitch_follows_the_voice():
    phones, audio, onsets = phrased([(150, 150)] * 6)
    near, far, turns = [], [], []
    for seed in range(8):                                 # eight takes of one speaker
        f = M.generate_motion(phones, audio, SR, style=M.MotionStyle(), rng=np.random.default_rng(seed))
        speed = np.abs(np.diff(f["yaw"], prepend=f["yaw"][0]))
        at = np.zeros(len(speed), bool)
        for o in onsets:
            at[int((o - 0.15) * FPS):int((o + 0.45) * FPS)] = True
        near.append(speed[at].mean())
        far.append(speed[~at].mean())
        turns += [f["yaw"][int((o + 0.5) * FPS)] - f["yaw"][int((o - 0.3) * FPS)] for o in onsets]
    assert np.mean(near) > 2 * np.mean(far), (np.mean(near), np.mean(far))
    turns = np.array(turns)
    assert (turns > 2).mean() > 0.25 and (turns < -2).mean() > 0.25, turns.round(1)  # the side is the take's
    # intonation: within phrases falling from 200 Hz to 120 Hz the head sinks further than within
    # level ones (where only the onset's lift relaxes)
    drop = {}
    for contour in ((200, 120), (155, 155)):
        phones, audio, onsets = phrased([contour] * 4, seconds=2.0)
        d = []
        for seed in range(8):
            f = M.generate_motion(phones, audio, SR, style=M.MotionStyle(), rng=np.random.default_rng(seed))
            d += [f["pitch"][int((o + 0.5) * FPS)] - f["pitch"][int((o + 1.7) * FPS)] for o in onsets]
        drop[contour] = np.mean(d)
    assert drop[(200, 120)] > drop[(155, 155)] + 1.5, drop


def test_emotion_modulates_motion():
    pitch, brow = {}, {}
    for emotion in ("happy", "sad", "angry"):
        p, b = [], []
        for seed in range(12):
            rng = np.random.default_rng(seed)
            phones, audio = fake_utterance(rng, 4.0)
            f = M.generate_motion(phones, audio, SR, emotion=emotion, emotion_intensity=0.8, rng=rng)
            assert np.allclose(f["emotion_intensity"], 0.8)
            p.append(f["pitch"].mean())
            b.append(f["brow"].mean())
        pitch[emotion], brow[emotion] = np.mean(p), np.mean(b)
    assert pitch["sad"] < pitch["happy"] - 3
    assert brow["angry"] < 0 < brow["happy"]


def test_fast_enough():
    phones, audio = fake_utterance(np.random.default_rng(0), 5.0)
    M.generate_motion(phones, audio, SR, rng=np.random.default_rng(0))  # warm-up
    t0 = time.perf_counter()
    for seed in range(10):
        M.generate_motion(phones, audio, SR, rng=np.random.default_rng(seed))
    assert (time.perf_counter() - t0) / 10 < 0.1
