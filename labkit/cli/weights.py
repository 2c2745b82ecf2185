"""``labkit weights export|decouple``: checkpoint files."""
from __future__ import annotations

# the library is imported inside each command: `labkit --help` must not import torch


def register(sub) -> None:
    wt = sub.add_parser("weights", help="checkpoint files").add_subparsers(dest="action", required=True)
    we = wt.add_parser("export", help="copy a run's weights (e.g. into labkit/assets/), optionally as float16")
    we.add_argument("src", help="a checkpoint .safetensors (e.g. runs/latent_s128/latest.safetensors)")
    we.add_argument("dst", help="output .safetensors")
    we.add_argument("--fp16", action="store_true", help="store floating-point weights as float16 (half the size)")
    we.add_argument("--overwrite", action="store_true", help="replace an existing file")
    we.add_argument("--sampling-steps", type=int, default=None,
                    help="motion generators: the DDIM steps it samples with when none are asked for, recorded in "
                         "the file (the setting chosen on validation clips)")
    we.add_argument("--hold-face", action="store_true",
                    help="motion generators: record that it samples the face at the first step and the head with "
                         "the rest (labkit.motion.diffusion.Hold), and the head and eye axes that needs")
    we.set_defaults(func=cmd_weights_export)
    wd = wt.add_parser("decouple", help="a face latent checkpoint whose z_dyn holds no linear copy of z_pose "
                                        "(pose-residual dynamics; every decoded image unchanged)")
    wd.add_argument("src", help="a face latent checkpoint .safetensors")
    wd.add_argument("dst", help="output .safetensors (same precision as src)")
    wd.add_argument("--frames", type=int, default=2000,
                    help="SynthTalk train frames, pose and expression drawn independently, to fit on (default: 2000)")
    wd.add_argument("--seed", type=int, default=0, help="seed of the frames (default: 0)")
    wd.add_argument("--overwrite", action="store_true", help="replace an existing file")
    wd.add_argument("--quiet", action="store_true", help="no progress bars")
    wd.set_defaults(func=cmd_weights_decouple)


def cmd_weights_export(a) -> int:
    import torch

    from labkit.io.checkpoint import export_weights, read_metadata
    from labkit.motion.generator import KIND as MOTION_KIND

    meta = {}
    if a.sampling_steps is not None or a.hold_face:
        kind = read_metadata(a.src).get("kind")
        if kind != MOTION_KIND or (a.sampling_steps is not None and a.sampling_steps < 1):
            raise ValueError(f"--sampling-steps takes a positive number and, like --hold-face, a motion generator "
                             f"checkpoint; got {a.sampling_steps} for a {kind!r} checkpoint")
    if a.sampling_steps is not None:
        meta["sampling_steps"] = a.sampling_steps
    if a.hold_face:
        # the head and eye axes the held face follows, measured once here so that loading needs no rendering
        from labkit.motion.generator import MotionGenerator

        axes = MotionGenerator.load(a.src, blinks=None).gaze_axes
        meta.update(hold_face=True, gaze_axes={"head": axes.head.tolist(), "eyes": axes.eyes.tolist()})
    meta = meta or None
    dst = export_weights(a.src, a.dst, dtype=torch.float16 if a.fp16 else None, overwrite=a.overwrite, meta=meta)
    print(f"wrote {dst} ({dst.stat().st_size / 1e6:.1f} MB)")
    return 0


def cmd_weights_decouple(a) -> int:
    from labkit.latent.decouple import decouple_checkpoint

    dst, r2 = decouple_checkpoint(a.src, a.dst, frames=a.frames, seed=a.seed, overwrite=a.overwrite,
                                  progress=not a.quiet)
    print(f"wrote {dst}: z_pose predicted {r2:.1%} of z_dyn's variance, now taken out of it")
    return 0
