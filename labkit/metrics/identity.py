"""CSIM: identity similarity, the mean cosine similarity between the embedding of the source
portrait and the embeddings of the generated frames (Zakharov et al., "Few-Shot Adversarial
Learning of Realistic Neural Talking Head Models", ICCV 2019, and many talking-face
papers since).

The embeddings are computed elsewhere: a face-recognition descriptor (e.g. dlib's) for real
photos, or the face latent model's identity latent z_id for SynthTalk. CSIM is 1 when every
frame keeps the portrait's identity direction and falls as the identity drifts.
"""
from __future__ import annotations

import numpy as np


def csim(reference, frames) -> float:
    """Mean cosine similarity of reference (D,) with each row of frames (T, D), in [-1, 1].

    Raises ValueError on shapes that do not fit or on a zero-norm vector (no direction).
    """
    reference = np.asarray(reference, dtype=np.float64)
    frames = np.asarray(frames, dtype=np.float64)
    if reference.ndim != 1 or reference.shape[0] < 1:
        raise ValueError(f"reference must be one embedding (D,), got shape {reference.shape}")
    if frames.ndim != 2 or frames.shape[0] < 1:
        raise ValueError(f"frames must be per-frame embeddings (T, D) with T >= 1, got shape {frames.shape}")
    if frames.shape[1] != reference.shape[0]:
        raise ValueError(f"frames and reference must have the same embedding size D, "
                         f"got {frames.shape[1]} and {reference.shape[0]}")
    if not (np.all(np.isfinite(reference)) and np.all(np.isfinite(frames))):
        raise ValueError("embeddings contain NaN or inf")
    ref_norm = np.linalg.norm(reference)
    frame_norms = np.linalg.norm(frames, axis=1)               # (T,)
    if ref_norm == 0:
        raise ValueError("reference embedding has zero norm; its cosine similarity is undefined")
    if np.any(frame_norms == 0):
        raise ValueError(f"frame embeddings {np.flatnonzero(frame_norms == 0).tolist()} have zero norm; "
                         f"their cosine similarity is undefined")
    cos = frames @ reference / (frame_norms * ref_norm)        # (T,)
    return float(np.clip(cos, -1.0, 1.0).mean())
