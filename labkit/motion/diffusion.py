"""The diffusion process around the motion denoiser (VASA-1 §3.2), kept apart from the network.

VASA-1 trains its transformer with the DDPM forward process and lets it predict the *clean*
sequence X0 rather than the noise (which also makes auxiliary losses on X0 straightforward);
sampling here uses DDIM's deterministic update (eta = 0) over a few steps, which is what
makes the generator real-time.

    x_t = sqrt(ᾱ_t) · x_0 + sqrt(1 - ᾱ_t) · ε,      ᾱ from the cosine schedule (Nichol & Dhariwal)
    loss = |x̂_0 - x_0|² + λ_vel · |Δx̂_0 - Δx_0|²      (Δ: frame-to-frame difference)

Classifier-free guidance has one scale per condition c (audio, gaze, control, emotion):

    x̂ = f(all) + Σ_c (s_c - 1) · m_c ⊙ (f(all) - f(all but c))

so s_c = 1 leaves c unguided and the usual single-condition CFG is the one-term case. "All but
emotion" is the same commands at neutral emotion (a command the model was trained on), and the
optional per-channel weights m_c confine a term to some motion channels: the motion generator
applies the emotion term to the face's dynamics only, not to the head pose.

Both samplers can hold the first frames of the window close to frames that are already known
(``prefix``: the overlap with the previous window when windows are chained): after every
denoiser call the prefix of x̂_0 is blended toward the known frames, the x0-replacement form of
diffusion inpainting, so the frames sampled after the prefix are drawn to continue it.

The network may output x̂_0 itself (``prediction="x0"``, as VASA-1 and the shipped models do) or
v = √ᾱ_t·ε − √(1 − ᾱ_t)·x_0 (``prediction="v"``, Salimans & Ho), from which

    x̂_0 = √ᾱ_t · x_t − √(1 − ᾱ_t) · v̂

This is EDM's preconditioning for unit-variance data (the motion is standardised): a skip
connection that hands the network x_t at low noise, where x_0-prediction must copy it through
and the shipped denoiser does so worse than the identity would (data_cards/model_motion_dit.md).
The loss and everything downstream stay on x̂_0; classifier-free guidance commutes with the
affine map, so it is applied to the network's outputs either way.

The noise ε may be correlated in time (``noise_rho`` = ρ > 0): each channel's noise is a stationary
AR(1) sequence, unit variance and correlation ρ^|i − j| between frames i and j, drawn as ε = L·z
with L the Cholesky factor of that covariance and z white. Head motion is smooth (its frames'
lag-1 correlation is 0.99), so white noise puts most of its energy where the motion has none;
AR(1) noise has the motion's 1/f² spectrum above its corner, which makes the path from noise to
motion shorter (PriorGrad's data-dependent prior, here only in time). Nothing else changes: x_t
= √ᾱ_t·x_0 + √(1 − ᾱ_t)·ε, DDIM recovers ε̂ from x_t and x̂_0 as before, and sampling starts
from the same correlated noise.

Channels can also be held (:class:`Hold`): their x̂_0 keeps the first denoiser call's estimate, the
conditional mean from pure noise, and later steps refine the other channels given it (x0
replacement across channels rather than frames). The motion generator holds the face's dynamics
this way: the mouth needs the conditional mean, which one step gives, while the head's sway is
the part the audio leaves open, which only several steps sample. A held channel may follow the
free ones linearly (``Hold.follow``): the eyes counter-rotate as the head turns
(labkit.motion.gaze).

Two processes share one interface (``loss(model, x0, cond)`` and ``sample(model, cond)``):
:class:`Diffusion` and the deterministic :class:`Regression` baseline (the same network,
no noise, one forward pass).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, fields

import torch
import torch.nn.functional as F

from labkit.motion.config import DiffusionConfig


def cosine_alpha_bar(timesteps: int, s: float = 0.008) -> torch.Tensor:
    """ᾱ_t for t = 0 … timesteps-1 (float64), the cosine schedule, clipped away from 0."""
    t = torch.arange(timesteps + 1, dtype=torch.float64) / timesteps
    f = torch.cos((t + s) / (1 + s) * math.pi / 2) ** 2
    ab = f[1:] / f[0]
    return ab.clamp(1e-5, 1.0)


@dataclass
class Guidance:
    """Classifier-free guidance scale of each condition; 1 = no guidance, 0 = condition ignored
    (for emotion: neutral)."""
    audio: float = 1.0
    gaze: float = 1.0
    control: float = 1.0      # head distance and emotion
    emotion: float = 1.0      # emotion against neutral: f(all) - f(all, emotion neutral), distance kept

    def active(self) -> list[str]:
        return [f.name for f in fields(self) if getattr(self, f.name) != 1.0]


def guided(model, x_t: torch.Tensor, t: torch.Tensor, cond, guidance: Guidance,
           masks: dict[str, torch.Tensor] | None = None) -> torch.Tensor:
    """The guided x̂_0: one batched forward pass over the full condition and each condition dropped.

    masks: optional per-channel weights (M,) of a condition's term, by condition name."""
    names = guidance.active()
    if not names:
        return model(x_t, t, cond)
    variants = [cond] + [cond.drop(name) for name in names]
    out = model(torch.cat([x_t] * len(variants)), torch.cat([t] * len(variants)), type(cond).cat(variants))
    full, *dropped = out.chunk(len(variants))
    x0 = full
    for name, d in zip(names, dropped):
        term = (getattr(guidance, name) - 1) * (full - d)
        x0 = x0 + (term * masks[name] if masks and name in masks else term)
    return x0


@dataclass
class Prefix:
    """Known frames for the start of a window: x̂_0[:, :O] ← w·known + (1 - w)·x̂_0[:, :O].

    known: (B, O, M) in the denoiser's (normalised) motion space; weight: (O,) in [0, 1]."""
    known: torch.Tensor
    weight: torch.Tensor

    def __post_init__(self):
        if self.known.ndim != 3 or self.weight.shape != self.known.shape[1:2]:
            raise ValueError(f"prefix: known must be (B, O, M) and weight (O,), got {tuple(self.known.shape)} "
                             f"and {tuple(self.weight.shape)}")

    def apply(self, x0: torch.Tensor) -> torch.Tensor:
        O = self.known.shape[1]
        w = self.weight.to(x0)[None, :, None]
        return torch.cat([w * self.known.to(x0) + (1 - w) * x0[:, :O], x0[:, O:]], 1)


@dataclass
class Hold:
    """Channels that keep the first step's x̂_0: x̂_0 ← w·(first + (x̂_0 - first)·F) + (1 - w)·x̂_0.

    weight: (M,) in [0, 1], 1 = held; follow: optional F (M, M), how held channels move with the
    others' change since the first step (None: they do not)."""
    weight: torch.Tensor
    follow: torch.Tensor | None = None

    def __post_init__(self):
        M = self.weight.shape[0]
        if self.weight.ndim != 1 or (self.follow is not None and self.follow.shape != (M, M)):
            raise ValueError(f"hold: weight must be (M,) and follow (M, M), got {tuple(self.weight.shape)} and "
                             f"{None if self.follow is None else tuple(self.follow.shape)}")

    def apply(self, x0: torch.Tensor, first: torch.Tensor) -> torch.Tensor:
        target = first if self.follow is None else first + (x0 - first) @ self.follow.to(x0)
        w = self.weight.to(x0)
        return w * target + (1 - w) * x0


def _with_prefix(x0: torch.Tensor, prefix: Prefix | None) -> torch.Tensor:
    return x0 if prefix is None else prefix.apply(x0)


def ar1_factor(frames: int, rho: float) -> torch.Tensor:
    """L (frames, frames), lower triangular, with L·Lᵀ = [ρ^|i − j|]: the AR(1) recursion
    ε_0 = z_0, ε_k = ρ·ε_(k−1) + √(1 − ρ²)·z_k written as one matrix."""
    i = torch.arange(frames, dtype=torch.float64)
    lag = i[:, None] - i[None, :]
    scale = torch.full((frames,), math.sqrt(1 - rho * rho), dtype=torch.float64)
    scale[0] = 1.0
    return torch.where(lag >= 0, rho ** lag.clamp(min=0), torch.zeros(())) * scale[None, :]


class Diffusion:
    """DDPM training with an x0 loss; DDIM sampling with any number of steps. The network predicts
    x_0 or v (``prediction``); the noise is white or AR(1) in time (``noise_rho``; module docstring)."""

    def __init__(self, timesteps: int = 1000, velocity_weight: float = 1.0, prediction: str = "x0",
                 noise_rho: float = 0.0):
        DiffusionConfig(prediction=prediction, noise_rho=noise_rho)          # checks both, as a config would
        self.timesteps = timesteps
        self.velocity_weight = velocity_weight
        self.prediction = prediction
        self.noise_rho = float(noise_rho)
        self.alpha_bar = cosine_alpha_bar(timesteps)

    def noise(self, shape: tuple[int, ...], generator: torch.Generator | None = None) -> torch.Tensor:
        """ε of `shape` (B, W, M) on the CPU: white, or AR(1) along the frames W when noise_rho > 0
        (the same draws from `generator` either way)."""
        z = torch.randn(shape, generator=generator)
        if self.noise_rho == 0.0:
            return z
        return torch.einsum("ij,bjm->bim", ar1_factor(shape[1], self.noise_rho).to(z.dtype), z)

    def _ab(self, t: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
        return self.alpha_bar.to(like.device)[t].to(like.dtype)[:, None, None]     # (B, 1, 1)

    def q_sample(self, x0: torch.Tensor, t: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
        """x_t of clean x0 (B, W, M) at integer steps t (B,)."""
        ab = self._ab(t, x0)
        return ab.sqrt() * x0 + (1 - ab).sqrt() * noise

    def x0_of(self, out: torch.Tensor, x_t: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        """x̂_0 from the network's output `out` at x_t, step t (B,)."""
        if self.prediction == "x0":
            return out
        ab = self._ab(t, x_t)
        return ab.sqrt() * x_t - (1 - ab).sqrt() * out

    def denoise(self, model, x_t: torch.Tensor, t: torch.Tensor, cond, guidance: Guidance = Guidance(),
                masks: dict[str, torch.Tensor] | None = None) -> torch.Tensor:
        """The (guided) x̂_0 of x_t at steps t (B,)."""
        return self.x0_of(guided(model, x_t, t, cond, guidance, masks), x_t, t)

    def loss(self, model, x0: torch.Tensor, cond, *, generator: torch.Generator | None = None,
             rows: slice = slice(None)):
        """(scalar loss, {term: value}) for clean sequences x0 (B, W, M) under `cond`.

        With `rows`, the loss of those rows only, with the timesteps and noise they get in the
        whole batch (one process's shard; labkit.training.distributed)."""
        B = x0.shape[0]
        t = torch.randint(0, self.timesteps, (B,), generator=generator).to(x0.device)
        noise = self.noise(tuple(x0.shape), generator).to(x0)
        x0, t, noise, cond = x0[rows], t[rows], noise[rows], cond.select(rows)
        x_t = self.q_sample(x0, t, noise)
        return _x0_loss(self.x0_of(model(x_t, t, cond), x_t, t), x0, self.velocity_weight)

    @torch.no_grad()
    def sample(self, model, cond, *, steps: int = 10, guidance: Guidance = Guidance(),
               generator: torch.Generator | None = None, prefix: Prefix | None = None,
               masks: dict[str, torch.Tensor] | None = None, hold: Hold | None = None) -> torch.Tensor:
        """DDIM (eta = 0) from pure noise to x̂_0 (B, W, M) in `steps` denoiser evaluations; `hold`: channels
        that keep the first step's x̂_0 (:class:`Hold`)."""
        if not 1 <= steps <= self.timesteps:
            raise ValueError(f"steps must be in 1..{self.timesteps}, got {steps}")
        shape = (cond.batch_size, model.cfg.window, model.cfg.motion_dim)
        device = next(model.parameters()).device
        x = self.noise(shape, generator).to(device)
        if hold is not None and hold.weight.shape != (shape[2],):
            raise ValueError(f"hold must have one weight per motion channel ({shape[2]},), got "
                             f"{tuple(hold.weight.shape)}")
        ts = torch.linspace(self.timesteps - 1, 0, steps + 1).round().long().tolist()
        first = None
        for k in range(steps):
            t, t_next = ts[k], ts[k + 1]
            x0 = self.denoise(model, x, torch.full((shape[0],), t, device=device), cond, guidance, masks)
            if first is not None:
                x0 = hold.apply(x0, first)
            x0 = _with_prefix(x0, prefix)
            if k == 0 and hold is not None:
                first = x0
            if k == steps - 1:
                return x0
            ab, ab_next = float(self.alpha_bar[t]), float(self.alpha_bar[t_next])
            eps = (x - math.sqrt(ab) * x0) / math.sqrt(1 - ab)
            x = math.sqrt(ab_next) * x0 + math.sqrt(1 - ab_next) * eps
        return x


class Regression:
    """The deterministic baseline: the same network maps (conditions, no noise) → x0 by MSE."""
    prediction = "x0"
    noise_rho = 0.0

    def __init__(self, velocity_weight: float = 1.0):
        self.velocity_weight = velocity_weight

    def _inputs(self, cond, model, device):
        B = cond.batch_size
        return (torch.zeros(B, model.cfg.window, model.cfg.motion_dim, device=device),
                torch.zeros(B, dtype=torch.long, device=device))

    def loss(self, model, x0: torch.Tensor, cond, *, generator: torch.Generator | None = None,
             rows: slice = slice(None)):
        x0, cond = x0[rows], cond.select(rows)
        return _x0_loss(model(*self._inputs(cond, model, x0.device), cond), x0, self.velocity_weight)

    @torch.no_grad()
    def sample(self, model, cond, *, steps: int = 1, guidance: Guidance = Guidance(),
               generator: torch.Generator | None = None, prefix: Prefix | None = None,
               masks: dict[str, torch.Tensor] | None = None, hold: Hold | None = None) -> torch.Tensor:
        x, t = self._inputs(cond, model, next(model.parameters()).device)
        return _with_prefix(guided(model, x, t, cond, guidance, masks), prefix)


def _x0_loss(x0_hat: torch.Tensor, x0: torch.Tensor, velocity_weight: float):
    mse = F.mse_loss(x0_hat, x0)
    vel = F.mse_loss(x0_hat.diff(dim=1), x0.diff(dim=1))
    return mse + velocity_weight * vel, {"mse": float(mse.detach()), "velocity": float(vel.detach())}


PROCESSES = {"diffusion": Diffusion, "regression": Regression}


def make_process(cfg: DiffusionConfig):
    """The process `cfg` describes (DiffusionConfig checks the combination)."""
    if cfg.process == "diffusion":
        return Diffusion(velocity_weight=cfg.velocity_weight, prediction=cfg.prediction, noise_rho=cfg.noise_rho)
    return PROCESSES[cfg.process](velocity_weight=cfg.velocity_weight)
