"""The instruments' configs: LabSync, CAPP and the FVD clip encoder, and their trainers.

Plain dataclasses with no torch, so the command line's options and help are generated from them
(labkit.cli.options) without loading the networks; each field's comment is its help line.
"""
from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class LabSyncConfig:
    frames: int = 5                  # video frames per window (0.2 s at 25 fps), as SyncNet
    audio_rate: int = 4              # audio feature frames per video frame (100 Hz at 25 fps)
    n_mels: int = 40                 # log-mel bands of the audio tower
    # mouth box in the face crop: top, bottom, left, right
    box: tuple[float, float, float, float] = (0.43, 0.73, 0.22, 0.78)
    crop: tuple[int, int] = (28, 52)  # (h, w) the mouth box is resized to
    width: int = 32                  # channels of the video tower's first stage; doubles per stage
    audio_width: int = 16            # the same for the audio tower (it sees 2·max_offset + 1 windows per video window)
    embed_dim: int = 128             # E, size of both embeddings

    @property
    def audio_window(self) -> int:
        return self.frames * self.audio_rate


@dataclass
class CAPPConfig:
    window: int = 75             # T, frames per window (3 s at 25 fps)
    pose_dim: int = 3            # yaw, pitch, roll
    audio_dim: int = 80          # A, log-mel bands per frame (labkit.io.audio.MelFeatures)
    width: int = 128             # D, transformer width
    layers: int = 2              # transformer layers per encoder
    heads: int = 4               # attention heads
    embed_dim: int = 128         # E
    pose_scale: float = 5.0      # degrees that map to 1 at the input


@dataclass
class VideoFeaturesConfig:
    frames: int = 16                   # T, frames per clip (FVD's 16-frame clips)
    size: int = 64                     # frames are resized to size × size
    width: int = 16                    # channels of the first stage; the feature is 4 · width
    num_factors: int = 14              # F, SynthTalk factors regressed per target frame
    target_frames: tuple[int, ...] = (0, 5, 10, 15)   # frames of the clip whose factors are regressed (and each
                                       # factor's spread over the clip, so that how much things move is seen)
    num_emotions: int = 5              # emotion classes
    factor_mean: list[float] = field(default_factory=list)   # training statistics of the targets (set by the trainer)
    factor_std: list[float] = field(default_factory=list)

    @property
    def feature_dim(self) -> int:
        return 4 * self.width


@dataclass
class TrainLabSyncConfig:
    train_clips: int = 200         # SynthTalk train clips (6 s each)
    seconds: float = 6.0           # clip length
    steps: int = 3000              # optimisation steps
    batch_size: int = 64           # video windows per step
    max_offset: int = 8            # audio offsets (frames) scored against each window (the evaluation scans ±15)
    lr: float = 1e-3               # peak AdamW learning rate
    weight_decay: float = 1e-4     # AdamW weight decay
    warmup: int = 100              # linear warm-up steps
    seed: int = 0                  # init and every batch
    augment: bool = True           # blur, contrast and shift of the mouth crops
    log_every: int = 50            # steps between scalar logs
    checkpoint_every: int = 500    # steps between checkpoints
    snapshot_steps: tuple[int, ...] = ()  # also keep a copy of the weights at these steps


@dataclass
class TrainCAPPConfig:
    train_clips: int = 400         # SynthTalk train clips (6 s each)
    seconds: float = 6.0           # clip length
    steps: int = 2000              # optimisation steps
    batch_size: int = 128          # windows per step, each from another clip
    lr: float = 5e-4               # peak AdamW learning rate
    weight_decay: float = 0.01     # AdamW weight decay
    warmup: int = 100              # linear warm-up steps
    seed: int = 0                  # init and every batch
    shift_negatives: tuple[int, int] = (3, 12)   # each window's pose also moved by ±3…12 frames, as a negative
    still_negatives: float = 0.25  # a share of the batch also as a near-motionless negative (0–25 % of its motion)
    log_every: int = 50            # steps between scalar logs
    checkpoint_every: int = 500    # steps between checkpoints
    snapshot_steps: tuple[int, ...] = ()  # also keep a copy of the weights at these steps


@dataclass
class TrainVideoFeaturesConfig:
    train_clips: int = 4000        # SynthTalk train clips (6 s each; the same as CAPP's), one window from each
    seconds: float = 6.0           # clip length
    steps: int = 3000              # optimisation steps
    batch_size: int = 32           # windows per step
    lr: float = 1e-3               # peak AdamW learning rate
    weight_decay: float = 1e-4     # AdamW weight decay
    warmup: int = 100              # linear warm-up steps
    emotion_weight: float = 0.5    # weight of the emotion cross-entropy
    seed: int = 0                  # init, the windows and every batch
    log_every: int = 50            # steps between scalar logs
    checkpoint_every: int = 500    # steps between checkpoints
    snapshot_steps: tuple[int, ...] = ()  # also keep a copy of the weights at these steps
