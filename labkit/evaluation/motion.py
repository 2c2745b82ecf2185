"""``labkit eval motion``: lip sync, control accuracy, naturalness and seams of generated motion.

Generated motion lives in the face latent space; it is read back as SynthTalk factors by
linear probes (ridge regression motion → factors) fit on training clips' extracted motion,
the same probes for ground truth and generated motion. On SynthTalk's test split (held-out
voices, sentences and identities):

- ``lipsync_corr``: Pearson correlation of the generated and the ground-truth jaw opening of
  the same audio, per clip, averaged; the same for the audio-energy puppet and the
  regression baseline, for test clips of the held-out language, and for a crude sung clip
  (``sung_lipsync_corr``: synthtalk.singing, four test voices);
- ``gaze_err_deg``: commanded vs achieved main gaze (window means), mean angular error;
- ``distance_err_rel``: commanded vs achieved head distance, mean relative error;
- ``emotion_acc``: emotion recognised from generated windows by a classifier trained on
  ground-truth motion windows (its accuracy on ground-truth test windows is reported too);
- ``dp_ratio``: ΔP (mean absolute frame-to-frame change of yaw, pitch, roll) of generated
  motion over that of the ground truth, both read through the probes;
- ``seam_ratio``: mean motion velocity where windows join (the whole overlap) over that elsewhere;
- ``sway_ratio`` (a diagnosis, no bar): how far the head moves *within* a window (std of yaw, pitch,
  roll over each window) against the truth. ΔP alone cannot tell a swaying head from a jittering
  one: a head that barely sways but jitters frame to frame can match the truth's ΔP;
- ``diversity_ratio``: head-pose spread between seeds for the same audio (std over seeds at each
  frame) over the spread between clips (std over test clips at each frame, the truth read through
  the same probes): several seeds should differ as much as different performances do;
- ``blink_rate_ratio``: full blinks a minute (peaks of the read-out blink factor above half-closed,
  at least 0.2 s apart) of generated motion over the truth's read through the same probes; a
  generator that averages blinks away draws none;
- ``emotion_acc_val``: ``emotion_acc`` on validation clips (the split settings are chosen on);
- ``labkit eval sweep`` (``sweep_motion``): the same figures at a grid of sampling settings (steps, guidance
  scales) on validation clips, the table a shipped setting is chosen from; test clips report the choice.
- ``denoising`` (a diagnosis, diffusion only): how well the denoiser reads its noisy input. Test
  windows are noised to step t and denoised once; per t, the error of x̂_0's head-pose channels
  and how far they move within the window, against the truth's (standardised units).
"""
from __future__ import annotations

import dataclasses
import itertools
from dataclasses import asdict
from pathlib import Path

import numpy as np
import torch
from scipy.signal import find_peaks, lfilter
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from labkit.evaluation.config import EvalMotionConfig
from labkit.io.audio import log_mel
from labkit.io.weights import FACE_LATENT, resolve
from labkit.latent.model import KIND
from labkit.metrics.pose import delta_p
from labkit.motion.data import HEAD_DIMS, MotionClips, emotion_offset, extract_clips, gaze_of, sample_windows, source_id
from labkit.motion.generator import window_starts
from labkit.synthtalk.dataset import LANGUAGES, SynthTalkConfig, split_voices
from labkit.synthtalk.factors import FACTOR_NAMES
from labkit.synthtalk.singing import sung_clip
from labkit.synthtalk.speech import Voice

_COL = {n: i for i, n in enumerate(FACTOR_NAMES)}
_ANGLES = [_COL["yaw"], _COL["pitch"], _COL["roll"]]
FPS = SynthTalkConfig.fps

KEYS = ("lipsync_corr", "puppet_lipsync_corr", "regression_lipsync_corr", "gaze_err_deg", "distance_err_rel",
        "emotion_acc", "emotion_acc_val", "dp_ratio", "sway_ratio", "seam_ratio", "blink_rate_ratio",
        "diversity_ratio", "heldout_lang_lipsync_corr")
# printed by `labkit eval motion` besides KEYS: the sung clip, and what the truth scores through the same readers
EXTRA_KEYS = ("sung_lipsync_corr", "lipsync_corr_probe_gt", "gaze_err_deg_probe_gt", "emotion_acc_gt",
              "emotion_acc_factors", "seam_ratio_gt", "regression_sway_ratio", "regression_diversity_ratio",
              "blink_rate_per_min", "blink_rate_per_min_gt", "blink_frames", "blink_frames_gt",
              "diversity_pose_deg", "diversity_clips_pose_deg", "diversity_gt_pose_deg")
BARS = {"lipsync_corr": (">=", 0.80), "gaze_err_deg": ("<=", 3.0), "distance_err_rel": ("<=", 0.05),
        "emotion_acc": (">=", 0.90), "emotion_acc_val": (">=", 0.85), "dp_ratio": ("within", (0.85, 1.15)),
        "sway_ratio": ("within", (0.85, 1.15)), "seam_ratio": ("<=", 1.5),
        "blink_rate_ratio": ("within", (0.8, 1.25)), "diversity_ratio": (">=", 0.7)}


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


def window_sway(angles: np.ndarray, window: int) -> float:
    """Mean over whole windows of `window` frames, and over the angles, of their std within the
    window: angles (N, T, 3) → degrees."""
    N, T, A = angles.shape
    n = T // window
    if n == 0:
        raise ValueError(f"clips of {T} frames hold no whole window of {window}")
    return float(angles[:, :n * window].reshape(N, n, window, A).std(2).mean())


def seam_ratio(motion: np.ndarray, starts: list[int], overlap: int = 0) -> float:
    """Mean |velocity| (N, T, M) where windows join over that elsewhere.

    A window starting at frame s > 0 joins its predecessor over the steps s-1 → s … s+O-1 → s+O
    (O = overlap; with O = 0 the single step across the boundary). Every one of them counts as
    seam, so a jump merely spread over the overlap still shows."""
    T = motion.shape[1]
    v = np.linalg.norm(np.diff(motion, axis=1), axis=-1)                    # (N, T-1): step t → t+1
    at = np.zeros(T - 1, bool)
    for s in starts[1:]:
        at[max(s - 1, 0):min(s + overlap, T - 1)] = True
    if not at.any():
        raise ValueError(f"clips of {T} frames have no window boundary (window starts {starts})")
    return float(v[:, at].mean() / max(v[:, ~at].mean(), 1e-12))


def blink_events(blink: np.ndarray, fps: float, *, closed: float = 0.5, gap_s: float = 0.2) -> tuple[float, float]:
    """Full blinks in blink-factor tracks (N, T): (blinks a minute, mean frames per blink at or above
    `closed`). A blink is a peak reaching `closed` (half-shut lids), at least `gap_s` from the next."""
    N, T = blink.shape
    peaks = sum(len(find_peaks(b, height=closed, distance=max(1, round(gap_s * fps)))[0]) for b in blink)
    minutes = N * T / fps / 60
    return peaks / minutes, float((blink >= closed).sum() / peaks) if peaks else 0.0


def spread_between(angles: np.ndarray) -> float:
    """Mean over frames and angles of the std across the first axis: (S, T, 3) → degrees. With S
    seeds of one clip it is how much the seeds differ; with S clips, how much performances differ."""
    return float(angles.std(0).mean())


DENOISING_STEPS = (20, 100, 200, 400, 999)


def denoising_error(gen, clips: MotionClips, steps: tuple[int, ...] = DENOISING_STEPS, *, windows: int = 256,
                    seed: int = 0) -> dict:
    """The denoiser of a diffusion generator on `windows` windows of `clips`, each noised to step t
    and denoised once with every condition given: {t: {"mse", "sway"}} over the head-pose channels
    in standardised units (mse of x̂_0; sway: its std within a window, averaged), and
    {"truth_sway": …}. An x̂_0 that ignores x_t returns the conditions' mean motion: little sway,
    and an error that barely falls as the noise does."""
    if gen.process_name != "diffusion":
        raise ValueError(f"denoising_error needs a diffusion generator, got {gen.process_name!r}")
    c, proc = gen.cfg, gen.process
    x0, cond = sample_windows(clips, windows, c.window, c.context, np.random.default_rng(seed))
    dev = next(gen.model.parameters()).device
    x0, cond = gen.model.normalize(x0.to(dev)), cond.to(dev)
    noise = proc.noise(tuple(x0.shape), torch.Generator().manual_seed(seed)).to(dev)
    out: dict = {"truth_sway": float(x0[..., :HEAD_DIMS].std(1).mean())}
    with torch.no_grad():
        for t in steps:
            tt = torch.full((windows,), int(t), device=dev)
            x0_hat = proc.denoise(gen.model, proc.q_sample(x0, tt, noise), tt, cond)[..., :HEAD_DIMS]
            out[int(t)] = {"mse": float(((x0_hat - x0[..., :HEAD_DIMS]) ** 2).mean()),
                           "sway": float(x0_hat.std(1).mean())}
    return out


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

class EmotionClassifier:
    """The emotion of each whole window of W frames of motion, from every channel's mean and std over
    the window (logistic regression on standardised features), fit on training clips' motion (N, T, M)
    and their emotions (N,)."""

    def __init__(self, motion: np.ndarray, emotion: np.ndarray, window: int):
        N, T, M = motion.shape
        self.window = window
        X, y = self._features(motion), np.repeat(emotion, T // window)
        if len(np.unique(y)) < 2:
            raise ValueError(f"the {N} training clips show a single emotion; the emotion classifier needs more clips")
        self.model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000)).fit(X, y)

    def _features(self, motion: np.ndarray) -> np.ndarray:
        N, T, M = motion.shape
        n = T // self.window
        w = motion[:, :n * self.window].reshape(N * n, self.window, M)
        return np.concatenate([w.mean(1), w.std(1)], 1)

    def predict(self, motion: np.ndarray) -> np.ndarray:
        """The emotion (index into EMOTIONS) of each whole window of motion (N, T, M): (N · T // W,)."""
        return self.model.predict(self._features(motion))

    def accuracy(self, motion: np.ndarray, emotion: np.ndarray) -> float:
        """Share of the whole windows of motion (N, T, M) whose emotion is the clip's, emotion (N,)."""
        n = motion.shape[1] // self.window
        return float((self.predict(motion) == np.repeat(emotion, n)).mean())


# SynthTalk's factors without the one that states the emotion outright
_SHOWN = [i for i, n in enumerate(FACTOR_NAMES) if n != "emotion_intensity"]


class MotionReader:
    """Linear probes motion → factors, and an emotion classifier on motion windows, fit on training clips."""

    def __init__(self, train: MotionClips, window: int):
        M = train.motion.shape[-1]
        self.window = window
        self.probe = make_pipeline(StandardScaler(), Ridge(alpha=1.0)).fit(
            train.motion.reshape(-1, M), train.factors.reshape(-1, train.factors.shape[-1]))
        self.emotion = EmotionClassifier(train.motion, train.emotion, window)

    def factors(self, motion: np.ndarray) -> np.ndarray:
        """(N, T, M) → (N, T, F)."""
        N, T, M = motion.shape
        return self.probe.predict(motion.reshape(-1, M)).reshape(N, T, -1).astype(np.float32)

    def predict_emotion(self, motion: np.ndarray) -> np.ndarray:
        """The emotion (index into EMOTIONS) of each whole window of motion (N, T, M): (N · T // W,)."""
        return self.emotion.predict(motion)

    def emotion_accuracy(self, motion: np.ndarray, emotion: np.ndarray) -> float:
        return self.emotion.accuracy(motion, emotion)


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


COMMANDS = ("gaze", "distance", "emotion")


def generate_for(gen, clips: MotionClips, *, seed: int = 0, commands: tuple[str, ...] = COMMANDS) -> np.ndarray:
    """Motion (N, T, M) generated from each clip's audio and those of its ground-truth commands
    named in `commands` (the others are left to the model)."""
    unknown = set(commands) - set(COMMANDS)
    if unknown:
        raise ValueError(f"unknown commands {sorted(unknown)}; choose from {COMMANDS}")
    given = dict(zip(COMMANDS, _commands(clips)))
    return gen.generate(clips.audio, seed=seed, **{k: given[k] for k in commands})


def sung_clips(n: int, *, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """The crude sung SynthTalk clip (synthtalk.singing) by n test-split voices: audio log-mel
    (n, T, A) and the ground-truth jaw opening (n, T)."""
    variants = split_voices("test")
    feats, jaw = [], []
    for k in range(n):
        voice = Voice(language="en", variant=variants[k % len(variants)], rate=150, pitch=35 + 10 * (k % 3),
                      pitch_range=0)
        clip = sung_clip(voice, seed=seed + k)
        feats.append(log_mel(clip["audio"], num_frames=len(clip["factors"]["jaw"])))
        jaw.append(clip["factors"]["jaw"])
    return np.stack(feats), np.stack(jaw)


def motion_source_of(gen, latent=None):
    """The motion source a generator was trained on: "factors", or the face latent checkpoint
    (`latent`, else the shipped file of the same name), checked against the recorded digest."""
    meta = gen.meta
    if meta.get("motion") == "factors":
        return "factors"
    path = latent or resolve(Path(str(meta.get("latent"))).stem, KIND, FACE_LATENT)
    if source_id(path) != meta.get("motion_source"):
        raise ValueError(f"the generator was trained on motion from a face latent checkpoint with digest "
                         f"{meta.get('motion_source')}, but {path} is {source_id(path)}; pass --latent with "
                         f"the checkpoint it was trained with")
    return str(path)


class MotionEvaluation:
    """Test clips, their ground truth and the readers of one evaluation, fit once and reused to
    score any number of generators and settings (notebook 06 sweeps guidance, steps, overlap).

    source: what the generators were trained on ("factors" or a face latent checkpoint path);
    window: their window length W (probes read windows of W frames for emotion)."""

    def __init__(self, source, window: int, *, heldout_language: str | None = None, test_clips: int = 40,
                 train_clips: int = 200, seed: int = 0, split: str = "test", cache_dir=None, progress: bool = False):
        """split: the clips scored (`self.test`): "test" to report, "val" to choose settings on."""
        if split not in ("val", "test"):
            raise ValueError(f"split must be 'val' or 'test' (the readers are fit on 'train'), got {split!r}")
        langs = tuple(lang for lang in LANGUAGES if lang != heldout_language)
        self.window, self.seed, self.heldout_language, self.split = window, seed, heldout_language, split
        seconds = round(4 * window / 25.0, 3)                                 # four windows per clip
        self._kw = dict(source=source, seconds=seconds, cache_dir=cache_dir, progress=progress)
        self.train = extract_clips("train", train_clips, languages=langs, seed=seed + 1, **self._kw)
        self.test = extract_clips(split, test_clips, languages=langs, seed=seed, **self._kw)
        self.reader = MotionReader(self.train, window)
        self.gt_factors = self.reader.factors(self.test.motion)               # the truth, read like generated motion
        self.jaw = self.test.factors[..., _COL["jaw"]]
        self.blinks_gt = blink_events(self.gt_factors[..., _COL["blink"]], FPS)   # (a minute, frames half shut)

    def lipsync(self, factors: np.ndarray) -> float:
        """Correlation of read-out jaw (N, T, F) with the test clips' true jaw."""
        return pearson_per_clip(factors[..., _COL["jaw"]], self.jaw)

    def score(self, gen, *, seeds: int = 1, commands: tuple[str, ...] = COMMANDS, seams: bool = True) -> dict:
        """lipsync_corr, dp_ratio, gaze_err_deg, distance_err_rel, emotion_acc, seam_ratio (and
        diversity with seeds > 1) of `gen` on the test clips, given the true `commands` (always
        scored against the true ones, so a dropped command shows what the model does unasked)."""
        W = self.window
        runs = [generate_for(gen, self.test, seed=self.seed + s, commands=commands) for s in range(seeds)]
        fs = [self.reader.factors(m) for m in runs]
        gaze_cmd, dist_cmd, _ = _commands(self.test)
        d_cmd = _window_means(dist_cmd, W)
        f0 = fs[0]
        out = {"lipsync_corr": float(np.mean([self.lipsync(f) for f in fs])),
               "dp_ratio": float(np.mean([delta_p(f[..., _ANGLES]) for f in fs])
                                 / delta_p(self.gt_factors[..., _ANGLES])),
               "gaze_err_deg": angular_error(_window_means(gaze_of(f0), W), _window_means(gaze_cmd, W)),
               "distance_err_rel": float(np.mean(np.abs(_window_means(f0[..., _COL["distance"]], W) - d_cmd) / d_cmd)),
               "emotion_acc": self.reader.emotion_accuracy(runs[0], self.test.emotion),
               "sway_ratio": float(np.mean([window_sway(f[..., _ANGLES], W) for f in fs])
                                   / window_sway(self.gt_factors[..., _ANGLES], W))}
        if seams:
            out["seam_ratio"] = float(np.mean([self._seams(gen, m) for m in runs]))
        out["blink_rate_per_min"], out["blink_frames"] = blink_events(
            np.concatenate([f[..., _COL["blink"]] for f in fs]), FPS)
        out["blink_rate_ratio"] = out["blink_rate_per_min"] / max(self.blinks_gt[0], 1e-9)
        if seeds > 1:
            ang = np.stack([f[..., _ANGLES] for f in fs])                      # (S, N, T, 3)
            out["diversity_pose_deg"] = float(np.mean([spread_between(ang[:, n]) for n in range(ang.shape[1])]))
            out["diversity_ratio"] = out["diversity_pose_deg"] / spread_between(self.gt_factors[..., _ANGLES])
        return out

    def ceilings(self) -> dict:
        """The same figures for the true test motion read by the same probes (what a perfect
        generator would score through them), and the puppet's."""
        W = self.window
        gaze_cmd, _, _ = _commands(self.test)
        puppet = puppet_factors(self.test, np.random.default_rng(self.seed))
        return {"lipsync_corr_probe_gt": self.lipsync(self.gt_factors),
                "gaze_err_deg_probe_gt": angular_error(_window_means(gaze_of(self.gt_factors), W),
                                                       _window_means(gaze_cmd, W)),
                "emotion_acc_gt": self.reader.emotion_accuracy(self.test.motion, self.test.emotion),
                "emotion_acc_factors": self.emotion_acc_factors(),
                "diversity_gt_pose_deg": float(self.gt_factors[..., _ANGLES].std(1).mean()),
                "diversity_clips_pose_deg": spread_between(self.gt_factors[..., _ANGLES]),
                "blink_rate_per_min_gt": self.blinks_gt[0], "blink_frames_gt": self.blinks_gt[1],
                "puppet_lipsync_corr": self.lipsync(puppet),
                "puppet_dp_ratio": delta_p(puppet[..., _ANGLES]) / delta_p(self.gt_factors[..., _ANGLES])}

    def emotion_acc_factors(self) -> float:
        """How recognisable the emotion is in SynthTalk's own ground truth: the same classifier, fit on
        the training clips' true factors (emotion_intensity left out) and scored on the test clips'.
        A ceiling for `emotion_acc` that no face latent space enters."""
        clf = EmotionClassifier(self.train.factors[..., _SHOWN], self.train.emotion, self.window)
        return clf.accuracy(self.test.factors[..., _SHOWN], self.test.emotion)

    def seam_ratio_gt(self, gen) -> float:
        """The seam ratio of the true test motion cut where `gen`'s windows would join (≈ 1)."""
        return self._seams(gen, self.test.motion)

    @staticmethod
    def _seams(gen, motion: np.ndarray) -> float:
        """seam_ratio of motion (N, T, M), standardised as `gen` sees it, at `gen`'s window joins."""
        mean, std = gen.model.motion_mean.cpu().numpy(), gen.model.motion_std.cpu().numpy()
        starts = window_starts(motion.shape[1], gen.cfg.window, gen.overlap)
        return seam_ratio((motion - mean) / std, starts, gen.overlap)

    def emotion_val(self, gen, clips: int) -> float:
        """Emotion accuracy of `gen`, given every command, on validation clips (the split that
        sampling settings such as the emotion guidance are chosen on)."""
        langs = tuple(lang for lang in LANGUAGES if lang != self.heldout_language)
        val = extract_clips("val", clips, languages=langs, seed=self.seed, **self._kw)
        return self.reader.emotion_accuracy(generate_for(gen, val, seed=self.seed), val.emotion)

    def heldout_lipsync(self, gen, clips: int) -> float:
        """Lip sync on test clips of the held-out language."""
        ho = extract_clips("test", clips, languages=(self.heldout_language,), seed=self.seed, **self._kw)
        hf = self.reader.factors(generate_for(gen, ho, seed=self.seed))
        return pearson_per_clip(hf[..., _COL["jaw"]], ho.factors[..., _COL["jaw"]])

    def sung_lipsync(self, gen, clips: int = 4) -> float:
        """Lip sync on the crude sung clip (synthtalk.singing) by `clips` test voices."""
        audio, jaw = sung_clips(clips, seed=self.seed)
        f = self.reader.factors(gen.generate(audio, seed=self.seed))
        return pearson_per_clip(f[..., _COL["jaw"]], jaw)


SWEPT = ("steps", "hold_face", "audio", "gaze", "control", "emotion")


def sweep_motion(gen, grid: dict[str, list], *, split: str = "val", latent=None, clips: int = 40,
                 train_clips: int = 200, seeds: int = 3, seed: int = 0, cache_dir=None,
                 progress: bool = False) -> list[dict]:
    """Score `gen` at every combination of the sampling settings in `grid` (keys of SWEPT: "steps" and
    the Guidance scales; a key left out keeps `gen`'s own), on `clips` clips of `split` with the same
    readers: one row of ``MotionEvaluation.score`` figures per setting, the setting included. Settings
    are chosen on "val"; "test" is for reporting the chosen one."""
    unknown = set(grid) - set(SWEPT)
    if unknown:
        raise ValueError(f"cannot sweep {sorted(unknown)}; choose from {SWEPT}")
    ev = MotionEvaluation(motion_source_of(gen, latent), gen.cfg.window,
                          heldout_language=gen.meta.get("heldout_language"), test_clips=clips,
                          train_clips=train_clips, seed=seed, split=split, cache_dir=cache_dir, progress=progress)
    keys = list(grid)
    rows = []
    for values in itertools.product(*(grid[k] for k in keys)):
        setting = dict(zip(keys, values))
        scales = {k: float(v) for k, v in setting.items() if k not in ("steps", "hold_face")}
        g = gen.replace(steps=int(setting["steps"]) if "steps" in setting else None,
                        hold_face=bool(int(setting["hold_face"])) if "hold_face" in setting else None,
                        guidance=dataclasses.replace(gen.guidance, **scales))
        row = {"steps": g.steps, "hold_face": g.hold_face, **asdict(g.guidance)}
        row.update(ev.score(g, seeds=seeds))
        rows.append(row)
    return rows


def evaluate_motion(gen, *, regression=None, latent=None, test_clips: int = EvalMotionConfig.test_clips,
                    train_clips: int = EvalMotionConfig.train_clips, seeds: int = EvalMotionConfig.seeds,
                    seed: int = EvalMotionConfig.seed, cache_dir=None, progress: bool = False) -> dict:
    """Every figure of the motion evaluation for a MotionGenerator (and the regression baseline's)."""
    held = gen.meta.get("heldout_language")
    ev = MotionEvaluation(motion_source_of(gen, latent), gen.cfg.window, heldout_language=held,
                          test_clips=test_clips, train_clips=train_clips, seed=seed, cache_dir=cache_dir,
                          progress=progress)
    out: dict = ev.score(gen, seeds=seeds)
    out.update(ev.ceilings())
    out["seam_ratio_gt"] = ev.seam_ratio_gt(gen)
    if regression is not None:
        r = ev.score(regression, seams=False)
        out["regression_lipsync_corr"], out["regression_dp_ratio"] = r["lipsync_corr"], r["dp_ratio"]
        out["regression_sway_ratio"] = r["sway_ratio"]
        out["regression_diversity_ratio"] = ev.score(regression, seeds=2, seams=False)["diversity_ratio"]
    out["emotion_acc_val"] = ev.emotion_val(gen, test_clips)
    if held:
        out["heldout_lang_lipsync_corr"] = ev.heldout_lipsync(gen, max(8, test_clips // 2))
    out["sung_lipsync_corr"] = ev.sung_lipsync(gen)
    if gen.process_name == "diffusion":
        out["denoising"] = {str(k): v for k, v in denoising_error(gen, ev.test, seed=seed).items()}
    out.update(heldout_language=held, test_clips=test_clips, steps=gen.steps, overlap=gen.overlap,
               guidance={k: v for k, v in asdict(gen.guidance).items() if v != 1.0})
    return out
