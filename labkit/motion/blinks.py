"""Blinks as their own stochastic process: onset times from a renewal process, each blink a fast
close, a short hold and a slower reopening.

VASA-1 (§3.2) generates all face dynamics, blinks included, with one diffusion transformer. A
blink is a rare, brief event at a random time; a generator sampled in few steps regresses towards
the mean over such events and draws a faint lid twitch (or nothing) instead of a blink. Here the
blink factor of the generated motion is completed by an explicit process whose statistics come
from the physiology of spontaneous blinking:

* rate: about 17 blinks a minute at rest, more in conversation (Bentivoglio et al., 1997,
  "Analysis of blink rate patterns in normal subjects", Movement Disorders 12(6));
* intervals: right-skewed, never shorter than a refractory gap -- modelled as a shifted gamma
  renewal process (Ponder & Kennedy, 1927, on the skewed inter-blink interval distribution);
* shape: a fast close, a short hold and a slower reopening (VanderWerf et al., 2003, "Eyelid
  movements: behavioral studies of blinking in humans", J. Neurophysiol. 90(5); Caffier et al.,
  2003, Eur. J. Appl. Physiol. 89): 50-90 ms down, 20-40 ms shut, 100-200 ms up, the ranges
  SynthTalk draws, so that a generator trained on it blinks as long as its truth (about 150 ms
  at least half shut).

Offline and streaming give the same frames: :class:`Blinks` draws one blink at a time from its own
generator and carries them across calls, so ``next(a)`` then ``next(b)`` equals ``next(a + b)``.

A :class:`BlinkAxis` says where a blink goes in a motion space: in SynthTalk's factors it is the blink
factor; in a face latent model's codes it is the direction the codes move along when the eyes shut
(``labkit.latent.readout``). A generated row is moved along it by what it lacks of the process's
closure, so a blink the generator did draw is kept, not doubled.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from labkit.synthtalk.factors import FACTOR_NAMES

_BLINK = FACTOR_NAMES.index("blink")


@dataclass(frozen=True)
class BlinkConfig:
    rate: float = 17.0                          # mean blinks per minute (Bentivoglio 1997: 17 at rest)
    min_gap: float = 0.6                        # s, shortest onset-to-onset interval (refractory gap)
    shape: float = 2.0                          # gamma shape of the interval beyond min_gap (1: exponential)
    closing: tuple[float, float] = (0.05, 0.09)  # s, lid-closing duration, drawn uniformly per blink
    closed: tuple[float, float] = (0.02, 0.04)   # s, lid held shut (at least one frame is always shut)
    opening: tuple[float, float] = (0.10, 0.20)  # s, lid reopening: slower than closing
    amplitude: float = 1.0                      # peak closure of a blink (1 = lids meet)
    amplitude_spread: float = 0.06              # each blink peaks uniformly in [amplitude - spread, amplitude]

    def __post_init__(self):
        if not self.rate > 0:
            raise ValueError(f"BlinkConfig.rate must be > 0 blinks per minute, got {self.rate}")
        if not 0 <= self.min_gap < 60.0 / self.rate:
            raise ValueError(f"BlinkConfig.min_gap must be in [0, 60 / rate = {60.0 / self.rate:.3g} s), "
                             f"got {self.min_gap}")
        if not self.shape > 0:
            raise ValueError(f"BlinkConfig.shape must be > 0, got {self.shape}")
        for name in ("closing", "closed", "opening"):
            lo, hi = getattr(self, name)
            if not 0 < lo <= hi:
                raise ValueError(f"BlinkConfig.{name} must be a (low, high) range of seconds with "
                                 f"0 < low <= high, got {(lo, hi)}")
        if not 0 < self.amplitude <= 1:
            raise ValueError(f"BlinkConfig.amplitude must be in (0, 1], got {self.amplitude}")
        if not 0 <= self.amplitude_spread < self.amplitude:
            raise ValueError(f"BlinkConfig.amplitude_spread must be in [0, amplitude), got {self.amplitude_spread}")

    @property
    def scale(self) -> float:
        """Gamma scale θ of the interval beyond min_gap, so that the mean interval is 60 / rate."""
        return (60.0 / self.rate - self.min_gap) / self.shape


def blink_profile(t: np.ndarray, closing: float, closed: float, opening: float, amplitude: float) -> np.ndarray:
    """Lid closure (N,) at times t (N,) seconds after a blink's onset: a cosine ease down to
    `amplitude`, a hold, a cosine ease back up; 0 outside the blink."""
    t = np.asarray(t, np.float64)
    down = np.clip(t / closing, 0, 1)
    up = np.clip((t - closing - closed) / opening, 0, 1)
    ease = lambda u: 0.5 - 0.5 * np.cos(np.pi * u)  # noqa: E731 - zero velocity at both ends, like a lid
    return amplitude * ease(down) * (1 - ease(up)) * (t >= 0)


class Blinks:
    """A stream of blink amounts, one per frame; see the module docstring.

    blinks = Blinks(BlinkConfig(), fps=25, seed=0); blinks.next(50) → (50,) float32 in [0, 1]."""

    def __init__(self, cfg: BlinkConfig = BlinkConfig(), *, fps: float = 25.0, seed: int = 0):
        if not (np.isfinite(fps) and fps > 0):
            raise ValueError(f"fps must be a positive number, got {fps}")
        if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
            raise ValueError(f"seed must be an integer, got {seed!r}")
        self.cfg, self.fps = cfg, float(fps)
        self._rng = np.random.default_rng(int(seed))
        self._frame = 0                     # index of the next frame to emit
        self._blinks: list[tuple] = []      # drawn blinks that may still cover coming frames
        # stationary start: the clip opens at a random moment between two blinks, not at a blink. The
        # interval that covers a random moment is length-biased, x f(x) / mean; for min_gap + Gamma(k, θ)
        # that is min_gap + Gamma(k, θ) with probability min_gap / mean, else min_gap + Gamma(k + 1, θ).
        mean = 60.0 / cfg.rate
        k = cfg.shape if self._rng.uniform() < cfg.min_gap / mean else cfg.shape + 1
        self._next_onset = self._rng.uniform() * (cfg.min_gap + self._rng.gamma(k, cfg.scale))

    def _draw_blink(self) -> None:
        """Draw the blink at the next onset (its durations and peak) and the onset after it."""
        cfg, rng = self.cfg, self._rng
        closing, closed, opening = (rng.uniform(*r) for r in (cfg.closing, cfg.closed, cfg.opening))
        # a hold shorter than a frame could fall between two frames and be drawn as a half-blink
        closed = max(closed, 1.0 / self.fps)
        amplitude = rng.uniform(cfg.amplitude - cfg.amplitude_spread, cfg.amplitude)
        self._blinks.append((self._next_onset, closing, closed, opening, amplitude))
        self._next_onset += cfg.min_gap + rng.gamma(cfg.shape, cfg.scale)

    def next(self, n: int) -> np.ndarray:
        """Blink amount (n,) float32 in [0, 1] of the next n frames (1 = lids closed)."""
        if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 0:
            raise ValueError(f"n must be a non-negative number of frames, got {n!r}")
        t = (self._frame + np.arange(n)) / self.fps            # (n,) s, from the frame index: no drift
        end = (self._frame + n) / self.fps                     # time of the first frame after this call
        while self._next_onset < end:
            self._draw_blink()
        out = np.zeros(n, np.float64)
        for onset, *phases in self._blinks:
            np.maximum(out, blink_profile(t - onset, *phases), out=out)
        self._frame += n
        # keep only the blinks that still cover a coming frame
        self._blinks = [b for b in self._blinks if b[0] + sum(b[1:4]) >= self._frame / self.fps]
        return np.clip(out, 0, 1).astype(np.float32)


def add_blinks(factors: np.ndarray, *, fps: float = 25.0, seed: int = 0,
               cfg: BlinkConfig = BlinkConfig()) -> np.ndarray:
    """Factors (T, F) → a copy whose blink column is max(generated blink, the blink process)."""
    f = np.array(factors)                                      # a copy, in the caller's dtype
    if not np.issubdtype(f.dtype, np.floating):
        f = f.astype(np.float32)
    if f.ndim != 2 or f.shape[1] != len(FACTOR_NAMES):
        raise ValueError(f"factors must have shape (T, {len(FACTOR_NAMES)}), got {f.shape}")
    return BlinkAxis.factors().add(f, Blinks(cfg, fps=fps, seed=seed).next(len(f))).astype(f.dtype)


@dataclass(frozen=True, eq=False)
class BlinkAxis:
    """A blink in a motion space of M values: `open` (M,) a row with open eyes, `shut` (M,) the change
    from open to shut lids. The closure of a row is its projection on `shut`, measured from `open`."""
    open: np.ndarray
    shut: np.ndarray

    def __post_init__(self):
        if self.open.shape != self.shut.shape or self.open.ndim != 1:
            raise ValueError(f"open and shut must be two (M,) vectors, got {self.open.shape} and {self.shut.shape}")
        if not float(self.shut @ self.shut) > 0:
            raise ValueError("the shut direction is zero: this motion space has no blink")

    @classmethod
    def factors(cls) -> "BlinkAxis":
        """SynthTalk's factors: the blink factor, 0 = open."""
        shut = np.zeros(len(FACTOR_NAMES), np.float32)
        shut[_BLINK] = 1.0
        return cls(np.zeros_like(shut), shut)

    @classmethod
    def from_reader(cls, reader, pose_dims: int, open: np.ndarray | None = None) -> "BlinkAxis":
        """A face latent model's codes, from its `labkit.latent.readout.FactorReader`: the codes' change from
        open to shut eyes with the first `pose_dims` (z_pose) held, measured from `open` (default: the
        reader's people with open eyes)."""
        shut = reader.direction("blink", 0.0, 1.0).copy()
        shut[:pose_dims] = 0                                                  # the lids move, not the head
        return cls(reader.level("blink", 0.0) if open is None else np.asarray(open, np.float32), shut)

    def closure(self, motion: np.ndarray) -> np.ndarray:
        """How shut each row of motion (..., M) is: (...,), 0 open, 1 shut."""
        # row by row (a matrix product's rounding would depend on how many rows come at once)
        return ((np.asarray(motion, np.float32) - self.open) * self.shut).sum(-1) / float(self.shut @ self.shut)

    def add(self, motion: np.ndarray, amount: np.ndarray) -> np.ndarray:
        """Motion (..., M) with each row at least `amount` (...,) shut; rows already as shut are unchanged,
        and so is every row asked for no blink (a row whose eyes are wider than `open` stays so)."""
        motion = np.array(motion, np.float32)
        amount = np.asarray(amount, np.float32)
        lack = np.where(amount > 0, np.clip(amount - self.closure(motion), 0, None), 0).astype(np.float32)
        return motion + lack[..., None] * self.shut
