"""``labkit eval watermark``: does labkit's provenance mark survive what happens to videos online?

`clips` videos made by ``labkit.animate`` (the default portrait speaking `clips` different SynthTalk
test sentences, each with its own content id) are re-encoded with H.264 at CRF 23 and CRF 28 and
downscaled by half (then re-encoded at CRF 23), and the watermark is looked for in each (a hit must
decode the clip's own content id); as many SynthTalk ground-truth clips, never marked, give the
false-positive count. The targets: ≥ 95 % detected after every attack, 0 false positives.
"""
from __future__ import annotations

import numpy as np

from labkit.evaluation.config import EvalWatermarkConfig
from labkit.pipeline import Animator
from labkit.provenance.watermark import Watermark, robustness
from labkit.synthtalk import SynthTalk

ATTACKS = ("none", "crf23", "crf28", "half")   # see labkit.provenance.watermark.ATTACKS


def _psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    return float("inf") if mse == 0 else 10 * np.log10(255.0 ** 2 / mse)


def evaluate_watermark(*, clips: int = EvalWatermarkConfig.clips, seconds: float = EvalWatermarkConfig.seconds,
                       resolution: int = EvalWatermarkConfig.resolution, seed: int = EvalWatermarkConfig.seed,
                       progress: bool = False) -> dict:
    """Detection rate per attack on `clips` generated videos, false positives on as many clean ones,
    and the mark's PSNR (marked vs unmarked frames of the same video)."""
    if clips < 1:
        raise ValueError(f"clips must be >= 1, got {clips}")
    speech = SynthTalk(split="test", resolution=64, seconds=seconds, seed=seed, num_clips=clips)
    clean = SynthTalk(split="test", resolution=resolution, seconds=seconds, seed=seed + 1, num_clips=clips)
    anim = Animator(None, resolution=resolution, watermark=False)            # marked below, to measure PSNR
    psnr, ids = [], []

    def marked():
        for i in range(clips):
            v = anim.animate(speech[i]["audio"], sample_rate=int(speech[i]["sample_rate"]))
            frames = Watermark(v.content_id).embed(v.frames)
            psnr.append(_psnr(frames, v.frames))
            ids.append(v.content_id)
            yield frames

    r = robustness(marked(), (clean[i]["frames"] for i in range(clips)), attacks=ATTACKS, content_ids=ids,
                   progress=progress)                                        # a hit must decode its own id
    return {"clips": r["clips"], "clean_clips": r["clean_clips"], "detected": r["detection"],
            "false_positives": int(round(sum(r["false_positive"][a] * r["clean_clips"] for a in ATTACKS))),
            "false_positive_rate": r["false_positive"], "psnr_db": float(np.mean(psnr)),
            "distinct_content_ids": len(set(ids)), "worst_magic_errors": r["magic_errors"],
            "best_clean_magic_errors": r["clean_magic_errors"], "resolution": resolution, "seconds": seconds}
