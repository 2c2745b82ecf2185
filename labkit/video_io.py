"""Video files in and out (PyAV): any container FFmpeg reads (mp4, mov, webm, …) in, frames with
their timestamps and the audio track; H.264 frames with AAC speech in one mp4 out.

Every file labkit writes carries a provenance tag in the container metadata
(``comment``: "made with labkit … synthetic"), so synthetic media are labelled as such.
"""
from __future__ import annotations

import os
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

import labkit

PROVENANCE = f"made with labkit {labkit.__version__}: synthetic media, not a recording of a real person"


def write_video(path: str | os.PathLike, frames: np.ndarray, fps: float, audio: np.ndarray | None = None,
                sample_rate: int | None = None, *, crf: int = 18, overwrite: bool = False,
                metadata: dict[str, str] | None = None, progress: bool = False) -> Path:
    """Write frames (T, H, W, 3) uint8 and optional mono audio (S,) float32 to an H.264/AAC mp4.

    The file appears atomically (written beside it, then renamed); an existing file is
    an error unless `overwrite`. `progress` shows a bar over the frames (long writes).
    """
    path = Path(path)
    frames = np.asarray(frames)
    if frames.ndim != 4 or frames.shape[-1] != 3 or frames.dtype != np.uint8:
        raise ValueError(f"frames must be (T, H, W, 3) uint8, got {frames.shape} {frames.dtype}")
    if frames.shape[1] % 2 or frames.shape[2] % 2:
        raise ValueError(f"H.264 needs even frame sizes, got {frames.shape[2]}x{frames.shape[1]}")
    if audio is not None and not sample_rate:
        raise ValueError("sample_rate is required with audio")
    if path.exists() and not overwrite:
        raise FileExistsError(f"{path} exists; pass overwrite=True to replace it")
    tmp = path.with_name(f".{path.stem}.partial{path.suffix}")
    rate = Fraction(fps).limit_denominator(1001)
    try:
        with av.open(str(tmp), "w", format="mp4") as box:
            box.metadata["comment"] = PROVENANCE
            for k, v in (metadata or {}).items():
                box.metadata[k] = v
            vs = box.add_stream("libx264", rate=rate)
            vs.width, vs.height, vs.pix_fmt = frames.shape[2], frames.shape[1], "yuv420p"
            vs.options = {"crf": str(crf), "preset": "medium"}
            aus = None
            if audio is not None:
                aus = box.add_stream("aac", rate=int(sample_rate))
                aus.layout = "mono"
            steps = enumerate(frames)
            if progress:
                from tqdm.auto import tqdm
                steps = tqdm(steps, total=len(frames), desc=f"write {path.name}", unit="frame")
            for t, img in steps:
                vf = av.VideoFrame.from_ndarray(img, format="rgb24")
                vf.pts = t
                vf.time_base = 1 / rate
                box.mux(vs.encode(vf))
            box.mux(vs.encode())
            if aus is not None:
                a = np.clip(np.asarray(audio, np.float32), -1, 1)[None]
                af = av.AudioFrame.from_ndarray(a, format="fltp", layout="mono")
                af.sample_rate, af.pts, af.time_base = int(sample_rate), 0, Fraction(1, int(sample_rate))
                box.mux(aus.encode(af))
                box.mux(aus.encode())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path


def _open(path: Path):
    if not path.is_file():
        raise FileNotFoundError(f"no video at {path}")
    try:
        box = av.open(str(path))
    except av.error.FFmpegError as e:
        raise ValueError(f"{path} is not a video file ({e})") from e
    if not box.streams.video:
        box.close()
        raise ValueError(f"{path} has no video stream")
    return box


def video_info(path: str | os.PathLike) -> dict:
    """fps, frame size, duration (s) and whether there is an audio track, without decoding."""
    path = Path(path)
    with _open(path) as box:
        vs = box.streams.video[0]
        fps = float(vs.average_rate or vs.guessed_rate or 0)
        duration = float(vs.duration * vs.time_base) if vs.duration else (box.duration or 0) / 1e6
        return {"fps": fps, "width": vs.width, "height": vs.height, "duration": duration,
                "frames": vs.frames or int(round(duration * fps)), "has_audio": bool(box.streams.audio)}


def iter_frames(path: str | os.PathLike):
    """Decode a video lazily: yields (timestamp in seconds, frame (H, W, 3) uint8 RGB)."""
    path = Path(path)
    with _open(path) as box:
        vs = box.streams.video[0]
        vs.thread_type = "AUTO"
        for k, frame in enumerate(box.decode(vs)):
            t = float(frame.pts * frame.time_base) if frame.pts is not None else k / float(vs.average_rate)
            yield t, frame.to_ndarray(format="rgb24")


def read_video(path: str | os.PathLike) -> tuple[np.ndarray, float, np.ndarray | None, int | None]:
    """Read an mp4: frames (T, H, W, 3) uint8, fps, mono audio (S,) float32 or None, sample rate."""
    path = Path(path)
    with _open(path) as box:
        vs = box.streams.video[0]
        fps = float(vs.average_rate or vs.guessed_rate)
        frames = np.stack([f.to_ndarray(format="rgb24") for f in box.decode(vs)])
    audio, sr = None, None
    with av.open(str(path)) as box:
        if box.streams.audio:
            st = box.streams.audio[0]
            sr = st.rate
            chunks = [f.to_ndarray().astype(np.float32).mean(0) for f in box.decode(st)]
            audio = np.concatenate(chunks) if chunks else np.zeros(0, np.float32)
            audio = audio[:int(round(len(frames) / fps * sr))]   # AAC pads its last packet
    return frames, fps, audio, sr


def provenance(path: str | os.PathLike) -> str | None:
    """The provenance tag of a file (None if it carries none)."""
    with av.open(str(path)) as box:
        return box.metadata.get("comment")
