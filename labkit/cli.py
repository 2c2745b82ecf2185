"""The ``labkit`` command line: parse, call the library, report."""
from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path


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
    from labkit.video_io import write_video

    clip = _synth_dataset(a)[a.index]
    out = Path(a.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    write_video(out, clip["frames"], clip["fps"], clip["audio"], clip["sample_rate"], overwrite=a.overwrite)
    print(f"wrote {out}: {len(clip['frames'])} frames at {a.resolution}px, identity {clip['identity']}, "
          f"{clip['language']} ({clip['voice']}), emotion {clip['emotion']}\n  \"{clip['text']}\"")
    return 0


def cmd_prep(a) -> int:
    from labkit.prep import PrepConfig, prepare

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
    from labkit.bench import bench_synth

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
    from labkit.bench import bench_prep

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

    bench = sub.add_parser("bench", help="benchmarks").add_subparsers(dest="what", required=True)
    b = bench.add_parser("synth", help="SynthTalk render/speech speed and dlib realism")
    b.add_argument("--json", action="store_true", help="print one JSON object")
    b.add_argument("--frames", type=int, default=300, help="frames to time at 128 px (a quarter at 512)")
    b.add_argument("--realism-clips", type=int, default=24, help="test clips for the dlib check (0 = skip)")
    b.add_argument("--all-cores", action="store_true", help="do not pin the benchmark to one core")
    b.set_defaults(func=cmd_bench_synth)
    bp = bench.add_parser("prep", help="labkit prep on SynthTalk mp4s: landmark error and time per video second")
    bp.add_argument("--json", action="store_true", help="print one JSON object")
    bp.add_argument("--clips", type=int, default=8, help="SynthTalk test clips (default: 8)")
    bp.add_argument("--backend", default="auto", help="landmarks: auto, dlib or fan")
    bp.set_defaults(func=cmd_bench_prep)
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    try:
        return args.func(args)
    except (ValueError, FileExistsError, FileNotFoundError, PermissionError, OSError) as e:
        print(f"labkit: error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
