"""What a face latent model's motion codes say in SynthTalk's terms.

The motion generator of the latent renderer speaks [z_pose, z_dyn]; people ask "how open is the mouth, where
does it look, does it blink". A :class:`FactorReader` answers with SynthTalk's ground truth:

- ``read``: ridge probes from codes to factors, fitted on frames SynthTalk renders of training people with pose
  and expression drawn independently (the probes of ``labkit eval latent``), fitted on first use;
- ``direction``: per factor, the direction in code space along which it moves: the mean change of the codes
  when training people go from one end of the factor to the other, everything else held.

    codes (T, M) ── read ──▶ factors (T, F)          direction("blink", 0, 1) ──▶ (M,) shut minus open
"""
from __future__ import annotations

import hashlib

import numpy as np
import torch
from sklearn.linear_model import Ridge
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from labkit.latent.data import MotionBank, PairSampler, mixed_frames, motion_bank
from labkit.latent.model import FaceLatentModel
from labkit.synthtalk.dataset import split_identities
from labkit.synthtalk.factors import FACTOR_NAMES, factor_row


class FactorReader:
    """Codes → factors, and each factor's direction in code space, for one face latent model.

    `frames`: the probes' training frames; `people`: the train people each direction is averaged over.
    Everything is rendered at the model's driver_size and seeded by `seed`: one model, one reader."""

    def __init__(self, model: FaceLatentModel, *, frames: int = 600, people: int = 8, seed: int = 0,
                 batch: int = 50):
        self.model, self.frames, self.seed, self.batch = model, frames, seed, batch
        ids = split_identities("train")
        self._people = ids[np.random.default_rng(seed).integers(len(ids), size=people)]
        empty = MotionBank(np.zeros((0, len(FACTOR_NAMES))), np.zeros(0, np.int64), np.zeros(0, np.int64))
        self._sampler = PairSampler("train", model.cfg.driver_size, empty)       # renders; draws no motion
        self._probe = None
        self._levels: dict[tuple, np.ndarray] = {}

    @torch.no_grad()
    def encode(self, images: torch.Tensor) -> np.ndarray:
        """Frames (B, 3, S, S) in [0, 1] → their motion codes [z_pose, z_dyn] (B, M)."""
        dev = next(self.model.parameters()).device
        z_pose, z_dyn = self.model.encode_motion(images.to(dev))
        return torch.cat([z_pose, z_dyn], 1).cpu().numpy()

    def read(self, codes: np.ndarray) -> np.ndarray:
        """Motion codes (..., M) → SynthTalk factors (..., F) in FACTOR_NAMES order."""
        codes = np.asarray(codes, np.float32)
        M = 6 + self.model.cfg.dyn_dim
        if codes.shape[-1] != M:
            raise ValueError(f"codes must end in {M} values (z_pose then z_dyn), got shape {codes.shape}")
        if self._probe is None:
            self._probe = self._fit()
        return self._probe.predict(codes.reshape(-1, M)).reshape(*codes.shape[:-1], -1).astype(np.float32)

    def direction(self, factor: str, low: float, high: float) -> np.ndarray:
        """(M,): the mean change of the codes when the reader's people go from `factor` = low to high, a
        still, neutral, camera-facing face otherwise."""
        if factor not in FACTOR_NAMES:
            raise ValueError(f"unknown factor {factor!r}; the factors are {', '.join(FACTOR_NAMES)}")
        return self.level(factor, high) - self.level(factor, low)

    def level(self, factor: str, value: float) -> np.ndarray:
        """(M,): the mean code of the reader's people with `factor` = value, a still, neutral,
        camera-facing face otherwise."""
        if factor not in FACTOR_NAMES:
            raise ValueError(f"unknown factor {factor!r}; the factors are {', '.join(FACTOR_NAMES)}")
        key = (factor, float(value))
        if key not in self._levels:
            n = len(self._people)
            row = np.repeat(factor_row(**{factor: value})[None], n, 0)
            self._levels[key] = self._codes(self._people, row, np.zeros(n, np.int64)).mean(0).astype(np.float32)
        return self._levels[key]

    def _fit(self):
        rng = np.random.default_rng(self.seed)
        ids = self._sampler.identities
        f, e = mixed_frames(motion_bank("train", 8, seed=self.seed), rng, self.frames)   # speech's motion, mixed
        codes = self._codes(ids[rng.integers(len(ids), size=self.frames)], f, e)
        return make_pipeline(StandardScaler(), Ridge(alpha=1.0)).fit(codes, f)

    def _codes(self, ids, factors: np.ndarray, emotion: np.ndarray) -> np.ndarray:
        """The codes of SynthTalk frames of people `ids` (N,) with factors (N, F), emotions (N,)."""
        s, B = self._sampler, self.batch
        return np.concatenate([self.encode(s.render(ids[k:k + B], factors[k:k + B], emotion[k:k + B]))
                               for k in range(0, len(ids), B)])


_READERS: dict[str, FactorReader] = {}          # by the weights' digest; the last two models used


def factor_reader(model: FaceLatentModel) -> FactorReader:
    """The FactorReader of `model`, kept for models with the same weights (a direction takes about a
    second to measure, the probes of `read` some ten seconds on two CPU cores)."""
    key = _digest(model)
    if key not in _READERS:
        while len(_READERS) >= 2:
            _READERS.pop(next(iter(_READERS)))
        _READERS[key] = FactorReader(model)
    return _READERS[key]


def _digest(model: FaceLatentModel) -> str:
    h = hashlib.sha1()
    for t in model.state_dict().values():
        h.update(t.detach().cpu().contiguous().numpy().tobytes())
    return h.hexdigest()
