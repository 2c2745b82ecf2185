"""The FVD clip encoder: shapes, clip cutting, bad input, learning SynthTalk factors from a few
rendered windows with exact resume, and the shipped encoder's FVD telling real from frozen clips."""
import dataclasses

import numpy as np
import pytest
import torch

from labkit.evaluation.instruments import evaluate_video_features
from labkit.evaluators.config import TrainVideoFeaturesConfig, VideoFeaturesConfig
from labkit.evaluators.train_video_features import train_video_features, video_features_loss
from labkit.evaluators.video_features import VideoFeatureNet, factor_targets, load_video_features, render_windows

TINY = VideoFeaturesConfig(size=32, width=8)


def test_shapes_and_clip_cutting():
    torch.manual_seed(0)
    model = VideoFeatureNet(TINY).eval()
    clips = torch.randint(0, 256, (3, 16, 64, 64, 3), dtype=torch.uint8)
    f, logits = model(clips)
    assert f.shape == (3, 5, 14) and logits.shape == (3, 5)
    assert model.features(clips).shape == (3, TINY.feature_dim) == (3, 32)
    video = np.random.default_rng(0).integers(0, 256, (40, 64, 64, 3), dtype=np.uint8)
    assert model.video_features([video]).shape == (2, 32)               # frames 0-15, 16-31
    assert model.video_features([video], hop=8).shape == (4, 32)        # 0, 8, 16, 24
    np.testing.assert_allclose(model.video_features([video[:16]])[0], model.video_features([video])[0], atol=1e-5)
    with pytest.raises(ValueError, match="shorter than one 16-frame clip"):
        model.video_features([video[:10]])
    with pytest.raises(ValueError, match="uint8"):
        model.video_features([video.astype(np.float32)])


@pytest.fixture(scope="module")
def windows(tmp_path_factory):
    return render_windows("train", 8, TINY, seconds=2.0, cache_dir=tmp_path_factory.mktemp("cache"))


def test_rendered_windows_hold_their_factors(windows):
    assert windows["frames"].shape == (8, 16, 32, 32, 3) and windows["frames"].dtype == np.uint8
    assert windows["factors"].shape == (8, 16, 14) and windows["emotion"].shape == (8,)
    assert windows["frames"].std() > 20                                 # faces, not blank frames
    jaw = windows["factors"][..., 6]
    assert jaw.max() > 0.2                                              # speech opens the jaw somewhere


def test_training_learns_the_factors_and_resumes(tmp_path, resumes_exactly):
    cfg = TrainVideoFeaturesConfig(train_clips=8, seconds=2.0, steps=40, batch_size=8, lr=3e-3, warmup=5,
                                   log_every=40, checkpoint_every=20)
    kw = dict(model_cfg=VideoFeaturesConfig(size=32, width=8), progress=False, cache_dir=tmp_path / "cache")
    w = train_video_features(cfg, tmp_path / "run", **kw)
    model = load_video_features(w)
    data = render_windows("train", 8, model.cfg, seconds=2.0, cache_dir=tmp_path / "cache")
    factors, emotion = factor_targets(data, np.arange(8), model.cfg)
    torch.manual_seed(cfg.seed)
    untrained = VideoFeatureNet(model.cfg).eval()                       # the same initial weights
    with torch.no_grad():
        _, before = video_features_loss(untrained, torch.from_numpy(data["frames"]), factors, emotion, 0.5)
        _, after = video_features_loss(model, torch.from_numpy(data["frames"]), factors, emotion, 0.5)
    assert after["mse"] < 0.6 * before["mse"]
    short = dataclasses.replace(cfg, steps=4, warmup=100, checkpoint_every=2, batch_size=4)   # within warm-up
    resumes_exactly(train_video_features, load_video_features, short, **kw)


def test_shipped_encoder_reads_factors_and_separates_frozen_clips(tmp_path):
    r = evaluate_video_features(load_video_features(), num_clips=128, cache_dir=tmp_path)
    assert r["r2_yaw"] > 0.4 and r["r2_distance"] > 0.4               # it sees head pose and framing
    assert r["fvd_frozen"] > 1.5 * r["fvd_halves"]                      # frozen video is far from real video
    assert r["fvd_blurred"] > r["fvd_halves"]
