"""The settings of each ``labkit eval …`` run, one dataclass per evaluation (no torch: the CLI's options and
their help are generated from these). Checkpoints are named on the command line, not here."""
from __future__ import annotations

from dataclasses import dataclass

from labkit.motion.config import DEFAULT_CFG_AUDIO, DEFAULT_CFG_EMOTION

METHODS = ("gt", "ours", "regression", "puppet", "still")    # the comparison table's rows, VASA-1's Table 1
EXTRA_METHODS = ("recon",)                                    # rows on request only
TABLE_RENDERERS = ("latent", "synthtalk")


@dataclass
class EvalLatentConfig:
    pairs: int = 64                # self- and cross-reenactment pairs each
    detail_pairs: int = 256        # cross-identity reenactments the glasses, hair and dlib figures read (a 95 % bar
                                   # needs a few hundred: at 64 one pair moves the glasses figure by 1.6 points)
    probe_train: int = 1500        # train-identity frames the linear probes are fit on
    probe_test: int = 600          # test-identity frames the probes are scored on
    identities: int = 24           # test identities the identity codes are compared across
    seed: int = 0                  # seed of every draw
    ceilings: tuple[int, ...] = () # also measure what the eye and mouth crops hold at these sizes (px, e.g.
                                   # 128 256 512): a ridge on the pixels and a CNN trained on the truth (minutes each)


@dataclass
class EvalMotionConfig:
    test_clips: int = 40           # SynthTalk test clips the generator is scored on
    train_clips: int = 200         # train clips the readers (pose, emotion) are fit on
    seeds: int = 3                 # sampling seeds per clip
    seed: int = 0                  # seed of the clips and the sampling


@dataclass
class SamplingConfig:
    steps: int | None = None       # DDIM sampling steps (none: the generator's default)
    overlap: int | None = None     # frames shared by consecutive windows (none: a tenth of the window)
    cfg_audio: float = DEFAULT_CFG_AUDIO      # audio guidance scale (1 = none; 0 = audio ignored)
    cfg_gaze: float = 1.0                     # gaze guidance scale (1 = none)
    cfg_control: float = 1.0                  # distance/emotion guidance scale (1 = none)
    cfg_emotion: float = DEFAULT_CFG_EMOTION  # emotion guidance scale, against neutral, on the face only (1 = none)


@dataclass
class EvalTableConfig:
    methods: str = ",".join(METHODS)  # comma-separated rows; also recon: the true motion through the same renderer
    renderer: str = "latent"       # latent: the face latent model draws every row; synthtalk: factor-space
                                   # generators drawn by SynthTalk's renderer (an oracle latent space)
    split: str = "test"            # SynthTalk split of the clips
    clips: int = 40                # clips per row
    seconds: float = 6.0           # clip length
    lmd_every: int = 10            # landmarks on every n-th frame
    reader_clips: int = 200        # training clips the pose reader is fit on
    seed: int = 0                  # seed of the clips and the sampling


# test clips each instrument is scored on by `labkit eval sync|capp|video-features` (one window per clip)
INSTRUMENT_CLIPS = {"sync": 40, "capp": 100, "video-features": 200}


@dataclass
class EvalRealConfig:
    clips: int = 8                 # SynthTalk test clips whose speech drives the portraits when no --audio is given
    seconds: float = 6.0           # length of those clips
    seed: int = 0                  # sampling seed


@dataclass
class EvalWatermarkConfig:
    clips: int = 30                # generated clips, each measured at every length in seconds
    clean_clips: int = 100         # clean SynthTalk clips, never marked, for the false positives
    seconds: tuple[float, ...] = (1.0, 3.0, 10.0)   # clip lengths: the first seconds of each clip
    resolution: int = 128          # video size: 128, 256 or 512
    seed: int = 0                  # seed of the clips


PORTRAITS = ("astronaut", "astronaut_small", "astronaut_stylised", "grace_hopper")   # bundled test photos


@dataclass
class EvalPortraitsConfig:
    portraits: str = ",".join(PORTRAITS)  # comma-separated bundled portraits or image paths
    crop: bool = False             # judge the aligned square crop at --resolution instead of the whole photo
    resolution: int = 256          # crop size with --crop
    seconds: float = 0.0           # the bundled speech cut to this many seconds (0: all of it, 5.5 s)
    drift_seconds: float = 60.0    # the identity-drift clip: the bundled speech repeated to this length
    drift_window: float = 5.0      # its first and last seconds compared
    every: int = 5                 # identity embeddings on every n-th frame
    watermark: bool = True         # judge the frames as users get them, watermark included
    seed: int = 0                  # sampling seed
