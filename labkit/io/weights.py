"""The weights labkit ships, by name: one registry, so no other module writes a checkpoint's file name.

Each entry is a file ``labkit/assets/<name>.safetensors`` with the checkpoint kind that
:func:`labkit.io.checkpoint.load_state` checks, and, where it was evaluated, its evaluation record
``<name>.eval.json`` (the figures its model card quotes). Only what a default, a notebook or a test
loads is shipped; the model cards say how each was trained.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

ASSETS = Path(__file__).resolve().parent.parent / "assets"


@dataclass(frozen=True)
class Shipped:
    name: str           # the file is ASSETS / f"{name}.safetensors"
    kind: str           # the checkpoint's kind (its metadata says the same)
    about: str          # one line for listings and errors

    @property
    def path(self) -> Path:
        return ASSETS / f"{self.name}.safetensors"

    @property
    def eval_path(self) -> Path:
        return ASSETS / f"{self.name}.eval.json"


_ENTRIES = (
    Shipped("face_latent_s128e_readout", "face_latent",
            "face latent model, 128 px, eyes read and painted at 256 px, expression readout (the default)"),
    Shipped("face_latent_s128pp_cross", "face_latent",
            "face latent model, 128 px, eyes read at 128 px (the previous default, compared in notebooks 03-04)"),
    Shipped("face_latent_s128_consist", "face_latent",
            "face latent model, 128 px, with VASA-1's consistency losses (the ablation notebook 03 compares)"),
    Shipped("motion_dit_small", "motion_dit", "motion diffusion transformer on the default face latent codes"),
    Shipped("motion_dit_small_factors", "motion_dit",
            "motion diffusion transformer on SynthTalk's factors (drives the landmark renderer)"),
    Shipped("motion_regression_small", "motion_dit", "regression baseline (same network, MSE) on the latent codes"),
    Shipped("motion_regression_small_factors", "motion_dit", "regression baseline on SynthTalk's factors"),
    Shipped("labsync", "labsync", "LabSync lip-sync expert (S_C, S_D) trained on SynthTalk"),
    Shipped("capp", "capp", "CAPP audio-pose alignment score trained on SynthTalk"),
    Shipped("video_features", "video_features", "clip encoder for FVD on SynthTalk"),
)
SHIPPED: dict[str, Shipped] = {e.name: e for e in _ENTRIES}

# the defaults every loader falls back to
FACE_LATENT = "face_latent_s128e_readout"
MOTION = {"latent": "motion_dit_small", "landmarks": "motion_dit_small_factors"}          # by renderer
REGRESSION = {"latent": "motion_regression_small", "landmarks": "motion_regression_small_factors"}


def shipped(name: str, kind: str | None = None) -> Shipped:
    """The registry entry `name`; `kind`, if given, must match (a clear error otherwise)."""
    if name not in SHIPPED:
        raise KeyError(f"no shipped weights named {name!r}; shipped: {', '.join(SHIPPED)}")
    entry = SHIPPED[name]
    if kind is not None and entry.kind != kind:
        raise ValueError(f"shipped weights {name!r} are a {entry.kind} checkpoint, not a {kind} one")
    return entry


def weights_path(name: str, kind: str | None = None) -> Path:
    """The file of shipped weights `name` (see :func:`shipped`)."""
    return shipped(name, kind).path


def eval_record(name: str) -> dict:
    """The evaluation record the shipped weights `name` were published with."""
    path = shipped(name).eval_path
    if not path.is_file():
        raise FileNotFoundError(f"shipped weights {name!r} have no evaluation record ({path.name})")
    return json.loads(path.read_text())


def resolve(path_or_name, kind: str, default: str) -> Path:
    """A checkpoint argument as users give it: None (the shipped `default`), a shipped name, or a path."""
    if path_or_name is None:
        return weights_path(default, kind)
    text = str(path_or_name)
    if text in SHIPPED:
        return weights_path(text, kind)
    return Path(path_or_name)
