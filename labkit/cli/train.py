"""``labkit train latent|parts|motion|labsync|capp|video-features``: each option is a field of the trainer's
config dataclass (labkit.cli.options), beside the run options every trainer shares (labkit.cli.common).

A recipe (``--config``, a TOML file checked against the same dataclasses) gives the starting values;
the options typed on the command line win over it.
"""
from __future__ import annotations

import argparse
import dataclasses
from pathlib import Path

from labkit.cli.common import add_run_options, is_main, set_threads
from labkit.cli.options import add_options, given
from labkit.evaluators.config import TrainCAPPConfig, TrainLabSyncConfig, TrainVideoFeaturesConfig
from labkit.latent.config import PRESETS as LATENT_PRESETS
from labkit.latent.config import FaceLatentConfig, LossWeights, TrainLatentConfig, TrainPartsConfig
from labkit.motion.config import (
    MOTION_SOURCES,
    PREDICTIONS,
    PROCESSES,
    DiffusionConfig,
    MotionDiTConfig,
    TrainMotionConfig,
)
from labkit.motion.config import PRESETS as MOTION_PRESETS
from labkit.training.recipes import load_train_config, nested_configs

# the library is imported inside each command: `labkit --help` must not import torch

EVALUATORS = {"labsync": (TrainLabSyncConfig, "LabSync, the SyncNet-style lip-sync expert of the evaluation"),
              "capp": (TrainCAPPConfig, "CAPP, VASA-1's contrastive audio-pose model (SynthTalk ground-truth pose)"),
              "video-features": (TrainVideoFeaturesConfig, "the FVD clip encoder: a small 3D conv on 16-frame clips")}


def register(sub) -> None:
    train = sub.add_parser("train", help="train a model (resumable)").add_subparsers(dest="model", required=True)

    tl = train.add_parser("latent", help="the face latent model (VASA-1 §3.1)")
    add_run_options(tl, recipe="labkit/configs/latent_voxceleb2_256.toml", time_limit=True,
                    device_help="cpu or cuda[:N] (float32 with TF32 on CUDA; see --bf16)")
    tl.add_argument("--deterministic", action="store_true", help="torch deterministic algorithms (tests)")
    add_options(tl, TrainLatentConfig, title="training (TrainLatentConfig)",
                choices={"preset": sorted(LATENT_PRESETS)})
    add_options(tl, LossWeights, title="loss weights (LossWeights)")
    tl.set_defaults(func=run_latent)

    tp = train.add_parser("parts", help="the face latent model's part stage: E_mot's eye reading and G_part at the "
                                        "crop, the rest frozen")
    add_run_options(tp, time_limit=True)
    add_options(tp, TrainPartsConfig, title="training (TrainPartsConfig)", choices={"encode": ["eyes", "mouth"]})
    tp.set_defaults(func=run_parts)

    tm = train.add_parser("motion", help="the motion generator, a diffusion transformer (VASA-1 §3.2)")
    add_run_options(tm, recipe="labkit/configs/motion_base.toml", time_limit=True)
    add_options(tm, TrainMotionConfig, title="training (TrainMotionConfig)", aliases={"train_clips": ["--clips"]},
                choices={"preset": sorted(MOTION_PRESETS), "motion": list(MOTION_SOURCES)})
    add_options(tm, DiffusionConfig, title="process (DiffusionConfig)",
                choices={"process": list(PROCESSES), "prediction": list(PREDICTIONS)})
    tm.set_defaults(func=run_motion)

    for name, (cls, what) in EVALUATORS.items():
        ti = train.add_parser(name, help=what)
        add_run_options(ti)
        add_options(ti, cls, title=f"training ({cls.__name__})", aliases={"train_clips": ["--clips"]})
        ti.set_defaults(func=run_evaluator, config_class=cls)


def _configured(a: argparse.Namespace, train_cls, model_cls=None):
    """(the trainer's config, model overrides): the recipe file or the defaults, then what was typed."""
    if getattr(a, "config", None) is not None:
        cfg, model = load_train_config(a.config, train_cls, model_cls)
    else:
        cfg, model = train_cls(), {}
    nested = {name: dataclasses.replace(getattr(cfg, name), **given(a, cls))
              for name, cls in nested_configs(train_cls).items()}
    return dataclasses.replace(cfg, **nested, **given(a, train_cls)), model


def _report_trained(path: Path, steps: int) -> None:
    """Rank 0's last line: the weights, and how to go on when --time-limit stopped the run early."""
    from labkit.io.checkpoint import read_metadata

    if not is_main():
        return
    reached = read_metadata(path).get("step", steps)
    if reached < steps:
        print(f"stopped by --time-limit at step {reached} of {steps}; weights {path} (the same command resumes)")
    else:
        print(f"trained {steps} steps; weights {path}")


def run_latent(a) -> int:
    from labkit.latent.train import train_latent

    set_threads(a.threads)
    cfg, model = _configured(a, TrainLatentConfig, FaceLatentConfig)
    path = train_latent(cfg, a.out, model_overrides=model, device=a.device, overwrite=a.overwrite,
                        progress=not a.quiet, deterministic=a.deterministic, time_limit=a.time_limit)
    _report_trained(path, cfg.steps)
    return 0


def run_parts(a) -> int:
    from labkit.latent.train_parts import train_parts

    set_threads(a.threads)
    cfg, _ = _configured(a, TrainPartsConfig)
    if not cfg.init:
        raise ValueError("--init is required: face latent weights with a part branch (.safetensors; s128p, s128pp, "
                         "s128e)")
    path = train_parts(cfg, a.out, device=a.device, overwrite=a.overwrite, progress=not a.quiet,
                       time_limit=a.time_limit)
    _report_trained(path, cfg.steps)
    return 0


def run_motion(a) -> int:
    from labkit.motion.train import train_motion

    set_threads(a.threads)
    cfg, model = _configured(a, TrainMotionConfig, MotionDiTConfig)
    path = train_motion(cfg, a.out, model_overrides=model, device=a.device, overwrite=a.overwrite,
                        progress=not a.quiet, time_limit=a.time_limit)
    _report_trained(path, cfg.steps)
    return 0


def run_evaluator(a) -> int:
    """labkit train labsync|capp|video-features: the evaluation suite's trained instruments."""
    if a.model == "labsync":
        from labkit.evaluators.train_labsync import train_labsync as train
    elif a.model == "capp":
        from labkit.evaluators.train_capp import train_capp as train
    else:
        from labkit.evaluators.train_video_features import train_video_features as train
    set_threads(a.threads)
    cfg, _ = _configured(a, a.config_class)
    path = train(cfg, a.out, device=a.device, overwrite=a.overwrite, progress=not a.quiet)
    _report_trained(path, cfg.steps)
    return 0
