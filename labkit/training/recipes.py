"""Training recipes as files: ``labkit train latent --config labkit/configs/latent_voxceleb2_256.toml``.

A recipe is a TOML file with these tables::

    [train]      # fields of the trainer's config (TrainLatentConfig, TrainMotionConfig)
    [losses]     # fields of LossWeights (face latent model only)
    [diffusion]  # fields of DiffusionConfig (motion generator only)
    [model]      # overrides of the preset's model config (FaceLatentConfig, MotionDiTConfig)

A trainer config's fields that are dataclasses themselves (losses, diffusion) are their own tables.

Every key is checked against its dataclass, so a typo is an error that names it rather than a
silently ignored setting. Options given on the command line win over the file.
"""
from __future__ import annotations

import dataclasses
import os
from pathlib import Path

import tomllib

CONFIGS = Path(__file__).resolve().parent.parent / "configs"   # the recipes shipped with labkit


def resolve(path: str | os.PathLike) -> Path:
    """A recipe's path: as given, or the name of a shipped one (``latent_voxceleb2_256``)."""
    p = Path(path)
    if p.is_file():
        return p
    shipped = CONFIGS / (p.name if p.suffix == ".toml" else f"{p.name}.toml")
    if shipped.is_file():
        return shipped
    names = ", ".join(sorted(q.stem for q in CONFIGS.glob("*.toml")))
    raise FileNotFoundError(f"no recipe {path}: not a file, nor one of the shipped recipes ({names})")


def load_train_config(path: str | os.PathLike, train_cls, model_cls) -> tuple[object, dict]:
    """(train config, model overrides) from a recipe file; train_cls's defaults fill what it leaves out."""
    p = resolve(path)
    try:
        doc = tomllib.loads(p.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as e:
        raise ValueError(f"{p} is not valid TOML: {e}") from None
    nested = nested_configs(train_cls)
    tables = {"train", "model"} | set(nested)
    unknown = sorted(set(doc) - tables)
    if unknown:
        raise ValueError(f"{p}: unknown table(s) {unknown}; a {train_cls.__name__} recipe has {sorted(tables)}")
    train = _checked(doc.get("train", {}), train_cls, p, "train")
    for name, cls in nested.items():
        if name in doc:
            train[name] = cls(**_checked(doc[name], cls, p, name))
    return train_cls(**train), _checked(doc.get("model", {}), model_cls, p, "model")


def nested_configs(cls) -> dict[str, type]:
    """{field: dataclass} for the fields of config `cls` that are configs themselves (losses, diffusion)."""
    defaults = cls()
    return {f.name: type(getattr(defaults, f.name)) for f in dataclasses.fields(cls)
            if dataclasses.is_dataclass(getattr(defaults, f.name))}


def _fields(cls) -> dict[str, dataclasses.Field]:
    return {f.name: f for f in dataclasses.fields(cls)}


def _checked(table: dict, cls, path: Path, name: str) -> dict:
    if not isinstance(table, dict):
        raise ValueError(f"{path}: [{name}] must be a table")
    fields = _fields(cls)
    bad = sorted(k for k in table if k not in fields or (name == "train" and k in nested_configs(cls)))
    if bad:
        raise ValueError(f"{path}: [{name}] has unknown key(s) {bad}; {cls.__name__} has {sorted(fields)}")
    return {k: tuple(v) if isinstance(v, list) else v for k, v in table.items()}
