"""Lip-sync scores S_D and S_C as in SyncNet's evaluation (Chung & Zisserman, "Out of time:
automated lip sync in the wild", ACCV Workshops 2016; the public syncnet_python evaluation),
reported by VASA-1 (Xu et al. 2024, arXiv 2404.10667, Sec. 4) as S_C (higher is better) and
S_D (lower is better).

SyncNet embeds every 5-frame (0.2 s) window of mouth crops and of audio features into a shared
space where matching windows lie close. Given those embeddings
    video  (T, D)   row t: the video window starting at frame t
    audio  (T, D)   row t: the audio window starting at frame t
the evaluation pads the audio with `vshift` zero rows on both ends and measures, for every frame
t and every offset o in [-vshift, vshift], the Euclidean distance between video[t] and
audio[t + o] (a zero row where t + o falls outside the clip). Averaging over frames gives one
mean distance per offset (`mean_dists`, column k = offset k - vshift); then
    S_D (min_dist)    = min over offsets of mean_dists
    S_C (confidence)  = median(mean_dists) - S_D
    offset            = vshift - argmin(mean_dists)          (frames)

Sign of `offset`: the best-matching audio row for video[t] is audio[t - offset]. So if the
audio is delayed by s frames (audio[t] = video[t - s], the sound comes s frames after the
mouth), offset = -s; if the audio is early by s frames (audio[t] = video[t + s]), offset = +s:
a positive offset means the audio leads the video.

Two quirks kept for comparability with published numbers: padding rows are zeros, so a large
|offset| is measured against partly zero rows (an unrelated pair of clips therefore tends to
pick an extreme offset, with a small confidence); and torch's `pairwise_distance` in the
original adds eps = 1e-6 to each difference, a change below 1e-6 * sqrt(D) left out here.
"""
from __future__ import annotations

from typing import NamedTuple

import numpy as np


class SyncScores(NamedTuple):
    min_dist: float          # S_D: lowest mean distance over offsets
    confidence: float        # S_C: median minus lowest mean distance
    offset: int              # vshift - argmin; the audio row matching video[t] is audio[t - offset]
    mean_dists: np.ndarray   # (2*vshift + 1,): mean distance per offset, column k = offset k - vshift


def _check(video, audio, vshift) -> tuple[np.ndarray, np.ndarray]:
    video = np.asarray(video, dtype=np.float64)
    audio = np.asarray(audio, dtype=np.float64)
    for name, a in (("video", video), ("audio", audio)):
        if a.ndim != 2:
            raise ValueError(f"{name} embeddings must be a 2-D array (T, D), got shape {a.shape}")
        if a.shape[0] < 1 or a.shape[1] < 1:
            raise ValueError(f"{name} embeddings need T >= 1 frames and D >= 1 dims, got shape {a.shape}")
        if not np.all(np.isfinite(a)):
            raise ValueError(f"{name} embeddings contain NaN or inf")
    if video.shape != audio.shape:
        raise ValueError(f"video and audio embeddings must have the same shape (T, D), "
                         f"got {video.shape} and {audio.shape}")
    if isinstance(vshift, bool) or not isinstance(vshift, (int, np.integer)) or vshift < 1:
        raise ValueError(f"vshift must be an integer >= 1 (frames), got {vshift!r}")
    return video, audio


def offset_distances(video, audio, vshift: int = 15) -> np.ndarray:
    """Distances (T, 2*vshift + 1) between video[t] (T, D) and audio[t + k - vshift] (T, D).

    Column k is audio offset k - vshift frames (column vshift: no offset); audio rows outside
    the clip are zero vectors, as in SyncNet's evaluation.
    """
    video, audio = _check(video, audio, vshift)
    T, D = video.shape
    padded = np.concatenate([np.zeros((vshift, D)), audio, np.zeros((vshift, D))])   # (T + 2*vshift, D)
    rows = np.arange(T)[:, None] + np.arange(2 * vshift + 1)[None, :]                # (T, 2*vshift + 1)
    return np.linalg.norm(video[:, None, :] - padded[rows], axis=-1)                # (T, 2*vshift + 1)


def sync_scores(video, audio, vshift: int = 15) -> SyncScores:
    """SyncNet's S_D, S_C and AV offset of video (T, D) and audio (T, D) window embeddings."""
    mean_dists = offset_distances(video, audio, vshift).mean(axis=0)   # (2*vshift + 1,)
    best = int(np.argmin(mean_dists))
    min_dist = float(mean_dists[best])
    return SyncScores(min_dist=min_dist,
                      confidence=float(np.median(mean_dists)) - min_dist,
                      offset=vshift - best,
                      mean_dists=mean_dists)
