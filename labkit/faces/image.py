"""Images in: whatever a user hands us becomes one (H, W, 3) uint8 RGB array, or a clear error.

Every face function calls :func:`as_rgb` first, so they all accept the same inputs:
- (H, W, 3) uint8 RGB -- the canonical form, returned as is (made contiguous);
- (H, W) or (H, W, 1) grayscale -- replicated to three channels;
- (H, W, 4) RGBA -- composited onto `background` (default: neutral grey), so a transparent
  background neither turns black nor shows the colours hidden under alpha 0;
- float images with values in [0, 1] -- scaled to 0..255 and rounded;
- other integer images with values in 0..255, and uint16 (scaled by 1/257);
- a path to an image file, read with Pillow: the EXIF orientation is applied (a phone photo
  taken upright comes out upright), and a truncated or damaged file is refused rather than
  filled with grey.
Anything else raises :class:`labkit.io.errors.InputError` naming the image.
"""
from __future__ import annotations

import os
import warnings
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from labkit.io.errors import InputError

MIN_SIDE = 16                     # px: anything smaller cannot hold a usable face
BACKGROUND = (128, 128, 128)      # what transparent pixels are composited onto (RGB)
MAX_PIXELS = 100_000_000          # larger files are refused (Pillow's decompression-bomb guard is 179 M)


def image_name(image, name: str | None) -> str:
    """The name used in error messages: `name`, else a file's name, else "image"."""
    if name is not None:
        return name
    if isinstance(image, (str, os.PathLike)):
        return Path(image).name
    return "image"


def as_rgb(image, *, name: str | None = None, background=None) -> np.ndarray:
    """Validate and convert `image` (see the module docstring) to (H, W, 3) uint8 RGB.

    background: RGB (3 values 0..255) behind transparent pixels; default BACKGROUND."""
    name = image_name(image, name)
    background = _background(BACKGROUND if background is None else background)
    if isinstance(image, (str, os.PathLike)):
        image = _read(Path(image))
    if not isinstance(image, np.ndarray):
        raise InputError(f"{name}: expected an image array (H, W, 3), got {type(image).__name__}")
    if image.dtype == bool or not (np.issubdtype(image.dtype, np.integer) or np.issubdtype(image.dtype, np.floating)):
        raise InputError(f"{name}: expected a numeric image (uint8, or float in [0, 1]), got dtype {image.dtype}")
    if image.ndim == 3 and image.shape[-1] == 1:
        image = image[..., 0]
    if image.ndim == 2:
        image = np.repeat(image[..., None], 3, axis=-1)                 # grayscale -> RGB
    if image.ndim != 3 or image.shape[-1] not in (3, 4):
        raise InputError(f"{name}: expected an image of shape (H, W), (H, W, 3) or (H, W, 4), got {image.shape}")
    if min(image.shape[:2]) < MIN_SIDE:
        raise InputError(f"{name}: image is {image.shape[1]}x{image.shape[0]} px, too small to hold a face")
    image = _to_uint8(image, name)
    if image.shape[-1] == 4:
        image = _composite(image, background)
    return np.ascontiguousarray(image)


def _to_uint8(image: np.ndarray, name: str) -> np.ndarray:
    if image.dtype == np.uint8:
        return image
    if np.issubdtype(image.dtype, np.floating):
        if not np.isfinite(image).all():
            raise InputError(f"{name}: float image has non-finite values")
        lo, hi = float(image.min()), float(image.max())
        if lo < 0.0 or hi > 1.0:
            raise InputError(f"{name}: float images must hold values in [0, 1], got [{lo:.4g}, {hi:.4g}]; "
                             "pass uint8 for 0..255 data")
        return np.round(image * 255.0).astype(np.uint8)
    if image.dtype == np.uint16:
        return np.round(image / 257.0).astype(np.uint8)
    lo, hi = int(image.min()), int(image.max())
    if lo < 0 or hi > 255:
        raise InputError(f"{name}: integer images must hold values in 0..255, got {lo}..{hi}")
    return image.astype(np.uint8)


def _background(background) -> np.ndarray:
    """The colour behind transparent pixels as (3,) float32 RGB, checked even when the image has no alpha."""
    try:
        bg = np.asarray(background, np.float32).reshape(-1)
    except (TypeError, ValueError, OverflowError):     # a string, a dict, a ragged list, 10**400, ...
        bg = np.zeros(0, np.float32)
    if bg.shape != (3,) or not np.isfinite(bg).all() or bg.min() < 0 or bg.max() > 255:
        raise InputError(f"background must be three values R, G, B in 0..255, got {background!r}")
    return bg


def _composite(rgba: np.ndarray, bg: np.ndarray) -> np.ndarray:
    """(H, W, 4) uint8 → (H, W, 3) uint8 over a flat background colour bg (3,)."""
    alpha = rgba[..., 3:].astype(np.float32) / 255.0
    if alpha.min() == 1.0:
        return rgba[..., :3]
    out = rgba[..., :3].astype(np.float32) * alpha + bg * (1.0 - alpha)
    return np.round(out).astype(np.uint8)


def _read(path: Path) -> np.ndarray:
    """An image file → (H, W, 3|4) uint8 or (H, W) uint8/uint16, upright (EXIF orientation applied)."""
    if not path.exists():
        raise FileNotFoundError(f"no image file at {path}")
    if not path.is_file():
        raise InputError(f"{path}: not a file")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            # From a file object, not a path: Pillow memory-maps an uncompressed TIFF opened by path
            # and lays its pixels out in the orientation-swapped size, scrambling orientations 5..8.
            with open(path, "rb") as f, Image.open(f) as im:
                if im.width * im.height > MAX_PIXELS:
                    raise InputError(f"{path.name}: {im.width}x{im.height} px is larger than labkit reads "
                                     f"({MAX_PIXELS / 1e6:.0f} Mpx); downscale it first")
                im.load()                              # decodes now: a truncated file fails here, not later
                im = ImageOps.exif_transpose(im)
                return _pixels(im)
    except InputError:
        raise
    except UnidentifiedImageError:
        raise InputError(f"{path.name}: Pillow cannot read this file as an image "
                         "(it reads jpg, png, webp, bmp, tiff, ...)") from None
    except (OSError, SyntaxError, ValueError, EOFError, Image.DecompressionBombWarning,
            Image.DecompressionBombError) as e:
        raise InputError(f"{path.name}: the image is damaged or truncated and cannot be decoded ({e})") from None


def _pixels(im: Image.Image) -> np.ndarray:
    """A decoded Pillow image → a numpy array :func:`as_rgb` takes, keeping transparency and 16-bit depth."""
    if im.mode in ("RGBA", "LA", "PA") or (im.mode == "P" and "transparency" in im.info):
        return np.asarray(im.convert("RGBA"))
    if im.mode in ("I;16", "I;16B", "I;16L", "I"):                     # 16-bit grayscale (PNG, TIFF)
        return np.clip(np.asarray(im, np.int64), 0, 65535).astype(np.uint16)
    if im.mode == "RGB":
        return np.asarray(im)
    return np.asarray(im.convert("RGB"))
