"""Audio of any length → motion, by overlapping windows chained through their context (VASA-1 §3.2).

Windows of W frames start every S = W - O frames (O: the overlap). Window k covers frames
[kS, kS + W); it is sampled given the audio of frames [kS - K, kS + W), the K frames before it
as context (VASA-1's previous-window conditioning), and its first O frames held close to what
the previous window already made for them (``diffusion.Prefix``); those O frames are then
cross-faded from the old window to the new. The first window has no history and is sampled
with the context dropped (the model was trained for that case). Audio before the start and past
the end is silence. With O = 0 the windows simply abut.

Why the overlap: a window sampled from fresh noise only *tends* to continue its context, and the
mismatch shows as a jump at every boundary (``eval_motion.seam_ratio``); a sampled overlap
spreads what mismatch is left over O frames.

Blinks, brief events at random times that the audio does not predict, are not left to a few-step
sampler, which averages them to a faint twitch: a loaded generator adds them from their own renewal
process (``labkit.motion.blinks``) along its motion space's blink axis, clip by clip and seeded.

``MotionGenerator.generate`` does a whole clip (or a batch of equally long clips) at once;
``MotionGenerator.stream`` takes audio chunk by chunk and yields frames as soon as no later
window can change them. Both run the same :class:`_Chain`, so they give the same frames.
"""
from __future__ import annotations

import os
from dataclasses import asdict
from pathlib import Path
from typing import Iterable, Iterator

import numpy as np
import torch
from tqdm.auto import tqdm

from labkit.io.audio import MelFeatures, StreamingLogMel
from labkit.io.checkpoint import load_state
from labkit.io.weights import FACE_LATENT, MOTION, resolve
from labkit.motion.blinks import BlinkAxis, BlinkConfig, Blinks
from labkit.motion.config import DEFAULT_STEPS, DiffusionConfig, MotionDiTConfig
from labkit.motion.data import HEAD_DIMS, source_id
from labkit.motion.diffusion import Guidance, Hold, Prefix, make_process
from labkit.motion.dit import MotionConditions, MotionDiT
from labkit.motion.gaze import GazeAxes

KIND = "motion_dit"
SILENCE = float(np.log(MelFeatures().log_floor))      # log-mel of digital silence
_KEEP = object()                                      # replace(): leave this setting as it is
_MEASURED: dict[tuple[str, str], BlinkAxis | GazeAxes] = {}   # axes measured, by kind and the motion source's digest


def window_starts(T: int, window: int, overlap: int) -> list[int]:
    """First frame of each window that covers T frames: 0, S, 2S, … with S = window - overlap."""
    if not 0 <= overlap < window:
        raise ValueError(f"overlap must be in 0..{window - 1}, got {overlap}")
    S = window - overlap
    n = 1 if T <= window else 1 + -(-(T - window) // S)
    return [k * S for k in range(n)]


def _per_frame(v, B: int, T: int, dim: int, name: str) -> np.ndarray | None:
    """A command given as a constant (dim,), per clip (B, dim) or per frame (B, T, dim) → (B, T, dim)."""
    if v is None:
        return None
    a = np.asarray(v, np.float32)
    if a.shape == (dim,):
        return np.broadcast_to(a, (B, T, dim))
    if a.shape == (B, dim):
        return np.broadcast_to(a[:, None], (B, T, dim))
    if a.shape == (B, T, dim):
        return a
    raise ValueError(f"{name} must have shape ({dim},), ({B}, {dim}) or ({B}, {T}, {dim}); got {a.shape}")


class MotionGenerator:
    """A trained motion denoiser with its sampling process: audio features + commands → motion."""

    def __init__(self, model: MotionDiT, process: DiffusionConfig = DiffusionConfig(), *, steps: int | None = None,
                 guidance: Guidance = Guidance(), overlap: int | None = None, meta: dict | None = None,
                 blinks: BlinkConfig | None = None, blink_axis: BlinkAxis | None = None, hold_face: bool = False,
                 gaze_axes: GazeAxes | None = None):
        """`blinks`: add blinks from this process to what is generated (None: the sampler's own only);
        `blink_axis`: where they go in the motion space (default: from the checkpoint's record, the
        blink factor or the face latent model's blink direction); `hold_face`: the face's dynamics keep
        the first DDIM step's estimate and the later steps sample the head pose, the eyes counter-rotating
        as it turns (labkit.motion.diffusion.Hold, labkit.motion.gaze); `gaze_axes`: where head and eyes turn
        in the motion space (default: like the blink axis, measured for the checkpoint's motion space)."""
        c = model.cfg
        if overlap is None:                                                    # a tenth of the window (5 of 50)
            overlap = min(c.window // 10, c.window - max(c.context, 1))
        if not 0 <= overlap <= c.window - max(c.context, 1):
            raise ValueError(f"overlap must be in 0..{c.window - max(c.context, 1)} (window {c.window}, "
                             f"context {c.context}), got {overlap}")
        self.model = model.eval()
        self.diffusion = process
        self.process = make_process(process)
        steps = DEFAULT_STEPS if steps is None else steps
        if steps < 1:
            raise ValueError(f"steps must be >= 1, got {steps}")
        self.steps, self.guidance, self.overlap, self.hold_face = steps, guidance, overlap, bool(hold_face)
        self.meta = meta or {}
        self.blinks, self._blink_axis, self._gaze_axes = blinks, blink_axis, gaze_axes
        self._held: Hold | None = None                                          # built on first use (_hold)
        # emotion guidance moves the face's dynamics only: the head pose (the first HEAD_DIMS
        # channels in both motion spaces) stays at the conditional prediction, as it is what gaze,
        # distance and ΔP are read from
        self._face_channels = (torch.arange(c.motion_dim) >= HEAD_DIMS).float()

    @property
    def cfg(self) -> MotionDiTConfig:
        return self.model.cfg

    @property
    def process_name(self) -> str:
        """"diffusion" or "regression" (labkit.motion.config.DiffusionConfig)."""
        return self.diffusion.process

    @property
    def prediction(self) -> str:
        """What the denoiser outputs: "x0" or "v" (labkit.motion.diffusion)."""
        return self.diffusion.prediction

    @property
    def noise_rho(self) -> float:
        """The diffusion noise's correlation between consecutive frames (0: white; labkit.motion.diffusion)."""
        return self.diffusion.noise_rho

    @classmethod
    def load(cls, path: str | os.PathLike | None = None, *, device: str = "cpu", **kw) -> "MotionGenerator":
        """A trained generator: a path or a shipped name (labkit.io.weights), the shipped latent-code `small`
        by default. Unless `steps` (or `hold_face`) is given it samples with the setting recorded in the file
        (`labkit weights export --sampling-steps`, `--hold-face`), else DEFAULT_STEPS."""
        path = resolve(path, KIND, MOTION["latent"])
        state, meta = load_state(path, kind=KIND)
        model = MotionDiT(MotionDiTConfig(**meta["config"]))
        for name in ("control_mean", "control_std"):                           # checkpoints from before the
            state.setdefault(name, getattr(model, name))                       # control statistics: raw controls
        model.load_state_dict(state)
        kw.setdefault("blinks", BlinkConfig())
        if kw.get("steps") is None:                                            # the steps chosen for this model
            kw["steps"] = meta.get("sampling_steps")
        if kw.get("hold_face") is None:
            kw["hold_face"] = bool(meta.get("hold_face", False))
        if kw.get("gaze_axes") is None and "gaze_axes" in meta:                # recorded by weights export
            kw["gaze_axes"] = GazeAxes(meta["gaze_axes"]["head"], meta["gaze_axes"]["eyes"])
        return cls(model.to(device), DiffusionConfig.from_meta(meta), meta=meta, **kw)

    def replace(self, *, steps: int | None = None, guidance: Guidance | None = None, overlap: int | None = None,
                blinks=_KEEP, blink_axis=_KEEP, hold_face: bool | None = None) -> "MotionGenerator":
        """The same trained model with other sampling settings (the model is shared, not copied);
        blinks=None turns the blink process off."""
        return MotionGenerator(self.model, self.diffusion, steps=self.steps if steps is None else steps,
                               guidance=self.guidance if guidance is None else guidance,
                               overlap=self.overlap if overlap is None else overlap, meta=self.meta,
                               blinks=self.blinks if blinks is _KEEP else blinks,
                               blink_axis=self._blink_axis if blink_axis is _KEEP else blink_axis,
                               hold_face=self.hold_face if hold_face is None else hold_face,
                               gaze_axes=self._gaze_axes)

    @property
    def blink_axis(self) -> BlinkAxis:
        """Where a blink goes in this generator's motion space (labkit.motion.blinks.BlinkAxis): the blink
        factor, or, for face latent codes, the model's blink direction measured from open eyes (once per face
        latent checkpoint, shared by every generator trained on it)."""
        if self._blink_axis is None:
            self._blink_axis = self._measured(BlinkAxis, "blink_axis= (e.g. BlinkAxis of its blink direction) or "
                                                         "blinks=None")
        return self._blink_axis

    @property
    def gaze_axes(self) -> GazeAxes:
        """Where the head's and the eyes' rotations are in this generator's motion space
        (labkit.motion.gaze.GazeAxes): recorded in the checkpoint, else measured once per face latent checkpoint
        like the blink axis."""
        if self._gaze_axes is None:
            self._gaze_axes = self._measured(GazeAxes, "gaze_axes= or hold_face=False")
        return self._gaze_axes

    def _measured(self, axes, instead: str):
        """`axes` (BlinkAxis or GazeAxes) of this generator's motion space: SynthTalk's factors, or measured
        by the reader of the face latent checkpoint it was trained on, once per checkpoint and kind (`instead`:
        what to pass without one)."""
        key = (axes.__name__, str(self.meta.get("motion_source")))
        if key not in _MEASURED:
            _MEASURED[key] = self._measure(axes, instead)
        return _MEASURED[key]

    def _measure(self, axes, instead: str):
        motion, latent = self.meta.get("motion"), self.meta.get("latent")
        if motion == "factors":
            return axes.factors()
        if not latent:
            raise ValueError(f"this generator's checkpoint does not record its motion space; give {instead}")
        from labkit.latent.model import KIND as LATENT_KIND
        from labkit.latent.model import load_face_latent
        from labkit.latent.readout import factor_reader

        path = resolve(Path(str(latent)).stem, LATENT_KIND, FACE_LATENT)
        if not path.is_file() or source_id(path) != self.meta.get("motion_source"):
            raise ValueError(f"the face latent checkpoint this generator was trained on ({latent}) is not shipped; "
                             f"give {instead}")
        return axes.from_reader(factor_reader(load_face_latent(path)), HEAD_DIMS)

    def _hold(self) -> Hold:
        """The face's channels held at the first step, the eyes following the head (labkit.motion.gaze): built
        once per generator (Hold.apply moves it to the samples' device)."""
        if self._held is None:
            follow = self.gaze_axes.follow(self.model.motion_std.cpu().numpy())
            self._held = Hold(self._face_channels, torch.from_numpy(follow))
        return self._held

    def _blink_stream(self, seed: int, clip: int) -> Blinks:
        """Clip `clip`'s blink process: a lone clip (or the first of a batch) blinks as ``Blinks(seed=seed)``,
        every other clip of a batch from its own stream derived from the seed and its place."""
        if clip:
            seed = int(np.random.SeedSequence([seed, clip]).generate_state(1)[0])
        return Blinks(self.blinks, fps=MelFeatures().fps, seed=seed)

    def _window(self, audio: torch.Tensor, context: torch.Tensor | None, gaze, control, *, steps, guidance,
                generator, prefix: torch.Tensor | None = None) -> torch.Tensor:
        """Sample one window: audio (B, K+W, A), context (B, K, M) raw or None, prefix (B, O, M) raw
        or None (known first frames, cross-faded in) → raw motion (B, W, M)."""
        B, dev = audio.shape[0], audio.device
        K, M = self.cfg.context, self.cfg.motion_dim
        ctx = context if context is not None else torch.zeros(B, K, M, device=dev)
        zeros = torch.zeros(B, dtype=torch.bool, device=dev)
        cond = MotionConditions.full(
            audio, ctx, gaze if gaze is not None else torch.zeros(B, self.cfg.gaze_dim, device=dev),
            control if control is not None else torch.zeros(B, self.cfg.control_dim, device=dev),
            has_context=context is not None)
        if gaze is None:
            cond.keep_gaze = zeros
        if control is None:
            cond.keep_control = zeros
        known = None
        if prefix is not None:
            O = prefix.shape[1]
            ramp = 1 - torch.arange(1, O + 1, dtype=torch.float32, device=dev) / (O + 1)   # old window's share
            known = Prefix(self.model.normalize(prefix), ramp)
        if guidance.emotion != 1.0 and (control is None or not control[:, 1:].any()):
            # no emotion commanded (or neutral): f(all) - f(all, emotion neutral) is zero, skip its pass
            guidance = Guidance(**{**asdict(guidance), "emotion": 1.0})
        masks = {"emotion": self._face_channels.to(dev)} if guidance.emotion != 1.0 else None
        x0 = self.process.sample(self.model, cond, steps=steps, guidance=guidance, generator=generator, prefix=known,
                                 masks=masks, hold=self._hold() if self.hold_face and steps > 1 else None)
        return self.model.denormalize(x0)

    @torch.no_grad()
    def generate(self, audio: np.ndarray, *, gaze=None, distance=None, emotion=None, seed: int = 0,
                 steps: int | None = None, guidance: Guidance | None = None, progress: bool = False) -> np.ndarray:
        """Motion (T, M) for audio features (T, A), or (B, T, M) for a batch (B, T, A).

        gaze: (pitch, yaw) degrees; distance: head-to-camera distance (1 = nominal); emotion:
        offset vector (len(EMOTIONS) - 1,) (see motion_data.emotion_offset). Each may be a
        constant, per clip (B, ·) or per frame (B, T, ·); a window is commanded with the mean over
        its frames. None leaves that condition to the model (it is dropped, as in CFG training).
        """
        single = np.ndim(audio) == 2
        a = np.asarray(audio, np.float32)[None] if single else np.asarray(audio, np.float32)
        B, T, A = a.shape
        c = self.cfg
        if A != c.audio_dim:
            raise ValueError(f"audio features must have {c.audio_dim} values per frame, got {A}")
        gaze_f, control_f = self._commands(gaze, distance, emotion, B, T)
        W, K = c.window, c.context
        starts = window_starts(T, W, self.overlap)
        end = starts[-1] + W
        pad = np.full((B, K + end - T, A), SILENCE, np.float32)
        a = np.concatenate([pad[:, :K], a, pad[:, K:]], 1)                     # frame f is at f + K
        dev = next(self.model.parameters()).device
        chain = _Chain(self, steps, guidance, seed)
        it = starts
        if progress:
            it = tqdm(it, desc="generate motion", unit="window")
        out = []
        for lo in it:
            hi = min(lo + W, T)                                                  # the window's real frames
            win_gaze = None if gaze_f is None else torch.from_numpy(gaze_f[:, lo:hi].mean(1)).to(dev)
            win_ctrl = None if control_f is None else torch.from_numpy(control_f[:, lo:hi].mean(1)).to(dev)
            out.append(chain.push(torch.from_numpy(a[:, lo:lo + K + W]).to(dev), win_gaze, win_ctrl))
        out.append(chain.finish())
        motion = torch.cat(out, 1)[:, :T].cpu().numpy()
        if self.blinks is not None:
            motion = np.stack([self.blink_axis.add(m, self._blink_stream(seed, n).next(T))
                               for n, m in enumerate(motion)])
        return motion[0] if single else motion

    @torch.no_grad()
    def stream(self, chunks: Iterable[np.ndarray], *, gaze=None, distance=None, emotion=None, seed: int = 0,
               steps: int | None = None, guidance: Guidance | None = None,
               mel: MelFeatures = MelFeatures()) -> Iterator[np.ndarray]:
        """Audio (mono float32 at mel.sample_rate) chunk by chunk → motion frames (n, M), window by window.

        Holds one window of audio features and K frames of motion, whatever the stream's length;
        the frames yielded equal ``generate`` on the whole audio with the same seed.
        """
        c = self.cfg
        W, K = c.window, c.context
        S = W - self.overlap                                                    # hop between windows
        feats = StreamingLogMel(mel)
        buf = np.full((K, c.audio_dim), SILENCE, np.float32)                    # features from frame kS - K on
        dev = next(self.model.parameters()).device
        chain = _Chain(self, steps, guidance, seed)
        gaze_f, control_f = self._commands(gaze, distance, emotion, 1, 1)            # constant commands
        g = None if gaze_f is None else torch.from_numpy(gaze_f[:, 0].copy()).to(dev)
        ctrl = None if control_f is None else torch.from_numpy(control_f[:, 0].copy()).to(dev)

        blinks = None if self.blinks is None else self._blink_stream(seed, 0)

        def window(audio_win: np.ndarray) -> np.ndarray:
            return chain.push(torch.from_numpy(audio_win[None]).to(dev), g, ctrl)[0].cpu().numpy()

        def blinked(frames: np.ndarray) -> np.ndarray:
            return frames if blinks is None else self.blink_axis.add(frames, blinks.next(len(frames)))

        for chunk in chunks:
            buf = np.concatenate([buf, feats.push(chunk)])
            while len(buf) >= K + W:
                yield blinked(window(buf[:K + W]))
                buf = buf[S:]
        buf = np.concatenate([buf, feats.flush()])
        # the frames still to make, from the current window's start; the same windows as generate
        left = len(buf) - K
        if chain.started and left <= self.overlap:                             # all inside the pending overlap
            yield blinked(chain.finish()[0, :left].cpu().numpy())
            return
        while left > 0:
            win = np.concatenate([buf, np.full((max(K + W - len(buf), 0), c.audio_dim), SILENCE, np.float32)])
            frames = window(win[:K + W])
            if left <= W:                                                      # the last window
                yield blinked(np.concatenate([frames, chain.finish()[0].cpu().numpy()])[:left])
                return
            yield blinked(frames)
            buf, left = buf[S:], left - S

    def _commands(self, gaze, distance, emotion, B: int, T: int):
        """Commands → per-frame arrays: gaze (B, T, 2) and control (B, T, C) = [distance, emotion offset],
        each None when not given (a missing distance is 1, a missing emotion neutral, if the other is given)."""
        c = self.cfg
        gaze_f = _per_frame(gaze, B, T, c.gaze_dim, "gaze")
        if distance is None and emotion is None:
            return gaze_f, None
        d = np.asarray(1.0 if distance is None else distance, np.float32)
        d = _per_frame(d[..., None] if d.ndim else d.reshape(1), B, T, 1, "distance")
        e = _per_frame(np.zeros(c.control_dim - 1) if emotion is None else emotion, B, T, c.control_dim - 1, "emotion")
        return gaze_f, np.concatenate([d, e], -1)

    def config_dict(self) -> dict:
        return {"model": asdict(self.cfg), "diffusion": asdict(self.diffusion), "steps": self.steps,
                "overlap": self.overlap, "guidance": asdict(self.guidance), "hold_face": self.hold_face}


class _Chain:
    """The state between windows, shared by ``generate`` and ``stream``: the K context frames and
    the O frames of the last window that the next one overlaps (not final yet)."""

    def __init__(self, gen: MotionGenerator, steps: int | None, guidance: Guidance | None, seed: int):
        self.gen, self.steps, self.guidance = gen, steps or gen.steps, guidance or gen.guidance
        self.generator = torch.Generator().manual_seed(seed)
        self.context: torch.Tensor | None = None                                # (B, K, M) raw
        self.pending: torch.Tensor | None = None                                # (B, O, M) raw
        self.started = False

    def push(self, audio: torch.Tensor, gaze, control) -> torch.Tensor:
        """Sample the next window from its audio (B, K+W, A) → the frames now final (B, S, M)
        (the window's first S = W - O frames, the overlap with the previous one cross-faded)."""
        c, O = self.gen.cfg, self.gen.overlap
        W, K = c.window, c.context
        x = self.gen._window(audio, self.context, gaze, control, steps=self.steps, guidance=self.guidance,
                             generator=self.generator, prefix=self.pending if O and self.started else None)
        S = W - O
        self.context = x[:, S - K:S] if K else None
        self.pending = x[:, S:]
        self.started = True
        return x[:, :S]

    def finish(self) -> torch.Tensor:
        """The last window's overlap frames (B, O, M), final once no window follows."""
        if self.pending is None:
            raise RuntimeError("no window was sampled")
        return self.pending
