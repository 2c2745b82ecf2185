"""Identity details kept through reenactment: a person's glasses and hair, and dlib's sense of who they are.

A reenactment must keep everything of the source that is not motion (VASA-1 §3.1: appearance and identity
come from the source alone). SynthTalk knows each person's accessories and hair style, so both are read
from the output by classifiers trained on exact renders of train people (a logistic regression on the
eye crop for glasses, on the whole frame shrunk to 32 px for the hair style), and scored where they are
right about the exact render of the same frame:

- ``glasses_kept`` / ``hair_kept``: the share of cross-identity reenactments (person A with person B's
  pose and dynamics) whose glasses (any or none) and hair style read as A's, among the pairs whose exact
  render reads right; ``accessories_kept`` is the glasses figure (the bar);
- ``glasses_reader_acc`` / ``hair_reader_acc``: each classifier's accuracy on the exact renders of test
  people, so that a figure above is read with the instrument's own reliability beside it;
- ``dlib_distance``: the mean Euclidean distance between dlib's 128-D face embeddings of each reenactment
  and of its exact render (dlib's unit: one person's photos are usually within 0.6), both aligned by the
  exact render's true landmarks (a 128 px face is too small for dlib's detector to find reliably).
"""
from __future__ import annotations

import numpy as np
import torch
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from labkit.faces.identity import identity_embedding
from labkit.faces.landmarks import Face
from labkit.latent.data import MotionBank, PairSampler, mixed_frames
from labkit.latent.model import at_size
from labkit.latent.parts import face_crops
from labkit.synthtalk.identity import HAIR_STYLES, sample_identity

ATTRIBUTES = ("glasses", "hair")


def identity_attributes(ids) -> dict[str, np.ndarray]:
    """SynthTalk's truth for people `ids` (N,): glasses (N,) 1 for any glasses, 0 for none; hair (N,) an index
    into HAIR_STYLES."""
    people = [sample_identity(int(i)) for i in ids]
    return {"glasses": np.array([p.glasses != "none" for p in people], np.int64),
            "hair": np.array([HAIR_STYLES.index(p.hair_style) for p in people], np.int64)}


def attribute_features(images: torch.Tensor, landmarks: torch.Tensor) -> dict[str, np.ndarray]:
    """What each classifier reads of images (N, 3, H, W) in [0, 1] with landmarks (N, 68, 2): glasses the eye
    crop, hair the whole frame shrunk to 32 px; {attribute: (N, P) float32}."""
    return {"glasses": face_crops(images, torch.as_tensor(landmarks), "eyes").flatten(1).numpy(),
            "hair": at_size(images, 32).flatten(1).numpy()}


def fit_attribute_readers(sampler: PairSampler, bank: MotionBank, rng: np.random.Generator, *, size: int,
                          n: int = 1500, batch: int = 64) -> dict:
    """One classifier per ATTRIBUTES, fitted on n exact renders of the sampler's people with bank motion,
    seen at `size` px (the size of the images it will read)."""
    ids = sampler.identities[rng.integers(len(sampler.identities), size=n)]
    f, e = mixed_frames(bank, rng, n)
    feats: dict[str, list[np.ndarray]] = {a: [] for a in ATTRIBUTES}
    for k in range(0, n, batch):
        img, lm = sampler.render_with_landmarks(ids[k:k + batch], f[k:k + batch], e[k:k + batch])
        img, lm = frames_at(img, lm, size)
        for a, x in attribute_features(img, lm).items():
            feats[a].append(x)
    truth = identity_attributes(ids)
    return {a: make_pipeline(StandardScaler(), LogisticRegression(C=0.01, max_iter=2000))
            .fit(np.concatenate(feats[a]), truth[a]) for a in ATTRIBUTES}


def frames_at(images: torch.Tensor, landmarks: torch.Tensor | np.ndarray | None, size: int):
    """Renders (N, 3, S, S) at `size` px as the model draws them (each pixel the mean of the finer ones,
    labkit.latent.model.at_size), and their landmarks (N, 68, 2) in that frame's pixels (None stays None)."""
    lm = None if landmarks is None else torch.as_tensor(landmarks) * (size / images.shape[-1])
    return at_size(images, size), lm


def _face(landmarks: np.ndarray) -> Face:
    lo, hi = landmarks.min(0), landmarks.max(0)
    pad = 0.15 * (hi - lo)
    return Face(np.r_[lo - pad, hi + pad].astype(np.float32), 1.0, landmarks.astype(np.float32), "truth")


def _uint8(images: torch.Tensor) -> np.ndarray:
    return (images.clamp(0, 1) * 255).round().to(torch.uint8).permute(0, 2, 3, 1).numpy()


@torch.no_grad()
def details_kept(model, sampler: PairSampler, bank: MotionBank, readers: dict, rng: np.random.Generator,
                 pairs: int = 64, batch: int = 16) -> dict:
    """The figures of the module docstring for `pairs` cross-identity reenactments of the sampler's people.
    The sampler renders at the model's driver size; outputs and exact renders are compared at the model's own."""
    src_ids = sampler.identities[rng.integers(len(sampler.identities), size=pairs)]
    drv_ids = sampler.identities[rng.integers(len(sampler.identities), size=pairs)]
    fs, es = mixed_frames(bank, rng, pairs)
    fd, ed = mixed_frames(bank, rng, pairs)
    truth = identity_attributes(src_ids)
    reads = {a: {"exact": [], "out": []} for a in ATTRIBUTES}
    distances = []
    for k in range(0, pairs, batch):
        sl = slice(k, k + batch)
        src = sampler.render(src_ids[sl], fs[sl], es[sl])
        drv = sampler.render(drv_ids[sl], fd[sl], ed[sl])
        exact, lm = sampler.render_with_landmarks(src_ids[sl], fd[sl], ed[sl])
        out = model.reenact(src, drv).float().clamp(0, 1)
        exact, lm = frames_at(exact, lm, out.shape[-1])
        for name, images in (("exact", exact), ("out", out)):
            for a, x in attribute_features(images, lm).items():
                reads[a][name].append(readers[a].predict(x))
        for a_img, b_img, points in zip(_uint8(out), _uint8(exact), lm.numpy()):
            face = _face(points)
            distances.append(float(np.linalg.norm(identity_embedding(a_img, face) - identity_embedding(b_img, face))))
    result = {}
    for a in ATTRIBUTES:
        exact, out = np.concatenate(reads[a]["exact"]), np.concatenate(reads[a]["out"])
        right = exact == truth[a]
        result[f"{a}_reader_acc"] = round(float(right.mean()), 4)
        result[f"{a}_kept"] = round(float((out[right] == truth[a][right]).mean()), 4) if right.any() else float("nan")
        result[f"{a}_pairs"] = int(right.sum())
    result["accessories_kept"] = result["glasses_kept"]
    result["dlib_distance"] = round(float(np.mean(distances)), 4)
    return result
