"""Tests for labkit.synthtalk.speech: real espeak-ng speech with aligned phones."""

import multiprocessing as mp
import time
from pathlib import Path

import numpy as np
import pytest

from labkit.synthtalk import speech
from labkit.synthtalk.speech import (
    LANGUAGES,
    VISEMES,
    VOICE_VARIANTS,
    Phone,
    Voice,
    load_sentences,
    sample_voice,
    synthesize,
    viseme_of,
)

VOWEL_VISEMES = {"open", "mid", "spread", "rounded"}


def voice(language="en", variant="m3", rate=170, pitch=50, pitch_range=50):
    return Voice(language=language, variant=variant, rate=rate, pitch=pitch, pitch_range=pitch_range)


def rms(x):
    return float(np.sqrt(np.mean(np.square(x, dtype=np.float64)))) if len(x) else 0.0


def assert_phones_cover(u):
    duration = len(u.audio) / u.sample_rate
    assert u.phones[0].start == 0.0
    assert u.phones[-1].end == pytest.approx(duration, abs=1e-9)
    for a, b in zip(u.phones, u.phones[1:]):
        assert a.end == b.start
    assert all(p.end > p.start for p in u.phones)


# --- synthesis ----------------------------------------------------------------------

@pytest.mark.parametrize("variant", ["m1", "f5"])
def test_deterministic_in_any_order_and_at_any_time(variant):
    # espeak carries pitch-flutter state between calls (m1) and seeds its breath noise
    # (f5) from the clock; the module must neutralise both.
    v = voice("de", variant)
    first = synthesize("Guten Morgen, wie geht es dir?", v)
    synthesize("Etwas ganz anderes dazwischen.", voice("de", "f2"))
    if variant == "f5":
        time.sleep(1.05)  # the clock seed has one-second resolution
    second = synthesize("Guten Morgen, wie geht es dir?", v)
    assert np.array_equal(first.audio, second.audio)
    assert first.phones == second.phones


def _synth_in_child(_):
    return synthesize("Hello there, my friend.", voice("en", "f3")).audio


def test_forked_workers_match_parent():
    parent = synthesize("Hello there, my friend.", voice("en", "f3")).audio
    with mp.get_context("fork").Pool(2) as pool:
        children = pool.map(_synth_in_child, range(2))
    assert all(np.array_equal(parent, c) for c in children)


def test_audio_is_real_speech():
    u = synthesize("The cat is sleeping on the warm blanket.", voice())
    assert u.audio.dtype == np.float32 and u.audio.ndim == 1
    assert u.sample_rate == 22050
    assert np.abs(u.audio).max() <= 1.0
    assert rms(u.audio) > 0.02
    assert 1.0 < len(u.audio) / u.sample_rate < 5.0
    assert_phones_cover(u)
    assert u.text.startswith("The cat") and u.voice == voice()


def test_voice_parameters_change_the_audio():
    a = synthesize("One two three four.", voice(rate=140)).audio
    b = synthesize("One two three four.", voice(rate=220)).audio
    assert len(b) < 0.8 * len(a)  # faster speech is shorter


@pytest.mark.parametrize("language", LANGUAGES)
def test_every_language_synthesizes_and_maps_to_visemes(language):
    # Measured fallback rate on all bundled sentences: 0.0 for each of the five languages.
    unknown = total = 0
    for i, text in enumerate(load_sentences(language)[:12]):
        u = synthesize(text, voice(language, VOICE_VARIANTS[i % len(VOICE_VARIANTS)]))
        assert_phones_cover(u)
        assert rms(u.audio) > 0.02
        total += len(u.phones)
        unknown += sum(speech._known_viseme(p.symbol) is None for p in u.phones)
        assert all(viseme_of(p.symbol) in VISEMES for p in u.phones)
        assert not any(p.symbol.startswith(("'", ",", "(")) for p in u.phones)
    assert total > 200
    assert unknown / total <= 0.01


def test_bilabials_close_the_lips():
    u = synthesize("My mom bought a map.", voice())
    bilabials = [p for p in u.phones if p.symbol in ("m", "b", "p")]
    assert len(bilabials) >= 5
    assert {viseme_of(p.symbol) for p in bilabials} == {"closed"}
    assert VISEMES["closed"][0] == 0.0  # jaw target of a closed mouth
    assert viseme_of("B") == "closed"   # Spanish intervocalic b


@pytest.mark.parametrize("language", ["en", "es", "cmn"])
def test_pauses_are_quiet_where_the_phones_say(language):
    # If timings were shifted against the audio, pauses would pick up speech energy.
    pauses, vowels = [], []
    for i, text in enumerate(load_sentences(language)[:30]):
        u = synthesize(text, voice(language, VOICE_VARIANTS[i % len(VOICE_VARIANTS)]))
        for p in u.phones:
            if p.end - p.start < 0.04:
                continue
            seg = u.audio[int(p.start * u.sample_rate):int(p.end * u.sample_rate)]
            kind = viseme_of(p.symbol)
            (pauses if kind == "rest" else vowels if kind in VOWEL_VISEMES else []).append(rms(seg))
    assert len(pauses) >= 5 and len(vowels) >= 100
    # Measured ratio of medians ~0.01 (pause RMS ~0.001, vowel ~0.1); shifting all phones
    # by 15 ms in either direction pushes it to 0.05-0.27 (en, es, cmn).
    assert np.median(pauses) < 0.04 * np.median(vowels)


def test_leading_silence_gets_a_pause_phone():
    u = synthesize("The library opens at nine.", voice())
    assert u.phones[0].symbol.startswith("_")


def test_resampling_gives_the_right_length():
    native = synthesize("Please close the window.", voice())
    u = synthesize("Please close the window.", voice(), sample_rate=16000)
    assert u.sample_rate == 16000 and u.audio.dtype == np.float32
    assert abs(len(u.audio) - len(native.audio) * 16000 / 22050) <= 1
    assert_phones_cover(u)
    assert [p.symbol for p in u.phones] == [p.symbol for p in native.phones]


# --- data, voices, visemes ----------------------------------------------------------

@pytest.mark.parametrize("language", LANGUAGES)
def test_sentences(language):
    s = load_sentences(language)
    assert len(s) >= 100 and len(set(s)) == len(s)
    assert all(s == s.strip() and s for s in s)


def test_voice_variants_exist_in_espeak_data():
    import espeakng_loader

    folder = Path(espeakng_loader.get_data_path()) / "voices" / "!v"
    assert all((folder / v).is_file() for v in VOICE_VARIANTS)


def test_sample_voice_is_seeded_and_in_range():
    a = [sample_voice(np.random.default_rng(7), "fr") for _ in range(2)]
    assert a[0] == a[1]
    voices = [sample_voice(np.random.default_rng(i), "es") for i in range(50)]
    assert all(v.variant in VOICE_VARIANTS and 130 <= v.rate <= 200 for v in voices)
    assert len({v.variant for v in voices}) > 5
    assert sample_voice(np.random.default_rng(0), "en", variants=["f2"]).variant == "f2"


def test_viseme_rules():
    assert viseme_of("'aI") == "open"           # stress stripped, diphthong by first vowel
    assert viseme_of("_:") == viseme_of("_|") == "rest"
    assert viseme_of("tS;h") == "postalveolar"  # Mandarin q
    assert viseme_of("u:") == viseme_of("y") == "rounded"
    assert viseme_of("i:") == "spread" and viseme_of("f") == "labiodental"
    assert viseme_of("@@@unknown") == speech.FALLBACK_VISEME
    for target in VISEMES.values():
        assert len(target) == 3 and all(0.0 <= x <= 1.0 for x in target)


def test_phone_construction_handles_espeak_quirks():
    events = [(10, "h"), (50, "(en)"), (80, "'a"), (120, "_|"), (120, "m"), (200, "_:"), (210, "_")]
    phones = speech._phones_from_events(events, duration=0.21)
    assert phones == [Phone(0.0, 0.01, "_"), Phone(0.01, 0.05, "h"), Phone(0.05, 0.12, "a"),
                      Phone(0.12, 0.2, "m"), Phone(0.2, 0.21, "_:")]


# --- errors ---------------------------------------------------------------------------

def test_clear_errors():
    with pytest.raises(ValueError, match="'xx'.*en, de, fr, es, cmn"):
        voice("xx")
    with pytest.raises(ValueError, match="'klingon'"):
        load_sentences("klingon")
    with pytest.raises(ValueError, match="'tlh'"):
        sample_voice(np.random.default_rng(0), "tlh")
    with pytest.raises(ValueError, match="non-empty"):
        synthesize("   ", voice())
    with pytest.raises(ValueError, match="variant 'zz9'"):
        synthesize("Hello.", voice(variant="zz9"))
    with pytest.raises(ValueError, match="rate"):
        voice(rate=20)
    with pytest.raises(RuntimeError, match=r"'\.\.\.'"):
        synthesize("...", voice())
