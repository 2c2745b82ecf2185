"""Solutions to the exercises of notebook 04, "Walking through the latent space".

One function per exercise; each returns plain numbers so that tests/test_solutions_04.py can check them.
Equation numbers refer to the notebook. Every function runs in a few seconds on one CPU core, with the
shipped default face latent model.
"""
from __future__ import annotations

from functools import lru_cache

import numpy as np
import torch

from labkit.latent.data import MotionBank, PairSampler
from labkit.latent.interpolate import lerp, slerp
from labkit.latent.losses import READOUT
from labkit.latent.model import load_face_latent
from labkit.latent.readout import factor_reader
from labkit.synthtalk.dataset import split_identities
from labkit.synthtalk.factors import FACTOR_NAMES, FACTORS, factors_to_array, neutral_factors

PEOPLE = split_identities("test")[[3, 11, 20]]       # A and B of the notebook, and one more test person


@lru_cache(maxsize=1)
def _setup():
    """The default model and a renderer of test people at the model's driver size (256 px)."""
    model = load_face_latent()
    empty = MotionBank(np.zeros((0, len(FACTOR_NAMES))), np.zeros(0, np.int64), np.zeros(0, np.int64))
    return model, PairSampler("test", model.cfg.driver_size, empty)


def _path(steps: int, **ends) -> np.ndarray:
    """`steps` factor rows, neutral except the named factors, which move linearly between their two ends."""
    rows = np.repeat(factors_to_array(neutral_factors(1)), steps, 0)
    for name, (a, b) in ends.items():
        rows[:, FACTOR_NAMES.index(name)] = np.linspace(a, b, steps)
    return rows


def _frames(identity, rows: np.ndarray) -> torch.Tensor:
    _, sampler = _setup()
    return sampler.render(np.full(len(rows), identity), rows, np.zeros(len(rows), np.int64))


def _read(name: str, raw: torch.Tensor) -> np.ndarray:
    """Eq. (10) inverted: E_mot's own dynamics output (..., Z_dyn) -> the readout's value of factor `name`."""
    lo, hi = FACTORS[name][:2]
    return lo + 0.5 * (hi - lo) * (raw[..., READOUT.index(name)].numpy() + 1)


@torch.no_grad()
def ex1_gaze_readout(steps: int = 7, end: float = 20.0) -> dict:
    """Exercise 1: the gaze turns from -end to +end degrees (yaw of the eyes only), in `steps` true frames.

    For each of three test people: "read", where the readout (10) says the gaze is in each true frame;
    "read_lerp", the readout of the straight line (2) between the two end codes; "slope", the read span over
    the true span. "slope_direction" is what the factor direction (11), measured on training people,
    predicts for that slope: d_gaze_yaw's change of the readout coordinate over its ideal change.
    """
    model, _ = _setup()
    true = np.linspace(-end, end, steps)
    t = torch.linspace(0, 1, steps)[:, None]
    out = {"true": true, "people": {}}
    for p in PEOPLE:
        z_pose, z_dyn = model.encode_motion(_frames(p, _path(steps, gaze_yaw=(-end, end))))
        raw = model.generator_dyn(z_pose, z_dyn)                          # (steps, Z_dyn): what (10) reads
        read = _read("gaze_yaw", raw)
        read_lerp = _read("gaze_yaw", lerp(raw[0], raw[-1], t))
        out["people"][int(p)] = {"read": read, "read_lerp": read_lerp,
                                 "slope": float((read[-1] - read[0]) / (true[-1] - true[0]))}
    d = factor_reader(model).direction("gaze_yaw", -end, end)
    lo, hi = FACTORS["gaze_yaw"][:2]
    out["slope_direction"] = float(d[6 + READOUT.index("gaze_yaw")] / (2 * 2 * end / (hi - lo)))
    return out


@torch.no_grad()
def ex2_norms(steps: int = 7) -> dict:
    """Exercise 2: code lengths along lerp (2) and slerp (3), for z_dyn (A, neutral -> jaw 0.9, eyes shut,
    brows up, as in section 3) and for z_id (A -> B, section 4).

    For each pair: "omega_deg" (the angle of (3)), "lerp" and "slerp" (the lengths along each path), "eq4"
    (the lengths (4) predicts for lerp), "ratio_mid" (lerp's length over slerp's at t = 1/2) and
    "cos_half" (cos(Omega / 2), what that ratio is for two codes of equal length). For z_dyn also "true"
    (the lengths of the true in-between frames' codes).
    """
    model, _ = _setup()
    t = torch.linspace(0, 1, steps)[:, None]
    tt = t.numpy()[:, 0].astype(np.float64)
    truth = _frames(PEOPLE[0], _path(steps, jaw=(0, 0.9), blink=(0, 1), brow=(0, 0.8)))
    z_dyn = model.encode_motion(truth)[1]
    faces = torch.cat([_frames(p, _path(1)) for p in PEOPLE[:2]])
    z_id = model.encode_codes(faces)[0]
    out = {}
    for name, (a, b) in {"z_dyn": (z_dyn[0], z_dyn[-1]), "z_id": (z_id[0], z_id[1])}.items():
        na, nb, ab = float(a.norm()), float(b.norm()), float(a @ b)
        omega = np.arccos(ab / (na * nb))
        eq4 = np.sqrt((1 - tt) ** 2 * na ** 2 + 2 * tt * (1 - tt) * ab + tt ** 2 * nb ** 2)
        n_lerp, n_slerp = lerp(a, b, t).norm(dim=1).numpy(), slerp(a, b, t).norm(dim=1).numpy()
        out[name] = {"omega_deg": float(np.degrees(omega)), "lerp": n_lerp, "slerp": n_slerp, "eq4": eq4,
                     "norm_a": na, "norm_b": nb, "ratio_mid": float(n_lerp[steps // 2] / n_slerp[steps // 2]),
                     "cos_half": float(np.cos(omega / 2))}
    out["z_dyn"]["true"] = z_dyn.norm(dim=1).numpy()
    return out


@torch.no_grad()
def ex3_identity_morph(steps: int = 7) -> dict:
    """Exercise 3: morph A into B three ways and read each decoded face's identity back, eq. (8).

    "both": the volume lerped and z_id slerped (section 4); "volume": the volume lerped, z_id kept at A's;
    "z_id": the volume kept at A's, z_id slerped. Per variant: "c_A", "c_B" (cosines of the re-encoded
    identity code to A's and B's) and "cross" (the t at which c_B first exceeds c_A, linearly interpolated
    between steps; 1.0 if it never does).
    """
    model, _ = _setup()
    t = torch.linspace(0, 1, steps)[:, None]
    k0 = torch.zeros(steps, dtype=torch.long)
    lat = model.encode(torch.cat([_frames(p, _path(1)) for p in PEOPLE[:2]]))
    vol_path = lerp(lat.volume[0:1], lat.volume[1:2], t.view(-1, 1, 1, 1, 1))
    zid_path = slerp(lat.z_id[0], lat.z_id[1], t)
    variants = {"both": (vol_path, zid_path), "volume": (vol_path, lat.z_id[k0]), "z_id": (lat.volume[k0], zid_path)}
    out = {}
    for name, (vol, zid) in variants.items():
        mixed = lat._replace(volume=vol, z_id=zid, z_pose=lat.z_pose[k0], z_dyn=lat.z_dyn[k0])
        faces = model.decode(model.canonicalize(mixed), zid, mixed.z_pose, mixed.z_dyn)
        back = model.encode_codes(faces)[0]
        c_A = torch.nn.functional.cosine_similarity(back, lat.z_id[0][None], dim=1).numpy()
        c_B = torch.nn.functional.cosine_similarity(back, lat.z_id[1][None], dim=1).numpy()
        gap, tt = c_B - c_A, t.numpy()[:, 0]
        j = int(np.argmax(gap > 0)) if (gap > 0).any() else None
        cross = 1.0 if j is None else float(tt[j - 1] + (tt[j] - tt[j - 1]) * -gap[j - 1] / (gap[j] - gap[j - 1]))
        out[name] = {"c_A": c_A, "c_B": c_B, "cross": cross}
    return out


@torch.no_grad()
def ex4_evenness(steps: int = 13) -> dict[str, float]:
    """Exercise 4: the section 3 walk (A, neutral -> jaw 0.9, eyes shut, brows up) with `steps` steps.

    Returns the evenness U of eq. (7) for the true frames ("truth", at the model's 128 px), the lerp walk and
    the slerp walk, and each walk's mean PSNR (5) against the truth ("psnr_lerp", "psnr_slerp").
    """
    from labkit.latent.model import at_size
    from labkit.metrics import psnr

    model, _ = _setup()
    t = torch.linspace(0, 1, steps)[:, None]
    k0 = torch.zeros(steps, dtype=torch.long)
    truth = _frames(PEOPLE[0], _path(steps, jaw=(0, 0.9), blink=(0, 1), brow=(0, 0.8)))
    small = at_size(truth, model.cfg.image_size)
    lat = model.encode(truth[[0, -1]])
    canon = model.canonicalize(lat)

    def evenness(x):
        d = (x[1:] - x[:-1]).abs().flatten(1).mean(1)
        return float(d.max() / d.mean())

    out = {"truth": evenness(small)}
    for name, walk in (("lerp", lerp), ("slerp", slerp)):
        dec = model.decode(canon[k0], lat.z_id[k0], lat.z_pose[k0], walk(lat.z_dyn[0], lat.z_dyn[1], t))
        out[name] = evenness(dec)
        out[f"psnr_{name}"] = float(psnr(dec, small).mean())
    return out
