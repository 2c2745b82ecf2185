"""CAPP: Contrastive Audio and Pose Pretraining (VASA-1 §4.1, "a new metric").

VASA-1 measures how well head motion goes with speech by a CLIP-style pair of encoders: a
transformer over a pose sequence and an audio encoder over the same 3 s window, trained so that
matching windows score a high cosine similarity and mismatched ones low. The score of a video is
the cosine between its pose embedding and its audio's embedding.

    pose  (B, T, 3) yaw, pitch, roll (degrees) ─ pose encoder  ─► e_p (B, E) unit vectors
    audio (B, T, A) log-mel, one per frame       ─ audio encoder ─► e_a (B, E) unit vectors
    CAPP = cos(e_p, e_a);   training: symmetric InfoNCE over the batch (CLIP)

T = 75 frames (3 s at 25 fps). The pose is taken relative to its window's mean, so the score
reads the motion (nods on stressed syllables, livelier sway while speaking), not where the
head happens to point. Trained on SynthTalk's ground-truth pose (labkit.evaluators.train_capp).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from labkit.evaluators.config import CAPPConfig
from labkit.io.checkpoint import load_state
from labkit.io.weights import resolve
from labkit.motion.data import extract_clips
from labkit.synthtalk.factors import FACTOR_NAMES

KIND = "capp"
ANGLES = [FACTOR_NAMES.index(n) for n in ("yaw", "pitch", "roll")]   # the head-angle columns of the factors


class SequenceEncoder(nn.Module):
    """(B, T, in) → (B, E): a temporal convolution in (5 frames: onsets and nods are local),
    learned positions, a transformer encoder, mean over time."""

    def __init__(self, cfg: CAPPConfig, dim_in: int):
        super().__init__()
        self.inp = nn.Conv1d(dim_in, cfg.width, 5, padding=2)
        self.pos = nn.Parameter(torch.zeros(1, cfg.window, cfg.width))
        nn.init.normal_(self.pos, std=0.02)
        layer = nn.TransformerEncoderLayer(cfg.width, cfg.heads, 4 * cfg.width, dropout=0.0, activation="gelu",
                                           batch_first=True, norm_first=True)
        self.body = nn.TransformerEncoder(layer, cfg.layers, enable_nested_tensor=False)
        self.out = nn.Sequential(nn.LayerNorm(cfg.width), nn.Linear(cfg.width, cfg.embed_dim))

    def forward(self, x):
        h = self.inp(x.transpose(1, 2)).transpose(1, 2)                       # (B, T, D)
        h = self.body(h + self.pos[:, :x.shape[1]])
        return self.out(h.mean(1))


class CAPP(nn.Module):
    def __init__(self, cfg: CAPPConfig):
        super().__init__()
        self.cfg = cfg
        self.pose = SequenceEncoder(cfg, 2 * cfg.pose_dim)                    # angles and their velocity
        self.audio = SequenceEncoder(cfg, cfg.audio_dim)
        self.logit_scale = nn.Parameter(torch.tensor(np.log(1 / 0.07), dtype=torch.float32))
        self.register_buffer("audio_mean", torch.zeros(cfg.audio_dim))
        self.register_buffer("audio_std", torch.ones(cfg.audio_dim))

    def embed_pose(self, pose: torch.Tensor) -> torch.Tensor:
        """pose (B, T, 3) degrees → (B, E) unit vectors. The encoder sees the angles relative to the
        window's mean and their frame-to-frame velocity (×5, so a nod's few degrees per frame count)."""
        if not (pose.ndim == 3 and pose.shape[1:] == (self.cfg.window, self.cfg.pose_dim)):
            raise ValueError(f"pose {tuple(pose.shape)}")
        rel = pose - pose.mean(1, keepdim=True)
        vel = F.pad(pose.diff(dim=1), (0, 0, 1, 0))                                # (B, T, 3), 0 at the first frame
        return F.normalize(self.pose(torch.cat([rel, 5 * vel], 2) / self.cfg.pose_scale), dim=1)

    def embed_audio(self, audio: torch.Tensor) -> torch.Tensor:
        """audio (B, T, A) log-mel → (B, E) unit vectors."""
        if not (audio.ndim == 3 and audio.shape[1:] == (self.cfg.window, self.cfg.audio_dim)):
            raise ValueError(f"audio {tuple(audio.shape)}")
        return F.normalize(self.audio((audio - self.audio_mean) / self.audio_std), dim=1)

    def loss(self, pose: torch.Tensor, audio: torch.Tensor,
             negatives: torch.Tensor | None = None) -> tuple[torch.Tensor, dict]:
        """CLIP's symmetric cross-entropy over the batch's B × B similarities. `negatives` (M, T, 3): extra
        pose windows that match none of the audio (e.g. time-shifted or motionless); each audio window must
        then also pick its pose out of them (audio → pose only, B × (B + M) logits)."""
        p, a = self.embed_pose(pose), self.embed_audio(audio)
        scale = self.logit_scale.exp().clamp(max=100)
        logits = scale * p @ a.T
        target = torch.arange(len(p), device=p.device)
        audio_to_pose = logits.T
        if negatives is not None and len(negatives):
            audio_to_pose = torch.cat([audio_to_pose, scale * a @ self.embed_pose(negatives).T], 1)
        loss = 0.5 * (F.cross_entropy(logits, target) + F.cross_entropy(audio_to_pose, target))
        with torch.no_grad():
            acc = (audio_to_pose.argmax(1) == target).float().mean()
        return loss, {"acc": float(acc)}

    @torch.no_grad()
    def score(self, pose: np.ndarray, audio: np.ndarray, *, hop: int | None = None) -> np.ndarray:
        """CAPP of clips: pose (N, T, 3) degrees and audio (N, T, A) log-mel, T >= window → (N,) mean cosine
        over the clip's windows (every `hop` frames, default window // 3)."""
        pose, audio = np.ascontiguousarray(pose, np.float32), np.ascontiguousarray(audio, np.float32)
        if pose.ndim == 2:
            pose, audio = pose[None], audio[None]
        W = self.cfg.window
        if pose.shape[:2] != audio.shape[:2] or pose.shape[1] < W:
            raise ValueError(f"pose {pose.shape} and audio {audio.shape} must be (N, T, ·) with the same N, T >= {W}")
        hop = hop or W // 3
        starts = list(range(0, pose.shape[1] - W + 1, hop))
        dev = self.audio_mean.device
        sims = []
        for s in starts:
            p = self.embed_pose(torch.from_numpy(pose[:, s:s + W]).to(dev))
            a = self.embed_audio(torch.from_numpy(audio[:, s:s + W]).to(dev))
            sims.append((p * a).sum(1).cpu())
        return torch.stack(sims, 1).mean(1).numpy()


def shift_frames(x: np.ndarray, shift: int) -> np.ndarray:
    """x (N, T, ·) delayed by `shift` frames (advanced when negative), the edge frame repeated."""
    if shift == 0:
        return x
    idx = np.clip(np.arange(x.shape[1]) - shift, 0, x.shape[1] - 1)
    return x[:, idx]


def load_capp(path: str | Path | None = None, *, device: str = "cpu") -> CAPP:
    """A trained CAPP in eval mode; the shipped SynthTalk one by default."""
    path = resolve(path, KIND, "capp")
    state, meta = load_state(path, kind=KIND)
    model = CAPP(CAPPConfig(**meta["config"]))
    model.load_state_dict(state)
    return model.to(device).eval()


def pose_audio(split: str, num_clips: int, *, seconds: float = 6.0, seed: int = 0, cache_dir=None,
               progress: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """Ground-truth head angles (N, T, 3) degrees and log-mel audio (N, T, A) of SynthTalk clips."""
    clips = extract_clips(split, num_clips, source="factors", seconds=seconds, seed=seed, cache_dir=cache_dir,
                          progress=progress)
    return clips.factors[..., ANGLES], clips.audio
