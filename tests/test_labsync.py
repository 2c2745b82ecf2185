"""LabSync (the lip-sync expert) and the official SyncNet adapter: shapes, learning to tell the
true audio offset on a toy problem, exact resume, the official key layout, MFCC framing."""
import dataclasses

import numpy as np
import pytest
import torch

from labkit.evaluators.config import LabSyncConfig, TrainLabSyncConfig
from labkit.evaluators.labsync import LabSync, load_labsync, mouth_crops, sync_audio_features
from labkit.evaluators.syncnet import OfficialSyncNet, load_official_syncnet, speech_mfcc
from labkit.evaluators.train_labsync import labsync_loss, offset_batch, train_labsync
from labkit.metrics import sync_scores

TINY = LabSyncConfig(n_mels=8, crop=(16, 24), width=8, audio_width=8, embed_dim=16)


def test_crops_features_and_embeddings():
    frames = np.random.default_rng(0).integers(0, 256, (12, 64, 64, 3), dtype=np.uint8)
    crops = mouth_crops(frames, TINY)
    assert crops.shape == (12, 3, 16, 24) and 0 <= crops.min() and crops.max() <= 1
    with pytest.raises(ValueError, match="uint8"):
        mouth_crops(frames.astype(np.float32), TINY)
    audio = np.random.default_rng(1).standard_normal(12 * 640).astype(np.float32) * 0.1
    assert sync_audio_features(audio, 12, TINY).shape == (48, 8)
    model = LabSync(TINY).eval()
    ev, ea = model.embed_clip(frames, audio)
    assert ev.shape == ea.shape == (8, 16)
    np.testing.assert_allclose(np.linalg.norm(ev, axis=1), 1, atol=1e-5)
    with pytest.raises(ValueError, match="shorter than one window"):
        model.embed_clip(frames[:3], audio)


def _toy_clips(rng, N=16, T=60):
    """Mouth brightness and one audio band follow the same random signal: sync is learnable."""
    s = np.cumsum(rng.standard_normal((N, T)), 1)
    s = (s - s.mean(1, keepdims=True)) / s.std(1, keepdims=True)
    crops = np.clip(128 + 50 * s[:, :, None, None, None] + rng.normal(0, 5, (N, T, 3, 16, 24)), 0, 255)
    audio = rng.normal(0, 0.3, (N, 4 * T, 8)).astype(np.float32)
    audio[:, :, 0] += np.repeat(s, 4, axis=1)
    return dict(crops=crops.astype(np.uint8), audio=audio)


def test_learns_the_true_offset_on_a_toy_problem():
    rng = np.random.default_rng(0)
    torch.manual_seed(0)
    data = _toy_clips(rng)
    model = LabSync(TINY)
    opt = torch.optim.AdamW(model.parameters(), lr=3e-3)
    for _ in range(120):
        v, a, valid = offset_batch(data, TINY, 16, 4, rng)
        loss, _ = labsync_loss(model, torch.from_numpy(v).float() / 255, torch.from_numpy(a), torch.from_numpy(valid))
        opt.zero_grad()
        loss.backward()
        opt.step()
    model.eval()
    test = _toy_clips(np.random.default_rng(1), N=1)
    with torch.no_grad():
        crops = torch.from_numpy(test["crops"][0]).float() / 255
        n = 60 - TINY.frames + 1
        t = torch.arange(n)
        ev = model.embed_video(crops[t[:, None] + torch.arange(5)]).numpy()
        feats = torch.from_numpy(test["audio"][0])
        ea = model.embed_audio(feats[t[:, None] * 4 + torch.arange(20)]).numpy()
    aligned = sync_scores(ev, ea, vshift=6)
    assert aligned.offset == 0 and aligned.confidence > 0.2
    delayed = sync_scores(ev, np.concatenate([ea[:3].copy(), ea[:-3]]), vshift=6)   # audio 3 frames late
    assert delayed.offset == -3


def test_training_resumes_exactly(tmp_path, resumes_exactly):
    cfg = TrainLabSyncConfig(train_clips=2, seconds=1.0, steps=4, batch_size=4, max_offset=2, checkpoint_every=2)
    kw = dict(model_cfg=TINY, progress=False, cache_dir=tmp_path / "cache")
    split = resumes_exactly(train_labsync, load_labsync, cfg, **kw)
    with pytest.raises(ValueError, match="another config"):
        train_labsync(dataclasses.replace(cfg, lr=1.0), split, **kw)


# the official syncnet_v2.model: (key, shape) of its convolution and linear weights
OFFICIAL = {"netcnnaud.0.weight": (64, 1, 3, 3), "netcnnaud.4.weight": (192, 64, 3, 3),
            "netcnnaud.8.weight": (384, 192, 3, 3), "netcnnaud.11.weight": (256, 384, 3, 3),
            "netcnnaud.14.weight": (256, 256, 3, 3), "netcnnaud.18.weight": (512, 256, 5, 4),
            "netcnnlip.0.weight": (96, 3, 5, 7, 7), "netcnnlip.4.weight": (256, 96, 1, 5, 5),
            "netcnnlip.8.weight": (256, 256, 1, 3, 3), "netcnnlip.11.weight": (256, 256, 1, 3, 3),
            "netcnnlip.14.weight": (256, 256, 1, 3, 3), "netcnnlip.18.weight": (512, 256, 1, 6, 6),
            "netfcaud.0.weight": (512, 512), "netfcaud.3.weight": (1024, 512),
            "netfclip.0.weight": (512, 512), "netfclip.3.weight": (1024, 512)}


def test_official_layout_loads_and_scores(tmp_path):
    state = OfficialSyncNet().state_dict()
    for k, shape in OFFICIAL.items():
        assert tuple(state[k].shape) == shape, k
    g = torch.Generator().manual_seed(0)
    random_state = {k: (torch.rand(v.shape, generator=g) + 0.5 if "running_var" in k else
                        torch.randn(v.shape, generator=g) * 0.05) if v.is_floating_point() else v
                    for k, v in state.items()}
    torch.save(random_state, tmp_path / "syncnet_v2.model")
    model = load_official_syncnet(tmp_path / "syncnet_v2.model")
    assert torch.equal(model.state_dict()["netcnnlip.0.weight"], random_state["netcnnlip.0.weight"])
    faces = np.random.default_rng(0).integers(0, 256, (12, 112, 112, 3), dtype=np.uint8)
    audio = np.random.default_rng(1).standard_normal(12 * 640).astype(np.float32) * 0.1
    ev, ea = model.embed_clip(faces, audio)
    assert ev.shape == ea.shape == (7, 1024) and np.isfinite(ev).all() and np.isfinite(ea).all()
    s = model.score(faces, audio, vshift=3)
    assert np.isfinite(s.min_dist) and -3 <= s.offset <= 3
    torch.save({"conv.weight": torch.zeros(1)}, tmp_path / "other.model")
    with pytest.raises(ValueError, match="not a SyncNet v2 state dict"):
        load_official_syncnet(tmp_path / "other.model")
    with pytest.raises(FileNotFoundError):
        load_official_syncnet(tmp_path / "missing.model")


def test_speech_mfcc_framing_and_energy():
    sr = 16000
    audio = np.sin(2 * np.pi * 440 * np.arange(sr) / sr)
    c = speech_mfcc(audio * 1000)
    assert c.shape == (1 + int(np.ceil((sr - 400) / 160)), 13)                # 99 frames of 10 ms
    x = audio * 1000
    pre = np.append(x[0], x[1:] - 0.97 * x[:-1])
    frame = pre[160:560]                                                      # frame 1
    energy = (np.abs(np.fft.rfft(frame, 512)) ** 2 / 512).sum()
    assert c[1, 0] == pytest.approx(np.log(energy), rel=1e-5)                 # c0 = log frame energy
    louder = speech_mfcc(audio * 2000)
    np.testing.assert_allclose(louder[:, 1:], c[:, 1:], atol=1e-3)           # scale only moves c0
    np.testing.assert_allclose(louder[:, 0] - c[:, 0], np.log(4), atol=1e-4)
