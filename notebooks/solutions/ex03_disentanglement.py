"""Solutions to the exercises of notebook 03, "How disentangled is the face latent space?".

One function per exercise; each returns plain numbers so that tests/test_solutions_03.py can check them.
Equation numbers refer to the notebook: (3)-(4) the ridge probe and its R², (6) MIG, (7)-(9) DCI, (10) SAP,
(11) modularity. Exercises 1 and 2 use toy codes whose answer the equations give, 3 SynthTalk's factors (no
pixels) and 4 the shipped evaluation records. Every function runs in seconds on one CPU core.
"""
from __future__ import annotations

import json

import numpy as np

from labkit.evaluation.latent import PROBE_DYN, drawn_dynamics, mixed_frames, probe_r2
from labkit.io.weights import ASSETS
from labkit.latent.data import motion_bank
from labkit.metrics import dci, mig, modularity, sap
from labkit.synthtalk.factors import FACTOR_NAMES

LEVELS = 20          # levels of each toy factor, and bins of each code (as in the notebook)


def _toy_factors(n: int, num_factors: int, levels: int, seed: int) -> np.ndarray:
    """n samples of `num_factors` independent factors, each uniform on 0 .. levels - 1: (n, num_factors)."""
    return np.random.default_rng(seed).integers(0, levels, size=(n, num_factors))


def _rotate(v: np.ndarray, degrees: float) -> np.ndarray:
    """Codes (n, 2) = the first two columns of v turned by `degrees` in their plane (a mixing of two factors)."""
    t = np.deg2rad(degrees)
    R = np.array([[np.cos(t), -np.sin(t)], [np.sin(t), np.cos(t)]])
    return v[:, :2].astype(np.float64) @ R.T


def ex1_copied_code(n: int = 2000, seed: int = 0) -> dict[str, dict[str, float]]:
    """Exercise 1: MIG (6), modularity (11) and SAP (10) of three codes of two toy factors v1, v2.

    "identity": z = (v1, v2); "copied": z = (v1, v1, v2), v1 held twice; "rotated": (v1, v2) turned by 45°.
    Returns {code: {"mig", "modularity", "sap"}}. MIG compares the two codes that know a factor best, so a copy
    gives factor v1 a gap of 0 and halves the mean; modularity looks at each code on its own, and a copy still
    knows one factor only. A 45° turn makes both codes know both factors equally: every score drops.
    """
    v = _toy_factors(n, 2, LEVELS, seed)
    codes = {"identity": v.astype(np.float64),
             "copied": v[:, [0, 0, 1]].astype(np.float64),
             "rotated": _rotate(v, 45.0)}
    return {name: {"mig": mig(z, v), "modularity": modularity(z, v), "sap": sap(z, v, seed=seed)}
            for name, z in codes.items()}


def ex2_rotated_dci(angles=(0.0, 22.5, 45.0), n: int = 400, levels: int = 4,
                    seed: int = 0) -> dict[float, dict[str, float]]:
    """Exercise 2: DCI (7)-(9) of a code made of two toy factors turned by each angle.

    Factors take `levels` values (few classes keep the gradient-boosted trees fast). Returns
    {angle: {"disentanglement", "completeness", "informativeness"}} (informativeness on held-out rows).
    At 0° each code serves one factor (D = C = 1); at 45° each factor needs both codes equally, so both scores
    fall towards 0, while the information is all still there (a turn loses nothing).
    """
    v = _toy_factors(n, 2, levels, seed)
    jitter = np.random.default_rng(seed + 1).uniform(-0.3, 0.3, size=v.shape)   # so the classes are not points
    out = {}
    for a in angles:
        d = dci(_rotate(v + jitter, a), v, seed=seed)
        out[a] = {"disentanglement": d["disentanglement"], "completeness": d["completeness"],
                  "informativeness": d["informativeness_test"]}
    return out


def ex3_brow_without_emotions(train_frames: int = 800, test_frames: int = 300,
                              seed: int = 0) -> dict[str, dict[str, float]]:
    """Exercise 3: the probe (3)-(4) on what SynthTalk draws, with the clips' emotions and with them taken out.

    Frames are drawn as in the notebook (mixed_frames of 8 training and 8 test clips; no pixels are rendered).
    "with": as drawn; "without": the same frames with every emotion set to neutral at intensity 0.
    Returns {"with" | "without": {factor: test R²}} for the five factors of PROBE_DYN. By notebook 01's eq. (2)
    the brow blendshape weight is b_t plus the emotion's brow share, and the lid openness (1 - β_t) times the
    emotion's widening: without emotions both are exact linear functions of the factor and R² is 1.
    """
    rng = np.random.default_rng(seed)
    cols = [FACTOR_NAMES.index(f) for f in PROBE_DYN]
    f_tr, e_tr = mixed_frames(motion_bank("train", 8, seed=seed + 1), rng, train_frames)
    f_te, e_te = mixed_frames(motion_bank("test", 8, seed=seed), rng, test_frames)
    out = {}
    for case in ("with", "without"):
        if case == "without":
            f_tr, f_te = f_tr.copy(), f_te.copy()
            f_tr[:, FACTOR_NAMES.index("emotion_intensity")] = 0.0
            f_te[:, FACTOR_NAMES.index("emotion_intensity")] = 0.0
            e_tr, e_te = np.zeros_like(e_tr), np.zeros_like(e_te)       # emotion 0 is neutral
        r2 = probe_r2(drawn_dynamics(f_tr, e_tr), f_tr[:, cols], drawn_dynamics(f_te, e_te), f_te[:, cols])
        out[case] = {f: float(v) for f, v in zip(PROBE_DYN, r2)}
    return out


CHECKPOINTS = ("face_latent_s128e_readout", "face_latent_s128pp_cross", "face_latent_s128",
               "face_latent_s128_consist", "face_latent_s128_noconsist")


def ex4_leaks(checkpoints=CHECKPOINTS) -> dict[str, dict]:
    """Exercise 4: which block leaks the most, and how much, factor by factor?

    From each checkpoint's shipped evaluation record (labkit/assets/NAME.eval.json, `labkit eval latent`): the
    per-factor test R² of the leak probes, z_dyn -> each pose factor and z_pose -> each expression factor.
    Returns {checkpoint: {"block": the block with the largest single leak, "factor": that factor, "r2": its R²,
    "mean": the mean leak of that block, the figure compared with the bar of 0.10}}. A mean over factors can pass
    the bar while one factor fails it: negative R² on some factors hide a positive one.
    """
    out = {}
    for name in checkpoints:
        rec = json.loads((ASSETS / f"{name}.eval.json").read_text())
        worst = None
        for block, key in (("z_dyn", "leak_dyn_to_pose"), ("z_pose", "leak_pose_to_dyn")):
            per_factor = rec["per_factor_r2"][key]                        # {factor: test R²}
            factor = max(per_factor, key=per_factor.get)
            if worst is None or per_factor[factor] > worst["r2"]:
                worst = {"block": block, "factor": factor, "r2": float(per_factor[factor]),
                         "mean": float(rec[f"{key}_r2"])}
        out[name.removeprefix("face_latent_")] = worst
    return out


if __name__ == "__main__":
    print(ex1_copied_code())
    print(ex2_rotated_dci())
    print(ex3_brow_without_emotions())
    print(ex4_leaks())
