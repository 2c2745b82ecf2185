"""A contact sheet of the whole-photo renderer: what a user's portrait looks like as labkit moves it.

One row per portrait: the output frame whole (the photo at its own size, the moving region outlined),
then close-ups of the face drawn from chosen factors rather than sampled motion, so each column shows
one thing: the photo as given, the mouth half and wide open, lips rounded, a blink, a look aside, a
turned head, and each emotion at full intensity.
"""
from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from labkit.io.atomic import check_output, writing
from labkit.render.photo import PhotoRenderer, fit_photo, region_outline
from labkit.synthtalk.factors import EMOTIONS, factor_row

TILE = 200                 # px: each close-up's side
# (label, factors, emotion): the columns after the whole frame
COLUMNS = (("input", {}, None),
           ("mouth half open", {"jaw": 0.4}, "neutral"),
           ("mouth wide open", {"jaw": 0.8}, "neutral"),
           ("rounded 'oo'", {"jaw": 0.3, "lip_round": 1.0}, "neutral"),
           ("blink", {"blink": 1.0}, "neutral"),
           ("gaze right", {"gaze_yaw": 25.0}, "neutral"),
           ("head turned", {"yaw": 12.0, "pitch": 6.0, "roll": 5.0}, "neutral"),
           *((e, {"emotion_intensity": 1.0}, e) for e in EMOTIONS[1:]))


def _label(tile: np.ndarray, text: str, below: str | None = None) -> np.ndarray:
    out = tile.copy()
    cv2.rectangle(out, (0, 0), (out.shape[1], 22), (255, 255, 255), -1)
    cv2.putText(out, text, (5, 16), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (20, 20, 20), 1, cv2.LINE_AA)
    if below:
        cv2.rectangle(out, (0, out.shape[0] - 20), (out.shape[1], out.shape[0]), (255, 255, 255), -1)
        cv2.putText(out, below, (5, out.shape[0] - 6), cv2.FONT_HERSHEY_SIMPLEX, 0.45, (20, 20, 20), 1, cv2.LINE_AA)
    return out


def portrait_row(photo: np.ndarray, name: str) -> np.ndarray:
    """One row (TILE, W, 3) uint8 of the sheet for `photo` (H, W, 3)."""
    r = PhotoRenderer(fit_photo(photo), backend="dlib", name=name)
    lm = r.landmarks(factor_row()[None])[0]
    iod = float(np.linalg.norm(lm[36] - lm[45]))
    c = lm[17:68].mean(0)
    half = 1.25 * iod                                                # the face with a little margin
    M = np.array([[TILE / (2 * half), 0, TILE / 2 - c[0] * TILE / (2 * half)],
                  [0, TILE / (2 * half), TILE / 2 - c[1] * TILE / (2 * half)]])
    close = lambda frame: cv2.warpAffine(frame, M, (TILE, TILE), flags=cv2.INTER_AREA  # noqa: E731
                                         if half * 2 > TILE else cv2.INTER_CUBIC, borderMode=cv2.BORDER_REPLICATE)
    tiles = []
    whole = r.render_frame(factor_row(jaw=0.4))
    H, W = whole.shape[:2]
    s = TILE / max(H, W)
    thumb = cv2.resize(whole, (round(W * s), round(H * s)), interpolation=cv2.INTER_AREA)
    cv2.polylines(thumb, [np.round(region_outline(r) * s).astype(np.int32)], True, (255, 220, 0), 1, cv2.LINE_AA)
    pad = np.full((TILE, TILE, 3), 255, np.uint8)
    pad[(TILE - thumb.shape[0]) // 2:(TILE - thumb.shape[0]) // 2 + thumb.shape[0],
        (TILE - thumb.shape[1]) // 2:(TILE - thumb.shape[1]) // 2 + thumb.shape[1]] = thumb
    tiles.append(_label(pad, name, f"{W}x{H}, head region outlined"))
    for label, values, emotion in COLUMNS:
        frame = r.photo if emotion is None else r.render_frame(factor_row(**values), EMOTIONS.index(emotion))
        tiles.append(_label(close(frame), label))
    return np.concatenate(tiles, 1)


def contact_sheet(portraits: dict[str, np.ndarray], path: str | Path, *, overwrite: bool = False) -> Path:
    """Write the sheet of `portraits` {name: (H, W, 3) uint8} as a PNG at `path` (atomically; an existing
    file only with `overwrite`)."""
    path = Path(path)
    if path.suffix.lower() != ".png":
        raise ValueError(f"the contact sheet is a .png, got {path.name}")
    check_output(path, overwrite=overwrite)
    sheet = np.concatenate([portrait_row(p, n) for n, p in portraits.items()], 0)
    with writing(path, overwrite=overwrite) as tmp:
        if not cv2.imwrite(str(tmp), sheet[..., ::-1], [cv2.IMWRITE_PNG_COMPRESSION, 9]):
            raise OSError(f"could not write {path}")
    return path
