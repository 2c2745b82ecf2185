"""``labkit animate`` (portrait + speech → a watermarked talking-face video) and ``labkit verify``."""
from __future__ import annotations

import json
import sys
import time
from pathlib import Path

from labkit.cli.common import add_json_option, pair, rgb, signals_held
from labkit.motion.config import ANIMATE_CFG_AUDIO, DEFAULT_CFG_EMOTION, DEFAULT_STEPS

# the library is imported inside each command: `labkit --help` must not import torch


def register(sub) -> None:
    an = sub.add_parser("animate", help="portrait + speech → a talking-face mp4 (default: the embedded SynthTalk "
                                        "portrait and sentence)")
    an.add_argument("portrait", nargs="?", default=None, help="portrait image (default: a SynthTalk test identity)")
    an.add_argument("audio", nargs="?", default=None,
                    help="speech: any audio file, or a video's audio track (default: a bundled sentence)")
    an.add_argument("-o", "--output", default="out/animate.mp4", help="output .mp4 (default: out/animate.mp4)")
    an.add_argument("--gaze", type=pair, default=None, metavar="PITCH,YAW",
                    help="main gaze direction in degrees (pitch ±20, yaw ±30)")
    an.add_argument("--distance", type=float, default=None, help="head-to-camera distance, 0.8..1.25 (1 = nominal)")
    an.add_argument("--emotion", default=None, metavar="NAME[:INTENSITY]",
                    help="neutral, happy, sad, angry or surprised; intensity 0..1 (default 1)")
    an.add_argument("--cfg-audio", type=float, default=ANIMATE_CFG_AUDIO,
                    help=f"audio guidance scale (default: {ANIMATE_CFG_AUDIO:g}; 1 = none)")
    an.add_argument("--cfg-gaze", type=float, default=1.0, help="gaze guidance scale (default: 1 = none)")
    an.add_argument("--cfg-emotion", type=float, default=DEFAULT_CFG_EMOTION,
                    help=f"emotion guidance scale, against neutral, on the face only "
                         f"(default: {DEFAULT_CFG_EMOTION:g}; 1 = none)")
    an.add_argument("--motion-scale", type=float, default=1.0, metavar="S",
                    help="head motion: 0 a still head, 1 as generated (default), up to 2 for twice as lively")
    an.add_argument("--steps", type=int, default=None,
                    help=f"sampling steps (default: those recorded with the motion generator, else {DEFAULT_STEPS})")
    an.add_argument("--seed", type=int, default=0, help="sampling seed (default: 0)")
    an.add_argument("--crop", action="store_true",
                    help="a photo's aligned square face crop instead of the whole photo (default: the whole photo)")
    an.add_argument("--resolution", type=int, default=256, choices=[128, 256, 512],
                    help="side of the square crop: with --crop, and for SynthTalk portraits (default: 256)")
    an.add_argument("--max-side", type=int, default=None, metavar="PX",
                    help="the whole photo's longer side at most this (default: 1920); larger photos are scaled down")
    an.add_argument("--renderer", default="auto", choices=["auto", "latent", "landmarks"],
                    help="auto (default): the face latent model for SynthTalk portraits when it can move a face, "
                         "else landmark warping")
    an.add_argument("--face", type=int, default=None, metavar="N",
                    help="which face of a photo with several, numbered left to right from 0 (`labkit faces PHOTO` "
                         "lists them; default: the largest)")
    an.add_argument("--points", default=None, metavar="FILE",
                    help="the face's 68 iBUG landmarks (68 rows x, y: text, .csv or .npy), for a face the detector "
                         "misses (a painting, a drawing)")
    an.add_argument("--background", type=rgb, default=None, metavar="R,G,B",
                    help="colour behind a transparent portrait (default: 128,128,128, neutral grey)")
    an.add_argument("--landmarks", default="auto", choices=["auto", "dlib", "fan"],
                    help="landmark detector for photos (default: auto)")
    an.add_argument("--stream", action="store_true",
                    help="generate window by window as the audio arrives, writing frames as they come")
    an.add_argument("--no-watermark", action="store_true", help="leave frames unmarked (prints a warning every run)")
    an.add_argument("--overwrite", action="store_true", help="replace an existing output file")
    an.add_argument("--quiet", action="store_true", help="no progress bars")
    an.set_defaults(func=cmd_animate)

    fc = sub.add_parser("faces", help="the faces found in a photo, numbered left to right as --face takes them")
    fc.add_argument("photo", help="an image file")
    fc.add_argument("--landmarks", default="auto", choices=["auto", "dlib", "fan"],
                    help="landmark detector (default: auto)")
    add_json_option(fc)
    fc.set_defaults(func=cmd_faces)

    vf = sub.add_parser("verify", help="was this video made by labkit? (exit 0: watermark found, 1: not found)")
    vf.add_argument("video", help="a video file")
    add_json_option(vf)
    vf.set_defaults(func=cmd_verify)


def cmd_animate(a) -> int:
    from labkit.io.atomic import check_output
    from labkit.pipeline import MAX_SIDE, Animator, Controls, default_speech, parse_emotion, read_speech, stream_to_file
    from labkit.provenance.watermark import compile_kernels

    # every input is checked before any work is done or any folder made: the output, the controls,
    # the speech, then the portrait
    out = Path(a.output)
    if out.suffix.lower() != ".mp4":
        raise ValueError(f"the output must be an .mp4 file, got {out.name}")
    check_output(out, overwrite=a.overwrite)
    emotion, intensity = parse_emotion(a.emotion) if a.emotion else (None, 1.0)
    controls = Controls(gaze=a.gaze, distance=a.distance, emotion=emotion, intensity=intensity, cfg_audio=a.cfg_audio,
                        cfg_gaze=a.cfg_gaze, cfg_emotion=a.cfg_emotion, steps=a.steps, seed=a.seed,
                        motion_scale=a.motion_scale)
    speech = read_speech(a.audio if a.audio is not None else default_speech(), progress=not a.quiet)
    if a.no_watermark:
        print("labkit: WARNING: --no-watermark: this video will carry no invisible provenance mark", file=sys.stderr)
    with signals_held():                        # compiling kernels: an interrupt is delivered once done
        anim = Animator(a.portrait, resolution=a.resolution, renderer=a.renderer, controls=controls,
                        watermark=not a.no_watermark, landmark_backend=a.landmarks, face_index=a.face,
                        background=a.background, crop=a.crop, max_side=a.max_side or MAX_SIDE, landmarks=a.points)
        compile_kernels()
    size = f"{anim.size[1]}x{anim.size[0]} px" + (" (the whole photo)" if anim.full_photo else "")
    what = (f"{a.portrait or 'the default SynthTalk portrait'} + "
            f"{a.audio or 'the bundled sentence'}; renderer {anim.renderer} ({anim.reason})")
    out.parent.mkdir(parents=True, exist_ok=True)
    if a.stream:
        r = stream_to_file(anim, speech, out, overwrite=a.overwrite, progress=not a.quiet)
        print(f"wrote {out}: {r['frames']} frames at {size}, streamed: first frame after "
              f"{r['first_frame_ms']:.0f} ms of compute (plus {r['window_seconds']:g} s of audio to fill the "
              f"first window), {r['fps']:.1f} frames/s sustained\n  {what}")
        return 0
    t0 = time.perf_counter()
    r = anim.write(speech, out, overwrite=a.overwrite, progress=not a.quiet)
    took = time.perf_counter() - t0
    t = r["timings"]
    print(f"wrote {out}: {r['frames']} frames at {size}, {r['seconds']:.2f} s of speech; {r['tag']}\n"
          f"  {what}\n  time: " + ", ".join(f"{k} {v:.2f} s" for k, v in t.items())
          + f"; {took:.1f} s in all, {r['seconds'] / took:.1f}x real time")
    return 0


def cmd_faces(a) -> int:
    import numpy as np

    from labkit.faces.image import as_rgb
    from labkit.faces.landmarks import MIN_BOX, LandmarkDetector, default_face

    image = as_rgb(a.photo)
    faces = LandmarkDetector(a.landmarks).faces(image, name=Path(a.photo).name)
    default = default_face(faces) if faces else None
    rows = [{"face": k, "box": [round(float(v), 1) for v in f.box], "size": round(f.size, 1),
             "eyes_apart": round(f.iod, 1), "score": round(f.score, 3), "default": k == default,
             "small": bool(f.size < MIN_BOX)} for k, f in enumerate(faces)]
    if a.json:
        print(json.dumps({"photo": a.photo, "width": int(image.shape[1]), "height": int(image.shape[0]),
                          "faces": rows}))
        return 0 if faces else 1
    if not faces:
        print(f"{a.photo}: no face found")
        return 1
    print(f"{a.photo}: {len(faces)} face(s), numbered left to right (--face N):")
    for r in rows:
        x0, y0, x1, y1 = (int(np.round(v)) for v in r["box"])
        print(f"  {r['face']}: box ({x0}, {y0})-({x1}, {y1}), {r['size']:.0f} px, eyes {r['eyes_apart']:.0f} px apart, "
              f"score {r['score']:.2f}" + ("  <- default" if r["default"] else "")
              + ("  (small: limited detail)" if r["small"] else ""))
    return 0


def cmd_verify(a) -> int:
    from labkit.io.video import metadata
    from labkit.provenance.watermark import verify

    d = verify(a.video)
    tag = metadata(a.video).get("description")
    if a.json:
        print(json.dumps({"found": d.found, "version": d.version, "content_id": d.content_id,
                          "id_valid": d.id_valid, "magic_errors": d.magic_errors, "frames": d.frames, "metadata": tag}))
    elif d.found and not d.id_valid:
        print(f"{a.video}: made by labkit (watermark found in {d.frames} frames, {d.magic_errors} bit errors in the "
              "marker); content id unreadable: its checksum fails, the video is too damaged to say which one it is")
    elif d.found:
        print(f"{a.video}: made by labkit {d.version} (watermark found in {d.frames} frames, content id "
              f"{d.content_id:08x}, checksum ok, {d.magic_errors} bit errors in the marker)")
    else:
        print(f"{a.video}: no labkit watermark found ({d.frames} frames read)")
    if tag and not a.json:
        print(f"  metadata: {tag}")
    return 0 if d.found else 1
