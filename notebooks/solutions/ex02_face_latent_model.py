"""Solutions to the exercises of notebook 02, "The face latent model (VASA-1 §3.1)".

One function per exercise; each returns plain numbers so that tests/test_solutions_02.py can check them.
Equation numbers refer to the notebook. Every function runs in seconds on one CPU core.
"""
from __future__ import annotations

import math

import numpy as np
import torch

from labkit.latent import warp
from labkit.latent.config import LossWeights, make_config
from labkit.latent.data import PairSampler, mixed_frames, motion_bank
from labkit.latent.losses import latent_losses
from labkit.latent.model import FaceLatentModel, count_parameters, load_face_latent
from labkit.metrics import psnr
from labkit.synthtalk.factors import FACTOR_NAMES

POSE_FACTORS = ("yaw", "pitch", "roll", "tx", "ty", "distance")


def ex1_parameters(presets: tuple[str, ...] = ("tiny", "s128", "s128e")) -> dict[str, dict]:
    """Exercise 1: where the parameters go.

    Returns {preset: {"total": parameters, "share": {block: fraction of the total}, "dominant": the largest
    block, "lift": parameters of E_app's 1 x 1 lift, "lift_predicted": c·C·D + C·D from eq. (1)}}, with c the
    channels of E_app's last 2D stage, C the volume's channels and D its depth.
    """
    out = {}
    for name in presets:
        cfg = make_config(name)
        model = FaceLatentModel(cfg)
        total = count_parameters(model)
        share = {n: count_parameters(m) / total for n, m in model.named_children()}
        c, CD = model.app_encoder.conv.out_channels, cfg.volume_channels * cfg.volume_depth
        out[name] = {"total": total, "share": share, "dominant": max(share, key=share.get),
                     "lift": count_parameters(model.app_encoder.lift), "lift_predicted": c * CD + CD}
    return out


def ex2_quarter_turns(size: int = 8, seed: int = 0) -> dict[str, dict[str, float]]:
    """Exercise 2: a quarter turn of a cubic volume is a permutation of its voxels.

    With s = 1 and t = 0, eq. (6) maps the voxel centres of eq. (7) onto voxel centres when an angle is 90°,
    so the trilinear sampling of eq. (8) reads single voxels and the warp is exactly a torch.rot90 of the
    volume (B, C, D, H, W). Returns {angle: {"k=1": max |warp - rot90(k=1)|, "k=3": the same for k = 3}} over the
    plane each angle turns: roll (H, W), yaw (D, W), pitch (D, H). One of the two is zero (to float rounding).
    """
    V = torch.randn(1, 2, size, size, size, generator=torch.Generator().manual_seed(seed))
    grid = warp.identity_grid(size, size, size)[None]                          # (1, D, H, W, 3), eq. (7)
    planes = {"yaw": (0, (2, 4)), "pitch": (1, (2, 3)), "roll": (2, (3, 4))}  # z_pose index, dims of V it turns
    out = {}
    for name, (index, dims) in planes.items():
        pose = torch.zeros(1, warp.POSE_DIM)
        pose[0, index] = math.pi / 2
        turned = warp.sample_volume(V, warp.pose_to_canonical(grid, pose))     # what W_c→d does with eq. (6)
        out[name] = {f"k={k}": float((turned - torch.rot90(V, k, dims)).abs().max()) for k in (1, 3)}
    return out


def ex3_volume_depth(depths: tuple[int, ...] = (4, 8), steps: int = 6, batch_size: int = 4,
                     seed: int = 0) -> dict[int, dict[str, float]]:
    """Exercise 3: change one field of the `tiny` preset, volume_depth D, and measure what it costs and does.

    The parameters change only where the volume meets 2D: E_app's 1 x 1 lift (eq. 1) and G_2D's 1 x 1 input
    convolution (eq. 11), so eq. (1) and (11) predict the difference exactly: C·ΔD·(c + 1 + w), with c the
    channels of E_app's last stage and w those of G_2D's first. Then each model fits one batch of pairs for
    `steps` AdamW steps (lr 2e-3, the full loss, eq. 18) from the same seed; returns {D: {"params",
    "params_predicted" (relative to the first depth, 0 for it), "l1_first", "l1_last"}}.
    """
    bank = motion_bank("train", 4, seed=seed)
    batch = PairSampler("train", 64, bank).batch(batch_size, np.random.default_rng([seed, 1]))
    base = FaceLatentModel(make_config("tiny", volume_depth=depths[0]))
    out = {}
    for D in depths:
        cfg = make_config("tiny", volume_depth=D)
        torch.manual_seed(seed)
        model = FaceLatentModel(cfg)
        c, w = model.app_encoder.conv.out_channels, model.g2d.inp.out_channels
        predicted = count_parameters(base) + cfg.volume_channels * (D - depths[0]) * (c + 1 + w)
        opt = torch.optim.AdamW(model.parameters(), lr=2e-3)
        l1 = []
        for _ in range(steps + 1):
            loss, terms, _ = latent_losses(model, batch, LossWeights())
            l1.append(terms["l1"])
            opt.zero_grad()
            loss.backward()
            opt.step()
        out[D] = {"params": count_parameters(model), "params_predicted": predicted,
                  "l1_first": l1[0], "l1_last": l1[-1]}
    return out


def ex4_pose_swap(n: int = 4, seed: int = 0) -> dict[str, list[float]]:
    """Exercise 4: swap z_pose between two frames of one person and compare with SynthTalk's exact render.

    Frames A and B of each of n test people differ in pose and expression. The shipped model decodes A's
    volume with B's z_pose and A's own z_dyn (eqs. 9-11); the truth is A's expression rendered in B's pose.
    Returns per pair: "landmarks_moved_px" (how far the swap moves the 68 true landmarks, 128 px),
    "psnr_swap" (decoded swap against the truth), "psnr_unswapped" (frame A itself against the truth) and
    "pose_error" (|z_pose of the swap, encoded again, - B's z_pose| / |A's z_pose - B's z_pose|).
    """
    model = load_face_latent()
    bank = motion_bank("test", 8, seed=seed)
    sampler = PairSampler("test", model.cfg.driver_size, bank, random_pose_prob=0.0)
    rng = np.random.default_rng(seed)
    ids = sampler.identities[rng.integers(len(sampler.identities), size=n)]
    fa, ea = mixed_frames(bank, rng, n)
    fb, eb = mixed_frames(bank, rng, n)
    cols = [FACTOR_NAMES.index(k) for k in POSE_FACTORS]
    f_true = fa.copy()
    f_true[:, cols] = fb[:, cols]                                              # A's expression in B's pose
    a, lm_a = sampler.render_with_landmarks(ids, fa, ea)
    b = sampler.render(ids, fb, eb)
    truth, lm_true = sampler.render_with_landmarks(ids, f_true, ea)
    with torch.no_grad():
        lat_a = model.encode(a)
        _, pose_b, _ = model.encode_codes(b)
        swap = model.decode(model.canonicalize(lat_a), lat_a.z_id, pose_b, lat_a.z_dyn)   # (n, 3, 128, 128)
        again, _ = model.encode_motion(swap)
    truth = model.frame(truth)
    scale = model.cfg.image_size / a.shape[-1]                                 # landmarks to 128 px
    moved = (lm_true - lm_a).norm(dim=-1).mean(1) * scale
    pose_error = (again - pose_b).norm(dim=1) / (lat_a.z_pose - pose_b).norm(dim=1)
    return {"landmarks_moved_px": moved.tolist(), "psnr_swap": psnr(swap, truth).tolist(),
            "psnr_unswapped": psnr(model.frame(a), truth).tolist(), "pose_error": pose_error.tolist()}


if __name__ == "__main__":
    for f in (ex1_parameters, ex2_quarter_turns, ex3_volume_depth, ex4_pose_swap):
        print(f.__name__, f())
