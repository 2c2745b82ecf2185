"""Images in: whatever a user hands us becomes one (H, W, 3) uint8 RGB array, or a clear error.

Every face function calls :func:`as_rgb` first, so they all accept the same inputs:
- (H, W, 3) uint8 RGB -- the canonical form, returned as is (made contiguous);
- (H, W) or (H, W, 1) grayscale -- replicated to three channels;
- (H, W, 4) RGBA -- alpha dropped;
- float images with values in [0, 1] -- scaled to 0..255 and rounded;
- other integer images with values in 0..255, and uint16 (scaled by 1/257);
- a path to an image file (read with OpenCV, BGR turned into RGB).
"""
from __future__ import annotations

import os
from pathlib import Path

import cv2
import numpy as np

MIN_SIDE = 16   # px: anything smaller cannot hold a usable face


def image_name(image, name: str | None) -> str:
    """The name used in error messages: `name`, else a file's name, else "image"."""
    if name is not None:
        return name
    if isinstance(image, (str, os.PathLike)):
        return Path(image).name
    return "image"


def as_rgb(image, *, name: str | None = None) -> np.ndarray:
    """Validate and convert `image` (see the module docstring) to (H, W, 3) uint8 RGB."""
    name = image_name(image, name)
    if isinstance(image, (str, os.PathLike)):
        image = _read(Path(image))
    if not isinstance(image, np.ndarray):
        raise ValueError(f"{name}: expected an image array (H, W, 3), got {type(image).__name__}")
    if image.dtype == bool or not (np.issubdtype(image.dtype, np.integer) or np.issubdtype(image.dtype, np.floating)):
        raise ValueError(f"{name}: expected a numeric image (uint8, or float in [0, 1]), got dtype {image.dtype}")
    if image.ndim == 3 and image.shape[-1] == 1:
        image = image[..., 0]
    if image.ndim == 2:
        image = np.repeat(image[..., None], 3, axis=-1)                 # grayscale -> RGB
    if image.ndim != 3 or image.shape[-1] not in (3, 4):
        raise ValueError(f"{name}: expected an image of shape (H, W), (H, W, 3) or (H, W, 4), got {image.shape}")
    image = image[..., :3]                                                # RGBA -> RGB
    if min(image.shape[:2]) < MIN_SIDE:
        raise ValueError(f"{name}: image is {image.shape[1]}x{image.shape[0]} px, too small to hold a face")
    if image.dtype == np.uint8:
        return np.ascontiguousarray(image)
    if np.issubdtype(image.dtype, np.floating):
        if not np.isfinite(image).all():
            raise ValueError(f"{name}: float image has non-finite values")
        lo, hi = float(image.min()), float(image.max())
        if lo < 0.0 or hi > 1.0:
            raise ValueError(f"{name}: float images must hold values in [0, 1], got [{lo:.4g}, {hi:.4g}]; "
                             "pass uint8 for 0..255 data")
        return np.ascontiguousarray(np.round(image * 255.0).astype(np.uint8))
    if image.dtype == np.uint16:
        return np.ascontiguousarray(np.round(image / 257.0).astype(np.uint8))
    lo, hi = int(image.min()), int(image.max())
    if lo < 0 or hi > 255:
        raise ValueError(f"{name}: integer images must hold values in 0..255, got {lo}..{hi}")
    return np.ascontiguousarray(image.astype(np.uint8))


def _read(path: Path) -> np.ndarray:
    if not path.is_file():
        raise FileNotFoundError(f"no image file at {path}")
    bgr = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    if bgr is None:
        raise ValueError(f"{path.name}: OpenCV cannot read this file as an image")
    if bgr.ndim == 3:
        bgr = cv2.cvtColor(bgr, cv2.COLOR_BGRA2RGBA if bgr.shape[-1] == 4 else cv2.COLOR_BGR2RGB)
    return bgr
