"""How well the landmark estimators read SynthTalk's ground truth: pose, openness, gaze.

SynthTalk knows every factor exactly, so each estimator of :mod:`labkit.faces` is checked on
renders with known yaw/pitch/roll, jaw, blink and gaze, twice: on the ground-truth landmarks
(the estimator's own error) and on dlib's landmarks from the pixels (what a real video gets).

    validate(identities=(0, 10, 20)) -> {"gt": {...}, "dlib": {...}, "frames": ...}

Metrics (per landmark source):
    pose_mae_{yaw,pitch,roll}   mean |estimate - truth| (deg) over the pose grid
    pitch_change_mae            the same for pitch relative to the identity's frontal estimate:
                                one generic 3D face cannot know a person's vertical proportions,
                                so absolute pitch carries a per-person offset, changes do not
    mouth_jaw_r                 Pearson correlation of mouth openness with the jaw factor
    eye_blink_r                 correlation of eye openness with 1 - blink
    blink_accuracy              eyes_closed() right on frames with blink <= 0.25 or >= 0.75
    gaze_{yaw,pitch}_sign       fraction of gazes whose estimated sign is right
    gaze_{yaw,pitch}_mae        mean |estimate - truth| (deg)
    detect_rate (dlib only)     frames where dlib found the face
"""
from __future__ import annotations

import itertools

import numpy as np
from tqdm.auto import tqdm

from labkit.faces.expression import eye_openness, eyes_closed, mouth_openness
from labkit.faces.gaze import gaze_angles
from labkit.faces.landmarks import LandmarkDetector
from labkit.faces.pose import head_pose
from labkit.synthtalk import neutral_factors, render, sample_identity

YAWS, PITCHES, ROLLS = (-30, -15, 0, 15, 30), (-15, 0, 15), (-10, 0, 10)
JAWS = (0.0, 0.2, 0.4, 0.6, 0.8, 1.0)
BLINKS = (0.0, 0.25, 0.5, 0.75, 1.0)
GAZES = ((-20, 0), (-10, 0), (10, 0), (20, 0), (0, -12), (0, 12))   # (gaze_yaw, gaze_pitch)


def _factors(rows: list[dict]) -> dict:
    f = neutral_factors(len(rows))
    for t, row in enumerate(rows):
        for k, v in row.items():
            f[k][t] = v
    return f


def _corr(a, b) -> float:
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    ok = np.isfinite(a) & np.isfinite(b)
    return float(np.corrcoef(a[ok], b[ok])[0, 1]) if ok.sum() > 2 else float("nan")


def _summary(rows: list[dict]) -> dict:
    """rows: one dict per frame with the truth, the estimates and which test the frame is for."""
    out = {}
    pose = [r for r in rows if r["test"] == "pose"]
    for k in ("yaw", "pitch", "roll"):
        out[f"pose_mae_{k}"] = float(np.mean([abs(r[f"est_{k}"] - r[k]) for r in pose]))
    frontal = {r["identity"]: r["est_pitch"] for r in pose if r["yaw"] == r["pitch"] == r["roll"] == 0}
    rel = [abs(r["est_pitch"] - frontal[r["identity"]] - r["pitch"]) for r in pose if r["identity"] in frontal]
    out["pitch_change_mae"] = float(np.mean(rel)) if rel else float("nan")
    jaw = [r for r in rows if r["test"] == "jaw"]
    out["mouth_jaw_r"] = _corr([r["mouth"] for r in jaw], [r["jaw"] for r in jaw])
    blink = [r for r in rows if r["test"] == "blink"]
    out["eye_blink_r"] = _corr([r["eyes"] for r in blink], [1 - r["blink"] for r in blink])
    clear = [r for r in blink if r["blink"] <= 0.25 or r["blink"] >= 0.75]
    out["blink_accuracy"] = float(np.mean([r["closed"] == (r["blink"] >= 0.75) for r in clear]))
    gaze = [r for r in rows if r["test"] == "gaze"]
    for k in ("gaze_yaw", "gaze_pitch"):
        g = [r for r in gaze if r[k] != 0]
        out[f"{k}_sign"] = float(np.mean([np.sign(r[f"est_{k}"]) == np.sign(r[k]) for r in g]))
        out[f"{k}_mae"] = float(np.nanmean([abs(r[f"est_{k}"] - r[k]) for r in g]))
    return out


def validate(identities=(0, 10, 20, 30, 40, 50), *, resolution: int = 256, yaws=YAWS, pitches=PITCHES,
             rolls=ROLLS, jaws=JAWS, blinks=BLINKS, gazes=GAZES, progress: bool = False) -> dict:
    """Render each identity (SynthTalk test identities by default) over a pose grid and jaw,
    blink and gaze sweeps; score the estimators on ground-truth and on dlib landmarks."""
    plan = ([{"test": "pose", "yaw": y, "pitch": p, "roll": r} for y, p, r in itertools.product(yaws, pitches, rolls)]
            + [{"test": "jaw", "jaw": j, "yaw": y} for j, y in itertools.product(jaws, (-15, 0, 15))]
            + [{"test": "blink", "blink": b, "yaw": y} for b, y in itertools.product(blinks, (-15, 0, 15))]
            + [{"test": "gaze", "gaze_yaw": gy, "gaze_pitch": gp} for gy, gp in gazes])
    defaults = {"yaw": 0.0, "pitch": 0.0, "roll": 0.0, "jaw": 0.0, "blink": 0.0, "gaze_yaw": 0.0, "gaze_pitch": 0.0}
    plan = [{**defaults, **row} for row in plan]
    detector = LandmarkDetector("dlib")
    rows = {"gt": [], "dlib": []}
    it = identities
    if progress:
        it = tqdm(identities, desc="validate faces", unit="identity")
    for ident in it:
        out = render(sample_identity(int(ident)), _factors([{k: v for k, v in r.items() if k != "test"} for r in plan]),
                     resolution=resolution)
        for t, row in enumerate(plan):
            faces = detector.detect(out.frames[t])
            sources = {"gt": out.landmarks[t], "dlib": faces[0].landmarks if faces else None}
            for src, lm in sources.items():
                if lm is None:
                    continue
                est = {"identity": int(ident), **row}
                if row["test"] == "pose":
                    p = head_pose(lm, out.frames[t].shape[:2])
                    est.update(est_yaw=p.yaw, est_pitch=p.pitch, est_roll=p.roll)
                elif row["test"] == "jaw":
                    est["mouth"] = float(mouth_openness(lm))
                elif row["test"] == "blink":
                    est["eyes"], est["closed"] = float(eye_openness(lm).mean()), bool(eyes_closed(lm))
                else:
                    est["est_gaze_yaw"], est["est_gaze_pitch"] = gaze_angles(out.frames[t], lm)
                rows[src].append(est)
    n = len(identities) * len(plan)
    result = {"gt": _summary(rows["gt"]), "dlib": _summary(rows["dlib"]), "frames": n, "resolution": resolution}
    result["dlib"]["detect_rate"] = len(rows["dlib"]) / n
    return result
