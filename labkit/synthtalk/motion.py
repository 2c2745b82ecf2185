"""SynthTalk ground-truth motion: per-frame face factors generated from speech.

VASA-1 (Xu et al., 2024, arXiv 2404.10667) generates "holistic facial dynamics" -
lip motion, expression, blinks, gaze and head pose together (Sec. 3.2), conditioned
on audio plus optional gaze direction, head-to-camera distance and emotion offset.
Its realism claims rest on that motion looking natural rather than periodic.
SynthTalk renders 3D heads from the explicit factors below, so every "video"
comes with exact ground truth. This module turns an utterance (phones + audio)
into those factor trajectories:

    mouth   phone timings -> viseme targets -> Cohen & Massaro (1993) dominance
            blending (coarticulation), scaled by speech loudness
    prosody frame RMS + autocorrelation pitch -> phrases (speech between pauses), nods
            on energy onsets, brow raises on pitch accents
    head    visual prosody: a turn and a lift at every phrase onset, drifting back towards
            rest, the head's pitch following the voice's intonation, nods; on top, a smaller
            Ornstein-Uhlenbeck sway and occasional posture shifts in the pauses
    eyes    Poisson blinks (fast close, slow open); gamma-timed fixations joined by
            saccades, microsaccades, drift, partial vestibulo-ocular compensation
    emotion constant label/intensity that also modulates all of the above

Timing convention (audio and video must align sample-exactly): frame t covers
audio samples [round(t * sr / fps), round((t + 1) * sr / fps)), i.e. the time
interval [t / fps, (t + 1) / fps), and its factors describe the face at the
frame's centre time (t + 0.5) / fps. Shapes: T frames, F = len(FACTOR_NAMES).
"""
from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
from scipy.ndimage import uniform_filter1d
from scipy.signal import find_peaks, lfilter

from labkit.synthtalk.factors import EMOTIONS, FACTORS, Factors, clip_factors
from labkit.synthtalk.speech import VISEMES, Phone, viseme_of

log = logging.getLogger(__name__)

_HEAD = ("yaw", "pitch", "roll", "tx", "ty", "distance")

# Bumped whenever the motion generated for the same clip changes; caches of SynthTalk clips key on it.
MOTION_VERSION = 2


# ----------------------------------------------------------------------------- style
@dataclass
class MotionStyle:
    """Per-identity / per-clip motion "personality" (all defaults are an average person)."""
    head_motion_scale: float = 1.0  # overall amplitude of head sway
    speaking_motion_gain: float = 1.0  # extra sway amplitude while speaking (0 = none)
    sway_time_constant: float = 1.0  # multiplies the per-axis OU time constants (s)
    posture_shift_rate_per_min: float = 4.0  # occasional larger re-positionings of the head
    posture_shift_scale: float = 1.0  # amplitude of those posture shifts
    rest_yaw: float = 0.0  # deg, habitual head orientation of this identity
    rest_pitch: float = 0.0  # deg
    rest_roll: float = 0.0  # deg
    nod_gain: float = 2.5  # deg of head dip per strong energy onset
    nod_prob: float = 0.6  # fraction of detected onsets that get a nod
    brow_gain: float = 0.5  # brow raise per pitch accent
    mouth_gain: float = 1.0  # scales jaw opening (mumblers < 1 < over-articulators)
    blink_rate_per_min: float = 17.0  # mean blink rate, double blinks counted twice
    double_blink_prob: float = 0.1  # chance that a blink is followed by a second one
    saccade_rate: float = 1.5  # saccades per second (mean fixation = 1 / rate)
    gaze_spread: float = 8.0  # deg, std of gaze targets when looking away from camera
    camera_gaze_prob: float = 0.6  # chance that a new fixation lands on the camera
    vor_prob: float = 0.5  # chance that a camera fixation counter-rotates the eyes against head motion
    phrase_turn: float = 6.0  # deg of yaw turn at a phrase onset (mostly alternating sides)
    phrase_lift: float = 2.0  # deg the head lifts at a phrase onset
    turn_roll: float = 0.3  # roll that goes with a turn, per degree of yaw (sign = this person's habit)
    intonation_gain: float = 0.5  # deg of head pitch per semitone of the voice above its median


def sample_style(rng: np.random.Generator) -> MotionStyle:
    """Draw a random but plausible MotionStyle."""
    u = rng.uniform
    return MotionStyle(
        head_motion_scale=u(0.6, 1.4), speaking_motion_gain=u(0.5, 1.5), sway_time_constant=u(0.7, 1.4),
        posture_shift_rate_per_min=u(2, 8), posture_shift_scale=u(0.5, 1.3),
        rest_yaw=rng.normal(0, 4), rest_pitch=rng.normal(0, 2), rest_roll=rng.normal(0, 2),
        nod_gain=u(1.5, 4.0), nod_prob=u(0.4, 0.8), brow_gain=u(0.2, 0.7), mouth_gain=u(0.8, 1.15),
        blink_rate_per_min=u(10, 25), double_blink_prob=u(0.03, 0.2), saccade_rate=u(0.8, 2.5),
        gaze_spread=u(4, 12), camera_gaze_prob=u(0.4, 0.8), vor_prob=u(0.2, 0.8),
        phrase_turn=u(3.5, 8.0), phrase_lift=u(1.0, 3.0), turn_roll=u(-0.5, 0.5), intonation_gain=u(0.3, 0.8))


# How each emotion modulates motion at intensity 1 (linearly blended from neutral):
# head sway scale, head pitch offset (deg), speed (divides time constants), brow offset,
# brow-accent gain, nod gain, nod sharpness (divides nod duration), lip_spread offset (smile).
_EMOTION_MOTION = {
    "neutral":   (1.0, 0.0, 1.0, 0.0, 1.0, 1.0, 1.0, 0.0),
    "happy":     (1.3, 2.0, 1.2, 0.15, 1.3, 1.2, 1.0, 0.25),
    "sad":       (0.6, -8.0, 0.6, -0.1, 0.3, 0.5, 0.8, -0.05),
    "angry":     (1.1, -3.0, 1.2, -0.6, 0.6, 1.6, 1.8, 0.05),
    "surprised": (1.3, 3.0, 1.1, 0.55, 1.5, 1.0, 1.2, 0.0),
}


# ----------------------------------------------------------------------------- helpers
def _soft_clip(x: np.ndarray, lo: float, hi: float) -> np.ndarray:
    """tanh squashing into (lo, hi): identity near the centre, smooth walls at the ends."""
    c, h = (hi + lo) / 2, (hi - lo) / 2
    return c + h * np.tanh((x - c) / h)


def _smoothstep(u: np.ndarray) -> np.ndarray:
    u = np.clip(u, 0.0, 1.0)
    return u * u * (3 - 2 * u)


def _transitions(t: np.ndarray, starts: np.ndarray, durs: np.ndarray, levels: np.ndarray) -> np.ndarray:
    """Piecewise-constant levels joined by smooth ramps, evaluated at times t (T,).

    levels: (K + 1, ...) where levels[0] holds before starts[0]; ramp k goes from
    levels[k] to levels[k + 1] during [starts[k], starts[k] + durs[k]]. Returns (T, ...).
    """
    if len(starts) == 0:
        return np.broadcast_to(levels[0], t.shape + levels.shape[1:]).copy()
    k = np.searchsorted(starts, t, side="right") - 1  # index of the last ramp that began
    kk = np.maximum(k, 0)
    u = np.where(k >= 0, _smoothstep((t - starts[kk]) / durs[kk]), 1.0)
    a, b = levels[np.where(k >= 0, kk, 0)], levels[k + 1]
    u = u.reshape(u.shape + (1,) * (levels.ndim - 1))
    return a + (b - a) * u


def _ou(rng: np.random.Generator, T: int, dt: float, tau: float) -> np.ndarray:
    """Stationary unit-variance smooth noise: two cascaded Ornstein-Uhlenbeck (AR(1)) stages."""
    a = np.exp(-dt / tau)
    burn = int(5 * tau / dt) + 1  # discard the start-up transient of the zero initial state
    x = lfilter([1 - a * a], [1, -2 * a, a * a], rng.standard_normal(T + burn))[burn:]
    return x / np.sqrt((1 + a * a) / (1 - a * a))  # theoretical std of the cascade


def _events(rng: np.random.Generator, rate_hz: float, T_sec: float, refractory: float = 0.0) -> np.ndarray:
    """Poisson event times in [0, T_sec) with a minimum gap (a dead-time renewal process)."""
    mean_gap = max(1.0 / max(rate_hz, 1e-6) - refractory, 1e-3)
    n = int(T_sec * rate_hz * 2 + 10)
    t = np.cumsum(refractory + rng.exponential(mean_gap, n)) - rng.uniform(0, refractory + mean_gap)
    return t[(t >= 0) & (t < T_sec)]


def phrases(active: np.ndarray, fps: float, min_pause: float = 0.25) -> tuple[np.ndarray, np.ndarray]:
    """Start and end frames (end exclusive) of the phrases of a voice-activity track (T,) bool: runs of
    activity split by pauses of at least `min_pause` seconds (shorter gaps are stop closures)."""
    idx = np.flatnonzero(active)
    if len(idx) == 0:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    gaps = np.flatnonzero(np.diff(idx) > min_pause * fps)
    return np.r_[idx[0], idx[gaps + 1]], np.r_[idx[gaps], idx[-1]] + 1


def frame_rms(audio: np.ndarray, sample_rate: int, fps: float, num_frames: int) -> np.ndarray:
    """RMS of each frame's own audio samples (see the timing convention): (T,) float32."""
    edges = np.round(np.arange(num_frames + 1) * sample_rate / fps).astype(np.int64)
    sq = np.concatenate([[0.0], np.cumsum(np.asarray(audio, np.float64) ** 2)])
    e = np.minimum(edges, len(audio))  # frames past the audio end are silent
    return np.sqrt((sq[e[1:]] - sq[e[:-1]]) / np.maximum(np.diff(edges), 1)).astype(np.float32)


def _pitch(audio: np.ndarray, sr: int, fps: float, T: int, fmin=70.0, fmax=400.0):
    """Cheap f0 per frame from the normalised autocorrelation of a 40 ms window at the frame centre.

    Returns (f0 (T,) Hz, periodicity (T,) in [0, 1]); f0 is only meaningful where periodicity is high.
    """
    n = int(0.04 * sr)
    centres = np.round((np.arange(T) + 0.5) * sr / fps).astype(np.int64)
    right = max(0, int(centres[-1]) + n - len(audio)) + 1
    padded = np.pad(np.asarray(audio, np.float64), (n, right))  # silence outside the audio
    frames = padded[centres[:, None] + n + np.arange(-(n // 2), n - n // 2)[None]]  # (T, n)
    frames = (frames - frames.mean(1, keepdims=True)) * np.hanning(n)
    spec = np.fft.rfft(frames, 2 * n)
    ac = np.fft.irfft(spec.real ** 2 + spec.imag ** 2)[:, :n]  # (T, n) autocorrelation
    ac /= ac[:, :1] + 1e-12
    lo, hi = int(sr / fmax), min(int(sr / fmin), n - 1)
    lag = lo + np.argmax(ac[:, lo:hi], axis=1)
    return sr / lag, np.clip(ac[np.arange(T), lag], 0, 1)


# ----------------------------------------------------------------------------- the generator
def generate_motion(phones: list[Phone], audio: np.ndarray, sample_rate: int, *, fps: float = 25.0,
                    num_frames: int | None = None, emotion: str = "neutral", emotion_intensity: float = 0.0,
                    style: MotionStyle | None = None, rng: np.random.Generator) -> Factors:
    """Ground-truth factor trajectories for one utterance.

    phones: contiguous Phone list covering the audio (seconds); audio: (S,) mono at sample_rate.
    num_frames defaults to ceil(S / sample_rate * fps). Frame t describes time (t + 0.5) / fps.
    Returns Factors: FACTOR_NAMES -> (T,) float32 and "emotion" -> (T,) int64, all in range.
    Deterministic given rng; style=None draws one with sample_style(rng).
    """
    if emotion not in EMOTIONS:
        raise ValueError(f"emotion must be one of {EMOTIONS}, got {emotion!r}")
    if not 0.0 <= emotion_intensity <= 1.0:
        raise ValueError(f"emotion_intensity must be in [0, 1], got {emotion_intensity}")
    audio = np.asarray(audio, np.float32)
    if audio.ndim != 1:
        raise ValueError(f"audio must be mono (S,), got shape {audio.shape}")
    T = int(np.ceil(len(audio) / sample_rate * fps)) if num_frames is None else int(num_frames)
    if T <= 0:
        raise ValueError(f"need at least one frame, got num_frames={T}")
    style = sample_style(rng) if style is None else style
    dt, t = 1.0 / fps, (np.arange(T) + 0.5) / fps  # frame-centre times (T,)
    emo = np.array(_EMOTION_MOTION["neutral"]) * (1 - emotion_intensity) \
        + np.array(_EMOTION_MOTION[emotion]) * emotion_intensity
    head_scale, pitch_off, speed, brow_off, brow_gain, nod_gain, nod_sharp, smile = emo

    # --- prosody: loudness, voice activity, pitch accents -----------------------------
    rms = frame_rms(audio, sample_rate, fps, T)
    db = 20 * np.log10(rms + 1e-5)
    ref = max(np.percentile(db, 95), -40.0)  # the clip's loud level; an all-silent clip stays silent
    loud = np.clip((db - (ref - 35.0)) / 35.0, 0, 1)  # 0 = 35 dB below loud, 1 = loud
    speaking = np.clip(uniform_filter1d((loud > 0.3).astype(float), max(1, int(0.6 * fps))) * 1.5, 0, 1)
    f0, periodicity = _pitch(audio, sample_rate, fps, T)
    voiced = (periodicity > 0.5) & (loud > 0.3)
    semis = np.zeros(T)
    if voiced.sum() >= 3:
        semis[voiced] = 12 * np.log2(f0[voiced] / np.median(f0[voiced]))
    # a pitch accent = voiced f0 clearly above the local (1 s) pitch level of the speaker
    local = uniform_filter1d(semis, max(1, int(fps))) / np.maximum(
        uniform_filter1d(voiced.astype(float), max(1, int(fps))), 1e-3)
    accent = np.clip((semis - local) / 3.0, 0, 1) * voiced
    accent = uniform_filter1d(accent, max(1, int(0.2 * fps)))

    # --- mouth: Cohen & Massaro (1993) dominance-weighted blending of viseme targets ---
    if phones:
        st = np.array([p.start for p in phones])
        en = np.array([p.end for p in phones])
        vis = [viseme_of(p.symbol) for p in phones]
        targets = np.array([VISEMES[v] for v in vis], dtype=np.float64)  # (P, 3) jaw, spread, round
        closing = {viseme_of(s) for s in ("p", "b", "m")}  # bilabial closure must win
        alpha = np.array([3.0 if v in closing else 2.0 if v == viseme_of("f") else 1.0 for v in vis])
        centre, half = (st + en) / 2, (en - st) / 2
        tau = t[:, None] - centre[None]  # (T, P) time from each phone centre
        width = half[None] + np.where(tau < 0, 0.04, 0.01)  # anticipation reaches further than carry-over
        # D_p(t) = alpha_p exp(-(|t - c_p| / w_p)^2): Cohen & Massaro's dominance with c = 2
        dom = alpha[None] * np.exp(-(np.abs(tau) / width) ** 2)  # (T, P)
        rest = np.array(VISEMES[viseme_of("_")])
        total = dom.sum(1) + 1e-3
        mouth = (dom @ targets + 1e-3 * rest) / total[:, None]  # (T, 3)
        # lips pressed together: flat-topped inside each bilabial phone, fading just outside it
        lab = alpha == 3.0
        closure = np.exp(-(np.abs(tau[:, lab]) / np.maximum(half[lab], 1e-3)) ** 4)
        closure = closure.max(1, initial=0.0)  # (T,)
    else:
        mouth, closure = np.tile(np.array(VISEMES[viseme_of("_")]), (T, 1)), np.zeros(T)
    # The jaw follows both the phone's target and the loudness: louder syllables open wider
    # (sonority), which also keeps jaw-RMS correlation high when a language's viseme table is
    # coarse. Bilabial closures gate the whole opening, so /p b m/ still shut the lips.
    sonority = np.clip(rms / (np.percentile(rms, 95) + 1e-8), 0, 1) ** 0.8  # mildly compressed RMS
    jaw = style.mouth_gain * (0.4 * mouth[:, 0] + 0.6 * sonority) * (1 - closure)
    lip_spread = mouth[:, 1] + smile * (1 - mouth[:, 2])
    lip_round = mouth[:, 2]

    # --- head: visual prosody + OU sway + posture shifts --------------------------------
    # Speakers move the head with their phrasing and intonation: the largest movements come at
    # phrase onsets after a pause and start just before the voice (Hadar et al. 1983), and the
    # head's pitch follows the voice's F0 (Yehia et al. 2002; Munhall et al. 2004). When, and how
    # far, is set by the speech and the person; which way differs between performances of the same
    # sentence. So at each phrase onset the head turns (mostly to the other side than last time, the
    # first side drawn per performance) and lifts, in proportion to the phrase's loudness, then drifts
    # back towards rest; between, its pitch follows the intonation.
    gesture = np.zeros((T, 3))  # yaw, pitch, roll of the phrase gestures
    starts, ends = phrases(loud > 0.3, fps)
    if len(starts):
        K = len(starts)
        strength = np.array([loud[a:b].mean() for a, b in zip(starts, ends)]) + 0.5  # ~1 at normal loudness
        size = style.head_motion_scale * head_scale * strength * rng.uniform(0.7, 1.3, K)
        flips = np.where(rng.random(K) < 0.75, -1.0, 1.0)
        flips[0] = rng.choice([-1.0, 1.0])
        side = np.cumprod(flips)
        turn = np.stack([style.phrase_turn * side, style.phrase_lift * np.ones(K),
                         style.phrase_turn * style.turn_roll * side], 1) * size[:, None]  # (K, 3)
        onset = starts / fps - 0.15                  # the head leads the voice
        rise = rng.uniform(0.3, 0.5, K) / speed
        back = rng.uniform(1.2, 2.4, K) * style.sway_time_constant / speed
        since = t[:, None] - onset[None]             # (T, K)
        shape = _smoothstep(since / rise) * np.exp(-np.maximum(since - rise, 0) / back)
        gesture = shape @ turn
    # intonation: the voice's pitch contour (semitones about its median), bridged over unvoiced
    # frames inside a phrase, smoothed over 0.3 s, zero in the pauses
    contour = np.zeros(T)
    if voiced.sum() >= 3:
        contour = np.interp(np.arange(T), np.flatnonzero(voiced), semis[voiced])
        inside = np.zeros(T, bool)
        for a, b in zip(starts, ends):
            inside[a:b] = True
        contour = uniform_filter1d(np.clip(contour, -6, 6) * inside, max(1, int(0.3 * fps)))
    gesture[:, 1] += style.intonation_gain * head_scale * contour

    amp = style.head_motion_scale * head_scale * (0.5 + style.speaking_motion_gain * speaking)
    sway_sigma = {"yaw": 2.0, "pitch": 1.2, "roll": 1.0, "tx": 0.012, "ty": 0.008, "distance": 0.025}
    sway_tau = {"yaw": 1.0, "pitch": 0.7, "roll": 1.4, "tx": 1.8, "ty": 1.5, "distance": 3.0}
    # posture shifts: occasional re-positionings, in pauses when there are any
    shift_sigma = np.array([6.0, 3.0, 3.0, 0.02, 0.012, 0.05]) * style.posture_shift_scale
    shifts = _events(rng, style.posture_shift_rate_per_min / 60, T * dt, refractory=2.0)
    if len(ends) > 1:                                 # move each to the nearest pause (not the last)
        pause_at = (ends[:-1] + starts[1:]) / 2 / fps
        shifts = np.unique(pause_at[np.abs(shifts[:, None] - pause_at[None]).argmin(1)])
    levels = rng.normal(0, shift_sigma, (len(shifts) + 1, 6))  # (K + 1, 6); levels[0] = start pose
    levels[0] *= 0.5
    ramp = np.minimum(rng.uniform(0.6, 1.4, len(shifts)), np.diff(shifts, append=np.inf))  # done before the next
    posture = _transitions(t, shifts, ramp, levels)  # (T, 6)
    rest_pose = np.array([style.rest_yaw, style.rest_pitch + pitch_off, style.rest_roll, 0, 0, 1.0])
    head = {}
    for i, name in enumerate(_HEAD):
        sway = _ou(rng, T, dt, sway_tau[name] * style.sway_time_constant / speed)
        head[name] = rest_pose[i] + posture[:, i] + sway_sigma[name] * amp * sway
        if i < 3:
            head[name] += gesture[:, i]
    # nods: the head dips on stressed syllables, i.e. sharp loudness onsets (stronger when accented)
    onset = np.maximum(np.diff(uniform_filter1d(db, 3), prepend=db[0]), 0) * (loud > 0.3)  # dB/frame
    peaks, _ = find_peaks(onset, height=3.0, distance=max(1, int(0.25 * fps)))
    keep = peaks[rng.random(len(peaks)) < style.nod_prob]
    impulses = np.zeros(T)
    strength = np.minimum(onset[keep] / 10.0, 1.5) * (1 + accent[keep])
    impulses[keep] = strength * rng.uniform(0.6, 1.2, len(keep))
    nt = np.arange(0, 1.0, dt) + 0.08  # gamma-like dip starting ~80 ms before the onset
    nod_tau = 0.15 / nod_sharp
    kernel = (nt / nod_tau) * np.exp(1 - nt / nod_tau)
    head["pitch"] -= style.nod_gain * nod_gain * np.convolve(impulses, kernel)[:T]

    # --- brow: emotion baseline + pitch-accent raises + slow fidgeting ---------------
    brow = brow_off + style.brow_gain * brow_gain * accent + 0.05 * _ou(rng, T, dt, 1.5)

    # --- blinks: renewal process, fast close / hold / slower open ---------------------
    rate = style.blink_rate_per_min / 60 / (1 + style.double_blink_prob)
    b = _events(rng, rate, T * dt, refractory=0.8)
    doubles = b[rng.random(len(b)) < style.double_blink_prob] + rng.uniform(0.25, 0.4)
    b = np.sort(np.concatenate([b, doubles]))
    b = (np.floor(b * fps) + 0.5) / fps  # peaks on frame centres, so no closure falls between frames
    n = len(b)
    close, hold, opening = rng.uniform(0.05, 0.09, n), rng.uniform(0.0, 0.05, n), rng.uniform(0.1, 0.25, n)
    bt = t[:, None] - b[None]  # (T, n) time relative to each blink peak
    profile = np.where(bt < 0, _smoothstep(1 + (bt + hold / 2) / close),
                       1 - _smoothstep((bt - hold / 2) / opening))
    profile = np.where(np.abs(bt) <= hold / 2, 1.0, profile) * rng.uniform(0.93, 1.0, n)
    blink = profile.max(1) if n else np.zeros(T)

    # --- gaze: gamma fixations + main-sequence saccades + drift + partial VOR ----------
    K = int(T * dt * style.saccade_rate * 2 + 5)
    fix = rng.gamma(2.5, 1 / (2.5 * style.saccade_rate), K)  # fixation durations (s)
    sac_t = np.cumsum(fix) - rng.uniform(0, fix[0])
    kind = rng.choice(3, K + 1, p=[style.camera_gaze_prob, 0.25 * (1 - style.camera_gaze_prob),
                                   0.75 * (1 - style.camera_gaze_prob)])  # camera, micro, away
    target = np.where((kind == 0)[:, None], rng.normal(0, [1.5, 1.0], (K + 1, 2)),
                      rng.normal([0, -2 - 3 * (emotion == "sad") * emotion_intensity],
                                 [style.gaze_spread, style.gaze_spread / 2], (K + 1, 2)))
    # microsaccades: small hops (~0.6 deg) from the previous target; runs of them random-walk
    hop = np.cumsum(rng.normal(0, 0.6, (K + 1, 2)) * (kind == 1)[:, None], axis=0)
    anchor = np.maximum.accumulate(np.where(kind != 1, np.arange(K + 1), 0))  # last real fixation
    target = target[anchor] + hop - hop[anchor]
    amp_deg = np.linalg.norm(np.diff(target, axis=0), axis=1)
    sac_d = np.clip(0.021 + 0.0022 * amp_deg, 0.03, 0.08)  # Carpenter's main sequence: D = 2.2 A + 21 ms
    vor = (kind == 0) * (rng.random(K + 1) < style.vor_prob) * rng.uniform(0.5, 0.9, K + 1)
    g = _transitions(t, sac_t, sac_d, np.concatenate([target, vor[:, None]], axis=1))  # (T, 3)
    drift = 0.3 * np.stack([_ou(rng, T, dt, 0.5), _ou(rng, T, dt, 0.5)], 1)
    gaze_yaw = g[:, 0] + drift[:, 0] - g[:, 2] * (head["yaw"] - style.rest_yaw)
    gaze_pitch = g[:, 1] + drift[:, 1] - g[:, 2] * (head["pitch"] - style.rest_pitch - pitch_off)

    out = {name: _soft_clip(head[name], *FACTORS[name][:2]) for name in _HEAD}
    out.update(jaw=jaw, lip_spread=lip_spread, lip_round=lip_round, blink=blink,
               brow=_soft_clip(brow, -1, 1),
               gaze_yaw=_soft_clip(gaze_yaw, -25, 25), gaze_pitch=_soft_clip(gaze_pitch, -15, 15),
               emotion_intensity=np.full(T, emotion_intensity))
    out["emotion"] = np.full(T, EMOTIONS.index(emotion), np.int64)
    out = clip_factors(out)  # float32; only guards float rounding, trajectories are already in range
    log.debug("generated %d frames (%s, intensity %.2f)", T, emotion, emotion_intensity)
    return out
