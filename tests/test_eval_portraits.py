import json

import numpy as np
import pytest

from labkit.cli import build_parser
from labkit.cli.options import given
from labkit.evaluation.config import PORTRAITS, EvalPortraitsConfig
from labkit.evaluation.portraits import (
    BARS,
    ROWS,
    FaceReader,
    astronaut_small,
    evaluate_portraits,
    load_portraits,
    meets,
    speech_clip,
    to_table,
)
from labkit.evaluation.real import REAL_METHODS

TINY = EvalPortraitsConfig(portraits="astronaut", seconds=3.0, drift_seconds=2.0, drift_window=0.5)


@pytest.fixture(scope="module")
def result():
    return evaluate_portraits(TINY)


def test_every_figure_and_bar_is_there_and_json_ready(result):
    r = result["portraits"]["astronaut"]
    assert set(ROWS) <= set(r["figures"]) and set(BARS) | {"S_C", "dP"} == set(r["bars"])
    assert all(v in (True, False, None) for v in r["bars"].values())
    assert set(r["figures"]["sync"]) == set(REAL_METHODS)
    assert json.loads(json.dumps(result, allow_nan=False)) == result       # no NaN: None where nothing applies
    assert result["config"]["drift_seconds"] == 2.0


def test_the_figures_of_a_talking_astronaut_are_in_range(result):
    f = result["portraits"]["astronaut"]["figures"]
    assert f["mode"] == "full photo" and f["size"] == [512, 512]
    assert f["detected"] > 0.95 and f["jaw_corr"] > 0.8                  # dlib follows her mouth
    assert 0 < f["id_distance"] < 0.4 and 0 <= f["id_drift"] < 0.2        # the same person throughout
    assert f["smile_lift"] > 0 and f["brow_lift"] > 0
    assert 0.9 < f["seam_ratio"] < 2 and f["outside_max"] == 0 and f["watermark_max"] > 0
    assert f["shows_teeth"] and f["open_frames"] > 0 and 0 <= f["teeth_diff"] < 1
    assert f["sync"]["ours"]["S_C"] > f["sync"]["still"]["S_C"] and f["sync"]["still"]["dP"] == 0.0
    table = to_table(result)
    assert "astronaut" in table and "smile_lift" in table and "brow_lift" in table and "ours S_C" in table


def test_the_reader_finds_a_40_px_face_and_reads_a_still_photo_as_itself():
    scene = astronaut_small()
    reader = FaceReader(scene)
    box = reader.box / reader.scale
    assert 35 < box[2] - box[0] < 48                                      # about 40 px
    r = reader.read(scene)
    assert r.found and reader.distance(r) < 1e-6


def test_portraits_and_speech_inputs():
    assert list(load_portraits("astronaut, grace_hopper")) == ["astronaut", "grace_hopper"]
    assert list(load_portraits(",".join(PORTRAITS))) == list(PORTRAITS)             # every bundled name loads
    with pytest.raises(ValueError, match="unknown portrait"):
        load_portraits("mona_lisa")
    assert len(speech_clip(3.0)) == 48000 and len(speech_clip(0)) > 48000
    with pytest.raises(ValueError, match="drift_window"):
        evaluate_portraits(EvalPortraitsConfig(drift_window=0))


def test_bars_compare_the_right_way_and_skip_what_does_not_apply():
    assert meets("detected", 1.0) and not meets("detected", 0.9)
    assert meets("seam_ratio", 1.1) and not meets("seam_ratio", 1.3)
    assert meets("blink_dips", None) is None and meets("jaw_corr", float("nan")) is None


def test_the_command_line_options_map_to_the_config():
    a = build_parser().parse_args(["eval", "portraits", "--portraits", "astronaut", "--drift-seconds", "3",
                                   "--crop", "--no-watermark", "--json"])
    cfg = EvalPortraitsConfig(**given(a, EvalPortraitsConfig))
    assert (cfg.portraits, cfg.drift_seconds, cfg.crop, cfg.watermark, cfg.every) == ("astronaut", 3.0, True, False,
                                                                                      EvalPortraitsConfig.every)
    assert a.json and a.func.__name__ == "cmd_eval_portraits"
    with pytest.raises(SystemExit):
        build_parser().parse_args(["eval", "portraits", "--resolution", "300"])


def test_the_command_prints_json_or_a_table(monkeypatch, capsys):
    fake = {"config": {}, "portraits": {"x": {"error": "no face found"}}}
    monkeypatch.setattr("labkit.evaluation.portraits.evaluate_portraits", lambda cfg, progress: fake)
    from labkit.cli import main
    assert main(["eval", "portraits", "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == fake
    assert main(["eval", "portraits"]) == 0
    assert "x: refused: no face found" in capsys.readouterr().out


def test_the_command_writes_a_contact_sheet_and_never_over_one(monkeypatch, capsys, tmp_path):
    import cv2

    from labkit.cli import main
    from labkit.evaluation.sheet import COLUMNS, TILE

    fake = {"config": {}, "portraits": {"astronaut": {"error": "not run"}}}
    monkeypatch.setattr("labkit.evaluation.portraits.evaluate_portraits", lambda cfg, progress: fake)
    sheet = tmp_path / "sheet.png"
    assert main(["eval", "portraits", "--portraits", "astronaut", "--sheet", str(sheet)]) == 0
    image = cv2.imread(str(sheet))
    assert image.shape == (TILE, TILE * (len(COLUMNS) + 1), 3)         # one row: the whole frame + each column
    tiles = [image[:, k * TILE:(k + 1) * TILE].astype(int) for k in range(len(COLUMNS) + 1)]
    assert np.abs(tiles[1] - tiles[3]).mean() > 1                       # the photo and its open mouth differ
    assert main(["eval", "portraits", "--portraits", "astronaut", "--sheet", str(sheet)]) == 2
    assert "--overwrite" in capsys.readouterr().err
    assert main(["eval", "portraits", "--portraits", "astronaut", "--sheet", str(tmp_path / "s.jpg")]) == 2
