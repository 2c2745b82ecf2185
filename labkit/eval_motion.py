"""``labkit eval motion``: lip sync, control accuracy, naturalness and seams of generated motion.

Generated motion lives in the face latent space; it is read back as SynthTalk factors by
linear probes (ridge regression motion → factors) fit on training clips' extracted motion,
the same probes for ground truth and generated motion. On SynthTalk's test split (held-out
voices, sentences and identities):

- ``lipsync_corr``: Pearson correlation of the generated and the ground-truth jaw opening of
  the same audio, per clip, averaged; the same for the audio-energy puppet and the
  regression baseline, and for test clips of the held-out language;
- ``gaze_err_deg``: commanded vs achieved main gaze (window means), mean angular error;
- ``distance_err_rel``: commanded vs achieved head distance, mean relative error;
- ``emotion_acc``: emotion recognised from generated windows by a classifier trained on
  ground-truth motion windows (its accuracy on ground-truth test windows is reported too);
- ``dp_ratio``: ΔP (mean absolute frame-to-frame change of yaw, pitch, roll) of generated
  motion over that of the ground truth, both read through the probes;
- ``seam_ratio``: mean motion velocity across window boundaries over that inside windows;
- ``diversity``: head-pose spread between seeds for the same audio (degrees), and the
  lip-sync of each seed.
"""
from __future__ import annotations

import numpy as np
from scipy.signal import lfilter
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from labkit.motion_data import MotionClips, extract_clips, gaze_of, emotion_offset
from labkit.synthtalk.factors import FACTOR_NAMES

_COL = {n: i for i, n in enumerate(FACTOR_NAMES)}
_ANGLES = [_COL["yaw"], _COL["pitch"], _COL["roll"]]

KEYS = ("lipsync_corr", "puppet_lipsync_corr", "regression_lipsync_corr", "gaze_err_deg", "distance_err_rel",
        "emotion_acc", "dp_ratio", "seam_ratio", "heldout_lang_lipsync_corr")
BARS = {"lipsync_corr": (">=", 0.80), "gaze_err_deg": ("<=", 3.0), "distance_err_rel": ("<=", 0.05),
        "emotion_acc": (">=", 0.90), "dp_ratio": ("within", (0.85, 1.15)), "seam_ratio": ("<=", 1.5)}


def meets(key: str, value: float) -> bool:
    op, bar = BARS[key]
    if op == ">=":
        return value >= bar
    if op == "<=":
        return value <= bar
    return bar[0] <= value <= bar[1]


# ---------------------------------------------------------------------------- pure metrics

def pearson_per_clip(a: np.ndarray, b: np.ndarray) -> float:
    """Mean over clips of the correlation of a[n] and b[n] (N, T); constant clips count as 0."""
    a = a - a.mean(1, keepdims=True)
    b = b - b.mean(1, keepdims=True)
    den = np.sqrt((a ** 2).sum(1) * (b ** 2).sum(1))
    r = np.where(den > 1e-12, (a * b).sum(1) / np.maximum(den, 1e-12), 0.0)
    return float(r.mean())


def delta_p(angles: np.ndarray) -> float:
    """ΔP: mean absolute frame-to-frame change of head angles (N, T, 3) in degrees (VASA-1)."""
    return float(np.abs(np.diff(angles, axis=1)).mean())


def seam_ratio(motion: np.ndarray, window: int) -> float:
    """Mean |velocity| (N, T, M) at window boundaries (frame kW-1 → kW) over that inside windows."""
    v = np.linalg.norm(np.diff(motion, axis=1), axis=-1)                    # (N, T-1): step t → t+1
    at = np.zeros(v.shape[1], bool)
    at[window - 1::window] = True                                           # steps that cross a boundary
    if not at.any():
        raise ValueError(f"clips of {motion.shape[1]} frames have no window boundary (window {window})")
    return float(v[:, at].mean() / max(v[:, ~at].mean(), 1e-12))


def angular_error(a: np.ndarray, b: np.ndarray) -> float:
    """Mean angle (degrees) between gaze directions given as (pitch, yaw) degrees (N, 2)."""
    def unit(g):
        p, y = np.deg2rad(g[:, 0]), np.deg2rad(g[:, 1])
        return np.stack([np.cos(p) * np.sin(y), np.sin(p), np.cos(p) * np.cos(y)], 1)
    cos = np.clip((unit(a) * unit(b)).sum(1), -1, 1)
    return float(np.rad2deg(np.arccos(cos)).mean())


# ---------------------------------------------------------------------------- baselines

def puppet_factors(clips: MotionClips, rng: np.random.Generator) -> np.ndarray:
    """The audio-energy puppet: jaw from loudness, head from random sway, the rest neutral: (N, T, F)."""
    N, T, _ = clips.factors.shape
    energy = np.log(np.exp(clips.audio).sum(-1))                              # (N, T) log band power
    lo, hi = np.percentile(energy, 5, axis=1, keepdims=True), np.percentile(energy, 95, axis=1, keepdims=True)
    out = np.zeros((N, T, len(FACTOR_NAMES)), np.float32)
    out[..., _COL["jaw"]] = np.clip((energy - lo) / np.maximum(hi - lo, 1e-6), 0, 1)
    out[..., _COL["distance"]] = 1.0
    for k, sigma in zip(_ANGLES, (4.0, 2.5, 1.8)):                            # an AR(1) sway, degrees
        out[..., k] = lfilter([1.0], [1.0, -0.96], rng.normal(0, sigma * np.sqrt(1 - 0.96 ** 2), (N, T)), axis=1)
    return out


# ---------------------------------------------------------------------------- readers

class MotionReader:
    """Linear probes motion → factors, and an emotion classifier on motion windows, fit on training clips."""

    def __init__(self, train: MotionClips, window: int):
        N, T, M = train.motion.shape
        self.window = window
        self.probe = make_pipeline(StandardScaler(), Ridge(alpha=1.0)).fit(
            train.motion.reshape(-1, M), train.factors.reshape(-1, train.factors.shape[-1]))
        X, y = self._window_features(train.motion), np.repeat(train.emotion, T // window)
        if len(np.unique(y)) < 2:
            raise ValueError(f"the {N} training clips show a single emotion; the emotion classifier needs more clips")
        self.emotion = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000)).fit(X, y)

    def factors(self, motion: np.ndarray) -> np.ndarray:
        """(N, T, M) → (N, T, F)."""
        N, T, M = motion.shape
        return self.probe.predict(motion.reshape(-1, M)).reshape(N, T, -1).astype(np.float32)

    def _window_features(self, motion: np.ndarray) -> np.ndarray:
        N, T, M = motion.shape
        n = T // self.window
        w = motion[:, :n * self.window].reshape(N * n, self.window, M)
        return np.concatenate([w.mean(1), w.std(1)], 1)

    def emotion_accuracy(self, motion: np.ndarray, emotion: np.ndarray) -> float:
        n = motion.shape[1] // self.window
        return float((self.emotion.predict(self._window_features(motion)) == np.repeat(emotion, n)).mean())


# ---------------------------------------------------------------------------- the evaluation

def _commands(clips: MotionClips):
    """Per-frame commands of the ground truth: gaze (N, T, 2), distance (N, T), emotion offset (N, 4)."""
    return (gaze_of(clips.factors), clips.factors[..., _COL["distance"]],
            emotion_offset(clips.emotion, clips.intensity))


def _window_means(x: np.ndarray, window: int) -> np.ndarray:
    """(N, T, ...) → (N·n, ...) means over whole windows."""
    N, T = x.shape[:2]
    n = T // window
    return x[:, :n * window].reshape(N, n, window, *x.shape[2:]).mean(2).reshape(N * n, *x.shape[2:])


def generate_for(gen, clips: MotionClips, *, seed: int = 0, controls: bool = True) -> np.ndarray:
    """Motion (N, T, M) generated from each clip's audio (and its ground-truth commands)."""
    gaze, distance, emotion = _commands(clips)
    kw = dict(gaze=gaze, distance=distance, emotion=emotion) if controls else {}
    return gen.generate(clips.audio, seed=seed, **kw)


def motion_source_of(gen, latent=None):
    """The motion source a generator was trained on: "factors", or the face latent checkpoint
    (`latent`, else the shipped file of the same name), checked against the recorded digest."""
    from labkit.checkpoint import ASSETS
    from labkit.motion_data import source_id

    meta = gen.meta
    if meta.get("motion") == "factors":
        return "factors"
    path = latent or ASSETS / str(meta.get("latent"))
    if source_id(path) != meta.get("motion_source"):
        raise ValueError(f"the generator was trained on motion from a face latent checkpoint with digest "
                         f"{meta.get('motion_source')}, but {path} is {source_id(path)}; pass --latent with "
                         f"the checkpoint it was trained with")
    return str(path)


def evaluate_motion(gen, *, regression=None, latent=None, test_clips: int = 40, train_clips: int = 200,
                    seeds: int = 3, seed: int = 0, cache_dir=None, progress: bool = False) -> dict:
    """Every figure of the issue for a MotionGenerator (and the regression baseline's lip sync)."""
    from labkit.synthtalk.dataset import LANGUAGES

    source = motion_source_of(gen, latent)
    held = gen.meta.get("heldout_language")
    langs = tuple(lang for lang in LANGUAGES if lang != held)
    W = gen.cfg.window
    seconds = round(4 * W / 25.0, 3)                                          # four windows per clip
    kw = dict(source=source, seconds=seconds, cache_dir=cache_dir, progress=progress)
    train = extract_clips("train", train_clips, languages=langs, seed=seed + 1, **kw)
    test = extract_clips("test", test_clips, languages=langs, seed=seed, **kw)
    reader = MotionReader(train, W)

    gt_f = reader.factors(test.motion)
    jaw_true = test.factors[..., _COL["jaw"]]
    out: dict[str, float] = {}
    runs = [generate_for(gen, test, seed=seed + s) for s in range(seeds)]
    fs = [reader.factors(m) for m in runs]
    out["lipsync_corr"] = float(np.mean([pearson_per_clip(f[..., _COL["jaw"]], jaw_true) for f in fs]))
    out["lipsync_corr_probe_gt"] = pearson_per_clip(gt_f[..., _COL["jaw"]], jaw_true)   # the probe's ceiling
    out["puppet_lipsync_corr"] = pearson_per_clip(puppet_factors(test, np.random.default_rng(seed))[..., _COL["jaw"]],
                                                  jaw_true)
    if regression is not None:
        rf = reader.factors(generate_for(regression, test, seed=seed))
        out["regression_lipsync_corr"] = pearson_per_clip(rf[..., _COL["jaw"]], jaw_true)
        out["regression_dp_ratio"] = delta_p(rf[..., _ANGLES]) / delta_p(gt_f[..., _ANGLES])
    gaze_cmd, dist_cmd, _ = _commands(test)
    f0 = fs[0]
    out["gaze_err_deg"] = angular_error(_window_means(gaze_of(f0), W), _window_means(gaze_cmd, W))
    out["gaze_err_deg_probe_gt"] = angular_error(_window_means(gaze_of(gt_f), W), _window_means(gaze_cmd, W))
    d_cmd = _window_means(dist_cmd, W)
    out["distance_err_rel"] = float(np.mean(np.abs(_window_means(f0[..., _COL["distance"]], W) - d_cmd) / d_cmd))
    out["emotion_acc"] = reader.emotion_accuracy(runs[0], test.emotion)
    out["emotion_acc_gt"] = reader.emotion_accuracy(test.motion, test.emotion)
    out["dp_ratio"] = float(np.mean([delta_p(f[..., _ANGLES]) for f in fs]) / delta_p(gt_f[..., _ANGLES]))
    mean, std = gen.model.motion_mean.cpu().numpy(), gen.model.motion_std.cpu().numpy()
    out["seam_ratio"] = float(np.mean([seam_ratio((m - mean) / std, W) for m in runs]))
    if seeds > 1:
        ang = np.stack([f[..., _ANGLES] for f in fs])                          # (S, N, T, 3)
        out["diversity_pose_deg"] = float(ang.std(0).mean())
        out["diversity_gt_pose_deg"] = float(gt_f[..., _ANGLES].std(1).mean())
    if held:
        ho = extract_clips("test", max(8, test_clips // 2), languages=(held,), seed=seed, **kw)
        hf = reader.factors(generate_for(gen, ho, seed=seed))
        out["heldout_lang_lipsync_corr"] = pearson_per_clip(hf[..., _COL["jaw"]], ho.factors[..., _COL["jaw"]])
    out["heldout_language"] = held
    out["test_clips"] = test_clips
    out["steps"] = gen.steps
    return out
