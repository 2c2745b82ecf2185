"""Benchmarks: speed and realism figures that live outside the test suite (``labkit bench …``)."""
from __future__ import annotations

import contextlib
import json
import os
import platform
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from torch.utils.flop_counter import FlopCounterMode
from tqdm.auto import tqdm

from labkit.faces import detect_faces, dlib_landmarks, landmark_error_iod
from labkit.faces.prep import PrepConfig, prepare
from labkit.io.checkpoint import read_metadata
from labkit.io.video import write_video
from labkit.io.weights import MOTION, resolve
from labkit.latent.config import make_config
from labkit.latent.model import FaceLatentModel
from labkit.motion.config import DEFAULT_STEPS, MotionDiTConfig
from labkit.motion.config import make_config as motion_config
from labkit.motion.diffusion import Guidance
from labkit.motion.dit import MotionDiT
from labkit.motion.gaze import GazeAxes
from labkit.motion.generator import KIND as MOTION_KIND
from labkit.motion.generator import MotionGenerator
from labkit.pipeline import FPS, Animator, chunked, repeated_speech
from labkit.synthtalk.dataset import SynthTalk, split_sentences
from labkit.synthtalk.export import export
from labkit.synthtalk.identity import sample_identity
from labkit.synthtalk.renderer import Renderer
from labkit.synthtalk.speech import Voice, synthesize


def _render_fps(resolution: int, factors: dict, frames: int) -> float:
    r = Renderer(resolution)
    ident = sample_identity(0)
    out = np.empty((resolution, resolution, 3), np.uint8)
    T = len(factors["yaw"])
    for t in range(3):                      # warm-up: numba compilation, identity caches
        r.render_frame(ident, factors, t % T, out)
    t0 = time.perf_counter()
    for t in range(frames):
        r.render_frame(ident, factors, t % T, out)
    return frames / (time.perf_counter() - t0)


def _tts_speed(n_sentences: int) -> float:
    voice = Voice(language="en", variant="m1", rate=170, pitch=50, pitch_range=50)
    sentences = split_sentences("train", "en")[:n_sentences]
    synthesize(sentences[0], voice, sample_rate=16000)          # warm-up (librosa import)
    t0, audio_s = time.perf_counter(), 0.0
    for s in sentences:
        audio_s += synthesize(s, voice, sample_rate=16000).duration
    return audio_s / (time.perf_counter() - t0)


def realism(n_clips: int = 24, *, every: int = 4, max_yaw: float = 30.0, progress: bool = False) -> dict:
    """dlib on SynthTalk test frames at 256 px with |yaw| <= max_yaw: detection rate and
    landmark error (iBUG 18–68, mean, in units of the inter-ocular distance)."""
    ds = SynthTalk("test", resolution=256, seconds=4.0, num_clips=n_clips)
    it = range(n_clips)
    if progress:
        it = tqdm(it, desc="dlib realism", unit="clip")
    found, errs, total = 0, [], 0
    for i in it:
        clip = ds[i]
        for t in range(0, len(clip["frames"]), every):
            if abs(clip["factors"]["yaw"][t]) > max_yaw:
                continue
            total += 1
            boxes = detect_faces(clip["frames"][t])
            if len(boxes) == 0:
                continue
            found += 1
            pred = dlib_landmarks(clip["frames"][t], boxes[0])
            errs.append(landmark_error_iod(pred, clip["landmarks"][t]))
    return {"dlib_frames": total, "dlib_detect_rate": found / max(total, 1),
            "dlib_landmark_err_iod": float(np.mean(errs)) if errs else float("nan"),
            "dlib_landmark_err_iod_median": float(np.median(errs)) if errs else float("nan")}


def bench_synth(*, frames: int = 300, realism_clips: int = 24, one_core: bool = True, progress: bool = False) -> dict:
    """Render speed at 128 and 512 px, speech synthesis speed, and the dlib realism floor."""
    pin = one_core and hasattr(os, "sched_setaffinity")
    cores = os.sched_getaffinity(0) if pin else None
    try:
        if pin:
            os.sched_setaffinity(0, {min(cores)})
        factors = SynthTalk("test", seconds=4.0, num_clips=1).sample_motion(0)["factors"]
        result = {
            "render_fps_128": _render_fps(128, factors, frames),
            "render_fps_512": _render_fps(512, factors, max(frames // 4, 4)),
            "tts_x_realtime": _tts_speed(24),
            "cores": 1 if pin else os.cpu_count(),
            "machine": platform.processor() or platform.machine(),
        }
        if realism_clips:
            result.update(realism(realism_clips, progress=progress))
    finally:
        if pin:
            os.sched_setaffinity(0, cores)
    return result


def bench_prep(*, n_clips: int = 8, seconds: float = 4.0, resolution: int = 256, backend: str = "auto") -> dict:
    """`labkit prep` on SynthTalk test clips exported to mp4: landmark error against the ground
    truth (pixels at `resolution`) and preparation time per second of video."""


    ds = SynthTalk("test", resolution=resolution, seconds=seconds, num_clips=n_clips)
    with tempfile.TemporaryDirectory() as tmp:
        src, out = Path(tmp) / "videos", Path(tmp) / "prepared"
        export(ds, src, n_clips, progress=False)
        t0 = time.perf_counter()
        man = prepare(src, out, PrepConfig(resolution=resolution, backend=backend), progress=False)
        wall = time.perf_counter() - t0
        clips = [c for c in json.loads(man.read_text())["clips"] if c["status"] == "ok"]
        errs, errs68 = [], []
        for c in clips:
            z = np.load(out / f"{c['name']}.npz")
            truth = ds[int(c["name"].split("_")[-1])]["landmarks"]
            d = np.linalg.norm(z["landmarks"] - truth, axis=-1)
            errs.append(d[:, 17:].mean())
            errs68.append(d.mean())
        backend_used = clips[0]["backend"] if clips else backend
    video_s = n_clips * seconds
    return {"prep_clips_ok": len(clips), "prep_clips": n_clips, "prep_backend": backend_used,
            "prep_landmark_err_px": float(np.mean(errs)), "prep_landmark_err_px_all68": float(np.mean(errs68)),
            "prep_resolution": resolution, "prep_seconds_per_video_second": wall / video_s}


def matmul_gflops(n: int = 1024, repeats: int = 10, device: str = "cpu") -> float:
    """Measured float32 matmul throughput (GFLOP/s) of this machine: the yardstick for model FLOPs."""
    a, b = torch.randn(n, n, device=device), torch.randn(n, n, device=device)
    a @ b
    _sync(device)
    t0 = time.perf_counter()
    for _ in range(repeats):
        a @ b
    _sync(device)
    return 2 * n ** 3 * repeats / (time.perf_counter() - t0) / 1e9


def cpu_name() -> str:
    """The CPU's model name (from /proc/cpuinfo where there is one)."""
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return f"{line.split(':', 1)[1].strip()}, {os.cpu_count()} cores"
    return platform.processor() or platform.machine()


def _sync(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def bench_latent(*, sizes=(128, 256, 512), batch: int = 1, repeats: int = 3, device: str = "cpu",
                 frames: int = 8) -> dict:
    """Per-frame time (ms) and GFLOPs of the s<size> presets (random weights: speed does not depend on
    training), with the machine's matmul throughput: encode (E_app, E_id, E_mot), canonicalize (W_s→c and
    G_3D, once per portrait) and decode (W_c→d, G_2D and G_part, every frame), and decode per frame when
    `frames` frames are decoded together, as the latent renderer does at 128 px (``decode_batched_ms``)."""
    out = {"device": device if device == "cpu" else torch.cuda.get_device_name(device),
           "threads": torch.get_num_threads(), "matmul_gflops": matmul_gflops(device=device), "sizes": {}}
    for size in sizes:
        model = FaceLatentModel(make_config(f"s{size}")).to(device).eval()
        x = torch.rand(batch, 3, size, size, device=device)
        amp = torch.autocast("cuda", dtype=torch.bfloat16) if device.startswith("cuda") else contextlib.nullcontext()

        def stages(lat, canonical, many):
            return {"encode": lambda: model.encode(x), "canonicalize": lambda: model.canonicalize(lat),
                    "decode": lambda: model.decode(canonical, lat.z_id, lat.z_pose, lat.z_dyn),
                    "decode_batched": lambda: model.decode(*many)}

        with torch.inference_mode(), amp:
            lat = model.encode(x)
            canonical = model.canonicalize(lat)
            many = (canonical[:1].expand(frames, *canonical.shape[1:]), lat.z_id[:1].expand(frames, -1),
                    lat.z_pose[:1].expand(frames, -1), lat.z_dyn[:1].expand(frames, -1))
            run = stages(lat, canonical, many)
            for f in run.values():                           # warm-up
                f()
            times = {k: [] for k in run}
            for _ in range(repeats):
                for k, f in run.items():
                    _sync(device)
                    t0 = time.perf_counter()
                    f()
                    _sync(device)
                    times[k].append(time.perf_counter() - t0)
            flops = {}
            for k in ("encode", "canonicalize", "decode"):
                with FlopCounterMode(display=False) as fc:
                    run[k]()
                flops[k] = fc.get_total_flops() / batch / 1e9
        ms = {k: 1e3 * min(t) / (frames if k == "decode_batched" else batch) for k, t in times.items()}
        row = {f"{k}_ms": v for k, v in ms.items()}
        row.update({f"{k}_gflops": v for k, v in flops.items()})
        row["fraction_of_matmul_peak"] = (sum(flops.values()) / (sum(ms[k] for k in flops) / 1e3)
                                          / out["matmul_gflops"])
        out["sizes"][size] = row
    return out


def bench_motion(*, presets=("tiny", "small", "base"), steps=(1, 2, 5, 10, 25), seconds: float = 20.0,
                 shipped: tuple[str, int] | None = None, device: str = "cpu", repeats: int = 2) -> dict:
    """Motion frames per second of sliding-window generation (one clip of `seconds`, 25 fps) for
    each preset and number of sampling steps, and the first window's latency (random weights:
    speed does not depend on training). ``motion_fps`` / ``first_window_ms`` are those of the
    `shipped` (preset, steps), by default the shipped generator's own network and sampling setting
    (its recorded steps, face held or not), timed as ``results["shipped"]``."""
    out = {"device": device if device == "cpu" else torch.cuda.get_device_name(device),
           "threads": torch.get_num_threads(), "seconds": seconds, "results": {}}
    T = int(seconds * 25)

    def timed(gen: MotionGenerator, n: int) -> dict:
        audio = np.random.default_rng(0).normal(size=(T, gen.cfg.audio_dim)).astype(np.float32)
        first = audio[:gen.cfg.window]
        g = Guidance(audio=2.0)                                 # guidance on: two passes per step, batched
        gen.generate(first, steps=n, guidance=g)                # warm-up
        t_all, t_first = [], []
        for _ in range(repeats):
            _sync(device)
            t0 = time.perf_counter()
            gen.generate(first, steps=n, guidance=g)
            _sync(device)
            t1 = time.perf_counter()
            gen.generate(audio, steps=n, guidance=g)
            _sync(device)
            t_first.append(t1 - t0)
            t_all.append(time.perf_counter() - t1)
        return {"motion_fps": T / min(t_all), "first_window_ms": 1e3 * min(t_first)}

    def random_weights(cfg: MotionDiTConfig, **kw) -> MotionGenerator:
        with torch.random.fork_rng(devices=[]):                  # random weights, the caller's RNG untouched
            torch.manual_seed(0)
            return MotionGenerator(MotionDiT(cfg).to(device), **kw)

    for preset in presets:
        gen = random_weights(motion_config(preset))
        for n in steps:
            out["results"][f"{preset}/{n}"] = timed(gen, n)
    if shipped is None:
        meta = read_metadata(resolve(None, MOTION_KIND, MOTION["latent"]))
        cfg = MotionDiTConfig(**meta["config"])
        n, hold = int(meta.get("sampling_steps") or DEFAULT_STEPS), bool(meta.get("hold_face", False))
        axes = GazeAxes(np.eye(cfg.motion_dim, 2, dtype=np.float32), np.eye(2, cfg.motion_dim, 2, dtype=np.float32))
        gen = random_weights(cfg, hold_face=hold, gaze_axes=axes)     # any axes cost the same to follow
        out["results"]["shipped"] = {**timed(gen, n), "steps": n, "hold_face": hold}
        out.update(out["results"]["shipped"], shipped=f"{Path(MOTION['latent']).stem}: {n} steps"
                   + (", face held" if hold else ""))
        return out
    key = f"{shipped[0]}/{shipped[1]}"
    if key in out["results"]:
        out.update(out["results"][key], shipped=key)
    return out


def bench_animate(*, seconds: float = 10.0, device: str = "cpu", renderer: str = "auto", resolutions=(128, 256, 512),
                  stream=(128,), progress: bool = False) -> dict:
    """``labkit animate`` timed stage by stage on `seconds` of the bundled speech (repeated).

    Offline: frames per second of the whole generation (audio features, motion, rendering,
    watermark; the mp4 encode is timed apart, as VASA-1 times generation). Streaming at each of the
    `stream` resolutions (``stream_fps_R``, ``first_frame_ms_R``): time from the first audio chunk to
    the first frame (compute only: chunks are handed over as fast as they are taken) and frames per
    second sustained. With the latent renderer at 256/512 px the face latent model is an untrained
    one of that size (speed does not depend on training)."""



    if not set(stream) <= set(resolutions):
        raise ValueError(f"stream sizes {sorted(set(stream) - set(resolutions))} are not among the resolutions "
                         f"{tuple(resolutions)}")
    speech = repeated_speech(seconds)
    out = {"device": f"CPU ({cpu_name()})" if device == "cpu" else torch.cuda.get_device_name(device),
           "threads": torch.get_num_threads(), "seconds": seconds, "stages": {}}
    for R in resolutions:
        preset = f"s{R}" if R != 128 else None
        anim = Animator(None, resolution=R, renderer=renderer, device=device,
                        latent_preset=preset if renderer == "latent" else None)
        out["renderer"] = anim.renderer
        anim.animate(speech[:16000])                                         # warm-up
        _sync(device)
        v = anim.animate(speech, progress=progress)
        T = len(v.frames)
        stages = {k: 1e3 * t / T for k, t in v.timings.items()}
        with tempfile.TemporaryDirectory() as tmp:
            t0 = time.perf_counter()
            write_video(f"{tmp}/v.mp4", v.frames, FPS, v.audio, v.sample_rate)
            stages["encode"] = 1e3 * (time.perf_counter() - t0) / T
        out["stages"][str(R)] = stages
        out[f"offline_fps_{R}"] = T / sum(v.timings.values())
        if R in stream:
            t0 = time.perf_counter()
            first, n = None, 0
            for _ in anim.stream(chunked(speech)):
                if first is None:
                    _sync(device)
                    first = time.perf_counter() - t0
                n += 1
            out[f"stream_fps_{R}"] = n / (time.perf_counter() - t0)
            out[f"first_frame_ms_{R}"] = 1e3 * first
    return out


def bench_photo(*, sizes=(512, 1024, 1920), seconds: float = 10.0, progress: bool = False) -> dict:
    """The whole-photo path of ``labkit animate`` (landmark renderer) on skimage's astronaut scaled to
    each square size: offline stage times per frame and frames per second, and streaming (first frame,
    compute only, and frames per second sustained), as :func:`bench_animate` times the crop."""
    import cv2
    from skimage.data import astronaut

    speech = repeated_speech(seconds)
    out = {"device": f"CPU ({cpu_name()})", "threads": torch.get_num_threads(), "seconds": seconds, "sizes": {}}
    for n in sizes:
        photo = cv2.resize(astronaut(), (n, n), interpolation=cv2.INTER_AREA if n < 512 else cv2.INTER_CUBIC)
        anim = Animator(photo, renderer="landmarks", max_side=max(n, 64))
        anim.animate(speech[:16000])                                         # warm-up
        v = anim.animate(speech, progress=progress)
        T = len(v.frames)
        row = {"frame": f"{anim.size[1]}x{anim.size[0]}", "region_fraction": float(anim.region.mean()),
               "offline_fps": T / sum(v.timings.values()),
               "stages_ms": {k: 1e3 * t / T for k, t in v.timings.items()}}
        del v
        t0 = time.perf_counter()
        first, k = None, 0
        for _ in anim.stream(chunked(speech)):
            if first is None:
                first = time.perf_counter() - t0
            k += 1
        row["stream_fps"] = k / (time.perf_counter() - t0)
        row["first_frame_ms"] = 1e3 * first
        out["sizes"][str(n)] = row
    return out

