"""Analysis-by-synthesis (valence, arousal) estimates for edits of *synthetic* faces.

On the project's procedural faces the ground truth is known: for an identity we can render its face at
any (v, a). An edit of that identity is assigned the (v, a) of the closest jitter-free template on a
regular grid (mean absolute pixel difference, optionally restricted to a face box). This needs no
trained regressor, so the demo can report RMSE/SAGR/CCC of CAAE edits against their target labels on
held-out identities in seconds. It is only meaningful for images of the synthetic renderer.
"""

from __future__ import annotations

import numpy as np

from caae_tf.images import to_float


def render_templates(identity: int, seed: int, size: int, steps: int = 21) -> tuple[np.ndarray, np.ndarray]:
    """Jitter-free renders of ``identity`` over a ``steps``×``steps`` (v, a) grid on [-1, 1]².

    Returns (templates float32 [steps², S, S, 3] in [-1, 1], labels float32 [steps², 2]).
    """
    from data_prep.synthetic import render_face, sample_identity

    factors = sample_identity(seed, identity)
    values = np.linspace(-1.0, 1.0, steps, dtype=np.float32)
    labels = np.array([(v, a) for v in values for a in values], np.float32)
    templates = np.stack([to_float(render_face(factors, float(v), float(a), size, jitter=False)) for v, a in labels])
    return templates, labels


def estimate_va(images: np.ndarray, templates: np.ndarray, labels: np.ndarray, crop: float = 0.15) -> np.ndarray:
    """(v, a) of the nearest template (L1 over the central face box, ``crop`` trimmed per side) per image."""
    s = images.shape[1]
    c = int(round(crop * s))
    win = (slice(None), slice(c, s - c), slice(c, s - c))
    flat_t = templates[win].reshape(len(templates), -1)
    out = np.empty((len(images), 2), np.float32)
    for i, img in enumerate(images):
        d = np.abs(flat_t - img[win[1:]].reshape(1, -1)).mean(axis=1)
        out[i] = labels[int(np.argmin(d))]
    return out
