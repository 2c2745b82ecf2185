"""``labkit eval watermark``: does labkit's provenance mark survive what happens to videos online, and
is the id it reads then always the right one?

`clips` videos made by ``labkit.animate`` (the default portrait speaking different SynthTalk test
sentences, each with its own content id) are cut to their first 1, 3 and 10 s (`seconds`); each cut
is attacked on its own (kept as is, H.264 at CRF 23, 28 and 30, downscaled by half then CRF 23) and
the watermark is looked for in it. Per length and attack: how often the magic is found, how often
the content id read is the clip's own, how many clips report another id (the CRC-16 makes it 0),
and how many are found with an unreadable id. `clean_clips` SynthTalk ground-truth clips, never
marked, cut and attacked the same way, give the false positives. The targets: >= 95 % of ids read
after every attack on 3 s and longer, 0 wrong ids, 0 false positives.
"""
from __future__ import annotations

import numpy as np

from labkit.evaluation.config import EvalWatermarkConfig
from labkit.pipeline import FPS, Animator
from labkit.provenance.watermark import Watermark, robustness
from labkit.synthtalk import SynthTalk

ATTACKS = ("none", "crf23", "crf28", "crf30", "half")   # see labkit.provenance.watermark.ATTACKS


def _psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    return float("inf") if mse == 0 else 10 * np.log10(255.0 ** 2 / mse)


def evaluate_watermark(*, clips: int = EvalWatermarkConfig.clips, clean_clips: int = EvalWatermarkConfig.clean_clips,
                       seconds: tuple[float, ...] = EvalWatermarkConfig.seconds,
                       resolution: int = EvalWatermarkConfig.resolution, seed: int = EvalWatermarkConfig.seed,
                       progress: bool = False) -> dict:
    """Per clip length and attack, on `clips` generated videos: detection rate, id-correct rate, wrong
    ids and unreadable ids; false positives on `clean_clips` clean ones; the mark's PSNR (marked vs
    unmarked frames of the same video). Returns {"clips", "clean_clips", "resolution", "rows": one
    dict per (seconds, attack), "false_positives" (all rows), "wrong_ids" (all rows), "psnr_db",
    "distinct_content_ids"}."""
    if clips < 1 or clean_clips < 0:
        raise ValueError(f"clips must be >= 1 and clean_clips >= 0, got {clips}, {clean_clips}")
    if not seconds or min(seconds) <= 0:
        raise ValueError(f"seconds must be positive clip lengths, got {seconds}")
    longest = max(seconds)                                                   # one clip per item, cut shorter
    speech = SynthTalk(split="test", resolution=64, seconds=longest, seed=seed, num_clips=clips)
    clean = SynthTalk(split="test", resolution=resolution, seconds=longest, seed=seed + 1, num_clips=clean_clips)
    anim = Animator(None, resolution=resolution, watermark=False)            # marked below, to measure PSNR
    psnr, ids = [], []

    def marked():
        for i in range(clips):
            v = anim.animate(speech[i]["audio"], sample_rate=int(speech[i]["sample_rate"]))
            frames = Watermark(v.content_id).embed(v.frames)
            psnr.append(_psnr(frames, v.frames))
            ids.append(v.content_id)
            yield frames

    lengths = tuple(int(round(s * FPS)) for s in seconds)
    r = robustness(marked(), (clean[i]["frames"] for i in range(clean_clips)), attacks=ATTACKS, content_ids=ids,
                   lengths=lengths, progress=progress)
    n, m, second = r["clips"], r["clean_clips"], dict(zip(lengths, seconds))
    rows = [{"seconds": second[row["frames"]], "attack": row["attack"], "detected": row["detected"],
             "id_correct": row["id_correct"], "wrong_ids": round(row["wrong_id"] * n),
             "unreadable": row["unreadable"], "false_positives": round(row["false_positive"] * m) if m else 0,
             "magic_errors": row["magic_errors"], "clean_magic_errors": row["clean_magic_errors"]}
            for row in r["rows"]]
    return {"clips": n, "clean_clips": m, "resolution": resolution, "rows": rows,
            "false_positives": sum(row["false_positives"] for row in rows),
            "wrong_ids": sum(row["wrong_ids"] for row in rows), "psnr_db": float(np.mean(psnr)),
            "distinct_content_ids": len(set(ids))}
