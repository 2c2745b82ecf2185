import numpy as np
import pytest

from labkit.evaluation.real import REAL_METHODS, REAL_METRICS, default_inputs, evaluate_real, real_bars, save


@pytest.fixture(scope="module")
def table():
    portraits, speeches = default_inputs(num_speech=1, seconds=4.0)
    return evaluate_real(portraits, speeches)


def test_the_real_photo_table_tells_a_talking_face_from_a_still_one(table):
    assert list(table) == list(REAL_METHODS) and all(list(row) == list(REAL_METRICS) for row in table.values())
    assert table["still"]["dP"] == 0.0                                # a still image reads as a still head
    assert table["ours"]["dP"] > 0.1
    assert table["ours"]["S_C"] > table["still"]["S_C"] + 0.1
    assert table["still"]["CSIM"] > 0.99 and table["ours"]["CSIM"] > 0.9
    assert real_bars(table) == {"S_C": True, "dP": True}
    assert all(np.isfinite(v) for row in table.values() for v in row.values())


def test_tables_are_written_once_unless_overwritten(table, tmp_path):
    md, csv = save(table, tmp_path / "real")
    assert md.read_text().startswith("| method |") and csv.read_text().splitlines()[1].startswith("ours,")
    with pytest.raises(FileExistsError):
        save(table, tmp_path / "real")
    save(table, tmp_path / "real", overwrite=True)
