"""The benchmark plumbing, and a regression guard on SynthTalk's realism to a real face detector."""
import json

import numpy as np

from labkit.bench.inference import realism
from labkit.cli import main
from labkit.faces import landmark_error_iod


def test_landmark_error_normalisation():
    truth = np.zeros((68, 2), np.float32)
    truth[36], truth[45] = (0, 0), (10, 0)                 # outer eye corners 10 px apart
    pred = truth.copy()
    pred[17:] += (0, 2)                                   # every scored point 2 px off
    assert abs(landmark_error_iod(pred, truth) - 0.2) < 1e-6
    pred[:17] += 50                                       # the jaw line is not scored
    assert abs(landmark_error_iod(pred, truth) - 0.2) < 1e-6


def test_dlib_sees_synthtalk_faces():
    r = realism(2, every=10)
    assert r["dlib_frames"] >= 8
    assert r["dlib_detect_rate"] >= 0.8                   # the bar (>= 0.9) is measured by `labkit bench synth`
    assert r["dlib_landmark_err_iod"] < 0.15


def test_bench_cli_prints_one_json_object(capsys):
    assert main(["bench", "synth", "--json", "--frames", "3", "--realism-clips", "0"]) == 0
    r = json.loads(capsys.readouterr().out)
    assert {"render_fps_128", "render_fps_512", "tts_x_realtime"} <= set(r)
    assert all(r[k] > 0 for k in ("render_fps_128", "render_fps_512", "tts_x_realtime"))


def test_bench_train_times_the_trainers_objectives(capsys):
    from labkit.bench.training import bench_train_latent, bench_train_motion

    lat = bench_train_latent("tiny", batch=2, repeats=1)
    mot = bench_train_motion("tiny", batch=4, repeats=1)
    for r, B in ((lat, 2), (mot, 4)):
        assert r["batch"] == B and r["samples_per_s"] > 0
        assert abs(r["samples_per_s"] * r["ms_per_step"] / 1e3 - B) < 1e-6 * B
    assert lat["image_size"] == 64 and 0.05 < lat["parameters_m"] < 1.0
    assert main(["bench", "train", "--json", "--latent", "tiny", "--motion", "tiny", "--latent-batch", "2",
                 "--motion-batch", "4"]) == 0
    r = json.loads(capsys.readouterr().out)
    assert set(r["latent"]) == {"tiny"} and set(r["motion"]) == {"tiny"} and r["synthtalk_pairs_per_s_128"] > 0


def test_bench_animate_times_every_stage_and_streams_where_asked():
    import pytest

    from labkit.bench.inference import bench_animate

    r = bench_animate(seconds=1.0, renderer="landmarks", resolutions=(128, 256), stream=(256,))
    assert r["renderer"] == "landmarks" and set(r["stages"]) == {"128", "256"}
    for R in (128, 256):
        st = r["stages"][str(R)]
        assert set(st) == {"audio features", "motion", "render", "watermark", "encode"}
        generation_ms = sum(v for k, v in st.items() if k != "encode")      # the encode is timed apart
        assert abs(1e3 / r[f"offline_fps_{R}"] - generation_ms) < 1e-6 * generation_ms
    assert r["stream_fps_256"] > 0 and r["first_frame_ms_256"] > 0
    assert "stream_fps_128" not in r and "first_frame_ms_128" not in r
    with pytest.raises(ValueError, match=r"stream sizes \[512\]"):
        bench_animate(seconds=1.0, resolutions=(128,), stream=(512,))


def test_bench_photo_times_the_whole_photo_path():
    from labkit.bench.inference import bench_photo

    r = bench_photo(sizes=(320,), seconds=1.0)
    row = r["sizes"]["320"]
    assert row["frame"] == "320x320" and 0.05 < row["region_fraction"] < 0.6
    assert set(row["stages_ms"]) == {"audio features", "motion", "render", "watermark"}
    assert abs(1e3 / row["offline_fps"] - sum(row["stages_ms"].values())) < 1e-6 * 1e3 / row["offline_fps"]
    assert row["stream_fps"] > 0 and row["first_frame_ms"] > 0
