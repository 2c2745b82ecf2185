"""Video containers in: frames with timestamps and the audio track, from mp4, mov and webm."""
from fractions import Fraction

import av
import numpy as np
import pytest

from labkit.io.video import iter_frames, read_video, video_info, write_video


def _write(path, codec, audio_codec, fps=25, T=20, sr=16000):
    """A moving gradient with a 440 Hz tone, in any container PyAV writes."""
    x = np.linspace(0, 255, 64, dtype=np.float32)
    frames = [np.stack([np.roll(np.tile(x, (48, 1)), 3 * t, axis=1)] * 3, -1).astype(np.uint8) for t in range(T)]
    with av.open(str(path), "w") as box:
        vs = box.add_stream(codec, rate=fps)
        vs.width, vs.height, vs.pix_fmt = 64, 48, "yuv420p"
        aus = box.add_stream(audio_codec, rate=48000)
        aus.layout = "mono"
        for t, img in enumerate(frames):
            vf = av.VideoFrame.from_ndarray(img, format="rgb24")
            vf.pts, vf.time_base = t, Fraction(1, fps)
            box.mux(vs.encode(vf))
        box.mux(vs.encode())
        tone = np.sin(2 * np.pi * 440 * np.arange(int(48000 * T / fps)) / 48000).astype(np.float32)[None] * 0.5
        af = av.AudioFrame.from_ndarray(tone, format="fltp", layout="mono")
        af.sample_rate, af.pts, af.time_base = 48000, 0, Fraction(1, 48000)
        for packet in aus.encode(af):
            box.mux(packet)
        box.mux(aus.encode())
    return frames


@pytest.mark.parametrize("name, codec, audio_codec", [("a.mov", "libx264", "aac"), ("a.webm", "libvpx-vp9", "libopus"),
                                                      ("a.mp4", "mpeg4", "aac")])
def test_containers_give_frames_timestamps_and_audio(tmp_path, name, codec, audio_codec):
    path = tmp_path / name
    frames = _write(path, codec, audio_codec)
    info = video_info(path)
    assert info["fps"] == 25 and (info["width"], info["height"]) == (64, 48) and info["has_audio"]
    stamps, decoded = zip(*iter_frames(path))
    assert len(decoded) == len(frames)
    assert np.allclose(stamps, np.arange(len(frames)) / 25, atol=1e-3)
    assert np.abs(np.asarray(decoded, float) - np.asarray(frames, float)).mean() < 12
    _, fps, audio, sr = read_video(path)
    assert fps == 25 and audio is not None and abs(len(audio) - sr * len(frames) / 25) <= sr / 25
    spectrum = np.abs(np.fft.rfft(audio[: sr // 5]))
    assert abs(np.argmax(spectrum) * sr / (sr // 5) - 440) < 10


def test_bad_video_inputs(tmp_path):
    with pytest.raises(FileNotFoundError, match="no video at"):
        video_info(tmp_path / "missing.mp4")
    bad = tmp_path / "bad.mp4"
    bad.write_bytes(b"\x00" * 1000)
    with pytest.raises(ValueError, match="is not a video file"):
        video_info(bad)
    audio_only = tmp_path / "speech.m4a"
    with av.open(str(audio_only), "w") as box:
        s = box.add_stream("aac", rate=16000)
        s.layout = "mono"
        af = av.AudioFrame.from_ndarray(np.zeros((1, 16000), np.float32), format="fltp", layout="mono")
        af.sample_rate, af.pts, af.time_base = 16000, 0, Fraction(1, 16000)
        for p in s.encode(af):
            box.mux(p)
        box.mux(s.encode())
    with pytest.raises(ValueError, match="has no video stream"):
        read_video(audio_only)


def test_long_writes_can_show_progress(tmp_path, capsys):
    write_video(tmp_path / "p.mp4", np.zeros((30, 32, 32, 3), np.uint8), 25, progress=True)
    assert "30/30" in capsys.readouterr().err


def test_pyav_is_needed_only_to_open_files():
    import subprocess
    import sys

    code = ("""
import importlib.abc, sys
class NoPyAV(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path, target=None):
        if name == "av" or name.startswith("av."):
            raise ModuleNotFoundError("No module named 'av'", name="av")
sys.meta_path.insert(0, NoPyAV())
import labkit.io.audio, labkit.bench.inference, labkit.latent.data, labkit.pipeline, labkit.synthtalk
import labkit.latent.train
from labkit.io.video import read_video
try:
    read_video("missing.mp4")
except ModuleNotFoundError as e:
    print("needs", e.name)
""")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-2000:]
    assert r.stdout.strip() == "needs av"
