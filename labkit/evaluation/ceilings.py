"""What the face holds of each expression factor, and at what resolution: the ceilings a face latent
model's z_dyn is measured against (``labkit eval latent --ceilings 128,256,512``).

A linear probe of z_dyn (labkit.evaluation.latent) can only read what the encoder put there, and the
encoder can only put there what its input shows. Three readers, fitted on train identities and scored
on test identities of SynthTalk, bound it from above, per factor:

- **drawn** (``drawn_dynamics``): a linear read of exactly what SynthTalk draws — the blendshape weights
  (emotion included), the eyelid openness and the gaze. It does not depend on the resolution. Emotions
  add to the drawn brow, jaw and lids, so even this read does not recover the brow factor perfectly;
- **pixels** (``pixel_probe_r2``): a ridge regression on the raw eye and mouth crops, placed by the
  true landmarks and sampled about once per pixel at the image's resolution: a linear reader of the
  image itself;
- **reader** (``CropReader``): a small CNN trained on the same crops against the true factors — a
  supervised, non-linear reader, able to tell a brow raised by speech from one set by an emotion
  where the mouth shows the emotion. What it reaches is what an encoder at that resolution could
  carry; VASA-1's encoders read 512 px faces.

Frames combine the pose of one speech frame with the dynamics of another (labkit.latent.data.
mixed_frames), several per person (SynthTalk builds a person's rig once for all their frames; at
512 px that build costs ~7 frames' rendering). The same draws are rendered at every resolution.
"""
from __future__ import annotations

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from tqdm.auto import tqdm

from labkit.evaluation.probes import pixel_probe_r2, probe_r2, r2_per_target
from labkit.latent.blocks import groups
from labkit.latent.data import MotionBank, PairSampler, mixed_frames, motion_bank
from labkit.latent.parts import CROPS, face_crops
from labkit.synthtalk.factors import FACTOR_NAMES, array_to_factors
from labkit.synthtalk.renderer import expression_weights

PROBE_DYN = ("jaw", "blink", "brow", "gaze_yaw", "gaze_pitch")    # what z_dyn must carry (VASA-1 §3.1: facial dynamics)
REGIONS = tuple(CROPS)                                            # ("eyes", "mouth")
_COL = {n: i for i, n in enumerate(FACTOR_NAMES)}
_DYN_COLS = [_COL[n] for n in PROBE_DYN]


def drawn_dynamics(factors: np.ndarray, emotion: np.ndarray) -> np.ndarray:
    """What SynthTalk draws of each frame's facial dynamics: the blendshape weights (emotion included),
    the eyelid openness and the gaze. factors (n, F) in FACTOR_NAMES order, emotion (n,) → (n, K + 3)."""
    gaze = factors[:, [_COL["gaze_yaw"], _COL["gaze_pitch"]]]
    rows = [np.r_[w, o] for w, o in (expression_weights(array_to_factors(f[None], e), 0)
                                     for f, e in zip(factors, emotion))]
    return np.concatenate([np.asarray(rows, np.float32), gaze], 1)


# ---------------------------------------------------------------------------- the frames

def part_crops(images: torch.Tensor, landmarks: torch.Tensor) -> dict[str, np.ndarray]:
    """The eye and mouth crops of images (B, 3, S, S) in [0, 1], placed by their landmarks (B, 68, 2),
    about one sample per pixel: {region: (B, 3, h, w) uint8}."""
    return {r: (face_crops(images, landmarks, r) * 255).round().clamp(0, 255).to(torch.uint8).numpy()
            for r in REGIONS}


def draw_frames(bank: MotionBank, identities: np.ndarray, people: int, per_person: int,
                rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """`people` identities drawn from `identities`, each with `per_person` mixed frames: ids (N,),
    factors (N, F), emotion (N,), N = people * per_person, grouped by person."""
    ids = np.repeat(identities[rng.integers(len(identities), size=people)], per_person)
    f, e = mixed_frames(bank, rng, len(ids))
    return ids, f, e


def render_crops(sampler: PairSampler, ids, factors, emotion, *, batch: int = 32,
                 progress: bool = False, desc: str = "render") -> dict[str, np.ndarray]:
    """The frames' eye and mouth crops at the sampler's resolution, rendered `batch` at a time (only the
    crops are kept: 5 000 frames at 512 px would take 16 GB): {region: (N, 3, h, w) uint8}."""
    out: dict[str, list[np.ndarray]] = {r: [] for r in REGIONS}
    for k in tqdm(range(0, len(ids), batch), desc=desc, unit="batch", disable=not progress):
        img, lm = sampler.render_with_landmarks(ids[k:k + batch], factors[k:k + batch], emotion[k:k + batch])
        for r, c in part_crops(img, torch.as_tensor(lm)).items():
            out[r].append(c)
    return {r: np.concatenate(v) for r, v in out.items()}


def flat_crops(crops: dict[str, np.ndarray]) -> np.ndarray:
    """Every crop's pixels in one row per frame, in [0, 1]: (N, P) float32."""
    return np.concatenate([crops[r].reshape(len(crops[r]), -1) for r in REGIONS], 1).astype(np.float32) / 255


# ---------------------------------------------------------------------------- the supervised reader

class CropReader(nn.Module):
    """A small CNN reading the expression factors from the eye and mouth crops: {region: (B, 3, h, w)}
    in [-1, 1] → (B, K) standardised factors.

    One convolutional tower per part, each pooled to a fixed grid that keeps the layout (an iris's
    position is the gaze), then one MLP over both parts, so the brow can be read against what the
    mouth shows of the emotion. The same network reads every resolution; only the towers' input
    grows.
    """

    def __init__(self, outputs: int, width: int = 16, grid: dict[str, tuple[int, int]] | None = None):
        super().__init__()
        self.grid = grid or {"eyes": (4, 10), "mouth": (4, 4)}
        self.towers = nn.ModuleDict()
        for r in REGIONS:
            layers, c = [], 3
            for k, stride in enumerate((2, 2, 2, 1)):
                w = width * 2 ** min(k, 2)
                layers += [nn.Conv2d(c, w, 3, stride, 1), nn.GroupNorm(groups(w), w), nn.SiLU()]
                c = w
            self.towers[r] = nn.Sequential(*layers, nn.AdaptiveAvgPool2d(self.grid[r]), nn.Flatten())
        features = sum(c * h * w for h, w in self.grid.values())
        self.head = nn.Sequential(nn.Linear(features, 256), nn.SiLU(), nn.Linear(256, outputs))

    def forward(self, crops: dict[str, torch.Tensor]) -> torch.Tensor:
        return self.head(torch.cat([self.towers[r](crops[r]) for r in REGIONS], 1))


def _batch(crops: dict[str, np.ndarray], rows) -> dict[str, torch.Tensor]:
    return {r: torch.from_numpy(c[rows]).float().mul_(2 / 255).sub_(1) for r, c in crops.items()}


def train_reader(crops: dict[str, np.ndarray], targets: np.ndarray, *, epochs: int = 15, batch_size: int = 64,
                 lr: float = 2e-3, seed: int = 0, progress: bool = False) -> tuple[CropReader, np.ndarray, np.ndarray]:
    """Fit a CropReader to targets (N, K) from crops {region: (N, 3, h, w) uint8}: AdamW, cosine decay,
    mean squared error on the standardised targets. Returns the reader (eval mode) and the targets'
    mean and standard deviation (K,), to undo the standardisation."""
    N = len(targets)
    if any(len(c) != N for c in crops.values()):
        raise ValueError(f"crops and targets disagree on the number of frames: "
                         f"{ {r: len(c) for r, c in crops.items()} } vs {N}")
    mean, std = targets.mean(0), targets.std(0) + 1e-8
    y = torch.from_numpy(((targets - mean) / std).astype(np.float32))
    with torch.random.fork_rng(devices=[]):                    # the reader's init, the caller's RNG untouched
        torch.manual_seed(seed)
        reader = CropReader(targets.shape[1])
    steps = epochs * -(-N // batch_size)
    opt = torch.optim.AdamW(reader.parameters(), lr=lr, weight_decay=1e-4)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=steps, pct_start=0.1)
    rng = np.random.default_rng(seed)
    bar = tqdm(total=steps, desc="train reader", unit="step", disable=not progress)
    reader.train()
    for _ in range(epochs):
        order = rng.permutation(N)
        for k in range(0, N, batch_size):
            rows = order[k:k + batch_size]
            loss = F.mse_loss(reader(_batch(crops, rows)), y[rows])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            bar.update(1)
            bar.set_postfix(loss=f"{float(loss.detach()):.3f}")
    bar.close()
    return reader.eval(), mean, std


@torch.no_grad()
def reader_predict(reader: CropReader, crops: dict[str, np.ndarray], mean: np.ndarray, std: np.ndarray,
                   batch_size: int = 256) -> np.ndarray:
    """The reader's factors (N, K) for crops {region: (N, 3, h, w) uint8}, in the targets' units."""
    N = len(next(iter(crops.values())))
    out = [reader(_batch(crops, slice(k, k + batch_size))).numpy() for k in range(0, N, batch_size)]
    return np.concatenate(out) * std + mean


# ---------------------------------------------------------------------------- all of it

def expression_ceilings(sizes=(128, 256, 512), *, people_train: int = 500, people_test: int = 125,
                        per_person: int = 8, epochs: int = 15, seed: int = 0,
                        progress: bool = False) -> dict:
    """The drawn, pixel and reader ceilings of each PROBE_DYN factor (see the module docstring).

    Returns {"drawn": {factor: R²}, "sizes": {size: {"pixels": {factor: R²}, "reader": {factor: R²}}},
    "counts": {...}}; every R² is on the test identities' frames.
    """
    if not sizes or any(s not in (64, 128, 256, 512) for s in sizes):
        raise ValueError(f"ceiling sizes must be among 64, 128, 256 and 512 px, got {tuple(sizes)}")
    if people_train < 2 or people_test < 2 or per_person < 1:
        raise ValueError("the ceilings need at least 2 train and 2 test people and 1 frame per person")
    rng = np.random.default_rng([seed, 7])
    banks = {"train": motion_bank("train", 24, seed=seed + 1), "test": motion_bank("test", 24, seed=seed)}
    draws = {}
    for split, people in (("train", people_train), ("test", people_test)):
        identities = PairSampler(split, 64, banks[split]).identities
        draws[split] = draw_frames(banks[split], identities, people, per_person, rng)
    (_, ftr, etr), (_, fte, ete) = draws["train"], draws["test"]
    ytr, yte = ftr[:, _DYN_COLS], fte[:, _DYN_COLS]
    out: dict = {"drawn": dict(zip(PROBE_DYN, _rounded(probe_r2(drawn_dynamics(ftr, etr), ytr,
                                                                  drawn_dynamics(fte, ete), yte)))),
                 "sizes": {}}
    for size in sizes:
        crops = {}
        for split, (ids, f, e) in draws.items():
            sampler = PairSampler(split, size, banks[split], random_pose_prob=0.0)
            crops[split] = render_crops(sampler, ids, f, e, progress=progress, desc=f"render {split} {size} px")
        pixels = pixel_probe_r2(flat_crops(crops["train"]), ytr, flat_crops(crops["test"]), yte)
        reader, mean, std = train_reader(crops["train"], ytr, epochs=epochs, seed=seed, progress=progress)
        reads = r2_per_target(yte, reader_predict(reader, crops["test"], mean, std))
        out["sizes"][str(size)] = {"pixels": dict(zip(PROBE_DYN, _rounded(pixels))),
                                   "reader": dict(zip(PROBE_DYN, _rounded(reads)))}
    out["counts"] = {"train_frames": len(ytr), "test_frames": len(yte), "per_person": per_person, "epochs": epochs}
    return out


def _rounded(r2: np.ndarray) -> list[float]:
    return [round(float(v), 4) for v in r2]
