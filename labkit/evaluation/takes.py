"""``labkit eval takes``: how much of SynthTalk's head motion its speech determines.

A regression from audio to motion can only draw what the audio determines: the mean over every
performance of the same speech. SynthTalk can perform a clip again (``sample_motion(i, take=k)``:
the same person, sentence, voice, emotion and motion style, every random part of the motion drawn
anew), so the split between what the speech fixes and what varies from take to take is measured
exactly. With x[n, k, t] one angle of clip n, take k, frame t:

    share explained  =  1 − E_n,t[ Var_k x[n, k, t] ] / Var_n,k,t x[n, k, t]

for the pose itself, for its sway inside windows of W frames (each window's mean removed, the
quantity ``sway_ratio`` of ``labkit eval motion`` compares), for the size of that sway (each window's
std: *when* and *how far* the head moves, whichever way), and for its frame-to-frame velocity (what
ΔP averages). The best any regression can do is the take mean E_k x[n, k, t]; its sway over
the truth's is ``regression_sway_ratio`` (estimated from K takes, the take noise σ²/K removed).
A share near 0 means the motion is a coin toss given the speech: regression to the mean is the
best predictor under a squared loss, and only a generative model draws a head that moves.
"""
from __future__ import annotations

import numpy as np
from tqdm.auto import tqdm

from labkit.synthtalk.dataset import SynthTalk

ANGLES = ("yaw", "pitch", "roll")


def head_takes(split: str = "test", clips: int = 40, takes: int = 6, *, seconds: float = 8.0, seed: int = 0,
               progress: bool = False) -> np.ndarray:
    """Head angles (N, K, T, 3) in degrees of `takes` performances of each of `clips` SynthTalk clips."""
    if clips < 2 or takes < 2:
        raise ValueError(f"need at least 2 clips and 2 takes, got {clips} clips, {takes} takes")
    ds = SynthTalk(split, seconds=seconds, seed=seed, num_clips=clips)
    out = []
    it = tqdm(range(clips), desc=f"takes ({split})", unit="clip") if progress else range(clips)
    for i in it:
        fs = [ds.sample_motion(i, take=k)["factors"] for k in range(takes)]
        out.append([np.stack([f[a] for a in ANGLES], -1) for f in fs])
    return np.asarray(out, np.float64)


def _explained(x: np.ndarray) -> np.ndarray:
    """1 − mean across-take variance / total variance, per angle: x (N, K, ..., A) → (A,)."""
    A = x.shape[-1]
    within = x.var(1, ddof=1).reshape(-1, A).mean(0)
    return 1 - within / np.maximum(x.reshape(-1, A).var(0), 1e-12)


def predictability(angles: np.ndarray, window: int = 50) -> dict:
    """The shares of head pose, window sway and velocity that the speech determines, per angle, from
    takes angles (N, K, T, 3); see the module docstring. Also the spreads in degrees: across takes
    (std over takes at each frame) and across clips (std over clips at each frame, take 0)."""
    N, K, T, A = angles.shape
    if K < 2 or N < 2:
        raise ValueError(f"need at least 2 clips and 2 takes, got angles of shape {angles.shape}")
    n = T // window
    if n == 0:
        raise ValueError(f"takes of {T} frames hold no whole window of {window}")
    sway = angles[:, :, :n * window].reshape(N, K, n, window, A)
    sway = sway - sway.mean(3, keepdims=True)                                # (N, K, n, W, A) within-window motion
    total = sway.reshape(-1, A).var(0)
    noise = sway.var(1, ddof=1).reshape(-1, A).mean(0)
    best = np.maximum(sway.mean(1).reshape(-1, A).var(0) - noise / K, 0)     # the take mean's own variance
    per = {"pose_explained": _explained(angles), "sway_explained": _explained(sway),
           "sway_size_explained": _explained(sway.std(3)),
           "velocity_explained": _explained(np.diff(angles, axis=2)),
           "regression_sway_ratio": np.sqrt(best / np.maximum(total, 1e-12)),
           "take_spread_deg": angles.std(1, ddof=1).mean((0, 1)), "clip_spread_deg": angles[:, 0].std(0).mean(0)}
    out = {f"{key}_{a}": float(v[i]) for key, v in per.items() for i, a in enumerate(ANGLES)}
    out.update({key: float(v.mean()) for key, v in per.items()}, clips=N, takes=K, window=window)
    return out
