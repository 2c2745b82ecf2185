"""Audio of any length → motion, by sliding windows chained through their context (VASA-1 §3.2).

Window k covers frames [kW, kW + W). It is sampled given the audio of frames [kW - K, kW + W)
and, as context, the last K frames the previous window produced; the first window has no
history and is sampled with the context dropped (the model was trained for that case).
Audio before the start and past the end is silence.

``MotionGenerator.generate`` does a whole clip (or a batch of equally long clips) at once;
``MotionGenerator.stream`` takes audio chunk by chunk and yields each window's frames as soon
as the audio that window needs has arrived, holding only one window of state.
"""
from __future__ import annotations

import os
from dataclasses import asdict
from pathlib import Path
from typing import Iterable, Iterator

import numpy as np
import torch

from labkit.audio import MelFeatures, StreamingLogMel
from labkit.diffusion import PROCESSES, Guidance
from labkit.motion_dit import MotionConditions, MotionDiT, MotionDiTConfig

KIND = "motion_dit"
SILENCE = float(np.log(MelFeatures().log_floor))      # log-mel of digital silence


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

    def __init__(self, model: MotionDiT, process: str = "diffusion", *, steps: int = 10,
                 guidance: Guidance = Guidance(), meta: dict | None = None):
        if process not in PROCESSES:
            raise ValueError(f"unknown process {process!r}; choose one of {sorted(PROCESSES)}")
        self.model = model.eval()
        self.process_name = process
        self.process = PROCESSES[process]()
        self.steps, self.guidance = steps, guidance
        self.meta = meta or {}

    @property
    def cfg(self) -> MotionDiTConfig:
        return self.model.cfg

    @classmethod
    def load(cls, path: str | os.PathLike | None = None, *, device: str = "cpu", **kw) -> "MotionGenerator":
        """A trained generator; the shipped SynthTalk `small` checkpoint by default."""
        from labkit.checkpoint import ASSETS, load_state

        path = Path(path) if path is not None else ASSETS / "motion_dit_small.safetensors"
        state, meta = load_state(path, kind=KIND)
        model = MotionDiT(MotionDiTConfig(**meta["config"]))
        model.load_state_dict(state)
        return cls(model.to(device), meta.get("process", "diffusion"), meta=meta, **kw)

    def _window(self, audio: torch.Tensor, context: torch.Tensor | None, gaze, control, *, steps, guidance,
                generator) -> torch.Tensor:
        """Sample one window: audio (B, K+W, A), context (B, K, M) raw or None → raw motion (B, W, M)."""
        B, dev = audio.shape[0], audio.device
        K, M = self.cfg.context, self.cfg.motion_dim
        ctx = context if context is not None else torch.zeros(B, K, M, device=dev)
        zeros = torch.zeros(B, dtype=torch.bool, device=dev)
        cond = MotionConditions.full(audio, ctx, gaze if gaze is not None else torch.zeros(B, self.cfg.gaze_dim, device=dev),
                                     control if control is not None else torch.zeros(B, self.cfg.control_dim, device=dev),
                                     has_context=context is not None)
        if gaze is None:
            cond.keep_gaze = zeros
        if control is None:
            cond.keep_control = zeros
        x0 = self.process.sample(self.model, cond, steps=steps, guidance=guidance, generator=generator)
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
        n_win = -(-T // W)
        pad = np.full((B, K + n_win * W - T, A), SILENCE, np.float32)
        a = np.concatenate([pad[:, :K], a, pad[:, K:]], 1)                     # frame f is at f + K
        dev = next(self.model.parameters()).device
        gen = torch.Generator().manual_seed(seed)
        out, context = [], None
        it = range(n_win)
        if progress:
            from tqdm.auto import tqdm
            it = tqdm(it, desc="generate motion", unit="window")
        for k in it:
            lo, hi = k * W, min(k * W + W, T)                                    # the window's real frames
            win_gaze = None if gaze_f is None else torch.from_numpy(gaze_f[:, lo:hi].mean(1)).to(dev)
            win_ctrl = None if control_f is None else torch.from_numpy(control_f[:, lo:hi].mean(1)).to(dev)
            x = self._window(torch.from_numpy(a[:, k * W:k * W + K + W]).to(dev), context, win_gaze, win_ctrl,
                             steps=steps or self.steps, guidance=guidance or self.guidance, generator=gen)
            out.append(x)
            context = x[:, W - K:] if K else None
        motion = torch.cat(out, 1)[:, :T].cpu().numpy()
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
        feats = StreamingLogMel(mel)
        buf = np.full((K, c.audio_dim), SILENCE, np.float32)                    # features from frame kW - K on
        dev = next(self.model.parameters()).device
        gen = torch.Generator().manual_seed(seed)
        context = None
        gaze_f, control_f = self._commands(gaze, distance, emotion, 1, 1)            # constant commands
        g = None if gaze_f is None else torch.from_numpy(gaze_f[:, 0].copy()).to(dev)
        ctrl = None if control_f is None else torch.from_numpy(control_f[:, 0].copy()).to(dev)

        def window(audio_win: np.ndarray, n_real: int) -> np.ndarray:
            nonlocal context
            x = self._window(torch.from_numpy(audio_win[None]).to(dev), context, g, ctrl,
                             steps=steps or self.steps, guidance=guidance or self.guidance, generator=gen)
            context = x[:, W - K:] if K else None
            return x[0, :n_real].cpu().numpy()

        for chunk in chunks:
            buf = np.concatenate([buf, feats.push(chunk)])
            while len(buf) >= K + W:
                yield window(buf[:K + W], W)
                buf = buf[W:]
        buf = np.concatenate([buf, feats.flush()])
        while len(buf) > K:
            n = min(W, len(buf) - K)
            win = np.concatenate([buf, np.full((K + W - len(buf), c.audio_dim), SILENCE, np.float32)])[:K + W]
            yield window(win, n)
            buf = buf[W:] if len(buf) > K + W else buf[:0]

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
        return {"model": asdict(self.cfg), "process": self.process_name, "steps": self.steps,
                "guidance": asdict(self.guidance)}
