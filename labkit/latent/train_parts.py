"""The face latent model's part stage: E_mot's part branch and G_part trained at the crop, the rest frozen.

``labkit train parts --init runs/latent_s128pp/latest.safetensors --out runs/parts``

Through the whole model, lids and irises barely teach anything: a blink is 2-3 rows of a 128 px
frame, and G_part, which could draw it, starts as the identity and is reached only by the frame
and region losses (data_cards/model_face_latent.md, the transfer diagnosis). This stage gives the
eyes the whole loss, after LivePortrait's second stage, which trains its eye and lip retargeting
modules with the rest of the model frozen:

1. **A bank** of SynthTalk pairs (source, driver) of one person goes once through the frozen
   model. For each driver it keeps E_mot's holistic dynamics and pose, the crops its part branch
   reads at that pose (which are also what G_part must paint), and G_2D's crops of the
   reenactment (the source's appearance with the driver's motion), which G_part repaints. The
   bank is cached in the run folder (``bank.pt``), so a resumed run does not rebuild it.
   With ``--cross-render`` every pair adds a second row: the source person painted with the
   previous pair's driver motion (another person's), against SynthTalk's exact render of that.
   Within one person, the driver's reading is as good a source of glasses and eye shape as the
   drawn crop, and G_part learns to paint them from the code; across people only the drawn crop
   (the source's appearance) is right, so the painter learns to keep the source's details and
   draw only the motion.
2. **Steps** over the bank train only the part CNNs named in ``encode`` (the eyes by default)
   and G_part: z_dyn is the holistic dynamics plus the part readings, and each crop G_part paints
   from (z_dyn, z_pose), blended as it is blended into the image, must match the driver's (L1).

With ``--readout W`` a third term ties the code to what SynthTalk drew: z_dyn's first coordinates
(READOUT: blink, brow, gaze yaw, gaze pitch, each scaled to [-1, 1] over its range) are asked to
equal the driver's ground truth (mean squared error, weight W). So that the eye reader alone can
set them, z_dyn's basis is first turned (exactly: labkit.latent.decouple.rotate_dynamics) to put
first the directions the rest of E_mot (the holistic view, the mouth reader) varies least along
over the bank; the basis is kept in the bank, so a resumed run turns nothing twice. Reconstruction
alone leaves them out of linear reach on new people although the crops hold them (a supervised
reader of the same crops reads blink 0.94 and gaze yaw 0.80 where z_dyn read 0.56 and 0.32): a
code can draw a blink well and still spell it differently for every face. The readout is fitted on training identities
only; `labkit eval latent` probes test identities.

With ``--encode`` given no part, E_mot is frozen whole: the stage trains G_part alone and keeps
the init's pose-residual map, so every code, and every model trained on the codes (the motion
generator), stays valid. With ``--reference`` G_part also reads the source's own crop of each
part (FaceLatentConfig.part_reference; the new input starts at zero), the sharp detail that G_2D's
crop has lost to the volume's voxels; the bank then keeps those crops too.

The mouth's reading is kept by default: G_2D has learned to draw the jaw from it (its probe R²
is 0.92). Whatever the stage changes in z_dyn, G_2D has not seen, so a short run of
``labkit train latent`` from the stage's weights should follow (the model card gives the recipe).
"""
from __future__ import annotations

import logging
import os
from dataclasses import asdict, replace
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from tqdm.auto import tqdm

from labkit.io.checkpoint import load_matching, load_state, save_training_state
from labkit.latent.config import FaceLatentConfig, LossWeights, TrainLatentConfig, TrainPartsConfig, make_config
from labkit.latent.data import cross_partner
from labkit.latent.decouple import least_varied_basis, rotate_dynamics
from labkit.latent.losses import readout_error, readout_targets
from labkit.latent.model import KIND, FaceLatentModel
from labkit.latent.train import make_sampler
from labkit.latent.warp import POSE_DIM
from labkit.training.runs import RunFolder, deadline_after, keeps_global_state, run_steps

log = logging.getLogger(__name__)


_RESUMABLE_CHANGES = {"steps", "log_every", "checkpoint_every", "snapshot_steps"}


def stage_model(state: dict, meta: dict, *, preset: str = "", encode: tuple[str, ...] = ("eyes",),
                reference: bool = False) -> FaceLatentModel:
    """The model the stage trains, from a checkpoint's (state, meta): its config (or `preset`'s, e.g. one
    reading the eyes finer) with G_part on (a model without one, e.g. s128p, gets a fresh G_part, the
    identity at init). A stage that trains a part reader drops the pose-residual map (the generators see
    E_mot's raw output either way; `labkit weights decouple` refits it after); one that trains G_part
    alone (`encode` empty) keeps the init's, so its codes are the init's. With `reference`, G_part also
    reads the source's own part crops (FaceLatentConfig.part_reference). Every tensor whose name and
    shape match is copied; only G_part and the part readers the stage trains may start fresh."""
    cfg = make_config(preset) if preset else FaceLatentConfig(**meta["config"])
    if not cfg.part_crops:
        raise ValueError("the part stage trains E_mot's part branch: --init must be a model with part_crops "
                         "(presets s128p, s128pp, s128e)")
    keep_map = not encode and cfg.pose_residual and "dyn_from_pose" in state
    model = FaceLatentModel(replace(cfg, part_painter=True, pose_residual=keep_map,
                                    part_reference=cfg.part_reference or reference))
    fresh, _ = load_matching(model, state)
    trained = ("part_painter.", *(f"motion_encoder.parts.nets.{r}." for r in encode))
    missing = [k for k in fresh if not k.startswith(trained)]
    if missing:
        raise ValueError(f"--init lacks tensors the stage keeps frozen: {missing[:4]}")
    return model


def trainable(model: FaceLatentModel, encode: tuple[str, ...]) -> list[torch.nn.Parameter]:
    """The parameters the stage trains: the part CNNs named in `encode`, and G_part. Every other
    parameter is frozen (requires_grad False)."""
    parts = model.motion_encoder.parts
    unknown = set(encode) - set(parts.regions)
    if unknown:
        raise ValueError(f"--encode names unknown parts {sorted(unknown)}; the parts are {list(parts.regions)}")
    keep = [p for r in encode for p in parts.nets[r].parameters()] + list(model.part_painter.parameters())
    ids = {id(p) for p in keep}
    for p in model.parameters():
        p.requires_grad_(id(p) in ids)
    return keep


@torch.no_grad()
def build_bank(model: FaceLatentModel, sampler, pairs: int, encode: tuple[str, ...], *, seed: int = 0,
               chunk: int = 32, progress: bool = True) -> dict[str, torch.Tensor]:
    """Pass `pairs` of the sampler's pairs once through the frozen model. Returns base_dyn (N, Z_dyn):
    E_mot's dynamics output without the readings of the `encode` parts; z_pose (N, 6); and per part r,
    ``target.r`` (N, 3, h, w), the driver's crop at its pose, and ``drawn.r``, G_2D's crop there of the
    source reenacted with the driver's motion, both in [0, 1]; and ``readout`` (N, len(READOUT)), the
    driver's drawn READOUT factors (readout_targets), where the sampler knows them (SynthTalk does).

    When the sampler's batches hold ``cross_target`` (each source person with the previous pair's driver
    motion, latent_data.cross_partner), every pair adds a cross row after the chunk's own rows: that
    driver's codes and reading, G_2D's crop of the source drawn with them (``drawn.r``), and the exact
    render's crop as the target; ``read.r`` then holds, for every row, the crop E_mot's part reader reads
    (the driver's), which for a cross row is not the target. N is then 2 × `pairs`. For a model with
    part_reference, ``ref.r`` holds each row's source crop of part r, what G_part reads of the source."""
    parts = model.motion_encoder.parts
    out: dict[str, list[torch.Tensor]] = {}
    device = next(model.parameters()).device
    starts = range(0, pairs, chunk)

    def add(rows):
        for key, v in rows.items():
            out.setdefault(key, []).append(v.float().cpu())

    for k, start in enumerate(tqdm(starts, desc="part bank", unit="chunk", disable=not progress)):
        b = sampler.batch(min(chunk, pairs - start), np.random.default_rng([seed, 2, k]))
        source, fine = b["source"].to(device), b["driver"].to(device)          # at the model's driver_size
        driver = model.frame(fine)
        m = model.motion_encoder.holistic(2 * driver - 1)
        z_pose, dyn = m[:, :POSE_DIM], m[:, POSE_DIM:]
        targets = parts.crops(driver, z_pose, fine)                             # each part at its own resolution
        reading = {r: parts.nets[r](2 * c - 1) for r, c in targets.items()}
        base = dyn + sum(v for r, v in reading.items() if r not in encode)
        full = base + sum(reading[r] for r in encode)                            # E_mot's output now
        lat = model.encode(source)
        canonical = model.canonicalize(lat)
        z_dyn = full - model.dyn_predicted(z_pose) if model.cfg.pose_residual else full
        drawn = model.draw(canonical, lat.z_id, z_pose, z_dyn)
        reference = model.part_reference(source, lat.z_pose)                    # None without part_reference
        cross = "cross_target" in b
        rows = {"base_dyn": base, "z_pose": z_pose}
        if "driver_factors" in b:                                               # SynthTalk: ground truth known
            rows["readout"] = readout_targets(b["driver_factors"])
        for r, c in targets.items():
            rows[f"target.{r}"], rows[f"drawn.{r}"] = c, parts.crop(drawn, z_pose, r)
            if cross:
                rows[f"read.{r}"] = c
            if reference is not None:
                rows[f"ref.{r}"] = reference[r]
        add(rows)
        if cross:                                     # source b drawn with driver j's motion, j = cross_partner(b)
            j = cross_partner(len(source)).to(device)
            exact = b["cross_target"].to(device)
            drawn = model.draw(canonical, lat.z_id, z_pose[j], z_dyn[j])
            rows = {"base_dyn": base[j], "z_pose": z_pose[j]}
            if "driver_factors" in b:
                rows["readout"] = readout_targets(b["driver_factors"][j.cpu()])
            exact_targets = parts.crops(model.frame(exact), z_pose[j], exact)
            for r in targets:
                rows[f"target.{r}"], rows[f"drawn.{r}"] = exact_targets[r], parts.crop(drawn, z_pose[j], r)
                rows[f"read.{r}"] = targets[r][j]
                if reference is not None:
                    rows[f"ref.{r}"] = reference[r]                             # the same source, b
            add(rows)
    return {k: torch.cat(v) for k, v in out.items()}


def part_readings(model: FaceLatentModel, bank: dict[str, torch.Tensor], rows: torch.Tensor,
                  encode: tuple[str, ...]) -> torch.Tensor:
    """z_dyn of bank `rows` as E_mot reads it now: the frozen base plus the readings of the `encode`
    parts, each of the crop that part reads (``read.r``, else ``target.r``): (len(rows), Z_dyn)."""
    parts = model.motion_encoder.parts
    return bank["base_dyn"][rows] + sum(parts.nets[r](2 * bank.get(f"read.{r}", bank[f"target.{r}"])[rows] - 1)
                                        for r in encode)


def stage_loss(model: FaceLatentModel, bank: dict[str, torch.Tensor], rows: torch.Tensor,
               encode: tuple[str, ...], readout: float = 0.0) -> tuple[torch.Tensor, dict[str, float]]:
    """L1 between each part G_part paints for bank `rows` and its target crop, averaged over parts, plus
    `readout` × the mean squared error of z_dyn's first coordinates against the bank's READOUT factors (a
    scalar); and each term's value."""
    painter = model.part_painter
    dyn = part_readings(model, bank, rows, encode)
    z = torch.cat([dyn, bank["z_pose"][rows]], 1)
    def ref(r):
        return bank[f"ref.{r}"][rows] if f"ref.{r}" in bank else None

    terms = {r: F.l1_loss(painter.paint(r, bank[f"drawn.{r}"][rows], z, ref(r)), bank[f"target.{r}"][rows])
             for r in painter.nets}
    loss = sum(terms.values()) / len(terms)
    logs = {f"l1_{r}": float(v.detach()) for r, v in terms.items()}
    if readout > 0:
        mse = readout_error(dyn, bank["readout"][rows])
        loss = loss + readout * mse
        logs["readout_mse"] = float(mse.detach())
    return loss, logs


@keeps_global_state
def train_parts(cfg: TrainPartsConfig, out_dir: str | os.PathLike, *, device: str = "cpu", overwrite: bool = False,
                progress: bool = True, time_limit: float | None = None) -> Path:
    """Run (or resume) the part stage in `out_dir`; returns the weights path (a whole face latent model).
    `time_limit` (minutes, the bank's build included): checkpoint and stop at the first step past it."""
    deadline = deadline_after(time_limit)
    if not cfg.init or not Path(cfg.init).is_file():
        raise FileNotFoundError(f"--init must be a face latent checkpoint (.safetensors); got {cfg.init!r}")
    if cfg.readout > 0 and not cfg.encode:
        raise ValueError("--readout trains a part reader's code: give --encode the part(s) to train (eyes)")
    torch.manual_seed(cfg.seed)                            # a fresh G_part's init
    model = stage_model(*load_state(cfg.init, kind=KIND), preset=cfg.preset, encode=cfg.encode,
                        reference=cfg.reference).to(device)
    run = RunFolder(out_dir, {"train": asdict(cfg), "model": asdict(model.cfg)}, kind=KIND,
                    resumable=_RESUMABLE_CHANGES, overwrite=overwrite)
    params = trainable(model, cfg.encode)
    opt = torch.optim.AdamW(params, lr=cfg.lr, weight_decay=cfg.weight_decay, betas=(0.9, 0.99))
    step, elapsed = run.load(model, opt, device)
    bank_path = run.path / "bank.pt"
    if overwrite:                                            # a bank is only valid for the config that built it
        bank_path.unlink(missing_ok=True)
    if bank_path.exists():
        bank = torch.load(bank_path)
    else:
        data = TrainLatentConfig(seed=cfg.seed, bank_clips=cfg.bank_clips, random_pose_prob=cfg.random_pose_prob,
                                 random_expression_prob=cfg.random_expression_prob, same_pose_prob=cfg.same_pose_prob,
                                 losses=LossWeights(cross_render=1.0 if cfg.cross_render else 0.0))
        model.eval()
        bank = build_bank(model, make_sampler(data, model.cfg.driver_size, progress=progress), cfg.pairs, cfg.encode,
                          seed=cfg.seed, progress=progress)
        save_training_state(bank_path, bank)                 # atomically: a killed build leaves no half bank
    if cfg.readout > 0:
        if "readout" not in bank:
            raise ValueError(f"{bank_path} holds no readout targets (built before --readout, or from frames with "
                             "no ground truth): --readout needs a new run folder on SynthTalk")
        if "basis" not in bank:
            bank["basis"] = least_varied_basis(bank["base_dyn"])
            save_training_state(bank_path, bank)
        if step == 0:                                        # the init's weights: into the readout's basis
            rotate_dynamics(model, bank["basis"])
        bank["base_dyn"] = bank["base_dyn"] @ bank["basis"]   # the bank keeps the init's basis
    bank = {k: v.to(device) for k, v in bank.items()}
    log.info("part stage: %d rows in the bank; training %s and G_part (%d parameters)", len(bank["z_pose"]),
             "+".join(cfg.encode) or "no part CNN", sum(p.numel() for p in params))

    def loss_at(step):
        rows = np.random.default_rng([cfg.seed, step]).integers(len(bank["z_pose"]), size=cfg.batch_size)
        rows = torch.from_numpy(rows).to(device)
        return stage_loss(model, bank, rows, cfg.encode, cfg.readout)

    run_steps(run, model, opt, cfg, loss_at, start=step, elapsed=elapsed, model_config=asdict(model.cfg),
              desc="train parts", progress=progress, deadline=deadline)
    run.close()
    return run.weights
