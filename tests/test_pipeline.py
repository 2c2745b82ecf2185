import tracemalloc

import numpy as np
import pytest
import soundfile as sf

from labkit.cli import main
from labkit.io.audio import frame_count
from labkit.pipeline import (
    FPS,
    SAMPLE_RATE,
    Animator,
    Controls,
    animate,
    choose_renderer,
    chunked,
    default_speech,
    load_speech,
    parse_emotion,
)
from labkit.synthtalk.factors import FACTOR_NAMES


@pytest.fixture(scope="module")
def speech():
    """Two seconds of SynthTalk speech (a test voice) at 16 kHz."""
    from labkit.synthtalk.dataset import split_voices
    from labkit.synthtalk.speech import Voice, synthesize

    voice = Voice(language="en", variant=split_voices("test")[0], rate=170, pitch=50, pitch_range=60)
    audio = synthesize("Open the window and look at the sea.", voice, sample_rate=SAMPLE_RATE).audio
    return audio[:2 * SAMPLE_RATE]


@pytest.fixture(scope="module")
def files(tmp_path_factory, speech):
    import cv2
    from skimage.data import astronaut

    d = tmp_path_factory.mktemp("inputs")
    cv2.imwrite(str(d / "astronaut.png"), cv2.cvtColor(astronaut(), cv2.COLOR_RGB2BGR))
    sf.write(d / "speech.wav", speech, SAMPLE_RATE)
    sf.write(d / "silence.wav", np.zeros(SAMPLE_RATE, np.float32), SAMPLE_RATE)
    (d / "notes.txt").write_text("not an image, not audio")
    return d


@pytest.fixture(scope="module")
def astronaut_video(files):
    return animate(files / "astronaut.png", files / "speech.wav", resolution=128, seed=0)


def test_a_real_photo_talks_with_the_speech_given(astronaut_video, speech):
    v = astronaut_video
    assert v.renderer == "landmarks"
    assert v.frames.shape == (frame_count(len(speech)), 512, 512, 3)   # the whole photo, at its own size
    np.testing.assert_allclose(v.audio, speech, atol=2 / 32768)       # the audio as given (the file is 16-bit)
    jaw = v.motion[:, FACTOR_NAMES.index("jaw")]
    hop = SAMPLE_RATE // int(FPS)
    loud = np.array([np.sqrt(np.mean(speech[t * hop:(t + 1) * hop] ** 2)) for t in range(len(jaw))])
    assert np.corrcoef(jaw, loud)[0, 1] > 0.3                        # the mouth opens when there is sound
    change = np.abs(np.diff(v.frames.astype(np.int16), axis=0)).mean()
    assert change > 0.5                                               # the face moves


def test_the_whole_photo_keeps_its_pixels_beyond_the_head_and_crop_gives_the_square(files, speech):
    anim = Animator(files / "astronaut.png", watermark=False)         # unmarked: the watermark touches every pixel
    v = anim.animate(speech[:SAMPLE_RATE])
    assert anim.full_photo and anim.size == (512, 512) and v.frames.shape[1:] == (512, 512, 3)
    outside = ~anim.region
    assert outside.mean() > 0.5
    assert all(np.array_equal(f[outside], anim.photo[outside]) for f in v.frames)
    lm = anim.landmarks(v.motion)
    assert lm.shape == (len(v.frames), 68, 2) and anim.region[int(lm[0, 62, 1]), int(lm[0, 62, 0])]
    square = animate(files / "astronaut.png", speech[:SAMPLE_RATE], crop=True, resolution=128, watermark=False)
    assert square.frames.shape == (len(v.frames), 128, 128, 3)


def test_the_saved_video_keeps_audio_frames_and_provenance(astronaut_video, tmp_path, speech):
    from labkit.io.video import metadata, read_video

    path = astronaut_video.save(tmp_path / "a.mp4")
    frames, fps, audio, sr = read_video(path)
    assert fps == FPS and len(frames) == len(astronaut_video.frames) and sr == SAMPLE_RATE
    assert abs(len(audio) - len(speech)) <= 1024                      # AAC frames: at most one packet off
    tag = metadata(path)["description"]
    assert f"{astronaut_video.content_id:08x}" in tag and "watermark yes" in tag
    with pytest.raises(FileExistsError):
        astronaut_video.save(path)


def test_streaming_gives_the_offline_frames_from_a_microphone_like_source(files, speech):
    anim = Animator(files / "astronaut.png", resolution=128)
    offline = anim.animate(speech)
    rng = np.random.default_rng(0)
    cuts = np.sort(rng.choice(np.arange(1, len(speech)), 40, replace=False))   # irregular chunk sizes
    streamed = list(anim.stream(np.split(speech, cuts)))
    assert anim.stream_content_id == offline.content_id              # the same inputs, the same id both ways
    assert len(streamed) == len(offline.frames)
    np.testing.assert_array_equal(np.stack(streamed), offline.frames)


def test_streaming_memory_stays_flat():
    """Two minutes of audio through a tiny generator: what is held after two minutes is no more
    than after twenty seconds."""
    import torch

    from labkit.motion.config import make_config
    from labkit.motion.dit import MotionDiT
    from labkit.motion.generator import MotionGenerator
    torch.manual_seed(0)
    gen = MotionGenerator(MotionDiT(make_config("tiny", motion_dim=len(FACTOR_NAMES))), steps=1)
    anim = Animator(None, resolution=128, renderer="landmarks", generator=gen, watermark=False)
    noise = np.random.default_rng(0).normal(0, 0.1, 120 * SAMPLE_RATE).astype(np.float32)
    tracemalloc.start()
    held = {}
    for n, _ in enumerate(anim.stream(chunked(noise, 40)), 1):
        if n in (500, 3000):
            held[n] = tracemalloc.get_traced_memory()[0]
    tracemalloc.stop()
    assert n == frame_count(len(noise))
    assert held[3000] < held[500] + 2 * 2**20                         # less than 2 MiB more


def test_controls_are_checked():
    with pytest.raises(ValueError, match="gaze yaw 40° is out of range"):
        Controls(gaze=(0.0, 40.0))
    with pytest.raises(ValueError, match="distance 2 is out of range"):
        Controls(distance=2.0)
    with pytest.raises(ValueError, match="unknown emotion 'joyful'"):
        Controls(emotion="joyful")
    with pytest.raises(ValueError, match="cfg_emotion must be a finite guidance scale"):
        Controls(cfg_emotion=float("nan"))
    with pytest.raises(ValueError, match="cfg_audio must be a finite guidance scale"):
        Controls(cfg_audio=-1.0)
    assert parse_emotion("happy:0.5") == ("happy", 0.5)
    with pytest.raises(ValueError, match="unknown emotion"):
        parse_emotion("grumpy:1")
    with pytest.raises(ValueError, match="intensity must be a number"):
        parse_emotion("sad:lots")


def test_bad_speech_is_refused(files):
    with pytest.raises(ValueError, match="silent"):
        load_speech(files / "silence.wav")
    with pytest.raises(ValueError, match="empty"):
        load_speech(np.zeros(0, np.float32))
    with pytest.raises(ValueError):
        load_speech(files / "notes.txt")
    with pytest.raises(FileNotFoundError):
        load_speech(files / "missing.wav")


def test_portraits_without_a_face_or_not_images_are_refused(files):
    with pytest.raises(ValueError, match="no face found"):
        Animator(np.full((256, 256, 3), 200, np.uint8), resolution=128)
    with pytest.raises(ValueError):
        Animator(files / "notes.txt", resolution=128)


def test_auto_chooses_the_latent_renderer_only_when_it_can_move_a_face():
    assert choose_renderer("auto", False)[0] == "landmarks"
    assert choose_renderer("auto", True, {"probe_dyn_r2": 0.0})[0] == "landmarks"
    assert choose_renderer("auto", True, {"probe_dyn_r2": 0.9})[0] == "latent"
    assert choose_renderer("auto", True)[0] == "latent"      # the shipped default's code carries the expression
    assert choose_renderer("latent", False) == ("latent", "forced")


def test_too_long_audio_for_memory_asks_for_streaming(monkeypatch):
    import labkit.pipeline as A

    monkeypatch.setattr(A, "MEMORY_FRACTION", 1e-9)
    with pytest.raises(MemoryError, match="stream it instead"):
        A._check_memory(100, (128, 128))


# ---------------------------------------------------------------------------- the command line

def test_cli_animates_and_verifies(files, tmp_path, capsys):
    out = tmp_path / "talk.mp4"
    assert main(["animate", str(files / "astronaut.png"), str(files / "speech.wav"), "-o", str(out),
                 "--crop", "--resolution", "128", "--quiet", "--gaze", "5,-10", "--emotion", "happy:0.7"]) == 0
    printed = capsys.readouterr().out
    assert out.exists() and "renderer landmarks" in printed and "128x128 px" in printed
    assert main(["verify", str(out)]) == 0
    assert "made by labkit" in capsys.readouterr().out


def test_cli_lists_the_faces_of_a_photo(files, tmp_path, capsys):
    import json

    import cv2
    import skimage.data

    assert main(["faces", str(files / "astronaut.png")]) == 0
    assert "1 face(s)" in capsys.readouterr().out
    face = skimage.data.astronaut()[60:200, 150:300]
    pair = np.full((220, 520, 3), 128, np.uint8)
    pair[10:150, 20:170] = face                                            # the larger face, on the left
    pair[60:150, 330:430] = cv2.resize(face, (100, 90))
    cv2.imwrite(str(tmp_path / "pair.png"), pair[..., ::-1])
    assert main(["faces", str(tmp_path / "pair.png"), "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)["faces"]
    assert len(listed) == 2 and listed[0]["box"][0] < listed[1]["box"][0]   # numbered left to right
    assert listed[0]["default"] and not listed[1]["default"]               # the largest by default
    cv2.imwrite(str(tmp_path / "blank.png"), np.full((200, 200, 3), 90, np.uint8))
    assert main(["faces", str(tmp_path / "blank.png")]) == 1
    assert "no face found" in capsys.readouterr().out


def test_cli_refuses_to_overwrite_and_leaves_nothing_on_failure(files, tmp_path, capsys):
    out = tmp_path / "talk.mp4"
    out.write_bytes(b"precious")
    assert main(["animate", str(files / "astronaut.png"), str(files / "speech.wav"), "-o", str(out), "--quiet"]) == 2
    assert out.read_bytes() == b"precious" and "--overwrite" in capsys.readouterr().err
    fresh = tmp_path / "silent.mp4"
    assert main(["animate", str(files / "astronaut.png"), str(files / "silence.wav"), "-o", str(fresh), "--quiet"]) == 2
    assert "silent" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == [out]                          # no partial file left behind
    assert main(["animate", "-o", str(tmp_path / "x.mp4"), "--emotion", "joyful"]) == 2
    assert "unknown emotion" in capsys.readouterr().err


def test_cli_names_an_unwritable_output_folder(files, tmp_path, capsys, monkeypatch):
    import os

    real = os.access
    monkeypatch.setattr(os, "access", lambda p, mode: False if str(p) == str(tmp_path) else real(p, mode))
    assert main(["animate", "-o", str(tmp_path / "x.mp4"), "--quiet", "--resolution", "128"]) == 2
    assert "not writable" in capsys.readouterr().err


def test_cli_streams_to_a_file_and_no_watermark_warns(files, tmp_path, capsys):
    out = tmp_path / "live.mp4"
    assert main(["animate", str(files / "astronaut.png"), str(files / "speech.wav"), "-o", str(out),
                 "--resolution", "128", "--quiet", "--stream", "--no-watermark"]) == 0
    cap = capsys.readouterr()
    assert "WARNING" in cap.err and "streamed" in cap.out
    assert main(["verify", str(out)]) == 1                            # unmarked: not recognised


def test_the_face_latent_renderer_can_be_forced(speech):
    """renderer="latent": the shipped face latent model decodes the default portrait with generated codes."""
    anim = Animator(None, resolution=128, renderer="latent")
    v = anim.animate(speech[:SAMPLE_RATE])
    assert v.renderer == "latent" and anim.reason == "forced"
    assert v.frames.shape == (25, 128, 128, 3) and v.motion.shape[1] == anim.generator.cfg.motion_dim
    portrait = anim.image.astype(np.float64)
    mse = np.mean((v.frames[0].astype(np.float64) - portrait) ** 2)
    assert 10 * np.log10(255 ** 2 / mse) > 15                         # it draws this person, not noise


def test_motion_scale_stills_or_livens_the_head_and_nothing_else():
    from labkit.synthtalk.factors import FACTOR_NAMES

    still = Animator(None, resolution=128, renderer="landmarks", controls=Controls(motion_scale=0.0))
    lively = Animator(None, resolution=128, renderer="landmarks", controls=Controls(motion_scale=2.0))
    motion = still.animate(default_speech()[:3 * SAMPLE_RATE]).motion             # the generated factors
    row = motion[len(motion) // 2].copy()
    turned = row.copy()
    turned[FACTOR_NAMES.index("yaw")] += 8.0
    np.testing.assert_array_equal(still._frame(row), still._frame(turned))       # a still head ignores the turn ...
    opened = row.copy()
    opened[FACTOR_NAMES.index("jaw")] = 0.8
    assert np.abs(still._frame(row).astype(int) - still._frame(opened)).mean() > 0.2   # ... but still speaks

    def sway(anim):                                  # how far the nose bridge travels over the clip (pixels)
        draw = anim._draw
        pts = np.stack([draw.control_points(draw.scale_head(r, anim.controls.motion_scale), 0)[27] for r in motion])
        return float(np.linalg.norm(pts.std(0)))

    one = Animator(None, resolution=128, renderer="landmarks")
    assert sway(still) < 0.2 * sway(one) and 1.5 < sway(lively) / sway(one) < 2.2
    with pytest.raises(ValueError, match="motion_scale must be in"):
        Controls(motion_scale=3.0)
