"""The benchmark plumbing, and a regression guard on SynthTalk's realism to a real face detector."""
import json

import numpy as np

from labkit.bench import realism
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
