"""The command line: options generated from the config dataclasses (one source for name, default and help),
recipe files yielding to typed options, and --help that never imports torch."""
import dataclasses
import subprocess
import sys
from dataclasses import dataclass

import pytest

from labkit.cli import build_parser
from labkit.cli.options import add_options, field_comments, given
from labkit.cli.train import _configured
from labkit.evaluation.config import EvalMotionConfig
from labkit.latent.config import FaceLatentConfig, LossWeights, TrainLatentConfig
from labkit.motion.config import MotionDiTConfig, TrainMotionConfig


def _subparser(parser, *path):
    for name in path:
        parser = next(a for a in parser._actions if hasattr(a, "choices") and isinstance(a.choices, dict)
                      and name in a.choices).choices[name]
    return parser


def test_every_trainer_field_is_an_option_with_its_comment_and_default():
    tl = _subparser(build_parser(), "train", "latent")
    actions = {a.dest: a for a in tl._actions}
    for cls in (TrainLatentConfig, LossWeights):
        comments = field_comments(cls)
        for f in dataclasses.fields(cls):
            if f.name == "losses":
                continue
            assert f.name in actions, f"--{f.name} missing"
            assert comments[f.name].split("(")[0].strip()[:30] in actions[f.name].help
            assert "(default: " in actions[f.name].help


def test_comments_continued_on_their_own_lines_are_kept():
    @dataclass
    class C:
        a: int = 1        # first part
                          # second part
        b: str = "x"      # b's help
        c: float = 0.5

    comments = field_comments(C)
    assert comments == {"a": "first part second part", "b": "b's help"}


def test_types_none_tuples_and_booleans_parse_as_the_dataclass_wants():
    import argparse

    @dataclass
    class C:
        n: int = 3                      # a count
        name: str | None = "es"         # a language or none
        steps: tuple[int, ...] = ()     # steps
        pair: tuple[int, int] = (1, 2)  # two numbers
        flag: bool = True               # on by default

    p = argparse.ArgumentParser()
    add_options(p, C)
    a = p.parse_args(["--name", "none", "--steps", "5", "7", "--pair", "3", "4", "--no-flag"])
    assert given(a, C) == {"name": None, "steps": (5, 7), "pair": (3, 4), "flag": False}
    assert given(p.parse_args([]), C) == {}                       # nothing typed: nothing given
    with pytest.raises(SystemExit):
        p.parse_args(["--n", "three"])


def test_a_recipe_yields_to_the_options_typed(tmp_path):
    recipe = tmp_path / "r.toml"
    recipe.write_text('[train]\npreset = "tiny"\nsteps = 7\nlr = 0.01\n[losses]\nregion = 0.5\n')
    p = build_parser()
    a = p.parse_args(["train", "latent", "--out", "x", "--config", str(recipe), "--steps", "3", "--crops", "0.2"])
    cfg, _ = _configured(a, TrainLatentConfig, FaceLatentConfig)
    assert (cfg.preset, cfg.steps, cfg.lr) == ("tiny", 3, 0.01)       # typed steps win; the rest from the file
    assert (cfg.losses.region, cfg.losses.crops) == (0.5, 0.2)
    a = p.parse_args(["train", "motion", "--out", "x", "--clips", "5", "--heldout-language", "none"])
    cfg, _ = _configured(a, TrainMotionConfig)
    assert (cfg.train_clips, cfg.heldout_language, cfg.steps) == (5, None, TrainMotionConfig().steps)
    a = p.parse_args(["train", "motion", "--out", "x", "--config", "motion_small_adaln_v_ar", "--noise-rho", "0.5"])
    cfg, model = _configured(a, TrainMotionConfig, MotionDiTConfig)
    assert (cfg.diffusion.prediction, cfg.diffusion.noise_rho, model) == ("v", 0.5, {"time_cond": "adaln"})
    with pytest.raises(SystemExit):                                      # choices come from the config module
        p.parse_args(["train", "motion", "--out", "x", "--process", "flow"])


def test_eval_options_map_to_the_evaluation_config():
    a = build_parser().parse_args(["eval", "motion", "--clips", "3", "--seeds", "1"])
    cfg = EvalMotionConfig(**given(a, EvalMotionConfig))
    assert (cfg.test_clips, cfg.seeds, cfg.train_clips) == (3, 1, EvalMotionConfig().train_clips)


@pytest.mark.parametrize("argv", [[], ["train", "latent"], ["train", "motion"], ["eval"], ["eval", "motion"],
                                  ["animate"], ["bench", "animate"], ["weights", "export"], ["synth", "clip"]])
def test_help_never_imports_torch(argv):
    code = ("import sys\nfrom labkit.cli import main\ntry:\n    main(%r)\nexcept SystemExit:\n    pass\n"
            "sys.stdout.flush()\nprint('TORCH' if 'torch' in sys.modules else 'NO TORCH')" % (argv + ["--help"]))
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip().endswith("NO TORCH")
    assert "usage: labkit" in out.stdout
