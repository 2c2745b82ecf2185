"""CAPP (contrastive audio-pose pretraining): shapes, invariance to the mean pose, learning a
toy audio-pose link (matched > mismatched > shifted), batches from distinct clips, resume."""
import dataclasses

import numpy as np
import pytest
import torch

from labkit.evaluators.capp import CAPP, load_capp, shift_frames
from labkit.evaluators.config import CAPPConfig, TrainCAPPConfig
from labkit.evaluators.train_capp import hard_negatives, train_capp, window_batch

TINY = CAPPConfig(window=20, audio_dim=6, width=32, layers=1, heads=2, embed_dim=16)


def test_embeddings_are_unit_and_ignore_the_mean_pose():
    model = CAPP(TINY).eval()
    g = torch.Generator().manual_seed(0)
    pose, audio = torch.randn(4, 20, 3, generator=g), torch.randn(4, 20, 6, generator=g)
    with torch.no_grad():
        p = model.embed_pose(pose)
        torch.testing.assert_close(p, model.embed_pose(pose + torch.tensor([10.0, -5.0, 3.0])))
        assert torch.allclose(p.norm(dim=1), torch.ones(4)) and model.embed_audio(audio).shape == (4, 16)
    with pytest.raises(ValueError, match="pose"):
        model.embed_pose(pose[:, :10])
    with pytest.raises(ValueError, match="T >= 20"):
        model.score(np.zeros((1, 10, 3)), np.zeros((1, 10, 6)))


def test_shift_frames():
    x = np.arange(5.0)[None, :, None]
    assert shift_frames(x, 2)[0, :, 0].tolist() == [0, 0, 0, 1, 2]
    assert shift_frames(x, -1)[0, :, 0].tolist() == [1, 2, 3, 4, 4]
    assert shift_frames(x, 0) is x


def _toy(rng, N, T=60):
    """Onsets in one audio band make the head nod (pitch dips) two frames later."""
    onsets = (rng.random((N, T)) < 0.08).astype(np.float32)
    audio = rng.normal(0, 0.2, (N, T, 6)).astype(np.float32)
    audio[:, :, 0] += 3 * onsets
    kernel = np.array([0, 0, 1, 2, 2, 1], np.float32)
    nod = np.stack([np.convolve(o, kernel)[:T] for o in onsets])
    pose = rng.normal(0, 0.3, (N, T, 3)).astype(np.float32)
    pose[:, :, 1] -= 3 * nod
    return pose, audio


def _fit_toy(negatives: bool):
    """TINY CAPP trained 150 steps on the toy link (with or without hard negatives); held-out toy pose, audio."""
    rng = np.random.default_rng(0)
    torch.manual_seed(0)
    pose, audio = _toy(rng, 256)
    model = CAPP(TINY)
    opt = torch.optim.AdamW(model.parameters(), lr=2e-3)
    for step in range(150):
        r = np.random.default_rng(step)
        p, a, picked = window_batch(pose, audio, 32, 20, r)
        neg = torch.from_numpy(hard_negatives(pose, picked, 20, r)) if negatives else None
        loss, _ = model.loss(torch.from_numpy(p), torch.from_numpy(a), neg)
        opt.zero_grad()
        loss.backward()
        opt.step()
    return model.eval(), _toy(np.random.default_rng(1), 32)


def test_learns_a_toy_audio_pose_link():
    model, (tp, ta) = _fit_toy(negatives=False)
    matched = model.score(tp, ta).mean()
    mismatched = model.score(tp, np.roll(ta, 1, axis=0)).mean()
    shifted = model.score(shift_frames(tp, 4), ta).mean()
    assert matched > mismatched + 0.3
    assert matched > shifted + 0.1


def test_hard_negatives_set_a_still_head_below_true_motion():
    """Trained with out-of-time and near-motionless negatives, a still head scores below true motion."""
    model, (tp, ta) = _fit_toy(negatives=True)
    still = np.repeat(tp.mean(1, keepdims=True), tp.shape[1], axis=1)
    matched = model.score(tp, ta).mean()
    assert matched > model.score(still, ta).mean() + 0.3
    assert matched > model.score(shift_frames(tp, 4), ta).mean() + 0.1


def test_window_batch_draws_distinct_clips():
    pose = np.arange(10)[:, None, None] * np.ones((10, 30, 3))
    p, a, _ = window_batch(pose, pose, 10, 20, np.random.default_rng(0))
    assert sorted(p[:, 0, 0]) == list(range(10)) and p.shape == (10, 20, 3)
    with pytest.raises(ValueError, match="exceeds the 10 clips"):
        window_batch(pose, pose, 11, 20, np.random.default_rng(0))


def test_training_resumes_exactly(tmp_path, resumes_exactly):
    cfg = TrainCAPPConfig(train_clips=6, seconds=1.0, steps=4, batch_size=4, checkpoint_every=2)
    model_cfg = dataclasses.replace(TINY, audio_dim=80)
    kw = dict(model_cfg=model_cfg, progress=False, cache_dir=tmp_path / "cache")
    resumes_exactly(train_capp, load_capp, cfg, **kw)


def test_hard_negatives_are_the_same_clips_out_of_time_or_nearly_still():
    rng = np.random.default_rng(0)
    T, W = 60, 20
    pose = rng.normal(size=(8, T, 3)).astype(np.float32)
    p, a, picked = window_batch(pose, pose, 8, W, rng)
    neg = hard_negatives(pose, picked, W, rng, shift=(3, 12), still=0.25)
    assert neg.shape == (8 + 2, W, 3)
    n, start = picked
    for i in range(8):                               # each shifted window: the same clip, 3..12 frames away
        lag = [s for s in range(T - W + 1) if np.array_equal(pose[n[i], s:s + W], neg[i])]
        assert len(lag) == 1 and 3 <= abs(lag[0] - start[i]) <= 12
    for i in range(2):                               # the still ones: same mean, at most a quarter of the motion
        w = p[i]
        np.testing.assert_allclose(neg[8 + i].mean(0), w.mean(0), atol=1e-5)
        assert (neg[8 + i] - w.mean(0)).std() <= 0.25 * (w - w.mean(0)).std() + 1e-6
    assert hard_negatives(pose, picked, W, rng, shift=(), still=0).shape == (0, W, 3)
    with pytest.raises(ValueError, match="1 <= lo <= hi"):
        hard_negatives(pose, picked, W, rng, shift=(5, 2))


def test_negatives_enter_the_audio_to_pose_side_only():
    model = CAPP(TINY).eval()
    g = torch.Generator().manual_seed(0)
    pose, audio = torch.randn(4, 20, 3, generator=g), torch.randn(4, 20, 6, generator=g)
    with torch.no_grad():
        base, _ = model.loss(pose, audio)
        same, _ = model.loss(pose, audio, torch.zeros(0, 20, 3))
        harder, _ = model.loss(pose, audio, torch.randn(6, 20, 3, generator=g))
    assert torch.isclose(base, same) and harder > base
