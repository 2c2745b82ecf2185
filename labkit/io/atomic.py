"""Files that appear whole or not at all: written beside their final name, then renamed.

A crash or a full disk mid-write leaves a hidden ``.<name>.partial`` file, never a truncated
output that a resumed run would mistake for finished work.
"""
from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np


def write_text_atomic(path: str | os.PathLike, text: str) -> None:
    path = Path(path)
    tmp = path.with_name(f".{path.name}.partial")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def write_json_atomic(path: str | os.PathLike, obj) -> None:
    write_text_atomic(path, json.dumps(obj, indent=1))


def save_npz_atomic(path: str | os.PathLike, **arrays) -> None:
    """np.savez_compressed(path, **arrays), atomically."""
    path = Path(path)
    tmp = path.with_name(f".{path.stem}.partial.npz")
    np.savez_compressed(tmp, **arrays)
    os.replace(tmp, path)
