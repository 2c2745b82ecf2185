"""``labkit eval latent``: how good and how disentangled a face latent model is, on SynthTalk.

SynthTalk renders any identity with any motion, so every number here is measured against
exact ground truth on test identities the model never saw:

- **self-reenactment**: frame i of a person driven by frame j of the same person → frame j;
- **cross-identity reenactment**: person A driven by person B's frame → the exact render of A
  performing B's pose and dynamics;
- **mixed reenactment** (a diagnosis, no bar): person A with the pose of B's frame and the
  dynamics of C's frame → the exact render of A in that pose with those dynamics; where z_dyn
  repeats the pose, C's pose seeps into the output;
- **linear probes** (fit on train identities, scored on test identities): z_pose → head pose,
  z_dyn → jaw, blink, brow and gaze, and the leakage probes z_dyn → pose, z_pose → expression.
  Probe frames combine the pose of one motion frame with the dynamics of another, so pose and
  expression are independent by construction (in natural speech they are not: nods come with
  brow raises, and a probe could "leak" through that correlation alone);
- **identity code**: cosine within one person (many motions) and across people;
- **identity details** (labkit.evaluation.details): whether cross-identity reenactments keep the source's
  glasses and hair style, read by classifiers trained on exact renders (``accessories_kept``, bar 0.95), and
  dlib's face-embedding distance to the exact render (``dlib_distance``), over ``detail_pairs`` reenactments;
- **pose within one person** (a diagnosis, no bar): a z_pose probe with each test person's mean
  taken from the codes and the truth, fit on half of the identity frames' people and scored on
  the other half (``probe_pose_within_id_r2``): what is left of the pose probe's shortfall when
  per-person offsets of z_pose do not count;
- **disentanglement**: DCI, MIG, SAP and modularity of [z_pose, z_dyn] against the factors;
- **detail** (a diagnosis, no bar): PSNR of plain auto-encoding (a frame as its own source and
  driver) over the whole image and inside the eye/brow and mouth boxes, next to the same
  frame shrunk 4x and enlarged again. Blinks, gaze and lip shapes live below the appearance
  volume's voxel (4 px at 128 px); a model that draws no finer than that cannot show them,
  whatever its codes carry;
- **what is drawn** (a diagnosis, no bar, ``probe_dyn_drawn_r2``): the z_dyn probe fitted instead on what
  SynthTalk draws of the same frames' dynamics (blendshape weights, eyelid openness, gaze), the ceiling of
  an encoder that reads exactly what is drawn and nothing else. Emotions add to the drawn brow, jaw and
  lids, so no linear read of the drawn weights recovers the brow factor alone perfectly;
- **what the pixels show** (a diagnosis, no bar, ``probe_dyn_pixels_r2``): the same, fitted on the raw eye and
  mouth crops of the probe frames, placed by their true landmarks (a ridge regression whose strength is
  chosen by cross-validation): what a linear reader of the image at this resolution gets, with no model;
- **transfer** (a diagnosis, no bar): for each expression factor, one source driven by two
  drivers that differ only in it, far apart (10 % and 90 % of its range); the share of the
  drivers' difference, inside the factor's part crop, that the two outputs' difference
  reproduces (1: the output follows the driver, 0: it ignores this factor; a decoder that
  paints an average eye scores 0, not ½). A factor can transfer well and still probe badly:
  the probes read the small changes of natural speech, linearly.

A model that reads the eyes finer than it draws (``eye_size``) is given every frame rendered at that
size, as it would be given a sharper driver; its outputs are compared with the same frames shrunk to its
own size (each pixel the mean of the finer ones), and the raw-pixel probe reads those.
"""
from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from tqdm.auto import tqdm

from labkit.evaluation.ceilings import PROBE_DYN, drawn_dynamics, expression_ceilings
from labkit.evaluation.config import EvalLatentConfig
from labkit.evaluation.details import details_kept, fit_attribute_readers, frames_at
from labkit.evaluation.probes import pixel_probe_r2, probe_r2, within_identity_r2
from labkit.latent.data import POSE_FACTORS, MotionBank, PairSampler, mixed_frames, motion_bank
from labkit.latent.losses import masked_mean, region_masks
from labkit.latent.model import FaceLatentModel, at_size
from labkit.latent.parts import face_crops
from labkit.metrics import dci, histogram_discretize, mig, modularity, psnr, sap, ssim
from labkit.synthtalk.factors import FACTOR_NAMES, FACTORS

METRIC_FACTORS = POSE_FACTORS + ("jaw", "lip_spread", "lip_round", "blink", "brow", "gaze_yaw", "gaze_pitch")
_COL = {n: i for i, n in enumerate(FACTOR_NAMES)}


def _cols(names) -> list[int]:
    return [_COL[n] for n in names]


@torch.no_grad()
def encode_codes(model: FaceLatentModel, images: torch.Tensor, batch: int = 64) -> dict[str, np.ndarray]:
    """z_id, z_pose, z_dyn of images (N, 3, H, W) as numpy arrays (N, ·)."""
    parts = [model.encode_codes(images[k:k + batch]) for k in range(0, len(images), batch)]
    return {name: torch.cat([p[i] for p in parts]).float().cpu().numpy()
            for i, name in enumerate(("z_id", "z_pose", "z_dyn"))}


def render_frames(sampler: PairSampler, ids, factors, emotion, batch: int = 64) -> torch.Tensor:
    """SynthTalk frames of identities `ids` (N,) with factors (N, F) and emotions (N,), as the sampler
    draws them, `batch` at a time: (N, 3, H, W) in [0, 1]."""
    return torch.cat([sampler.render(ids[k:k + batch], factors[k:k + batch], emotion[k:k + batch])
                      for k in range(0, len(ids), batch)])


def render_frames_with_parts(sampler: PairSampler, ids, factors, emotion, batch: int = 64,
                             size: int | None = None) -> tuple[torch.Tensor, np.ndarray]:
    """The frames of render_frames (N, 3, H, W), and each frame's eye and mouth crops placed by its
    true landmarks, flattened: (N, P) float32, cut from the frame at `size` px (default: as rendered)."""
    images, parts = [], []
    for k in range(0, len(ids), batch):
        img, lm = sampler.render_with_landmarks(ids[k:k + batch], factors[k:k + batch], emotion[k:k + batch])
        small, lm = frames_at(img, lm, size or img.shape[-1])
        images.append(img)
        parts.append(torch.cat([face_crops(small, lm, r).flatten(1) for r in ("eyes", "mouth")], 1).numpy())
    return torch.cat(images), np.concatenate(parts)


def _masked_psnr(pred: torch.Tensor, target: torch.Tensor, mask: torch.Tensor) -> float:
    """Mean over images of the PSNR (dB) of (B, 3, H, W) in [0, 1] inside mask (B, H, W)
    (labkit.metrics.psnr is the whole-image one)."""
    mse = masked_mean(((pred - target) ** 2).mean(1), mask[:, None])[:, 0]  # (B,)
    return float((10 * torch.log10(1 / mse.clamp_min(1e-10))).mean())


@torch.no_grad()
def detail_fidelity(model: FaceLatentModel, sampler: PairSampler, bank: MotionBank, rng: np.random.Generator,
                    n: int = 32) -> dict[str, float]:
    """Auto-encoding PSNR of n frames over the whole image and inside the eye/brow and mouth
    boxes, and the same for the frames shrunk 4x and enlarged again (the 'blur4_' keys)."""
    ids = sampler.identities[rng.integers(len(sampler.identities), size=n)]
    f, e = mixed_frames(bank, rng, n)
    fine, landmarks = sampler.render_with_landmarks(ids, f, e)
    drawn = model(fine).float().clamp(0, 1)                                # at the model's own size
    size = drawn.shape[-1]
    x, landmarks = frames_at(fine, landmarks, size)
    masks = region_masks(landmarks, size)                                  # (n, 2, H, W): eyes, mouth
    blur = F.interpolate(F.interpolate(x, size=size // 4, mode="area"), size=size, mode="bilinear", align_corners=False)
    out = {}
    for prefix, y in (("autoencode_", drawn), ("blur4_", blur)):
        out[prefix + "psnr"] = float(psnr(y, x).mean())
        out[prefix + "eyes_psnr"] = _masked_psnr(y, x, masks[:, 0])
        out[prefix + "mouth_psnr"] = _masked_psnr(y, x, masks[:, 1])
    return {k: round(v, 2) for k, v in out.items()}


TRANSFER_PART = {"jaw": "mouth", "blink": "eyes", "brow": "eyes", "gaze_yaw": "eyes", "gaze_pitch": "eyes"}


@torch.no_grad()
def factor_transfer(model: FaceLatentModel, sampler: PairSampler, rng: np.random.Generator, n: int = 32,
                    batch: int = 16) -> dict[str, float]:
    """For each factor of TRANSFER_PART: n sources (bank motion, no random poses), each reenacted by
    two drivers of the same person that differ from each other only in that factor, set to 10 % and
    90 % of its range. With d = driver_hi - driver_lo and o = output_hi - output_lo inside the
    factor's part crop (face_crops at the drivers' landmarks), the share Σ<o, d> / Σ|d|²."""
    out = {}
    for name, part in TRANSFER_PART.items():
        ids = sampler.identities[rng.integers(len(sampler.identities), size=n)]
        fs, es = sampler.draw_frames(rng, n)
        fd, ed = sampler.draw_frames(rng, n)
        lo, hi, _ = FACTORS[name]
        f_lo, f_hi = fd.copy(), fd.copy()
        f_lo[:, _COL[name]], f_hi[:, _COL[name]] = lo + 0.1 * (hi - lo), hi - 0.1 * (hi - lo)
        num = den = 0.0
        for k in range(0, n, batch):
            sl = slice(k, k + batch)
            src = sampler.render(ids[sl], fs[sl], es[sl])
            # both drivers' crops at these landmarks
            d_lo, lm = sampler.render_with_landmarks(ids[sl], f_lo[sl], ed[sl])
            d_hi = sampler.render(ids[sl], f_hi[sl], ed[sl])
            o_lo, o_hi = (model.reenact(src, d).float().clamp(0, 1) for d in (d_lo, d_hi))
            size = o_lo.shape[-1]                                          # the model's own size
            d_lo, lm = frames_at(d_lo, lm, size)
            d_hi = at_size(d_hi, size)
            o, d = (face_crops(hi, lm, part) - face_crops(lo, lm, part) for hi, lo in ((o_hi, o_lo), (d_hi, d_lo)))
            num, den = num + float((o * d).sum()), den + float((d * d).sum())
        out[name] = round(num / max(den, 1e-12), 3)
    return out


@torch.no_grad()
def reenactment_scores(model: FaceLatentModel, sampler: PairSampler, bank: MotionBank, rng: np.random.Generator,
                       pairs: int, *, mode: str, batch: int = 16) -> tuple[np.ndarray, np.ndarray]:
    """PSNR (dB) and SSIM of `pairs` reenactments against the exact ground truth: two (pairs,) arrays.

    mode "self": a person driven by another frame of their own; "cross": by another person's frame;
    "mixed": z_pose from one person's frame and z_dyn from a third person's, the ground truth being
    the source person with that pose and those dynamics (a swap of the codes, measured).
    """
    if mode not in ("self", "cross", "mixed"):
        raise ValueError(f"mode must be 'self', 'cross' or 'mixed', got {mode!r}")
    def draw():
        return sampler.identities[rng.integers(len(sampler.identities), size=pairs)]

    ids = draw()
    other = ids if mode == "self" else draw()
    fs, es = mixed_frames(bank, rng, pairs)
    fd, ed = mixed_frames(bank, rng, pairs)
    if mode == "mixed":
        third = draw()
        fp, ep = mixed_frames(bank, rng, pairs)                              # whose pose the output takes
        f_gt = fd.copy()
        f_gt[:, _cols(POSE_FACTORS)] = fp[:, _cols(POSE_FACTORS)]
    p, s = [], []
    for k in range(0, pairs, batch):
        sl = slice(k, k + batch)
        src = sampler.render(ids[sl], fs[sl], es[sl])
        drv = sampler.render(other[sl], fd[sl], ed[sl])
        if mode == "mixed":
            lat = model.encode(src)
            _, z_pose, _ = model.encode_codes(sampler.render(third[sl], fp[sl], ep[sl]))
            _, _, z_dyn = model.encode_codes(drv)
            out = model.decode(model.canonicalize(lat), lat.z_id, z_pose, z_dyn, model.part_reference(src, lat.z_pose))
            gt = sampler.render(ids[sl], f_gt[sl], ed[sl])
        else:
            out = model.reenact(src, drv)
            gt = drv if mode == "self" else sampler.render(ids[sl], fd[sl], ed[sl])
        out = out.float().clamp(0, 1)
        gt = at_size(gt, out.shape[-1])                                      # at the model's own size
        p.append(psnr(out, gt))
        s.append(ssim(out, gt))
    return torch.cat(p).numpy(), torch.cat(s).numpy()


def evaluate_latent(model: FaceLatentModel, *, pairs: int = EvalLatentConfig.pairs,
                    detail_pairs: int = EvalLatentConfig.detail_pairs,
                    probe_train: int = EvalLatentConfig.probe_train, probe_test: int = EvalLatentConfig.probe_test,
                    identities: int = EvalLatentConfig.identities, seed: int = EvalLatentConfig.seed,
                    ceilings: tuple[int, ...] = EvalLatentConfig.ceilings, progress: bool = False) -> dict:
    """Every figure of the face latent evaluation for `model` (see the module docstring); a flat dict of floats
    plus 'per_factor_r2' (probe name → {factor: R²}) and 'counts'. With `ceilings` (sizes in px) also
    'ceilings' (labkit.evaluation.ceilings.expression_ceilings) and, when the model's part resolution is
    among them, 'dyn_vs_reader': per factor, z_dyn's probe over the supervised reader's ceiling there."""
    if identities < 4:
        raise ValueError(f"identities must be at least 4 (the within-person pose probe fits on half of them), "
                         f"got {identities}")
    model = model.eval()
    size = model.cfg.image_size
    rng = np.random.default_rng(seed)
    steps = iter(["motion banks", "self-reenactment", "cross-reenactment", "probes", "identity", "disentanglement"])
    bar = None
    if progress:
        bar = tqdm(total=6, desc="eval latent", unit="stage")

    def tick():
        if bar is not None:
            bar.set_postfix_str(next(steps))
            bar.update(1)

    train_bank = motion_bank("train", 24, seed=seed + 1)
    test_bank = motion_bank("test", 24, seed=seed)
    fine = model.cfg.driver_size                           # frames as finely as the model reads them
    train = PairSampler("train", fine, train_bank, random_pose_prob=0.0)
    test = PairSampler("test", fine, test_bank, random_pose_prob=0.0)
    tick()
    out: dict = {}
    sp, ss = reenactment_scores(model, test, test_bank, rng, pairs, mode="self")
    out["self_psnr"], out["self_ssim"] = float(sp.mean()), float(ss.mean())
    tick()
    cp, _ = reenactment_scores(model, test, test_bank, rng, pairs, mode="cross")
    out["cross_psnr"] = float(cp.mean())
    tick()

    # linear probes: fit on train identities, score on test identities
    sets = {}
    for name, sampler, bank, n in (("train", train, train_bank, probe_train), ("test", test, test_bank, probe_test)):
        ids = sampler.identities[rng.integers(len(sampler.identities), size=n)]
        f, e = mixed_frames(bank, rng, n)
        images, parts = render_frames_with_parts(sampler, ids, f, e, size=size)
        sets[name] = (encode_codes(model, images), f, e, parts)
    (ctr, ftr, etr, ptr), (cte, fte, ete, pte) = sets["train"], sets["test"]
    pose_cols, dyn_cols = _cols(POSE_FACTORS), _cols(PROBE_DYN)
    probes = {"probe_pose": ("z_pose", pose_cols, POSE_FACTORS), "probe_dyn": ("z_dyn", dyn_cols, PROBE_DYN),
              "leak_dyn_to_pose": ("z_dyn", pose_cols, POSE_FACTORS),
              "leak_pose_to_dyn": ("z_pose", dyn_cols, PROBE_DYN)}
    out["per_factor_r2"] = {}
    for key, (code, cols, names) in probes.items():
        r2 = probe_r2(ctr[code], ftr[:, cols], cte[code], fte[:, cols])
        out[f"{key}_r2"] = float(r2.mean())
        out["per_factor_r2"][key] = {n: round(float(v), 4) for n, v in zip(names, r2)}
    r2 = probe_r2(drawn_dynamics(ftr, etr), ftr[:, dyn_cols], drawn_dynamics(fte, ete), fte[:, dyn_cols])
    out["probe_dyn_drawn_r2"] = float(r2.mean())                                            # a diagnosis, no bar
    out["per_factor_r2"]["probe_dyn_drawn"] = {n: round(float(v), 4) for n, v in zip(PROBE_DYN, r2)}
    r2 = pixel_probe_r2(ptr, ftr[:, dyn_cols], pte, fte[:, dyn_cols])
    out["probe_dyn_pixels_r2"] = float(r2.mean())                                           # a diagnosis, no bar
    out["per_factor_r2"]["probe_dyn_pixels"] = {n: round(float(v), 4) for n, v in zip(PROBE_DYN, r2)}
    tick()

    # identity code: one person under many motions vs different people
    n_per = 8
    ids = np.repeat(test.identities[rng.integers(len(test.identities), size=identities)], n_per)
    f, e = mixed_frames(test_bank, rng, len(ids))
    codes = encode_codes(model, render_frames(test, ids, f, e))
    z = codes["z_id"] / np.linalg.norm(codes["z_id"], axis=1, keepdims=True)
    cos = z @ z.T
    same = ids[:, None] == ids[None, :]
    off = ~np.eye(len(ids), dtype=bool)
    out["id_intra_cos"] = float(cos[same & off].mean())
    out["id_inter_cos"] = float(cos[~same].mean())
    r2 = within_identity_r2(codes["z_pose"], f[:, pose_cols], ids)                         # a diagnosis, no bar
    out["probe_pose_within_id_r2"] = float(r2.mean())
    out["per_factor_r2"]["probe_pose_within_id"] = {n: round(float(v), 4) for n, v in zip(POSE_FACTORS, r2)}
    tick()

    # disentanglement of the motion codes against the (discretised) ground-truth factors
    codes = np.concatenate([cte["z_pose"], cte["z_dyn"]], 1)
    facts = fte[:, _cols(METRIC_FACTORS)]
    facts_d = histogram_discretize(facts, 20)
    d = dci(codes, facts_d, seed=seed)
    out["dci_disentanglement"], out["dci_completeness"] = d["disentanglement"], d["completeness"]
    out["dci_informativeness"] = d["informativeness_test"]
    out["mig"] = mig(codes, facts_d)
    out["sap"] = sap(codes, facts_d, seed=seed)
    out["modularity"] = modularity(codes, facts_d)
    tick()
    if bar is not None:
        bar.close()
    mp, _ = reenactment_scores(model, test, test_bank, np.random.default_rng([seed, 2]), pairs, mode="mixed")
    out["mixed_psnr"] = float(mp.mean())                                     # own draws: the figures above stay put
    out["detail"] = detail_fidelity(model, test, test_bank, np.random.default_rng([seed, 1]))  # own draws
    out["transfer"] = factor_transfer(model, test, np.random.default_rng([seed, 3]))           # own draws
    readers = fit_attribute_readers(train, train_bank, np.random.default_rng([seed, 4]), size=size, n=probe_train)
    out["details"] = details_kept(model, test, test_bank, readers, np.random.default_rng([seed, 5]),
                                  pairs=detail_pairs)
    out["accessories_kept"], out["dlib_distance"] = out["details"]["accessories_kept"], out["details"]["dlib_distance"]
    if ceilings:
        out["ceilings"] = expression_ceilings(ceilings, seed=seed, progress=progress)
        out["dyn_vs_reader"] = {}
        for n in PROBE_DYN:                    # each factor against the reader at the resolution its part is read at
            read_at = model.cfg.driver_size if TRANSFER_PART[n] == "eyes" else size
            at = out["ceilings"]["sizes"].get(str(read_at))
            if at is not None:
                out["dyn_vs_reader"][n] = round(out["per_factor_r2"]["probe_dyn"][n] / max(at["reader"][n], 1e-6), 3)
    out["counts"] = {"pairs": pairs, "detail_pairs": detail_pairs, "probe_train": probe_train,
                     "probe_test": probe_test, "identities": identities, "frames_per_identity": n_per,
                     "image_size": size, "driver_size": fine}
    return out


KEYS = ("self_psnr", "self_ssim", "cross_psnr", "probe_pose_r2", "probe_dyn_r2", "leak_dyn_to_pose_r2",
        "leak_pose_to_dyn_r2", "id_intra_cos", "id_inter_cos", "dci_disentanglement", "dci_completeness",
        "mig", "sap", "modularity", "accessories_kept", "dlib_distance")
# the bars the face latent model is held to: key → (comparison, value)
BARS = {"self_psnr": (">=", 28.0), "self_ssim": (">=", 0.90), "cross_psnr": (">=", 25.0),
        "probe_pose_r2": (">=", 0.95), "probe_dyn_r2": (">=", 0.90), "leak_dyn_to_pose_r2": ("<=", 0.10),
        "leak_pose_to_dyn_r2": ("<=", 0.10), "id_intra_cos": (">=", 0.95), "accessories_kept": (">=", 0.95)}


# and per factor: name → (figure, factors, comparison, value)
FACTOR_BARS = {"probe_dyn": ("per_factor_r2", PROBE_DYN, ">=", 0.75),
               "transfer": ("transfer", ("blink", "brow", "gaze_yaw", "gaze_pitch"), ">=", 0.7),
               "dyn_vs_reader": ("dyn_vs_reader", PROBE_DYN, ">=", 0.9)}


def factor_verdicts(report: dict) -> dict[str, dict[str, bool]]:
    """For each FACTOR_BARS row present in an evaluate_latent report: {factor: whether it reaches the bar}."""
    out = {}
    for name, (key, factors, op, bar) in FACTOR_BARS.items():
        values = report.get(key, {})
        values = values.get(name, {}) if key == "per_factor_r2" else values
        out[name] = {f: (values[f] >= bar if op == ">=" else values[f] <= bar) for f in factors if f in values}
    return out


def meets(key: str, value: float) -> bool | None:
    """Whether `value` reaches the bar for `key` (None where no number is set)."""
    if key not in BARS:
        return None
    op, bar = BARS[key]
    return value >= bar if op == ">=" else value <= bar
