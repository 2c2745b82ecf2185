"""The ``labkit`` command line: parse, call the library, report."""
from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from pathlib import Path

DEFAULT_STEPS = 1       # labkit.motion.generator.DEFAULT_STEPS, for --help without importing torch (tests check)


def _synth_dataset(a):
    from labkit.synthtalk.dataset import SynthTalk

    return SynthTalk(a.split, resolution=a.resolution, seconds=a.seconds, seed=a.seed,
                     num_clips=max(getattr(a, "n", 0) or 0, getattr(a, "index", 0) + 1))


def cmd_synth_export(a) -> int:
    from labkit.synthtalk.export import export

    man = export(_synth_dataset(a), a.out, a.n, overwrite=a.overwrite, progress=not a.quiet)
    print(f"wrote {a.n} clips; manifest {man}")
    return 0


def cmd_synth_clip(a) -> int:
    from labkit.io.video import write_video

    clip = _synth_dataset(a)[a.index]
    out = Path(a.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    write_video(out, clip["frames"], clip["fps"], clip["audio"], clip["sample_rate"], overwrite=a.overwrite)
    print(f"wrote {out}: {len(clip['frames'])} frames at {a.resolution}px, identity {clip['identity']}, "
          f"{clip['language']} ({clip['voice']}), emotion {clip['emotion']}\n  \"{clip['text']}\"")
    return 0


def cmd_prep(a) -> int:
    from labkit.faces.prep import PrepConfig, prepare

    man = prepare(a.video_dir, a.out_dir, PrepConfig(resolution=a.resolution, backend=a.backend),
                  workers=a.workers, overwrite=a.overwrite, progress=not a.quiet)
    clips = json.loads(Path(man).read_text())["clips"]
    ok = [c for c in clips if c["status"] == "ok"]
    failed = [c for c in clips if c["status"] != "ok"]
    print(f"{len(ok)} clips ready, {len(failed)} failed; manifest {man}")
    for c in failed:
        print(f"  failed: {c['source']}: {c['error']}")
    return 0 if not failed else 1


def cmd_bench_synth(a) -> int:
    from labkit.bench.inference import bench_synth

    r = bench_synth(frames=a.frames, realism_clips=a.realism_clips, one_core=not a.all_cores, progress=not a.json)
    if a.json:
        print(json.dumps(r))
    else:
        print(f"render 128 px   {r['render_fps_128']:8.1f} frames/s   (target >= 500, one core)")
        print(f"render 512 px   {r['render_fps_512']:8.1f} frames/s   (target >= 100, one core)")
        print(f"speech          {r['tts_x_realtime']:8.1f} x real time (target >= 20)")
        if "dlib_detect_rate" in r:
            print(f"dlib detection  {r['dlib_detect_rate']:8.3f}  on {r['dlib_frames']} test frames, |yaw| <= 30 "
                  f"(target >= 0.90)")
            print(f"dlib landmarks  {r['dlib_landmark_err_iod']:8.3f}  mean error / inter-ocular, points 18-68 "
                  f"(target <= 0.10)")
    return 0


def cmd_bench_prep(a) -> int:
    from labkit.bench.inference import bench_prep

    r = bench_prep(n_clips=a.clips, backend=a.backend)
    if a.json:
        print(json.dumps(r))
    else:
        print(f"prep ({r['prep_backend']}) on {r['prep_clips_ok']}/{r['prep_clips']} SynthTalk test clips at "
              f"{r['prep_resolution']} px")
        print(f"landmark error  {r['prep_landmark_err_px']:6.2f} px  (points 18-68; all 68: "
              f"{r['prep_landmark_err_px_all68']:.2f} px)")
        print(f"time            {r['prep_seconds_per_video_second']:6.3f} s per second of video")
    return 0


def cmd_train_latent(a) -> int:
    import dataclasses

    import torch

    from labkit.latent.model import FaceLatentConfig
    from labkit.latent.train import TrainLatentConfig, train_latent

    if a.threads:
        torch.set_num_threads(a.threads)
    cfg, model = _recipe(a, TrainLatentConfig, FaceLatentConfig)
    g = a.given
    fields = {k: g[k] for k in ("preset", "data", "steps", "batch_size", "lr", "warmup", "seed", "init", "accumulate",
                                "compile", "workers", "bf16", "random_expression_prob", "same_pose_prob") if k in g}
    if "snapshot_steps" in g:
        fields["snapshot_steps"] = tuple(g["snapshot_steps"])
    if g.get("no_consistency"):
        fields["consistency"] = False
    losses = dataclasses.replace(cfg.losses, **{k: g[k] for k in ("pose_supervision", "region", "decorrelate", "crops",
                                                                     "equivariance", "cross_render") if k in g})
    cfg = dataclasses.replace(cfg, losses=losses, **fields)
    path = train_latent(cfg, a.out, model_overrides=model, device=a.device, overwrite=a.overwrite,
                        progress=not a.quiet, deterministic=a.deterministic, time_limit=a.time_limit)
    _report_trained(path, cfg.steps)
    return 0


def _report_trained(path: Path, steps: int) -> None:
    """Rank 0's last line: the weights, and how to go on when --time-limit stopped the run early."""
    from labkit.io.checkpoint import read_metadata

    if not _is_main():
        return
    reached = read_metadata(path).get("step", steps)
    if reached < steps:
        print(f"stopped by --time-limit at step {reached} of {steps}; weights {path} (the same command resumes)")
    else:
        print(f"trained {steps} steps; weights {path}")


def cmd_train_parts(a) -> int:
    import torch

    from labkit.latent.train_parts import TrainPartsConfig, train_parts

    if a.threads:
        torch.set_num_threads(a.threads)
    cfg = TrainPartsConfig(init=a.init, pairs=a.pairs, steps=a.steps, batch_size=a.batch_size, lr=a.lr, warmup=a.warmup,
                           seed=a.seed, encode=tuple(a.encode), snapshot_steps=tuple(a.snapshot_steps))
    path = train_parts(cfg, a.out, device=a.device, overwrite=a.overwrite, progress=not a.quiet)
    print(f"trained {cfg.steps} steps; weights {path}")
    return 0


def _recipe(a, train_cls, model_cls):
    """The trainer's config and model overrides: from --config FILE, or the defaults."""
    if a.config is None:
        return train_cls(), {}
    from labkit.training.recipes import load_train_config

    return load_train_config(a.config, train_cls, model_cls)


def _is_main() -> bool:
    """Rank 0 of a torchrun job (or a plain process): the one that reports."""
    return os.environ.get("RANK", "0") == "0"


def cmd_eval_latent(a) -> int:
    from labkit.evaluation.latent import BARS, KEYS, evaluate_latent, meets
    from labkit.latent.model import load_face_latent

    model = load_face_latent(a.checkpoint)
    r = evaluate_latent(model, pairs=a.pairs, probe_train=a.probe_train, probe_test=a.probe_test, seed=a.seed,
                        progress=not a.json)
    if a.json:
        print(json.dumps(r))
        return 0
    for k in KEYS:
        bar = f"{BARS[k][0]} {BARS[k][1]:g}" if k in BARS else ""
        ok = {True: "ok", False: "MISSED", None: ""}[meets(k, r[k])]
        print(f"{k:22s} {r[k]:8.3f}   {bar:8s} {ok}")
    print(f"{'mixed_psnr':22s} {r['mixed_psnr']:8.3f}   (pose of one person's frame, dynamics of another's)")
    print(f"{'probe_pose_within_id':22s} {r['probe_pose_within_id_r2']:8.3f}   (z_pose probe with each person's mean "
          "taken out: motion within one person)")
    print(f"{'probe_dyn_drawn':22s} {r['probe_dyn_drawn_r2']:8.3f}   (the z_dyn probe on what SynthTalk draws: "
          "the ceiling of an encoder that reads exactly that)")
    print(f"{'probe_dyn_pixels':22s} {r['probe_dyn_pixels_r2']:8.3f}   (the z_dyn probe on the raw eye and mouth "
          "crops: a linear reader of the image itself)")
    d = r["detail"]
    print("auto-encoding PSNR     whole {autoencode_psnr:.1f}, eyes {autoencode_eyes_psnr:.1f}, mouth "
          "{autoencode_mouth_psnr:.1f} dB; a 4x-blurred frame: {blur4_psnr:.1f}, {blur4_eyes_psnr:.1f}, "
          "{blur4_mouth_psnr:.1f} dB".format(**d))
    print("transfer               " + ", ".join(f"{k} {v:.2f}" for k, v in r["transfer"].items())
          + "   (share of a large one-factor change that reenactment reproduces)")
    return 0


def cmd_bench_latent(a) -> int:
    from labkit.bench.inference import bench_latent

    r = bench_latent(sizes=tuple(a.sizes), repeats=a.repeats, device=a.device)
    if a.json:
        print(json.dumps(r))
        return 0
    print(f"{r['device']}, {r['threads']} threads, float32 matmul {r['matmul_gflops']:.1f} GFLOP/s")
    print(f"{'size':>5s} {'encode ms':>10s} {'decode ms':>10s} {'enc GFLOP':>10s} {'dec GFLOP':>10s} {'of peak':>8s}")
    for size, v in r["sizes"].items():
        print(f"{size:5d} {v['encode_ms']:10.1f} {v['decode_ms']:10.1f} {v['encode_gflops']:10.2f} "
              f"{v['decode_gflops']:10.2f} {v['fraction_of_matmul_peak']:8.0%}")
    return 0


def cmd_weights_export(a) -> int:
    import torch

    from labkit.io.checkpoint import export_weights

    dst = export_weights(a.src, a.dst, dtype=torch.float16 if a.fp16 else None, overwrite=a.overwrite)
    print(f"wrote {dst} ({dst.stat().st_size / 1e6:.1f} MB)")
    return 0


def cmd_weights_decouple(a) -> int:
    from labkit.latent.decouple import decouple_checkpoint

    dst, r2 = decouple_checkpoint(a.src, a.dst, frames=a.frames, seed=a.seed, overwrite=a.overwrite,
                                  progress=not a.quiet)
    print(f"wrote {dst}: z_pose predicted {r2:.1%} of z_dyn's variance, now taken out of it")
    return 0


def cmd_train_motion(a) -> int:
    import dataclasses

    import torch

    from labkit.motion.dit import MotionDiTConfig
    from labkit.motion.train import TrainMotionConfig, train_motion

    if a.threads:
        torch.set_num_threads(a.threads)
    cfg, model = _recipe(a, TrainMotionConfig, MotionDiTConfig)
    g = a.given
    fields = {k: g[k] for k in ("preset", "process", "prediction", "noise_rho", "motion", "latent", "steps",
                                "batch_size", "lr", "warmup", "seed", "accumulate", "compile") if k in g}
    if "clips" in g:
        fields["train_clips"] = g["clips"]
    if "heldout_language" in g:
        fields["heldout_language"] = None if g["heldout_language"] == "none" else g["heldout_language"]
    if "snapshot_steps" in g:
        fields["snapshot_steps"] = tuple(g["snapshot_steps"])
    cfg = dataclasses.replace(cfg, **fields)
    path = train_motion(cfg, a.out, model_overrides=model, device=a.device, overwrite=a.overwrite,
                        progress=not a.quiet, time_limit=a.time_limit)
    _report_trained(path, cfg.steps)
    return 0


def cmd_train_evaluator(a) -> int:
    """labkit train labsync|capp|video-features: the evaluation suite's trained instruments."""
    import torch

    if a.model == "labsync":
        from labkit.evaluators.train_labsync import TrainLabSyncConfig as Config
        from labkit.evaluators.train_labsync import train_labsync as train
    elif a.model == "capp":
        from labkit.evaluators.train_capp import TrainCAPPConfig as Config
        from labkit.evaluators.train_capp import train_capp as train
    else:
        from labkit.evaluators.train_video_features import TrainVideoFeaturesConfig as Config
        from labkit.evaluators.train_video_features import train_video_features as train
    if a.threads:
        torch.set_num_threads(a.threads)
    cfg = Config(train_clips=a.clips, steps=a.steps, batch_size=a.batch_size, lr=a.lr, warmup=a.warmup, seed=a.seed,
                 snapshot_steps=tuple(a.snapshot_steps))
    path = train(cfg, a.out, device=a.device, overwrite=a.overwrite, progress=not a.quiet)
    print(f"trained {cfg.steps} steps; weights {path}")
    return 0


def _sync_summary(r: dict) -> str:
    return (f"S_C {r['S_C']:.3f}   S_D {r['S_D']:.3f}   offset 0 found in {100 * r['offset_acc']:.0f} % of "
            f"{r['clips']} test clips; shifted audio: offset found in {100 * r['shifted_offset_acc']:.0f} %")


def _capp_summary(r: dict) -> str:
    shifts = "   ".join(f"±{k[6:]}: {v:.3f}" for k, v in r.items() if k.startswith("shift_"))
    return (f"CAPP on {r['clips']} test clips: true pose {r['matched']:.3f}, another clip's audio "
            f"{r['mismatched']:.3f}, a still head {r['still']:.3f}\npose shifted by   {shifts}")


def _video_features_summary(r: dict) -> str:
    r2 = "  ".join(f"{k[3:]} {v:.2f}" for k, v in r.items() if k.startswith("r2_"))
    return (f"R² on {r['clips']} test windows: {r2}\nemotion accuracy {r['emotion_acc']:.2f}\n"
            f"FVD between halves {r['fvd_halves']:.2f}, to blurred {r['fvd_blurred']:.2f}, "
            f"to frozen {r['fvd_frozen']:.2f}")


def cmd_eval_instrument(a) -> int:
    """labkit eval sync|capp|video-features: one trained instrument of the evaluation suite on test clips."""
    if a.model == "sync":
        from labkit.evaluation.instruments import evaluate_labsync as evaluate
        from labkit.evaluators.labsync import load_labsync as load
        summary = _sync_summary
    elif a.model == "capp":
        from labkit.evaluation.instruments import evaluate_capp as evaluate
        from labkit.evaluators.capp import load_capp as load
        summary = _capp_summary
    else:
        from labkit.evaluation.instruments import evaluate_video_features as evaluate
        from labkit.evaluators.video_features import load_video_features as load
        summary = _video_features_summary
    r = evaluate(load(a.checkpoint), num_clips=a.clips, progress=not a.json)
    print(json.dumps(r) if a.json else summary(r))
    return 0


def cmd_eval_table(a) -> int:
    """labkit eval: the comparison table (labkit.evaluation.table)."""
    import torch

    from labkit.evaluation.table import (
        EXTRA_METHODS,
        METHODS,
        bars,
        evaluate_table,
        load_instruments,
        to_csv,
        to_markdown,
    )
    from labkit.io.atomic import write_text_atomic
    from labkit.io.weights import MOTION, REGRESSION
    from labkit.motion.diffusion import Guidance
    from labkit.motion.generator import MotionGenerator
    from labkit.synthtalk.dataset import LANGUAGES

    methods = [m.strip() for m in a.methods.split(",") if m.strip()]
    unknown = [m for m in methods if m not in METHODS + EXTRA_METHODS]
    if unknown or not methods:
        raise ValueError(f"--methods: unknown {unknown or 'empty list'}; choose from "
                         f"{','.join(METHODS + EXTRA_METHODS)}")
    out = Path(a.out)
    paths = [out.with_suffix(".csv"), out.with_suffix(".md")]
    for path in paths:
        if path.exists() and not a.overwrite:
            raise FileExistsError(f"{path} exists; pass --overwrite to replace it")
    if a.threads:
        torch.set_num_threads(a.threads)
    source = "landmarks" if a.renderer == "synthtalk" else "latent"       # SynthTalk draws from factors
    default = {"ours": MOTION[source], "regression": REGRESSION[source]}
    paths_in = {"ours": a.checkpoint, "regression": a.regression}
    gens = {m: MotionGenerator.load(paths_in[m] or default[m], steps=a.steps,
                                    guidance=Guidance(audio=a.cfg_audio) if m == "ours" else Guidance())
            for m in ("ours", "regression") if m in methods}
    held = next(iter(gens.values())).meta.get("heldout_language") if gens else "es"
    langs = tuple(lang for lang in LANGUAGES if lang != held)
    inst, train = load_instruments(latent=a.latent, languages=langs, progress=not a.json, lmd_every=a.lmd_every,
                                   reader_clips=a.reader_clips)
    table, in_sync = evaluate_table(methods, renderer=a.renderer, generators=gens, instruments=inst, train=train,
                                    split=a.split, num_clips=a.clips, seconds=a.seconds, seed=a.seed,
                                    languages=langs, progress=not a.json)
    out.parent.mkdir(parents=True, exist_ok=True)
    write_text_atomic(paths[0], to_csv(table))
    write_text_atomic(paths[1], to_markdown(table))
    if a.json:
        print(json.dumps(table))
        return 0
    print(to_markdown(table))
    print("clips found in sync (offset 0): " + ", ".join(f"{m} {v:.0%}" for m, v in in_sync.items()))
    verdict = {True: "ok", False: "MISSED", None: "n/a"}
    print("bars (ours beats every baseline; ΔP closest to gt): "
          + ", ".join(f"{k} {verdict[v]}" for k, v in bars(table).items()))
    print(f"wrote {paths[0]} and {paths[1]}")
    return 0




def cmd_eval_motion(a) -> int:
    from labkit.evaluation.motion import BARS, EXTRA_KEYS, KEYS, evaluate_motion, meets
    from labkit.motion.diffusion import Guidance
    from labkit.motion.generator import MotionGenerator

    gen = MotionGenerator.load(a.checkpoint, steps=a.steps, overlap=a.overlap,
                               guidance=Guidance(audio=a.cfg_audio, gaze=a.cfg_gaze, control=a.cfg_control,
                                                 emotion=a.cfg_emotion))
    reg = MotionGenerator.load(a.regression) if a.regression else _shipped_regression()
    r = evaluate_motion(gen, regression=reg, latent=a.latent, test_clips=a.clips, seeds=a.seeds, seed=a.seed,
                        progress=not a.json)
    if a.json:
        print(json.dumps(r))
        return 0
    for k in KEYS + EXTRA_KEYS:
        if k not in r:
            continue
        op, bar = BARS.get(k, ("", None))
        bar_s = "" if bar is None else (f"{bar[0]:g}..{bar[1]:g}" if op == "within" else f"{op} {bar:g}")
        ok = "" if k not in BARS else ("ok" if meets(k, r[k]) else "MISSED")
        print(f"{k:26s} {r[k]:8.3f}   {bar_s:10s} {ok}")
    if "denoising" in r:
        d = r["denoising"]
        steps = [k for k in d if k != "truth_sway"]
        print(f"denoising (head pose, x̂0 of x_t once; truth's sway {d['truth_sway']:.3f}):")
        print("  " + "  ".join(f"t={k}: mse {d[k]['mse']:.3f} sway {d[k]['sway']:.3f}" for k in steps))
    return 0


def _shipped_regression():
    from labkit.io.weights import REGRESSION
    from labkit.motion.generator import MotionGenerator

    return MotionGenerator.load(REGRESSION["latent"])


def cmd_bench_motion(a) -> int:
    from labkit.bench.inference import bench_motion

    r = bench_motion(presets=tuple(a.presets), steps=tuple(a.steps), device=a.device)
    if _printed_json(a, r):
        return 0
    print(f"{r['device']}, {r['threads']} threads, {r['seconds']:g} s of audio, audio guidance on")
    print(f"{'preset/steps':>14s} {'motion fps':>11s} {'first window ms':>16s}")
    for k, v in r["results"].items():
        print(f"{k:>14s} {v['motion_fps']:11.0f} {v['first_window_ms']:16.1f}")
    return 0


def _printed_json(a, result: dict) -> bool:
    """With --json, print the result as one JSON object (and say so)."""
    if a.json:
        print(json.dumps(result))
    return a.json


def _pair(text: str) -> tuple[float, float]:
    try:
        a, b = (float(v) for v in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected two numbers PITCH,YAW (degrees), got {text!r}") from None
    return a, b


def cmd_animate(a) -> int:
    from labkit.pipeline import Animator, Controls, default_speech, parse_emotion, stream_to_file

    out = Path(a.output)
    if out.exists() and not a.overwrite:                      # refuse before any work is done
        raise FileExistsError(f"{out} exists; pass --overwrite to replace it")
    if out.suffix.lower() != ".mp4":
        raise ValueError(f"the output must be an .mp4 file, got {out.name}")
    out.parent.mkdir(parents=True, exist_ok=True)
    if not os.access(out.parent, os.W_OK):
        raise PermissionError(f"the output folder {out.parent} is not writable")
    emotion, intensity = parse_emotion(a.emotion) if a.emotion else (None, 1.0)
    controls = Controls(gaze=a.gaze, distance=a.distance, emotion=emotion, intensity=intensity, cfg_audio=a.cfg_audio,
                        cfg_gaze=a.cfg_gaze, cfg_emotion=a.cfg_emotion, steps=a.steps, seed=a.seed)
    if a.no_watermark:
        print("labkit: WARNING: --no-watermark: this video will carry no invisible provenance mark", file=sys.stderr)
    anim = Animator(a.portrait, resolution=a.resolution, renderer=a.renderer, controls=controls,
                    watermark=not a.no_watermark, landmark_backend=a.landmarks)
    audio = a.audio if a.audio is not None else default_speech()
    what = (f"{a.portrait or 'the default SynthTalk portrait'} + "
            f"{a.audio or 'the bundled sentence'}; renderer {anim.renderer} ({anim.reason})")
    if a.stream:
        r = stream_to_file(anim, audio, out, overwrite=a.overwrite, progress=not a.quiet)
        print(f"wrote {out}: {r['frames']} frames at {a.resolution} px, streamed: first frame after "
              f"{r['first_frame_ms']:.0f} ms of compute (plus {r['window_seconds']:g} s of audio to fill the "
              f"first window), {r['fps']:.1f} frames/s sustained\n  {what}")
        return 0
    video = anim.animate(audio, progress=not a.quiet)
    video.save(out, overwrite=a.overwrite)
    t = video.timings
    print(f"wrote {out}: {len(video.frames)} frames at {a.resolution} px, {len(video.audio) / video.sample_rate:.2f} s "
          f"of speech; {video.tag}\n  {what}\n  time: " + ", ".join(f"{k} {v:.2f} s" for k, v in t.items()))
    return 0


def cmd_verify(a) -> int:
    from labkit.io.video import metadata
    from labkit.provenance.watermark import verify

    d = verify(a.video)
    tag = metadata(a.video).get("description")
    if a.json:
        print(json.dumps({"found": d.found, "version": d.version, "content_id": d.content_id,
                          "magic_errors": d.magic_errors, "frames": d.frames, "metadata": tag}))
    elif d.found:
        print(f"{a.video}: made by labkit {d.version} (watermark found in {d.frames} frames, content id "
              f"{d.content_id:08x}, {d.magic_errors} bit errors in the marker)")
    else:
        print(f"{a.video}: no labkit watermark found ({d.frames} frames read)")
    if tag and not a.json:
        print(f"  metadata: {tag}")
    return 0 if d.found else 1


def cmd_bench_animate(a) -> int:
    from labkit.bench.inference import bench_animate

    r = bench_animate(seconds=a.seconds, device=a.device, renderer=a.renderer, stream=tuple(a.stream),
                      progress=not a.json)
    if _printed_json(a, r):
        return 0
    print(f"{r['device']}, {r['threads']} threads, renderer {r['renderer']}, {r['seconds']:g} s of speech")
    for R in sorted(set(a.stream)):
        print(f"streaming {R:3d} px: {r[f'stream_fps_{R}']:7.1f} frames/s, first frame "
              f"{r[f'first_frame_ms_{R}']:6.0f} ms (compute; VASA-1: 40 fps, 170 ms at 512 px on an RTX 4090)")
    for R in (128, 256, 512):
        st = r["stages"][str(R)]
        print(f"offline {R:3d} px:  {r[f'offline_fps_{R}']:7.1f} frames/s  (VASA-1: 45 fps at 512 px)   per frame: "
              + ", ".join(f"{k} {v:.2f} ms" for k, v in st.items()))
    return 0


def cmd_bench_train(a) -> int:
    from labkit.bench.training import bench_train

    r = bench_train(device=a.device, latent_presets=a.latent, motion_presets=a.motion, latent_batch_size=a.latent_batch,
                    motion_batch_size=a.motion_batch, compile=a.compile, latent_bf16=a.latent_bf16, progress=not a.json)
    if _printed_json(a, r):
        return 0
    print(f"{r['device']}, {r['threads']} threads, torch {r['torch']}{', compiled' if r['compile'] else ''}: "
          "samples/s of one training step (forward, backward, AdamW)")
    for kind, unit in (("latent", "frame pairs"), ("motion", "windows")):
        for preset, v in r[kind].items():
            print(f"  {kind:6s} {preset:5s} batch {v['batch']:4d}  {v['samples_per_s']:9.1f} {unit}/s  "
                  f"({v['ms_per_step']:.0f} ms/step, {v['parameters_m']:.1f} M parameters)")
    print(f"  data   SynthTalk pairs rendered at 128 px by one process: {r['synthtalk_pairs_per_s_128']:.1f}/s")
    return 0


def cmd_eval_real(a) -> int:
    """labkit eval real: the table on real portraits and speech, without ground truth (labkit.evaluation.real)."""
    from labkit.evaluation.real import default_inputs, evaluate_real, real_bars, save, to_markdown

    out = Path(a.out)
    for path in (out.with_suffix(".md"), out.with_suffix(".csv")):
        if path.exists() and not a.overwrite:
            raise FileExistsError(f"{path} exists; pass --overwrite to replace it")
    portraits, speeches = default_inputs(a.clips, a.seconds, a.seed)
    if a.portraits:
        portraits = {Path(p).stem: p for p in a.portraits}
    if a.audio:
        speeches = {Path(p).stem: p for p in a.audio}
    table = evaluate_real(portraits, speeches, seed=a.seed, progress=not a.json)
    out.parent.mkdir(parents=True, exist_ok=True)
    save(table, out, overwrite=a.overwrite)
    if a.json:
        print(json.dumps(table))
        return 0
    print(f"{len(portraits)} portrait(s) × {len(speeches)} speech clip(s); wrote {out.with_suffix('.md')} and .csv\n")
    print(to_markdown(table))
    b = real_bars(table)
    print("ours clearly better than a still image: " + ", ".join(f"{k} {'yes' if v else 'NO'}" for k, v in b.items()))
    return 0


def cmd_eval_watermark(a) -> int:
    """labkit eval watermark: detection after re-encoding and downscaling, false positives on clean clips."""
    from labkit.evaluation.watermark import evaluate_watermark

    r = evaluate_watermark(clips=a.clips, seconds=a.seconds, resolution=a.resolution, progress=not a.json)
    if _printed_json(a, r):
        return 0
    print(f"{r['clips']} labkit clips of {a.seconds:g} s at {a.resolution} px, {r['clips']} clean SynthTalk clips")
    for k, v in r["detected"].items():
        print(f"  detected after {k:>14s}: {100 * v:5.1f} %  (target >= 95 %)")
    print(f"  false positives on clean clips: {r['false_positives']}  (target 0)")
    print(f"  PSNR of the mark: {r['psnr_db']:.1f} dB")
    return 0


def _add_run_options(p: argparse.ArgumentParser, *, lr: float, warmup: int, device_help: str,
                     steps: int = 20_000) -> None:
    """The options every trainer shares: run folder, length, schedule, seed, device, output."""
    p.add_argument("--out", required=True, help="run folder: checkpoints, log.jsonl, tb/ (resumed if it holds this run)")
    p.add_argument("--steps", type=int, default=steps, help=f"optimisation steps (default: {steps})")
    p.add_argument("--lr", type=float, default=lr, help=f"peak AdamW learning rate (default: {lr:g})")
    p.add_argument("--warmup", type=int, default=warmup, help=f"linear learning-rate warm-up steps (default: {warmup})")
    p.add_argument("--seed", type=int, default=0, help="seed of the init and of every batch (default: 0)")
    p.add_argument("--snapshot-steps", type=int, nargs="*", default=[], help="keep copies of the weights at these steps")
    p.add_argument("--device", default="cpu", help=device_help)
    p.add_argument("--threads", type=int, default=0, help="CPU threads (default: torch's choice)")
    p.add_argument("--overwrite", action="store_true", help="start afresh in a folder holding another run")
    p.add_argument("--quiet", action="store_true", help="no progress bar")


def _add_scale_options(p: argparse.ArgumentParser, example: str) -> None:
    """Recipes and the options of training at scale (labkit.training.distributed; run under torchrun)."""
    p.add_argument("--config", default=None,
                   help=f"a TOML recipe ([train], [model]{', [losses]' if 'latent' in example else ''}), e.g. {example} "
                        "or its shipped name; options given here win over it")
    p.add_argument("--accumulate", type=int, default=1,
                   help="micro-steps per optimizer step (the batch is split over processes × micro-steps; default: 1)")
    p.add_argument("--compile", action="store_true", help="torch.compile the networks")
    p.add_argument("--time-limit", type=float, default=None, metavar="MIN",
                   help="stop, checkpointed, at the first step that ends MIN minutes after the start (a machine lent "
                        "for a while, a batch job); the same command resumes")


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="labkit", description="labkit: audio-driven talking faces (open VASA-1 at laptop scale)")
    p.add_argument("-v", "--verbose", action="store_true", help="log progress details")
    sub = p.add_subparsers(dest="command", required=True)

    synth = sub.add_parser("synth", help="SynthTalk, the procedural talking-head dataset").add_subparsers(dest="action", required=True)

    def data_args(q):
        q.add_argument("--split", default="train", help="train, val or test (default: train)")
        q.add_argument("--resolution", type=int, default=128, help="64, 128, 256 or 512 (default: 128)")
        q.add_argument("--seconds", type=float, default=4.0, help="clip length in seconds (default: 4)")
        q.add_argument("--seed", type=int, default=0, help="dataset seed (default: 0)")
        q.add_argument("--overwrite", action="store_true", help="replace existing output")

    e = synth.add_parser("export", help="write N clips (mp4 + factors .npz) and a manifest; resumable")
    e.add_argument("--n", type=int, required=True, help="number of clips")
    e.add_argument("--out", required=True, help="output folder")
    e.add_argument("--quiet", action="store_true", help="no progress bar")
    data_args(e)
    e.set_defaults(func=cmd_synth_export)

    c = synth.add_parser("clip", help="write one clip as an mp4 with speech")
    c.add_argument("--index", type=int, default=0, help="clip index (default: 0)")
    c.add_argument("--out", required=True, help="output .mp4 path")
    data_args(c)
    c.set_defaults(func=cmd_synth_clip)

    pr = sub.add_parser("prep", help="real talking-head videos → aligned training shards (resumable)")
    pr.add_argument("video_dir", help="folder of videos (searched recursively; never modified)")
    pr.add_argument("out_dir", help="output folder for <clip>.mp4, <clip>.npz and manifest.json")
    pr.add_argument("--resolution", type=int, default=256, help="aligned crop size: 64, 128, 256 or 512 (default: 256)")
    pr.add_argument("--backend", default="auto", help="landmarks: auto, dlib or fan (default: auto)")
    pr.add_argument("--workers", type=int, default=1, help="worker processes (default: 1)")
    pr.add_argument("--overwrite", action="store_true", help="allow a folder prepared with other settings")
    pr.add_argument("--quiet", action="store_true", help="no progress bar")
    pr.set_defaults(func=cmd_prep)

    from labkit.latent.losses import LossWeights
    from labkit.latent.model import PRESETS

    train = sub.add_parser("train", help="train a model (resumable)").add_subparsers(dest="model", required=True)
    tl = train.add_parser("latent", help="the face latent model (VASA-1 §3.1)")
    _add_run_options(tl, lr=5e-4, warmup=200, device_help="cpu or cuda[:N] (float32 with TF32 on CUDA; see --bf16)")
    tl.add_argument("--preset", default="s128", choices=sorted(PRESETS), help="model size (default: s128)")
    tl.add_argument("--data", default="synthtalk", help="'synthtalk' (rendered on the fly) or a `labkit prep` folder")
    tl.add_argument("--batch-size", type=int, default=8, help="frame pairs per step (default: 8)")
    tl.add_argument("--init", default=None, help="start from these weights (.safetensors), e.g. a run without consistency; tensors "
                         "whose name or shape differ (another preset) keep their initialisation")
    tl.add_argument("--no-consistency", action="store_true", help="drop VASA-1's transfer and cross-identity losses (ablation)")
    tl.add_argument("--pose-supervision", type=float, default=0.0, help="weight of SynthTalk ground-truth pose supervision (ablation; default 0)")
    tl.add_argument("--decorrelate", type=float, default=0.0,
                    help="weight of the z_pose/z_dyn cross-correlation penalty (experiment; default 0)")
    tl.add_argument("--equivariance", type=float, default=0.0,
                    help="weight of E_mot's image-plane equivariance: a randomly shifted, zoomed and turned driver must "
                         "give the correspondingly moved z_pose and the same z_dyn (unsupervised; default 0)")
    tl.add_argument("--cross-render", type=float, default=0.0,
                    help="SynthTalk: weight of reconstructing each source person with another person's driver motion "
                         "against the exact render of that (fixes per-person offsets of the motion codes; default 0)")
    tl.add_argument("--region", type=float, default=LossWeights().region,
                    help=f"weight of the eye/brow and mouth region L1 (default: {LossWeights().region}; 0 = off)")
    tl.add_argument("--crops", type=float, default=0.0,
                    help="weight of the eye and mouth crop loss of D_crop, a training aid that gives z_dyn a short path to "
                         "lids, irises and lips (adds the model's crop_decoder; experiment; default 0)")
    tl.add_argument("--random-expression-prob", type=float, default=0.0,
                    help="SynthTalk: share of frames given random lips, lids, brows and gaze (default: 0)")
    tl.add_argument("--same-pose-prob", type=float, default=0.0,
                    help="SynthTalk: share of pairs whose two frames share one head pose, so only the expression "
                         "differs (default: 0)")
    tl.add_argument("--deterministic", action="store_true", help="torch deterministic algorithms (tests)")
    _add_scale_options(tl, "labkit/configs/latent_voxceleb2_256.toml")
    tl.add_argument("--workers", type=int, default=0,
                    help="processes that render the coming steps' batches ahead, for a GPU that would wait on "
                         "SynthTalk's renderer (same batches, same weights; default: 0, in the training process)")
    tl.add_argument("--bf16", action="store_true",
                    help="bf16 autocast on CUDA (faster, but it made a fine-tune of the shipped model diverge; "
                         "see data_cards/model_face_latent.md)")
    tl.set_defaults(func=cmd_train_latent)
    tp = train.add_parser("parts", help="the face latent model's part stage: E_mot's eye reading and G_part at the crop, "
                                        "the rest frozen")
    _add_run_options(tp, lr=1e-3, warmup=50, steps=2000, device_help="cpu or cuda[:N]")
    tp.add_argument("--init", required=True, help="face latent weights with a part branch (.safetensors; s128p, s128pp)")
    tp.add_argument("--pairs", type=int, default=3000, help="SynthTalk pairs passed once through the model (default: 3000)")
    tp.add_argument("--batch-size", type=int, default=64, help="pairs per step (default: 64)")
    tp.add_argument("--encode", nargs="*", default=["eyes"], choices=["eyes", "mouth"],
                    help="E_mot part CNNs to train (default: eyes; the mouth's reading is what G_2D draws the jaw from)")
    tp.set_defaults(func=cmd_train_parts)
    from labkit.motion.dit import PRESETS as MOTION_PRESETS
    tm = train.add_parser("motion", help="the motion generator, a diffusion transformer (VASA-1 §3.2)")
    _add_run_options(tm, lr=3e-4, warmup=500, device_help="cpu or cuda[:N]")
    tm.add_argument("--preset", default="small", choices=sorted(MOTION_PRESETS), help="denoiser size (default: small)")
    tm.add_argument("--process", default="diffusion", choices=["diffusion", "regression"],
                    help="diffusion (the paper) or regression (the deterministic baseline)")
    tm.add_argument("--prediction", default="x0", choices=["x0", "v"],
                    help="what the denoiser outputs: x0 (the paper) or v, x0 then computed with a skip from x_t "
                         "(default: x0)")
    tm.add_argument("--noise-rho", type=float, default=0.0,
                    help="correlation of the diffusion noise between consecutive frames: 0 white (the paper), "
                         "0 < rho < 1 AR(1) in time (default: 0)")
    tm.add_argument("--motion", default="latent", choices=["latent", "factors"],
                    help="latent: codes of the face latent model's motion encoder; factors: SynthTalk ground truth (oracle)")
    tm.add_argument("--latent", default=None, help="face latent checkpoint (default: the shipped one)")
    tm.add_argument("--data", default="synthtalk", choices=["synthtalk"], help="training data (SynthTalk train split)")
    tm.add_argument("--clips", type=int, default=400, help="training clips extracted (cached) (default: 400)")
    tm.add_argument("--heldout-language", default="es", help="language never trained on, or 'none' (default: es)")
    tm.add_argument("--batch-size", type=int, default=64, help="windows per step (default: 64)")
    _add_scale_options(tm, "labkit/configs/motion_base.toml")
    tm.set_defaults(func=cmd_train_motion)
    for name, what, lr, steps, clips, clips_help, batch, batch_help in (
            ("labsync", "LabSync, the SyncNet-style lip-sync expert of the evaluation (SynthTalk)", 1e-3, 3000,
             200, "SynthTalk train clips", 64, "video windows per step"),
            ("capp", "CAPP, VASA-1's contrastive audio-pose model (SynthTalk ground-truth pose)", 5e-4, 2000,
             400, "SynthTalk train clips", 128, "windows per step, one per clip"),
            ("video-features", "the FVD clip encoder: a small 3D conv on SynthTalk 16-frame clips", 1e-3, 3000,
             4000, "SynthTalk train clips, one window each", 32, "windows per step")):
        ti = train.add_parser(name, help=what)
        _add_run_options(ti, lr=lr, warmup=100, device_help="cpu or cuda[:N]", steps=steps)
        ti.add_argument("--clips", type=int, default=clips, help=f"{clips_help} (default: {clips})")
        ti.add_argument("--batch-size", type=int, default=batch, help=f"{batch_help} (default: {batch})")
        ti.set_defaults(func=cmd_train_evaluator)

    wt = sub.add_parser("weights", help="checkpoint files").add_subparsers(dest="action", required=True)
    we = wt.add_parser("export", help="copy a run's weights (e.g. into labkit/assets/), optionally as float16")
    we.add_argument("src", help="a checkpoint .safetensors (e.g. runs/latent_s128/latest.safetensors)")
    we.add_argument("dst", help="output .safetensors")
    we.add_argument("--fp16", action="store_true", help="store floating-point weights as float16 (half the size)")
    we.add_argument("--overwrite", action="store_true", help="replace an existing file")
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

    et = sub.add_parser("eval", help="the comparison table (VASA-1's Table 1 on SynthTalk), or one model's evaluation",
                        description="With no model named: the table of methods × metrics (S_C, S_D, CAPP, ΔP, FVD, "
                                    "CSIM, LMD) on SynthTalk clips, printed and written as CSV and markdown.")
    et.add_argument("--methods", default="gt,ours,regression,puppet,still",
                    help="comma-separated rows (default: gt,ours,regression,puppet,still; also recon: the true motion "
                         "through the same renderer, the renderer's own effect)")
    et.add_argument("--split", default="test", help="SynthTalk split of the clips (default: test)")
    et.add_argument("--clips", type=int, default=40, help="clips (default: 40)")
    et.add_argument("--seconds", type=float, default=6.0, help="clip length (default: 6)")
    et.add_argument("--renderer", default="latent", choices=["latent", "synthtalk"],
                    help="latent: the face latent model draws every row (the whole system); synthtalk: factor-space "
                         "generators drawn by SynthTalk's renderer (an oracle latent space)")
    et.add_argument("--checkpoint", default=None, help="motion generator of 'ours' (default: the shipped one for the renderer)")
    et.add_argument("--regression", default=None, help="regression baseline (default: the shipped one for the renderer)")
    et.add_argument("--latent", default=None, help="face latent checkpoint: renderer and pose/identity reader (default: shipped)")
    et.add_argument("--steps", type=int, default=None, help=f"sampling steps of 'ours' (default: {DEFAULT_STEPS})")
    et.add_argument("--cfg-audio", type=float, default=1.0, help="audio guidance scale of 'ours' (default: 1 = none; 0 = audio ignored)")
    et.add_argument("--lmd-every", type=int, default=10, help="landmarks on every n-th frame (default: 10)")
    et.add_argument("--reader-clips", type=int, default=200, help="training clips the pose reader is fit on (default: 200)")
    et.add_argument("--seed", type=int, default=0, help="seed of the clips and the sampling (default: 0)")
    et.add_argument("--threads", type=int, default=None, help="CPU threads (default: torch's choice)")
    et.add_argument("--out", default="out/eval_table", help="writes OUT.csv and OUT.md (default: out/eval_table)")
    et.add_argument("--overwrite", action="store_true", help="replace existing OUT.csv / OUT.md")
    et.add_argument("--json", action="store_true", help="print {method: {metric: value}}")
    et.set_defaults(func=cmd_eval_table)
    ev = et.add_subparsers(dest="model", required=False, metavar="{latent,motion,sync,capp,video-features,real,watermark}")
    el = ev.add_parser("latent", help="reenactment PSNR/SSIM, linear probes, identity codes, DCI/MIG/SAP/modularity")
    el.add_argument("--checkpoint", default=None, help="weights (.safetensors); default: the shipped SynthTalk 128 px model")
    el.add_argument("--json", action="store_true", help="print one JSON object")
    el.add_argument("--pairs", type=int, default=64, help="self- and cross-reenactment pairs each (default: 64)")
    el.add_argument("--probe-train", type=int, default=1500, help="train-identity frames to fit probes on (default: 1500)")
    el.add_argument("--probe-test", type=int, default=600, help="test-identity frames to score probes on (default: 600)")
    el.add_argument("--seed", type=int, default=0, help="seed of every draw (default: 0)")
    el.set_defaults(func=cmd_eval_latent)
    em = ev.add_parser("motion", help="lip sync, gaze/distance/emotion control, ΔP, seams, held-out language")
    em.add_argument("--checkpoint", default=None, help="motion generator (default: the shipped small model)")
    em.add_argument("--regression", default=None, help="regression baseline checkpoint (default: the shipped one, if any)")
    em.add_argument("--latent", default=None, help="face latent checkpoint the generator was trained with (default: shipped)")
    em.add_argument("--clips", type=int, default=40, help="test clips (default: 40)")
    em.add_argument("--seeds", type=int, default=3, help="sampling seeds per clip (default: 3)")
    em.add_argument("--steps", type=int, default=None, help=f"sampling steps (default: {DEFAULT_STEPS})")
    em.add_argument("--overlap", type=int, default=None, help="frames shared by consecutive windows (default: W/10)")
    em.add_argument("--cfg-audio", type=float, default=1.0, help="audio guidance scale (default: 1 = none)")
    em.add_argument("--cfg-gaze", type=float, default=1.0, help="gaze guidance scale (default: 1)")
    em.add_argument("--cfg-control", type=float, default=1.0, help="distance/emotion guidance scale (default: 1)")
    em.add_argument("--cfg-emotion", type=float, default=1.0,
                    help="emotion guidance scale, against neutral, on the face only (default: 1 = none)")
    em.add_argument("--seed", type=int, default=0, help="seed (default: 0)")
    em.add_argument("--json", action="store_true", help="print one JSON object")
    em.set_defaults(func=cmd_eval_motion)
    for name, what, weights, clips in (
            ("sync", "LabSync on SynthTalk test clips: S_C, S_D, offsets found with shifted audio", "LabSync", 40),
            ("capp", "CAPP on SynthTalk test clips: true, mismatched and time-shifted pose", "CAPP", 100),
            ("video-features", "the FVD clip encoder on SynthTalk test windows: R², FVD floor and shifts",
             "clip encoder", 200)):
        ei = ev.add_parser(name, help=what)
        ei.add_argument("--checkpoint", default=None, help=f"{weights} weights (default: the shipped ones)")
        ei.add_argument("--clips", type=int, default=clips, help=f"test clips (default: {clips})")
        ei.add_argument("--json", action="store_true", help="print one JSON object")
        ei.set_defaults(func=cmd_eval_instrument)
    er = ev.add_parser("real", help="the table on real photos and speech (no ground truth): S_C, S_D, CAPP, ΔP, CSIM")
    er.add_argument("--portraits", nargs="*", default=None, help="portrait images (default: skimage's astronaut)")
    er.add_argument("--audio", nargs="*", default=None, help="speech files (default: --clips SynthTalk test clips' speech)")
    er.add_argument("--clips", type=int, default=8, help="SynthTalk speech clips when no --audio (default: 8)")
    er.add_argument("--seconds", type=float, default=6.0, help="length of those clips (default: 6)")
    er.add_argument("--seed", type=int, default=0, help="sampling seed (default: 0)")
    er.add_argument("--out", default="out/eval_real", help="writes OUT.md and OUT.csv (default: out/eval_real)")
    er.add_argument("--overwrite", action="store_true", help="replace existing tables")
    er.add_argument("--json", action="store_true", help="print one JSON object")
    er.set_defaults(func=cmd_eval_real)
    ew = ev.add_parser("watermark", help="watermark detection after H.264 CRF 23/28 and 0.5x downscaling; false positives")
    ew.add_argument("--clips", type=int, default=100, help="generated clips, and as many clean ones (default: 100)")
    ew.add_argument("--seconds", type=float, default=2.0, help="clip length (default: 2)")
    ew.add_argument("--resolution", type=int, default=128, choices=[128, 256, 512], help="video size (default: 128)")
    ew.add_argument("--json", action="store_true", help="print one JSON object")
    ew.set_defaults(func=cmd_eval_watermark)

    an = sub.add_parser("animate", help="portrait + speech → a talking-face mp4 (default: the embedded SynthTalk portrait and sentence)")
    an.add_argument("portrait", nargs="?", default=None, help="portrait image (default: a SynthTalk test identity)")
    an.add_argument("audio", nargs="?", default=None, help="speech: any audio file, or a video's audio track (default: a bundled sentence)")
    an.add_argument("-o", "--output", default="out/animate.mp4", help="output .mp4 (default: out/animate.mp4)")
    an.add_argument("--gaze", type=_pair, default=None, metavar="PITCH,YAW", help="main gaze direction in degrees (pitch ±20, yaw ±30)")
    an.add_argument("--distance", type=float, default=None, help="head-to-camera distance, 0.8..1.25 (1 = nominal)")
    an.add_argument("--emotion", default=None, metavar="NAME[:INTENSITY]", help="neutral, happy, sad, angry or surprised; intensity 0..1 (default 1)")
    an.add_argument("--cfg-audio", type=float, default=2.0, help="audio guidance scale (default: 2; 1 = none)")
    an.add_argument("--cfg-gaze", type=float, default=1.0, help="gaze guidance scale (default: 1 = none)")
    an.add_argument("--cfg-emotion", type=float, default=2.0,
                    help="emotion guidance scale, against neutral, on the face only (default: 2; 1 = none)")
    an.add_argument("--steps", type=int, default=None, help=f"sampling steps (default: {DEFAULT_STEPS})")
    an.add_argument("--seed", type=int, default=0, help="sampling seed (default: 0)")
    an.add_argument("--resolution", type=int, default=256, choices=[128, 256, 512], help="output size (default: 256)")
    an.add_argument("--renderer", default="auto", choices=["auto", "latent", "landmarks"],
                    help="auto (default): the face latent model for SynthTalk portraits when it can move a face, else landmark warping")
    an.add_argument("--landmarks", default="auto", choices=["auto", "dlib", "fan"], help="landmark detector for photos (default: auto)")
    an.add_argument("--stream", action="store_true", help="generate window by window as the audio arrives, writing frames as they come")
    an.add_argument("--no-watermark", action="store_true", help="leave frames unmarked (prints a warning every run)")
    an.add_argument("--overwrite", action="store_true", help="replace an existing output file")
    an.add_argument("--quiet", action="store_true", help="no progress bars")
    an.set_defaults(func=cmd_animate)

    vf = sub.add_parser("verify", help="was this video made by labkit? (exit 0: watermark found, 1: not found)")
    vf.add_argument("video", help="a video file")
    vf.add_argument("--json", action="store_true", help="print one JSON object")
    vf.set_defaults(func=cmd_verify)

    bench = sub.add_parser("bench", help="benchmarks").add_subparsers(dest="what", required=True)
    b = bench.add_parser("synth", help="SynthTalk render/speech speed and dlib realism")
    b.add_argument("--json", action="store_true", help="print one JSON object")
    b.add_argument("--frames", type=int, default=300, help="frames to time at 128 px (a quarter at 512)")
    b.add_argument("--realism-clips", type=int, default=24, help="test clips for the dlib check (0 = skip)")
    b.add_argument("--all-cores", action="store_true", help="do not pin the benchmark to one core")
    b.set_defaults(func=cmd_bench_synth)
    bl = bench.add_parser("latent", help="face latent model: per-frame encode/decode time and FLOPs at 128/256/512")
    bl.add_argument("--json", action="store_true", help="print one JSON object")
    bl.add_argument("--sizes", type=int, nargs="+", default=[128, 256, 512], help="presets s<size> to time")
    bl.add_argument("--repeats", type=int, default=3, help="timed repeats, the fastest is kept (default: 3)")
    bl.add_argument("--device", default="cpu", help="cpu or cuda[:N]")
    bl.set_defaults(func=cmd_bench_latent)
    bm = bench.add_parser("motion", help="motion generator: motion frames/s and first-window latency per preset and steps")
    bm.add_argument("--json", action="store_true", help="print one JSON object")
    bm.add_argument("--presets", nargs="+", default=["tiny", "small", "base"], help="presets to time")
    bm.add_argument("--steps", type=int, nargs="+", default=[1, 2, 5, 10, 25],
                    help="sampling steps to time (default: 1 2 5 10 25)")
    bm.add_argument("--device", default="cpu", help="cpu or cuda[:N]")
    bm.set_defaults(func=cmd_bench_motion)
    bp = bench.add_parser("prep", help="labkit prep on SynthTalk mp4s: landmark error and time per video second")
    bp.add_argument("--json", action="store_true", help="print one JSON object")
    bp.add_argument("--clips", type=int, default=8, help="SynthTalk test clips (default: 8)")
    bp.add_argument("--backend", default="auto", help="landmarks: auto, dlib or fan")
    bp.set_defaults(func=cmd_bench_prep)
    ba = bench.add_parser("animate", help="labkit animate: stage-by-stage time, offline fps at 128/256/512 and streaming (128 by default)")
    ba.add_argument("--json", action="store_true", help="print one JSON object")
    ba.add_argument("--seconds", type=float, default=10.0, help="seconds of speech to animate (default: 10)")
    ba.add_argument("--renderer", default="auto", choices=["auto", "latent", "landmarks"], help="renderer to time (default: auto)")
    ba.add_argument("--device", default="cpu", help="cpu or cuda[:N] (motion generator and face latent model)")
    ba.add_argument("--stream", type=int, nargs="+", default=[128], choices=[128, 256, 512],
                    help="resolutions to also time streaming at (default: 128; VASA-1's figures are at 512)")
    ba.set_defaults(func=cmd_bench_animate)
    bt = bench.add_parser("train", help="training throughput: samples/s of one step per preset (CPU or CUDA)")
    bt.add_argument("--json", action="store_true", help="print one JSON object")
    bt.add_argument("--device", default="cpu",
                    help="cpu or cuda[:N] (on CUDA: bf16 autocast for the motion generator, float32/TF32 for the face "
                         "latent model, as the trainers do)")
    bt.add_argument("--latent", nargs="+", default=None,
                    help="face latent presets (default: tiny s64 s128 on CPU, s128 s256 s512 on CUDA)")
    bt.add_argument("--motion", nargs="+", default=None,
                    help="motion presets (default: tiny small base on CPU, small base on CUDA)")
    bt.add_argument("--latent-batch", type=int, default=None, help="frame pairs per step (default: 2 CPU, 8 CUDA)")
    bt.add_argument("--motion-batch", type=int, default=None, help="windows per step (default: 32 CPU, 256 CUDA)")
    bt.add_argument("--compile", action="store_true", help="time torch.compile'd networks")
    bt.add_argument("--latent-bf16", action="store_true", help="time the face latent model with bf16 autocast (CUDA)")
    bt.set_defaults(func=cmd_bench_train)
    return p


def _given(argv: list[str] | None, args: argparse.Namespace) -> dict:
    """The options given on the command line (all of them, defaults included, without --config:
    a recipe file only yields to what the user typed)."""
    if getattr(args, "config", None) is None:
        return dict(vars(args))
    p = build_parser()

    def suppress(parser):
        for act in parser._actions:
            if isinstance(act, argparse._SubParsersAction):
                for sub in act.choices.values():
                    suppress(sub)
            elif act.dest != "help":
                act.default = argparse.SUPPRESS
    suppress(p)
    return vars(p.parse_args(argv))


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    args.given = _given(argv, args)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    try:
        return args.func(args)
    except (ValueError, FileExistsError, FileNotFoundError, PermissionError, OSError, MemoryError) as e:
        print(f"labkit: error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
