"""The training objective of the face latent model (VASA-1 §3.1).

For a pair (I_i, I_j) of frames of one clip:

- **reconstruction with swapped latents**: I_i's appearance and identity with I_j's pose and
  dynamics must give I_j (and the other way round); L1 + (1 - MS-SSIM);
- **pairwise transfer consistency** (VASA-1): I_j given I_i's pose and I_i given I_j's
  dynamics both show (pose_i, dyn_j), so the two images must agree;
- **cross-identity consistency** (VASA-1): I_i reenacted with the motion of another person's
  frame must keep I_i's identity code and take on the other frame's pose and dynamics codes,
  when the result is encoded again;
- **face regions** (after LivePortrait's lip and eye terms): the same L1 again inside boxes
  around the eyes and brows and around the mouth, found from the target's landmarks. A full
  jaw opening changes ~2 % of a 128 px frame and a blink ~0.5 %, so a whole-image loss barely
  sees them; z_dyn is learned only when these pixels weigh as much as the rest of the face;
- **face crops** (off by default; an aid of this kit's, not VASA-1's): a small decoder D_crop must
  turn the source's face-aligned eye and mouth crops into the driver's, given the driver's z_dyn
  and both poses. At 128 px a blink or a gaze shift moves a few pixels; this gives z_dyn a short
  gradient path to them, which the full generator only offers once it already draws them;
- **identity code**: equal within a clip, apart across people (an InfoNCE over the batch);
- **pose/dynamics decorrelation** (off by default, an experiment): the squared correlations
  between z_pose and z_dyn over the batch (XCov, Cheung et al. 2015), so that z_dyn cannot
  linearly repeat the head pose. One-sided: z_pose is held fixed in this term (penalising both
  sides drained the pose out of z_pose instead; see data_cards/model_face_latent.md);
- **image-plane equivariance** (off by default; after the equivariance constraint of FOMM's
  keypoints, Siarohin et al. 2019): the driver moved by a random similarity (shift, zoom, in-plane
  turn) must give the z_pose that the same similarity makes of its z_pose, and the same z_dyn. It
  needs no labels: a similarity of the image is exactly a change of (roll, tx, ty, scale) in the
  model's own rigid warp (labkit.latent.warp.pose_after_similarity);
- **cross-identity reconstruction** (SynthTalk only, off by default; an aid of this kit's, not
  VASA-1's): I_i reenacted with another person's driver motion must match SynthTalk's exact render
  of that. Same-person pairs leave free any constant E_mot adds to all of one person's codes (it
  cancels between source and driver); this is the one target that sees it. An image, not a label;
- **weak pose supervision** (SynthTalk only, an ablation, off by default): z_pose regressed on
  the ground-truth pose;
- **expression readout** (SynthTalk only, off by default; a label, unlike everything above): z_dyn's
  first coordinates regressed on the drawn blink, brow and gaze (READOUT, each scaled to [-1, 1]).
  Reconstruction lets every face spell a blink its own way, which no linear reading across people
  follows; this fixes one spelling. Training identities only: `labkit eval latent` probes test ones.
"""
from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F
from torch.func import functional_call

from labkit.latent.config import LossWeights
from labkit.latent.data import cross_partner
from labkit.latent.model import FaceLatentModel, Latents, reference_rows
from labkit.latent.parts import CROPS, face_crops
from labkit.latent.warp import POSE_DIM, pose_after_similarity, warp_image_similarity
from labkit.metrics.image import ms_ssim
from labkit.synthtalk.factors import FACTOR_NAMES, FACTORS


def reconstruction(pred: torch.Tensor, target: torch.Tensor, w: LossWeights) -> torch.Tensor:
    """L1 + (1 - MS-SSIM) of images (B, 3, H, W) in [0, 1]: a scalar."""
    return w.l1 * (pred - target).abs().mean() + w.ms_ssim * (1 - ms_ssim(pred, target)).mean()


# iBUG-68 groups whose boxes the region loss weighs: eyes with brows, and the mouth
REGIONS = {"eyes": list(range(17, 27)) + list(range(36, 48)), "mouth": list(range(48, 68))}


def region_masks(landmarks: torch.Tensor, size: int, margin: float = 0.25) -> torch.Tensor:
    """Boxes around each landmark group, grown by `margin` of their size (and 2 px):
    landmarks (B, 68, 2) pixel (x, y) → masks (B, R, size, size) of 0/1, R = len(REGIONS)."""
    if landmarks.ndim != 3 or landmarks.shape[1:] != (68, 2):
        raise ValueError(f"expected landmarks (B, 68, 2), got {tuple(landmarks.shape)}")
    coords = torch.arange(size, dtype=landmarks.dtype, device=landmarks.device) + 0.5  # pixel centres
    masks = []
    for idx in REGIONS.values():
        pts = landmarks[:, idx]                                             # (B, n, 2)
        lo, hi = pts.amin(1), pts.amax(1)                                   # (B, 2)
        pad = margin * (hi - lo) + 2
        lo, hi = lo - pad, hi + pad
        inside_x = (coords >= lo[:, :1]) & (coords <= hi[:, :1])            # (B, size)
        inside_y = (coords >= lo[:, 1:]) & (coords <= hi[:, 1:])
        masks.append(inside_y[:, :, None] & inside_x[:, None, :])           # (B, size, size)
    return torch.stack(masks, 1).to(landmarks.dtype)


def masked_mean(err: torch.Tensor, masks: torch.Tensor) -> torch.Tensor:
    """Mean of a per-pixel error err (B, H, W) inside each of masks (B, R, H, W) of 0/1: (B, R)
    (0 for an empty mask)."""
    return (err[:, None] * masks).sum((2, 3)) / masks.sum((2, 3)).clamp_min(1)


def region_l1(pred: torch.Tensor, target: torch.Tensor, landmarks: torch.Tensor) -> torch.Tensor:
    """Mean L1 inside each region box, averaged over regions and batch: a scalar. Every box
    counts as much as the whole image does in the plain L1, whatever its size."""
    m = region_masks(landmarks, pred.shape[-1])                            # (B, R, H, W)
    return masked_mean((pred - target).abs().mean(1), m).mean()


def crop_l1(model: FaceLatentModel, x: torch.Tensor, landmarks: torch.Tensor, z_pose: torch.Tensor,
            z_dyn: torch.Tensor, partner: torch.Tensor) -> torch.Tensor:
    """L1 of D_crop's prediction of each frame's partner's eye and mouth crops from its own: a scalar.
    x (N, 3, H, W), landmarks (N, 68, 2), codes (N, ·) of N frames; partner (N,) indexes the frame to
    predict. The poses are detached: they explain the head's share of the change without being taught by it."""
    z = torch.cat([z_dyn[partner], z_pose[partner].detach(), z_pose.detach()], 1)
    loss = 0.0
    for r in CROPS:
        crops = face_crops(x, landmarks, r)                                 # (N, 3, h, w), each cut once
        loss = loss + (model.crop_decoder(crops, z) - crops[partner]).abs().mean()
    return loss / len(CROPS)


def _code_match(pred: torch.Tensor, target: torch.Tensor, scale: torch.Tensor) -> torch.Tensor:
    """Squared error of codes (n, Z) relative to each dimension's variance `scale` (Z,) over the whole
    batch (scale-free, and steadier than the variance of the few consistency samples)."""
    return ((pred - target) ** 2).mean(0).div(scale + 1e-3).mean()


def random_similarity(rng: np.random.Generator, n: int, *, shift: float = 0.08, zoom: float = 0.08,
                      angle_deg: float = 10.0) -> torch.Tensor:
    """n image-plane similarities (n, 4), uniform: log zoom in ±zoom, angle in ±angle_deg (as radians),
    shift x and y in ±shift (normalised units: 0.08 is 4 % of the frame)."""
    half = np.array([zoom, math.radians(angle_deg), shift, shift])
    return torch.from_numpy(rng.uniform(-half, half, size=(n, 4))).float()


def equivariance(model: FaceLatentModel, x: torch.Tensor, z_pose: torch.Tensor, z_dyn: torch.Tensor,
                 sim: torch.Tensor, pose_scale: torch.Tensor, dyn_scale: torch.Tensor) -> torch.Tensor:
    """E_mot's image-plane equivariance: x (B, 3, H, W) moved by the similarities `sim` (B, 4) must
    encode to pose_after_similarity(z_pose, sim) and to the same z_dyn. Squared errors relative to
    the batch's per-dimension variances (pose_scale (6,), dyn_scale (Z,)), as in the cross-identity
    motion term; the gradient reaches both encodings."""
    pose_m, dyn_m = model.encode_motion(warp_image_similarity(x, sim))
    return 0.5 * (_code_match(pose_m, pose_after_similarity(z_pose, sim), pose_scale)
                  + _code_match(dyn_m, z_dyn, dyn_scale))


def cross_correlation(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Mean squared Pearson correlation between every column of a (N, P) and of b (N, Q) over the
    N samples: 0 when no dimension of one follows any dimension of the other linearly."""
    if a.ndim != 2 or b.ndim != 2 or len(a) != len(b) or len(a) < 3:
        raise ValueError(f"expected (N, P) and (N, Q) codes with N >= 3, got {tuple(a.shape)} and {tuple(b.shape)}")
    a = (a - a.mean(0)) / (a.std(0) + 1e-4)
    b = (b - b.mean(0)) / (b.std(0) + 1e-4)
    return ((a.T @ b) / (len(a) - 1)).pow(2).mean()


def id_info_nce(z_a: torch.Tensor, z_b: torch.Tensor, identity: torch.Tensor, tau: float = 0.1) -> torch.Tensor:
    """InfoNCE: z_a[b] must be closest to z_b[b] among the batch's other identities."""
    a, b = F.normalize(z_a, dim=1), F.normalize(z_b, dim=1)
    logits = a @ b.T / tau                                             # (B, B)
    same = identity[:, None] == identity[None, :]
    logits = logits.masked_fill(same & ~torch.eye(len(a), dtype=torch.bool, device=a.device), -1e4)
    return F.cross_entropy(logits, torch.arange(len(a), device=a.device))


_GT_POSE_COLS = [FACTOR_NAMES.index(n) for n in ("yaw", "pitch", "roll", "tx", "ty", "distance")]


def pose_target(factors: torch.Tensor) -> torch.Tensor:
    """Ground-truth SynthTalk factors (B, F) → the z_pose convention (B, 6): angles in radians,
    translations in normalised image units ([-1, 1] spans the frame), log scale = -log distance."""
    p = factors[:, _GT_POSE_COLS]
    return torch.stack([p[:, 0] * np.pi / 180, p[:, 1] * np.pi / 180, p[:, 2] * np.pi / 180,
                        2 * p[:, 3], 2 * p[:, 4], -torch.log(p[:, 5])], 1)


READOUT = ("blink", "brow", "gaze_yaw", "gaze_pitch")   # z_dyn[:, k] is asked to read READOUT[k] (the readout loss)
_READOUT_COLS = [FACTOR_NAMES.index(n) for n in READOUT]


def readout_targets(factors: torch.Tensor) -> torch.Tensor:
    """SynthTalk factor rows (N, F) → the READOUT factors (N, len(READOUT)), each mapped from its range to [-1, 1]."""
    lo = factors.new_tensor([FACTORS[n][0] for n in READOUT], dtype=torch.float32)
    hi = factors.new_tensor([FACTORS[n][1] for n in READOUT], dtype=torch.float32)
    return 2 * (factors[:, _READOUT_COLS].float() - lo) / (hi - lo) - 1


def readout_error(z_dyn: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Mean squared error of z_dyn's first coordinates (N, Z) against readout targets (N, len(READOUT))."""
    return F.mse_loss(z_dyn[:, :targets.shape[1]], targets)


def frozen_encode_codes(model: FaceLatentModel, x: torch.Tensor):
    """model.encode_codes(x) with the encoders' weights held fixed: gradients reach the image x (and
    through it the decoder) but do not teach the encoders from generated images, which would let
    them drift to agree with the decoder's mistakes. Returns z_id, z_pose, z_dyn."""

    def frozen(net):
        return functional_call(net, {k: v.detach() for k, v in net.named_parameters()}, (2 * x - 1,))

    m = frozen(model.motion_encoder)
    z_pose, z_dyn = m[:, :POSE_DIM], m[:, POSE_DIM:]
    if model.cfg.pose_residual:                                        # the codes as encode_motion gives them
        z_dyn = z_dyn - model.dyn_predicted(z_pose)
    return frozen(model.id_encoder), z_pose, z_dyn


def latent_losses(model: FaceLatentModel, batch: dict, w: LossWeights, *,
                  consistency: bool = True) -> tuple[torch.Tensor, dict[str, float], dict[str, torch.Tensor]]:
    """All terms for one batch of pairs. Returns (total loss, {term: value}, {name: image batch}).

    The batch's frames may be finer than the model draws (a model that reads the eyes finer is given frames
    at its driver_size): the encoders read them as given, every image target is the frame at the model's
    own size (each pixel the mean of the finer ones), landmarks scaled to it."""
    fine_i, fine_j = batch["source"], batch["driver"]
    B = fine_i.shape[0]
    lat = model.encode(torch.cat([fine_i, fine_j]))                    # both frames in one pass
    x_i, x_j = model.frame(fine_i), model.frame(fine_j)                # the targets, as the model draws
    scale = model.cfg.image_size / fine_i.shape[-1]
    batch = {**batch, **{k: batch[k] * scale for k in ("source_landmarks", "driver_landmarks", "cross_landmarks")
                         if k in batch}}
    canon = model.canonicalize(lat)
    li = Latents(*(t[:B] for t in lat))
    lj = Latents(*(t[B:] for t in lat))
    c_i, c_j = canon[:B], canon[B:]
    # with part_reference, what G_part reads of each source frame (None otherwise)
    ref = model.part_reference(torch.cat([fine_i, fine_j]), lat.z_pose)
    ref_i, ref_j = reference_rows(ref, slice(None, B)), reference_rows(ref, slice(B, None))

    # reconstruction with swapped latents: appearance of one frame, motion of the other
    rec_j = model.decode(c_i, li.z_id, lj.z_pose, lj.z_dyn, ref_i)
    rec_i = model.decode(c_j, lj.z_id, li.z_pose, li.z_dyn, ref_j)
    terms = {"rec": reconstruction(torch.cat([rec_j, rec_i]), torch.cat([x_j, x_i]), w)}
    if w.region > 0 and "driver_landmarks" in batch:
        terms["region"] = region_l1(torch.cat([rec_j, rec_i]), torch.cat([x_j, x_i]),
                                    torch.cat([batch["driver_landmarks"], batch["source_landmarks"]]))
    if w.crops > 0:
        if model.crop_decoder is None or "driver_landmarks" not in batch:
            raise ValueError("the crops loss needs a model with crop_decoder=True and landmarks in the batch")
        lm = torch.cat([batch["source_landmarks"], batch["driver_landmarks"]])
        partner = torch.roll(torch.arange(2 * B), B)                        # i ↔ j
        terms["crops"] = crop_l1(model, torch.cat([x_i, x_j]), lm, lat.z_pose, lat.z_dyn, partner)
    terms["id_contrast"] = id_info_nce(li.z_id, lj.z_id, batch["identity"])
    images = {"source": x_i, "driver": x_j, "reenacted": rec_j}

    if consistency:
        n = max(2, int(round(B * w.consistency_fraction)))
        # pairwise transfer: (I_j with pose_i) and (I_i with dyn_j) both show (pose_i, dyn_j)
        a = model.decode(c_j[:n], lj.z_id[:n], li.z_pose[:n], lj.z_dyn[:n], reference_rows(ref_j, slice(None, n)))
        b = model.decode(c_i[:n], li.z_id[:n], li.z_pose[:n], lj.z_dyn[:n], reference_rows(ref_i, slice(None, n)))
        terms["transfer"] = (a - b).abs().mean()
        # cross-identity: I_i driven by the previous sample's driver frame (another person)
        k = cross_partner(n)
        cross = model.decode(c_i[:n], li.z_id[:n], lj.z_pose[k], lj.z_dyn[k], reference_rows(ref_i, slice(None, n)))
        id_c, pose_c, dyn_c = frozen_encode_codes(model, cross)
        terms["cross_id"] = (1 - F.cosine_similarity(id_c, li.z_id[:n].detach(), dim=1)).mean()
        terms["cross_motion"] = 0.5 * (_code_match(pose_c, lj.z_pose[k].detach(), lat.z_pose.detach().var(0))
                                       + _code_match(dyn_c, lj.z_dyn[k].detach(), lat.z_dyn.detach().var(0)))
        images["cross"] = cross
    if w.decorrelate > 0:
        terms["decorrelate"] = cross_correlation(lat.z_pose.detach(), lat.z_dyn)
    if w.equivariance > 0:
        if "similarity" not in batch:
            raise ValueError("the equivariance loss needs batch['similarity'] (B, 4): see random_similarity")
        terms["equivariance"] = equivariance(model, fine_j, lj.z_pose, lj.z_dyn, batch["similarity"],
                                             lat.z_pose.detach().var(0), lat.z_dyn.detach().var(0))
    if w.cross_render > 0:
        if "cross_target" not in batch:
            raise ValueError("the cross_render loss needs batch['cross_target'], SynthTalk's render of each source "
                             "person with the previous row's driver motion (PairSampler(cross_targets=True))")
        k = cross_partner(B).to(x_i.device)
        out = model.decode(c_i, li.z_id, lj.z_pose[k], lj.z_dyn[k], ref_i)
        target = model.frame(batch["cross_target"])
        terms["cross_render"] = reconstruction(out, target, w)
        if w.region > 0 and "cross_landmarks" in batch:
            terms["cross_render"] = terms["cross_render"] + w.region * region_l1(out, target, batch["cross_landmarks"])
        images["cross_render"] = out
    if w.pose_supervision > 0:
        gt = pose_target(torch.cat([batch["source_factors"], batch["driver_factors"]]))
        terms["pose_sup"] = F.mse_loss(lat.z_pose, gt.to(lat.z_pose))

    if w.readout > 0:
        if "driver_factors" not in batch:
            raise ValueError("the readout loss needs SynthTalk's factors in the batch (batch['driver_factors']); "
                             "prepared real video has none")
        gt = readout_targets(torch.cat([batch["source_factors"], batch["driver_factors"]])).to(lat.z_dyn)
        terms["readout"] = readout_error(lat.z_dyn, gt)

    weight = {"rec": 1.0, "region": w.region, "id_contrast": w.id_contrast, "transfer": w.transfer,
              "cross_id": w.cross_id, "cross_motion": w.cross_motion, "pose_sup": w.pose_supervision,
              "decorrelate": w.decorrelate, "crops": w.crops, "equivariance": w.equivariance,
              "cross_render": w.cross_render, "readout": w.readout}
    total = sum(weight[k] * v for k, v in terms.items())
    with torch.no_grad():
        terms["l1"] = (rec_j - x_j).abs().mean()
    return total, {k: float(v.detach()) for k, v in terms.items()}, images
