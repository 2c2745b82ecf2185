"""The motion generator's configs (VASA-1 §3.2): the denoiser, its presets, the sampling default and the trainer.

Plain dataclasses with no torch, so the command line's options and help are generated from them
(labkit.cli.options) without loading the network; each field's comment is its help line.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field

PROCESSES = ("diffusion", "regression")   # the generative process, and the deterministic baseline
PREDICTIONS = ("x0", "v")                 # what the denoiser outputs (labkit.motion.diffusion)
MOTION_SOURCES = ("latent", "factors")    # E_mot codes of the face latent model, or SynthTalk's own factors


DEFAULT_STEPS = 1          # DDIM steps when none are asked for: the best measured (data_cards/model_motion_dit.md)
# the generator's shipped guidance, chosen on validation clips (the model card's table): emotion guidance 2 is the
# smallest scale whose emotion is recognised >= 85 % there; audio guidance above 1 adds head jitter and no lip sync
DEFAULT_CFG_AUDIO = 1.0
DEFAULT_CFG_EMOTION = 2.0
# labkit animate's audio guidance: on photos a wider jaw reads as speech (data_cards/model_animate.md)
ANIMATE_CFG_AUDIO = 2.0


@dataclass
class MotionDiTConfig:
    motion_dim: int = 30       # M = 6 pose + Z_dyn (or the 14 SynthTalk factors for the oracle ablation)
    audio_dim: int = 80        # A, log-mel bands per video frame
    gaze_dim: int = 2          # main gaze (pitch, yaw) in degrees
    control_dim: int = 5       # head distance + emotion offset (one value per non-neutral emotion)
    window: int = 50           # W, frames generated per window (2 s at 25 fps)
    context: int = 10          # K, frames of the previous window fed back as context
    width: int = 256           # D, transformer width
    layers: int = 4            # transformer blocks
    heads: int = 4             # attention heads
    mlp_ratio: int = 4         # MLP hidden width / D
    dropout: float = 0.1       # attention and MLP dropout while training
    time_cond: str = "token"   # how the step t enters: "token" only, or "adaln": also scales, shifts and gates
                               # every block (DiT's adaLN-Zero; recipe motion_small_adaln, not shipped)

    def __post_init__(self):
        if self.width % self.heads:
            raise ValueError(f"width {self.width} must be divisible by heads {self.heads}")
        if not 0 <= self.context < self.window:
            raise ValueError(f"context {self.context} must be in [0, window={self.window})")
        if self.time_cond not in TIME_CONDS:
            raise ValueError(f"time_cond must be one of {TIME_CONDS}, got {self.time_cond!r}")


TIME_CONDS = ("token", "adaln")    # how the denoiser reads the diffusion step (MotionDiTConfig.time_cond)


# one-line presets: `tiny` keeps tests fast; `base` is the paper's size
PRESETS = {
    "tiny": lambda **kw: MotionDiTConfig(window=12, context=4, width=32, layers=2, heads=2, **kw),
    "small": lambda **kw: MotionDiTConfig(width=256, layers=4, heads=4, **kw),
    "base": lambda **kw: MotionDiTConfig(width=512, layers=8, heads=8, **kw),     # the paper's size
}


def make_config(preset: str, **overrides) -> MotionDiTConfig:
    """A preset's config with some fields replaced: make_config("small", motion_dim=14)."""
    if preset not in PRESETS:
        raise ValueError(f"unknown motion preset {preset!r}; choose one of {sorted(PRESETS)}")
    return MotionDiTConfig(**{**asdict(PRESETS[preset]()), **overrides})



@dataclass
class DiffusionConfig:
    process: str = "diffusion"     # "diffusion" (VASA-1 §3.2) or "regression" (the deterministic baseline)
    prediction: str = "x0"         # what the denoiser outputs: "x0" (VASA-1, the shipped models) or "v", and
                                   # x̂0 = √ᾱ·x_t − √(1−ᾱ)·v (labkit.motion.diffusion); the loss is on x̂0 either way
    noise_rho: float = 0.0         # the noise's correlation between consecutive frames: 0 white (the paper, the
                                   # shipped models), ρ > 0 AR(1) in time (labkit.motion.diffusion)
    velocity_weight: float = 1.0   # weight of the frame-to-frame velocity term of the x0 loss

    def __post_init__(self):
        if self.process not in PROCESSES:
            raise ValueError(f"unknown process {self.process!r}; choose one of {list(PROCESSES)}")
        if self.prediction not in PREDICTIONS:
            raise ValueError(f"prediction must be one of {PREDICTIONS}, got {self.prediction!r}")
        if not 0.0 <= self.noise_rho < 1.0:
            raise ValueError(f"noise_rho must be in [0, 1), got {self.noise_rho}")
        if self.process == "regression" and self.prediction != "x0":
            raise ValueError(f"the regression process predicts x0, got prediction={self.prediction!r}")
        if self.process == "regression" and self.noise_rho != 0.0:
            raise ValueError(f"the regression process has no noise, got noise_rho={self.noise_rho}")

    @classmethod
    def from_meta(cls, meta: dict) -> "DiffusionConfig":
        """The process a checkpoint's metadata records (older checkpoints: flat keys, x0 and white noise)."""
        if "diffusion" in meta:
            return cls(**meta["diffusion"])
        return cls(process=meta.get("process", "diffusion"), prediction=meta.get("prediction", "x0"),
                   noise_rho=meta.get("noise_rho", 0.0))


@dataclass
class TrainMotionConfig:
    preset: str = "small"            # denoiser preset (PRESETS above)
    motion: str = "latent"           # "latent": E_mot codes of the face latent model; "factors": the oracle
    latent: str | None = None        # face latent checkpoint (default: the shipped one)
    train_clips: int = 400           # SynthTalk train clips extracted
    seconds: float = 6.0             # clip length
    heldout_language: str | None = "es"  # never trained on, to test other languages
    steps: int = 20_000              # optimisation steps
    batch_size: int = 64             # windows per optimizer step, over all processes and micro-steps
    accumulate: int = 1              # micro-steps whose gradients are summed per optimizer step
    compile: bool = False            # torch.compile the denoiser
    lr: float = 3e-4                 # peak AdamW learning rate
    weight_decay: float = 0.01       # AdamW weight decay
    warmup: int = 500                # linear warm-up steps
    seed: int = 0                    # init, data order, noise
    drop_prob: float = 0.1           # chance of dropping audio / gaze / control (each, independently)
    drop_context: float = 0.5        # chance of dropping the previous-window context
    diffusion: DiffusionConfig = field(default_factory=DiffusionConfig)   # the process trained and sampled
    log_every: int = 50              # steps between scalar logs
    checkpoint_every: int = 500      # steps between checkpoints
    snapshot_steps: tuple[int, ...] = ()  # also keep the weights at these steps
