"""Model checkpoints: weights as safetensors with the config in the metadata, written atomically.

A checkpoint is self-describing: ``metadata["config"]`` is ``json.dumps(asdict(config))`` and
``metadata["kind"]`` names the model, so ``load_*`` needs nothing but the file. Training state
(optimizer moments, step) sits beside it in ``<name>.train.pt``, also replaced atomically.
"""
from __future__ import annotations

import json
import os
from pathlib import Path

import torch
from safetensors import safe_open
from safetensors.torch import save_file

from labkit.io.atomic import writing


def _write(path: Path, state: dict, meta: dict, dtype: torch.dtype | None) -> None:
    """Save `state` with `meta` (kind + JSON-encodable values) atomically, floating-point tensors cast to `dtype`."""
    if dtype is not None:
        state = {k: v.to(dtype) if v.is_floating_point() else v for k, v in state.items()}
    raw = {k: (v if k == "kind" else json.dumps(v)) for k, v in meta.items()}
    with writing(path) as tmp:
        save_file(state, str(tmp), metadata=raw)


def save_weights(path: str | os.PathLike, model: torch.nn.Module, *, kind: str, config: dict,
                 extra: dict | None = None, dtype: torch.dtype | None = None) -> None:
    """Write model's state_dict to `path` atomically; `dtype` (e.g. torch.float16, to ship a
    smaller file) casts the floating-point tensors, and loading casts them back."""
    state = {k: v.detach().to("cpu").contiguous() for k, v in model.state_dict().items()}
    _write(Path(path), state, {"kind": kind, "config": config, **(extra or {})}, dtype)


def read_metadata(path: str | os.PathLike) -> dict:
    """The checkpoint's metadata with JSON values decoded: {'kind': str, 'config': dict, ...}."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no checkpoint at {path}")
    with safe_open(str(path), framework="pt") as f:
        meta = f.metadata() or {}
    if "kind" not in meta or "config" not in meta:
        raise ValueError(f"{path} is not a labkit checkpoint (no 'kind'/'config' metadata)")
    return {k: (v if k == "kind" else json.loads(v)) for k, v in meta.items()}


def load_state(path: str | os.PathLike, *, kind: str) -> tuple[dict, dict]:
    """(state_dict, metadata) of a checkpoint of `kind`, on CPU."""
    meta = read_metadata(path)
    if meta["kind"] != kind:
        raise ValueError(f"{path} holds a {meta['kind']!r} model, not a {kind!r} model")
    state = {}
    with safe_open(str(path), framework="pt") as f:
        for k in f.keys():
            state[k] = f.get_tensor(k)
    return state, meta


def load_matching(model: torch.nn.Module, state: dict) -> tuple[list[str], list[str]]:
    """Warm start: copy into `model` every tensor of `state` whose name and shape match; the rest
    of the model keeps its initialisation. Returns (fresh, dropped): the model's tensors left as
    initialised and the state's tensors not used. Raises ValueError when nothing matches."""
    own = model.state_dict()
    keep = {k: v for k, v in state.items() if k in own and own[k].shape == v.shape}
    if not keep:
        raise ValueError("no tensor of the checkpoint matches the model (name and shape); "
                         "is it the same kind of model?")
    model.load_state_dict(keep, strict=False)
    return sorted(k for k in own if k not in keep), sorted(k for k in state if k not in keep)


def save_training_state(path: str | os.PathLike, state: dict) -> None:
    """torch.save(state, path) atomically (optimizer moments, step, anything resumable)."""
    path = Path(path)
    with writing(path) as tmp:
        torch.save(state, tmp)


def export_weights(src: str | os.PathLike, dst: str | os.PathLike, *, dtype: torch.dtype | None = torch.float16,
                   overwrite: bool = False, meta: dict | None = None) -> Path:
    """Copy a checkpoint's weights and metadata to `dst` (e.g. labkit/assets/), cast to `dtype`; `meta`
    adds or replaces metadata entries (e.g. the sampling steps chosen for a motion generator)."""
    dst = Path(dst)
    if dst.exists() and not overwrite:
        raise FileExistsError(f"{dst} exists; pass --overwrite to replace it")
    state, recorded = load_state(src, kind=read_metadata(src)["kind"])
    _write(dst, state, {**recorded, **(meta or {})}, dtype)
    return dst
