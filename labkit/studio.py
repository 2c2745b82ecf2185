"""The studio: bring your own portrait and speech, set VASA-1's control signals (§3.2) with widgets,
render, and watch the video inline in a notebook.

    photo ──┐  (upload, or a bundled one)
    speech ─┼─ Controls (gaze, emotion, intensity, head-motion scale, audio guidance, seed) ─ Animator ─ mp4 ─ player
    sliders ┘

All the logic is in plain methods a test (or a notebook cell) calls without a browser:
:meth:`Studio.use_photo` and :meth:`Studio.use_audio` check an input and select it,
:meth:`Studio.controls` reads the widgets into :class:`labkit.pipeline.Controls`, and
:meth:`Studio.render` writes the mp4 and loads it into the player. The widgets' callbacks
(``_on_upload``, ``_on_render``) call those methods and turn any error into a line in the status
widget: nothing raises out of a callback, where a notebook would hide it in the log console.

Needs ipywidgets (``pip install 'labkit[notebooks]'``).
"""
from __future__ import annotations

import io
import logging
import os
import shutil
import tempfile
import time
import weakref
from pathlib import Path

import matplotlib.cbook
from PIL import Image
from skimage.data import astronaut

from labkit.faces.image import as_rgb, image_name
from labkit.pipeline import (
    GAZE_RANGE,
    MOTION_SCALE,
    RESOLUTIONS,
    Animator,
    Controls,
    Speech,
    default_portrait,
    default_speech,
    read_speech,
)
from labkit.synthtalk.factors import EMOTIONS

try:
    import ipywidgets as widgets
except ImportError as e:                     # an optional dependency: only notebooks need it
    raise ImportError("labkit.studio needs ipywidgets: pip install 'labkit[notebooks]'") from e

log = logging.getLogger(__name__)

PORTRAITS = {                                # the portrait menu: label → key of _bundled_portrait
    "SynthTalk test identity": "synthtalk",
    "astronaut (scikit-image)": "astronaut",
    "Grace Hopper (matplotlib)": "grace_hopper",
    "your photo (upload one)": "upload",
}
SPEECHES = {"bundled sentences": "bundled", "your audio (upload one)": "upload"}
MODEL_CHOICE = "(the model's choice)"        # the emotion menu's entry for emotion=None: no emotion command
CFG_AUDIO_RANGE = (0.0, 4.0)                 # the audio guidance slider's span (1 = no guidance)
PREVIEW_PX = 160                             # the portrait thumbnail's side
MAX_INLINE_BYTES = 64 << 20                  # larger videos are written but not loaded into the player


def _bundled_portrait(key: str):
    """A bundled portrait: None (the SynthTalk default), an image (H, W, 3) uint8, or an image file's path."""
    if key == "synthtalk":
        return None
    if key == "astronaut":
        return astronaut()
    if key == "grace_hopper":
        return Path(matplotlib.cbook.get_sample_data("grace_hopper.jpg", asfileobj=False))
    raise KeyError(key)


class Studio:
    """An ipywidgets panel around :class:`labkit.pipeline.Animator`; display it as the last line of a cell.

    `out`: where the mp4 is written (default: ``studio.mp4`` in a temporary folder, where uploads are
    kept too, removed with the studio or when Python exits); `resolution`: the size menu's first choice, the
    square crop's side or the whole photo's longer side; `progress`: tqdm bars inside the panel
    while rendering."""

    def __init__(self, *, out: str | os.PathLike | None = None, resolution: int = 256, progress: bool = True):
        self._tmp = Path(tempfile.mkdtemp(prefix="labkit-studio-"))
        weakref.finalize(self, shutil.rmtree, self._tmp, ignore_errors=True)   # gone with the studio
        self.out = self._tmp / "studio.mp4" if out is None else Path(out)
        self.progress = progress
        self.animator: Animator | None = None            # the last render's (its renderer, frame size, region)
        self.result: dict | None = None                  # Animator.write's figures of the last render
        self._photo = None                               # the uploaded portrait (a path or an image)
        self._speech: Speech | None = None               # the uploaded speech, checked

        d, wide = Controls(), {"description_width": "140px"}
        self.portrait = widgets.Dropdown(options=PORTRAITS, value="synthtalk", description="portrait", style=wide)
        self.photo_upload = widgets.FileUpload(accept="image/*", description="upload photo")
        self.speech = widgets.Dropdown(options=SPEECHES, value="bundled", description="speech", style=wide)
        self.audio_upload = widgets.FileUpload(accept="audio/*,video/*", description="upload audio")
        self.resolution = widgets.Dropdown(options=RESOLUTIONS, value=resolution, description="size (px)", style=wide,
                                           tooltip="the square crop's side, or the photo's longer side")
        self.crop = widgets.Checkbox(value=False, description="square crop around the face")
        self.model_gaze = widgets.Checkbox(value=d.gaze is None, description="let the model choose the gaze")
        self.pitch = widgets.FloatSlider(value=0.0, min=GAZE_RANGE["pitch"][0], max=GAZE_RANGE["pitch"][1], step=1.0,
                                         description="gaze pitch (°)", style=wide)
        self.yaw = widgets.FloatSlider(value=0.0, min=GAZE_RANGE["yaw"][0], max=GAZE_RANGE["yaw"][1], step=1.0,
                                       description="gaze yaw (°)", style=wide)
        self.emotion = widgets.Dropdown(options=(MODEL_CHOICE, *EMOTIONS), value=d.emotion or MODEL_CHOICE,
                                        description="emotion", style=wide)
        self.intensity = widgets.FloatSlider(value=d.intensity, min=0.0, max=1.0, step=0.05,
                                             description="intensity", style=wide)
        self.motion_scale = widgets.FloatSlider(value=d.motion_scale, min=MOTION_SCALE[0], max=MOTION_SCALE[1],
                                                step=0.05, description="head motion ×", style=wide)
        self.cfg_audio = widgets.FloatSlider(value=d.cfg_audio, min=CFG_AUDIO_RANGE[0], max=CFG_AUDIO_RANGE[1],
                                             step=0.1, description="audio guidance", style=wide)
        self.seed = widgets.BoundedIntText(value=d.seed, min=0, max=2 ** 31 - 1, description="seed", style=wide)
        self.button = widgets.Button(description="Render", button_style="primary", icon="play")
        self.status = widgets.Label(value="")
        self.preview = widgets.Image(format="jpeg", width=PREVIEW_PX, height=PREVIEW_PX)
        self.player = widgets.Video(format="mp4", width=256, autoplay=False, loop=False, controls=True)
        self.log = widgets.Output()                      # the progress bars (and any warnings) of a render

        self.photo_upload.observe(self._on_upload, names="value")
        self.audio_upload.observe(self._on_upload, names="value")
        self.portrait.observe(self._on_portrait, names="value")
        self.model_gaze.observe(self._on_choices, names="value")
        self.emotion.observe(self._on_choices, names="value")
        self.button.on_click(self._on_render)
        self._on_choices()
        self._on_portrait()

        inputs = widgets.VBox([widgets.HBox([self.portrait, self.photo_upload]),
                               widgets.HBox([self.speech, self.audio_upload]),
                               widgets.HBox([self.resolution, self.crop])])
        controls = widgets.VBox([self.model_gaze, self.pitch, self.yaw, self.emotion, self.intensity,
                                 self.motion_scale, self.cfg_audio, self.seed])
        self.panel = widgets.VBox([widgets.HBox([self.preview, inputs]), controls, self.button, self.status,
                                   self.log, self.player])

    def _repr_mimebundle_(self, **kwargs):
        return self.panel._repr_mimebundle_(**kwargs)

    # ------------------------------------------------------------------------ inputs

    def use_photo(self, image, *, name: str | None = None) -> None:
        """Select a portrait: a file's bytes (an upload), a path or an image array (see
        :func:`labkit.faces.image.as_rgb`). Raises InputError naming it if it is not an image; the face
        is found when rendering."""
        if isinstance(image, (bytes, bytearray, memoryview)):
            image = self._keep(bytes(image), name or "photo")
        rgb = as_rgb(image, name=name)
        self._photo = image
        self.portrait.value = "upload"
        self._on_portrait()                              # the menu may already have said "upload"
        self._say(f"photo {image_name(image, name)}: {rgb.shape[1]}x{rgb.shape[0]} px")

    def use_audio(self, audio, *, name: str | None = None, sample_rate: int | None = None) -> None:
        """Select the speech: a file's bytes (an upload), a path, or samples at `sample_rate` (default
        16 kHz). Raises InputError naming it if it is not usable speech (see :func:`labkit.pipeline.read_speech`)."""
        if isinstance(audio, (bytes, bytearray, memoryview)):
            audio = self._keep(bytes(audio), name or "audio")
        self._speech = read_speech(audio, sample_rate)
        self.speech.value = "upload"
        self._say(f"speech {name or self._speech.name}: {self._speech.seconds:.1f} s")

    def _keep(self, data: bytes, name: str) -> Path:
        """Store an upload under its own name (errors then name it) in a folder of its own."""
        name = Path(name).name
        if name in ("", ".", ".."):
            name = "upload"
        path = Path(tempfile.mkdtemp(dir=self._tmp)) / name
        path.write_bytes(data)
        return path

    def controls(self) -> Controls:
        """The widgets' values as :class:`labkit.pipeline.Controls` (validated there)."""
        emotion = None if self.emotion.value == MODEL_CHOICE else self.emotion.value
        return Controls(gaze=None if self.model_gaze.value else (float(self.pitch.value), float(self.yaw.value)),
                        emotion=emotion, intensity=float(self.intensity.value), cfg_audio=float(self.cfg_audio.value),
                        motion_scale=float(self.motion_scale.value), seed=int(self.seed.value))

    def portrait_input(self):
        """What :class:`Animator` gets as its portrait: None (SynthTalk), an image array or a path."""
        if self.portrait.value != "upload":
            return _bundled_portrait(self.portrait.value)
        if self._photo is None:
            raise ValueError("no photo uploaded yet: upload one, or pick a bundled portrait")
        return self._photo

    def speech_input(self) -> Speech:
        """The chosen speech, checked."""
        if self.speech.value == "bundled":
            return read_speech(default_speech())
        if self._speech is None:
            raise ValueError("no audio uploaded yet: upload a speech file, or pick the bundled sentences")
        return self._speech

    # ------------------------------------------------------------------------ rendering

    def render(self) -> Path:
        """Animate the chosen portrait with the chosen speech and controls, write the mp4 to ``self.out``
        (atomically, replacing the last one) and load it into the player. Raises on bad input
        (InputError, ValueError); the Render button's callback shows those in the status instead."""
        t0 = time.perf_counter()
        controls, speech, portrait = self.controls(), self.speech_input(), self.portrait_input()
        R = self.resolution.value
        self._say("rendering: preparing the portrait (finding the face in a photo) …")
        self.animator = anim = Animator(portrait, resolution=R, controls=controls, crop=self.crop.value, max_side=R)
        self._say(f"rendering: {speech.seconds:.1f} s of speech with the {anim.renderer} renderer …")
        self.result = anim.write(speech, self.out, overwrite=True, progress=self.progress)
        size = self.out.stat().st_size
        H, W = anim.size
        self.player.width = min(W, 512)
        self.player.value = self.out.read_bytes() if size <= MAX_INLINE_BYTES else b""
        shown = "" if size <= MAX_INLINE_BYTES else f" (too large to play inline: {size / 2 ** 20:.0f} MiB)"
        self._say(f"done: {self.result['frames']} frames of {W}x{H} px, {self.result['seconds']:.1f} s of video, "
                  f"rendered in {time.perf_counter() - t0:.1f} s → {self.out}{shown}")
        return self.out

    # ------------------------------------------------------------------------ callbacks

    def _on_render(self, _button=None) -> None:
        self.button.disabled = True
        try:
            with self.log:
                self.log.clear_output()
                self.render()
        except Exception as e:                   # never out of a callback: the notebook would hide it
            self._fail(e)
        finally:
            self.button.disabled = False

    def _on_upload(self, change) -> None:
        """FileUpload's value changed: check the newest file and select it."""
        files, owner = change["new"], change["owner"]
        if not files:
            return
        f = files[-1]
        try:
            if owner is self.photo_upload:
                self.use_photo(f["content"], name=f["name"])
            else:
                self.use_audio(f["content"], name=f["name"])
        except Exception as e:
            self._fail(e)

    def _on_portrait(self, _change=None) -> None:
        """Show the chosen portrait's thumbnail."""
        try:
            if self.portrait.value == "synthtalk":
                image = default_portrait(RESOLUTIONS[0])[0]
            elif self.portrait.value == "upload" and self._photo is None:
                self.preview.value = b""
                return
            else:
                image = as_rgb(self.portrait_input())
            thumb = Image.fromarray(image)
            thumb.thumbnail((PREVIEW_PX, PREVIEW_PX))
            buf = io.BytesIO()
            thumb.save(buf, format="jpeg", quality=90)
            self.preview.value = buf.getvalue()
        except Exception as e:
            self._fail(e)

    def _on_choices(self, _change=None) -> None:
        """Grey out what the current choices ignore: the gaze sliders, the intensity of no emotion."""
        self.pitch.disabled = self.yaw.disabled = self.model_gaze.value
        self.intensity.disabled = self.emotion.value in (MODEL_CHOICE, "neutral")

    def _say(self, text: str) -> None:
        self.status.value = text
        log.info("%s", text)

    def _fail(self, error: Exception) -> None:
        known = isinstance(error, (ValueError, OSError, MemoryError))     # InputError is a ValueError
        if not known:
            log.exception("studio: unexpected error", exc_info=error)
        self.status.value = f"error: {error}" if known else f"error ({type(error).__name__}): {error}"
