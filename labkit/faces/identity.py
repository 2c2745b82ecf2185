"""Identity embeddings: dlib's 128-D face recognition ResNet (a ResNet-34 variant trained with
a metric loss; 99.38 % on LFW), for identity-similarity metrics (VASA-1 §4 reports how well
generated faces keep the portrait's identity).

The network sees a 150 × 150 chip that dlib aligns from the 68 landmarks itself.
"""
from __future__ import annotations

import numpy as np

from labkit.faces import models
from labkit.faces.image import as_rgb
from labkit.faces.landmarks import Face, find_face

# dlib and face-alignment are imported where a detector is built: they take seconds to load and
# face-alignment is optional.

EMBEDDING_SIZE = 128


def identity_embedding(image, face: Face | None = None, *, name: str | None = None) -> np.ndarray:
    """(128,) float32 embedding of `face` in `image` (default: the face :func:`find_face` picks).
    dlib's unit: two photos of one person are usually within 0.6 Euclidean distance."""
    import dlib

    img = as_rgb(image, name=name)
    face = find_face(img, name=name) if face is None else face
    box = dlib.rectangle(*(int(round(float(v))) for v in face.box))
    shape = dlib.full_object_detection(box, [dlib.point(int(round(float(x))), int(round(float(y))))
                                             for x, y in face.landmarks])
    return np.asarray(models.dlib_recognizer().compute_face_descriptor(img, shape), np.float32)


def identity_similarity(a: np.ndarray, b: np.ndarray) -> float:
    """Cosine similarity of two embeddings (128,): 1 = the same direction.

    dlib's embeddings are not centred, so any two faces score high (SynthTalk: ~0.97-0.99 for
    one identity, ~0.90-0.97 across identities; a real photo vs SynthTalk ~0.86-0.90). Compare
    scores with each other, or use Euclidean distance with dlib's 0.6 threshold."""
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    if not (a.shape == b.shape == (EMBEDDING_SIZE,)):
        raise ValueError(f"unexpected shapes {(a.shape, b.shape)}")
    return float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b) + 1e-12))
