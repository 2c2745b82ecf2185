"""Training and evaluation pairs for the face latent model, rendered from SynthTalk on the fly.

VASA-1 trains on pairs of frames from one video clip: same person, same appearance, two
different poses and expressions. SynthTalk can render *any* identity with *any* motion, so a
"clip" here is an identity plus two frames drawn from a bank of natural motion (speech-driven
factors of SynthTalk clips of the same split); with a small probability a frame is given an
independent random head pose, which widens the pose range the rigid warp must explain, and
(if asked) independent random expression factors: in speech a blink is rare (4 % of frames)
and the gaze wanders a few degrees, too little signal for a code to learn them from. A share of
pairs may also keep one head pose for both frames (`same_pose_prob`): then only the expression
differs, and all of the pair's reconstruction error is about the lids, brows, gaze and lips.
With `cross_targets`, each batch also holds the exact render of every source person performing
the previous pair's driver motion (another person's), a target no video can give.

For evaluation the same machinery gives what real video never has: the exact ground-truth
image of identity A performing identity B's motion (cross-identity reenactment).
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm

from labkit.faces.prep import MANIFEST
from labkit.io.video import read_video
from labkit.synthtalk.dataset import SynthTalk, split_identities
from labkit.synthtalk.factors import FACTOR_NAMES, FACTORS, array_to_factors, factors_to_array
from labkit.synthtalk.identity import sample_identity
from labkit.synthtalk.renderer import Renderer

POSE_FACTORS = ("yaw", "pitch", "roll", "tx", "ty", "distance")
DYN_FACTORS = ("jaw", "lip_spread", "lip_round", "blink", "brow", "gaze_yaw", "gaze_pitch", "emotion_intensity")
EXPRESSION_FACTORS = DYN_FACTORS[:-1]          # drawn at random by PairSampler(random_expression_prob=...)
_POSE_COLS = [FACTOR_NAMES.index(n) for n in POSE_FACTORS]


@dataclass
class MotionBank:
    """Per-frame ground-truth factors of many SynthTalk clips: factors (N, F), emotion (N,), clip (N,)."""
    factors: np.ndarray
    emotion: np.ndarray
    clip: np.ndarray

    def __len__(self) -> int:
        return len(self.factors)


def motion_bank(split: str, num_clips: int, *, seconds: float = 4.0, seed: int = 0,
                progress: bool = False) -> MotionBank:
    """Factors of `num_clips` SynthTalk clips of `split` (speech synthesis + motion, no pixels)."""
    data = SynthTalk(split=split, seconds=seconds, seed=seed, num_clips=num_clips)
    it = range(num_clips)
    if progress:
        it = tqdm(it, desc=f"motion bank ({split})", unit="clip")
    fs, es, cs = [], [], []
    for i in it:
        f = data.sample_motion(i)["factors"]
        fs.append(factors_to_array(f))
        es.append(f["emotion"])
        cs.append(np.full(len(f["emotion"]), i))
    return MotionBank(np.concatenate(fs), np.concatenate(es), np.concatenate(cs))


def random_factors(rng: np.random.Generator, n: int, names=POSE_FACTORS, spread: float = 0.8) -> np.ndarray:
    """n draws (n, len(names)) of the factors `names`, uniform over `spread` of each one's range
    (about its middle)."""
    out = np.empty((n, len(names)), np.float32)
    for k, name in enumerate(names):
        lo, hi, _ = FACTORS[name]
        mid, half = (lo + hi) / 2, (hi - lo) / 2 * spread
        out[:, k] = rng.uniform(mid - half, mid + half, n)
    return out


def mixed_frames(bank: MotionBank, rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray]:
    """n factor vectors whose pose comes from one bank frame and dynamics from another, so that
    pose and expression are independent (in speech they are not): factors (n, F), emotion (n,)."""
    a, b = rng.integers(len(bank), size=n), rng.integers(len(bank), size=n)
    f = bank.factors[b].copy()
    f[:, _POSE_COLS] = bank.factors[a][:, _POSE_COLS]
    return f, bank.emotion[b].copy()


def cross_partner(n: int) -> torch.Tensor:
    """Whose driver motion each of n rows is reenacted with in a cross-identity target: row b takes
    row b - 1's (cyclically), another person's but for the odd draw of one identity twice. (n,) long."""
    return torch.roll(torch.arange(n), 1)


def _to_images(frames: np.ndarray) -> torch.Tensor:
    """(B, H, W, 3) uint8 → (B, 3, H, W) float32 in [0, 1], NCHW-contiguous (channels-last input crashes
    some CPU backward kernels)."""
    return torch.from_numpy(frames).permute(0, 3, 1, 2).contiguous().float().div_(255)


class PairSampler:
    """Batches of same-identity frame pairs, rendered at `resolution`.

    ``sampler.batch(B, rng)`` returns dict(source (B, 3, H, W), driver (B, 3, H, W) float in
    [0, 1], source_factors / driver_factors (B, F) in FACTOR_NAMES order, source_landmarks /
    driver_landmarks (B, 68, 2) pixel (x, y), identity (B,)). With cross_targets=True also
    cross_target (B, 3, H, W) and cross_landmarks (B, 68, 2): row b's person with the driver
    motion of row b - 1 (cyclically, within the rows returned; see cross_partner).
    """

    def __init__(self, split: str, resolution: int, bank: MotionBank, *, random_pose_prob: float = 0.2,
                 random_expression_prob: float = 0.0, same_pose_prob: float = 0.0, cross_targets: bool = False):
        for name, p in (("random_pose_prob", random_pose_prob), ("random_expression_prob", random_expression_prob),
                        ("same_pose_prob", same_pose_prob)):
            if not 0 <= p <= 1:
                raise ValueError(f"{name} must be a probability in [0, 1], got {p}")
        self.split, self.bank = split, bank
        self.identities = split_identities(split)
        self.renderer = Renderer(resolution)
        self.random_pose_prob, self.random_expression_prob = random_pose_prob, random_expression_prob
        self.same_pose_prob, self.cross_targets = same_pose_prob, cross_targets
        self._expr_cols = [FACTOR_NAMES.index(n) for n in EXPRESSION_FACTORS]

    def draw_frames(self, rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray]:
        """n motion states from the bank: factors (n, F) float32 and emotion (n,)."""
        idx = rng.integers(len(self.bank), size=n)
        f, e = self.bank.factors[idx].copy(), self.bank.emotion[idx].copy()
        swap = rng.random(n) < self.random_pose_prob
        f[np.ix_(swap, _POSE_COLS)] = random_factors(rng, int(swap.sum()))
        if self.random_expression_prob > 0:        # (no extra draws when off: older runs resume exactly)
            swap = rng.random(n) < self.random_expression_prob
            f[np.ix_(swap, self._expr_cols)] = random_factors(rng, int(swap.sum()), EXPRESSION_FACTORS, spread=1.0)
        return f, e

    def render(self, identity_ids, factors: np.ndarray, emotion: np.ndarray) -> torch.Tensor:
        """Render identity_ids[b] with factors[b]: (B, 3, H, W) float32 in [0, 1]."""
        return self.render_with_landmarks(identity_ids, factors, emotion)[0]

    def render_with_landmarks(self, identity_ids, factors: np.ndarray,
                              emotion: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
        """Images (B, 3, H, W) float32 in [0, 1] and their iBUG-68 landmarks (B, 68, 2) in pixels."""
        return self._render_rows(identity_ids, [(factors, emotion)])[0]

    def batch(self, B: int, rng: np.random.Generator, *, rows: slice = slice(None), step: int | None = None) -> dict:
        """The step's batch of B pairs drawn from `rng`, of which only `rows` are rendered and
        returned (a process's shard; see labkit.training.distributed). SynthTalk is an endless stream of
        independent draws, so `step` is not needed here."""
        ids = self.identities[rng.integers(len(self.identities), size=B)]
        fs, es = self.draw_frames(rng, B)
        fd, ed = self.draw_frames(rng, B)
        if self.same_pose_prob > 0:                # expression-only pairs: the driver keeps the source's head
            same = rng.random(B) < self.same_pose_prob
            fd[np.ix_(same, _POSE_COLS)] = fs[np.ix_(same, _POSE_COLS)]
        ids, fs, es, fd, ed = ids[rows], fs[rows], es[rows], fd[rows], ed[rows]
        motions = [(fs, es), (fd, ed)]
        if self.cross_targets:                     # no draws: runs without it see the same batches
            k = cross_partner(len(ids)).numpy()
            motions.append((fd[k], ed[k]))
        (src, src_lm), (drv, drv_lm), *cross = self._render_rows(ids, motions)
        out = dict(source=src, driver=drv, source_landmarks=src_lm, driver_landmarks=drv_lm,
                   source_factors=torch.from_numpy(fs), driver_factors=torch.from_numpy(fd),
                   source_emotion=torch.from_numpy(es), driver_emotion=torch.from_numpy(ed),
                   identity=torch.from_numpy(ids.astype(np.int64)))
        if cross:
            out["cross_target"], out["cross_landmarks"] = cross[0]
        return out

    def _render_rows(self, identity_ids, motions: list[tuple[np.ndarray, np.ndarray]]):
        """render_with_landmarks of each (factors, emotion) in `motions` for the same identities, drawn
        person by person: the renderer builds a person's rig, textures and backdrop once for all of
        that person's images (its cache holds a few people, fewer than a batch)."""
        n, B = self.renderer.resolution, len(identity_ids)
        out = [np.empty((B, n, n, 3), np.uint8) for _ in motions]
        lms = [np.empty((B, 68, 2), np.float32) for _ in motions]
        for b, i in enumerate(identity_ids):
            ident = sample_identity(int(i))
            for m, (f, e) in enumerate(motions):
                fd = array_to_factors(f[b][None], np.asarray([e[b]]))
                lms[m][b] = self.renderer.render_frame(ident, fd, 0, out[m][b])
        return [(_to_images(o), torch.from_numpy(lm)) for o, lm in zip(out, lms)]


class PreparedPairs:
    """Same-clip frame pairs from a folder written by ``labkit prep`` (real video, no factors).

    ``batch(B, rng, step=k)`` returns dict(source, driver (B, 3, H, W) in [0, 1], source_landmarks /
    driver_landmarks (B, 68, 2) in the model's pixels, identity (B,) = clip index). The clips of
    step k come from per-epoch permutations (each clip once per epoch, whatever the number of
    processes; epoch_indices), the two frames of each pair from `rng`.
    Decoded clips are kept in memory (a few MB each at 128 px).
    """

    def __init__(self, prepared_dir, resolution: int, *, seed: int = 0):
        root = Path(prepared_dir)
        man = root / MANIFEST
        if not man.is_file():
            raise FileNotFoundError(f"{root} has no {MANIFEST}; is it a folder written by `labkit prep`?")
        clips = [c for c in json.loads(man.read_text())["clips"] if c.get("status") == "ok"]
        self.paths = [root / f"{c['name']}.mp4" for c in clips if (root / f"{c['name']}.mp4").is_file()]
        if len(self.paths) < 2:
            raise ValueError(f"{root} holds {len(self.paths)} prepared clips; training needs at least 2")
        self.resolution, self.seed = resolution, seed
        self._frames: dict[int, tuple[torch.Tensor, torch.Tensor]] = {}

    def frames(self, k: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Clip k's frames (T, 3, H, W) uint8 at the model's resolution and their aligned landmarks
        (T, 68, 2) in the same pixels."""
        if k not in self._frames:

            f = torch.from_numpy(read_video(self.paths[k])[0]).permute(0, 3, 1, 2).contiguous()
            lm = torch.from_numpy(np.load(self.paths[k].with_suffix(".npz"))["aligned_landmarks"]).float()
            lm = lm * (self.resolution / f.shape[-1])
            if f.shape[-1] != self.resolution:
                f = torch.nn.functional.interpolate(f.float(), size=(self.resolution,) * 2, mode="area")
                f = f.round().clamp(0, 255).to(torch.uint8)
            self._frames[k] = f, lm
        return self._frames[k]

    def __len__(self) -> int:
        return len(self.paths)

    def batch(self, B: int, rng: np.random.Generator, *, rows: slice = slice(None), step: int | None = None) -> dict:
        """The rows `rows` of step `step`'s batch of B pairs (clips in epoch order; with no step,
        clips drawn from `rng`)."""
        clips = rng.integers(len(self), size=B) if step is None else epoch_indices(len(self), B, step, self.seed)
        where = rng.random((B, 2))                         # the two frames, as fractions of the clip
        src, drv, src_lm, drv_lm = [], [], [], []
        for k, (u, v) in zip(clips[rows], where[rows]):
            f, lm = self.frames(int(k))
            i, j = int(u * len(f)), int(v * len(f))
            src.append(f[i])
            drv.append(f[j])
            src_lm.append(lm[i])
            drv_lm.append(lm[j])
        return dict(source=torch.stack(src).float() / 255, driver=torch.stack(drv).float() / 255,
                    source_landmarks=torch.stack(src_lm), driver_landmarks=torch.stack(drv_lm),
                    identity=torch.from_numpy(clips[rows].astype(np.int64)))


def epoch_indices(n_items: int, batch_size: int, step: int, seed: int):
    """Item indices (batch_size,) of `step` in a stream of per-epoch permutations of n_items.

    Every item comes once per epoch (no duplicates), and the order is a function of (seed, step):
    exact resume, and the same batches whatever the world size.
    """
    if n_items < 1:
        raise ValueError("epoch_indices needs at least one item")
    pos = np.arange(step * batch_size, (step + 1) * batch_size)
    epochs, within = pos // n_items, pos % n_items
    out = np.empty(batch_size, np.int64)
    for e in np.unique(epochs):
        perm = np.random.default_rng([seed, 1, int(e)]).permutation(n_items)
        out[epochs == e] = perm[within[epochs == e]]
    return out
