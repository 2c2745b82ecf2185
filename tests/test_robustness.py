"""Inputs, outputs and provenance that hold under bad files, signals, concurrent runs and long audio.

Each test is a case where labkit once said it succeeded (or failed without saying why) on input a
user cannot see coming: the wrong face, a phone photo, two runs on one output, a streamed content
id, an interrupted run, a damaged image, and the small ones (empty folders left behind, outputs
under /proc, a 1-sample clip, a huge seed, int16 chunks, choosing the face, the order of checks).
"""
import argparse
import os
import signal
import subprocess
import sys
import time
import tracemalloc

import numpy as np
import pytest
import skimage.data
import soundfile as sf
from PIL import Image

import labkit.faces.landmarks as landmarks
from labkit.cli import main
from labkit.faces.image import BACKGROUND, as_rgb
from labkit.faces.landmarks import LandmarkDetector, find_face
from labkit.io.atomic import check_output, partial_path, remove_stale_partials
from labkit.io.audio import as_samples, frame_count
from labkit.io.errors import InputError
from labkit.io.video import VideoWriter, read_video
from labkit.pipeline import SAMPLE_RATE, Animator, Controls, animate, chunked, default_speech, load_speech


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    d = tmp_path_factory.mktemp("inputs")
    astronaut = skimage.data.astronaut()
    Image.fromarray(astronaut).save(d / "astronaut.png")
    speech = default_speech()[:2 * SAMPLE_RATE]
    sf.write(d / "speech.wav", speech, SAMPLE_RATE)
    sf.write(d / "long.wav", np.tile(default_speech(), 6), SAMPLE_RATE)           # ~35 s
    sf.write(d / "one_sample.wav", speech[8000:8001], SAMPLE_RATE)
    return d


def _no_partials(folder) -> bool:
    return not [p for p in os.listdir(folder) if ".partial" in p]


# 1. the wrong face ---------------------------------------------------------------------------------

def test_a_large_low_confidence_detection_is_not_taken_for_the_face(monkeypatch):
    """dlib at threshold 0 also fires on shoulders: a 104 px box scoring 0.08 beside the real 86 px face
    scoring 1.39. The face used is the confident one, whatever the sizes."""
    img = skimage.data.astronaut()
    real = landmarks._dlib_run(img, 0)[0][0]                                # the astronaut's face box
    shoulder = np.array([250, 330, 354, 434], np.float32)                   # larger, on her suit
    monkeypatch.setattr(landmarks, "_dlib_run",
                        lambda image, u: (np.stack([shoulder, real]), np.array([0.08, 1.39], np.float32)))
    face = LandmarkDetector("dlib").find(img)
    np.testing.assert_array_equal(face.box, real)
    # a larger detection scoring under half the best is listed (left to right: the face, then the shoulder)
    # but not the default; --face 1 takes it
    monkeypatch.setattr(landmarks, "_dlib_run",
                        lambda image, u: (np.stack([shoulder, real]), np.array([0.5, 1.39], np.float32)))
    assert np.array_equal(LandmarkDetector("dlib").find(img).box, real)
    assert np.array_equal(LandmarkDetector("dlib").find(img, face_index=1).box, shoulder)
    # nothing confident: refused, saying why
    monkeypatch.setattr(landmarks, "_dlib_run", lambda image, u: (shoulder[None], np.array([0.03], np.float32)))
    with pytest.raises(InputError, match="scored at most 0.03, below the detector confidence"):
        LandmarkDetector("dlib").find(img, name="canvas.png")


# 2. phone photos -----------------------------------------------------------------------------------

def test_a_phone_photo_is_read_upright_from_its_exif_orientation(tmp_path):
    img = skimage.data.astronaut()
    stored = Image.fromarray(np.rot90(img, 1).copy())           # the sensor's pixels, turned 90°
    exif = stored.getexif()
    exif[0x0112] = 6                                             # Orientation: rotate 90° clockwise to view
    stored.save(tmp_path / "phone.jpg", quality=95, exif=exif)
    upright = as_rgb(tmp_path / "phone.jpg")
    assert upright.shape == img.shape
    assert np.abs(upright.astype(int) - img).mean() < 6         # JPEG noise only
    face = find_face(tmp_path / "phone.jpg", backend="dlib")
    expected = find_face(img, backend="dlib")
    assert np.abs(face.box - expected.box).max() <= 8


# 3. two runs, one output ---------------------------------------------------------------------------

def test_two_runs_writing_one_output_do_not_both_succeed(tmp_path):
    out = tmp_path / "talk.mp4"
    first = VideoWriter(out, 25.0, size=(64, 64), sample_rate=SAMPLE_RATE)
    second = VideoWriter(out, 25.0, size=(64, 64), sample_rate=SAMPLE_RATE)
    assert first._tmp != second._tmp                             # each run its own partial file
    with first:
        first.write(np.zeros((5, 64, 64, 3), np.uint8))
    with pytest.raises(FileExistsError, match="appeared while this run was writing it"):
        with second:
            second.write(np.full((9, 64, 64, 3), 255, np.uint8))
    frames = read_video(out)[0]
    assert len(frames) == 5 and frames.max() < 20                # the first run's video, whole
    assert _no_partials(tmp_path)


# 5. the streamed content id ------------------------------------------------------------------------

def test_streamed_videos_of_different_speech_get_different_ids(files):
    anim = Animator(None, resolution=128)
    ids = []
    for speech in (default_speech(), default_speech()[SAMPLE_RATE:]):
        next(iter(anim.stream(chunked(speech))))
        ids.append(anim.stream_content_id)
        assert anim.stream_content_id == anim.content_id(speech)  # what animate(speech) stamps
    assert ids[0] != ids[1]


# 6. interrupted runs -------------------------------------------------------------------------------

@pytest.fixture
def sigint_raises():
    """SIGINT raising KeyboardInterrupt here and in child processes, however pytest was started: a shell
    without job control starts background commands (``make test &``) with SIGINT ignored, children inherit
    that, and an interrupt would then rightly do nothing."""
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    yield
    signal.signal(signal.SIGINT, previous)


@pytest.mark.parametrize("sig, status, word", [(signal.SIGTERM, 143, "terminated"),
                                               (signal.SIGINT, 130, "interrupted")])
def test_an_interrupted_run_removes_its_partial_file_and_says_so_in_one_line(files, tmp_path, sig, status, word,
                                                                           sigint_raises):
    out = tmp_path / "talk.mp4"
    cmd = [sys.executable, "-c", "import sys; from labkit.cli import main; sys.exit(main(sys.argv[1:]))",
           "animate", str(files / "astronaut.png"), str(files / "long.wav"), "-o", str(out), "--stream",
           "--resolution", "128", "--quiet"]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 240
    while _no_partials(tmp_path) and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert proc.poll() is None, proc.communicate()               # still writing
    time.sleep(0.3)
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == status, err[-3000:]
    assert "Traceback" not in err and err.strip().splitlines()[-1] == f"labkit: {word}; unfinished output removed"
    assert os.listdir(tmp_path) == []                            # no partial file, no output


def test_an_interrupt_while_kernels_compile_is_delivered_once_they_are_done(sigint_raises):
    """numba compiles through ctypes callbacks, which swallow a KeyboardInterrupt raised in them: the CLI holds
    SIGINT and SIGTERM back while it prepares, so the interrupt arrives after, not never."""
    from labkit.cli.common import signals_held

    finished = []
    with pytest.raises(KeyboardInterrupt):
        with signals_held():
            os.kill(os.getpid(), signal.SIGINT)
            time.sleep(0.05)
            finished.append(True)                                # not interrupted in here
    assert finished == [True]


def test_a_killed_runs_partial_file_is_removed_by_the_next_run(tmp_path):
    out = tmp_path / "talk.mp4"
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    stale = tmp_path / f".talk.mp4.{dead.pid}.0badc0de.partial.mp4"       # what SIGKILL leaves
    stale.write_bytes(b"half a video")
    mine = partial_path(out)                                     # the next run to write talk.mp4 ...
    assert not stale.exists() and mine.exists()                  # ... clears the dead run's partial file
    assert remove_stale_partials(out) == [] and mine.exists()    # and a live run's is never taken
    mine.unlink()


# 7. damaged and transparent images -----------------------------------------------------------------

def test_a_truncated_image_is_refused_naming_the_file(files, tmp_path, capsys):
    buf = tmp_path / "whole.jpg"
    Image.fromarray(skimage.data.astronaut()).save(buf, quality=90)
    data = buf.read_bytes()
    (tmp_path / "cut.jpg").write_bytes(data[:len(data) * 2 // 3])
    with pytest.raises(InputError, match="cut.jpg: the image is damaged or truncated"):
        as_rgb(tmp_path / "cut.jpg")
    out = tmp_path / "out.mp4"
    assert main(["animate", str(tmp_path / "cut.jpg"), str(files / "speech.wav"), "-o", str(out), "--quiet"]) == 2
    assert "cut.jpg" in capsys.readouterr().err and not out.exists()


def test_transparency_is_composited_onto_a_neutral_or_given_background(tmp_path):
    img = skimage.data.astronaut()
    alpha = np.full(img.shape[:2], 255, np.uint8)
    alpha[:, :128] = 0                                           # a see-through strip on the left
    Image.fromarray(np.dstack([img, alpha])).save(tmp_path / "cutout.png")
    rgb = as_rgb(tmp_path / "cutout.png")
    assert (rgb[:, :128] == BACKGROUND).all() and (rgb[:, 128:] == img[:, 128:]).all()
    white = as_rgb(tmp_path / "cutout.png", background=(255, 255, 255))
    assert (white[:, :128] == 255).all()
    half = as_rgb(np.dstack([img, np.full(img.shape[:2], 128, np.uint8)]), background=(0, 0, 0))
    assert abs(float(half.mean()) - float(img.mean()) * 128 / 255) < 1


# 8. the smaller cases ------------------------------------------------------------------------------

def test_a_failed_run_creates_no_folders(files, tmp_path, capsys):
    out = tmp_path / "new" / "deeper" / "talk.mp4"
    assert main(["animate", str(files / "astronaut.png"), str(files / "missing.wav"), "-o", str(out)]) == 2
    assert "missing.wav" in capsys.readouterr().err
    assert not (tmp_path / "new").exists()


@pytest.mark.parametrize("where", ["/proc/labkit-talk.mp4", "/sys/labkit/talk.mp4"])
def test_an_output_nothing_can_be_written_to_is_refused_up_front(files, where, capsys):
    start = time.perf_counter()
    assert main(["animate", str(files / "astronaut.png"), str(files / "speech.wav"), "-o", where]) == 2
    err = capsys.readouterr().err
    assert f"cannot write {where}" in err and time.perf_counter() - start < 5     # before any work
    with pytest.raises(PermissionError, match="not writable"):
        check_output(where)


def test_audio_too_short_to_hold_speech_is_refused(files):
    with pytest.raises(InputError, match=r"one_sample.wav is 0.1 ms long: labkit needs at least 0.2 s"):
        load_speech(files / "one_sample.wav")
    with pytest.raises(InputError, match="needs at least"):
        load_speech(np.full(100, 0.1, np.float32))


def test_a_huge_seed_is_refused_at_once():
    with pytest.raises(ValueError, match=r"seed must be a whole number in 0..2\*\*63-1"):
        Controls(seed=2 ** 70)
    with pytest.raises(ValueError, match="seed"):
        Controls(seed=-1)
    assert main(["animate", "-o", "/tmp/labkit-never.mp4", "--seed", str(2 ** 70)]) == 2


def test_int16_chunks_are_scaled_like_the_float_samples_they_stand_for():
    speech = default_speech()[:SAMPLE_RATE]
    pcm = np.round(speech * 32767).astype(np.int16)
    np.testing.assert_allclose(as_samples(pcm), speech, atol=1 / 16384)
    anim = Animator(None, resolution=128, watermark=False)
    from_float = next(iter(anim.stream(chunked(pcm.astype(np.float32) / 32768))))
    from_int16 = next(iter(anim.stream([pcm[k:k + 640] for k in range(0, len(pcm), 640)])))
    np.testing.assert_array_equal(from_float, from_int16)


def test_the_face_to_animate_can_be_chosen_from_the_api_and_the_cli(files, tmp_path, caplog):
    video = animate(files / "astronaut.png", files / "speech.wav", resolution=128, face_index=0, watermark=False)
    assert video.frames.shape[1:] == (512, 512, 3)
    with pytest.raises(InputError, match="face_index 3 is out of range: 1 face"):
        animate(files / "astronaut.png", files / "speech.wav", resolution=128, face_index=3)
    assert main(["animate", str(files / "astronaut.png"), str(files / "speech.wav"), "-o", str(tmp_path / "a.mp4"),
                 "--face", "0", "--resolution", "128", "--quiet"]) == 0


def test_speech_is_checked_before_the_portrait_is_processed(files, tmp_path, monkeypatch, capsys):
    def never(*a, **k):
        raise AssertionError("the portrait was processed before the speech was checked")

    monkeypatch.setattr("labkit.render.landmarks.find_face", never)
    assert main(["animate", str(files / "astronaut.png"), str(files / "one_sample.wav"),
                 "-o", str(tmp_path / "x.mp4")]) == 2
    assert "one_sample.wav" in capsys.readouterr().err
    with pytest.raises(InputError, match="needs at least"):
        animate(files / "astronaut.png", np.full(10, 0.1, np.float32))


# 9. long audio -------------------------------------------------------------------------------------

def test_writing_a_long_video_holds_no_more_memory_than_a_short_one(tmp_path, monkeypatch):
    """Animator.write reads the file in chunks and encodes frames as they are drawn: 40 s hold what
    10 s hold (the features and motion aside, a few hundred bytes a frame)."""
    import torch

    from labkit.motion.config import make_config
    from labkit.motion.dit import MotionDiT
    from labkit.motion.generator import MotionGenerator
    from labkit.synthtalk.factors import FACTOR_NAMES

    torch.manual_seed(0)
    gen = MotionGenerator(MotionDiT(make_config("tiny", motion_dim=len(FACTOR_NAMES))), steps=1)
    anim = Animator(None, resolution=128, renderer="landmarks", generator=gen)
    monkeypatch.setattr("labkit.pipeline.CHUNK_SECONDS", 5.0)      # the file is read 5 s at a time
    speech = np.tile(default_speech(), 8)
    peaks = {}
    for seconds in (10, 40):
        sf.write(tmp_path / f"{seconds}.flac", speech[:seconds * SAMPLE_RATE], SAMPLE_RATE)
        tracemalloc.start()
        r = anim.write(tmp_path / f"{seconds}.flac", tmp_path / f"{seconds}.mp4")
        peaks[seconds] = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        assert r["frames"] == frame_count(seconds * SAMPLE_RATE)
    held_by_frames = 30 * 25 * 128 * 128 * 3                       # what 30 s more of frames would take
    assert peaks[40] < peaks[10] + held_by_frames / 8
    frames, fps, audio, sr = read_video(tmp_path / "40.mp4")
    assert len(frames) == frame_count(40 * SAMPLE_RATE) and abs(len(audio) - 40 * SAMPLE_RATE) <= 1024
    np.testing.assert_allclose(audio[:SAMPLE_RATE], speech[:SAMPLE_RATE], atol=0.05)    # the soundtrack, in order
    # the file read in passes gives the video its samples would: the same content id
    assert r["content_id"] == anim.content_id(load_speech(tmp_path / "40.flac"))


# 4. a damaged watermark ----------------------------------------------------------------------------

def test_verify_says_a_mark_whose_id_fails_its_checksum_is_unreadable(tmp_path, capsys):
    """Half the frames carry one id and half its complement: the magic is intact, the id bits cancel.
    `labkit verify` finds labkit's mark and says the id cannot be read, rather than print a third id."""
    import json

    from labkit.io.video import write_video
    from labkit.pipeline import default_portrait
    from labkit.provenance.watermark import Watermark

    frame, _ = default_portrait(128)
    frames = np.repeat(frame[None], 12, 0)
    a = 0x1AB4768A
    mixed = np.concatenate([Watermark(a).embed(frames), Watermark(a ^ 0xFFFFFFFF).embed(frames)])
    write_video(tmp_path / "mixed.mp4", mixed, 25.0)
    assert main(["verify", str(tmp_path / "mixed.mp4")]) == 0
    out = capsys.readouterr().out
    assert "made by labkit" in out and "content id unreadable" in out
    assert main(["verify", str(tmp_path / "mixed.mp4"), "--json"]) == 0
    d = json.loads(capsys.readouterr().out)
    assert d["found"] and d["content_id"] is None and d["id_valid"] is False


def test_a_termination_a_library_turned_into_its_own_error_still_ends_as_terminated(monkeypatch, capsys):
    """PyAV and numba run Python inside their C calls, where the SIGTERM handler's exception can come back
    as an error of the library's own: the run was terminated all the same."""
    import labkit.cli as cli

    def command(args):
        try:
            os.kill(os.getpid(), signal.SIGTERM)
            time.sleep(1)                                        # the handler raises here
        except cli.Terminated as e:
            raise RuntimeError("an error of the library's own") from e
        return 0

    parser = cli.build_parser()
    monkeypatch.setattr(cli, "build_parser", lambda: parser)
    monkeypatch.setattr(parser, "parse_args", lambda argv: argparse.Namespace(verbose=False, func=command))
    assert cli.main([]) == 143
    assert capsys.readouterr().err.strip().splitlines()[-1] == "labkit: terminated; unfinished output removed"

    def numba_like(args):                                        # numba: a SystemError caused by the interrupt
        try:
            raise KeyboardInterrupt
        except KeyboardInterrupt as e:
            raise SystemError("returned a result with an exception set") from e

    monkeypatch.setattr(parser, "parse_args", lambda argv: argparse.Namespace(verbose=False, func=numba_like))
    assert cli.main([]) == 130
    assert capsys.readouterr().err.strip().splitlines()[-1] == "labkit: interrupted; unfinished output removed"

    def failing(args):
        raise RuntimeError("a bug")                              # with no signal, a bug stays a traceback

    monkeypatch.setattr(parser, "parse_args", lambda argv: argparse.Namespace(verbose=False, func=failing))
    with pytest.raises(RuntimeError, match="a bug"):
        cli.main([])
