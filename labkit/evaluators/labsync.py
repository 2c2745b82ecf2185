"""LabSync: a SyncNet-style lip-sync expert trained on SynthTalk (VASA-1 §4.1 evaluates with SyncNet).

SyncNet (Chung & Zisserman, 2016, "Out of time") embeds 5 frames of the mouth and 0.2 s of audio
with two towers so that matching pairs lie close and offset pairs far apart; a video's sync is
then read off the distances at ±15 frame offsets (labkit.metrics.sync: S_D, S_C, the offset).
The official weights cannot be fetched here, so labkit trains its own expert on SynthTalk,
where audio and video are exactly in sync by construction:

    mouth crops (B, 5, C, h, w) ─ video tower ─► e_v (B, E) unit vectors
    log-mel     (B, 20, n_mels) ─ audio tower ─► e_a (B, E) unit vectors      distance = ‖e_v − e_a‖

Audio features are log-mel bands at 100 Hz (4 per video frame), so the window of video frame t
covers audio frames 4t … 4t + 19. Video input is a fixed box of the face crop (SynthTalk and the
face latent model's output are face-centred crops, as SyncNet's face tracks are); pass
`box=` for other framings. Distances are between unit vectors, so S_D lies in [0, 2]: the
numbers are not on the scale of the official SyncNet's (see labkit.evaluators.syncnet).
"""
from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import librosa
import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from tqdm.auto import tqdm

from labkit.evaluators.config import LabSyncConfig
from labkit.io.atomic import save_npz_atomic
from labkit.io.audio import MelFeatures, log_mel
from labkit.io.checkpoint import load_state
from labkit.io.weights import resolve
from labkit.latent.blocks import ResBlock2d
from labkit.metrics.sync import SyncScores, sync_scores
from labkit.synthtalk import MOTION_VERSION, SynthTalk

KIND = "labsync"


class Tower(nn.Module):
    """A 2D conv encoder: (B, c_in, h, w) → (B, E); three stride-2 residual stages and a mean."""

    def __init__(self, c_in: int, width: int, embed_dim: int):
        super().__init__()
        w = [width, 2 * width, 4 * width, 8 * width]
        self.stem = nn.Conv2d(c_in, w[0], 3, 1, 1)
        self.stages = nn.Sequential(*[ResBlock2d(w[k], w[k + 1], stride=2) for k in range(3)])
        self.head = nn.Sequential(nn.SiLU(), nn.Linear(w[-1], embed_dim))

    def forward(self, x):
        return self.head(self.stages(self.stem(x)).mean((2, 3)))


class LabSync(nn.Module):
    """The two towers, with fixed input statistics (buffers set once from training data)."""

    def __init__(self, cfg: LabSyncConfig):
        super().__init__()
        self.cfg = cfg
        self.video = Tower(3 * cfg.frames, cfg.width, cfg.embed_dim)       # frames stacked as channels
        self.audio = Tower(1, cfg.audio_width, cfg.embed_dim)
        self.logit_scale = nn.Parameter(torch.tensor(np.log(1 / 0.07), dtype=torch.float32))  # CLIP's init
        self.register_buffer("audio_mean", torch.zeros(cfg.n_mels))
        self.register_buffer("audio_std", torch.ones(cfg.n_mels))

    def embed_video(self, x: torch.Tensor) -> torch.Tensor:
        """x: (B, frames, 3, h, w) mouth crops in [0, 1] → (B, E) unit vectors."""
        B, T, C, h, w = x.shape
        if (T, C, h, w) != (self.cfg.frames, 3, *self.cfg.crop):
            raise ValueError(f"video windows {tuple(x.shape)}")
        return F.normalize(self.video(2 * x.reshape(B, T * C, h, w) - 1), dim=1)

    def embed_audio(self, a: torch.Tensor) -> torch.Tensor:
        """a: (B, frames · audio_rate, n_mels) log-mel → (B, E) unit vectors."""
        B, T, M = a.shape
        if (T, M) != (self.cfg.audio_window, self.cfg.n_mels):
            raise ValueError(f"audio windows {tuple(a.shape)}")
        a = (a - self.audio_mean) / self.audio_std
        return F.normalize(self.audio(a.transpose(1, 2)[:, None]), dim=1)   # (B, 1, n_mels, T)

    # ------------------------------------------------------------------ whole clips

    @torch.no_grad()
    def embed_clip(self, frames: np.ndarray, audio: np.ndarray, *, sample_rate: int = 16000, fps: float = 25.0,
                   batch: int = 256) -> tuple[np.ndarray, np.ndarray]:
        """Per-window embeddings of a clip: frames (T, H, W, 3) uint8 and mono audio (S,) →
        video (T - frames + 1, E) and audio (T - frames + 1, E), row t = the window starting at t."""
        feats = sync_audio_features(audio, len(frames), self.cfg, sample_rate=sample_rate, fps=fps)
        return self.embed_windows(mouth_crops(frames, self.cfg), torch.from_numpy(feats), batch=batch)

    @torch.no_grad()
    def embed_windows(self, crops: torch.Tensor, feats: torch.Tensor, *,
                      batch: int = 256) -> tuple[np.ndarray, np.ndarray]:
        """embed_clip from mouth crops (T, 3, h, w) in [0, 1] and audio features (T · audio_rate, n_mels)."""
        c = self.cfg
        n = len(crops) - c.frames + 1
        if n < 1:
            raise ValueError(f"a clip of {len(crops)} frames is shorter than one window ({c.frames})")
        if len(feats) < len(crops) * c.audio_rate:
            raise ValueError(f"{len(feats)} audio feature frames for {len(crops)} video frames; "
                             f"expected {len(crops) * c.audio_rate}")
        dev = self.audio_mean.device
        ev, ea = [], []
        for s in range(0, n, batch):
            t = torch.arange(s, min(n, s + batch))
            v = crops[t[:, None] + torch.arange(c.frames)]                       # (b, frames, 3, h, w)
            a = feats[t[:, None] * c.audio_rate + torch.arange(c.audio_window)]  # (b, frames · audio_rate, n_mels)
            ev.append(self.embed_video(v.float().to(dev)).cpu())
            ea.append(self.embed_audio(a.float().to(dev)).cpu())
        return torch.cat(ev).numpy(), torch.cat(ea).numpy()

    def score(self, frames: np.ndarray, audio: np.ndarray, *, vshift: int = 15, **kw) -> SyncScores:
        """SyncNet's evaluation of one clip: S_D (min_dist), S_C (confidence) and the AV offset."""
        return sync_scores(*self.embed_clip(frames, audio, **kw), vshift=vshift)


def mouth_crops(frames: np.ndarray, cfg: LabSyncConfig) -> torch.Tensor:
    """Face crops (T, H, W, 3) uint8 → mouth boxes resized to cfg.crop: (T, 3, h, w) float in [0, 1]."""
    frames = np.asarray(frames)
    if frames.ndim != 4 or frames.shape[-1] != 3 or frames.dtype != np.uint8:
        raise ValueError(f"frames must be (T, H, W, 3) uint8, got {frames.shape} {frames.dtype}")
    T, H, W, _ = frames.shape
    top, bottom, left, right = cfg.box
    y0, y1, x0, x1 = round(top * H), round(bottom * H), round(left * W), round(right * W)
    x = torch.from_numpy(frames[:, y0:y1, x0:x1]).permute(0, 3, 1, 2).float().div_(255)
    return F.interpolate(x, size=cfg.crop, mode="bilinear", antialias=True, align_corners=False)


def sync_audio_features(audio: np.ndarray, num_frames: int, cfg: LabSyncConfig, *, sample_rate: int = 16000,
                        fps: float = 25.0) -> np.ndarray:
    """Log-mel at audio_rate × fps of mono audio (S,) for `num_frames` video frames:
    (num_frames · audio_rate, n_mels)."""
    if sample_rate != 16000:
        audio = librosa.resample(np.asarray(audio, np.float32), orig_sr=sample_rate, target_sr=16000)
    mel = MelFeatures(fps=fps * cfg.audio_rate, n_mels=cfg.n_mels)
    return log_mel(audio, mel, num_frames=num_frames * cfg.audio_rate)


def load_labsync(path: str | Path | None = None, *, device: str = "cpu") -> LabSync:
    """A trained LabSync in eval mode; the shipped SynthTalk expert by default."""
    path = resolve(path, KIND, "labsync")
    state, meta = load_state(path, kind=KIND)
    c = meta["config"]
    model = LabSync(LabSyncConfig(**{**c, "box": tuple(c["box"]), "crop": tuple(c["crop"])}))
    model.load_state_dict(state)
    return model.to(device).eval()


def sync_cache() -> Path:
    """$LABKIT_CACHE/sync, else ~/.cache/labkit/sync."""
    return Path(os.environ.get("LABKIT_CACHE", Path.home() / ".cache" / "labkit")) / "sync"


def extract_sync_clips(split: str, num_clips: int, cfg: LabSyncConfig, *, seconds: float = 6.0, seed: int = 0,
                       cache_dir: str | os.PathLike | bool | None = None, progress: bool = False) -> dict:
    """Mouth crops (N, T, 3, h, w) uint8, audio features (N, T · audio_rate, n_mels) float16 and the
    clips' identities (N,) of `num_clips` SynthTalk clips of `split` at 128 px; cached."""
    key = dict(split=split, num_clips=num_clips, seconds=seconds, seed=seed, box=list(cfg.box), crop=list(cfg.crop),
               n_mels=cfg.n_mels, audio_rate=cfg.audio_rate, version=MOTION_VERSION)
    path = None
    if cache_dir is not False:
        name = hashlib.sha1(json.dumps(key, sort_keys=True).encode()).hexdigest()[:20]
        path = Path(cache_dir or sync_cache()) / f"sync-{name}.npz"
        if path.is_file():
            z = np.load(path)
            return {k: z[k] for k in z.files}
    ds = SynthTalk(split=split, resolution=128, seconds=seconds, seed=seed, num_clips=num_clips)
    it = range(num_clips)
    if progress:
        it = tqdm(it, desc=f"extract mouths ({split})", unit="clip")
    crops, audio, ident = [], [], []
    for i in it:
        clip = ds[i]
        crops.append(mouth_crops(clip["frames"], cfg).mul(255).round().to(torch.uint8).numpy())
        audio.append(sync_audio_features(clip["audio"], len(clip["frames"]), cfg).astype(np.float16))
        ident.append(clip["identity"])
    out = dict(crops=np.stack(crops), audio=np.stack(audio), identity=np.asarray(ident, np.int64))
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        save_npz_atomic(path, **out)
    return out
