"""`labkit prep` on SynthTalk clips exported to mp4: the recovered landmarks match the ground truth;
resume, failures per clip, untouched sources and clear refusals."""
import hashlib
import json

import numpy as np
import pytest
import torch

from labkit.cli import main
from labkit.faces.prep import PrepConfig, prepare
from labkit.latent.data import PreparedPairs
from labkit.synthtalk import SynthTalk, export


@pytest.fixture(scope="module")
def videos(tmp_path_factory):
    src = tmp_path_factory.mktemp("videos")
    ds = SynthTalk("test", resolution=256, seconds=2.0, num_clips=2)
    export(ds, src / "speaker_a", 2, progress=False)          # a nested folder, like VoxCeleb2's
    (src / "speaker_a" / "broken.mp4").write_text("this is not a video")
    return src, ds


def _digest(folder):
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.rglob("*")) if p.is_file()}


def test_prep_recovers_synthtalk_landmarks(videos, tmp_path):
    src, ds = videos
    before = _digest(src)
    man = prepare(src, tmp_path / "out", PrepConfig(resolution=128, backend="dlib"), progress=False)
    assert _digest(src) == before                            # sources only read
    clips = {c["name"]: c for c in json.loads(man.read_text())["clips"]}
    assert clips["speaker_a__broken"]["status"] == "failed"  # logged, and the run went on
    assert "not a video" in clips["speaker_a__broken"]["error"]
    for i in range(2):
        entry = clips[f"speaker_a__clip_{i:06d}"]
        assert entry["status"] == "ok" and entry["frames"] == 50
        z = np.load(tmp_path / "out" / f"speaker_a__clip_{i:06d}.npz")
        truth = ds[i]["landmarks"]
        err = np.linalg.norm(z["landmarks"] - truth, axis=-1)[:, 17:].mean()
        assert err < 6.0, err                                 # pixels at 256 px (about 3 px measured)
        assert z["mel"].shape == (50, 80) and z["pose"].shape == (50, 3)
        assert np.abs(z["pose"][:, 0] - ds[i]["factors"]["yaw"]).mean() < 8.0    # degrees
        assert z["aligned_landmarks"].min() > 0 and z["aligned_landmarks"].max() < 128
        assert np.allclose(np.diff(z["timestamps"]), 0.04, atol=1e-6)
    # the folder trains the face latent model: frame pairs of one clip with landmarks at the model's size
    pairs = PreparedPairs(tmp_path / "out", 64).batch(3, np.random.default_rng(0))
    assert pairs["source"].shape == (3, 3, 64, 64) and pairs["driver_landmarks"].shape == (3, 68, 2)
    assert 0 < float(pairs["driver_landmarks"].min()) and float(pairs["driver_landmarks"].max()) < 64
    # in epoch order each of the 2 clips comes once per 2 samples, and two processes' shards
    # (rows) of a step make up the one-process batch
    src = PreparedPairs(tmp_path / "out", 64)
    whole = src.batch(4, np.random.default_rng(1), step=0)
    assert sorted(whole["identity"][:2].tolist()) == [0, 1] and sorted(whole["identity"][2:].tolist()) == [0, 1]
    halves = [src.batch(4, np.random.default_rng(1), step=0, rows=r) for r in (slice(0, 2), slice(2, 4))]
    assert torch.equal(torch.cat([h["source"] for h in halves]), whole["source"])


def test_resume_and_refusals(videos, tmp_path):
    src, _ = videos
    out = tmp_path / "out"
    prepare(src, out, PrepConfig(resolution=64, backend="dlib"), progress=False)
    stamp = (out / "speaker_a__clip_000000.npz").stat().st_mtime_ns
    prepare(src, out, PrepConfig(resolution=64, backend="dlib"), progress=False)
    assert (out / "speaker_a__clip_000000.npz").stat().st_mtime_ns == stamp          # skipped
    with pytest.raises(FileExistsError, match="other settings"):
        prepare(src, out, PrepConfig(resolution=128, backend="dlib"), progress=False)
    with pytest.raises(ValueError, match="must not be inside"):
        prepare(src, src / "prepared", progress=False)
    with pytest.raises(NotADirectoryError, match="does not exist"):
        prepare(tmp_path / "nope", out, progress=False)
    with pytest.raises(ValueError, match="resolution 100"):
        prepare(src, out, PrepConfig(resolution=100), progress=False)


def test_cli_reports_failures(videos, tmp_path, capsys):
    src, _ = videos
    code = main(["prep", str(src), str(tmp_path / "o"), "--resolution", "64", "--backend", "dlib", "--quiet",
                 "--workers", "2"])
    out = capsys.readouterr().out
    assert code == 1 and "2 clips ready, 1 failed" in out and "broken.mp4" in out
