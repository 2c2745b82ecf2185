"""The shipped-weights registry: every entry is a file of the kind it says, nothing unregistered is shipped,
and checkpoints are named by path, by shipped name or not at all (the default)."""
from pathlib import Path

import pytest

from labkit.io.checkpoint import read_metadata
from labkit.io.weights import (
    ASSETS,
    FACE_LATENT,
    MOTION,
    REGRESSION,
    SHIPPED,
    eval_record,
    resolve,
    shipped,
    weights_path,
)


def test_every_entry_is_a_shipped_file_of_its_kind_and_nothing_else_is_shipped():
    for name, entry in SHIPPED.items():
        assert entry.path.is_file(), name
        assert read_metadata(entry.path)["kind"] == entry.kind, name
    assert {p.stem for p in ASSETS.glob("*.safetensors")} == set(SHIPPED)
    assert sum(p.stat().st_size for p in ASSETS.iterdir()) < 80e6          # the package stays small
    for default in (FACE_LATENT, *MOTION.values(), *REGRESSION.values()):
        assert default in SHIPPED


def test_names_paths_and_defaults_resolve_and_mistakes_are_named():
    assert resolve(None, "face_latent", FACE_LATENT) == weights_path(FACE_LATENT)
    assert resolve("motion_regression_small", "motion_dit", MOTION["latent"]) == SHIPPED["motion_regression_small"].path
    assert resolve("runs/x/latest.safetensors", "motion_dit", MOTION["latent"]) == Path("runs/x/latest.safetensors")
    with pytest.raises(ValueError, match="motion_dit checkpoint, not a face_latent one"):
        resolve("motion_dit_small", "face_latent", FACE_LATENT)
    with pytest.raises(KeyError, match="no shipped weights named 'nope'"):
        shipped("nope")
    assert 0 < eval_record(FACE_LATENT)["probe_dyn_r2"] < 1
    with pytest.raises(FileNotFoundError, match="no evaluation record"):
        eval_record("motion_regression_small")
