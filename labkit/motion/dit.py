"""The motion denoiser: a transformer over face-latent motion windows (VASA-1 §3.2).

One window of W frames of motion X = [z_pose, z_dyn] (B, W, M) is denoised given

- the audio features of the window and of the K context frames before it   (B, K+W, A)
- the last K frames of the previous window's motion (the context)          (B, K, M)
- the main gaze direction (pitch, yaw in degrees, mean over the window)    (B, 2)
- the control vector: head-to-camera distance and emotion offset          (B, C)
- the diffusion step t                                                     (B,)

Conditions enter as tokens along the time axis: [t, gaze, control, K context frames, W window
frames]; every frame token adds its motion and audio embeddings and a position embedding.
Each condition has a learned "null" embedding that replaces it when it is dropped (CFG
training, or the first window, which has no history). The output is the clean window x̂_0.

Optionally the step t also scales, shifts and gates every block (``time_cond="adaln"``, DiT's
adaLN-Zero). With t as a token only, every frame must fetch it through attention before it can
decide how far to trust its noisy x_t; the shipped `small` (a token model) barely does: at t = 20
its x̂_0 keeps half of a window's true sway. adaLN reads x_t far better (and with v prediction,
labkit.motion.diffusion, nearly perfectly), but its samples are not better yet (data_cards/model_motion_dit.md,
"Does the denoiser read x_t?"), so the presets keep the token.

Shapes: B batch, K context frames, W window frames, M motion size, A audio features, D width.
Motion and audio are normalised inside the model (statistics stored as buffers, so a
checkpoint is self-contained).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, fields, replace

import torch
import torch.nn as nn
import torch.nn.functional as F

from labkit.motion.config import MotionDiTConfig

CONDITIONS = ("audio", "context", "gaze", "control")
GAZE_SCALE = 20.0    # degrees; gaze commands are divided by it before their embedding


@dataclass
class MotionConditions:
    """What a window is generated from; keep_* (B,) bool says which conditions are present."""
    audio: torch.Tensor         # (B, K+W, A)
    context: torch.Tensor       # (B, K, M) previous motion (ignored where keep_context is False)
    gaze: torch.Tensor          # (B, 2)
    control: torch.Tensor       # (B, C)
    keep_audio: torch.Tensor    # (B,) bool
    keep_context: torch.Tensor
    keep_gaze: torch.Tensor
    keep_control: torch.Tensor

    @classmethod
    def full(cls, audio, context, gaze, control, *, has_context: bool = True) -> "MotionConditions":
        B, dev = audio.shape[0], audio.device
        on = torch.ones(B, dtype=torch.bool, device=dev)
        return cls(audio, context, gaze, control, on, on if has_context else ~on, on, on)

    @property
    def batch_size(self) -> int:
        return self.audio.shape[0]

    def drop(self, name: str) -> "MotionConditions":
        """These conditions with `name` removed for the whole batch: a condition of CONDITIONS gives
        way to its learned null token; "emotion" (part of the control vector, [distance, emotion
        offset]) is set to neutral, a command the model was trained on, with the distance kept."""
        if name == "emotion":
            return replace(self, control=torch.cat([self.control[:, :1], torch.zeros_like(self.control[:, 1:])], 1))
        if name not in CONDITIONS:
            raise ValueError(f"unknown condition {name!r}; choose one of {(*CONDITIONS, 'emotion')}")
        return replace(self, **{f"keep_{name}": torch.zeros_like(self.keep_audio)})

    def random_drop(self, p: float, p_context: float, generator: torch.Generator | None = None) -> "MotionConditions":
        """Drop each condition independently with probability p (the context with p_context): CFG training."""
        B = self.batch_size
        keep = {f"keep_{c}": getattr(self, f"keep_{c}") & (torch.rand(B, generator=generator) >=
                                                          (p_context if c == "context" else p)).to(self.audio.device)
                for c in CONDITIONS}
        return replace(self, **keep)

    @classmethod
    def cat(cls, items: list["MotionConditions"]) -> "MotionConditions":
        return cls(**{f.name: torch.cat([getattr(c, f.name) for c in items]) for f in fields(cls)})

    def select(self, rows) -> "MotionConditions":
        """The conditions of the batch rows `rows` (a slice or an index array)."""
        return MotionConditions(**{f.name: getattr(self, f.name)[rows] for f in fields(self)})

    def to(self, device) -> "MotionConditions":
        return MotionConditions(**{f.name: getattr(self, f.name).to(device) for f in fields(self)})


# ---------------------------------------------------------------------------- embedders

def timestep_embedding(t: torch.Tensor, dim: int, max_period: float = 10_000.0) -> torch.Tensor:
    """Sinusoidal embedding of integer steps t (B,) → (B, dim), as in DDPM/DiT."""
    half = dim // 2
    freqs = torch.exp(-math.log(max_period) * torch.arange(half, device=t.device, dtype=torch.float32) / half)
    args = t.float()[:, None] * freqs[None]
    return torch.cat([torch.cos(args), torch.sin(args)], 1)


class ConditionToken(nn.Module):
    """A vector condition (B, n) → one token (B, D), or the learned null token where it is dropped."""

    def __init__(self, n: int, D: int):
        super().__init__()
        self.proj = nn.Sequential(nn.Linear(n, D), nn.SiLU(), nn.Linear(D, D))
        self.null = nn.Parameter(torch.zeros(D))

    def forward(self, v: torch.Tensor, keep: torch.Tensor) -> torch.Tensor:
        return torch.where(keep[:, None], self.proj(v), self.null)


# ---------------------------------------------------------------------------- transformer

class Block(nn.Module):
    """Pre-norm transformer block: bidirectional self-attention over all tokens, then an MLP.

    With `adaln`, the step's embedding also shifts and scales each normalised input and gates each
    branch (DiT's adaLN-Zero; the gates start at zero, so the block starts as the identity)."""

    def __init__(self, cfg: MotionDiTConfig):
        super().__init__()
        D = cfg.width
        self.heads, self.dropout = cfg.heads, cfg.dropout
        self.ln1, self.ln2 = nn.LayerNorm(D), nn.LayerNorm(D)
        self.qkv, self.proj = nn.Linear(D, 3 * D), nn.Linear(D, D)
        self.mlp = nn.Sequential(nn.Linear(D, cfg.mlp_ratio * D), nn.GELU(), nn.Linear(cfg.mlp_ratio * D, D),
                                 nn.Dropout(cfg.dropout))
        self.modulation = None
        if cfg.time_cond == "adaln":
            self.modulation = nn.Sequential(nn.SiLU(), nn.Linear(D, 6 * D))
            nn.init.zeros_(self.modulation[1].weight)
            nn.init.zeros_(self.modulation[1].bias)

    def forward(self, x, time=None):
        """x (B, N, D) tokens; time (B, D) the step's embedding, used with adaln."""
        B, N, D = x.shape                                                     # batch, tokens, width
        if self.modulation is None:
            shift1, scale1, gate1, shift2, scale2, gate2 = 0, 0, 1, 0, 0, 1
        else:
            shift1, scale1, gate1, shift2, scale2, gate2 = self.modulation(time)[:, None].chunk(6, -1)
        h = self.ln1(x) * (1 + scale1) + shift1
        q, k, v = self.qkv(h).view(B, N, 3, self.heads, D // self.heads).permute(2, 0, 3, 1, 4)
        a = F.scaled_dot_product_attention(q, k, v, dropout_p=self.dropout if self.training else 0.0)
        x = x + gate1 * self.proj(a.transpose(1, 2).reshape(B, N, D))
        return x + gate2 * self.mlp(self.ln2(x) * (1 + scale2) + shift2)


class MotionDiT(nn.Module):
    """x̂_0 = MotionDiT(x_t, t, conditions): (B, W, M), (B,), MotionConditions → (B, W, M)."""

    def __init__(self, cfg: MotionDiTConfig):
        super().__init__()
        self.cfg = c = cfg
        D = c.width
        self.register_buffer("motion_mean", torch.zeros(c.motion_dim))
        self.register_buffer("motion_std", torch.ones(c.motion_dim))
        self.register_buffer("audio_mean", torch.zeros(c.audio_dim))
        self.register_buffer("audio_std", torch.ones(c.audio_dim))
        self.register_buffer("control_mean", torch.zeros(c.control_dim))        # distance sits near 1 and varies
        self.register_buffer("control_std", torch.ones(c.control_dim))          # by a few %: standardise it
        self.time = nn.Sequential(nn.Linear(D, D), nn.SiLU(), nn.Linear(D, D))
        self.gaze = ConditionToken(c.gaze_dim, D)
        self.control = ConditionToken(c.control_dim, D)
        self.motion_in = nn.Linear(c.motion_dim, D)
        self.audio_in = nn.Sequential(nn.Linear(c.audio_dim, D), nn.SiLU(), nn.Linear(D, D))
        self.null_audio = nn.Parameter(torch.zeros(D))
        self.null_context = nn.Parameter(torch.zeros(D))
        self.pos = nn.Parameter(torch.randn(3 + c.context + c.window, D) * 0.02)   # 3 condition tokens first
        self.blocks = nn.ModuleList([Block(c) for _ in range(c.layers)])
        self.ln_out = nn.LayerNorm(D)
        self.out = nn.Linear(D, c.motion_dim)
        nn.init.zeros_(self.out.weight)      # start by predicting the mean motion
        nn.init.zeros_(self.out.bias)

    # normalisation: the network works on standardised motion, callers on raw motion
    def normalize(self, x: torch.Tensor) -> torch.Tensor:
        return (x - self.motion_mean) / self.motion_std

    def denormalize(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.motion_std + self.motion_mean

    def set_statistics(self, motion: torch.Tensor, audio: torch.Tensor, control: torch.Tensor | None = None) -> None:
        """Per-dimension mean/std of training motion (N, M), audio features (N, A) and controls (N, C)."""
        self.motion_mean.copy_(motion.mean(0))
        self.motion_std.copy_(motion.std(0).clamp_min(1e-4))
        self.audio_mean.copy_(audio.mean(0))
        self.audio_std.copy_(audio.std(0).clamp_min(1e-4))
        if control is not None:
            self.control_mean.copy_(control.mean(0))
            self.control_std.copy_(control.std(0).clamp_min(1e-2))

    def forward(self, x_t: torch.Tensor, t: torch.Tensor, cond: MotionConditions) -> torch.Tensor:
        """x_t (B, W, M) normalised noisy motion; t (B,) steps; returns normalised x̂_0 (B, W, M)."""
        c = self.cfg
        B, W, M = x_t.shape
        K = c.context
        if (W, M) != (c.window, c.motion_dim):
            raise ValueError(f"expected x_t (B, {c.window}, {c.motion_dim}), got {tuple(x_t.shape)}")
        if cond.audio.shape[1:] != (K + W, c.audio_dim):
            raise ValueError(f"audio must be (B, {K + W}, {c.audio_dim})")
        D = c.width
        audio = self.audio_in((cond.audio - self.audio_mean) / self.audio_std)              # (B, K+W, D)
        audio = torch.where(cond.keep_audio[:, None, None], audio, self.null_audio)
        frames = torch.cat([self.motion_in(self.normalize(cond.context)), self.motion_in(x_t)], 1) + audio
        if K:
            ctx = torch.where(cond.keep_context[:, None, None], frames[:, :K], self.null_context)
            frames = torch.cat([ctx, frames[:, K:]], 1)                                     # (B, K+W, D)
        time = self.time(timestep_embedding(t, D))                                         # (B, D)
        tokens = torch.cat([time[:, None],
                            self.gaze(cond.gaze / GAZE_SCALE, cond.keep_gaze)[:, None],
                            self.control((cond.control - self.control_mean) / self.control_std,
                                         cond.keep_control)[:, None], frames], 1)
        h = tokens + self.pos                                                               # (B, 3+K+W, D)
        for block in self.blocks:
            h = block(h, time)
        return self.out(self.ln_out(h[:, 3 + K:]))                                          # (B, W, M)


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())
