"""``labkit bench synth|prep|latent|motion|animate|train``: speed and realism figures."""
from __future__ import annotations

import json

from labkit.cli.common import add_json_option, printed_json

# the library is imported inside each command: `labkit --help` must not import torch


def register(sub) -> None:
    bench = sub.add_parser("bench", help="benchmarks").add_subparsers(dest="what", required=True)
    b = bench.add_parser("synth", help="SynthTalk render/speech speed and dlib realism")
    add_json_option(b)
    b.add_argument("--frames", type=int, default=300, help="frames to time at 128 px (a quarter at 512)")
    b.add_argument("--realism-clips", type=int, default=24, help="test clips for the dlib check (0 = skip)")
    b.add_argument("--all-cores", action="store_true", help="do not pin the benchmark to one core")
    b.set_defaults(func=cmd_bench_synth)
    bl = bench.add_parser("latent", help="face latent model: per-frame encode/decode time and FLOPs at 128/256/512")
    add_json_option(bl)
    bl.add_argument("--sizes", type=int, nargs="+", default=[128, 256, 512], help="presets s<size> to time")
    bl.add_argument("--repeats", type=int, default=3, help="timed repeats, the fastest is kept (default: 3)")
    bl.add_argument("--device", default="cpu", help="cpu or cuda[:N]")
    bl.set_defaults(func=cmd_bench_latent)
    bm = bench.add_parser("motion", help="motion generator: motion frames/s and first-window latency per preset "
                                         "and steps")
    add_json_option(bm)
    bm.add_argument("--presets", nargs="+", default=["tiny", "small", "base"], help="presets to time")
    bm.add_argument("--steps", type=int, nargs="+", default=[1, 2, 5, 10, 25],
                    help="sampling steps to time (default: 1 2 5 10 25)")
    bm.add_argument("--device", default="cpu", help="cpu or cuda[:N]")
    bm.set_defaults(func=cmd_bench_motion)
    bp = bench.add_parser("prep", help="labkit prep on SynthTalk mp4s: landmark error and time per video second")
    add_json_option(bp)
    bp.add_argument("--clips", type=int, default=8, help="SynthTalk test clips (default: 8)")
    bp.add_argument("--backend", default="auto", help="landmarks: auto, dlib or fan")
    bp.set_defaults(func=cmd_bench_prep)
    ba = bench.add_parser("animate", help="labkit animate: stage-by-stage time, offline fps at 128/256/512 and "
                                          "streaming (128 by default)")
    add_json_option(ba)
    ba.add_argument("--seconds", type=float, default=10.0, help="seconds of speech to animate (default: 10)")
    ba.add_argument("--renderer", default="auto", choices=["auto", "latent", "landmarks"],
                    help="renderer to time (default: auto)")
    ba.add_argument("--device", default="cpu", help="cpu or cuda[:N] (motion generator and face latent model)")
    ba.add_argument("--stream", type=int, nargs="+", default=[128], choices=[128, 256, 512],
                    help="resolutions to also time streaming at (default: 128; VASA-1's figures are at 512)")
    ba.add_argument("--photo", type=int, nargs="*", default=[512, 1024, 1920], metavar="PX",
                    help="also time the whole-photo path on square photos of these sizes (default: 512 1024 1920; "
                         "none: skip)")
    ba.set_defaults(func=cmd_bench_animate)
    bt = bench.add_parser("train", help="training throughput: samples/s of one step per preset (CPU or CUDA)")
    add_json_option(bt)
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


def cmd_bench_latent(a) -> int:
    from labkit.bench.inference import bench_latent

    r = bench_latent(sizes=tuple(a.sizes), repeats=a.repeats, device=a.device)
    if a.json:
        print(json.dumps(r))
        return 0
    print(f"{r['device']}, {r['threads']} threads, float32 matmul {r['matmul_gflops']:.1f} GFLOP/s")
    print("encode and canonicalize run once per portrait, decode once per frame (alone, and in a batch)")
    print(f"{'size':>5s} {'encode ms':>10s} {'canon. ms':>10s} {'decode ms':>10s} {'batched ms':>10s} "
          f"{'dec GFLOP':>10s} {'of peak':>8s}")
    for size, v in r["sizes"].items():
        print(f"{size:5d} {v['encode_ms']:10.1f} {v['canonicalize_ms']:10.1f} {v['decode_ms']:10.1f} "
              f"{v['decode_batched_ms']:10.1f} {v['decode_gflops']:10.2f} {v['fraction_of_matmul_peak']:8.0%}")
    return 0


def cmd_bench_motion(a) -> int:
    from labkit.bench.inference import bench_motion

    r = bench_motion(presets=tuple(a.presets), steps=tuple(a.steps), device=a.device)
    if printed_json(a, r):
        return 0
    print(f"{r['device']}, {r['threads']} threads, {r['seconds']:g} s of audio, audio guidance on")
    print(f"{'preset/steps':>14s} {'motion fps':>11s} {'first window ms':>16s}")
    for k, v in r["results"].items():
        print(f"{k:>14s} {v['motion_fps']:11.0f} {v['first_window_ms']:16.1f}")
    return 0


def cmd_bench_animate(a) -> int:
    from labkit.bench.inference import bench_animate, bench_photo

    r = bench_animate(seconds=a.seconds, device=a.device, renderer=a.renderer, stream=tuple(a.stream),
                      progress=not a.json)
    if a.photo:
        r["photo"] = bench_photo(sizes=tuple(a.photo), seconds=a.seconds, progress=not a.json)
    if printed_json(a, r):
        return 0
    print(f"{r['device']}, {r['threads']} threads, renderer {r['renderer']}, {r['seconds']:g} s of speech")
    for R in sorted(set(a.stream)):
        print(f"streaming {R:3d} px: {r[f'stream_fps_{R}']:7.1f} frames/s, first frame "
              f"{r[f'first_frame_ms_{R}']:6.0f} ms (compute; VASA-1: 40 fps, 170 ms at 512 px on an RTX 4090)")
    for R in (128, 256, 512):
        st = r["stages"][str(R)]
        print(f"offline {R:3d} px:  {r[f'offline_fps_{R}']:7.1f} frames/s  (VASA-1: 45 fps at 512 px)   per frame: "
              + ", ".join(f"{k} {v:.2f} ms" for k, v in st.items()))
    for n, row in r.get("photo", {}).get("sizes", {}).items():
        print(f"whole photo {row['frame']:>9s}: streaming {row['stream_fps']:5.1f} frames/s, first frame "
              f"{row['first_frame_ms']:4.0f} ms; offline {row['offline_fps']:5.1f} frames/s   per frame: "
              + ", ".join(f"{k} {v:.2f} ms" for k, v in row["stages_ms"].items()))
    return 0


def cmd_bench_train(a) -> int:
    from labkit.bench.training import bench_train

    r = bench_train(device=a.device, latent_presets=a.latent, motion_presets=a.motion, latent_batch_size=a.latent_batch,
                    motion_batch_size=a.motion_batch, compile=a.compile, latent_bf16=a.latent_bf16, progress=not a.json)
    if printed_json(a, r):
        return 0
    print(f"{r['device']}, {r['threads']} threads, torch {r['torch']}{', compiled' if r['compile'] else ''}: "
          "samples/s of one training step (forward, backward, AdamW)")
    for kind, unit in (("latent", "frame pairs"), ("motion", "windows")):
        for preset, v in r[kind].items():
            print(f"  {kind:6s} {preset:5s} batch {v['batch']:4d}  {v['samples_per_s']:9.1f} {unit}/s  "
                  f"({v['ms_per_step']:.0f} ms/step, {v['parameters_m']:.1f} M parameters)")
    print(f"  data   SynthTalk pairs rendered at 128 px by one process: {r['synthtalk_pairs_per_s_128']:.1f}/s")
    return 0
