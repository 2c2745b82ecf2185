"""The studio's callbacks, driven without a browser: widget values → Controls, bad uploads → a status
line (never an exception), and a render → an mp4 in the player."""
import io

import numpy as np
import pytest
import soundfile as sf
from PIL import Image
from skimage.data import astronaut

from labkit.io.audio import frame_count
from labkit.io.video import metadata, read_video
from labkit.pipeline import SAMPLE_RATE, Controls, default_speech
from labkit.studio import MODEL_CHOICE, Studio


def upload(widget, name: str, data: bytes) -> dict:
    """The change FileUpload reports when a file `name` holding `data` arrives (ipywidgets 8)."""
    return {"owner": widget, "name": "value",
            "new": ({"name": name, "type": "", "size": len(data), "content": memoryview(data), "last_modified": 0},)}


def wav_bytes(samples: np.ndarray) -> bytes:
    buf = io.BytesIO()
    sf.write(buf, samples, SAMPLE_RATE, format="WAV")
    return buf.getvalue()


@pytest.fixture
def studio(tmp_path):
    return Studio(out=tmp_path / "talk.mp4", resolution=128, progress=False)


def test_the_defaults_leave_everything_to_the_model(studio):
    assert studio.controls() == Controls()
    assert studio.pitch.disabled and studio.yaw.disabled and studio.intensity.disabled
    assert studio.preview.value                                   # the SynthTalk portrait's thumbnail


def test_controls_follow_the_widgets(studio):
    studio.model_gaze.value = False
    studio.pitch.value, studio.yaw.value = -5.0, 12.0
    studio.emotion.value, studio.intensity.value = "happy", 0.6
    studio.motion_scale.value, studio.cfg_audio.value, studio.seed.value = 0.0, 1.5, 7
    c = studio.controls()
    assert c.gaze == (-5.0, 12.0) and c.emotion == "happy" and c.intensity == pytest.approx(0.6)
    assert (c.motion_scale, c.cfg_audio, c.seed) == (0.0, 1.5, 7)
    assert not studio.pitch.disabled and not studio.intensity.disabled

    studio.model_gaze.value = True                                # the sliders keep their values but are ignored
    studio.emotion.value = "neutral"                              # a command (no offset), unlike the model's choice
    assert studio.controls().gaze is None and studio.controls().emotion == "neutral"
    studio.emotion.value = MODEL_CHOICE
    assert studio.controls().emotion is None


def test_bad_uploads_are_reported_in_the_status_not_raised(studio):
    studio._on_upload(upload(studio.photo_upload, "holiday.jpg", np.random.default_rng(0).bytes(2000)))
    assert studio.status.value.startswith("error: holiday.jpg") and "cannot read" in studio.status.value
    assert studio.portrait.value == "synthtalk"                   # the selection is unchanged

    short = 0.1 * np.random.default_rng(1).standard_normal(int(0.05 * SAMPLE_RATE)).astype(np.float32)
    studio._on_upload(upload(studio.audio_upload, "hello.wav", wav_bytes(short)))
    assert studio.status.value == "error: hello.wav is 50.0 ms long: labkit needs at least 0.2 s of speech"
    assert studio.speech.value == "bundled"

    studio._on_upload(upload(studio.audio_upload, "notes.wav", b"not audio at all"))
    assert studio.status.value.startswith("error: ") and "notes.wav" in studio.status.value


def test_render_without_an_upload_says_what_is_missing(studio):
    studio.portrait.value = "upload"
    studio._on_render(studio.button)
    assert studio.status.value.startswith("error: no photo uploaded yet")
    assert not studio.button.disabled and not studio.out.exists()


def test_a_good_upload_is_selected(studio):
    buf = io.BytesIO()
    Image.fromarray(astronaut()).save(buf, format="png")
    studio._on_upload(upload(studio.photo_upload, "me.png", buf.getvalue()))
    assert studio.status.value == "photo me.png: 512x512 px" and studio.portrait.value == "upload"
    assert studio.portrait_input().name == "me.png"


def test_render_writes_the_mp4_and_plays_it(studio):
    speech = default_speech()[:SAMPLE_RATE]                       # 1 s
    studio._on_upload(upload(studio.audio_upload, "first second.wav", wav_bytes(speech)))
    assert studio.speech.value == "upload" and studio.status.value == "speech first second.wav: 1.0 s"
    studio._on_render(studio.button)
    assert studio.status.value.startswith("done: 25 frames"), studio.status.value
    frames, fps, audio, _ = read_video(studio.out)
    assert frames.shape == (frame_count(len(speech)), 128, 128, 3) and fps == 25
    assert bytes(studio.player.value) == studio.out.read_bytes()
    assert studio.result["frames"] == 25 and studio.result["tag"] == metadata(studio.out)["description"]


def test_a_photo_comes_whole_or_as_the_square_crop(studio):
    studio.use_audio(default_speech()[:SAMPLE_RATE // 2])
    studio.portrait.value = "grace_hopper"                        # 512 x 600 px
    sizes = []
    for crop in (False, True):
        studio.crop.value = crop
        studio.render()
        sizes.append(read_video(studio.out)[0].shape[1:3])
    whole, square = sizes
    assert whole[0] == 128 and whole[1] < 128 and square == (128, 128)   # the longer side is the size chosen
