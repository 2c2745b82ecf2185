"""The official SyncNet (Chung & Zisserman, 2016), for users who bring its weights.

VASA-1 reports S_C and S_D of the public SyncNet model (``syncnet_v2.model`` of the
syncnet_python repository). It cannot be downloaded here; a user who has the file passes it to
:func:`load_official_syncnet` and gets the same evaluation as LabSync's
(labkit.metrics.sync.sync_scores), on the official scale.

The network below is the published architecture with the parameter names of that state dict
(``netcnnaud.*``, ``netfcaud.*``, ``netcnnlip.*``, ``netfclip.*``), so the file loads as is. Its inputs:

- video: 5 consecutive 224 × 224 face crops, BGR, values 0–255: (B, 3, 5, 224, 224);
- audio: 13 MFCCs at 100 Hz over 0.2 s (20 frames): (B, 1, 13, 20), computed as the
  ``python_speech_features.mfcc`` defaults do (25 ms windows, 10 ms hop, 26 mel filters, 512-point
  FFT, pre-emphasis 0.97, lifter 22, c0 replaced by the log frame energy), re-implemented in numpy.

Distances are Euclidean between the raw 1024-d embeddings, as in the official evaluation.
"""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from scipy.fft import dct

from labkit.metrics.sync import SyncScores, sync_scores


def _block(conv: nn.Module, bn: nn.Module, *pool: nn.Module) -> list[nn.Module]:
    return [conv, bn, nn.ReLU(inplace=True), *pool]


class OfficialSyncNet(nn.Module):
    """SyncNet v2 with the official state-dict layout; forward_* give (B, 1024) embeddings."""

    def __init__(self, embed_dim: int = 1024):
        super().__init__()
        c2, b2, c3, b3 = nn.Conv2d, nn.BatchNorm2d, nn.Conv3d, nn.BatchNorm3d
        self.netcnnaud = nn.Sequential(                                    # (B, 1, 13, 20) → (B, 512, 1, 1)
            *_block(c2(1, 64, 3, 1, 1), b2(64), nn.MaxPool2d(1, 1)),
            *_block(c2(64, 192, 3, 1, 1), b2(192), nn.MaxPool2d(3, (1, 2))),
            *_block(c2(192, 384, 3, 1, 1), b2(384)),
            *_block(c2(384, 256, 3, 1, 1), b2(256)),
            *_block(c2(256, 256, 3, 1, 1), b2(256), nn.MaxPool2d(3, 2)),
            *_block(c2(256, 512, (5, 4), 1, 0), b2(512)))
        self.netcnnlip = nn.Sequential(                                    # (B, 3, 5, 224, 224) → (B, 512, 1, 1, 1)
            *_block(c3(3, 96, (5, 7, 7), (1, 2, 2), 0), b3(96), nn.MaxPool3d((1, 3, 3), (1, 2, 2))),
            *_block(c3(96, 256, (1, 5, 5), (1, 2, 2), (0, 1, 1)), b3(256),
                    nn.MaxPool3d((1, 3, 3), (1, 2, 2), (0, 1, 1))),
            *_block(c3(256, 256, (1, 3, 3), 1, (0, 1, 1)), b3(256)),
            *_block(c3(256, 256, (1, 3, 3), 1, (0, 1, 1)), b3(256)),
            *_block(c3(256, 256, (1, 3, 3), 1, (0, 1, 1)), b3(256), nn.MaxPool3d((1, 3, 3), (1, 2, 2))),
            *_block(c3(256, 512, (1, 6, 6), 1, 0), b3(512)))
        self.netfcaud = nn.Sequential(nn.Linear(512, 512), nn.BatchNorm1d(512), nn.ReLU(), nn.Linear(512, embed_dim))
        self.netfclip = nn.Sequential(nn.Linear(512, 512), nn.BatchNorm1d(512), nn.ReLU(), nn.Linear(512, embed_dim))

    def forward_aud(self, x: torch.Tensor) -> torch.Tensor:
        return self.netfcaud(self.netcnnaud(x).flatten(1))

    def forward_lip(self, x: torch.Tensor) -> torch.Tensor:
        return self.netfclip(self.netcnnlip(x).flatten(1))

    @torch.no_grad()
    def embed_clip(self, faces: np.ndarray, audio: np.ndarray, *, sample_rate: int = 16000,
                   batch: int = 32) -> tuple[np.ndarray, np.ndarray]:
        """faces (T, H, W, 3) uint8 RGB face crops at 25 fps and mono audio (S,) in [-1, 1] at 16 kHz →
        video (n, 1024) and audio (n, 1024) embeddings of the n = min(T, S / 640) − 5 windows."""
        if sample_rate != 16000:
            raise ValueError(f"the official SyncNet takes 16 kHz audio, got {sample_rate} Hz")
        x = torch.from_numpy(np.ascontiguousarray(faces[..., ::-1])).permute(0, 3, 1, 2).float()  # BGR
        x = F.interpolate(x, size=(224, 224), mode="bilinear", align_corners=False)
        pcm = np.asarray(audio, np.float64) * 32768                             # the official pipeline reads 16-bit wav
        mfcc = torch.from_numpy(speech_mfcc(pcm)).T.float()                    # (13, frames at 100 Hz)
        n = min(len(faces), len(audio) // 640) - 5
        if n < 1:
            raise ValueError(f"{len(faces)} frames / {len(audio) / 16000:.2f} s are too short for one window")
        dev = next(self.parameters()).device
        ev, ea = [], []
        for s in range(0, n, batch):
            t = range(s, min(n, s + batch))
            v = torch.stack([x[i:i + 5].permute(1, 0, 2, 3) for i in t])      # (b, 3, 5, 224, 224)
            a = torch.stack([mfcc[None, :, 4 * i:4 * i + 20] for i in t])      # (b, 1, 13, 20)
            ev.append(self.forward_lip(v.to(dev)).cpu())
            ea.append(self.forward_aud(a.to(dev)).cpu())
        return torch.cat(ev).numpy(), torch.cat(ea).numpy()

    def score(self, faces: np.ndarray, audio: np.ndarray, *, vshift: int = 15, **kw) -> SyncScores:
        return sync_scores(*self.embed_clip(faces, audio, **kw), vshift=vshift)


def load_official_syncnet(path: str | os.PathLike, *, device: str = "cpu") -> OfficialSyncNet:
    """The official weights (a torch state dict, e.g. syncnet_v2.model) in an OfficialSyncNet, eval mode."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no SyncNet weights at {path} (syncnet_v2.model of the syncnet_python repository)")
    state = torch.load(path, map_location="cpu", weights_only=True)
    model = OfficialSyncNet()
    missing, unexpected = model.load_state_dict(state, strict=False)
    if missing or unexpected:
        raise ValueError(f"{path} is not a SyncNet v2 state dict: missing {missing[:4]}…, unexpected {unexpected[:4]}…")
    return model.to(device).eval()


# ---------------------------------------------------------------------------- MFCC as SyncNet computes it

def _hz_to_mel(f):
    return 2595 * np.log10(1 + np.asarray(f) / 700)


def _mel_to_hz(m):
    return 700 * (10 ** (np.asarray(m) / 2595) - 1)


def speech_mfcc(audio: np.ndarray, sample_rate: int = 16000, *, numcep: int = 13, nfilt: int = 26, nfft: int = 512,
                winlen: float = 0.025, winstep: float = 0.01, preemph: float = 0.97, ceplifter: int = 22) -> np.ndarray:
    """MFCCs (frames, numcep) with python_speech_features' defaults: HTK mel filters from 0 to sr / 2
    on FFT bins, log filterbank energies, DCT-II (orthonormal), sinusoidal lifter, c0 = log frame energy.
    Frames: 1 + ceil((S − winlen·sr) / (winstep·sr)), the last zero-padded; rectangular window."""
    x = np.asarray(audio, np.float64)
    if x.ndim != 1:
        raise ValueError(f"audio must be mono (S,), got shape {x.shape}")
    x = np.append(x[0], x[1:] - preemph * x[:-1])
    flen, step = int(round(winlen * sample_rate)), int(round(winstep * sample_rate))
    n = 1 if len(x) <= flen else 1 + int(np.ceil((len(x) - flen) / step))
    x = np.pad(x, (0, (n - 1) * step + flen - len(x)))
    frames = x[np.arange(n)[:, None] * step + np.arange(flen)[None]]
    power = np.abs(np.fft.rfft(frames, nfft)) ** 2 / nfft                     # (n, nfft/2 + 1)
    energy = np.maximum(power.sum(1), np.finfo(float).eps)
    edges = _mel_to_hz(np.linspace(_hz_to_mel(0), _hz_to_mel(sample_rate / 2), nfilt + 2))
    bins = np.floor((nfft + 1) * edges / sample_rate).astype(int)
    fb = np.zeros((nfilt, nfft // 2 + 1))
    for j in range(nfilt):
        lo, mid, hi = bins[j], bins[j + 1], bins[j + 2]
        fb[j, lo:mid] = (np.arange(lo, mid) - lo) / max(mid - lo, 1)
        fb[j, mid:hi] = (hi - np.arange(mid, hi)) / max(hi - mid, 1)
    feat = np.log(np.maximum(power @ fb.T, np.finfo(float).eps))
    cep = dct(feat, type=2, axis=1, norm="ortho")[:, :numcep]
    cep *= 1 + (ceplifter / 2) * np.sin(np.pi * np.arange(numcep) / ceplifter)
    cep[:, 0] = np.log(energy)
    return cep.astype(np.float32)
