"""Solutions to the exercises of notebook 01, "A tour of SynthTalk".

One function per exercise; each returns plain numbers so that tests/test_solutions_01.py can check them.
Equation numbers refer to the notebook. Every function runs in a few seconds on one CPU core.
"""
from __future__ import annotations

import numpy as np

from labkit.synthtalk import (
    FACTORS,
    LANGUAGES,
    RESOLUTIONS,
    SynthTalk,
    Voice,
    frame_rms,
    neutral_factors,
    render,
    sample_identity,
    synthesize,
)
from labkit.synthtalk.speech import load_sentences

PERSON = 4          # the identity of the notebook's traversals: buzz cut, no glasses
UPPER_LID = (37, 38, 43, 44)   # iBUG-68 upper-eyelid points (0-based)
LOWER_LID = (41, 40, 47, 46)   # the lower-eyelid points below them
MOUTH, NOSE = slice(48, 68), slice(27, 36)


def ex1_blink_pixels(threshold: int = 10) -> dict[int, dict[str, float]]:
    """Exercise 1: one identity, eyes open and closed, at every resolution.

    Returns {resolution: {"pixels": pixels whose colour changes by more than `threshold` (of 255) in some
    channel, "fraction": the same as a fraction of the image, "eye_gap_px": mean open-eye lid gap in pixels}}.
    Eq. (12) says image distances scale with n, so the gap doubles with each step and the blink's area
    grows about four times (a little less at low resolution, where the lids cover fractions of a pixel).
    """
    f = neutral_factors(2)
    f["blink"][1] = 1.0                                   # frame 0 open, frame 1 closed
    out = {}
    for n in RESOLUTIONS:
        r = render(sample_identity(PERSON), f, resolution=n)
        changed = np.abs(r.frames[1].astype(int) - r.frames[0]).max(axis=-1) > threshold   # (n, n)
        gap = np.linalg.norm(r.landmarks[0, list(UPPER_LID)] - r.landmarks[0, list(LOWER_LID)], axis=-1)
        out[n] = {"pixels": int(changed.sum()), "fraction": float(changed.mean()), "eye_gap_px": float(gap.mean())}
    return out


def ex2_linearity(steps: int = 5, resolution: int = 256) -> dict[str, float]:
    """Exercise 2: landmark displacement against the factor value, for `jaw` (eq. 1) and `yaw` (eq. 11).

    Each factor is moved from rest to its top in `steps` equal steps; the displacement of the mouth (jaw)
    or the nose (yaw) is the mean landmark distance from the rest frame. Returns the half-way displacement
    divided by the full one ("*_ratio": exactly 0.5 for a map linear in the factor) and the full
    displacement in pixels ("*_px").
    """
    person = sample_identity(PERSON)
    out = {}
    for name, group in (("jaw", MOUTH), ("yaw", NOSE)):
        f = neutral_factors(steps)                                               # both factors rest at 0
        f[name][:] = np.linspace(0.0, FACTORS[name][1], steps)
        lm = render(person, f, resolution=resolution).landmarks                  # (steps, 68, 2)
        d = np.linalg.norm(lm - lm[0], axis=-1)[:, group].mean(axis=1)           # (steps,) pixels
        out[f"{name}_ratio"] = float(d[steps // 2] / d[-1])
        out[f"{name}_px"] = float(d[-1])
    return out


def ex3_phone_rates(rates: tuple[int, int] = (130, 200), sentences: int = 3) -> dict[int, dict[str, float]]:
    """Exercise 3: phones per second of speech in every language, at a slow and a fast speaking rate.

    The first `sentences` bundled sentences of each language, one voice (variant m3, pitch 50, range 50);
    a phone is any symbol that is not a pause ("_…"), and the rate is phones / seconds of those phones.
    Returns {words per minute: {language: phones per second}}.
    """
    out = {}
    for wpm in rates:
        out[wpm] = {}
        for lang in LANGUAGES:
            count, seconds = 0, 0.0
            for text in load_sentences(lang)[:sentences]:
                utt = synthesize(text, Voice(lang, "m3", wpm, 50, 50))
                spoken = [p for p in utt.phones if not p.symbol.startswith("_")]
                count += len(spoken)
                seconds += sum(p.end - p.start for p in spoken)
            out[wpm][lang] = count / seconds
    return out


def ex4_sync_lag(clips: int = 3, max_lag: int = 5) -> list[dict[str, float]]:
    """Exercise 4: the lag (frames) at which the jaw correlates best with the frame loudness (eq. 4).

    For clips 0 .. clips-1 of the test split, the Pearson r of jaw[t + lag] with rms[t] for lags in
    [-max_lag, max_lag]. Returns one {"lag": best lag, "r": r at that lag, "r_next": best r at any other
    lag} per clip. Eq. (9) builds the jaw from the same frame's loudness, so the best lag is 0.
    """
    ds = SynthTalk("test", resolution=64, seconds=4.0, seed=0)
    out = []
    for i in range(clips):
        clip = ds.sample_motion(i)
        jaw = clip["factors"]["jaw"]
        T = len(jaw)
        rms = frame_rms(clip["audio"], clip["sample_rate"], clip["fps"], T)
        lags = np.arange(-max_lag, max_lag + 1)
        r = np.array([np.corrcoef(jaw[max(0, k):T + min(0, k)], rms[max(0, -k):T - max(0, k)])[0, 1]
                      for k in lags])
        best = int(np.argmax(r))
        out.append({"lag": int(lags[best]), "r": float(r[best]), "r_next": float(np.delete(r, best).max())})
    return out


if __name__ == "__main__":
    print(ex1_blink_pixels())
    print(ex2_linearity())
    print(ex3_phone_rates())
    print(ex4_sync_lag())
