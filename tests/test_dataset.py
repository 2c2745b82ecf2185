"""The SynthTalk dataset: determinism, ranges, splits, audio/motion alignment, bad arguments."""
import numpy as np
import pytest

from labkit.synthtalk import (
    SPLITS,
    SynthTalk,
    frame_rms,
    split_identities,
    split_sentences,
    split_voices,
    validate_factors,
)
from labkit.synthtalk.speech import LANGUAGES


@pytest.fixture(scope="module")
def clips():
    ds = SynthTalk("test", resolution=64, seconds=2.0, num_clips=6)
    return ds, [ds[i] for i in range(len(ds))]


def test_item_contents(clips):
    ds, items = clips
    c = items[0]
    T = 50                                             # 2 s at 25 fps
    assert c["frames"].shape == (T, 64, 64, 3) and c["frames"].dtype == np.uint8
    assert c["audio"].shape == (T * 640,) and c["audio"].dtype == np.float32   # 16 kHz / 25 fps
    assert c["landmarks"].shape == (T, 68, 2)
    assert all(v.shape == (T,) for v in c["factors"].values())
    assert c["identity"] in set(split_identities("test"))


def test_same_seed_same_clip_other_seed_other_clip(clips):
    ds, items = clips
    again = SynthTalk("test", resolution=64, seconds=2.0, num_clips=6)[2]
    assert np.array_equal(again["frames"], items[2]["frames"])
    assert np.array_equal(again["audio"], items[2]["audio"])
    other = SynthTalk("test", resolution=64, seconds=2.0, num_clips=6, seed=1)[2]
    assert not np.array_equal(other["audio"][: len(items[2]["audio"])], items[2]["audio"])


def test_factors_in_range_and_landmarks_in_frame(clips):
    _, items = clips
    for c in items:
        validate_factors(c["factors"])
        assert (c["landmarks"] > 0).all() and (c["landmarks"] < 64).all()
        assert np.abs(c["audio"]).max() <= 1.0


def test_mouth_opening_follows_speech_energy_on_every_clip(clips):
    _, items = clips
    for c in items:
        T = len(c["frames"])
        rms = frame_rms(c["audio"], c["sample_rate"], c["fps"], T)
        r = np.corrcoef(rms, c["factors"]["jaw"])[0, 1]
        assert r > 0.3, (c["text"], r)
        # ... and the rendered lips part where the jaw factor says so
        gap = np.linalg.norm(c["landmarks"][:, 66] - c["landmarks"][:, 62], axis=-1)
        assert np.corrcoef(gap, c["factors"]["jaw"])[0, 1] > 0.8


def test_splits_are_disjoint():
    ids = {s: set(split_identities(s)) for s in SPLITS}
    assert sum(len(v) for v in ids.values()) == len(set().union(*ids.values())) >= 10_000
    for lang in LANGUAGES:
        sents = {s: set(split_sentences(s, lang)) for s in SPLITS}
        assert all(sents[s] for s in SPLITS)
        assert (not (sents["train"] & sents["test"]) and not (sents["train"] & sents["val"])
                and not (sents["val"] & sents["test"]))
    voices = {s: set(split_voices(s)) for s in SPLITS}
    assert (not (voices["train"] & voices["test"]) and not (voices["train"] & voices["val"])
            and not (voices["val"] & voices["test"]))


def test_clips_draw_from_their_own_split():
    for split in SPLITS:
        ds = SynthTalk(split, resolution=64, seconds=1.0, num_clips=3)
        for i in range(3):
            m = ds.sample_motion(i)
            assert m["identity"] in set(split_identities(split))
            assert m["voice"].split()[0].split("+")[1] in split_voices(split)
            sentences = set(split_sentences(split, m["language"]))
            assert any(s in m["text"] for s in sentences)


def test_whole_sentence_clips():
    ds = SynthTalk("val", resolution=64, seconds=None, num_clips=2)
    m = ds.sample_motion(1)
    T = len(m["factors"]["yaw"])
    assert len(m["audio"]) == T * 640 and T > 10


@pytest.mark.parametrize("kwargs, message", [
    (dict(split="dev"), "unknown split 'dev'"),
    (dict(resolution=100), "resolution 100 is not supported"),
    (dict(seconds=-1.0), "seconds must be a positive"),
    (dict(num_clips=-5), "num_clips must be >= 0"),
    (dict(languages=("xx",)), "languages must be"),
])
def test_bad_arguments_fail_clearly(kwargs, message):
    with pytest.raises(ValueError, match=message):
        SynthTalk(**kwargs)


def test_index_out_of_range():
    with pytest.raises(IndexError, match="out of range"):
        SynthTalk("test", num_clips=2)[2]


def test_phones_are_contiguous_and_pauses_merged():
    m = SynthTalk("train", resolution=64, seconds=4.0, num_clips=3).sample_motion(2)
    ph = m["phones"]
    assert ph[0].start == 0.0 and abs(ph[-1].end - len(m["audio"]) / m["sample_rate"]) < 1e-9
    assert all(a.end == b.start for a, b in zip(ph, ph[1:]))
    assert not any(a.symbol.startswith("_") and b.symbol.startswith("_") for a, b in zip(ph, ph[1:]))


def test_factor_row_is_a_neutral_face_with_the_named_factors_set():
    from labkit.synthtalk.factors import FACTOR_NAMES, factor_row

    row = factor_row(jaw=0.8, blink=1.0)
    assert row.shape == (len(FACTOR_NAMES),)
    expected = {"distance": 1.0, "jaw": 0.8, "blink": 1.0}
    assert all(row[i] == expected.get(n, 0.0) for i, n in enumerate(FACTOR_NAMES))
    with pytest.raises(ValueError, match=r"unknown factors \['smile'\]"):
        factor_row(smile=1.0)
