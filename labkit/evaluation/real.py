"""``labkit eval real``: the evaluation table on real inputs, where there is no ground truth.

A user's portraits (real photos) and speech clips; every portrait is animated with every speech
clip by three methods, and scored from pixels and audio alone (VASA-1 §4.1 compares methods on
real inputs the same way):

- ``ours``: ``labkit.animate`` -- the factor-space diffusion transformer driving the landmark-warping
  renderer;
- ``puppet``: the audio-energy puppet's factors (jaw from loudness, random sway) through the same
  renderer;
- ``still``: the aligned portrait held still.

Columns: ``S_C`` ↑ and ``S_D`` ↓ by LabSync on the aligned 128 px frames (SynthTalk's framing, which
the renderer produces); ``CAPP`` ↑ and ``dP`` (ΔP, degrees) on head pose read from each frame's dlib
landmarks by Perspective-n-Point (:func:`labkit.faces.pose.head_pose`); ``CSIM`` ↑: cosine of dlib's
face embeddings of the portrait and every `every`-th frame. There is no real ΔP to be close to,
so ΔP is reported, not ranked; a still image's is 0.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
from skimage.data import astronaut
from tqdm.auto import tqdm

from labkit.evaluation.config import EvalRealConfig
from labkit.evaluation.motion import puppet_factors
from labkit.evaluation.table import FAILING
from labkit.evaluators.capp import load_capp
from labkit.evaluators.labsync import load_labsync
from labkit.faces.identity import identity_embedding
from labkit.faces.landmarks import Face, detect_faces, dlib_shape
from labkit.faces.pose import head_pose
from labkit.io.atomic import write_text_atomic
from labkit.io.audio import log_mel
from labkit.metrics.identity import csim
from labkit.metrics.pose import delta_p
from labkit.motion.data import MotionClips
from labkit.pipeline import Animator, Controls, load_speech
from labkit.synthtalk import SynthTalk
from labkit.synthtalk.factors import FACTOR_NAMES

REAL_METHODS = ("ours", "puppet", "still")
REAL_METRICS = ("S_C", "S_D", "CAPP", "dP", "CSIM")


def default_inputs(num_speech: int = EvalRealConfig.clips, seconds: float = EvalRealConfig.seconds,
                   seed: int = EvalRealConfig.seed):
    """skimage's astronaut photo and `num_speech` SynthTalk test-split speech clips (16 kHz)."""


    ds = SynthTalk(split="test", resolution=64, seconds=seconds, seed=seed, num_clips=num_speech)
    return {"astronaut": astronaut()}, {f"synthtalk_test_{i}": ds[i]["audio"] for i in range(num_speech)}


def read_pose(frames: np.ndarray, box: np.ndarray) -> np.ndarray:
    """Yaw, pitch, roll (T, 3) degrees from dlib's landmarks of each frame (in the portrait's face box)."""
    out = []
    for f in frames:
        p = head_pose(dlib_shape(f, box), f.shape[:2])
        out.append((p.yaw, p.pitch, p.roll))
    return np.asarray(out, np.float32)


def _embedding(frame: np.ndarray, box: np.ndarray) -> np.ndarray:
    """dlib's face embedding of `frame` in the portrait's face box (faces at 128 px are below the
    detector's usual minimum)."""
    return identity_embedding(frame, Face(box=box, score=1.0, landmarks=dlib_shape(frame, box), backend="dlib"))


def clip_scores(frames: np.ndarray, portrait: np.ndarray, speech: np.ndarray, box: np.ndarray, *, labsync, capp,
                portrait_embedding: np.ndarray, every: int = 10) -> dict:
    """The real-input metrics of one video (T, 128, 128, 3) of `portrait` (the aligned crop) speaking `speech`."""
    s = labsync.score(frames, speech, sample_rate=16000)
    pose = read_pose(frames, box)
    mel = log_mel(speech, num_frames=len(frames))
    ids = np.stack([_embedding(frames[t], box) for t in range(0, len(frames), every)])
    return {"S_C": s.confidence, "S_D": s.min_dist, "offset": s.offset,
            "CAPP": float(capp.score(pose[None], mel[None])[0]), "dP": delta_p(pose),
            "CSIM": csim(portrait_embedding, ids)}


def evaluate_real(portraits: dict, speeches: dict, *, labsync=None, capp=None, seed: int = 0,
                  progress: bool = False) -> dict:
    """{method: {metric: mean over every portrait × speech pair}}; portraits {name: image or path},
    speeches {name: path or 16 kHz samples}."""
    labsync, capp = labsync or load_labsync(), capp or load_capp()
    rows = {m: [] for m in REAL_METHODS}
    pairs = [(p, s) for p in portraits for s in speeches]
    it = pairs
    if progress:
        it = tqdm(pairs, desc="eval real", unit="pair")
    anims = {}
    for k, (pname, sname) in enumerate(it):
        if pname not in anims:
            anim = Animator(portraits[pname], resolution=128, renderer="landmarks", controls=Controls(seed=seed),
                            crop=True)
            crop = anim._draw.rig.image
            boxes = detect_faces(crop, upsample=1)
            if not len(boxes):
                raise ValueError(f"dlib finds no face in the aligned crop of {pname}")
            anims[pname] = (anim, crop, boxes[0], _embedding(crop, boxes[0]))
        anim, crop, box, emb = anims[pname]
        speech = load_speech(speeches[sname])
        ours = anim.animate(speech)
        T = len(ours.frames)
        mel = log_mel(speech, num_frames=T)
        clips = MotionClips(motion=np.zeros((1, T, len(FACTOR_NAMES)), np.float32), audio=mel[None],
                            factors=np.zeros((1, T, len(FACTOR_NAMES)), np.float32), emotion=np.zeros(1, int),
                            intensity=np.zeros(1, np.float32), language=np.array(["?"]))
        puppet = anim._draw.render(puppet_factors(clips, np.random.default_rng(seed + k))[0])
        videos = {"ours": ours.frames, "puppet": puppet, "still": np.repeat(crop[None], T, axis=0)}
        for m in REAL_METHODS:
            rows[m].append(clip_scores(videos[m], crop, speech, box, labsync=labsync, capp=capp,
                                       portrait_embedding=emb))
    return {m: {k: float(np.mean([r[k] for r in rows[m]])) for k in REAL_METRICS} for m in REAL_METHODS}


def real_bars(table: dict) -> dict[str, bool]:
    """The bar on real photos: ours clearly better than a still image on lip sync and ΔP."""
    return {"S_C": table["ours"]["S_C"] > table["still"]["S_C"] + 0.5 * abs(table["still"]["S_C"]) + 0.05,
            "dP": table["ours"]["dP"] > table["still"]["dP"] + 0.1}


def to_markdown(table: dict) -> str:
    arrows = {"S_C": "↑", "S_D": "↓", "CAPP": "↑", "dP": "", "CSIM": "↑"}
    mark = {k: "†" if k in FAILING else "" for k in REAL_METRICS}            # instruments failing their check
    head = "| method | " + " | ".join(f"{k}{mark[k]}{arrows[k]}" for k in REAL_METRICS) + " |"
    lines = [head, "|" + "---|" * (len(REAL_METRICS) + 1)]
    for m, row in table.items():
        lines.append(f"| {m} | " + " | ".join(f"{row[k]:.3f}" for k in REAL_METRICS) + " |")
    notes = [f"{k}† {why}" for k, why in FAILING.items() if k in REAL_METRICS]
    return "\n".join(lines + ([""] + notes if notes else [])) + "\n"


def save(table: dict, out: str | Path, *, overwrite: bool = False) -> tuple[Path, Path]:
    """Write OUT.md and OUT.csv (atomically; existing files only with `overwrite`)."""
    out = Path(out)
    md, csv = out.with_suffix(".md"), out.with_suffix(".csv")
    for p in (md, csv):
        if p.exists() and not overwrite:
            raise FileExistsError(f"{p} exists; pass --overwrite to replace it")
    csv_text = "method," + ",".join(REAL_METRICS) + "\n" + "".join(
        f"{m}," + ",".join(f"{row[k]:.4f}" for k in REAL_METRICS) + "\n" for m, row in table.items())
    write_text_atomic(md, to_markdown(table))
    write_text_atomic(csv, csv_text)
    return md, csv
