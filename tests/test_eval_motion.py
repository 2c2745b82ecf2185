"""`labkit eval motion`: the pure metrics on cases with known answers, the baselines and readers,
and one end-to-end evaluation of a tiny generator trained on the oracle factors."""
import numpy as np
import pytest

from labkit.evaluation.motion import (
    KEYS,
    EmotionClassifier,
    MotionEvaluation,
    MotionReader,
    angular_error,
    blink_events,
    delta_p,
    denoising_error,
    evaluate_motion,
    meets,
    pearson_per_clip,
    puppet_factors,
    seam_ratio,
    spread_between,
    sweep_motion,
    window_sway,
)
from labkit.motion.config import DiffusionConfig, TrainMotionConfig
from labkit.motion.data import extract_clips
from labkit.motion.dit import MotionDiT
from labkit.motion.generator import MotionGenerator
from labkit.motion.train import train_motion
from labkit.synthtalk.factors import FACTOR_NAMES

JAW = FACTOR_NAMES.index("jaw")


def test_pearson_delta_p_seams_and_angles():
    rng = np.random.default_rng(0)
    a = rng.normal(size=(4, 100))
    assert pearson_per_clip(a, 2 * a + 1) == pytest.approx(1.0)
    assert pearson_per_clip(a, -a) == pytest.approx(-1.0)
    assert pearson_per_clip(a, np.zeros_like(a)) == 0.0
    ang = np.cumsum(np.ones((2, 11, 3)), 1)                       # one degree per frame
    assert delta_p(ang) == pytest.approx(1.0) and delta_p(np.zeros((2, 11, 3))) == 0.0
    t = np.arange(100)
    sway = np.broadcast_to((3 * np.sin(2 * np.pi * t / 50))[None, :, None], (2, 100, 3))
    assert window_sway(sway, 50) == pytest.approx(3 / np.sqrt(2), rel=1e-6)    # a sine's std, window by window
    jitter = np.broadcast_to(np.where(t % 2, 0.5, -0.5)[None, :, None], (2, 100, 3))
    assert window_sway(jitter, 50) == pytest.approx(0.5)
    assert delta_p(jitter) > 2 * delta_p(sway)                     # ΔP ranks them the other way round
    with pytest.raises(ValueError, match="no whole window"):
        window_sway(sway[:, :40], 50)
    smooth = np.cumsum(np.ones((3, 40, 2)), 1)
    assert seam_ratio(smooth, [0, 10, 20, 30]) == pytest.approx(1.0)
    jumpy = smooth.copy()
    jumpy[:, 10:] += 5.0                                          # a jump across the first boundary
    assert seam_ratio(jumpy, [0, 10, 20, 30]) > 1.5
    ramp = smooth.copy()
    ramp[:, 10:15] += np.linspace(1, 5, 5)[:, None]               # the same jump spread over a 5-frame overlap
    ramp[:, 15:] += 5.0
    assert seam_ratio(ramp, [0, 10], overlap=5) > 1.5             # still counted: every overlap step is seam
    assert seam_ratio(ramp, [0, 10], overlap=5) < seam_ratio(jumpy, [0, 10])
    with pytest.raises(ValueError, match="boundary"):
        seam_ratio(smooth, [0])
    g = np.array([[0.0, 0.0], [10.0, 0.0]])
    assert angular_error(g, g) == pytest.approx(0.0, abs=1e-5)
    assert angular_error(g, np.array([[0.0, 3.0], [10.0, 0.0]])) == pytest.approx(1.5, abs=1e-3)
    assert meets("dp_ratio", 1.1) and not meets("dp_ratio", 1.2) and meets("seam_ratio", 1.2)


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    root = tmp_path_factory.mktemp("eval_motion")
    kw = dict(preset="tiny", motion="factors", train_clips=12, seconds=2.0, batch_size=16, warmup=10,
              checkpoint_every=1000)
    w = train_motion(TrainMotionConfig(steps=120, **kw), root / "dit", progress=False, cache_dir=root / "cache")
    r = train_motion(TrainMotionConfig(steps=60, diffusion=DiffusionConfig(process="regression"), **kw), root / "reg",
                     progress=False, cache_dir=root / "cache")
    return MotionGenerator.load(w, steps=4), MotionGenerator.load(r), root / "cache"


def test_puppet_follows_loudness_and_readers_fit(trained):
    clips = extract_clips("test", 12, source="factors", seconds=2.0, cache_dir=trained[2])
    p = puppet_factors(clips, np.random.default_rng(0))
    assert p.shape == clips.factors.shape and 0 <= p[..., JAW].min() and p[..., JAW].max() <= 1
    assert pearson_per_clip(p[..., JAW], clips.factors[..., JAW]) > 0.5          # SynthTalk jaw follows loudness too
    reader = MotionReader(clips, 12)
    err = np.abs(reader.factors(clips.motion) - clips.factors).max((0, 1))       # oracle motion: probes ≈ identity,
    assert (err <= 0.02 * clips.factors.std((0, 1)) + 0.005).all(), err          # but for the ridge's shrinkage
    assert reader.emotion_accuracy(clips.motion, clips.emotion) >= 0.5


def test_blink_events_count_full_blinks_and_their_length():
    """Three shut-eye bumps of 4 frames in 60 s: 3 a minute, 4 frames each; a twitch that never half
    closes is no blink, and neither is a dip inside one blink (peaks closer than 0.2 s merge)."""
    fps, T = 25.0, 1500
    blink = np.zeros((1, T))
    for s in (100, 700, 1200):
        blink[0, s:s + 4] = [0.6, 1.0, 0.9, 0.55]
    blink[0, 400:405] = 0.3                                        # a twitch: lids never half shut
    rate, frames = blink_events(blink, fps)
    assert rate == pytest.approx(3.0) and frames == pytest.approx(4.0)
    assert blink_events(np.zeros((2, T)), fps) == (0.0, 0.0)
    double = blink.copy()
    double[0, 1203:1205] = [0.7, 1.0]                              # a second peak 3 frames (0.12 s) later
    assert blink_events(double, fps)[0] == pytest.approx(3.0)
    assert blink_events(np.concatenate([blink, blink]), fps)[0] == pytest.approx(3.0)   # a rate, not a count


def test_spread_between_seeds_or_clips():
    rng = np.random.default_rng(0)
    same = np.broadcast_to(rng.normal(size=(1, 80, 3)), (4, 80, 3))
    assert spread_between(same) == pytest.approx(0.0)             # identical seeds do not differ
    noisy = rng.normal(0, 2.0, size=(400, 80, 3))
    assert spread_between(noisy) == pytest.approx(2.0, rel=0.03)
    assert spread_between(noisy + 10 * rng.normal(size=(1, 80, 3))) == pytest.approx(2.0, rel=0.03)  # shared part


def test_emotion_classifier_reads_window_statistics():
    """Emotion shown in a channel's level (or in its spread) is read window by window; motion that does
    not show it is read at chance; one emotion alone is refused."""
    rng = np.random.default_rng(0)
    emotion = np.arange(40) % 4
    level = rng.normal(size=(40, 60, 3))
    level[..., 1] += emotion[:, None]
    spread = rng.normal(size=(40, 60, 3)) * (1 + emotion)[:, None, None]
    for motion in (level, spread):
        clf = EmotionClassifier(motion, emotion, 20)
        assert clf.predict(motion[:5]).shape == (15,)                         # three whole windows a clip
        assert clf.accuracy(motion, emotion) > 0.95
    blind = EmotionClassifier(rng.normal(size=(40, 60, 3)), emotion, 20)
    assert blind.accuracy(rng.normal(size=(40, 60, 3)), emotion) < 0.5
    with pytest.raises(ValueError, match="single emotion"):
        EmotionClassifier(level, np.zeros(40, int), 20)


def test_evaluation_end_to_end(trained):
    gen, reg, cache = trained
    r = evaluate_motion(gen, regression=reg, test_clips=6, train_clips=12, seeds=2, cache_dir=cache)
    assert set(KEYS) <= set(r)
    assert all(np.isfinite(r[k]) for k in KEYS)
    assert -1 <= r["lipsync_corr"] <= 1 and r["gaze_err_deg"] >= 0 and r["dp_ratio"] > 0 and r["seam_ratio"] > 0
    assert r["lipsync_corr_probe_gt"] > 0.99                                     # oracle probes read the truth
    assert r["heldout_language"] == "es" and r["diversity_pose_deg"] > 0
    assert r["diversity_ratio"] == pytest.approx(r["diversity_pose_deg"] / r["diversity_clips_pose_deg"])
    assert r["blink_rate_per_min_gt"] > 0 and r["blink_rate_ratio"] >= 0 and 0 <= r["emotion_acc_val"] <= 1
    assert -1 <= r["sung_lipsync_corr"] <= 1 and r["seam_ratio_gt"] > 0
    assert 0 <= r["emotion_acc_factors"] <= 1 and 0 <= r["emotion_acc_gt"] <= 1
    d = r["denoising"]
    assert d["truth_sway"] > 0 and all(np.isfinite(d[t]["mse"]) and d[t]["sway"] >= 0 for t in ("20", "999"))


def test_sweep_scores_each_setting_on_validation_clips(trained):
    gen, _, cache = trained
    rows = sweep_motion(gen, {"steps": [1, 4], "emotion": [1.0, 3.0]}, clips=6, train_clips=12, seeds=2,
                        cache_dir=cache)
    assert [(r["steps"], r["emotion"]) for r in rows] == [(1, 1.0), (1, 3.0), (4, 1.0), (4, 3.0)]
    assert all(r["audio"] == gen.guidance.audio for r in rows)               # unswept settings are the generator's
    assert rows[0]["diversity_ratio"] != rows[2]["diversity_ratio"]            # the steps reach the sampler
    val = MotionEvaluation("factors", gen.cfg.window, heldout_language=gen.meta["heldout_language"], test_clips=6,
                           train_clips=12, split="val", cache_dir=cache)
    r = val.score(gen.replace(steps=1), seeds=2)                               # its guidance: all 1
    assert r == pytest.approx({k: rows[0][k] for k in r})                     # the rows are validation scores
    with pytest.raises(ValueError, match="cannot sweep"):
        sweep_motion(gen, {"temperature": [1.0]}, clips=6, train_clips=12, cache_dir=cache)
    with pytest.raises(ValueError, match="split"):
        MotionEvaluation("factors", gen.cfg.window, split="train", cache_dir=cache)


def test_denoising_error_tells_a_denoiser_that_reads_x_t(trained):
    """An untrained v-predicting denoiser outputs v̂ = 0, so x̂0 = √ᾱ·x_t: at t = 20 it returns the
    truth with its sway (and the 5 % noise's), from pure noise it returns 0; an x0 one returns 0 at every step."""
    gen, reg, cache = trained
    clips = extract_clips("test", 12, source="factors", seconds=2.0, cache_dir=cache)
    for prediction in ("v", "x0"):
        g = MotionGenerator(MotionDiT(gen.cfg), DiffusionConfig(prediction=prediction))
        g.model.load_state_dict({**MotionDiT(gen.cfg).state_dict(), **{k: v for k, v in gen.model.state_dict().items()
                                                                         if "_mean" in k or "_std" in k}})
        d = denoising_error(g, clips, (20, 999), windows=32)
        if prediction == "v":
            noisy = np.sqrt(d["truth_sway"] ** 2 + 1 - float(g.process.alpha_bar[20]))     # the truth + 5 % noise
            assert d[20]["mse"] < 0.01 and d[20]["sway"] == pytest.approx(noisy, rel=0.1)
            assert d[999]["sway"] < 0.05 * d["truth_sway"]
        else:
            assert d[20]["sway"] == d[999]["sway"] == 0 and d[20]["mse"] > 0.1
    with pytest.raises(ValueError, match="diffusion"):
        denoising_error(reg, clips)
