"""labkit eval latent: probes, mixed frames, the report's keys, the bars."""
import numpy as np
import pytest
import torch

from labkit.evaluation.latent import (
    BARS,
    KEYS,
    PROBE_DYN,
    drawn_dynamics,
    evaluate_latent,
    meets,
    mixed_frames,
    pixel_probe_r2,
    probe_r2,
    render_frames,
    render_frames_with_parts,
    within_identity_r2,
)
from labkit.latent.config import make_config
from labkit.latent.data import EXPRESSION_FACTORS, POSE_FACTORS, MotionBank, PairSampler, cross_partner, motion_bank
from labkit.latent.model import FaceLatentModel
from labkit.synthtalk.factors import FACTOR_NAMES


def test_probe_r2_is_one_for_a_linear_map_and_zero_for_noise():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(400, 5))
    y = x @ rng.normal(size=(5, 2))
    r2 = probe_r2(x[:300], y[:300], x[300:], y[300:])
    assert r2.shape == (2,) and (r2 > 0.99).all()
    noise = probe_r2(x[:300], rng.normal(size=(300, 1)), x[300:], rng.normal(size=(100, 1)))
    assert noise[0] < 0.1


def test_pixel_probe_reads_a_factor_drawn_among_many_noisy_pixels_and_not_noise():
    rng = np.random.default_rng(0)
    y = rng.normal(size=(400, 2))
    x = rng.normal(size=(400, 600))
    x[:, :50] += 0.5 * y[:, :1]                        # factor 0 drawn faintly in 50 of 600 pixels, factor 1 not at all
    r2 = pixel_probe_r2(x[:300], y[:300], x[300:], y[300:])
    assert r2[0] > 0.8 and r2[1] < 0.05


def test_within_identity_r2_forgives_per_person_offsets_only():
    rng = np.random.default_rng(1)
    ids = np.repeat(np.arange(20), 15)
    y = rng.normal(size=(300, 2))
    x = y @ rng.normal(size=(2, 2)) + rng.normal(scale=3.0, size=(20, 2))[ids]   # each person's codes shifted
    odd = ids % 2 == 1
    assert probe_r2(x[~odd], y[~odd], x[odd], y[odd]).max() < 0.3       # across people the offsets swamp it
    assert (within_identity_r2(x, y, ids) > 0.99).all()
    assert (within_identity_r2(rng.normal(size=(300, 2)), y, ids) < 0.1).all()  # codes that do not follow
    with pytest.raises(ValueError, match="at least 4 people"):
        within_identity_r2(x[:45], y[:45], ids[:45])


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


def test_rendered_frames_do_not_depend_on_the_batching_and_carry_their_part_crops():
    bank = motion_bank("train", 2)
    sampler = PairSampler("train", 64, bank)
    b = sampler.batch(5, np.random.default_rng(1))
    ids, f, e = b["identity"].numpy(), b["driver_factors"].numpy(), b["driver_emotion"].numpy()
    whole = render_frames(sampler, ids, f, e)
    assert whole.shape == (5, 3, 64, 64) and torch.equal(whole, b["driver"])
    assert torch.equal(render_frames(sampler, ids, f, e, batch=2), whole)
    frames, parts = render_frames_with_parts(sampler, ids, f, e, batch=3)
    assert torch.equal(frames, whole) and parts.shape[0] == 5 and parts.dtype == np.float32
    assert not np.allclose(parts[0], parts[1])                           # each frame's own eyes and mouth


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


def test_same_pose_pairs_differ_only_in_expression():
    bank = motion_bank("train", 2)
    pose = [FACTOR_NAMES.index(k) for k in POSE_FACTORS]
    apart = PairSampler("train", 64, bank, random_pose_prob=1).batch(8, np.random.default_rng(3))
    assert (apart["source_factors"][:, pose] != apart["driver_factors"][:, pose]).all()
    kept = PairSampler("train", 64, bank, random_pose_prob=1, same_pose_prob=1).batch(8, np.random.default_rng(3))
    assert (kept["source_factors"][:, pose] == kept["driver_factors"][:, pose]).all()
    assert (kept["source_factors"] != kept["driver_factors"]).any(1).all()   # the expression still differs
    assert not torch.equal(kept["source"], kept["driver"])
    with pytest.raises(ValueError, match="same_pose_prob"):
        PairSampler("train", 64, bank, same_pose_prob=-0.1)


def test_cross_targets_render_each_person_with_the_previous_rows_motion():
    bank = motion_bank("train", 2)
    plain = PairSampler("train", 64, bank).batch(4, np.random.default_rng(5))
    crossed = PairSampler("train", 64, bank, cross_targets=True)
    b = crossed.batch(4, np.random.default_rng(5))
    assert all(torch.equal(plain[k], b[k]) for k in plain)                # no extra draws: the same pairs
    k = cross_partner(4)
    assert k.tolist() == [3, 0, 1, 2]
    gt = crossed.render(b["identity"].numpy(), b["driver_factors"][k].numpy(), b["driver_emotion"][k].numpy())
    assert torch.equal(b["cross_target"], gt) and b["cross_landmarks"].shape == (4, 68, 2)
    assert not torch.equal(b["cross_target"], b["driver"])                # another person's motion: a new image
    ids = b["identity"].numpy()                                            # drawn person by person: the same images
    for kind in ("source", "driver"):
        images, landmarks = crossed.render_with_landmarks(ids, b[f"{kind}_factors"].numpy(),
                                                          b[f"{kind}_emotion"].numpy())
        assert torch.equal(b[kind], images) and torch.equal(b[f"{kind}_landmarks"], landmarks)
    shard = crossed.batch(4, np.random.default_rng(5), rows=slice(2, 4))  # the partner is found within a shard
    gt = crossed.render(b["identity"][2:].numpy(), b["driver_factors"][[3, 2]].numpy(),
                        b["driver_emotion"][[3, 2]].numpy())
    assert torch.equal(shard["cross_target"], gt)


def test_meets_reads_the_issue_bars():
    assert meets("self_psnr", 28.0) and not meets("self_psnr", 27.9)
    assert meets("leak_dyn_to_pose_r2", 0.05) and not meets("leak_dyn_to_pose_r2", 0.2)
    assert meets("mig", 0.3) is None and set(BARS) <= set(KEYS)


def test_drawn_dynamics_carry_the_factors_but_emotion_confounds_the_brow():
    """Neutral frames draw each dynamics factor plainly (probe R² 1); a surprised face adds 0.8·intensity to
    the drawn brow, which the brow probe on what is drawn can then only partly undo."""
    rng = np.random.default_rng(0)
    bank = motion_bank("train", 6, seconds=2.0, seed=3)
    f, _ = mixed_frames(bank, rng, 400)
    f[:, FACTOR_NAMES.index("emotion_intensity")] = rng.uniform(0.4, 1.0, len(f))
    cols = [FACTOR_NAMES.index(n) for n in PROBE_DYN]
    neutral, surprised = np.zeros(len(f), int), np.where(rng.random(len(f)) < 0.5, 4, 0)
    x = drawn_dynamics(f, neutral)
    assert x.shape == (400, 11)
    assert np.allclose(x[:, -2:], f[:, [FACTOR_NAMES.index("gaze_yaw"), FACTOR_NAMES.index("gaze_pitch")]])
    r2 = dict(zip(PROBE_DYN, probe_r2(x[:200], f[:200, cols], x[200:], f[200:, cols])))
    assert min(r2["jaw"], r2["gaze_yaw"], r2["gaze_pitch"]) > 0.999 and r2["brow"] > 0.99
    x = drawn_dynamics(f, surprised)
    brow = probe_r2(x[:200], f[:200, cols], x[200:], f[200:, cols])[PROBE_DYN.index("brow")]
    assert brow < 0.9


def test_evaluate_untrained_tiny_model_reports_every_key_and_fails_the_bars():
    torch.manual_seed(0)
    r = evaluate_latent(FaceLatentModel(make_config("tiny")), pairs=4, detail_pairs=4, probe_train=120, probe_test=60,
                        identities=4)
    assert set(KEYS) <= set(r)
    assert all(np.isfinite(r[k]) for k in KEYS)
    assert r["self_psnr"] < 20 and r["probe_pose_r2"] < 0.5          # an untrained model is not good
    assert 0 <= r["mig"] <= 1 and 0 <= r["modularity"] <= 1 and -1 <= r["id_inter_cos"] <= 1
    assert set(r["per_factor_r2"]["probe_pose"]) == set(POSE_FACTORS)
    assert set(r["per_factor_r2"]["probe_pose_within_id"]) == set(POSE_FACTORS)
    assert r["probe_pose_within_id_r2"] < 0.5
    assert r["probe_dyn_drawn_r2"] > 0.5 > r["probe_dyn_r2"]          # the data's ceiling, far above this model
    assert set(r["per_factor_r2"]["probe_dyn_drawn"]) == set(PROBE_DYN)
    # the image shows it
    pixels, codes = r["per_factor_r2"]["probe_dyn_pixels"], r["per_factor_r2"]["probe_dyn"]
    assert pixels["jaw"] > 0.2 and pixels["jaw"] > codes["jaw"] + 0.3      # 120 frames: a noisy but clear reading
    assert set(r["transfer"]) == {"jaw", "blink", "brow", "gaze_yaw", "gaze_pitch"}
    assert 0 <= r["accessories_kept"] <= 1 and r["dlib_distance"] > 0
    assert {"glasses_kept", "hair_kept", "glasses_reader_acc", "hair_reader_acc"} <= set(r["details"])
    d = r["detail"]
    assert d["autoencode_psnr"] < d["blur4_psnr"]                    # untrained: worse than a 4x blur
    # detail is where it is lost
    assert d["blur4_eyes_psnr"] < d["blur4_psnr"] and d["blur4_mouth_psnr"] < d["blur4_psnr"]


def test_detail_fidelity_scores_a_perfect_model_above_the_blur():
    class Perfect(torch.nn.Module):
        def forward(self, x):
            return x + 0.001                                          # finite PSNR, ~60 dB

    bank = MotionBank(np.zeros((5, len(FACTOR_NAMES)), np.float32), np.zeros(5, np.int64), np.zeros(5, np.int64))
    bank.factors[:, FACTOR_NAMES.index("distance")] = 1.0
    from labkit.evaluation.latent import detail_fidelity
    d = detail_fidelity(Perfect(), PairSampler("test", 64, bank, random_pose_prob=0), bank, np.random.default_rng(0),
                        n=4)
    assert d["autoencode_psnr"] > 55 and d["autoencode_eyes_psnr"] > 55 and d["blur4_eyes_psnr"] < 35


class _Recorder(PairSampler):
    """A PairSampler that remembers what each rendered image shows: identity, factors, emotion."""

    def __init__(self, *a, **k):
        super().__init__(*a, **k)
        self.seen = {}

    def render(self, ids, factors, emotion):
        x = super().render(ids, factors, emotion)
        for b in range(len(x)):
            self.seen[x[b].numpy().tobytes()] = (ids[b], factors[b], emotion[b])
        return x


class _Oracle(torch.nn.Module):
    """Reads the exact factors of a recorded image and draws them with SynthTalk's renderer; with
    `leaky`, it takes the pose from the dynamics code (what a z_dyn that repeats the pose does)."""

    def __init__(self, sampler: _Recorder, leaky: bool = False):
        super().__init__()
        self.sampler, self.leaky, self.rows = sampler, leaky, []

    def encode_codes(self, x):
        k = torch.arange(len(self.rows), len(self.rows) + len(x)).float()[:, None]
        self.rows += [self.sampler.seen[x[b].numpy().tobytes()] for b in range(len(x))]
        return k, k, k

    def encode(self, x):
        from labkit.latent.model import Latents
        return Latents(None, *self.encode_codes(x))

    def canonicalize(self, lat):
        return None

    def part_reference(self, x, z_pose):
        return None

    def decode(self, _, z_id, z_pose, z_dyn, reference=None):
        pose_cols = [FACTOR_NAMES.index(n) for n in POSE_FACTORS]
        ids, fs, es = [], [], []
        for i, p, d in zip(z_id[:, 0].long(), z_pose[:, 0].long(), z_dyn[:, 0].long()):
            f = self.rows[int(d)][1].copy()
            f[pose_cols] = self.rows[int(d if self.leaky else p)][1][pose_cols]
            ids.append(self.rows[int(i)][0])
            fs.append(f)
            es.append(self.rows[int(d)][2])
        return PairSampler.render(self.sampler, np.array(ids), np.stack(fs), np.array(es))


def test_mixed_reenactment_ground_truth_is_the_source_in_one_frames_pose_with_anothers_dynamics():
    from labkit.evaluation.latent import reenactment_scores
    from labkit.latent.data import motion_bank

    bank = motion_bank("test", 2, seconds=1.0)
    sampler = _Recorder("test", 64, bank, random_pose_prob=0)
    exact, _ = reenactment_scores(_Oracle(sampler), sampler, bank, np.random.default_rng(0), 6, mode="mixed")
    leaky, _ = reenactment_scores(_Oracle(sampler, leaky=True), sampler, bank, np.random.default_rng(0), 6,
                                  mode="mixed")
    assert np.all(exact == np.inf)                                   # drawn exactly as the ground truth
    assert np.all(np.isfinite(leaky)) and leaky.mean() < 30          # the dynamics frame's pose is wrong
    with pytest.raises(ValueError, match="mode"):
        reenactment_scores(_Oracle(sampler), sampler, bank, np.random.default_rng(0), 2, mode="swap")


def test_factor_transfer_is_one_for_the_driver_and_zero_for_the_source():
    from labkit.evaluation.latent import TRANSFER_PART, factor_transfer

    class Copy(torch.nn.Module):
        def __init__(self, which):
            super().__init__()
            self.which = which

        def reenact(self, source, driver):
            return driver if self.which == "driver" else source

    bank = MotionBank(np.zeros((5, len(FACTOR_NAMES)), np.float32), np.zeros(5, np.int64), np.zeros(5, np.int64))
    bank.factors[:, FACTOR_NAMES.index("distance")] = 1.0
    sampler = PairSampler("test", 64, bank, random_pose_prob=0)
    full = factor_transfer(Copy("driver"), sampler, np.random.default_rng(0), n=4, batch=2)
    none = factor_transfer(Copy("source"), sampler, np.random.default_rng(0), n=4, batch=2)
    assert set(full) == set(none) == set(TRANSFER_PART)
    assert all(v == 1.0 for v in full.values()) and all(v == 0.0 for v in none.values())


def test_factor_verdicts_hold_each_factor_to_its_bar():
    from labkit.evaluation.latent import factor_verdicts

    probe = dict(zip(PROBE_DYN, (0.95, 0.74, 0.80, 0.75, 0.10)))
    report = {"per_factor_r2": {"probe_dyn": probe}, "transfer": {"jaw": 0.1, "blink": 0.7, "brow": 0.69,
                                                                  "gaze_yaw": 0.9, "gaze_pitch": 0.0}}
    v = factor_verdicts(report)
    assert v["probe_dyn"] == {"jaw": True, "blink": False, "brow": True, "gaze_yaw": True, "gaze_pitch": False}
    assert v["transfer"] == {"blink": True, "brow": False, "gaze_yaw": True, "gaze_pitch": False}   # no jaw bar
    assert v["dyn_vs_reader"] == {}                                         # measured only with --ceilings
    v = factor_verdicts({**report, "dyn_vs_reader": {"jaw": 0.95, "gaze_pitch": 0.5}})
    assert v["dyn_vs_reader"] == {"jaw": True, "gaze_pitch": False}


def test_identity_details_read_the_truth_and_catch_a_model_that_copies_the_driver():
    from labkit.evaluation.details import details_kept, fit_attribute_readers, identity_attributes
    from labkit.synthtalk.identity import HAIR_STYLES, sample_identity

    ids = np.arange(300)
    truth = identity_attributes(ids)
    assert all(truth["glasses"][i] == (sample_identity(i).glasses != "none") for i in range(20))
    assert 0.15 < truth["glasses"].mean() < 0.45 and set(truth["hair"]) <= set(range(len(HAIR_STYLES)))

    class CopyDriver(torch.nn.Module):
        def reenact(self, source, driver):
            return driver

    bank = motion_bank("train", 2, seconds=1.0)
    train = PairSampler("train", 64, bank, random_pose_prob=0)
    readers = fit_attribute_readers(train, bank, np.random.default_rng(0), size=64, n=300)
    test = PairSampler("test", 64, bank, random_pose_prob=0)
    r = details_kept(CopyDriver(), test, bank, readers, np.random.default_rng(1), pairs=24, batch=8)
    assert r["glasses_reader_acc"] > 0.7                               # the instrument reads glasses ...
    assert r["accessories_kept"] < 0.9                                 # ... and sees another person's face
    assert r["dlib_distance"] > 0.2
