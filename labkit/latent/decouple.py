"""Pose-residual dynamics: the linear copy of the head pose taken out of z_dyn, every image unchanged.

E_mot computes z_pose and z_dyn from one trunk, and nothing in training stops z_dyn from
repeating the pose: the generators are told the pose twice and do not mind. A linear probe
then reads the pose from z_dyn (the "leakage" of VASA-1-style disentanglement tests), and
swapping z_dyn between two frames also moves some of the other frame's pose along.

Since the generators always receive z_pose beside z_dyn, the part of z_dyn that z_pose
predicts carries nothing they lack. We fit that prediction once, after training, by least
squares (z_dyn ≈ A z_pose + b) on SynthTalk frames whose pose and expression are drawn
independently (in speech they are not, and a nod's brow raise is no leak), and re-express

    z_dyn' = z_dyn - (A z_pose + b)          (what E_mot now returns)
    z_dyn  = z_dyn' + (A z_pose + b)         (what the generators are given back)

(`FaceLatentConfig.pose_residual`; A and b are the buffers `dyn_from_pose`, `dyn_offset`).
A frame's own codes decode to the same image as before (to float rounding). A swap changes:
z_dyn' from one frame combined with another frame's pose takes the pose-predicted part from
the pose's frame, which is what a dynamics swap should do.

The same kind of exact re-expression turns z_dyn's basis (`rotate_dynamics`): the part stage puts
first the directions the rest of E_mot leaves unused, so that the eye reader can give them a meaning.
"""
from __future__ import annotations

import dataclasses
import os
from pathlib import Path

import numpy as np
import torch
from torch import nn
from tqdm.auto import tqdm

from labkit.io.checkpoint import load_state, save_weights
from labkit.latent.blocks import FiLM
from labkit.latent.data import PairSampler, mixed_frames, motion_bank
from labkit.latent.model import KIND, FaceLatentModel, model_from_state
from labkit.latent.parts import SpatialCode
from labkit.latent.warp import POSE_DIM


def fit_linear(z_pose: torch.Tensor, z_dyn: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, float]:
    """Least squares z_dyn ≈ z_pose @ A.T + b over N frames: z_pose (N, 6), z_dyn (N, Z) →
    A (Z, 6), b (Z,) and the R² of the fit (the share of z_dyn's variance that is pose)."""
    if z_pose.ndim != 2 or z_dyn.ndim != 2 or len(z_pose) != len(z_dyn):
        raise ValueError(f"expected z_pose (N, 6) and z_dyn (N, Z), got {tuple(z_pose.shape)}, {tuple(z_dyn.shape)}")
    if len(z_pose) <= z_pose.shape[1] + 1:
        raise ValueError(f"need more than {z_pose.shape[1] + 1} frames to fit, got {len(z_pose)}")
    p, d = z_pose.double(), z_dyn.double()
    X = torch.cat([p, torch.ones(len(p), 1, dtype=p.dtype)], 1)             # (N, 7)
    coef = torch.linalg.lstsq(X, d).solution                                # (7, Z)
    resid = d - X @ coef
    r2 = 1 - float(resid.pow(2).sum() / (d - d.mean(0)).pow(2).sum().clamp_min(1e-12))
    return coef[:-1].T.float(), coef[-1].float(), r2


@torch.no_grad()
def raw_motion(model: FaceLatentModel, images: torch.Tensor, batch: int = 64) -> tuple[torch.Tensor, torch.Tensor]:
    """E_mot's z_pose (N, 6) and z_dyn (N, Z) before any pose residual is taken, for images (N, 3, H, W)."""
    poses, dyns = [], []
    for k in range(0, len(images), batch):
        z_pose, z_dyn = model.encode_motion(images[k:k + batch])
        poses.append(z_pose.float())
        dyns.append(model.generator_dyn(z_pose, z_dyn).float())
    return torch.cat(poses), torch.cat(dyns)


def synthtalk_frames(image_size: int, frames: int, *, seed: int = 0, progress: bool = False) -> torch.Tensor:
    """`frames` SynthTalk renders (N, 3, H, W) of train identities, pose and expression independent."""
    rng = np.random.default_rng([seed, 17])
    bank = motion_bank("train", 24, seed=seed + 17, progress=progress)
    sampler = PairSampler("train", image_size, bank, random_pose_prob=0.0)
    ids = sampler.identities[rng.integers(len(sampler.identities), size=frames)]
    factors, emotion = mixed_frames(bank, rng, frames)
    chunks = range(0, frames, 64)
    if progress:
        chunks = tqdm(chunks, desc="render", unit="batch")
    return torch.cat([sampler.render(ids[k:k + 64], factors[k:k + 64], emotion[k:k + 64]) for k in chunks])


def decouple(model: FaceLatentModel, images: torch.Tensor) -> tuple[FaceLatentModel, float]:
    """A copy of `model` with pose-residual dynamics fitted on `images` (N, 3, H, W), and the
    fit's R² (how much of E_mot's z_dyn z_pose predicted). A model that already has them is refitted."""
    z_pose, z_dyn = raw_motion(model.eval(), images)
    A, b, r2 = fit_linear(z_pose, z_dyn)
    out = FaceLatentModel(dataclasses.replace(model.cfg, pose_residual=True)).to(images.device)
    state = {k: v for k, v in model.state_dict().items() if k not in ("dyn_from_pose", "dyn_offset")}
    out.load_state_dict({**state, "dyn_from_pose": A, "dyn_offset": b})
    return out.eval(), r2


def least_varied_basis(z_dyn: torch.Tensor) -> torch.Tensor:
    """An orthonormal basis Q (Z, Z) of z_dyn's space, from the direction z_dyn (N, Z) varies least along to the one
    it varies most along (its covariance's eigenvectors): in Q's coordinates (z_dyn @ Q) the first ones are those
    the rest of the model uses least, free to be given a meaning (labkit.latent.train_parts, --readout)."""
    d = z_dyn.double() - z_dyn.double().mean(0)
    _, vectors = torch.linalg.eigh(d.T @ d / max(len(d) - 1, 1))         # ascending eigenvalues
    return vectors.float()


@torch.no_grad()
def rotate_dynamics(model: FaceLatentModel, Q: torch.Tensor) -> FaceLatentModel:
    """Re-express z_dyn in the orthonormal basis Q (Z, Z), in place: E_mot then returns z_dyn @ Q and every
    generator reads it back through Q.T, so every image stays what it was (to float rounding). Producers (E_mot's
    holistic head, its part readers, the pose residual) are multiplied by Q.T; every linear map that reads z_dyn
    (the warp generators, G_2D's FiLMs, G_part, D_crop) by Q on z_dyn's columns."""
    Z = model.cfg.dyn_dim
    if Q.shape != (Z, Z) or not torch.allclose(Q.T @ Q, torch.eye(Z), atol=1e-4):
        raise ValueError(f"expected an orthonormal ({Z}, {Z}) basis, got {tuple(Q.shape)}")
    Q = Q.to(next(model.parameters()))
    enc = model.motion_encoder
    head = enc.head[-1]
    head.weight[POSE_DIM:] = Q.T @ head.weight[POSE_DIM:]
    head.bias[POSE_DIM:] = Q.T @ head.bias[POSE_DIM:]
    for net in (enc.parts.nets.values() if enc.parts is not None else ()):
        net[-1].weight.copy_(Q.T @ net[-1].weight)
        net[-1].bias.copy_(Q.T @ net[-1].bias)
    if model.cfg.pose_residual:
        model.dyn_from_pose.copy_(Q.T @ model.dyn_from_pose)
        model.dyn_offset.copy_(Q.T @ model.dyn_offset)

    def reads(lin: nn.Linear, start: int) -> None:                       # z_dyn at columns start:start+Z
        lin.weight[:, start:start + Z] = lin.weight[:, start:start + Z] @ Q

    for w in (model.warp_to_canonical, model.warp_from_canonical):
        reads(w.proj if hasattr(w, "proj") else w.mlp[0], 0)             # cat([z_dyn, z_id])
    for film in model.g2d.films or ():
        reads(film.lin, model.cfg.id_dim)                                # cat([z_id, z_dyn])
    for decoder in (model.part_painter, model.crop_decoder):             # cat([z_dyn, z_pose(s)])
        for m in (decoder.modules() if decoder is not None else ()):
            if isinstance(m, (FiLM, SpatialCode)):
                reads(m.lin, 0)
    return model


def decouple_checkpoint(src: str | os.PathLike, dst: str | os.PathLike, *, frames: int = 2000, seed: int = 0,
                        overwrite: bool = False, progress: bool = False) -> tuple[Path, float]:
    """`labkit weights decouple`: write `src` with pose-residual dynamics fitted on `frames`
    SynthTalk train frames to `dst` (same precision as `src`); returns (dst, the fit's R²)."""
    dst = Path(dst)
    if dst.exists() and not overwrite:
        raise FileExistsError(f"{dst} exists; pass --overwrite to replace it")
    if frames < 100:
        raise ValueError(f"frames must be at least 100 for a stable fit, got {frames}")
    state, meta = load_state(src, kind=KIND)
    dtype = next(v.dtype for v in state.values() if v.is_floating_point())
    model = model_from_state(state, meta)
    model, r2 = decouple(model, synthtalk_frames(model.cfg.driver_size, frames, seed=seed, progress=progress))
    extra = {k: v for k, v in meta.items() if k not in ("kind", "config")}
    extra["decouple"] = {"frames": frames, "seed": seed, "split": "train", "r2": round(r2, 4)}
    save_weights(dst, model, kind=KIND, config=dataclasses.asdict(model.cfg), extra=extra, dtype=dtype)
    return dst, r2
