"""Where the pretrained face models live, and loading them lazily (once per process).

Nothing here ever downloads. Two sources of weights:

- dlib (always available offline): the ``face-recognition-models`` wheel ships the HOG
  detector's companion models -- the 68-point shape predictor (Kazemi & Sullivan, 2014, trained
  on iBUG 300-W) and the 128-D face recognition ResNet (dlib's ``dlib_face_recognition_resnet_model_v1``,
  a ResNet-34 variant trained with a metric loss, 99.38% on LFW).
- face-alignment (FAN, Bulat & Tzimiropoulos, 2017) with its S3FD face detector: usable only
  when both weight files already sit in torch hub's cache, ``torch.hub.get_dir()/checkpoints``,
  under the file names face-alignment itself downloads them to (see FAN_WEIGHTS).
"""
from __future__ import annotations

import importlib.util
from functools import lru_cache
from pathlib import Path
from urllib.parse import urlparse

import torch

# dlib and face-alignment are imported where a detector is built: they take seconds to load and
# face-alignment is optional.

# The URLs face_alignment 1.5 fetches (face_alignment/api.py `models_urls['2DFAN-4']` and
# face_alignment/detection/sfd/sfd_detector.py `models_urls['s3fd']`); it caches each under
# torch.hub.get_dir()/checkpoints/<basename of the URL> and skips the download if that file exists.
FAN_WEIGHTS = {
    "2DFAN-4": "https://www.adrianbulat.com/downloads/python-fan/2DFAN4-11f355bf06.pth.tar",
    "s3fd": "https://www.adrianbulat.com/downloads/python-fan/s3fd-619a316812.pth",
}
DLIB_FILES = {
    "predictor68": "shape_predictor_68_face_landmarks.dat",
    "recognition": "dlib_face_recognition_resnet_model_v1.dat",
}


# ----------------------------------------------------------------------------------------------
# dlib
# ----------------------------------------------------------------------------------------------

def dlib_model_path(kind: str) -> Path:
    """Path of a dlib model file shipped by face-recognition-models; kind is a key of DLIB_FILES."""
    # find_spec, not import: face_recognition_models' __init__ needs pkg_resources
    spec = importlib.util.find_spec("face_recognition_models")
    if spec is None or not spec.submodule_search_locations:
        raise ImportError("dlib's face models are missing: pip install face-recognition-models")
    path = Path(spec.submodule_search_locations[0]) / "models" / DLIB_FILES[kind]
    if not path.is_file():
        raise FileNotFoundError(f"dlib model file not found at {path}; reinstall face-recognition-models")
    return path


@lru_cache(maxsize=1)
def dlib_detector():
    """dlib's HOG + linear SVM frontal face detector (built into dlib, no file)."""
    import dlib

    return dlib.get_frontal_face_detector()


@lru_cache(maxsize=1)
def dlib_predictor():
    """dlib's 68-point shape predictor (an ensemble of regression trees)."""
    import dlib

    return dlib.shape_predictor(str(dlib_model_path("predictor68")))


@lru_cache(maxsize=1)
def dlib_recognizer():
    """dlib's 128-D face recognition ResNet."""
    import dlib

    return dlib.face_recognition_model_v1(str(dlib_model_path("recognition")))


# ----------------------------------------------------------------------------------------------
# face-alignment (FAN)
# ----------------------------------------------------------------------------------------------

def fan_weight_paths() -> dict[str, Path]:
    """Where face-alignment looks for its weights: {name: path} under torch hub's cache."""
    checkpoints = Path(torch.hub.get_dir()) / "checkpoints"
    return {name: checkpoints / Path(urlparse(url).path).name for name, url in FAN_WEIGHTS.items()}


def missing_fan_weights() -> list[Path]:
    """The FAN weight files that are not on disk (empty: FAN is usable offline)."""
    return [p for p in fan_weight_paths().values() if not p.is_file()]


def fan_available() -> bool:
    """True when FAN and its S3FD detector can be loaded without downloading anything."""
    if importlib.util.find_spec("face_alignment") is None:
        return False
    return not missing_fan_weights()


def fan_missing_message() -> str:
    """A clear error text: which FAN files are missing and how to obtain them."""
    paths = fan_weight_paths()
    missing = missing_fan_weights()
    where = next(iter(paths.values())).parent
    lines = [f"FAN landmarks need face-alignment's weights in torch hub's cache ({where}); missing:"]
    lines += [f"  {p}  (from {FAN_WEIGHTS[n]})" for n, p in paths.items() if p in missing]
    if importlib.util.find_spec("face_alignment") is None:
        lines.append("  and the face-alignment package itself: pip install face-alignment")
    lines.append("Obtain them on a machine with internet, e.g. run once "
                 "`python -c \"import face_alignment as fa; fa.FaceAlignment(fa.LandmarksType.TWO_D, device='cpu')\"` "
                 "(downloads into the same cache), or copy the files above into that folder "
                 "(set TORCH_HOME to use another cache). labkit never downloads; use backend='dlib' meanwhile.")
    return "\n".join(lines)


@lru_cache(maxsize=2)
def fan_model(device: str = "cpu"):
    """face_alignment.FaceAlignment (2D FAN-4 + S3FD), loaded from the local cache only."""
    if not fan_available():
        raise FileNotFoundError(fan_missing_message())
    import face_alignment

    paths = fan_weight_paths()
    # FaceAlignment resolves 2DFAN-4 through load_file_from_url, which returns the cached file
    # without downloading when it exists (checked above); S3FD gets its path explicitly.
    return face_alignment.FaceAlignment(face_alignment.LandmarksType.TWO_D, device=device, flip_input=False,
                                        face_detector="sfd", compile=False,
                                        face_detector_kwargs={"path_to_detector": str(paths["s3fd"])})
