"""Shared test helpers."""
import dataclasses
import importlib.util
from pathlib import Path

import pytest
import torch


@pytest.fixture
def resumes_exactly(tmp_path):
    """check(train, load, cfg, **kw) for the trainers on labkit.training.runs.run_steps: 2 steps, then on to
    cfg.steps in a second call, give bitwise the weights of cfg.steps in one go. Keep cfg.steps
    within the warm-up, where the learning rate does not depend on the total. Returns the resumed
    run's folder."""
    def check(train, load, cfg, **kw):
        whole = train(cfg, tmp_path / "whole", **kw)
        train(dataclasses.replace(cfg, steps=2), tmp_path / "split", **kw)
        split = train(cfg, tmp_path / "split", **kw)
        a, b = load(whole).state_dict(), load(split).state_dict()
        assert all(torch.equal(a[k], b[k]) for k in a)
        return tmp_path / "split"
    return check


def load_solutions(name: str):
    """The module notebooks/solutions/NAME.py, imported by path (notebooks/ is not a package)."""
    path = Path(__file__).resolve().parents[1] / "notebooks" / "solutions" / f"{name}.py"
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
