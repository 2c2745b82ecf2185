"""Export → reload round trip, resume, refusal to overwrite, bad output folders; the CLI around it."""
import json

import numpy as np
import pytest

from labkit.cli import main
from labkit.io.video import provenance, read_video, write_video
from labkit.synthtalk import SynthTalk, export, load_clip


def _ds(**kw):
    return SynthTalk("test", resolution=64, seconds=1.0, num_clips=3, **kw)


def test_round_trip(tmp_path):
    ds = _ds()
    man = export(ds, tmp_path, 2, progress=False)
    manifest = json.loads(man.read_text())
    assert [c["name"] for c in manifest["clips"]] == ["clip_000000", "clip_000001"]
    assert manifest["settings"]["resolution"] == 64
    for i in range(2):
        orig = ds[i]
        back = load_clip(tmp_path / f"clip_{i:06d}.npz")
        assert np.array_equal(back["audio"], orig["audio"])
        assert np.array_equal(back["landmarks"], orig["landmarks"])
        assert all(np.array_equal(back["factors"][k], v) for k, v in orig["factors"].items())
        assert back["text"] == orig["text"] and back["identity"] == orig["identity"]
        frames, fps, audio, sr = read_video(tmp_path / f"clip_{i:06d}.mp4")
        assert frames.shape == orig["frames"].shape and fps == 25 and sr == 16000
        assert np.abs(frames.astype(float) - orig["frames"]).mean() < 4          # H.264 at crf 18
        assert abs(len(audio) - len(orig["audio"])) <= 640                       # within one frame
        n = min(len(audio), len(orig["audio"]))                                  # A/V offset <= 1 frame:
        lags = np.arange(-1280, 1281, 32)                                        # the speech is where it was
        score = [np.dot(orig["audio"][max(0, L):n + min(0, L)], audio[max(0, -L):n - max(0, L)]) for L in lags]
        assert abs(lags[int(np.argmax(score))]) <= 640
        assert "labkit" in provenance(tmp_path / f"clip_{i:06d}.mp4")
    assert not list(tmp_path.glob(".*partial*"))                                # nothing half-written


def test_resume_skips_finished_clips_and_refuses_other_settings(tmp_path):
    export(_ds(), tmp_path, 1, progress=False)
    first = (tmp_path / "clip_000000.mp4").stat().st_mtime_ns
    export(_ds(), tmp_path, 2, progress=False)
    assert (tmp_path / "clip_000000.mp4").stat().st_mtime_ns == first          # not redone
    assert (tmp_path / "clip_000001.mp4").exists()
    with pytest.raises(FileExistsError, match="other settings"):
        export(_ds(seed=5), tmp_path, 1, progress=False)
    export(_ds(seed=5), tmp_path, 1, overwrite=True, progress=False)
    assert json.loads((tmp_path / "manifest.json").read_text())["settings"]["seed"] == 5


def test_unwritable_output_fails_clearly_and_writes_nothing(tmp_path):
    blocker = tmp_path / "a_file"
    blocker.write_text("not a folder")
    with pytest.raises(OSError, match="cannot create output folder"):
        export(_ds(), blocker / "sub", 1, progress=False)
    with pytest.raises(ValueError, match="n=7 is more than"):
        export(_ds(), tmp_path / "x", 7, progress=False)
    assert not (tmp_path / "x").exists() or not any((tmp_path / "x").iterdir())


def test_write_video_refuses_to_overwrite(tmp_path):
    frames = np.zeros((5, 32, 32, 3), np.uint8)
    p = write_video(tmp_path / "v.mp4", frames, 25)
    with pytest.raises(FileExistsError, match="overwrite"):
        write_video(p, frames, 25)
    with pytest.raises(ValueError, match="even frame sizes"):
        write_video(tmp_path / "w.mp4", np.zeros((2, 31, 32, 3), np.uint8), 25)


def test_cli_export_and_errors(tmp_path, capsys):
    out = tmp_path / "ds"
    assert main(["synth", "export", "--n", "1", "--out", str(out), "--split", "val", "--resolution", "64",
                 "--seconds", "1", "--quiet"]) == 0
    assert (out / "clip_000000.mp4").exists() and (out / "manifest.json").exists()
    assert main(["synth", "export", "--n", "1", "--out", str(out), "--split", "nope", "--quiet"]) == 2
    assert "unknown split 'nope'" in capsys.readouterr().err
    assert main(["synth", "clip", "--out", str(tmp_path / "c.mp4"), "--resolution", "64", "--seconds", "1",
                 "--split", "test"]) == 0
    assert main(["synth", "clip", "--out", str(tmp_path / "c.mp4"), "--resolution", "64", "--seconds", "1"]) == 2
    assert "exists" in capsys.readouterr().err
