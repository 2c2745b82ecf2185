"""Video files in and out (PyAV): any container FFmpeg reads (mp4, mov, webm, …) in, frames with
their timestamps and the audio track; H.264 frames with AAC speech in one mp4 out.

Every file labkit writes carries a provenance tag in the container metadata
(``comment``: "made with labkit … synthetic"), so synthetic media are labelled as such.

PyAV is imported where a file is opened, so that importing labkit (SynthTalk, the trainers) does
not need it.
"""
from __future__ import annotations

import os
from fractions import Fraction
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

from labkit.io.atomic import check_output, partial_path, publish
from labkit.version import __version__

PROVENANCE = f"made with labkit {__version__}: synthetic media, not a recording of a real person"


class VideoWriter:
    """An H.264 (+ AAC) mp4 written frame by frame, so a stream of any length keeps memory flat.

    ``with VideoWriter(path, fps, size=(H, W), sample_rate=sr) as w: w.write(frames); w.write_audio(chunk)``.
    The file is written to a partial file unique to this writer beside `path` and published when
    the block ends without an error (:mod:`labkit.io.atomic`: no-clobber at that moment unless
    `overwrite`); on an error or an interrupt the partial file is removed, so a failed run leaves
    nothing behind. An existing file is an error unless `overwrite` (checked before anything is
    written, and again when publishing).
    """

    def __init__(self, path: str | os.PathLike, fps: float, *, size: tuple[int, int], sample_rate: int | None = None,
                 crf: int = 18, overwrite: bool = False, metadata: dict[str, str] | None = None):
        self.path = Path(path)
        H, W = size
        if H % 2 or W % 2:
            raise ValueError(f"H.264 needs even frame sizes, got {W}x{H}")
        check_output(self.path, overwrite=overwrite)
        if not self.path.parent.is_dir():
            raise FileNotFoundError(f"the output folder {self.path.parent} does not exist")
        self.size, self.frames, self.samples, self.overwrite = (H, W), 0, 0, overwrite
        self.rate = Fraction(fps).limit_denominator(1001)
        import av

        self._tmp = partial_path(self.path)
        try:
            self._box = av.open(str(self._tmp), "w", format="mp4")
        except BaseException:
            self._tmp.unlink(missing_ok=True)
            raise
        self._box.metadata["comment"] = PROVENANCE
        for k, v in (metadata or {}).items():
            self._box.metadata[k] = v
        self._video = self._box.add_stream("libx264", rate=self.rate)
        self._video.width, self._video.height, self._video.pix_fmt = W, H, "yuv420p"
        self._video.options = {"crf": str(crf), "preset": "medium"}
        self._audio = None
        if sample_rate:
            self._audio = self._box.add_stream("aac", rate=int(sample_rate))
            self._audio.layout = "mono"

    def write(self, frames: np.ndarray) -> None:
        """Append frames (T, H, W, 3) or one frame (H, W, 3), uint8 RGB."""
        frames = np.asarray(frames)
        if frames.ndim == 3:
            frames = frames[None]
        if frames.ndim != 4 or frames.shape[1:] != (*self.size, 3) or frames.dtype != np.uint8:
            raise ValueError(f"frames must be (T, {self.size[0]}, {self.size[1]}, 3) uint8, "
                             f"got {frames.shape} {frames.dtype}")
        import av

        for img in frames:
            vf = av.VideoFrame.from_ndarray(img, format="rgb24")
            vf.pts, vf.time_base = self.frames, 1 / self.rate
            self._box.mux(self._video.encode(vf))
            self.frames += 1

    def write_audio(self, audio: np.ndarray) -> None:
        """Append mono audio (S,) float32 in [-1, 1] at the writer's sample rate."""
        if self._audio is None:
            raise ValueError("this writer was opened without a sample_rate: it has no audio track")
        a = np.clip(np.asarray(audio, np.float32), -1, 1)
        if a.ndim != 1:
            raise ValueError(f"audio must be mono (S,), got shape {a.shape}")
        if not len(a):
            return
        sr = self._audio.rate
        import av

        af = av.AudioFrame.from_ndarray(a[None], format="fltp", layout="mono")
        af.sample_rate, af.pts, af.time_base = sr, self.samples, Fraction(1, sr)
        self._box.mux(self._audio.encode(af))
        self.samples += len(a)

    def __enter__(self) -> "VideoWriter":
        return self

    def __exit__(self, kind, error, tb) -> None:
        try:
            if kind is None:
                self._box.mux(self._video.encode())
                if self._audio is not None:
                    self._box.mux(self._audio.encode())
            self._box.close()
            if kind is None:
                publish(self._tmp, self.path, overwrite=self.overwrite)
        finally:
            self._tmp.unlink(missing_ok=True)


def write_video(path: str | os.PathLike, frames: np.ndarray, fps: float, audio: np.ndarray | None = None,
                sample_rate: int | None = None, *, crf: int = 18, overwrite: bool = False,
                metadata: dict[str, str] | None = None, progress: bool = False) -> Path:
    """Write frames (T, H, W, 3) uint8 and optional mono audio (S,) float32 to an H.264/AAC mp4.

    The file appears atomically (written beside it, then renamed); an existing file is
    an error unless `overwrite`. `progress` shows a bar over the frames (long writes).
    """
    frames = np.asarray(frames)
    if frames.ndim != 4 or frames.shape[-1] != 3 or frames.dtype != np.uint8:
        raise ValueError(f"frames must be (T, H, W, 3) uint8, got {frames.shape} {frames.dtype}")
    if audio is not None and not sample_rate:
        raise ValueError("sample_rate is required with audio")
    with VideoWriter(path, fps, size=frames.shape[1:3], sample_rate=sample_rate if audio is not None else None,
                     crf=crf, overwrite=overwrite, metadata=metadata) as w:
        bar = None
        if progress:
            bar = tqdm(total=len(frames), desc=f"write {w.path.name}", unit="frame")
        for k in range(0, len(frames), 25):
            w.write(frames[k:k + 25])
            if bar is not None:
                bar.update(len(frames[k:k + 25]))
        if bar is not None:
            bar.close()
        if audio is not None:
            w.write_audio(audio)
    return Path(path)


def _open(path: Path):
    import av

    if not path.is_file():
        raise FileNotFoundError(f"no video at {path}")
    try:
        box = av.open(str(path), metadata_errors="replace")
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
    import av

    with av.open(str(path), metadata_errors="replace") as box:
        if box.streams.audio:
            st = box.streams.audio[0]
            sr = st.rate
            chunks = [f.to_ndarray().astype(np.float32).mean(0) for f in box.decode(st)]
            audio = np.concatenate(chunks) if chunks else np.zeros(0, np.float32)
            audio = audio[:int(round(len(frames) / fps * sr))]   # AAC pads its last packet
    return frames, fps, audio, sr


def provenance(path: str | os.PathLike) -> str | None:
    """The provenance tag of a file (None if it carries none)."""
    import av

    with av.open(str(path), metadata_errors="replace") as box:
        return box.metadata.get("comment")


def metadata(path: str | os.PathLike) -> dict[str, str]:
    """The container's metadata tags (labkit writes ``comment`` and, for generated videos, ``description``)."""
    with _open(Path(path)) as box:
        return dict(box.metadata)
