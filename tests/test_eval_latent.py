"""labkit eval latent: probes, mixed frames, the report's keys, the bars."""
import numpy as np
import pytest
import torch

from labkit.eval_latent import BARS, KEYS, evaluate_latent, meets, mixed_frames, probe_r2
from labkit.face_latent import FaceLatentModel, make_config
from labkit.latent_data import EXPRESSION_FACTORS, POSE_FACTORS, MotionBank, PairSampler
from labkit.synthtalk.factors import FACTOR_NAMES


def test_probe_r2_is_one_for_a_linear_map_and_zero_for_noise():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(400, 5))
    y = x @ rng.normal(size=(5, 2))
    r2 = probe_r2(x[:300], y[:300], x[300:], y[300:])
    assert r2.shape == (2,) and (r2 > 0.99).all()
    noise = probe_r2(x[:300], rng.normal(size=(300, 1)), x[300:], rng.normal(size=(100, 1)))
    assert noise[0] < 0.1


def test_mixed_frames_take_pose_and_dynamics_from_different_frames():
    n = 50
    f = np.arange(n, dtype=np.float32)[:, None].repeat(len(FACTOR_NAMES), 1)
    bank = MotionBank(f, np.arange(n) % 5, np.zeros(n, int))
    out, emo = mixed_frames(bank, np.random.default_rng(0), 200)
    pose = [FACTOR_NAMES.index(k) for k in POSE_FACTORS]
    jaw = FACTOR_NAMES.index("jaw")
    assert (out[:, pose] == out[:, [pose[0]]]).all()                 # one source frame for the pose
    assert (out[:, pose[0]] != out[:, jaw]).mean() > 0.9              # another for the dynamics
    assert (emo == out[:, jaw].astype(int) % 5).all()                # emotion travels with the dynamics


def test_random_expressions_replace_only_the_expression_factors():
    n = 300
    f = np.tile(np.array([[0, 0, 0, 0, 0, 1, .2, .4, .2, 0, 0, 0, 0, .5]], np.float32), (n, 1))
    bank = MotionBank(f, np.zeros(n, np.int64), np.zeros(n, np.int64))
    expr = [FACTOR_NAMES.index(k) for k in EXPRESSION_FACTORS]
    rest = [k for k in range(len(FACTOR_NAMES)) if k not in expr]
    same, _ = PairSampler("train", 64, bank, random_pose_prob=0).draw_frames(np.random.default_rng(1), n)
    assert (same == f).all()
    drawn, _ = PairSampler("train", 64, bank, random_pose_prob=0, random_expression_prob=0.5).draw_frames(
        np.random.default_rng(1), n)
    changed = (drawn[:, expr] != f[:, expr]).any(1)
    assert 0.35 < changed.mean() < 0.65 and (drawn[:, rest] == f[:, rest]).all()
    blink = drawn[changed, FACTOR_NAMES.index("blink")]
    assert blink.min() < 0.1 and blink.max() > 0.9                    # the whole range, not the bank's 4 % of blinks
    with pytest.raises(ValueError, match="random_expression_prob"):
        PairSampler("train", 64, bank, random_expression_prob=1.5)


def test_meets_reads_the_issue_bars():
    assert meets("self_psnr", 28.0) and not meets("self_psnr", 27.9)
    assert meets("leak_dyn_to_pose_r2", 0.05) and not meets("leak_dyn_to_pose_r2", 0.2)
    assert meets("mig", 0.3) is None and set(BARS) <= set(KEYS)


def test_evaluate_untrained_tiny_model_reports_every_key_and_fails_the_bars():
    torch.manual_seed(0)
    r = evaluate_latent(FaceLatentModel(make_config("tiny")), pairs=4, probe_train=120, probe_test=60,
                        identities=3)
    assert set(KEYS) <= set(r)
    assert all(np.isfinite(r[k]) for k in KEYS)
    assert r["self_psnr"] < 20 and r["probe_pose_r2"] < 0.5          # an untrained model is not good
    assert 0 <= r["mig"] <= 1 and 0 <= r["modularity"] <= 1 and -1 <= r["id_inter_cos"] <= 1
    assert set(r["per_factor_r2"]["probe_pose"]) == set(POSE_FACTORS)
    d = r["detail"]
    assert d["autoencode_psnr"] < d["blur4_psnr"]                    # untrained: worse than a 4x blur
    assert d["blur4_eyes_psnr"] < d["blur4_psnr"] and d["blur4_mouth_psnr"] < d["blur4_psnr"]  # detail is where it is lost


def test_detail_fidelity_scores_a_perfect_model_above_the_blur():
    class Perfect(torch.nn.Module):
        def forward(self, x):
            return x + 0.001                                          # finite PSNR, ~60 dB

    bank = MotionBank(np.zeros((5, len(FACTOR_NAMES)), np.float32), np.zeros(5, np.int64), np.zeros(5, np.int64))
    bank.factors[:, FACTOR_NAMES.index("distance")] = 1.0
    from labkit.eval_latent import detail_fidelity
    d = detail_fidelity(Perfect(), PairSampler("test", 64, bank, random_pose_prob=0), bank, np.random.default_rng(0), n=4)
    assert d["autoencode_psnr"] > 55 and d["autoencode_eyes_psnr"] > 55 and d["blur4_eyes_psnr"] < 35
