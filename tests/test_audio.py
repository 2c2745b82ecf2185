"""Tests for labkit.io.audio: decoding any file, frame-aligned log-mel, streaming, long files."""
import importlib.util
import logging
import sys
import tracemalloc
import types
from fractions import Fraction

import av
import numpy as np
import pytest
import soundfile as sf
from scipy.signal import correlate

from labkit.io.audio import (
    MelFeatures,
    StreamingLogMel,
    frame_count,
    is_silent,
    load_audio,
    log_mel,
    log_mel_file,
    resample_frames,
    wav2vec2_features,
    window_starts,
)

SR = 16000


def tone(seconds, sr, freq=440.0, amp=0.5):
    """(S,) float32 sine."""
    return (amp * np.sin(2 * np.pi * freq * np.arange(round(seconds * sr)) / sr)).astype(np.float32)


def peak_hz(x, sr):
    spectrum = np.abs(np.fft.rfft(x * np.hanning(len(x))))
    return np.argmax(spectrum) * sr / len(x)


def write_av(path, audio, sr, *, codec, fmt, layout="mono", options=None, bit_rate=None):
    """Encode (S,) or (C, S) float audio with PyAV (the encoder converts to its sample format)."""
    planes = np.ascontiguousarray(np.atleast_2d(np.asarray(audio, np.float32)))
    with av.open(str(path), "w", format=fmt, options=options or {}) as box:
        st = box.add_stream(codec, rate=sr)
        st.layout = layout
        if bit_rate:
            st.bit_rate = bit_rate
        frame = av.AudioFrame.from_ndarray(planes, format="fltp", layout=layout)
        frame.sample_rate, frame.pts, frame.time_base = sr, 0, Fraction(1, sr)
        box.mux(st.encode(frame))
        box.mux(st.encode())
    return path


@pytest.fixture(scope="module")
def speech():
    from labkit.synthtalk.speech import Voice, synthesize
    voice = Voice(language="en", variant="m3", rate=170, pitch=50, pitch_range=50)
    return synthesize("The quick brown fox jumps over the lazy dog.", voice, sample_rate=SR).audio


# --- the frame grid -----------------------------------------------------------------

def test_frame_grid_follows_the_video_timing_convention():
    cfg = MelFeatures()
    assert cfg.hop_length == 640
    assert list(window_starts(np.arange(4), cfg)) == [120, 760, 1400, 2040]  # centres 320 + 640 t
    assert frame_count(16000) == 25 and frame_count(16001) == 26 and frame_count(0) == 0
    # 29.97 fps over an hour: the centre of the last frame is still the exact one (no drift)
    cfg = MelFeatures(fps=29.97)
    T = frame_count(3600 * SR, fps=29.97)
    assert T == 107892
    centre = window_starts(np.array([T - 1]), cfg)[0] + cfg.win_length // 2
    assert abs(centre - (T - 0.5) * SR / 29.97) <= 0.5


@pytest.mark.parametrize("fps", [25.0, 30.0, 29.97])
def test_a_click_lands_in_the_frame_it_happens_in(fps):
    cfg = MelFeatures(fps=fps)
    x = np.zeros(SR, np.float32)
    for t in (3, 10, 17):
        x[int(round((t + 0.5) * SR / fps))] = 1.0  # at the frame's centre time
    F = log_mel(x, cfg)
    loud = np.flatnonzero(F.max(1) > np.log(cfg.log_floor) + 1)
    assert list(loud) == [3, 10, 17]


def test_log_mel_shapes_padding_and_pitch():
    x = tone(1.0, SR, freq=1000.0)
    F = log_mel(x)
    assert F.shape == (25, 80) and F.dtype == np.float32
    assert log_mel(x[:641]).shape == (2, 80)
    assert log_mel(np.zeros(0, np.float32)).shape == (0, 80)
    G = log_mel(x, num_frames=30)  # past the audio: zeros, i.e. the log floor
    np.testing.assert_array_equal(G[:24], F[:24])
    np.testing.assert_allclose(G[26:], np.log(1e-5))
    import librosa
    centres = librosa.mel_frequencies(82, fmin=55, fmax=7600)[1:-1]
    assert abs(centres[F[12].argmax()] - 1000) < 60


# --- streaming ------------------------------------------------------------------------

@pytest.mark.parametrize("fps", [25.0, 30.0, 29.97])
@pytest.mark.parametrize("chunks", ["ones", "primes", "random"])
def test_streaming_equals_whole(fps, chunks):
    rng = np.random.default_rng(0)
    cfg = MelFeatures(fps=fps)
    x = (0.1 * rng.standard_normal(4001 if chunks == "ones" else 2 * SR + 333)).astype(np.float32)
    sizes = {"ones": [1], "primes": [2, 3, 5, 7, 13, 101, 641, 1009, 7919],
             "random": list(rng.integers(1, 3000, 50))}[chunks]
    stream, out, i, k = StreamingLogMel(cfg), [], 0, 0
    while i < len(x):
        n = int(sizes[k % len(sizes)])
        got = stream.push(x[i:i + n])
        i, k = i + n, k + 1
        assert got.shape[1] == 80
        assert stream.num_frames == 0 or window_starts(np.array([stream.num_frames - 1]), cfg)[0] + 400 <= i
        out.append(got)
    out.append(stream.flush())
    whole = log_mel(x, cfg)
    streamed = np.concatenate(out)
    assert streamed.shape == whole.shape
    np.testing.assert_allclose(streamed, whole, rtol=0, atol=1e-5)
    assert stream.num_samples == 0  # flush resets for the next utterance


# --- decoding ------------------------------------------------------------------------

@pytest.mark.parametrize("name,subtype,sr,channels", [
    ("u8.wav", "PCM_U8", 16000, 1), ("s16.wav", "PCM_16", 48000, 2), ("s24.wav", "PCM_24", 44100, 1),
    ("s32.wav", "PCM_32", 8000, 2), ("f32.wav", "FLOAT", 22050, 2), ("a.flac", "PCM_16", 48000, 2),
    ("a.ogg", "VORBIS", 44100, 1)])
def test_any_format_rate_and_channels_load_as_16k_mono(tmp_path, name, subtype, sr, channels):
    x = tone(1.5, sr)
    data = np.stack([x, 0.5 * x], 1) if channels == 2 else x
    sf.write(tmp_path / name, data, sr, subtype=subtype)
    y = load_audio(tmp_path / name)
    assert y.dtype == np.float32 and y.shape == (24000,)
    assert abs(peak_hz(y, SR) - 440) < 1
    assert 0.2 < np.abs(y).max() < 0.5 if channels == 2 else 0.45 < np.abs(y).max() < 0.55  # mean of channels


@pytest.mark.parametrize("name,codec,fmt,sr", [
    ("s16.mkv", "pcm_s16le", "matroska", 44100), ("u8.wav", "pcm_u8", "wav", 16000),
    ("a.m4a", "aac", "mp4", 44100), ("a.webm", "libopus", "webm", 48000), ("a.mp3", "libmp3lame", "mp3", 44100)])
def test_containers_and_codecs_through_pyav(tmp_path, name, codec, fmt, sr):
    if codec not in av.codecs_available:
        pytest.skip(f"no {codec} encoder in this PyAV")
    x = tone(1.5, sr)
    write_av(tmp_path / name, np.stack([x, x]), sr, codec=codec, fmt=fmt, layout="stereo")
    y = load_audio(tmp_path / name)
    assert abs(len(y) - 24000) <= 1 and abs(peak_hz(y, SR) - 440) < 1


def test_audio_track_of_a_video(tmp_path):
    from labkit.io.video import write_video
    frames = np.zeros((10, 16, 16, 3), np.uint8)
    write_video(tmp_path / "talk.mp4", frames, 25.0, tone(0.4, SR), SR)
    y = load_audio(tmp_path / "talk.mp4")
    assert abs(len(y) - 6400) <= 1 and abs(peak_hz(y, SR) - 440) < 5
    write_video(tmp_path / "mute.mp4", frames, 25.0)
    with pytest.raises(ValueError, match=r"mute\.mp4 has no audio stream \(streams: video\)"):
        load_audio(tmp_path / "mute.mp4")


# --- bad input ------------------------------------------------------------------------

def test_missing_empty_and_non_audio_files_fail_clearly(tmp_path):
    with pytest.raises(FileNotFoundError, match="no audio file at .*nope.wav"):
        load_audio(tmp_path / "nope.wav")
    with pytest.raises(ValueError, match="is not a file"):
        load_audio(tmp_path)
    (tmp_path / "empty.wav").write_bytes(b"")
    with pytest.raises(ValueError, match=r"empty\.wav is not an audio file \(empty file\)"):
        load_audio(tmp_path / "empty.wav")
    (tmp_path / "notes.wav").write_text("these are my notes, not audio\n" * 30)
    with pytest.raises(ValueError, match=r"notes\.wav is not an audio file \("):
        load_audio(tmp_path / "notes.wav")
    with pytest.raises(ValueError, match=r"notes\.wav is not an audio file"):
        log_mel_file(tmp_path / "notes.wav")


def test_truncated_wav_returns_what_is_there_with_a_warning(tmp_path, caplog):
    sf.write(tmp_path / "a.wav", tone(1.0, SR), SR, subtype="PCM_16")
    data = (tmp_path / "a.wav").read_bytes()
    (tmp_path / "cut.wav").write_bytes(data[:len(data) // 2])
    with caplog.at_level(logging.WARNING, logger="labkit.io.audio"):
        y = load_audio(tmp_path / "cut.wav")
    assert "cut.wav looks truncated" in caplog.text
    assert abs(len(y) - 8000) < 50
    np.testing.assert_allclose(y, tone(1.0, SR)[:len(y)], atol=1e-4)  # what is there is intact
    (tmp_path / "head.wav").write_bytes(data[:30])  # nothing but half a header
    with pytest.raises(ValueError, match=r"head\.wav is not an audio file"):
        load_audio(tmp_path / "head.wav")


@pytest.mark.parametrize("name,codec,fmt,options", [
    ("cut.mp3", "libmp3lame", "mp3", None), ("cut.m4a", "aac", "mp4", {"movflags": "+faststart"})])
def test_truncated_compressed_audio_warns(tmp_path, caplog, name, codec, fmt, options):
    if codec not in av.codecs_available:
        pytest.skip(f"no {codec} encoder in this PyAV")
    write_av(tmp_path / "whole", tone(2.0, SR), SR, codec=codec, fmt=fmt, options=options)
    data = (tmp_path / "whole").read_bytes()
    (tmp_path / name).write_bytes(data[:len(data) // 2])
    with caplog.at_level(logging.WARNING, logger="labkit.io.audio"):
        y = load_audio(tmp_path / name)
    assert f"{name} looks truncated" in caplog.text
    assert 0.3 * 32000 < len(y) < 0.7 * 32000


def test_m4a_cut_before_its_index_is_a_clear_error(tmp_path):
    write_av(tmp_path / "a.m4a", tone(2.0, SR), SR, codec="aac", fmt="mp4")  # moov atom at the end
    data = (tmp_path / "a.m4a").read_bytes()
    (tmp_path / "cut.m4a").write_bytes(data[:len(data) // 2])
    with pytest.raises(ValueError, match=r"cut\.m4a is not an audio file .*too damaged"):
        load_audio(tmp_path / "cut.m4a")


def test_silent_audio_is_returned_with_a_warning(tmp_path, caplog):
    sf.write(tmp_path / "quiet.wav", np.zeros(8000, np.float32), SR)
    with caplog.at_level(logging.WARNING, logger="labkit.io.audio"):
        y = load_audio(tmp_path / "quiet.wav")
        F = log_mel_file(tmp_path / "quiet.wav")
    assert y.shape == (8000,) and not y.any() and F.shape == (13, 80)
    assert caplog.text.count("quiet.wav is silent") == 2
    assert is_silent(np.zeros(10)) and is_silent(np.zeros(0)) and is_silent(tone(1, SR, amp=1e-4))
    assert not is_silent(tone(1, SR, amp=1e-2))
    assert is_silent(tone(1, SR, amp=1e-2), threshold_db=-20)


# --- real speech round trip ------------------------------------------------------------

@pytest.mark.parametrize("name", ["s.wav", "s.flac", "s.ogg", "s.m4a", "s.mp3"])
def test_speech_round_trip(tmp_path, speech, name):
    path = tmp_path / name
    if name.endswith(".m4a"):
        write_av(path, speech, SR, codec="aac", fmt="mp4", bit_rate=64000)
    elif name.endswith(".mp3"):  # 64 kbit/s: lame's default at 16 kHz low-passes and scores only ~0.95
        if "libmp3lame" not in av.codecs_available:
            pytest.skip("no mp3 encoder in this PyAV")
        write_av(path, speech, SR, codec="libmp3lame", fmt="mp3", bit_rate=64000)
    else:
        sf.write(path, speech, SR)
    y = load_audio(path)
    assert abs(len(y) - len(speech)) <= 640
    xc = correlate(y, speech, mode="full", method="fft")
    lag = int(np.argmax(xc)) - (len(speech) - 1)
    assert abs(lag) <= 640, f"{name} is offset by {lag} samples"
    a, b = log_mel(speech), log_mel(y, num_frames=len(log_mel(speech)))
    assert np.corrcoef(a.ravel(), b.ravel())[0, 1] > 0.95
    if name in ("s.wav", "s.flac"):
        np.testing.assert_allclose(y, speech, atol=1e-4)  # lossless


# --- long files -------------------------------------------------------------------------

def test_ten_minutes_in_bounded_memory(tmp_path):
    rng = np.random.default_rng(0)
    S = 10 * 60 * SR
    x = (0.1 * rng.standard_normal(S)).astype(np.float32)
    sf.write(tmp_path / "long.wav", x, SR, subtype="PCM_16")
    waveform_bytes = x.nbytes  # 38.4 MB as float32
    del x
    tracemalloc.start()
    try:
        F = log_mel_file(tmp_path / "long.wav", chunk_seconds=30)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert F.shape == (15000, 80)
    # what remains beside the output (held twice while its pieces are joined) is about a chunk
    working = peak - 2 * F.nbytes
    assert working < 3 * 30 * SR * 4, f"{working / 1e6:.1f} MB beside the features"
    assert peak < waveform_bytes / 2.5, f"peak {peak / 1e6:.1f} MB for a {waveform_bytes / 1e6:.1f} MB waveform"
    np.testing.assert_allclose(F, log_mel(load_audio(tmp_path / "long.wav")), rtol=0, atol=1e-5)


def test_file_features_equal_in_memory_ones_with_resampling(tmp_path):
    x = tone(3.0, 44100) + 0.05 * np.random.default_rng(0).standard_normal(3 * 44100).astype(np.float32)
    write_av(tmp_path / "a.m4a", np.stack([x, x]), 44100, codec="aac", fmt="mp4", layout="stereo")
    cfg = MelFeatures(fps=29.97)
    F = log_mel_file(tmp_path / "a.m4a", cfg, chunk_seconds=0.37)
    np.testing.assert_allclose(F, log_mel(load_audio(tmp_path / "a.m4a"), cfg), rtol=0, atol=1e-4)


# --- wav2vec2 (optional) ---------------------------------------------------------------

def test_wav2vec2_explains_what_is_missing(tmp_path):
    x = tone(1.0, SR)
    with pytest.raises(FileNotFoundError, match=r"config\.json.*huggingface-cli download"):
        wav2vec2_features(x, model_dir=tmp_path / "nowhere")
    (tmp_path / "config.json").write_text("{}")
    with pytest.raises(FileNotFoundError, match=r"model\.safetensors or pytorch_model\.bin"):
        wav2vec2_features(x, model_dir=tmp_path)
    (tmp_path / "model.safetensors").write_bytes(b"")
    if importlib.util.find_spec("transformers") is None:  # not installed here, on purpose
        with pytest.raises(ImportError, match="pip install transformers"):
            wav2vec2_features(x, model_dir=tmp_path)


def test_wav2vec2_loads_locally_and_lands_on_frame_centres(tmp_path, monkeypatch):
    torch = pytest.importorskip("torch")
    calls = {}

    class FakeModel:  # hidden state j = the time of model frame j, so interpolation is checkable
        @classmethod
        def from_pretrained(cls, path, **kwargs):
            calls.update(kwargs, path=path)
            return cls()

        def eval(self):
            return self

        def to(self, device):
            return self

        def __call__(self, x, output_hidden_states):
            n = (x.shape[1] - 400) // 320 + 1
            h = ((320 * torch.arange(n) + 200) / 16000.0)[None, :, None].repeat(1, 1, 4)
            return types.SimpleNamespace(hidden_states=(h * 0, h))

    monkeypatch.setitem(sys.modules, "transformers", types.SimpleNamespace(Wav2Vec2Model=FakeModel))
    (tmp_path / "config.json").write_text("{}")
    (tmp_path / "pytorch_model.bin").write_bytes(b"")
    F = wav2vec2_features(tone(2.0, SR), model_dir=tmp_path, fps=30.0)
    assert calls["local_files_only"] is True and F.shape == (60, 4) and F.dtype == np.float32
    centres = (np.arange(60) + 0.5) / 30
    first, last = 200 / 16000, (320 * 98 + 200) / 16000  # 99 model frames in 2 s
    np.testing.assert_allclose(F[:, 0], np.clip(centres, first, last), atol=1e-6)


def test_resample_frames_is_linear_and_clamps_at_the_edges():
    src = np.array([0.0, 1.0, 2.0])
    h = np.array([[0.0], [10.0], [30.0]])
    out = resample_frames(h, src, np.array([-1.0, 0.5, 1.0, 1.25, 5.0]))
    np.testing.assert_allclose(out[:, 0], [0.0, 5.0, 10.0, 15.0, 30.0])
