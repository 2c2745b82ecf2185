"""An invisible, robust provenance watermark carried by every video labkit makes.

The role ``invisible-watermark`` plays for Stable Diffusion XL, written out in numpy. Every
frame carries the same 120-bit payload::

    "labkit" (48-bit magic) | version MAJOR.MINOR.PATCH (3 bytes) | content id (32 bits) | CRC-16 (16 bits)

The CRC-16 (CCITT-FALSE: polynomial 0x1021, register starting at 0xFFFF) covers the version and the
content id: a wrongly decoded id fails it (always for up to two wrong bits or a burst of up to 16,
otherwise but for a chance of about 2^-16), so an id is reported only when it is the one embedded.

Embedding, per frame, on the luma only (the same change is added to R, G and B):
  1. reduce the frame to a GRID x GRID image of area means, whatever its size: rescaling
     barely changes it, and one layout serves 32 to 512+ px, square or not;
  2. cut the grid into 8x8 blocks and take their orthonormal DCTs; the 14 low-frequency AC
     coefficients (1 <= u + v <= 4) of the 16 blocks are 224 *slots*;
  3. quantisation index modulation (QIM, Chen & Wornell 2001): slot k carries bit b by moving
     its coefficient to the nearest point of the lattice STEP * (Z + dither[k] + b / 2); a key
     seeds the dithers and which bit each slot carries;
  4. spread the grid change back to pixels smoothly, P = U (A U)^-1 (U bilinear, A area mean,
     so A P = I: the grid lands exactly on the lattice); two more passes give back what
     clipping at 0 / 255 took away. Since A P = I, a pass needs only the pixels that clip: the
     grid of the marked frame is the frame's own grid, plus the change, plus the area means of
     what clipping lost there. P x = U ((A U)^-1 x) is a 32x32 product, then cv2's bilinear
     resize (U exactly); the area means come from a summed-area table.
The version, content id and CRC (72 bits) go through a K = 7, rate-1/2 convolutional code (156
coded bits, the code of Voyager and 802.11), one slot per coded bit, so a few slots damaged by a
moving mouth under CRF 28 cost no payload bits; the magic takes the other 68 slots (its first 20
bits two each, the others one). A key-seeded permutation spreads both over the 16 blocks.

Detection reduces each frame the same way and scores each slot softly, cos(2 pi (c / STEP -
dither)): +1 on the 0-lattice, -1 on the 1-lattice; the scores are summed over all frames, and
the version, content id and CRC are Viterbi-decoded from the per-bit sums. The mark is found when
at most MAX_MAGIC_ERRORS = 9 of the 68 magic slots disagree, or at most MAX_MAGIC_ERRORS_WITH_ID =
17 and the decoded id passes its CRC. Found with an id that fails its CRC, it reports no id
(``content_id`` None), never a wrong one. Without this watermark the dithers are uniform and
unrelated to the picture, so each slot's sign is an exact fair coin, independent across slots, and
the decoded 72 bits are uniform (the Viterbi decoder commutes with adding a codeword): they pass
the CRC with probability 2^-16, independently of the magic. With B ~ Binomial(68, 1/2), a false
positive has probability, whatever the video,

    P(B <= 9) + P(10 <= B <= 17) 2^-16 = 1.96e-10 + 3.40e-10 = 5.4e-10 per video.
"""
from __future__ import annotations

import hashlib
import logging
import os
import re
import tempfile
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Callable, Iterable

import cv2
import numpy as np
from numba import njit
from scipy.fft import dctn, idctn
from tqdm.auto import tqdm

from labkit.io.video import iter_frames, read_video, video_info, write_video
from labkit.version import __version__

log = logging.getLogger(__name__)

MAGIC = b"labkit"
MAGIC_BITS = 8 * len(MAGIC)                  # 48
PAYLOAD_BITS = MAGIC_BITS + 24 + 32 + 16     # magic, version (3 bytes), content id (4 bytes), CRC-16: 120
MAGIC_SLOTS = 68                             # the slots the coded bits leave to the magic
MAX_MAGIC_ERRORS = 9                         # of the 68 magic slots: found on the magic alone (P = 1.96e-10)
MAX_MAGIC_ERRORS_WITH_ID = 17                # found if the id also passes its CRC (P = 3.40e-10 more)
GRID = 32                                    # frames are reduced to GRID x GRID area means
BLOCK = 8                                    # DCT block size on the grid: (GRID / BLOCK)^2 = 16 blocks
_U, _V = np.array([(u, v) for u in range(BLOCK) for v in range(BLOCK) if 1 <= u + v <= 4]).T  # 14 per block
SLOTS = (GRID // BLOCK) ** 2 * len(_U)       # 224 slots per frame
STEP = 14.0                                  # QIM lattice step on the grid's DCT coefficients (luma units)
KEY = 0x1AB417                               # the public key: seeds the dithers and the slot-to-bit map
MIN_SIDE = GRID                              # at least one pixel per grid cell
LUMA = np.array([0.299, 0.587, 0.114], np.float32)   # BT.601: what yuv420p keeps at full resolution


@dataclass(frozen=True)
class Detection:
    found: bool               # at most MAX_MAGIC_ERRORS wrong magic slots, or MAX_MAGIC_ERRORS_WITH_ID and id_valid
    version: str | None       # labkit version that made the video, when found and id_valid
    content_id: int | None    # the 32-bit content id, when found and id_valid
    id_valid: bool            # the decoded version and content id passed their CRC-16
    magic_errors: int         # magic slots (of MAGIC_SLOTS) whose frame-summed score disagrees
    confidence: float         # mean agreement of the magic slots: 1 exactly on the lattice, ~0 unmarked
    frames: int               # frames whose evidence was summed


# ---------------------------------------------------------------- payload and its code
def content_id_from(*parts: bytes | str) -> int:
    """A 32-bit content id from the inputs of a video (e.g. image bytes, audio bytes, seed)."""
    h = hashlib.sha256()
    for p in parts:
        h.update(p.encode() if isinstance(p, str) else bytes(p))
    return int.from_bytes(h.digest()[:4], "big")


def crc16(data: bytes) -> int:
    """CRC-16/CCITT-FALSE of data: polynomial x^16 + x^12 + x^5 + 1 (0x1021), register starting at 0xFFFF."""
    crc = 0xFFFF
    for byte in data:
        crc ^= byte << 8
        for _ in range(8):
            crc = ((crc << 1) ^ (0x1021 if crc & 0x8000 else 0)) & 0xFFFF
    return crc


def payload_bits(content_id: int, version: str = __version__) -> np.ndarray:
    """The payload as bits (PAYLOAD_BITS,) uint8: magic, version, content id, CRC-16 (big-endian)."""
    if isinstance(content_id, bool) or not isinstance(content_id, (int, np.integer)) or not 0 <= content_id < 2 ** 32:
        raise ValueError(f"content_id must be an int in [0, 2**32), got {content_id!r}")
    m = re.match(r"(\d+)\.(\d+)\.(\d+)", version)
    if not m or any(int(x) > 255 for x in m.groups()):
        raise ValueError(f"version must start MAJOR.MINOR.PATCH with parts <= 255, got {version!r}")
    data = bytes(int(x) for x in m.groups()) + int(content_id).to_bytes(4, "big")
    return np.unpackbits(np.frombuffer(MAGIC + data + crc16(data).to_bytes(2, "big"), np.uint8))


def _read(info: np.ndarray) -> tuple[str, int] | None:
    """(version, content id) from the decoded info bits (72,), or None when the CRC-16 disagrees."""
    data = np.packbits(info).tobytes()                              # version (3 bytes), content id (4), CRC (2)
    if crc16(data[:7]) != int.from_bytes(data[7:], "big"):
        return None
    return ".".join(str(b) for b in data[:3]), int.from_bytes(data[3:7], "big")


_K, _GENERATORS = 7, (0o171, 0o133)                                 # constraint length, generator taps
_STATES = 2 ** (_K - 1)                                             # 64 encoder states
_parity = np.vectorize(lambda x: bin(int(x)).count("1") & 1)
_NEXT = np.arange(_STATES)                                          # for each state the Viterbi enters,
_PREV = np.stack([_NEXT >> 1, (_NEXT >> 1) | _STATES >> 1], 1)      # its two predecessors (64, 2)
_EXPECT = 1 - 2.0 * np.stack([_parity(((_PREV << 1) | (_NEXT[:, None] & 1)) & g) for g in _GENERATORS], -1)
CODED_BITS = 2 * (PAYLOAD_BITS - MAGIC_BITS + _K - 1)              # 156: version, id and CRC, zero tail, rate 1/2
CHANNEL_BITS = MAGIC_BITS + CODED_BITS                             # 204 bits to spread over 224 slots


def _encode(bits: np.ndarray) -> np.ndarray:
    """Convolutional code: info bits (n,) -> coded bits (2 (n + 6),), the register flushed with zeros."""
    reg, out = 0, []
    for b in np.concatenate([bits, np.zeros(_K - 1, np.uint8)]):
        reg = ((reg << 1) | int(b)) & (2 ** _K - 1)
        out += [_parity(reg & g) for g in _GENERATORS]
    return np.array(out, np.uint8)


def _viterbi(soft: np.ndarray) -> np.ndarray:
    """The most likely info bits (n,) given soft coded values (2 (n + 6),), > 0 meaning a 0 bit."""
    metric = np.full(_STATES, -np.inf)
    metric[0] = 0.0                                                 # the encoder starts in state 0 ...
    choices = []
    for pair in soft.reshape(-1, 2):
        cand = metric[_PREV] + _EXPECT @ pair                       # (64, 2): both ways into each state
        choices.append(cand.argmax(1))
        metric = cand.max(1)
    state, bits = 0, []                                             # ... and ends there (the zero tail)
    for choice in reversed(choices):
        bits.append(state & 1)
        state = _PREV[state, choice[state]]
    return np.array(bits[::-1][:-(_K - 1)], np.uint8)


@lru_cache(maxsize=8)
def _layout(key: int) -> tuple[np.ndarray, np.ndarray]:
    """dither (SLOTS,) in [0, 1) and bit_of_slot (SLOTS,): the channel bit each slot carries.

    The 48 magic bits take MAGIC_SLOTS = 68 slots (bits 0..19 two each), the 156 coded bits one each.
    """
    rng = np.random.default_rng(key)
    dither = rng.random(SLOTS).astype(np.float32)
    bits = np.concatenate([np.arange(MAGIC_SLOTS) % MAGIC_BITS, np.arange(MAGIC_BITS, CHANNEL_BITS)])   # (SLOTS,)
    return dither, rng.permutation(bits)


# ---------------------------------------------------------------- frame <-> slots
@lru_cache(maxsize=32)
def _resampling(n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Along an axis of n pixels: A (GRID, n) area means, its taps, and B = (A U)^-1 (GRID, GRID).

    A pixel overlaps at most two cells (n >= GRID): the taps cells (2, n) and weights (2, n) say
    that A[cells[j, x], x] = weights[j, x], A being zero elsewhere. U (n, GRID) is the bilinear
    upsampling that samples the grid at the pixel centres (x + 0.5) GRID / n - 0.5, clamped at
    the borders: cv2.resize's INTER_LINEAR, which applies it. The smooth upsampling is P = U B,
    so A P = I; P x is cv2.resize(B x) (see `_upsample`).
    """
    edges = np.arange(GRID + 1) * n / GRID
    px = np.arange(n)
    overlap = np.minimum(px[None] + 1, edges[1:, None]) - np.maximum(px[None], edges[:-1, None])
    A = np.clip(overlap, 0, None) / (n / GRID)
    g = np.clip((px + 0.5) * GRID / n - 0.5, 0, GRID - 1)            # pixel centres in grid coordinates
    i0 = np.minimum(np.floor(g).astype(int), GRID - 2)
    U = np.zeros((n, GRID))
    U[px, i0], U[px, i0 + 1] = 1 - (g - i0), g - i0                 # bilinear
    B = np.linalg.inv(A @ U)                                         # A U is well conditioned (eigenvalues >= 1/2)
    first = np.argmax(A > 0, axis=0)                                 # the first cell each pixel overlaps ...
    second = np.minimum(first + 1, GRID - 1)                         # ... and the next, if it has one
    weights = np.stack([A[first, px], np.where(second > first, A[second, px], 0)])
    return A.astype(np.float32), np.stack([first, second]), weights.astype(np.float32), B.astype(np.float32)


@lru_cache(maxsize=32)
def _cell_edges(n: int) -> tuple[np.ndarray, np.ndarray]:
    """The GRID + 1 cell edges e = k n / GRID along an axis of n pixels as (i, f): e = i + f, 0 <= i < n, f <= 1."""
    edges = np.arange(GRID + 1) * n / GRID
    i = np.minimum(np.floor(edges).astype(int), n - 1)
    return i, edges - i


def _grid(frame: np.ndarray) -> np.ndarray:
    """Luma area means (GRID, GRID) of a frame (H, W, 3) uint8, A_h Y A_w^T, from its summed-area table.

    The table S[y, x] sums the pixels above and left of the corner (y, x); the integral of the
    frame over [0, y) x [0, x) is bilinear between corners, so a cell's sum is the second
    difference of S read bilinearly at the cell's corners: exact for any size, in one pass.
    """
    H, W = frame.shape[:2]
    (iy, fy), (ix, fx) = _cell_edges(H), _cell_edges(W)
    depth = cv2.CV_32S if 255 * H * W < 2 ** 31 else cv2.CV_64F     # exact sums
    S = cv2.integral(np.ascontiguousarray(frame), sdepth=depth)      # (H + 1, W + 1, 3)
    s = S[np.r_[iy, iy + 1][:, None], np.r_[ix, ix + 1]] @ LUMA.astype(np.float64)      # (2 (GRID + 1),) * 2 luma sums
    e = GRID + 1
    rows = s[:e] + fy[:, None] * (s[e:] - s[:e])                     # at the cell edges down ...
    corners = rows[:, :e] + fx * (rows[:, e:] - rows[:, :e])         # ... and across: (GRID + 1, GRID + 1)
    return (np.diff(np.diff(corners, axis=0), axis=1) * (GRID * GRID / (H * W))).astype(np.float32)


def _upsample(knots: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """U_h knots U_w^T (H, W): the bilinear upsampling U of knots (GRID, GRID); P x = U (B x)."""
    H, W = size
    return cv2.resize(knots, (W, H), interpolation=cv2.INTER_LINEAR)


def _slots(grid: np.ndarray) -> np.ndarray:
    """The slot coefficients (SLOTS,) of a grid (GRID, GRID): low-frequency terms of 8x8 block DCTs."""
    nb = GRID // BLOCK
    blocks = grid.reshape(nb, BLOCK, nb, BLOCK).transpose(0, 2, 1, 3)       # (4, 4, 8, 8): block row, col, y, x
    return dctn(blocks, axes=(2, 3), norm="ortho")[:, :, _U, _V].reshape(-1)


def _unslots(c: np.ndarray) -> np.ndarray:
    """The grid (GRID, GRID) whose slot coefficients are c (SLOTS,) and all other coefficients 0."""
    nb = GRID // BLOCK
    coef = np.zeros((nb, nb, BLOCK, BLOCK), np.float32)
    coef[:, :, _U, _V] = c.reshape(nb, nb, -1)
    return idctn(coef, axes=(2, 3), norm="ortho").transpose(0, 2, 1, 3).reshape(GRID, GRID)


@njit(cache=True)
def _near_clipping(frame: np.ndarray, reach: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The only pixels of a frame (H, W, 3) uint8 that a luma change of less than `reach` levels
    can clip, those with a channel below reach or above 255 - reach: their flat indices y W + x
    (K,), ascending, and their channel min and max lo, hi (K,)."""
    H, W, _ = frame.shape
    rgb = frame.reshape(H * W, 3)
    idx, lo, hi = np.empty(H * W, np.int64), np.empty(H * W, np.uint8), np.empty(H * W, np.uint8)
    k = 0
    for p in range(H * W):
        darkest, brightest = min(rgb[p, 0], rgb[p, 1], rgb[p, 2]), max(rgb[p, 0], rgb[p, 1], rgb[p, 2])
        if darkest < reach or brightest > 255 - reach:
            idx[k], lo[k], hi[k] = p, darkest, brightest
            k += 1
    return idx[:k], lo[:k], hi[:k]


@njit(cache=True)
def _clipped_rows(frame: np.ndarray, near: tuple[np.ndarray, np.ndarray, np.ndarray], delta: np.ndarray,
                  cells_w: np.ndarray, weights_w: np.ndarray) -> np.ndarray:
    """L A_w^T (H, GRID), L (H, W) the luma that clipping to [0, 255] takes from frame + delta.

    frame (H, W, 3) uint8, delta (H, W) float32; near from `_near_clipping`, the only pixels that
    can clip; the taps (cells, weights) of A_w from `_resampling`. A_h L A_w^T are its area means.
    """
    H, W, _ = frame.shape
    rgb, d_of = frame.reshape(H * W, 3), delta.reshape(H * W)
    idx, lo, hi = near
    rows = np.zeros((H, GRID), np.float32)
    y = 0
    for k in range(len(idx)):
        p = idx[k]
        d = d_of[p]
        if lo[k] + d >= 0 and hi[k] + d <= 255:
            continue                                                 # no channel clips
        lost = np.float32(0)
        for ch in range(3):
            v = np.float32(rgb[p, ch]) + d
            lost += LUMA[ch] * (min(max(v, np.float32(0)), np.float32(255)) - v)
        while p >= (y + 1) * W:                                      # idx ascends: p is in row y
            y += 1
        x = p - y * W
        rows[y, cells_w[0, x]] += weights_w[0, x] * lost
        rows[y, cells_w[1, x]] += weights_w[1, x] * lost
    return rows


def compile_kernels() -> None:
    """Compile (or load from numba's cache) the clipping kernels now rather than on the first frame marked."""
    Watermark(0).embed_frame(np.zeros((MIN_SIDE, MIN_SIDE, 3), np.uint8))     # black: every pixel can clip


def _check_frame(frame: np.ndarray) -> None:
    if not isinstance(frame, np.ndarray) or frame.ndim != 3 or frame.shape[-1] != 3 or frame.dtype != np.uint8:
        raise ValueError(f"a frame must be (H, W, 3) uint8, got {getattr(frame, 'shape', type(frame))} "
                         f"{getattr(frame, 'dtype', '')}")
    if min(frame.shape[:2]) < MIN_SIDE:
        raise ValueError(f"frames must be at least {MIN_SIDE} px on each side, got {frame.shape[1]}x{frame.shape[0]}")


# ---------------------------------------------------------------- embed
class Watermark:
    """Marks frames with labkit's payload: ``Watermark(content_id).embed(frames)``.

    `step` is the QIM lattice step in luma units: larger is more robust and more visible (14
    gives ~42 dB PSNR). Detect with the same step and key. Frames are marked independently, so
    `embed_frame` suits streaming.
    """

    def __init__(self, content_id: int, *, step: float = STEP, key: int = KEY, version: str = __version__,
                 passes: int = 3):
        if not step > 0:
            raise ValueError(f"step must be positive, got {step}")
        if passes < 1:
            raise ValueError(f"passes must be >= 1, got {passes}")
        payload = payload_bits(content_id, version)
        channel = np.concatenate([payload[:MAGIC_BITS], _encode(payload[MAGIC_BITS:])])   # (CHANNEL_BITS,)
        dither, bit_of_slot = _layout(key)
        self.content_id, self.version, self.step, self.passes = int(content_id), version, float(step), passes
        self._offset = dither + channel[bit_of_slot] / 2             # slot k's lattice: step * (Z + offset[k])

    def embed_frame(self, frame: np.ndarray) -> np.ndarray:
        """Watermark one frame (H, W, 3) uint8 -> (H, W, 3) uint8."""
        _check_frame(frame)
        frame = np.ascontiguousarray(frame)
        size = frame.shape[:2]
        (A_h, _, _, B_h), (_, *taps_w, B_w) = _resampling(size[0]), _resampling(size[1])
        grid = _grid(frame)                                          # (GRID, GRID)
        c = _slots(grid)                                             # (SLOTS,)
        target = self.step * (np.round(c / self.step - self._offset) + self._offset)   # nearest lattice point
        change = _unslots(target - c)                                # pass 1: exact where nothing clips
        lo, hi = cv2.minMaxLoc(frame.reshape(size[0], -1))[:2]       # the frame's darkest and brightest channel
        near, near_reach = None, -1
        for _ in range(self.passes - 1):                             # the others give back what clipping took
            knots = B_h @ change @ B_w.T                             # P change = U knots: a convex mix of knots,
            reach = int(np.abs(knots).max()) + 1                     # so no pixel changes by reach or more
            if lo >= reach and hi <= 255 - reach:
                break                                                # nothing can clip
            if reach > near_reach:
                near, near_reach = _near_clipping(frame, reach), reach
            rows = _clipped_rows(frame, near, _upsample(knots, size), *taps_w)
            if not rows.any():
                break
            change += _unslots(target - _slots(grid + change + A_h @ rows))
        delta = _upsample(B_h @ change @ B_w.T, size)                # luma change (H, W), rounded to whole levels
        up = cv2.convertScaleAbs(cv2.threshold(delta, 0, 0, cv2.THRESH_TOZERO)[1])       # rint(max(delta, 0))
        down = cv2.convertScaleAbs(cv2.threshold(delta, 0, 0, cv2.THRESH_TOZERO_INV)[1])  # rint(max(-delta, 0))
        rgb = cv2.COLOR_GRAY2RGB                                     # the same change on R, G and B, saturating
        return cv2.subtract(cv2.add(frame, cv2.cvtColor(up, rgb)), cv2.cvtColor(down, rgb))

    def embed(self, frames: np.ndarray) -> np.ndarray:
        """Watermark a clip (T, H, W, 3) uint8 -> (T, H, W, 3) uint8."""
        if not isinstance(frames, np.ndarray) or frames.ndim != 4:
            raise ValueError(f"frames must be (T, H, W, 3) uint8, got {getattr(frames, 'shape', type(frames))}")
        return np.stack([self.embed_frame(f) for f in frames]) if len(frames) else frames.copy()


# ---------------------------------------------------------------- detect
def detect(frames: np.ndarray | Iterable[np.ndarray], *, step: float = STEP, key: int = KEY) -> Detection:
    """Look for the watermark in frames (T, H, W, 3) uint8, or an iterable of (H, W, 3) uint8 frames
    (sizes may differ). Slot scores are summed over all frames before any decision."""
    if isinstance(frames, np.ndarray) and frames.ndim != 4:
        raise ValueError(f"frames must be (T, H, W, 3) uint8 or an iterable of (H, W, 3) frames, got {frames.shape}")
    dither, bit_of_slot = _layout(key)
    score, T = np.zeros(SLOTS), 0                                    # per slot: > 0 leans to bit 0
    for frame in frames:
        _check_frame(frame)
        score += np.cos(2 * np.pi * (_slots(_grid(frame)) / step - dither))
        T += 1
    if T == 0:
        raise ValueError("no frames to look for a watermark in")
    magic = np.unpackbits(np.frombuffer(MAGIC, np.uint8))
    is_magic = bit_of_slot < MAGIC_BITS
    agree = (1 - 2.0 * magic[bit_of_slot[is_magic]]) * score[is_magic] / T     # (MAGIC_SLOTS,) in [-1, 1]
    errors = int((agree < 0).sum())
    read = None
    if errors <= MAX_MAGIC_ERRORS_WITH_ID:
        coded = np.bincount(bit_of_slot, weights=score, minlength=CHANNEL_BITS)[MAGIC_BITS:]
        read = _read(_viterbi(coded))                                # version, content id; None if the CRC fails
    found = errors <= MAX_MAGIC_ERRORS or read is not None           # a weaker magic counts with a valid id
    version, cid = read or (None, None)
    return Detection(found, version, cid, read is not None, errors, float(agree.mean()), T)


def verify(path: str | os.PathLike, *, max_frames: int = 250, step: float = STEP, key: int = KEY) -> Detection:
    """Detect the watermark in a video file, from at most `max_frames` frames spread evenly over it."""
    n = video_info(path)["frames"] or max_frames                    # 0 when the container does not say
    keep = set(np.linspace(0, n - 1, min(n, max_frames)).round().astype(int).tolist())
    return detect((f for k, (_, f) in enumerate(iter_frames(path)) if k in keep), step=step, key=key)


# ---------------------------------------------------------------- attacks and measurement
def h264(frames: np.ndarray, *, crf: int, fps: float = 25.0) -> np.ndarray:
    """An H.264 round trip through labkit's writer (yuv420p, preset medium): (T, H, W, 3) uint8."""
    with tempfile.TemporaryDirectory() as tmp:
        return read_video(write_video(Path(tmp) / "clip.mp4", frames, fps, crf=crf))[0]


def half_size(frames: np.ndarray) -> np.ndarray:
    """Downscale (T, H, W, 3) uint8 by 2 with 2x2 area means (cropped to even H.264 sizes)."""
    T, H, W, C = frames.shape
    h, w = H // 4 * 2, W // 4 * 2
    x = frames[:, :2 * h, :2 * w].reshape(T, h, 2, w, 2, C).astype(np.float32).mean((2, 4))
    return np.rint(x).astype(np.uint8)


ATTACKS: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "none": lambda f: f,
    "crf18": lambda f: h264(f, crf=18),                 # what labkit's own writer does
    "crf23": lambda f: h264(f, crf=23),
    "crf28": lambda f: h264(f, crf=28),
    "crf30": lambda f: h264(f, crf=30),
    "half": lambda f: h264(half_size(f), crf=23),       # 0.5x area downscale, then re-encoded
}


def robustness(marked_clips: Iterable[np.ndarray], clean_clips: Iterable[np.ndarray], *,
               attacks: tuple[str, ...] = ("crf23", "crf28", "half"), content_ids: Iterable[int] | None = None,
               lengths: tuple[int | None, ...] = (None,), step: float = STEP, key: int = KEY,
               progress: bool = False) -> dict:
    """How often the mark is found after each attack, and whether it then gives the right content id.

    Clips are (T, H, W, 3) uint8, taken one at a time (generators keep memory flat). Each clip is
    measured on its first n frames for every n in `lengths` (None: the whole clip), so one long
    clip also gives the shorter ones; each cut is attacked on its own. `content_ids` gives one id
    per marked clip. Returns {"clips", "clean_clips", "rows"}, a row per (length, attack):
      frames, attack      the cut (None: whole clips) and the attack;
      detected            rate of marked clips where the mark is found (see detect);
      id_correct          rate whose content id decodes to the clip's own (nan without content_ids);
      wrong_id            rate that report another id, which the CRC should make 0 (nan without ids);
      unreadable          rate found but with an id failing its CRC;
      false_positive      rate of clean clips where it is found;
      confidence, magic_errors              mean confidence and most magic errors over marked clips;
      clean_confidence, clean_magic_errors  highest confidence and fewest magic errors over clean clips.
    """
    bad = [a for a in attacks if a not in ATTACKS]
    if bad or not attacks:
        raise ValueError(f"unknown attacks {bad}; choose from {tuple(ATTACKS)}")
    ids = None if content_ids is None else iter(content_ids)
    cells = [(n, a) for n in lengths for a in attacks]
    seen = {kind: {c: [] for c in cells} for kind in ("marked", "clean")}   # (Detection, true id) per cell
    for kind, clips in (("marked", marked_clips), ("clean", clean_clips)):
        if progress:
            clips = tqdm(clips, desc=f"{kind} clips", unit="clip")
        for clip in clips:
            clip = np.asarray(clip)
            if len(clip) < max((n or 0) for n in lengths):
                raise ValueError(f"a clip of {len(clip)} frames is shorter than the lengths {lengths}")
            want = next(ids) if kind == "marked" and ids is not None else None
            for n, a in cells:
                seen[kind][n, a].append((detect(ATTACKS[a](clip[:n]), step=step, key=key), want))

    def stat(f, xs, known=True):
        return float(f(xs)) if xs and known else float("nan")

    rows = []
    for n, a in cells:
        m, c = seen["marked"][n, a], seen["clean"][n, a]
        rows.append({
            "frames": n, "attack": a,
            "detected": stat(np.mean, [d.found for d, _ in m]),
            "id_correct": stat(np.mean, [d.content_id == w for d, w in m], ids is not None),
            "wrong_id": stat(np.mean, [d.id_valid and d.content_id != w for d, w in m], ids is not None),
            "unreadable": stat(np.mean, [d.found and not d.id_valid for d, _ in m]),
            "false_positive": stat(np.mean, [d.found for d, _ in c]),
            "confidence": stat(np.mean, [d.confidence for d, _ in m]),
            "magic_errors": stat(np.max, [d.magic_errors for d, _ in m]),
            "clean_confidence": stat(np.max, [d.confidence for d, _ in c]),
            "clean_magic_errors": stat(np.min, [d.magic_errors for d, _ in c])})
    out = {"clips": len(seen["marked"][cells[0]]), "clean_clips": len(seen["clean"][cells[0]]), "rows": rows}
    log.info("watermark robustness: %s", out)
    return out
