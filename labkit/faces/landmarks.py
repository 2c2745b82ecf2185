"""Face detection and 68 landmarks on real images, behind one interface with two backends.

    LandmarkDetector(backend="auto" | "dlib" | "fan").detect(image) -> [Face, ...]   most confident first
    find_face(image)                                                  -> Face       the one to use

Backends (both give iBUG-68 points, the semantics of SynthTalk's ground truth, as (x, y) pixel
coordinates with the centre of pixel (i, j) at (i, j)):

- "fan": face-alignment's 2D FAN-4 (Bulat & Tzimiropoulos, ICCV 2017) on S3FD boxes; the more
  accurate, used by "auto" when its weights are already in torch hub's cache (never downloaded).
  FAN decodes heatmap maxima and returns whole pixels (about ±1 px quantisation).
- "dlib": dlib's HOG face detector + the 68-point regression-tree predictor (Kazemi & Sullivan,
  CVPR 2014); fully offline, the default when FAN's weights are absent.

The face choice is explicit: detections below MIN_SCORE are not faces (dlib run at threshold 0 also
returns shoulders, folds and patterns, and such a region can be larger than the real face). The others
are numbered left to right (``labkit faces PHOTO`` lists them, ``--face N`` picks one); by default the
largest of the confidently detected ones (scoring at least CONFIDENT_FRACTION of the best) is used,
with a warning when there are several. No face is an InputError; a small one a warning.
"""
from __future__ import annotations

import logging
import warnings
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from labkit.faces import models
from labkit.faces.image import as_rgb, image_name
from labkit.io.errors import InputError

# dlib and face-alignment are imported where a detector is built: they take seconds to load and
# face-alignment is optional.

log = logging.getLogger(__name__)

BACKENDS = ("auto", "dlib", "fan")
IOD_POINTS = (36, 45)   # outer eye corners (iBUG 37 and 46, 0-based): the 300-W inter-ocular normaliser
MIN_BOX = 48            # px: a smaller face box holds too little detail for landmarks or alignment
MIN_IOD = 20            # px: likewise for the distance between the outer eye corners
MAX_UPSAMPLED = 1024    # px: dlib's automatic upsampling stops before the image side passes this, ...
MAX_UPSAMPLED_PIXELS = 9_000_000   # ... but one doubling is always tried within this (a 1080p photo's small faces)
# The detector confidence a face needs (dlib: SVM margin at threshold 0; S3FD: probability). dlib's floor is
# low because turned heads score low: of SynthTalk test faces over yaw ±30°, pitch ±15° (128 and 256 px, best
# of upsampling 0 and 1) 10.6 % score below 0.2 and 1.7 % below 0.05. Ranking by confidence does the rest: a
# false detection scoring 0.08 on a shoulder loses to the real face beside it.
MIN_SCORE = {"dlib": 0.05, "fan": 0.5}
# The default face is the largest of those scoring at least this share of the best score: a large detection that
# dlib is unsure of (0.5 on a shoulder beside a face at 1.4) is listed and can be picked, but is not the default.
CONFIDENT_FRACTION = 0.5


@dataclass(frozen=True)
class Face:
    """One detected face."""
    box: np.ndarray         # (4,) float32 (left, top, right, bottom) in pixels
    score: float            # detector confidence (dlib: SVM margin, > 0; FAN/S3FD: probability)
    landmarks: np.ndarray   # (L, 2) float32, L = 68 iBUG points (x, y) in pixels
    backend: str            # "dlib" or "fan"

    @property
    def size(self) -> float:
        """Box side length in pixels (geometric mean of width and height)."""
        w, h = self.box[2] - self.box[0], self.box[3] - self.box[1]
        return float(np.sqrt(max(w, 0) * max(h, 0)))

    @property
    def iod(self) -> float:
        """Inter-ocular distance in pixels (outer eye corners)."""
        return float(np.linalg.norm(self.landmarks[IOD_POINTS[0]] - self.landmarks[IOD_POINTS[1]]))


def _most_confident_first(scores: np.ndarray) -> np.ndarray:
    return np.argsort(-np.asarray(scores, np.float64), kind="stable")


# ----------------------------------------------------------------------------------------------
# Backends
# ----------------------------------------------------------------------------------------------

def _dlib_run(image: np.ndarray, upsample: int) -> tuple[np.ndarray, np.ndarray]:
    """dlib HOG boxes (N, 4) and scores (N,), most confident first. image: (H, W, 3) uint8."""
    rects, scores, _ = models.dlib_detector().run(image, upsample, 0.0)
    boxes = np.array([[r.left(), r.top(), r.right(), r.bottom()] for r in rects], np.float32).reshape(-1, 4)
    order = _most_confident_first(scores)
    return boxes[order], np.asarray(scores, np.float32)[order]


def dlib_shape(image: np.ndarray, box) -> np.ndarray:
    """dlib's 68 landmarks (68, 2) float32 for a face box (left, top, right, bottom)."""
    import dlib

    rect = dlib.rectangle(*(int(round(float(v))) for v in box))
    shape = models.dlib_predictor()(image, rect)
    return np.array([[shape.part(k).x, shape.part(k).y] for k in range(68)], np.float32)


class _Dlib:
    name = "dlib"

    def __init__(self, upsample: int | None):
        self.upsample = upsample

    def detect(self, image: np.ndarray) -> list[Face]:
        if self.upsample is not None:
            boxes, scores = _dlib_run(image, self.upsample)
        else:   # automatic: upsample (finds faces down to ~80 / 2^u px) until a face scores MIN_SCORE,
            u, best = 0, None   # else keep the level whose best detection scored highest
            while True:
                boxes, scores = _dlib_run(image, u)
                if len(scores) and (best is None or scores.max() > best[1].max()):
                    best = boxes, scores
                H, W = image.shape[:2]
                more = min(H, W) * 2 ** (u + 1) <= MAX_UPSAMPLED or (u == 0 and 4 * H * W <= MAX_UPSAMPLED_PIXELS)
                if (scores >= MIN_SCORE[self.name]).any() or not more:
                    break
                u += 1
            if best is not None:
                boxes, scores = best
        return [Face(b, float(s), dlib_shape(image, b), self.name) for b, s in zip(boxes, scores)]


class _Fan:
    name = "fan"

    def __init__(self, device: str):
        if not models.fan_available():
            raise FileNotFoundError(models.fan_missing_message())
        self.device = device   # the network itself loads on first use

    def detect(self, image: np.ndarray) -> list[Face]:
        with warnings.catch_warnings():           # face_alignment warns "No faces were detected."
            warnings.simplefilter("ignore")
            lms, _, dets = models.fan_model(self.device).get_landmarks_from_image(image, return_bboxes=True)
        if not lms:
            return []
        boxes = np.array([d[:4] for d in dets], np.float32).reshape(-1, 4)
        faces = [Face(boxes[i], float(dets[i][4]), np.asarray(lms[i][:, :2], np.float32), self.name)
                 for i in range(len(lms))]
        return [faces[i] for i in _most_confident_first([f.score for f in faces])]


# ----------------------------------------------------------------------------------------------
# The interface
# ----------------------------------------------------------------------------------------------

class LandmarkDetector:
    """Faces and their 68 landmarks. backend: "auto" (FAN if its weights are cached, else dlib),
    "dlib" or "fan" (raises FileNotFoundError naming the missing weight files).

    upsample (dlib only): image doublings before HOG detection; None = start at 0 and double
    until a face is found or the image side would pass MAX_UPSAMPLED px (one doubling is always tried
    within MAX_UPSAMPLED_PIXELS: finds small faces in small images at little cost, and in photos).
    Models load on first use.
    """

    def __init__(self, backend: str = "auto", *, upsample: int | None = None, device: str = "cpu"):
        if backend not in BACKENDS:
            raise ValueError(f"unknown landmark backend {backend!r}; choose one of {BACKENDS}")
        if backend == "auto":
            backend = "fan" if models.fan_available() else "dlib"
            log.debug("landmark backend: %s", backend)
        self._impl = _Fan(device) if backend == "fan" else _Dlib(upsample)

    @property
    def backend(self) -> str:
        """The backend in use: "dlib" or "fan"."""
        return self._impl.name

    def detect(self, image, *, name: str | None = None) -> list[Face]:
        """Every detection in `image` (see :func:`labkit.faces.image.as_rgb`), most confident first,
        including those below MIN_SCORE (:meth:`find` drops them)."""
        return self._impl.detect(as_rgb(image, name=name))

    def faces(self, image, *, name: str | None = None, min_score: float | None = None) -> list[Face]:
        """The faces in `image` scoring at least `min_score` (default MIN_SCORE of the backend), numbered
        left to right (by the centre of the box): the order ``face_index`` and ``labkit faces`` use."""
        return _left_to_right(self.detect(image, name=name), self._floor(min_score))

    def _floor(self, min_score: float | None) -> float:
        return MIN_SCORE[self.backend] if min_score is None else float(min_score)

    def find(self, image, *, face_index: int | None = None, name: str | None = None,
             min_box: float = MIN_BOX, min_iod: float = MIN_IOD, min_score: float | None = None) -> Face:
        """The face to use: of the detections scoring at least `min_score` (default MIN_SCORE of the
        backend) numbered left to right, number `face_index`, or by default the largest of those scoring
        at least CONFIDENT_FRACTION of the best (a warning if several are). InputError if
        there is none; a warning if it is smaller than `min_box` px or its eyes are closer than `min_iod` px
        (it is used all the same: the detail it holds is what limits the result)."""
        name = image_name(image, name)
        if face_index is not None and (isinstance(face_index, bool) or not isinstance(face_index, (int, np.integer))):
            raise InputError(f"face_index must be a whole number (faces are numbered left to right from 0), "
                             f"got {face_index!r}")
        rgb = as_rgb(image, name=name)
        floor = self._floor(min_score)
        found = self._impl.detect(rgb)
        faces = _left_to_right(found, floor)
        if not faces:
            hint = (f" (the image is only {rgb.shape[1]}x{rgb.shape[0]} px)" if min(rgb.shape[:2]) < 4 * min_box
                    else "")
            if found:
                best = max(f.score for f in found)
                hint += (f"; {len(found)} face-like region(s) scored at most {best:.2f}, below the "
                         f"detector confidence a face needs ({floor:g})")
            raise InputError(f"no face found in {name}{hint}. A face the detector misses (a painting, a drawing) can "
                             "be given by its 68 iBUG landmarks: labkit animate --points FILE (68 rows x, y), or "
                             "landmarks= in the API")
        if face_index is None:
            confident = _confident(faces)
            face_index = default_face(faces)
            if len(confident) > 1:                     # unsure detections are listed by `labkit faces`, not here
                log.warning("%d faces found in %s; using face %d, the largest (numbered left to right from 0: "
                            "`labkit faces` lists them, --face N or face_index=N picks another)",
                            len(faces), name, face_index)
        if not -len(faces) <= face_index < len(faces):
            raise InputError(f"face_index {face_index} is out of range: {len(faces)} face(s) found in {name}")
        face = faces[face_index]
        if face.size < min_box or face.iod < min_iod:
            log.warning("the face in %s is small (box %.0f px, eyes %.0f px apart; below %.0f px and %.0f px the "
                        "detail it holds limits lips, teeth and eyes); it is animated all the same",
                        name, face.size, face.iod, min_box, min_iod)
        return face


def _left_to_right(faces: list[Face], floor: float) -> list[Face]:
    """The faces scoring at least `floor`, ordered by the centre of their box, left to right."""
    return sorted((f for f in faces if f.score >= floor), key=lambda f: float(f.box[0] + f.box[2]))


def _confident(faces: list[Face]) -> list[int]:
    """Indices of the faces scoring at least CONFIDENT_FRACTION of the best."""
    best = max(f.score for f in faces)
    return [k for k, f in enumerate(faces) if f.score >= CONFIDENT_FRACTION * best]


def default_face(faces: list[Face]) -> int:
    """Which of `faces` is used when none is asked for: the largest of those scoring at least
    CONFIDENT_FRACTION of the best."""
    if not faces:
        raise ValueError("no faces to choose from")
    return max(_confident(faces), key=lambda k: faces[k].size)


@lru_cache(maxsize=4)
def _detector(backend: str) -> LandmarkDetector:
    return LandmarkDetector(backend)


def find_face(image, *, backend: str = "auto", face_index: int | None = None, name: str | None = None) -> Face:
    """The face to use in `image` with a shared, cached detector; see :meth:`LandmarkDetector.find`."""
    return _detector(backend).find(image, face_index=face_index, name=name)


def detect_faces(image: np.ndarray, *, upsample: int = 0) -> np.ndarray:
    """dlib HOG face boxes (N, 4) as (left, top, right, bottom), most confident first. image: (H, W, 3)."""
    return _dlib_run(as_rgb(image), upsample)[0]


def dlib_landmarks(image: np.ndarray, box=None) -> np.ndarray | None:
    """dlib's 68 landmarks (68, 2) of the most confident face (or of `box`); None if no face is found."""
    image = as_rgb(image)
    if box is None:
        boxes = detect_faces(image)
        if len(boxes) == 0:
            return None
        box = boxes[0]
    return dlib_shape(image, box)


def landmark_error_iod(pred: np.ndarray, truth: np.ndarray, points=slice(17, 68)) -> float:
    """Mean point error over `points` (default iBUG 18–68) divided by the inter-ocular distance.
    pred, truth: (L, 2)."""
    iod = np.linalg.norm(truth[IOD_POINTS[0]] - truth[IOD_POINTS[1]])
    return float(np.linalg.norm(pred[points] - truth[points], axis=-1).mean() / iod)
