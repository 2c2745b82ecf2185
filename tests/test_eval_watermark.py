import pytest

from labkit.evaluation.watermark import ATTACKS, evaluate_watermark


def test_ids_read_after_every_attack_are_right_or_none_and_clean_clips_are_never_found():
    r = evaluate_watermark(clips=2, clean_clips=2, seconds=(0.5, 1.0))
    assert r["clips"] == r["clean_clips"] == 2 and r["distinct_content_ids"] == 2
    assert [(row["seconds"], row["attack"]) for row in r["rows"]] == [(s, a) for s in (0.5, 1.0) for a in ATTACKS]
    for row in r["rows"]:
        assert row["wrong_ids"] == 0 and row["false_positives"] == 0, row      # the CRC; 2e-10 per clip
        assert row["detected"] == pytest.approx(row["id_correct"] + row["unreadable"]), row
    by = {(row["seconds"], row["attack"]): row for row in r["rows"]}
    assert by[0.5, "none"]["id_correct"] == by[1.0, "none"]["id_correct"] == by[1.0, "crf23"]["id_correct"] == 1.0
    assert r["wrong_ids"] == r["false_positives"] == 0
    assert 35 < r["psnr_db"] < 60                                    # invisible, but really there


def test_bad_settings():
    with pytest.raises(ValueError, match="clips"):
        evaluate_watermark(clips=0)
    with pytest.raises(ValueError, match="seconds"):
        evaluate_watermark(clips=1, seconds=())
