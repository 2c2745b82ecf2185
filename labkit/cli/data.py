"""``labkit synth export|clip`` and ``labkit prep``: SynthTalk clips to files, real videos to training shards."""
from __future__ import annotations

import json
from pathlib import Path

# the library is imported inside each command: `labkit --help` must not import torch


def register(sub) -> None:
    synth = sub.add_parser("synth", help="SynthTalk, the procedural talking-head dataset")
    synth = synth.add_subparsers(dest="action", required=True)

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
