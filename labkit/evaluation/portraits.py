"""``labkit eval portraits``: a talking photo judged by instruments that are not the renderer's own.

Each portrait is animated with the bundled speech, and every output frame is read back from its
pixels: dlib's HOG detector and 68-point predictor (Kazemi & Sullivan 2014) and dlib's face
embedding, never the landmarks the renderer aimed for. From what they read
(:mod:`labkit.metrics.portrait`):

- ``detected``: share of frames in which dlib finds the face;
- ``jaw_corr``: Pearson correlation of the inner-lip gap (/ IOD) with the generated jaw factor;
- ``blink_dips``: share of generated blinks at which the eye aspect ratio dips;
- ``id_distance``: mean embedding distance of the frames to the input face (dlib's same-person
  threshold is 0.6); ``id_drift``: |last − first| `drift_window` seconds of a `drift_seconds` clip;
- ``smile_lift`` (happy − neutral mouth-corner height) and ``brow_lift`` (surprised − neutral brow
  height), in IOD, from clips with the head held still (motion_scale 0) so only the face moves;
- full-photo mode: ``outside_max`` (largest change of a pixel outside ``Animator.region``, the
  renderer's frames before the watermark and the encoder) and ``seam_ratio`` (worst frame's colour step
  across the region's boundary over the input's); ``watermark_max``, the largest change the watermark
  then makes to any pixel (reported, no bar: the mark spreads over the whole frame);
- the mouth, in frames where it opens: ``teeth_diff`` (median luminance of the band under the upper
  inner lip, as deep as half the photo's own lip gap, against the same band in the photo, where the
  photo shows teeth there) and ``mouth_flat_px`` (the largest patch of one exact colour inside the lips);
- ``sync``: LabSync S_C / S_D and CAPP, ΔP and CSIM of ours, the audio-energy puppet and the still
  photo, as ``labkit eval real`` scores them, on the 128 px aligned crop of every frame.

The portraits: skimage's astronaut, the same photo with her face box ~40 px in a wide plain backdrop,
the astronaut through OpenCV's stylisation filter (no public-domain painting of a face ships with the
installed packages; give one as a path), and matplotlib's public-domain photo of Grace Hopper.

dlib reads every frame in a window three face-boxes wide round the input's face, scaled so the face
box is READ_FACE_PX: like dlib's own upsampling, it lets a 40 px face be read, and costs the same
whatever the photo's size.
"""
from __future__ import annotations

import logging
from collections import deque
from dataclasses import asdict, dataclass
from pathlib import Path

import cv2
import numpy as np
from skimage.data import astronaut
from tqdm.auto import tqdm

from labkit.evaluation.config import PORTRAITS, EvalPortraitsConfig
from labkit.evaluation.motion import puppet_factors
from labkit.evaluation.real import REAL_METHODS, clip_scores, real_bars
from labkit.evaluators.capp import load_capp
from labkit.evaluators.labsync import load_labsync
from labkit.faces.align import align_face
from labkit.faces.identity import identity_embedding
from labkit.faces.image import as_rgb
from labkit.faces.landmarks import Face, detect_faces, dlib_shape
from labkit.io.audio import log_mel
from labkit.io.errors import InputError
from labkit.metrics.portrait import (
    INNER_LIP,
    blink_dips,
    brow_raise,
    eye_aspect_ratio,
    largest_flat_region,
    lip_luminance,
    mouth_corner_lift,
    mouth_opening,
    outside_change,
    pearson,
    polygon_mask,
    seam_energy,
    teeth_luminance,
)
from labkit.motion.data import MotionClips
from labkit.pipeline import FPS, SAMPLE_RATE, Animator, Controls, default_speech, repeated_speech
from labkit.synthtalk.factors import FACTOR_NAMES

log = logging.getLogger(__name__)

READ_FACE_PX = 160          # px: the face box dlib reads at (its HOG window finds faces from ~80 px)
SMALL_FACE_PX = 40          # px: the face box of the astronaut in a larger scene
TEETH_CONTRAST = 0.1        # the photo shows teeth when its inner mouth's bright quarter outshines the lips by this
TEETH_BAND = 0.5            # the teeth band under the upper lip: this share of the photo's own lip gap deep
OPEN_MOUTH = 0.05           # IOD: frames whose lips part this much more than the photo's count as open
TEETH_TOLERANCE = 0.15      # luminance (0..1) the open mouth's teeth may differ from the photo's
FLAT_MAX_PX = 9             # px: a flat patch inside the mouth larger than a 3 x 3 block reads as a fill
EMOTION_MARGIN = 0.02       # IOD: a measurable lift of the mouth corners or the brows (~1 px at 256 px)

# figure: (comparison, bar); None-valued figures (not applicable) pass as None
BARS = {"detected": (">=", 0.99), "jaw_corr": (">=", 0.90), "blink_dips": (">=", 0.90),
        "id_distance": ("<=", 0.25), "id_drift": ("<=", 0.05), "smile_lift": (">=", EMOTION_MARGIN),
        "brow_lift": (">=", EMOTION_MARGIN), "outside_max": ("<=", 0), "seam_ratio": ("<=", 1.2),
        "teeth_diff": ("<=", TEETH_TOLERANCE), "mouth_flat_px": ("<=", FLAT_MAX_PX)}
_COL = {n: i for i, n in enumerate(FACTOR_NAMES)}


# ---------------------------------------------------------------------------- the portraits

def astronaut_small(face_px: int = SMALL_FACE_PX) -> np.ndarray:
    """The astronaut shrunk so her face box is about `face_px`, feathered into a plain backdrop three
    times her photo's width (a wide shot): (H, W, 3) uint8. The backdrop is her photo's own backdrop
    colour with a soft, seeded mottle, so the scene holds no other face."""
    photo = astronaut()
    s = face_px / 87.0                                     # dlib's box of her face is 87 px in the 512 px photo
    small = cv2.resize(photo, None, fx=s, fy=s, interpolation=cv2.INTER_AREA)
    h, w = small.shape[:2]
    colour = photo[:60, 300:460].reshape(-1, 3).mean(0)    # the studio backdrop above her shoulder
    mottle = cv2.GaussianBlur(np.random.default_rng(0).normal(0, 1, (2 * h, 3 * w)).astype(np.float32), (0, 0), 9)
    shade = np.linspace(1.05, 0.9, 2 * h)[:, None] + mottle
    scene = np.clip(colour * shade[..., None], 0, 255)
    alpha = np.zeros((h, w), np.float32)
    alpha[4:-4, 4:-4] = 1.0
    alpha = cv2.GaussianBlur(alpha, (0, 0), 3)[..., None]  # a soft edge: no rectangle for the detector
    y, x = h // 2, w                                       # centred
    scene[y:y + h, x:x + w] = alpha * small + (1 - alpha) * scene[y:y + h, x:x + w]
    return scene.round().astype(np.uint8)


def astronaut_stylised() -> np.ndarray:
    """The astronaut through OpenCV's edge-preserving stylisation filter (Gastal & Oliveira 2011): a painted look."""
    return cv2.stylization(astronaut(), sigma_s=60, sigma_r=0.45)


def grace_hopper() -> np.ndarray:
    """Matplotlib's sample photo of Grace Hopper (a public-domain US Navy portrait)."""
    import matplotlib.cbook  # matplotlib is slow to import; only this needs it

    return as_rgb(matplotlib.cbook.get_sample_data("grace_hopper.jpg", asfileobj=False))


BUNDLED = {"astronaut": astronaut, "astronaut_small": astronaut_small, "astronaut_stylised": astronaut_stylised,
           "grace_hopper": grace_hopper}


def load_portraits(spec: str) -> dict[str, np.ndarray]:
    """{name: (H, W, 3) uint8} for a comma-separated list of bundled names and image paths."""
    out = {}
    for item in (s.strip() for s in spec.split(",")):
        if not item:
            continue
        if item in BUNDLED:
            out[item] = BUNDLED[item]()
        elif Path(item).exists():
            out[Path(item).stem] = as_rgb(item)
        else:
            raise ValueError(f"unknown portrait {item!r}: neither a bundled one ({', '.join(PORTRAITS)}) nor a file")
    if not out:
        raise ValueError("no portraits given")
    return out


def speech_clip(seconds: float = 0.0) -> np.ndarray:
    """The bundled speech (S,) at 16 kHz, repeated or cut to `seconds` (0: once, as it is)."""
    return default_speech() if seconds <= 0 else repeated_speech(seconds)


# ---------------------------------------------------------------------------- the reader

@dataclass
class Reading:
    """What dlib reads in one frame."""
    found: bool               # the detector found the face (near where the input's is)
    landmarks: np.ndarray     # (68, 2) frame pixels: on the found face, else in the input's face box
    window: np.ndarray        # (h, w, 3) the scaled window dlib read
    face: Face                # the face in the window's pixels (for the embedding)


class FaceReader:
    """dlib's detector, landmarks and embedding for frames of one photo (see the module docstring).

    still: (H, W, 3) the photo as output; its face (the largest, the one the Animator moves) is found with
    dlib, upsampling up to twice."""

    def __init__(self, still: np.ndarray, *, face_px: int = READ_FACE_PX, name: str = "the photo"):
        for u in range(3):
            boxes = detect_faces(still, upsample=u)
            if len(boxes):
                break
        else:
            raise InputError(f"dlib finds no face in {name}")
        box = boxes[np.argmax((boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1]))].astype(np.float64)
        size = np.sqrt((box[2] - box[0]) * (box[3] - box[1]))
        H, W = still.shape[:2]
        c = (box[:2] + box[2:]) / 2
        self.origin = np.maximum(np.floor(c - 1.5 * size), 0).astype(int)                  # window: left, top
        self.end = np.minimum(np.ceil(c + 1.5 * size), [W, H]).astype(int)
        self.scale = face_px / size
        self.box = (box - np.tile(self.origin, 2)) * self.scale                             # the face in the window
        self.input = self.read(still)
        self.embedding = self.embed(self.input)

    def window(self, frame: np.ndarray) -> np.ndarray:
        (x0, y0), (x1, y1) = self.origin, self.end
        interp = cv2.INTER_LINEAR if self.scale >= 1 else cv2.INTER_AREA
        return cv2.resize(frame[y0:y1, x0:x1], None, fx=self.scale, fy=self.scale, interpolation=interp)

    def read(self, frame: np.ndarray) -> Reading:
        """dlib's reading of `frame` (H, W, 3): the detection whose centre is nearest the input face's,
        if within half a box of it."""
        return self.read_window(self.window(frame))

    def read_window(self, win: np.ndarray) -> Reading:
        """:meth:`read` of a window already cut and scaled (:meth:`window`)."""
        boxes = detect_faces(win, upsample=0)
        centre, size = (self.box[:2] + self.box[2:]) / 2, self.box[2] - self.box[0]
        off = np.linalg.norm((boxes[:, :2] + boxes[:, 2:]) / 2 - centre, axis=1) if len(boxes) else np.zeros(0)
        found = bool(len(boxes)) and off.min() < size / 2
        box = boxes[int(off.argmin())] if found else self.box
        lm = dlib_shape(win, box)
        return Reading(found, lm / self.scale + self.origin, win, Face(box=box, score=1.0, landmarks=lm,
                                                                       backend="dlib"))

    def embed(self, r: Reading) -> np.ndarray:
        """dlib's 128-D embedding (128,) of a reading's face."""
        return identity_embedding(r.window, r.face)

    def distance(self, r: Reading) -> float:
        """Embedding distance of a reading's face to the input's (dlib's unit: < 0.6 the same person)."""
        return float(np.linalg.norm(self.embed(r) - self.embedding))


# ---------------------------------------------------------------------------- the figures

def face_figures(frames: np.ndarray, motion: np.ndarray, reader: FaceReader, still: np.ndarray, *,
                 every: int = 5) -> dict:
    """Detection, jaw, blinks, identity and mouth-interior figures of one video.
    frames: (T, H, W, 3) uint8; motion: (T, F) the factors drawn; still: the photo as output."""
    reads = [reader.read(f) for f in frames]
    lm = np.stack([r.landmarks for r in reads])                           # (T, 68, 2)
    events, dips = blink_dips(eye_aspect_ratio(lm), motion[:, _COL["blink"]])
    out = {"detected": float(np.mean([r.found for r in reads])),
           "jaw_corr": pearson(mouth_opening(lm), motion[:, _COL["jaw"]]),
           "blinks": events, "blink_dips": dips / events if events else None,
           "id_distance": float(np.mean([reader.distance(reads[t]) for t in range(0, len(reads), every)]))}
    out.update(mouth_figures(frames, lm, still, reader.input.landmarks))
    return out


def mouth_figures(frames: np.ndarray, lm: np.ndarray, still: np.ndarray, still_lm: np.ndarray) -> dict:
    """The mouth interior of the frames whose lips part OPEN_MOUTH more than the photo's: the luminance of
    the band under the upper lip (TEETH_BAND of the photo's own lip gap deep) against the photo's same band,
    where that band is teeth (brighter than the lips), and the largest flat patch inside the lips."""
    gap = float(mouth_opening(still_lm))
    open_ = np.flatnonzero(mouth_opening(lm) >= gap + OPEN_MOUTH)
    src = teeth_luminance(still, still_lm, TEETH_BAND * gap)
    shows = bool(np.isfinite(src) and src > lip_luminance(still, still_lm) + TEETH_CONTRAST)
    teeth = [teeth_luminance(frames[t], lm[t], TEETH_BAND * gap) for t in open_] if shows else []
    teeth = [v for v in teeth if np.isfinite(v)]
    flat = [largest_flat_region(frames[t], polygon_mask(frames.shape[1:3], lm[t, INNER_LIP])) for t in open_]
    return {"open_frames": len(open_), "photo_teeth": float(src) if np.isfinite(src) else None,
            "shows_teeth": shows, "teeth": float(np.mean(teeth)) if teeth else None,
            "teeth_diff": float(abs(np.mean(teeth) - src)) if teeth else None,
            "mouth_flat_px": int(max(flat)) if flat else None}


def photo_figures(frames: np.ndarray, photo: np.ndarray, region: np.ndarray, *, every: int = 5) -> dict:
    """Full-photo mode: pixels changed outside `region` and the worst seam against the photo's own, of the
    renderer's frames (T, H, W, 3) before the watermark."""
    worst, _ = outside_change(frames, photo, region)
    base = seam_energy(photo, region)
    ratio = max(seam_energy(frames[t], region) for t in range(0, len(frames), every)) / max(base, 1e-9)
    return {"outside_max": worst, "seam_ratio": float(ratio)}


def emotion_figures(anim: Animator, image: np.ndarray, speech: np.ndarray, reader: FaceReader, *,
                    crop: bool, resolution: int, seed: int, watermark: bool) -> dict:
    """Happy − neutral mouth-corner lift and surprised − neutral brow raise (IOD), head held still."""
    means = {}
    for emotion in ("neutral", "happy", "surprised"):
        a = Animator(image, resolution=resolution, renderer="landmarks", crop=crop, watermark=watermark,
                     controls=Controls(emotion=emotion, seed=seed, motion_scale=0.0), generator=anim.generator)
        lm = np.stack([reader.read(f).landmarks for f in a.animate(speech).frames])
        means[emotion] = (float(mouth_corner_lift(lm).mean()), float(brow_raise(lm).mean()))
    return {"smile_lift": means["happy"][0] - means["neutral"][0],
            "brow_lift": means["surprised"][1] - means["neutral"][1]}


def drift_figures(anim: Animator, reader: FaceReader, *, seconds: float, window: float, every: int) -> dict:
    """Identity over a long clip, streamed (only the last window's frames are held): mean embedding
    distance to the input over the first and the last `window` seconds."""
    speech = speech_clip(seconds)
    n = max(1, min(int(round(window * FPS)), int(len(speech) / SAMPLE_RATE * FPS) // 3))
    first, last = [], deque(maxlen=n)
    for t, frame in enumerate(anim.stream(np.array_split(speech, max(1, len(speech) // 640)))):
        (first if t < n else last).append(reader.window(frame) if t % every == 0 else None)
    dist = {key: float(np.mean([reader.distance(reader.read_window(w)) for w in wins if w is not None]))
            for key, wins in (("first", first), ("last", last))}
    return {"id_first": dist["first"], "id_last": dist["last"], "id_drift": abs(dist["last"] - dist["first"])}


def sync_figures(frames: np.ndarray, puppet: np.ndarray, still: np.ndarray, still_lm: np.ndarray,
                 speech: np.ndarray, *, labsync, capp) -> dict:
    """{method: S_C, S_D, CAPP, dP, CSIM} of ours, the puppet and the still photo, as ``eval real`` scores
    them on the 128 px crop aligned on the photo's face (one fixed crop: the head moves inside it)."""
    def aligned(video):
        return np.stack([align_face(f, still_lm, 128)[0] for f in video])

    crop = align_face(still, still_lm, 128)[0]
    boxes = detect_faces(crop, upsample=1)
    if not len(boxes):
        raise InputError("dlib finds no face in the photo's aligned 128 px crop")
    emb = identity_embedding(crop, Face(box=boxes[0], score=1.0, landmarks=dlib_shape(crop, boxes[0]),
                                        backend="dlib"))
    videos = {"ours": aligned(frames), "puppet": aligned(puppet), "still": np.repeat(crop[None], len(frames), 0)}
    return {m: {k: float(v) for k, v in clip_scores(videos[m], crop, speech, boxes[0], labsync=labsync, capp=capp,
                                                    portrait_embedding=emb).items() if k != "offset"}
            for m in REAL_METHODS}


def puppet_video(anim: Animator, speech: np.ndarray, T: int, seed: int) -> np.ndarray:
    """The audio-energy puppet's factors (jaw from loudness, random sway) through the same renderer: (T, H, W, 3)."""
    mel = log_mel(speech, num_frames=T)
    zeros = np.zeros((1, T, len(FACTOR_NAMES)), np.float32)
    clips = MotionClips(motion=zeros, audio=mel[None], factors=zeros, emotion=np.zeros(1, int),
                        intensity=np.zeros(1, np.float32), language=np.array(["?"]))
    factors = puppet_factors(clips, np.random.default_rng(seed))[0]
    return np.stack([anim._frame(row) for row in factors])


# ---------------------------------------------------------------------------- the run

def meets(key: str, value) -> bool | None:
    """Whether figure `key` meets its bar; None when it does not apply (no value)."""
    if value is None or (isinstance(value, float) and not np.isfinite(value)):
        return None
    op, bar = BARS[key]
    return bool(value >= bar if op == ">=" else value <= bar)


def evaluate_portrait(image: np.ndarray, cfg: EvalPortraitsConfig, *, name: str = "portrait", labsync=None,
                      capp=None) -> dict:
    """{"figures": {...}, "bars": {...}} of one portrait (H, W, 3) uint8."""
    anim = Animator(image, resolution=cfg.resolution, renderer="landmarks", crop=cfg.crop, watermark=cfg.watermark,
                    controls=Controls(seed=cfg.seed))
    full = anim.region is not None
    still = anim.photo if full else anim._draw.rig.image
    reader = FaceReader(still, name=name)
    speech = speech_clip(cfg.seconds)
    video = anim.animate(speech)
    figures = {"mode": "full photo" if full else "crop", "size": list(video.frames.shape[1:3])}
    face = face_figures(video.frames, video.motion, reader, still, every=cfg.every)
    figures.update(face)
    if full:       # the renderer's frames before the watermark, which changes every pixel by a level or so
        drawn = np.stack([anim._frame(row) for row in video.motion[::cfg.every]])
        figures.update(photo_figures(drawn, anim.photo, anim.region, every=1))
        figures["watermark_max"] = int(np.abs(video.frames[::cfg.every].astype(np.int16) - drawn).max())
    else:
        figures.update({"outside_max": None, "seam_ratio": None, "watermark_max": None})
    figures.update(emotion_figures(anim, image, speech, reader, crop=cfg.crop, resolution=cfg.resolution,
                                   seed=cfg.seed, watermark=cfg.watermark))
    figures.update(drift_figures(anim, reader, seconds=cfg.drift_seconds, window=cfg.drift_window, every=cfg.every))
    puppet = puppet_video(anim, speech, len(video.frames), cfg.seed)
    figures["sync"] = sync_figures(video.frames, puppet, still, reader.input.landmarks, speech,
                                   labsync=labsync or load_labsync(), capp=capp or load_capp())
    figures = _json_ready(figures)
    bars = {k: meets(k, figures[k]) for k in BARS}
    bars.update(real_bars(figures["sync"]))
    return {"figures": figures, "bars": bars}


def _json_ready(x):
    """NaN (a figure with nothing to measure) → None, numpy scalars → Python ones, all the way down."""
    if isinstance(x, dict):
        return {k: _json_ready(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_json_ready(v) for v in x]
    if isinstance(x, (bool, np.bool_)):
        return bool(x)
    if isinstance(x, (int, np.integer)):
        return int(x)
    if isinstance(x, (float, np.floating)):
        return float(x) if np.isfinite(x) else None
    return x


def evaluate_portraits(cfg: EvalPortraitsConfig = EvalPortraitsConfig(), *, progress: bool = False) -> dict:
    """{"config", "portraits": {name: {"figures", "bars"} or {"error": message}}} for every portrait of `cfg`.
    A portrait labkit refuses (InputError: no face, a face too small) is reported, not raised."""
    if cfg.every < 1 or cfg.drift_window <= 0 or cfg.drift_seconds <= 0:
        raise ValueError(f"every >= 1, drift_window > 0 and drift_seconds > 0 needed, got {cfg.every}, "
                         f"{cfg.drift_window:g} and {cfg.drift_seconds:g}")
    portraits = load_portraits(cfg.portraits)
    labsync, capp = load_labsync(), load_capp()
    seconds = len(speech_clip(cfg.seconds)) / SAMPLE_RATE
    if seconds * FPS < capp.cfg.window:
        raise ValueError(f"seconds {cfg.seconds:g}: CAPP scores windows of {capp.cfg.window / FPS:g} s; "
                         "give at least that much speech")
    out = {}
    for name, image in tqdm(portraits.items(), desc="eval portraits", unit="portrait", disable=not progress):
        try:
            out[name] = evaluate_portrait(image, cfg, name=name, labsync=labsync, capp=capp)
        except InputError as e:
            log.warning("%s: %s", name, e)
            out[name] = {"error": str(e)}
    return {"config": asdict(cfg), "portraits": out}


# ---------------------------------------------------------------------------- the report

ROWS = ("detected", "jaw_corr", "blinks", "blink_dips", "id_distance", "id_first", "id_last", "id_drift",
        "smile_lift", "brow_lift", "outside_max", "seam_ratio", "watermark_max", "open_frames", "photo_teeth",
        "teeth", "teeth_diff", "mouth_flat_px")


def to_table(result: dict) -> str:
    """The figures of :func:`evaluate_portraits` as a text table: one row per figure with its bar, one
    column per portrait, each figure marked pass or FAIL against its bar; then S_C, S_D and CAPP."""
    names = list(result["portraits"])
    ok = result["portraits"]
    width = max(14, *(len(n) + 2 for n in names))

    def cell(v, verdict=None):
        text = "—" if v is None else (f"{v:.3f}" if isinstance(v, float) else str(v))
        return (text + {True: " pass", False: " FAIL", None: ""}[verdict]).rjust(width)

    lines = [f"{'figure':14s}{'bar':>10s}" + "".join(n.rjust(width) for n in names)]
    lines.append(f"{'mode':14s}{'':>10s}" + "".join(
        ("refused" if "error" in ok[n] else ok[n]["figures"]["mode"]).rjust(width) for n in names))
    for k in ROWS:
        bar = f"{BARS[k][0]} {BARS[k][1]:g}" if k in BARS else ""
        row = f"{k:14s}{bar:>10s}"
        for n in names:
            r = ok[n]
            row += "".rjust(width) if "error" in r else cell(r["figures"].get(k), r["bars"].get(k))
        lines.append(row)
    for m in REAL_METHODS:
        for k in ("S_C", "S_D", "CAPP"):
            bar = "> still" if (m, k) == ("ours", "S_C") else ""
            row = f"{m + ' ' + k:14s}{bar:>10s}"
            for n in names:
                r = ok[n]
                verdict = r["bars"]["S_C"] if (m, k) == ("ours", "S_C") and "error" not in r else None
                row += "".rjust(width) if "error" in r else cell(r["figures"]["sync"][m][k], verdict)
            lines.append(row)
    for n in names:
        if "error" in ok[n]:
            lines.append(f"{n}: refused: {ok[n]['error']}")
    return "\n".join(lines) + "\n"
