"""Solutions to the exercises of notebook 07, "Evaluation".

One function per exercise; each returns plain numbers so that tests/test_solutions_07.py can check them.
Equation numbers refer to the notebook. Every function runs in a few seconds on one CPU core.
"""
from __future__ import annotations

import numpy as np

from labkit.evaluation.table import load_test_set
from labkit.evaluators.capp import load_capp, pose_audio, shift_frames
from labkit.evaluators.labsync import load_labsync
from labkit.evaluators.video_features import load_video_features
from labkit.metrics import delta_p, fvd

SAMPLES_PER_FRAME = 640          # 16 kHz audio, 25 fps video


def _delayed(audio: np.ndarray, frames: int) -> np.ndarray:
    """Audio delayed by `frames` video frames (advanced when negative), silence at the open end."""
    k = SAMPLES_PER_FRAME * abs(frames)
    pad = np.zeros(k, audio.dtype)
    if frames >= 0:
        return np.concatenate([pad, audio[:len(audio) - k]])
    return np.concatenate([audio[k:], pad])


def ex1_audio_shift(shifts: tuple[int, ...] = (-6, -3, 0, 3, 6, 20), clips: int = 2,
                    seconds: float = 3.0) -> dict[int, dict]:
    """Exercise 1: delay each test clip's audio by k frames and read what LabSync finds.

    Returns {k: {"offsets": the detected offset of each clip, "S_C": mean confidence, "S_D": mean minimum
    distance}}. Eq. (3) predicts offset = -k while |k| <= 15 (the scanned range), with S_C and S_D about as in
    sync; beyond the range (k = 20) no offset fits and S_C collapses.
    """
    labsync = load_labsync()
    test = load_test_set("test", clips, seconds=seconds, seed=0)
    out = {}
    for k in shifts:
        scores = [labsync.score(test.frames[i], _delayed(test.audio[i], k), sample_rate=test.sample_rate)
                  for i in range(clips)]
        out[k] = {"offsets": [s.offset for s in scores], "S_C": float(np.mean([s.confidence for s in scores])),
                  "S_D": float(np.mean([s.min_dist for s in scores]))}
    return out


def ex2_fvd_floor(sizes: tuple[int, ...] = (25, 100, 400), dim: int = 16, repeats: int = 20,
                  clips: int = 6) -> dict:
    """Exercise 2: the FVD of real against real is not 0.

    (a) Two samples of n points from one D-dimensional Gaussian (variances 1 … 2): the mean over `repeats` of
    eq. (8) between them, of its mean term alone, and eq. (9)'s prediction of that term, 2 tr(Σ) / n.
    (b) The clip features of `clips` real test clips, split in halves: the FVD between the halves (the floor)
    and between one half and the other half frozen on its first frame.
    Returns {"gauss": {n: {"fvd", "mean_term", "predicted"}}, "halves": float, "frozen": float}.
    """
    rng = np.random.default_rng(0)
    std = np.sqrt(np.linspace(1.0, 2.0, dim))                 # Σ = diag(1 … 2), tr Σ = 1.5 D
    gauss = {}
    for n in sizes:
        f, m = [], []
        for _ in range(repeats):
            a, b = rng.normal(size=(n, dim)) * std, rng.normal(size=(n, dim)) * std
            f.append(fvd(a, b))
            m.append(float(((a.mean(0) - b.mean(0)) ** 2).sum()))
        gauss[n] = {"fvd": float(np.mean(f)), "mean_term": float(np.mean(m)), "predicted": 2 * (std ** 2).sum() / n}
    net = load_video_features()
    test = load_test_set("test", clips, seconds=3.2, seed=0)                  # 80 frames: 5 clips of 16 each
    half = clips // 2
    real_a = net.video_features(test.frames[:half])
    real_b = net.video_features(test.frames[half:])
    frozen_b = net.video_features(np.repeat(test.frames[half:, :1], test.frames.shape[1], axis=1))
    return {"gauss": gauss, "halves": fvd(real_a, real_b), "frozen": fvd(real_a, frozen_b)}


def ex3_delta_p_jitter(sigmas: tuple[float, ...] = (0.1, 0.3, 1.0), frames: int = 2000,
                       clips: int = 4) -> dict:
    """Exercise 3: ΔP (eq. 7) of a still head, of a still head with jitter, and of a real head with jitter.

    Jitter is independent Gaussian noise of standard deviation σ degrees on each angle of each frame; the
    difference of two such draws has standard deviation σ√2, so eq. (7) predicts ΔP = σ√2 · √(2/π) = 2σ/√π
    for a jittered still head. Returns {"still": ΔP of a constant pose, "jitter": {σ: (measured, predicted)},
    "true": ΔP of `clips` SynthTalk test poses, "true_jitter": {σ: ΔP of those poses plus jitter}}.
    """
    rng = np.random.default_rng(0)
    still = np.tile([[10.0, -5.0, 2.0]], (frames, 1))                          # (T, 3) yaw, pitch, roll
    out = {"still": delta_p(still), "jitter": {}, "true_jitter": {}}
    for s in sigmas:
        out["jitter"][s] = (delta_p(still + rng.normal(0, s, still.shape)), 2 * s / np.sqrt(np.pi))
    pose, _ = pose_audio("test", clips, cache_dir=False)                      # (N, T, 3) exact angles
    out["true"] = delta_p(pose)
    for s in sigmas:
        out["true_jitter"][s] = delta_p(pose + rng.normal(0, s, pose.shape))
    return out


def ex4_capp_amplitude(amplitudes: tuple[float, ...] = (0.0, 0.25, 0.5, 1.0, 2.0),
                       shifts: tuple[int, ...] = (0, 4, 8), clips: int = 16) -> dict:
    """Exercise 4: what CAPP reads. The true pose scaled about its mean by a (a = 0: a still head, 1: the
    true motion, 2: twice as much), and shifted against the audio by ±k frames.

    Returns {"amplitude": {a: mean CAPP}, "shift": {k: mean CAPP over ±k}}. CAPP's training (eq. 6) used
    motion damped to 0-25 % as negatives, so it ranks the amount of motion; no negative taught it the timing
    within a few frames, so the shift curve stays flat (the check it fails).
    """
    capp = load_capp()
    pose, audio = pose_audio("test", clips, cache_dir=False)
    mean = pose.mean(1, keepdims=True)
    amp = {a: float(capp.score(mean + a * (pose - mean), audio).mean()) for a in amplitudes}
    shift = {k: float(np.mean([capp.score(shift_frames(pose, s), audio).mean() for s in {k, -k}])) for k in shifts}
    return {"amplitude": amp, "shift": shift}
