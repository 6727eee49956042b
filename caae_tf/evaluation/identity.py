"""Identity preservation (beyond the papers): how far an edit moves a face in an identity network's space.

For every edit we embed the input x and the edit G(E(x), y) with an identity network (any object with
``embed(images_f32 [-1,1]) -> [N, D]``, e.g. :meth:`caae_tf.models.vgg_face.IdentityFeatures.embed`, the
L2-normalised VGG-Face fc7 descriptor) and report the **cosine distance**

    d(x, x') = 1 − ⟨e, e'⟩ / (‖e‖·‖e'‖)  ∈ [0, 2]   (= ½‖ê − ê'‖² for the normalised embeddings ê),

0 meaning the same direction in descriptor space. The summary gives the mean/median distance and the share
of edits with d < ``threshold``. The default threshold 0.4 is the cosine-distance verification threshold
commonly used for VGG-Face descriptors (e.g. the deepface library's original value); it is *not* calibrated
on this project's identity network, so the summary also reports a baseline: the mean distance between
embeddings of *different* input images (different people in CelebA/AffectNet). An editor that preserves
identity keeps d well below that baseline.
"""

from __future__ import annotations

import numpy as np

DEFAULT_THRESHOLD = 0.4


def embed(identity, images: np.ndarray) -> np.ndarray:
    """``identity.embed(images)`` as float64 numpy [N, D]."""
    return np.asarray(identity.embed(np.asarray(images, np.float32)), dtype=np.float64).reshape(len(images), -1)


def cosine_distance(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Row-wise 1 − cos(a_i, b_i) for [N, D] arrays (a zero vector has distance 1 to everything)."""
    a = np.asarray(a, np.float64)
    b = np.asarray(b, np.float64)
    na = np.linalg.norm(a, axis=1)
    nb = np.linalg.norm(b, axis=1)
    denom = na * nb
    cos = np.where(denom > 0, np.sum(a * b, axis=1) / np.where(denom > 0, denom, 1.0), 0.0)
    return 1.0 - np.clip(cos, -1.0, 1.0)


def between_image_baseline(embeddings: np.ndarray, max_images: int = 256) -> float | None:
    """Mean cosine distance over all pairs of distinct rows (the first ``max_images``); None for < 2 rows."""
    e = np.asarray(embeddings, np.float64)[:max_images]
    if len(e) < 2:
        return None
    n = np.linalg.norm(e, axis=1, keepdims=True)
    e = e / np.where(n > 0, n, 1.0)
    cos = e @ e.T
    iu = np.triu_indices(len(e), k=1)
    return float(np.mean(1.0 - np.clip(cos[iu], -1.0, 1.0)))


def identity_summary(distances: np.ndarray, threshold: float = DEFAULT_THRESHOLD,
                     baseline: float | None = None) -> dict:
    """Mean/median/max distance, share below ``threshold`` and the between-image baseline."""
    d = np.asarray(distances, np.float64)
    d = d[np.isfinite(d)]
    if d.size == 0:
        return {"metric": "cosine distance", "count": 0}
    return {
        "metric": "cosine distance",
        "count": int(d.size),
        "mean": float(d.mean()),
        "median": float(np.median(d)),
        "max": float(d.max()),
        "threshold": float(threshold),
        "share_below_threshold": float(np.mean(d < threshold)),
        "baseline_between_inputs": baseline,
    }
