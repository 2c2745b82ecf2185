"""``labkit eval``: the comparison table, and ``labkit eval latent|motion|sync|capp|video-features|real|portraits|
watermark|takes|sweep``."""
from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path

from labkit.cli.common import add_json_option, numbers, printed_json, set_threads
from labkit.cli.options import add_options, given
from labkit.evaluation.config import (
    EXTRA_METHODS,
    INSTRUMENT_CLIPS,
    METHODS,
    TABLE_RENDERERS,
    EvalLatentConfig,
    EvalMotionConfig,
    EvalPortraitsConfig,
    EvalRealConfig,
    EvalTableConfig,
    EvalWatermarkConfig,
    SamplingConfig,
)

RESOLUTIONS = (128, 256, 512)

# the library is imported inside each command: `labkit --help` must not import torch


# labkit eval sweep's grid: the option, the setting it sweeps (labkit.evaluation.motion.SWEPT), its values' type
_SWEPT_OPTIONS = (("steps", "steps", int), ("hold-face", "hold_face", int), ("cfg-audio", "audio", float),
                  ("cfg-gaze", "gaze", float), ("cfg-control", "control", float), ("cfg-emotion", "emotion", float))


def register(sub) -> None:
    et = sub.add_parser("eval", help="the comparison table (VASA-1's Table 1 on SynthTalk), or one model's evaluation",
                        description="With no model named: the table of methods × metrics (S_C, S_D, CAPP, ΔP, FVD, "
                                    "CSIM, LMD) on SynthTalk clips, printed and written as CSV and markdown.")
    add_options(et, EvalTableConfig, title="the table (EvalTableConfig)", choices={"renderer": list(TABLE_RENDERERS)})
    add_options(et, SamplingConfig, title="sampling of 'ours' (SamplingConfig)",
                exclude=("overlap", "cfg_gaze", "cfg_control"))
    et.add_argument("--checkpoint", default=None, help="motion generator of 'ours' (default: the shipped one for "
                                                       "the renderer)")
    et.add_argument("--regression", default=None,
                    help="regression baseline (default: the shipped one for the renderer)")
    et.add_argument("--latent", default=None, help="face latent checkpoint: renderer and pose/identity reader "
                                                   "(default: shipped)")
    et.add_argument("--threads", type=int, default=None, help="CPU threads (default: torch's choice)")
    et.add_argument("--out", default="out/eval_table", help="writes OUT.csv and OUT.md (default: out/eval_table)")
    et.add_argument("--overwrite", action="store_true", help="replace existing OUT.csv / OUT.md")
    et.add_argument("--json", action="store_true", help="print {method: {metric: value}}")
    et.set_defaults(func=cmd_eval_table)
    ev = et.add_subparsers(dest="model", required=False,
                           metavar="{latent,motion,sync,capp,video-features,real,portraits,watermark}")

    el = ev.add_parser("latent", help="reenactment PSNR/SSIM, linear probes, identity codes, DCI/MIG/SAP/modularity")
    el.add_argument("--checkpoint", default=None, help="face latent weights: a path or a shipped name (default: the "
                                                       "shipped default)")
    add_json_option(el)
    add_options(el, EvalLatentConfig, title="evaluation (EvalLatentConfig)")
    el.set_defaults(func=cmd_eval_latent)

    em = ev.add_parser("motion", help="lip sync, gaze/distance/emotion control, ΔP, sway, seams, blinks, diversity, "
                                      "held-out language")
    em.add_argument("--checkpoint", default=None, help="motion generator (default: the shipped small model)")
    em.add_argument("--regression", default=None, help="regression baseline (default: the shipped one)")
    em.add_argument("--latent", default=None, help="face latent checkpoint the generator was trained with "
                                                   "(default: the one it records)")
    add_json_option(em)
    add_options(em, EvalMotionConfig, title="evaluation (EvalMotionConfig)", aliases={"test_clips": ["--clips"]})
    add_options(em, SamplingConfig, title="sampling (SamplingConfig)")
    em.set_defaults(func=cmd_eval_motion)

    for name, what, weights in (
            ("sync", "LabSync on SynthTalk test clips: S_C, S_D, offsets found with shifted audio", "LabSync"),
            ("capp", "CAPP on SynthTalk test clips: true, mismatched and time-shifted pose", "CAPP"),
            ("video-features", "the FVD clip encoder on SynthTalk test windows: R², FVD floor and shifts",
             "clip encoder")):
        clips = INSTRUMENT_CLIPS[name]
        ei = ev.add_parser(name, help=what)
        ei.add_argument("--checkpoint", default=None, help=f"{weights} weights (default: the shipped ones)")
        ei.add_argument("--clips", type=int, default=clips, help=f"test clips (default: {clips})")
        add_json_option(ei)
        ei.set_defaults(func=cmd_eval_instrument)

    er = ev.add_parser("real", help="the table on real photos and speech (no ground truth): S_C, S_D, CAPP, ΔP, CSIM")
    er.add_argument("--portraits", nargs="*", default=None, help="portrait images (default: skimage's astronaut)")
    er.add_argument("--audio", nargs="*", default=None, help="speech files (default: --clips SynthTalk test clips' "
                                                             "speech)")
    add_options(er, EvalRealConfig, title="evaluation (EvalRealConfig)")
    er.add_argument("--out", default="out/eval_real", help="writes OUT.md and OUT.csv (default: out/eval_real)")
    er.add_argument("--overwrite", action="store_true", help="replace existing tables")
    add_json_option(er)
    er.set_defaults(func=cmd_eval_real)

    ep = ev.add_parser("portraits", help="talking photos judged from their pixels by dlib: detection, jaw, blinks, "
                                         "identity and its drift, emotion, seams, the mouth, lip sync")
    add_options(ep, EvalPortraitsConfig, title="evaluation (EvalPortraitsConfig)", choices={"resolution": RESOLUTIONS})
    ep.add_argument("--sheet", default=None, metavar="PNG",
                    help="also write a contact sheet of the portraits (mouth, blink, gaze, turn, each emotion)")
    ep.add_argument("--overwrite", action="store_true", help="replace an existing contact sheet")
    add_json_option(ep)
    ep.set_defaults(func=cmd_eval_portraits)

    ew = ev.add_parser("watermark", help="watermark detection and content id after H.264 CRF 23/28/30 and 0.5x "
                                         "downscaling, on 1/3/10 s clips; false positives on clean clips")
    add_options(ew, EvalWatermarkConfig, title="evaluation (EvalWatermarkConfig)", choices={"resolution": RESOLUTIONS})
    add_json_option(ew)
    ew.set_defaults(func=cmd_eval_watermark)

    es = ev.add_parser("sweep", help="the motion generator at a grid of sampling settings, on validation clips: "
                                     "the table a setting is chosen from")
    es.add_argument("--checkpoint", default=None, help="motion generator (default: the shipped small model)")
    es.add_argument("--latent", default=None, help="face latent checkpoint the generator was trained with "
                                                   "(default: the one it records)")
    es.add_argument("--split", default="val", choices=("val", "test"), help="clips scored (default: val)")
    for flag, key, kind in _SWEPT_OPTIONS:
        es.add_argument(f"--{flag}", dest=key, type=numbers(kind), default=None,
                        help=f"comma-separated values of {flag} (default: the generator's own)")
    es.add_argument("--clips", type=int, default=40, help="clips scored (default: 40)")
    es.add_argument("--seeds", type=int, default=3, help="sampling seeds per clip (default: 3)")
    es.add_argument("--out", default=None, help="also write the rows as JSON to this file (--overwrite to replace)")
    es.add_argument("--overwrite", action="store_true", help="replace --out if it exists")
    add_json_option(es)
    es.set_defaults(func=cmd_eval_sweep)

    et = ev.add_parser("takes", help="SynthTalk's ground truth: how much of the head motion the speech determines, "
                                     "from several takes of each clip")
    et.add_argument("--split", default="test", choices=("train", "val", "test"), help="SynthTalk split (default: test)")
    et.add_argument("--clips", type=int, default=40, help="clips (default: 40)")
    et.add_argument("--takes", type=int, default=6, help="performances of each clip (default: 6)")
    et.add_argument("--seconds", type=float, default=8.0, help="clip length (default: 8.0, four 2 s windows)")
    et.add_argument("--window", type=int, default=50, help="frames a sway is measured over (default: 50, the "
                                                          "motion generator's window)")
    add_json_option(et)
    et.set_defaults(func=cmd_eval_takes)


def _sampling(a):
    """The sampler settings typed for a generator: (steps, overlap, Guidance keyword arguments)."""
    s = SamplingConfig(**given(a, SamplingConfig))
    guidance = dict(audio=s.cfg_audio, gaze=s.cfg_gaze, control=s.cfg_control, emotion=s.cfg_emotion)
    return s.steps, s.overlap, guidance


def cmd_eval_table(a) -> int:
    """labkit eval: the comparison table (labkit.evaluation.table)."""
    from labkit.evaluation.table import bars, evaluate_table, load_instruments, to_csv, to_markdown
    from labkit.io.atomic import write_text_atomic
    from labkit.io.weights import MOTION, REGRESSION
    from labkit.motion.diffusion import Guidance
    from labkit.motion.generator import MotionGenerator
    from labkit.synthtalk.dataset import LANGUAGES

    cfg = EvalTableConfig(**given(a, EvalTableConfig))
    steps, _, guidance = _sampling(a)
    methods = [m.strip() for m in cfg.methods.split(",") if m.strip()]
    unknown = [m for m in methods if m not in METHODS + EXTRA_METHODS]
    if unknown or not methods:
        raise ValueError(f"--methods: unknown {unknown or 'empty list'}; choose from "
                         f"{','.join(METHODS + EXTRA_METHODS)}")
    out = Path(a.out)
    paths = [out.with_suffix(".csv"), out.with_suffix(".md")]
    for path in paths:
        if path.exists() and not a.overwrite:
            raise FileExistsError(f"{path} exists; pass --overwrite to replace it")
    set_threads(a.threads)
    source = "landmarks" if cfg.renderer == "synthtalk" else "latent"       # SynthTalk draws from factors
    default = {"ours": MOTION[source], "regression": REGRESSION[source]}
    paths_in = {"ours": a.checkpoint, "regression": a.regression}
    gens = {m: MotionGenerator.load(paths_in[m] or default[m], steps=steps,
                                    guidance=Guidance(**guidance) if m == "ours" else Guidance())
            for m in ("ours", "regression") if m in methods}
    held = next(iter(gens.values())).meta.get("heldout_language") if gens else "es"
    langs = tuple(lang for lang in LANGUAGES if lang != held)
    inst, train = load_instruments(latent=a.latent, languages=langs, progress=not a.json, lmd_every=cfg.lmd_every,
                                   reader_clips=cfg.reader_clips)
    table, in_sync = evaluate_table(methods, renderer=cfg.renderer, generators=gens, instruments=inst, train=train,
                                    split=cfg.split, num_clips=cfg.clips, seconds=cfg.seconds, seed=cfg.seed,
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


def cmd_eval_latent(a) -> int:
    from labkit.evaluation.latent import BARS, FACTOR_BARS, KEYS, PROBE_DYN, evaluate_latent, factor_verdicts, meets
    from labkit.latent.model import load_face_latent

    model = load_face_latent(a.checkpoint)
    r = evaluate_latent(model, **asdict(EvalLatentConfig(**given(a, EvalLatentConfig))), progress=not a.json)
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
    d = r["details"]
    print(f"identity details       glasses kept {d['glasses_kept']:.2f} (reader right on {d['glasses_reader_acc']:.0%} "
          f"of exact renders), hair style kept {d['hair_kept']:.2f} (reader {d['hair_reader_acc']:.0%}), dlib distance "
          f"to the exact render {d['dlib_distance']:.3f}")
    verdicts = factor_verdicts(r)
    for name, (key, _, op, bar) in FACTOR_BARS.items():
        if verdicts.get(name):
            values = r[key][name] if key == "per_factor_r2" else r[key]
            cells = ", ".join(f"{f} {values[f]:.2f}{'' if ok else ' MISSED'}" for f, ok in verdicts[name].items())
            print(f"{name:22s} {cells}   (each {op} {bar:g})")
    if "ceilings" in r:
        c = r["ceilings"]
        print("what the crops hold (R² on test identities; drawn: what SynthTalk draws, pixels: a ridge on the raw "
              "crops, reader: a CNN trained on the truth)")
        print(f"  {'':12s} {'z_dyn':>6s} {'drawn':>6s} " + " ".join(f"{k + ' ' + s:>13s}" for s in c["sizes"]
                                                                   for k in ("pixels", "reader")))
        for f in PROBE_DYN:
            row = " ".join(f"{c['sizes'][s][k][f]:13.2f}" for s in c["sizes"] for k in ("pixels", "reader"))
            print(f"  {f:12s} {r['per_factor_r2']['probe_dyn'][f]:6.2f} {c['drawn'][f]:6.2f} {row}")
    return 0


def cmd_eval_motion(a) -> int:
    from labkit.evaluation.motion import BARS, EXTRA_KEYS, KEYS, evaluate_motion, meets
    from labkit.io.weights import REGRESSION
    from labkit.motion.diffusion import Guidance
    from labkit.motion.generator import MotionGenerator

    steps, overlap, guidance = _sampling(a)
    gen = MotionGenerator.load(a.checkpoint, steps=steps, overlap=overlap, guidance=Guidance(**guidance))
    reg = MotionGenerator.load(a.regression or REGRESSION["latent"])
    r = evaluate_motion(gen, regression=reg, latent=a.latent, **asdict(EvalMotionConfig(**given(a, EvalMotionConfig))),
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


def cmd_eval_sweep(a) -> int:
    """labkit eval sweep: the motion generator at a grid of sampling settings (evaluation.motion.sweep_motion)."""
    from labkit.evaluation.motion import sweep_motion
    from labkit.io.atomic import write_text_atomic
    from labkit.motion.generator import MotionGenerator

    out = Path(a.out) if a.out else None
    if out is not None and out.exists() and not a.overwrite:
        raise FileExistsError(f"{out} exists; pass --overwrite to replace it")
    grid = {key: getattr(a, key) for _, key, _ in _SWEPT_OPTIONS if getattr(a, key) is not None}
    gen = MotionGenerator.load(a.checkpoint)
    rows = sweep_motion(gen, grid, split=a.split, latent=a.latent, clips=a.clips, seeds=a.seeds,
                        progress=not a.json)
    if out is not None:
        write_text_atomic(out, json.dumps(rows, indent=1) + "\n")
    if a.json:
        print(json.dumps(rows))
        return 0
    cols = ("steps", "hold_face", "audio", "gaze", "emotion", "lipsync_corr", "dp_ratio", "sway_ratio", "gaze_err_deg",
            "distance_err_rel", "emotion_acc", "diversity_ratio", "blink_rate_ratio", "seam_ratio")
    print(f"{len(rows)} settings on {a.clips} {a.split} clips, {a.seeds} seeds")
    print(" ".join(f"{c[:12]:>12s}" for c in cols))
    for r in rows:
        print(" ".join(f"{r.get(c, float('nan')):12.3f}" for c in cols))
    return 0


def cmd_eval_takes(a) -> int:
    """labkit eval takes: the share of SynthTalk's head motion that its speech determines (labkit.evaluation.takes)."""
    from labkit.evaluation.takes import ANGLES, head_takes, predictability

    r = predictability(head_takes(a.split, a.clips, a.takes, seconds=a.seconds, progress=not a.json), a.window)
    if a.json:
        print(json.dumps(r))
        return 0
    print(f"{r['clips']} {a.split} clips x {r['takes']} takes; share of the variance the speech determines "
          f"(1 = fixed by the speech, 0 = new every take)")
    print(f"{'':24s}" + "".join(f"{x:>8s}" for x in (*ANGLES, "mean")))
    for key, what in (("pose_explained", "head pose"), ("sway_explained", f"sway ({a.window}-frame windows)"),
                      ("sway_size_explained", "sway size (its std)"), ("velocity_explained", "velocity (ΔP)"),
                      ("regression_sway_ratio", "best regression's sway"),
                      ("take_spread_deg", "spread across takes (°)"), ("clip_spread_deg", "spread across clips (°)")):
        print(f"{what:24s}" + "".join(f"{r[f'{key}_{x}']:8.2f}" for x in ANGLES) + f"{r[key]:8.2f}")
    return 0


def cmd_eval_real(a) -> int:
    """labkit eval real: the table on real portraits and speech, without ground truth (labkit.evaluation.real)."""
    from labkit.evaluation.real import default_inputs, evaluate_real, real_bars, save, to_markdown

    out = Path(a.out)
    for path in (out.with_suffix(".md"), out.with_suffix(".csv")):
        if path.exists() and not a.overwrite:
            raise FileExistsError(f"{path} exists; pass --overwrite to replace it")
    cfg = EvalRealConfig(**given(a, EvalRealConfig))
    portraits, speeches = default_inputs(cfg.clips, cfg.seconds, cfg.seed)
    if a.portraits:
        portraits = {Path(p).stem: p for p in a.portraits}
    if a.audio:
        speeches = {Path(p).stem: p for p in a.audio}
    table = evaluate_real(portraits, speeches, seed=cfg.seed, progress=not a.json)
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


def cmd_eval_portraits(a) -> int:
    """labkit eval portraits: independent instruments on talking photos (labkit.evaluation.portraits).
    Bars are reported (pass/FAIL), not turned into the exit status."""
    from labkit.evaluation.portraits import evaluate_portraits, load_portraits, to_table
    from labkit.evaluation.sheet import contact_sheet
    from labkit.io.atomic import check_output

    cfg = EvalPortraitsConfig(**given(a, EvalPortraitsConfig))
    if a.sheet:
        if not a.sheet.lower().endswith(".png"):
            raise ValueError(f"the contact sheet is a .png, got {a.sheet}")
        check_output(a.sheet, overwrite=a.overwrite)
    r = evaluate_portraits(cfg, progress=not a.json)
    if a.sheet:
        contact_sheet(load_portraits(cfg.portraits), a.sheet, overwrite=a.overwrite)
    if printed_json(a, r):
        return 0
    print(to_table(r))
    if a.sheet:
        print(f"wrote the contact sheet {a.sheet}")
    return 0


def cmd_eval_watermark(a) -> int:
    """labkit eval watermark: detection and id after re-encoding and downscaling, false positives on clean clips."""
    from labkit.evaluation.watermark import evaluate_watermark

    cfg = EvalWatermarkConfig(**given(a, EvalWatermarkConfig))
    r = evaluate_watermark(**asdict(cfg), progress=not a.json)
    if printed_json(a, r):
        return 0
    print(f"{r['clips']} labkit clips and {r['clean_clips']} clean SynthTalk clips at {r['resolution']} px, "
          f"each cut to its first {', '.join(f'{s:g}' for s in cfg.seconds)} s")
    print(f"  {'length':>7s}  {'attack':>6s}  {'detected':>8s}  {'id right':>8s}  {'wrong ids':>9s}  "
          f"{'unreadable':>10s}  {'false pos.':>10s}")
    for row in r["rows"]:
        print(f"  {row['seconds']:5g} s  {row['attack']:>6s}  {100 * row['detected']:6.1f} %  "
              f"{100 * row['id_correct']:6.1f} %  {row['wrong_ids']:9d}  {100 * row['unreadable']:8.1f} %  "
              f"{row['false_positives']:10d}")
    print(f"  wrong ids: {r['wrong_ids']} (target 0); "
          f"false positives on clean clips: {r['false_positives']} (target 0)")
    print(f"  PSNR of the mark: {r['psnr_db']:.1f} dB")
    return 0
