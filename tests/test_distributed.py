"""Training under torchrun (labkit.training.distributed): 2 gloo processes on the loopback against one process.

A 2-process run with a global batch of B follows the 1-process run with the same B (the
issue's "doubled batch": each process computes B/2), loss for loss and weight for weight, within
float32 summation-order noise. The stated tolerances: losses agree to 1e-4 relative; the weights
of the two runs differ by less than 1 % of the distance the weights travelled since step 1
(measured: 0.3 %; Adam turns the rounding differences of near-zero gradients into updates of
up to lr, so a per-weight tolerance would have to be as large as an update).
The losses compared are means over samples (InfoNCE, which compares the samples of a process's
shard with one another, and dropout are turned off; see labkit/training/distributed.py).
"""
import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch

from labkit.cli import main
from labkit.io.checkpoint import load_state
from labkit.latent.data import epoch_indices
from labkit.training.distributed import Distributed, shard_rows

LATENT_RECIPE = """
[train]
preset = "tiny"
bank_clips = 3
log_every = 1
checkpoint_every = 2
image_every = 1000
warmup = 2
[losses]
id_contrast = 0.0
"""

MOTION_RECIPE = """
[train]
preset = "tiny"
motion = "factors"
train_clips = 6
seconds = 2.0
log_every = 1
checkpoint_every = 2
warmup = 2
[model]
dropout = 0.0
"""


def _env(tmp_path) -> dict:
    return {**os.environ, "LABKIT_CACHE": str(tmp_path / "cache"), "OMP_NUM_THREADS": "1",
            "PYTHONWARNINGS": "ignore"}


def _torchrun(tmp_path, args: list[str], nproc: int = 2, **kw) -> subprocess.Popen:
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={nproc}",
           "-m", "labkit", *args, "--quiet", "--threads", "1"]
    return subprocess.Popen(cmd, env=_env(tmp_path), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, **kw)


def _finish(proc: subprocess.Popen, timeout: float = 240) -> str:
    out, _ = proc.communicate(timeout=timeout)
    assert proc.returncode == 0, out
    return out


def _losses(run: Path) -> dict[int, float]:
    """step -> loss, the last line logged for each step (a resumed run logs some steps twice)."""
    lines = [json.loads(s) for s in (run / "log.jsonl").read_text().splitlines()]
    return {r["step"]: r["loss"] for r in lines}


def _assert_same_run(a: Path, b: Path, kind: str, steps) -> None:
    la, lb = _losses(a), _losses(b)
    for s in steps:
        assert lb[s] == pytest.approx(la[s], rel=1e-4), (s, la[s], lb[s])
    flat = lambda path: torch.cat([v.flatten().double() for v in load_state(path, kind=kind)[0].values()])
    wa, wb, w1 = flat(a / "latest.safetensors"), flat(b / "latest.safetensors"), flat(a / "step-1.safetensors")
    assert float((wa - wb).norm()) < 0.01 * float((wa - w1).norm())


def _one_process(tmp_path, args: list[str], monkeypatch) -> None:
    monkeypatch.setenv("LABKIT_CACHE", str(tmp_path / "cache"))
    assert main([*args, "--quiet"]) == 0


# ------------------------------------------------------------------------- the pieces


def test_shards_cover_the_batch_once():
    for world, accumulate in [(1, 1), (2, 1), (2, 3), (4, 2)]:
        rows = [np.arange(24)[shard_rows(24, Distributed(rank=r, world=world), accumulate, m)]
                for m in range(accumulate) for r in range(world)]
        assert sorted(np.concatenate(rows).tolist()) == list(range(24))
        assert len({len(r) for r in rows}) == 1
    with pytest.raises(ValueError, match="multiple of 4"):
        shard_rows(6, Distributed(rank=0, world=2), 2, 0)


def test_epoch_order_has_no_duplicates_and_depends_only_on_seed_and_step():
    n, B = 10, 4
    stream = np.concatenate([epoch_indices(n, B, step, seed=3) for step in range(10)])   # 4 epochs
    for e in range(4):
        assert sorted(stream[e * n:(e + 1) * n].tolist()) == list(range(n))
    assert np.array_equal(epoch_indices(n, B, 7, seed=3), epoch_indices(n, B, 7, seed=3))
    assert not np.array_equal(epoch_indices(n, B, 7, seed=3), epoch_indices(n, B, 7, seed=4))


def test_recipes_load_and_the_command_line_wins(tmp_path, monkeypatch):
    from labkit.latent.config import FaceLatentConfig, TrainLatentConfig
    from labkit.motion.config import DiffusionConfig, MotionDiTConfig, TrainMotionConfig, make_config
    from labkit.motion.dit import MotionDiT
    from labkit.training.recipes import CONFIGS, load_train_config

    shipped = sorted(p.stem for p in CONFIGS.glob("latent_*.toml"))
    assert shipped == ["latent_hdtf_256", "latent_hdtf_512", "latent_synthtalk_s128pp_gpu", "latent_voxceleb2_256",
                       "latent_voxceleb2_512"]
    cfg, model = load_train_config("latent_voxceleb2_512", TrainLatentConfig, FaceLatentConfig)
    assert cfg.preset == "s512" and cfg.data == "data/vox2_512" and cfg.accumulate == 2 and model == {}
    cfg, model = load_train_config("latent_synthtalk_s128pp_gpu", TrainLatentConfig, FaceLatentConfig)
    assert cfg.preset == "s128pp" and (Path(__file__).parents[1] / cfg.init).is_file()
    assert cfg.workers == 15 and not cfg.bf16 and not cfg.consistency and cfg.data == "synthtalk"
    assert cfg.losses.cross_render == 1.0 and cfg.losses.crops == 2.0
    assert sorted(p.stem for p in CONFIGS.glob("motion_*.toml")) == ["motion_base", "motion_small_adaln",
                                                                     "motion_small_adaln_v", "motion_small_adaln_v_ar",
                                                                     "motion_small_adaln_v_ar_vel10"]
    cfg, model = load_train_config("motion_small_adaln", TrainMotionConfig, MotionDiTConfig)
    assert (cfg.preset, cfg.train_clips, cfg.steps, cfg.warmup) == ("small", 240, 2000, 200)
    assert cfg.diffusion == DiffusionConfig()
    assert model == {"time_cond": "adaln"} and MotionDiT(make_config("small", **model)).blocks[0].modulation is not None
    v, v_model = load_train_config("motion_small_adaln_v", TrainMotionConfig, MotionDiTConfig)
    # one change: the denoiser predicts v
    assert v == replace(cfg, diffusion=DiffusionConfig(prediction="v")) and v_model == model
    ar, ar_model = load_train_config("motion_small_adaln_v_ar", TrainMotionConfig, MotionDiTConfig)
    # and then: AR(1) noise in time
    assert ar.diffusion == replace(v.diffusion, noise_rho=0.9) and ar_model == model
    vel, vel_model = load_train_config("motion_small_adaln_v_ar_vel10", TrainMotionConfig, MotionDiTConfig)
    # and then: 10x the velocity loss
    assert vel.diffusion == replace(ar.diffusion, velocity_weight=10.0) and vel_model == model

    bad = tmp_path / "bad.toml"
    bad.write_text("[train]\nbatchsize = 4\n")
    with pytest.raises(ValueError, match="batchsize"):
        load_train_config(bad, TrainLatentConfig, FaceLatentConfig)
    bad.write_text("[model]\nwidht = 4\n")
    with pytest.raises(ValueError, match="widht"):
        load_train_config(bad, TrainLatentConfig, FaceLatentConfig)
    with pytest.raises(FileNotFoundError, match="latent_voxceleb2_256"):
        load_train_config(tmp_path / "nope.toml", TrainLatentConfig, FaceLatentConfig)

    recipe = tmp_path / "r.toml"
    recipe.write_text(LATENT_RECIPE + "[model]\ndyn_dim = 6\n")
    _one_process(tmp_path, ["train", "latent", "--config", str(recipe), "--steps", "1", "--batch-size", "2",
                            "--out", str(tmp_path / "run")], monkeypatch)
    saved = json.loads((tmp_path / "run" / "config.json").read_text())
    assert saved["train"]["steps"] == 1 and saved["train"]["batch_size"] == 2      # given on the command line
    assert saved["train"]["bank_clips"] == 3 and saved["train"]["losses"]["id_contrast"] == 0.0  # from the file
    assert saved["train"]["lr"] == TrainLatentConfig().lr                          # neither: the default
    assert saved["model"]["dyn_dim"] == 6


# ------------------------------------------------------------------------- the trainers under torchrun


def _latent_args(tmp_path, steps: int) -> list[str]:
    """`labkit train latent` of the tiny model on per-sample losses, batch 4, keeping step 1's weights."""
    recipe = tmp_path / "r.toml"
    recipe.write_text(LATENT_RECIPE)
    return ["train", "latent", "--config", str(recipe), "--no-consistency", "--steps", str(steps), "--batch-size", "4",
            "--snapshot-steps", "1"]


def test_latent_two_processes_follow_one(tmp_path, monkeypatch):
    args = _latent_args(tmp_path, 3)
    two = _torchrun(tmp_path, [*args, "--out", str(tmp_path / "two")])
    _one_process(tmp_path, [*args, "--out", str(tmp_path / "one")], monkeypatch)
    out = _finish(two)
    assert out.count("trained 3 steps") == 1                                   # rank 0 alone reports
    _assert_same_run(tmp_path / "one", tmp_path / "two", "face_latent", steps=[1, 2, 3])


def test_motion_two_processes_with_accumulation_follow_one(tmp_path, monkeypatch):
    recipe = tmp_path / "r.toml"
    recipe.write_text(MOTION_RECIPE)
    args = ["train", "motion", "--config", str(recipe), "--steps", "3", "--batch-size", "8",
            "--snapshot-steps", "1"]
    _one_process(tmp_path, [*args, "--out", str(tmp_path / "one")], monkeypatch)   # fills the motion cache first
    _finish(_torchrun(tmp_path, [*args, "--accumulate", "2", "--out", str(tmp_path / "two")]))
    _assert_same_run(tmp_path / "one", tmp_path / "two", "motion_dit", steps=[1, 2, 3])


def _children(pid: int) -> list[int]:
    out = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            out.append(int(stat.parent.name))
    return out


def _rank_of(pid: int) -> int | None:
    try:
        env = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
    except OSError:
        return None
    rank = [e for e in env if e.startswith(b"RANK=")]
    return int(rank[0][5:]) if rank else None


@pytest.mark.skipif(not Path("/proc/self/environ").exists(), reason="finds the worker processes in /proc")
def test_a_killed_rank_stops_the_job_and_one_process_resumes_it(tmp_path, monkeypatch):
    args = _latent_args(tmp_path, 12)
    job = _torchrun(tmp_path, [*args, "--out", str(tmp_path / "run")])
    log = tmp_path / "run" / "log.jsonl"
    deadline = time.time() + 180
    while not (log.exists() and any(json.loads(s)["step"] >= 5 for s in log.read_text().splitlines())):
        assert job.poll() is None and time.time() < deadline, job.communicate()[0]
        time.sleep(0.02)
    workers = [p for p in _children(job.pid) if _rank_of(p) is not None]
    os.kill(next(p for p in workers if _rank_of(p) == 1), signal.SIGKILL)      # step 4's checkpoint is written
    out, _ = job.communicate(timeout=120)
    assert job.returncode != 0, out                                              # the job stops, and says so
    assert not [p for p in workers if Path(f"/proc/{p}").exists() and "Z" not in Path(f"/proc/{p}/stat").read_text()]
    step = load_state(tmp_path / "run" / "latest.safetensors", kind="face_latent")[1]["step"]
    assert 4 <= step < 12

    _one_process(tmp_path, [*args, "--out", str(tmp_path / "run")], monkeypatch)  # resume on one process
    _one_process(tmp_path, [*args, "--out", str(tmp_path / "whole")], monkeypatch)
    _assert_same_run(tmp_path / "whole", tmp_path / "run", "face_latent", steps=range(1, 13))


def test_compiling_the_face_latent_model_on_cpu_is_refused_up_front(tmp_path):
    from labkit.latent.config import TrainLatentConfig
    from labkit.latent.train import train_latent

    with pytest.raises(ValueError, match="--device cuda"):
        train_latent(TrainLatentConfig(preset="tiny", compile=True), tmp_path / "run", progress=False)
    assert not (tmp_path / "run").exists()                                      # nothing written
