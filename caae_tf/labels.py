"""Emotion labels: (valence, arousal) handling, circumplex coordinates and interpolation vectors.

Pure numpy (no TensorFlow), shared by the synthetic renderer, the data loaders, both models and the
experiments.

Circumplex coordinates
----------------------
Discrete emotions are placed on Russell's circumplex (Russell, J. A. (1980). A circumplex model of
affect. J. Personality and Social Psychology 39(6), 1161-1178), at the angles his direct circular
scaling gives the nearest affect words (Fig. 4 there; 0° = pleasure, 90° = arousal), on a circle of
radius :data:`CIRCUMPLEX_RADIUS` = 0.8 so that the points stay inside [-1, 1]² with room for jitter:

=========  ====================  =======  ==================
emotion    Russell (1980) word   angle    (valence, arousal)
=========  ====================  =======  ==================
neutral    (origin)              –        (0.00, 0.00)
happiness  happy                 7.8°     (0.79, 0.11)
surprise   astonished            69.8°    (0.28, 0.75)
anger      angry                 99.0°    (-0.13, 0.79)
fear       afraid                116.6°   (-0.36, 0.72)
disgust    distressed*           138.0°   (-0.59, 0.54)
contempt   frustrated*           160.0°   (-0.75, 0.27)
sadness    sad                   207.5°   (-0.71, -0.37)
=========  ====================  =======  ==================

(*) Disgust and contempt are not among Russell's 28 words. Disgust takes the angle of "distressed",
the nearest negative-valence/moderate-arousal word (disgust is unpleasant and moderately activating in
Scherer, 2005, "What are emotions? And how can they be measured?", Soc. Sci. Inf. 44(4)); contempt is
placed between "frustrated" (141°) and "miserable" (188.7°) at 160°, i.e. unpleasant with low-moderate
arousal. These two positions are our documented choice, not Russell's.

Paper 001 order
---------------
The cGAN's conditioning vector v ∈ [0,1]^6 follows paper 001 §3.2: (Neutral, Sadness, Disgust, Fear,
Anger, Happiness); v1 = Neutral (index 0). Interpolation (§3.3, Eq. 3-4): v = (1-α)·e_Neutral + α·e_i.
"""

from __future__ import annotations

import math
from typing import Iterable, Sequence

import numpy as np

#: Paper 001's conditioning order; index 0 is v1 = Neutral.
CGAN_EMOTIONS: tuple[str, ...] = ("neutral", "sadness", "disgust", "fear", "anger", "happiness")
#: The five "extreme" emotions of paper 001 (everything but Neutral).
EXTREME_EMOTIONS: tuple[str, ...] = CGAN_EMOTIONS[1:]
#: AffectNet's 8 expression classes in their official order (codes 0-7); the MobileNetV2 regressor's head.
AFFECTNET_EMOTIONS: tuple[str, ...] = (
    "neutral", "happiness", "sadness", "surprise", "fear", "disgust", "anger", "contempt",
)
#: Every emotion name the project knows (synthetic renderer, loaders).
ALL_EMOTIONS: tuple[str, ...] = (
    "neutral", "happiness", "sadness", "surprise", "fear", "disgust", "anger", "contempt",
)

CIRCUMPLEX_RADIUS = 0.8
#: Angles in degrees on Russell's circumplex (see module docstring for sources).
CIRCUMPLEX_ANGLES: dict[str, float] = {
    "happiness": 7.8,
    "surprise": 69.8,
    "anger": 99.0,
    "fear": 116.6,
    "disgust": 138.0,
    "contempt": 160.0,
    "sadness": 207.5,
}

#: Common spellings mapped to the canonical names above.
EMOTION_ALIASES: dict[str, str] = {
    "happy": "happiness", "joy": "happiness", "sad": "sadness", "angry": "anger", "afraid": "fear",
    "fearful": "fear", "disgusted": "disgust", "surprised": "surprise", "contemptuous": "contempt",
    "neutrality": "neutral", "calm": "neutral",
}


def canonical_emotion(name: str) -> str:
    """Return the canonical lower-case emotion name, or raise ``ValueError`` naming the valid ones."""
    key = str(name).strip().lower()
    key = EMOTION_ALIASES.get(key, key)
    if key not in ALL_EMOTIONS:
        raise ValueError(f"unknown emotion {name!r}; valid: {', '.join(ALL_EMOTIONS)}")
    return key


def circumplex_va(emotion: str) -> tuple[float, float]:
    """(valence, arousal) of a discrete emotion on the circumplex (module docstring)."""
    emotion = canonical_emotion(emotion)
    if emotion == "neutral":
        return (0.0, 0.0)
    theta = math.radians(CIRCUMPLEX_ANGLES[emotion])
    return (CIRCUMPLEX_RADIUS * math.cos(theta), CIRCUMPLEX_RADIUS * math.sin(theta))


def cgan_index(emotion: str) -> int:
    """Index of ``emotion`` in :data:`CGAN_EMOTIONS` (ValueError for surprise/contempt)."""
    emotion = canonical_emotion(emotion)
    if emotion not in CGAN_EMOTIONS:
        raise ValueError(f"emotion {emotion!r} is not one of the cGAN's classes {CGAN_EMOTIONS}")
    return CGAN_EMOTIONS.index(emotion)


def one_hot(index: int | Sequence[int], depth: int = len(CGAN_EMOTIONS)) -> np.ndarray:
    idx = np.asarray(index, dtype=np.int64)
    return np.eye(depth, dtype=np.float32)[idx]


def tile_labels(va: np.ndarray, repeat: int = 50) -> np.ndarray:
    """Repeat each of (valence, arousal) ``repeat`` times: [N,2] → [N, 2·repeat] (paper 000 §III-B).

    The layout is [v, v, ..., v, a, a, ..., a] ("scaled to 50 times its size").
    """
    va = np.asarray(va, dtype=np.float32)
    return np.repeat(va, repeat, axis=-1)


def validate_va(va: np.ndarray, *, clip: bool = False, what: str = "valence/arousal") -> np.ndarray:
    """Check that labels are finite and inside [-1, 1]; clip when ``clip`` else raise ``ValueError``."""
    va = np.asarray(va, dtype=np.float32)
    if not np.all(np.isfinite(va)):
        raise ValueError(f"{what} must be finite, got {va.tolist()}")
    if np.any(np.abs(va) > 1.0):
        if clip:
            return np.clip(va, -1.0, 1.0)
        raise ValueError(f"{what} must lie in [-1, 1], got {va.tolist()}")
    return va


def grid_labels(n: int = 7, extent: float = 0.75) -> np.ndarray:
    """The paper's n×n grid of (valence, arousal) labels, row-major.

    Rows go from high valence (top) to low valence; columns from high arousal (left) to low arousal
    (paper 000 Fig. 2/3). For n=7: values 0.75, 0.5, ..., -0.75. Returns [n·n, 2] float32.
    """
    values = np.linspace(extent, -extent, n, dtype=np.float32)
    vv, aa = np.meshgrid(values, values, indexing="ij")
    return np.stack([vv.ravel(), aa.ravel()], axis=1).astype(np.float32)


def extreme_label_mask(labels: np.ndarray, extent: float = 0.75) -> np.ndarray:
    """True for the four corner labels (±extent, ±extent) of the grid (paper 000's "extreme" images)."""
    labels = np.asarray(labels)
    return np.all(np.isclose(np.abs(labels), extent), axis=-1)


# ---------------------------------------------------------------- paper 001 label interpolation (§3.3)

def interpolation_weights(
    emotion: str | int,
    alphas: Iterable[float] | None = None,
    *,
    source: str | int = "neutral",
    steps: int = 11,
) -> np.ndarray:
    """Conditioning vectors from ``source`` to ``emotion``: v = (1-α)·e_source + α·e_emotion.

    The paper's scheme (§3.3) is ``source="neutral"`` with ``alphas = 0, 0.1, ..., 1`` (11 steps);
    it keeps Eq. (2) Σ v_i = 1 and Eq. (4) v1 + v_i = 1. Any schedule ``alphas`` ⊂ [0, 1] may be given
    (the paper suggests non-uniform steps), and ``source`` may be a second extreme emotion.
    Returns float32 [len(alphas), 6].
    """
    i = emotion if isinstance(emotion, (int, np.integer)) else cgan_index(emotion)
    j = source if isinstance(source, (int, np.integer)) else cgan_index(source)
    if not (0 <= i < 6 and 0 <= j < 6):
        raise ValueError(f"emotion indices must be in 0..5, got {i}, {j}")
    a = np.linspace(0.0, 1.0, steps) if alphas is None else np.asarray(list(alphas), dtype=np.float64)
    if a.ndim != 1 or np.any(a < 0) or np.any(a > 1) or not np.all(np.isfinite(a)):
        raise ValueError(f"alphas must be a 1-D schedule in [0, 1], got {a.tolist()}")
    v = np.zeros((a.size, 6), dtype=np.float64)
    v[:, j] += 1.0 - a
    v[:, i] += a
    return v.astype(np.float32)


def validate_emotion_weights(weights: np.ndarray, *, atol: float = 1e-4, renormalise: bool = False) -> np.ndarray:
    """Check v ∈ [0,1]^6 with Σ v = 1 (Eq. 2-3). With ``renormalise`` divide by the sum instead of raising
    (negative entries are always an error)."""
    w = np.asarray(weights, dtype=np.float32)
    if w.ndim != 2 or w.shape[-1] != 6:
        raise ValueError(f"emotion weights must have shape [N, 6], got {list(w.shape)}")
    if not np.all(np.isfinite(w)) or np.any(w < -atol):
        raise ValueError("emotion weights must be finite and non-negative")
    sums = w.sum(axis=-1)
    if renormalise:
        if np.any(sums <= 0):
            raise ValueError("emotion weights sum to zero; cannot renormalise")
        return (w / sums[:, None]).astype(np.float32)
    if np.any(np.abs(sums - 1.0) > atol):
        raise ValueError(f"emotion weights must sum to 1 (Eq. 2), got sums {np.round(sums, 4).tolist()}")
    return w


def va_to_emotion_weights(valence: float, arousal: float) -> np.ndarray:
    """Beyond the paper: conditioning weights that aim at a target (valence, arousal).

    The five extreme cGAN emotions sit at their circumplex points c_k, Neutral at the origin. The target t
    lies in the angular sector between two adjacent extreme emotions i, j (sorted by angle; the sector that
    contains no emotion, between Happiness at 7.8° and Sadness at 207.5° going clockwise through
    low arousal, is bridged by the same pair). We solve t = w_i·c_i + w_j·c_j for w_i, w_j ≥ 0 and set
    w_Neutral = 1 - w_i - w_j. If the target lies outside the triangle (Neutral, c_i, c_j) the weights are
    scaled down to sum to 1 (the closest reachable point along the same direction). Returns float32 [6].
    """
    t = np.array([valence, arousal], dtype=np.float64)
    validate_va(t, what="target valence/arousal")
    w = np.zeros(6, dtype=np.float64)
    if np.allclose(t, 0):
        w[0] = 1.0
        return w.astype(np.float32)
    names = sorted(EXTREME_EMOTIONS, key=lambda e: CIRCUMPLEX_ANGLES[e])
    angles = [CIRCUMPLEX_ANGLES[e] for e in names]
    theta = math.degrees(math.atan2(t[1], t[0])) % 360.0
    pair = (names[-1], names[0])  # wrap-around sector
    for k in range(len(names) - 1):
        if angles[k] <= theta <= angles[k + 1]:
            pair = (names[k], names[k + 1])
            break
    ci, cj = np.array(circumplex_va(pair[0])), np.array(circumplex_va(pair[1]))
    basis = np.stack([ci, cj], axis=1)
    coef = np.linalg.lstsq(basis, t, rcond=None)[0]
    coef = np.clip(coef, 0.0, None)
    total = coef.sum()
    if total > 1.0:
        coef = coef / total
    w[cgan_index(pair[0])] += coef[0]
    w[cgan_index(pair[1])] += coef[1]
    w[0] = max(0.0, 1.0 - coef.sum())
    return (w / w.sum()).astype(np.float32)
