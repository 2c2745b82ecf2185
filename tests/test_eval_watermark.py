from labkit.evaluation.watermark import ATTACKS, evaluate_watermark


def test_generated_clips_are_found_after_every_attack_and_clean_ones_never():
    r = evaluate_watermark(clips=2, seconds=1.0)
    assert r["clips"] == r["clean_clips"] == 2 and r["distinct_content_ids"] == 2
    assert set(r["detected"]) == set(ATTACKS)
    strict = {k: v for k, v in r["detected"].items() if k != "half"}
    assert all(v == 1.0 for v in strict.values()), r["detected"]    # 100 % over 100 clips of 2 s
    assert r["detected"]["half"] >= 0.5, r["detected"]              # 96-100 % over 100 clips of 2 s; a 1 s clip has
                                                                     # half the frames to vote (one of 2 was lost once)
    assert r["false_positives"] == 0
    assert 35 < r["psnr_db"] < 60                                    # invisible, but really there
