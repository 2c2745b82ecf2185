"""Offline face landmarks: dlib's HOG face detector and 68-point shape predictor.

The models ship inside the ``face-recognition-models`` wheel, so nothing is downloaded.
Points follow the iBUG-68 order (the same semantics as SynthTalk's ground truth), as (x, y)
pixel coordinates with the centre of pixel (i, j) at (i, j).
"""
from __future__ import annotations

import importlib.util
from functools import lru_cache
from pathlib import Path

import numpy as np

IOD_POINTS = (36, 45)  # outer eye corners (iBUG 37 and 46, 0-based): the 300-W inter-ocular normaliser


def _model_dir() -> Path:
    spec = importlib.util.find_spec("face_recognition_models")
    if spec is None or not spec.submodule_search_locations:
        raise ImportError("dlib's landmark models are missing: pip install face-recognition-models")
    return Path(spec.submodule_search_locations[0]) / "models"


@lru_cache(maxsize=1)
def _dlib():
    import dlib

    predictor = _model_dir() / "shape_predictor_68_face_landmarks.dat"
    if not predictor.is_file():
        raise FileNotFoundError(f"dlib 68-point model not found at {predictor}")
    return dlib.get_frontal_face_detector(), dlib.shape_predictor(str(predictor))


def detect_faces(image: np.ndarray, *, upsample: int = 0) -> np.ndarray:
    """Face boxes (N, 4) as (left, top, right, bottom), largest first. image: (H, W, 3) uint8 RGB."""
    det, _ = _dlib()
    rects = det(np.ascontiguousarray(image), upsample)
    boxes = np.array([[r.left(), r.top(), r.right(), r.bottom()] for r in rects], np.float32).reshape(-1, 4)
    return boxes[np.argsort(-(boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1]))]


def dlib_landmarks(image: np.ndarray, box=None) -> np.ndarray | None:
    """68 landmarks (68, 2) of the largest face (or of `box`), None if no face is found."""
    import dlib

    _, predictor = _dlib()
    if box is None:
        boxes = detect_faces(image)
        if len(boxes) == 0:
            return None
        box = boxes[0]
    shape = predictor(np.ascontiguousarray(image), dlib.rectangle(*(int(round(v)) for v in box)))
    return np.array([[shape.part(k).x, shape.part(k).y] for k in range(68)], np.float32)


def landmark_error_iod(pred: np.ndarray, truth: np.ndarray, points=slice(17, 68)) -> float:
    """Mean point error over `points` (default iBUG 18–68) divided by the inter-ocular distance."""
    iod = np.linalg.norm(truth[IOD_POINTS[0]] - truth[IOD_POINTS[1]])
    return float(np.linalg.norm(pred[points] - truth[points], axis=-1).mean() / iod)
