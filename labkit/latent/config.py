"""The face latent model's configs (VASA-1 §3.1): the network, its presets, the loss weights and the trainers.

Plain dataclasses with no torch, so the command line's options and help are generated from them
(labkit.cli.options) without loading the network; each field's comment is its help line.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field


@dataclass
class FaceLatentConfig:
    image_size: int = 128        # H = W of input and output images
    volume_size: int = 32        # Hv = Wv of the appearance volume
    volume_depth: int = 16       # D, depth bins of the appearance volume
    volume_channels: int = 16    # C, feature channels per voxel
    width: int = 32              # channels of the first conv stage; doubles per downsampling (capped)
    max_width: int = 256         # channel cap of the 2D networks
    code_size: int = 64          # input size of the identity encoder (images are resized)
    motion_size: int = 0         # input size of the motion encoder E_mot, 0 = code_size; eyelids, irises and
                                 # lips span a few pixels, so E_mot should see the image at full size
    id_dim: int = 64             # Z_id, identity code size
    dyn_dim: int = 24            # Z_dyn, facial dynamics code size (lips, blinks, brows, gaze, emotion)
    flow_size: int = 8           # d = h = w of the generated non-rigid displacement grids
    flow_hidden: int = 256       # hidden width of the warp generators
    res3d_blocks: int = 2        # residual 3D conv blocks of G_3D on the canonical volume
    dyn_film: bool = True        # also modulate G_2D with (z_id, z_dyn): mouth interior and eyelids
                                 # are not warps of visible texture, they must be painted
    dense_warp: bool = False     # warp generators as 3D conv upsamplers (MegaPortraits): a displacement field
                                 # and a feature residual at the volume's size, instead of a flow_size^3 MLP flow
    canonical_flow: bool = False # W_c→d reads the target dynamics' displacement where each voxel sits in the
                                 # canonical volume, so a lip's motion turns with the head; False (the first
                                 # s128d) laid it out on the posed grid, and z_dyn had to know the pose to place it
    pose_residual: bool = False  # z_dyn = E_mot's dynamics output minus its linear prediction from z_pose (a fitted
                                 # map, see labkit.latent.decouple); the generators add the prediction back, so
                                 # every image is unchanged, but z_dyn holds no linear copy of the pose
    crop_decoder: bool = False   # D_crop, a training aid: predicts the driver's eye and mouth crops from the
                                 # source's crops and the driver's z_dyn (labkit.latent.losses, --crops)
    part_crops: bool = False     # E_mot adds to its holistic z_dyn what it reads from eye and mouth crops placed by
                                 # its own z_pose (labkit.latent.parts): at 128 px a blink is 2-3 rows of pixels
    part_painter: bool = False   # G_part repaints G_2D's eye and mouth crops from (z_dyn, z_pose) at the pixel and
                                 # pastes them back where E_mot's parts sit (labkit.latent.parts; needs part_crops)
    eye_size: int = 0            # resolution E_mot's part branch reads the eyes (with the brows) at and G_part paints
                                 # them at, from a finer driver frame (0: image_size): a gaze is sub-pixel at 128 px
    part_spatial: bool = False   # G_part also lays z out over the crop (labkit.latent.parts.SpatialCode): it moves
                                 # pixels and paints by position, so it can place an iris or a lid
    part_reference: bool = False  # G_part also reads the source's own crop of each part, cut at the source's pose
                                 # (the same canonical patch it paints): detail the volume blurs, e.g. glasses rims

    @property
    def driver_size(self) -> int:
        """The resolution a driver frame is best given at: eye_size where E_mot reads the eyes finer."""
        return max(self.eye_size, self.image_size)

    def __post_init__(self):
        for name in ("image_size", "volume_size", "code_size", "motion_size", "eye_size"):
            n = getattr(self, name)
            if name in ("motion_size", "eye_size") and n == 0:
                continue
            if n < 4 or n & (n - 1):
                raise ValueError(f"{name} must be a power of two >= 4, got {n}")
        if self.volume_size > self.image_size:
            raise ValueError(f"volume_size {self.volume_size} exceeds image_size {self.image_size}")
        if self.eye_size and (self.eye_size < self.image_size or not self.part_crops):
            raise ValueError(f"eye_size {self.eye_size} reads the eyes finer than image_size {self.image_size}: it "
                             "must be 0 or at least image_size, with part_crops=True")
        if self.part_painter and not self.part_crops:
            raise ValueError("part_painter paints where E_mot's part branch places the parts: it needs part_crops=True")
        if self.part_reference and not self.part_painter:
            raise ValueError("part_reference is what G_part reads of the source: it needs part_painter=True")


# one-line presets: `tiny` keeps tests fast; s64..s512 are the real sizes
PRESETS = {
    "tiny": lambda: FaceLatentConfig(image_size=64, volume_size=16, volume_depth=4, volume_channels=4, width=8,
                                     max_width=32, code_size=32, id_dim=16, dyn_dim=8, flow_size=4,
                                     flow_hidden=32, res3d_blocks=1),
    "s64": lambda: FaceLatentConfig(image_size=64, volume_size=16, volume_depth=16, width=32),
    "s128": lambda: FaceLatentConfig(image_size=128, volume_size=32, volume_depth=16, width=24),
    # s128 with expression where it can be seen and drawn: E_mot at 128 px, dense warps moving and painting in
    # canonical space, no FiLM of G_2D by z_dyn (which, acting after the pose, let z_dyn repeat the pose)
    "s128d": lambda: FaceLatentConfig(image_size=128, volume_size=32, volume_depth=16, width=24, motion_size=128,
                                      dense_warp=True, dyn_film=False, canonical_flow=True),
    # s128d whose E_mot also reads the eyes and the mouth from crops its own pose places
    "s128p": lambda: FaceLatentConfig(image_size=128, volume_size=32, volume_depth=16, width=24, motion_size=128,
                                      dense_warp=True, dyn_film=False, canonical_flow=True, part_crops=True),
    # s128p whose generator also repaints those crops from z_dyn at the pixel (G_part)
    "s128pp": lambda: FaceLatentConfig(image_size=128, volume_size=32, volume_depth=16, width=24, motion_size=128,
                                       dense_warp=True, dyn_film=False, canonical_flow=True, part_crops=True,
                                       part_painter=True),
    # s128pp reading the eyes from a 256 px driver and painting them there, with a G_part that places what it paints
    "s128e": lambda: FaceLatentConfig(image_size=128, volume_size=32, volume_depth=16, width=24, motion_size=128,
                                      dense_warp=True, dyn_film=False, canonical_flow=True, part_crops=True,
                                      part_painter=True, eye_size=256, part_spatial=True),
    "s256": lambda: FaceLatentConfig(image_size=256, volume_size=32, volume_depth=16, width=24, max_width=384),
    "s512": lambda: FaceLatentConfig(image_size=512, volume_size=64, volume_depth=16, width=16, max_width=384),
}


def make_config(preset: str, **overrides) -> FaceLatentConfig:
    """A preset's config with some fields replaced: make_config("s128", dyn_dim=32)."""
    if preset not in PRESETS:
        raise ValueError(f"unknown preset {preset!r}; choose one of {sorted(PRESETS)}")
    return FaceLatentConfig(**{**asdict(PRESETS[preset]()), **overrides})


@dataclass
class LossWeights:
    l1: float = 1.0              # reconstruction, L1
    ms_ssim: float = 0.5         # reconstruction, 1 - MS-SSIM
    transfer: float = 1.0        # VASA-1 pairwise pose/dynamics transfer consistency
    cross_id: float = 0.2        # VASA-1 cross-identity: identity code of the reenactment kept
    cross_motion: float = 0.2    # VASA-1 cross-identity: motion codes of the reenactment kept
    id_contrast: float = 0.1     # identity codes equal within a clip, apart across people
    region: float = 1.0          # L1 inside eye/brow and mouth boxes (needs landmarks in the batch)
    pose_supervision: float = 0.0  # SynthTalk-only weak supervision of z_pose (ablation)
    decorrelate: float = 0.0     # mean squared correlation of z_pose with z_dyn over the batch (XCov)
    crops: float = 0.0           # L1 of D_crop's eye and mouth crops (needs landmarks and model.crop_decoder)
    equivariance: float = 0.0    # z_pose follows, z_dyn ignores, a random similarity of the driver
                                 # (needs batch["similarity"])
    cross_render: float = 0.0    # reconstruction of the exact cross-identity render (SynthTalk;
                                 # needs batch["cross_target"])
    readout: float = 0.0         # SynthTalk-only: z_dyn's first coordinates read the drawn blink, brow and gaze
                                 # (labkit.latent.losses.READOUT; needs the batch's factors)
    consistency_fraction: float = 0.5  # share of the batch the consistency terms are computed on


@dataclass
class TrainLatentConfig:
    preset: str = "s128"           # model preset (PRESETS above)
    data: str = "synthtalk"        # "synthtalk" or a folder written by `labkit prep`
    steps: int = 20_000            # optimisation steps
    batch_size: int = 8            # frame pairs per optimizer step, over all processes and micro-steps
    accumulate: int = 1            # micro-steps whose gradients are summed per optimizer step
    workers: int = 0               # processes rendering the coming steps' batches ahead (0: in the training process)
    bf16: bool = False             # bf16 autocast on CUDA (off: float32 with TF32 matmuls and convolutions; see below)
    compile: bool = False          # torch.compile the model's networks
    lr: float = 5e-4               # peak AdamW learning rate
    weight_decay: float = 1e-4     # AdamW weight decay
    warmup: int = 200              # linear warm-up steps
    seed: int = 0                  # model init and every batch
    consistency: bool = True       # VASA-1's transfer and cross-identity losses (off = the ablation)
    init: str | None = None        # start from these weights (e.g. a run trained without consistency)
    bank_clips: int = 400          # SynthTalk clips whose motion feeds the pairs
    random_pose_prob: float = 0.2  # share of frames given a random head pose
    random_expression_prob: float = 0.0  # share of frames given random lips, lids, brows and gaze (SynthTalk)
    same_pose_prob: float = 0.0    # share of pairs whose driver keeps the source's head pose (SynthTalk)
    log_every: int = 25            # steps between scalar logs
    image_every: int = 500         # steps between TensorBoard image grids
    checkpoint_every: int = 200    # steps between checkpoints
    snapshot_steps: tuple[int, ...] = ()  # also keep a copy of the weights at these steps (step-N.safetensors)
    losses: LossWeights = field(default_factory=LossWeights)


@dataclass
class TrainPartsConfig:
    init: str = ""                 # face latent weights to start from (a model with part_crops)
    preset: str = ""               # build this preset's model from --init's weights (e.g. s128e: the eyes read at
                                   # 256 px); empty: --init's own config
    pairs: int = 3000              # SynthTalk pairs in the bank
    steps: int = 2000              # optimisation steps
    batch_size: int = 64           # pairs per step, drawn from the bank
    lr: float = 1e-3               # peak AdamW learning rate
    weight_decay: float = 1e-4     # AdamW weight decay
    warmup: int = 50               # linear warm-up steps
    seed: int = 0                  # the bank and every batch
    encode: tuple[str, ...] = ("eyes",)  # E_mot part CNNs trained here (the others keep their reading; none given:
                                   # E_mot frozen whole, G_part alone, every code kept)
    readout: float = 0.0           # weight of the ground-truth readout: z_dyn's first coordinates asked to equal the
                                   # driver's drawn blink, brow and gaze (labkit.latent.losses.READOUT)
    cross_render: bool = False     # also bank every source person painted with another person's driver motion,
                                   # against SynthTalk's exact render of it (SynthTalk only)
    reference: bool = False        # G_part also reads the source's own crop of each part (part_reference; a new
                                   # input, zero at init)
    bank_clips: int = 400          # SynthTalk clips whose motion feeds the pairs
    random_pose_prob: float = 0.2  # share of frames given a random head pose
    random_expression_prob: float = 0.6  # share of frames given random lips, lids, brows and gaze
    same_pose_prob: float = 0.3    # share of pairs whose driver keeps the source's head pose
    log_every: int = 25            # steps between scalar logs
    checkpoint_every: int = 200    # steps between checkpoints
    snapshot_steps: tuple[int, ...] = ()  # also keep a copy of the weights at these steps
