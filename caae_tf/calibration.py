"""Calibrated label interpolation for the cGAN (beyond paper 001; ``caae-tf calibrate``).

Paper 001 interpolates the one-hot label from Neutral to an emotion, v(α) = (1−α)·e_Neutral + α·e_i, and
notes in its discussion (§5) that the judged valence/arousal follow *curves*, not straight lines, and that
"for a more even interpolation, the single interpolation step intervals can easily be modified". This
module measures those curves once with a valence/arousal regressor and inverts them.

Paths and patches
    The five extreme emotions are ordered by the angle of their measured α = 1 reading around the measured
    Neutral reading, and each adjacent pair (i, j) (cyclically, five pairs) spans a *patch* of
    conditioning vectors

        v(α, β) = (1 − α)·e_Neutral + α·((1 − β)·e_i + β·e_j),      α, β ∈ [0, 1],

    which keeps Σ v = 1 (paper 001 Eq. 2). β = 0 and β = 1 are paper 001's Neutral → emotion paths; α = 1 is
    the emotion → emotion path from i to j; any other (α, β) is the path from Neutral to a point β of the
    emotion → emotion path, at step α. The regressor's mean reading over ``num_z`` noise vectors (the same
    vectors for every v, so differences between conditionings are not blurred by noise-vector sampling) is
    recorded on an α × β grid: ``va_raw[pair, α, β]``.

Monotone lookup tables
    Along each path (every β column over α, every α row over β) the reading is projected onto the chord from
    the path's first to its last point; the projection is clipped to the chord and made non-decreasing by
    isotonic regression (pool-adjacent-violators), and the point is moved along the chord by the change
    (its perpendicular part is kept). Both passes alternate until every path is monotone; path end points
    never move, so neighbouring patches keep sharing their Neutral → emotion edge. The result, ``va``, is
    what inversion uses; ``max_adjustment`` says how far the raw readings were moved.

Inversion (target (V, A) → conditioning vector)
    Every grid cell is split into two triangles; a target inside a triangle gets the barycentric mixture of
    the triangle's three conditioning vectors (a convex combination, so it stays on the simplex) and is
    reached exactly in the piecewise-linear model. When several triangles hold it (patches that overlap),
    the one giving the smallest α (the least extreme conditioning) wins. A target outside every triangle
    (outside the reachable region) is **clamped** to the nearest point of the calibrated mesh and reported
    as such (``clamped``, ``distance``, and the point that will be reached, ``expected``); a target outside
    [−1, 1]² is an error. The same computation runs eagerly here and inside the exported SavedModel
    (:func:`invert_graph`, TensorFlow ops only).

:func:`calibrated_alphas` also gives the paper's own suggestion directly: an α schedule along one
Neutral → emotion path whose steps are evenly spaced in the monotone reading.
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

import numpy as np

from caae_tf import labels as _labels
from caae_tf.errors import ModelError, UserError

#: File name of the tables in a run dir and in a SavedModel's ``assets/``.
CALIBRATION_FILE = "calibration.json"
FORMAT = "caae_tf.calibration/1"
NUM_EMOTIONS = len(_labels.CGAN_EMOTIONS)
#: Barycentric tolerance for "inside a triangle".
INSIDE_EPS = 1e-5
#: Distance below which a target counts as reached (not clamped).
CLAMP_TOL = 1e-4
#: Triangles with less area than this (in (v, a) units²) are dropped as degenerate.
MIN_AREA = 1e-9


class CalibrationError(UserError, ValueError):
    """Bad calibration request or tables (target outside [-1, 1]², unreadable/invalid tables file)."""


# ------------------------------------------------------------------------------------ monotone tables

def pava_nondecreasing(y: Sequence[float]) -> np.ndarray:
    """Isotonic (non-decreasing) least-squares fit of ``y`` by pool-adjacent-violators (equal weights)."""
    y = np.asarray(y, np.float64)
    blocks: list[list[float]] = []  # [mean, count]
    for value in y:
        blocks.append([float(value), 1.0])
        while len(blocks) > 1 and blocks[-2][0] > blocks[-1][0]:
            m2, n2 = blocks.pop()
            m1, n1 = blocks.pop()
            blocks.append([(m1 * n1 + m2 * n2) / (n1 + n2), n1 + n2])
    return np.concatenate([np.full(int(n), m) for m, n in blocks]) if blocks else y


def chord_projection(points: np.ndarray) -> tuple[np.ndarray, np.ndarray, float]:
    """(s, unit chord d, chord length L) for points [K, 2]: s_k = <p_k − p_0, d>."""
    p = np.asarray(points, np.float64)
    chord = p[-1] - p[0]
    length = float(np.linalg.norm(chord))
    if length < 1e-12:
        return np.zeros(len(p)), np.zeros(2), 0.0
    d = chord / length
    return (p - p[0]) @ d, d, length


def monotone_path(points: np.ndarray) -> np.ndarray:
    """Points [K, 2] moved along their chord so their projection on it is clipped to [0, L] and non-decreasing
    (isotonic regression); end points are kept; a path with coinciding ends is returned unchanged."""
    p = np.asarray(points, np.float64).copy()
    s, d, length = chord_projection(p)
    if length == 0.0:
        return p
    s_new = pava_nondecreasing(np.clip(s, 0.0, length))
    return p + (s_new - s)[:, None] * d[None, :]


def is_monotone_path(points: np.ndarray, tol: float = 1e-9) -> bool:
    s, _, length = chord_projection(points)
    return length == 0.0 or bool(np.all(np.diff(s) >= -tol))


def make_monotone_grid(grid: np.ndarray, max_rounds: int = 50) -> np.ndarray:
    """Alternate :func:`monotone_path` over every α column (β fixed) and every α > 0 row (β varying) of a
    patch grid [Ka, Kb, 2] until all of them are monotone (module docstring)."""
    g = np.asarray(grid, np.float64).copy()
    for _ in range(max_rounds):
        for j in range(g.shape[1]):
            g[:, j] = monotone_path(g[:, j])
        for i in range(1, g.shape[0]):
            g[i] = monotone_path(g[i])
        if all(is_monotone_path(g[:, j]) for j in range(g.shape[1])) and all(
                is_monotone_path(g[i]) for i in range(1, g.shape[0])):
            break
    return g


def patch_weights(pair: tuple[int, int], alphas: Sequence[float], betas: Sequence[float]) -> np.ndarray:
    """Conditioning vectors v(α, β) [Ka, Kb, 6] of one patch (module docstring)."""
    i, j = pair
    a = np.asarray(alphas, np.float64)[:, None, None]
    b = np.asarray(betas, np.float64)[None, :, None]
    eye = np.eye(NUM_EMOTIONS)
    w = (1.0 - a) * eye[0] + a * ((1.0 - b) * eye[i] + b * eye[j])
    return w


def order_by_angle(neutral: np.ndarray, endpoints: dict[int, np.ndarray]) -> list[int]:
    """Emotion indices sorted by the angle of (endpoint − neutral), counter-clockwise from +valence."""
    ang = {k: math.atan2(float(p[1] - neutral[1]), float(p[0] - neutral[0])) % (2 * math.pi)
           for k, p in endpoints.items()}
    return sorted(ang, key=ang.get)


def adjacent_pairs(order: Sequence[int]) -> list[tuple[int, int]]:
    """Cyclically adjacent pairs of an angular order: [(o0, o1), (o1, o2), …, (o_last, o0)]."""
    order = list(order)
    return [(order[k], order[(k + 1) % len(order)]) for k in range(len(order))]


# ------------------------------------------------------------------------------------------ tables

@dataclass
class CalibrationTables:
    """Measured and monotone (v, a) readings on the α × β grid of every patch (module docstring)."""

    alphas: list[float]
    betas: list[float]
    pairs: list[tuple[int, int]]
    va_raw: np.ndarray  # [P, Ka, Kb, 2]
    va: np.ndarray  # [P, Ka, Kb, 2], monotone
    sd: np.ndarray | None = None  # [P, Ka, Kb, 2] standard deviation over noise vectors
    meta: dict[str, Any] = field(default_factory=dict)

    # ------------------------------------------------------------------ derived
    @property
    def neutral_va(self) -> np.ndarray:
        return np.asarray(self.va[0, 0, 0], np.float64)

    @property
    def max_adjustment(self) -> float:
        return float(np.max(np.linalg.norm(self.va - self.va_raw, axis=-1))) if self.va.size else 0.0

    def path(self, emotion: int | str) -> np.ndarray:
        """Monotone readings [Ka, 2] along Neutral → ``emotion`` (α = ``alphas``)."""
        e = emotion if isinstance(emotion, (int, np.integer)) else _labels.cgan_index(emotion)
        for p, (i, j) in enumerate(self.pairs):
            if i == e:
                return self.va[p, :, 0]
            if j == e:
                return self.va[p, :, -1]
        raise CalibrationError(f"emotion {emotion!r} is not calibrated (pairs {self.pairs})")

    def emotion_path(self, pair_index: int) -> np.ndarray:
        """Monotone readings [Kb, 2] along emotion i → emotion j at α = 1 for ``pairs[pair_index]``."""
        return self.va[pair_index, -1, :]

    def is_monotone(self) -> bool:
        for p in range(len(self.pairs)):
            g = self.va[p]
            if not all(is_monotone_path(g[:, j]) for j in range(g.shape[1])):
                return False
            if not all(is_monotone_path(g[i]) for i in range(1, g.shape[0])):
                return False
        return True

    def triangles(self) -> tuple[np.ndarray, np.ndarray]:
        """(vertices [T, 3, 2] float32, conditioning vectors [T, 3, 6] float32) of the non-degenerate triangles
        of every grid cell (two per cell)."""
        verts, wts = [], []
        for p, pair in enumerate(self.pairs):
            g = self.va[p]
            w = patch_weights(pair, self.alphas, self.betas)
            for i in range(g.shape[0] - 1):
                for j in range(g.shape[1] - 1):
                    for tri in (((i, j), (i + 1, j), (i + 1, j + 1)), ((i, j), (i + 1, j + 1), (i, j + 1))):
                        pts = np.array([g[a, b] for a, b in tri])
                        area = 0.5 * abs((pts[1, 0] - pts[0, 0]) * (pts[2, 1] - pts[0, 1])
                                         - (pts[2, 0] - pts[0, 0]) * (pts[1, 1] - pts[0, 1]))
                        if area > MIN_AREA:
                            verts.append(pts)
                            wts.append(np.array([w[a, b] for a, b in tri]))
        if not verts:
            raise CalibrationError("the calibration has no non-degenerate triangle (the generator's reading "
                                   "does not move with the label)")
        return np.asarray(verts, np.float32), np.asarray(wts, np.float32)

    # ------------------------------------------------------------------ I/O
    def to_dict(self) -> dict[str, Any]:
        names = _labels.CGAN_EMOTIONS
        out = {
            "format": FORMAT,
            "emotions": list(names),
            "alphas": [float(a) for a in self.alphas],
            "betas": [float(b) for b in self.betas],
            "pairs": [[names[i], names[j]] for i, j in self.pairs],
            "neutral_va": [float(x) for x in self.neutral_va],
            "max_adjustment": self.max_adjustment,
            "va": self.va.tolist(),  # full precision: rounding could undo the monotone adjustment
            "va_raw": np.round(self.va_raw, 6).tolist(),
            "meta": self.meta,
        }
        if self.sd is not None:
            out["sd"] = np.round(self.sd, 6).tolist()
        return out

    @classmethod
    def from_dict(cls, d: dict[str, Any], source: str = "calibration") -> "CalibrationTables":
        if not isinstance(d, dict) or d.get("format") != FORMAT:
            found = d.get("format") if isinstance(d, dict) else None
            raise CalibrationError(f"{source}: not a {FORMAT} file (format {found!r})")
        try:
            pairs = [(_labels.cgan_index(a), _labels.cgan_index(b)) for a, b in d["pairs"]]
            va = np.asarray(d["va"], np.float64)
            va_raw = np.asarray(d["va_raw"], np.float64)
            alphas, betas = [float(a) for a in d["alphas"]], [float(b) for b in d["betas"]]
        except (KeyError, TypeError, ValueError) as exc:
            raise CalibrationError(f"{source}: invalid calibration tables ({exc})") from None
        shape = (len(pairs), len(alphas), len(betas), 2)
        if va.shape != shape or va_raw.shape != shape or not np.all(np.isfinite(va)):
            raise CalibrationError(f"{source}: tables have shape {va.shape}, expected {shape} (finite values)")
        sd = np.asarray(d["sd"], np.float64) if "sd" in d else None
        return cls(alphas, betas, pairs, va_raw, va, sd, dict(d.get("meta") or {}))

    def save(self, path: str | os.PathLike) -> str:
        from caae_tf.atomic import atomic_write_text

        path = os.fspath(path)
        atomic_write_text(path, json.dumps(self.to_dict(), indent=1))
        return path

    @classmethod
    def load(cls, path: str | os.PathLike) -> "CalibrationTables":
        path = os.fspath(path)
        try:
            with open(path, encoding="utf-8") as fh:
                data = json.load(fh)
        except OSError as exc:
            raise CalibrationError(f"{path}: cannot read calibration tables: {exc.strerror}") from None
        except ValueError as exc:
            raise CalibrationError(f"{path}: not valid JSON: {exc}") from None
        return cls.from_dict(data, source=path)


def build_tables(measure: Callable[[np.ndarray], tuple[np.ndarray, np.ndarray]], *, alpha_steps: int = 11,
                 beta_steps: int = 6, meta: dict | None = None) -> CalibrationTables:
    """Measure and tabulate: ``measure(weights [M, 6]) -> (mean (v, a) [M, 2], sd [M, 2])`` is called once for
    the six one-hot vectors (to order the emotions by angle and pick the adjacent pairs) and once for the
    remaining grid points of every patch."""
    if alpha_steps < 2 or beta_steps < 2:
        raise CalibrationError(f"alpha_steps and beta_steps must be >= 2, got {alpha_steps}, {beta_steps}")
    alphas = np.linspace(0.0, 1.0, int(alpha_steps))
    betas = np.linspace(0.0, 1.0, int(beta_steps))
    mean1, sd1 = measure(np.eye(NUM_EMOTIONS, dtype=np.float32))
    mean1, sd1 = np.asarray(mean1, np.float64), np.asarray(sd1, np.float64)
    neutral = mean1[0]
    order = order_by_angle(neutral, {k: mean1[k] for k in range(1, NUM_EMOTIONS)})
    pairs = adjacent_pairs(order)
    # every distinct conditioning vector once: α = 0 is Neutral for all β, one-hots are already measured
    grids = [patch_weights(p, alphas, betas) for p in pairs]
    flat = np.concatenate([g[1:].reshape(-1, NUM_EMOTIONS) for g in grids], axis=0)
    key = lambda w: tuple(np.round(w, 9))  # noqa: E731
    known = {key(np.eye(NUM_EMOTIONS)[k]): (mean1[k], sd1[k]) for k in range(NUM_EMOTIONS)}
    uniq: dict[tuple, np.ndarray] = {}
    for w in flat:
        if key(w) not in known:
            uniq.setdefault(key(w), w)
    if uniq:
        m, s = measure(np.asarray(list(uniq.values()), np.float32))
        for k, mm, ss in zip(uniq, np.asarray(m, np.float64), np.asarray(s, np.float64)):
            known[k] = (mm, ss)
    va_raw = np.zeros((len(pairs), len(alphas), len(betas), 2))
    sd = np.zeros_like(va_raw)
    for p, g in enumerate(grids):
        for i in range(len(alphas)):
            for j in range(len(betas)):
                w = g[i, j] if i > 0 else np.eye(NUM_EMOTIONS)[0]
                va_raw[p, i, j], sd[p, i, j] = known[key(w)]
    va = np.stack([make_monotone_grid(va_raw[p]) for p in range(len(pairs))])
    return CalibrationTables(list(alphas), list(betas), pairs, va_raw, va, sd, dict(meta or {}))


# ------------------------------------------------------------------------------------------ inversion

def invert_graph(tf, vertices, weights, targets) -> dict[str, Any]:
    """Targets (v, a) [N, 2] → conditioning vectors through the triangles (module docstring), TF ops only.

    ``vertices`` [T, 3, 2], ``weights`` [T, 3, 6] (float32 tensors). Returns ``emotion_weights`` [N, 6],
    ``expected_valence_arousal`` [N, 2] (the point reached in the calibrated model: the target itself unless
    clamped), ``clamped`` bool [N], ``distance`` [N] (from the target to that point), ``alpha`` [N]
    (1 − the Neutral weight). Range checks are the caller's.
    """
    p = tf.cast(targets, tf.float32)[:, None, :]  # [N, 1, 2]
    a, b, c = vertices[:, 0], vertices[:, 1], vertices[:, 2]  # [T, 2]
    v0, v1 = b - a, c - a
    v2 = p - a  # [N, T, 2]
    d00 = tf.reduce_sum(v0 * v0, -1)
    d01 = tf.reduce_sum(v0 * v1, -1)
    d11 = tf.reduce_sum(v1 * v1, -1)
    d20 = tf.reduce_sum(v2 * v0, -1)
    d21 = tf.reduce_sum(v2 * v1, -1)
    den = d00 * d11 - d01 * d01
    lb = (d11 * d20 - d01 * d21) / den
    lc = (d00 * d21 - d01 * d20) / den
    la = 1.0 - lb - lc
    lam_in = tf.stack([la, lb, lc], -1)  # [N, T, 3]
    inside = tf.reduce_min(lam_in, -1) >= -INSIDE_EPS

    def segment(pa, pb):
        d = pb - pa
        t = tf.clip_by_value(tf.reduce_sum((p - pa) * d, -1) / tf.maximum(tf.reduce_sum(d * d, -1), 1e-12), 0.0, 1.0)
        q = pa + t[..., None] * d
        return t, tf.norm(p - q, axis=-1)

    t_ab, d_ab = segment(a, b)
    t_bc, d_bc = segment(b, c)
    t_ca, d_ca = segment(c, a)
    zeros = tf.zeros_like(t_ab)
    lam_edges = tf.stack([
        tf.stack([1.0 - t_ab, t_ab, zeros], -1),
        tf.stack([zeros, 1.0 - t_bc, t_bc], -1),
        tf.stack([t_ca, zeros, 1.0 - t_ca], -1),
    ], -2)  # [N, T, 3 edges, 3]
    d_edges = tf.stack([d_ab, d_bc, d_ca], -1)  # [N, T, 3]
    e_best = tf.argmin(d_edges, axis=-1, output_type=tf.int32)
    lam_edge = tf.gather(lam_edges, e_best, axis=2, batch_dims=2)
    d_edge = tf.reduce_min(d_edges, -1)
    lam = tf.where(inside[..., None], tf.clip_by_value(lam_in, 0.0, 1.0), lam_edge)
    lam = lam / tf.reduce_sum(lam, -1, keepdims=True)
    dist = tf.where(inside, tf.zeros_like(d_edge), d_edge)
    alpha_t = tf.reduce_sum(lam * (1.0 - weights[None, :, :, 0]), -1)  # [N, T]
    key = tf.where(inside, alpha_t - 10.0, dist)
    k = tf.argmin(key, axis=1, output_type=tf.int32)  # [N]
    lam_k = tf.gather(lam, k, axis=1, batch_dims=1)  # [N, 3]
    w = tf.einsum("nk,nkj->nj", lam_k, tf.gather(weights, k))
    w = w / tf.reduce_sum(w, -1, keepdims=True)
    expected = tf.einsum("nk,nkj->nj", lam_k, tf.gather(vertices, k))
    dist_k = tf.gather(dist, k, axis=1, batch_dims=1)
    return {
        "emotion_weights": w,
        "expected_valence_arousal": expected,
        "clamped": dist_k > CLAMP_TOL,
        "distance": dist_k,
        "alpha": 1.0 - w[:, 0],
    }


def check_targets(targets) -> np.ndarray:
    """Targets as float32 [N, 2]; :class:`CalibrationError` unless finite and inside [−1, 1]²."""
    t = np.asarray(targets, np.float64)
    if t.ndim == 1 and t.shape[0] == 2:
        t = t[None]
    if t.ndim != 2 or t.shape[1] != 2:
        raise CalibrationError(f"valence/arousal targets must have shape [N, 2], got {list(t.shape)}")
    bad = ~np.all(np.isfinite(t) & (np.abs(t) <= 1.0), axis=1)
    if np.any(bad):
        k = int(np.argmax(bad))
        raise CalibrationError(f"valence/arousal target #{k} = ({t[k, 0]:g}, {t[k, 1]:g}) is outside [-1, 1]²")
    return t.astype(np.float32)


def invert(tables: CalibrationTables, targets) -> dict[str, np.ndarray]:
    """:func:`invert_graph` run eagerly (numpy in, numpy out) after :func:`check_targets`."""
    from caae_tf.tf_env import tf as _tf

    tf = _tf()
    t = check_targets(targets)
    verts, wts = tables.triangles()
    out = invert_graph(tf, tf.constant(verts), tf.constant(wts), tf.constant(t))
    return {k: v.numpy() for k, v in out.items()}


def calibrated_alphas(tables: CalibrationTables, emotion: int | str, steps: int = 11) -> np.ndarray:
    """α schedule [steps] along Neutral → ``emotion`` whose readings are evenly spaced along the path's chord
    (paper 001 §5: larger steps where the expression changes slowly)."""
    if steps < 2:
        raise CalibrationError(f"steps must be >= 2, got {steps}")
    path = tables.path(emotion)
    s, _, length = chord_projection(path)
    a = np.asarray(tables.alphas, np.float64)
    if length == 0.0:
        return np.linspace(0.0, 1.0, steps).astype(np.float32)
    s = s + 1e-9 * np.arange(len(s))  # strictly increasing for interpolation (monotone tables may be flat)
    return np.interp(np.linspace(s[0], s[-1], steps), s, a).astype(np.float32)


# ------------------------------------------------------------------------------------------ measuring

def judge(generator, regressor, z: np.ndarray, weights: np.ndarray, batch_size: int = 256) -> np.ndarray:
    """The regressor's (v, a) of G(z_n, w_n) for every row, float32 [N, 2]."""
    out = []
    for s in range(0, len(z), batch_size):
        imgs = generator.generate(z[s:s + batch_size], weights[s:s + batch_size], batch_size=batch_size)
        out.append(np.asarray(regressor.predict_va(imgs), np.float32).reshape(-1, 2))
    return np.concatenate(out) if out else np.zeros((0, 2), np.float32)


def measure_fn(generator, regressor, num_z: int, seed: int, batch_size: int = 256, progress=None):
    """``measure(weights [M, 6]) -> (mean [M, 2], sd [M, 2])`` over the same ``num_z`` noise vectors
    (``generator.sample_z(num_z, seed)``) for every conditioning vector."""
    z = np.asarray(generator.sample_z(num_z, seed), np.float32)

    def measure(weights):
        weights = np.asarray(weights, np.float32)
        means, sds = [], []
        for w in weights:
            va = judge(generator, regressor, z, np.repeat(w[None], num_z, 0), batch_size)
            means.append(va.mean(0))
            sds.append(va.std(0, ddof=1) if num_z > 1 else np.zeros(2))
            if progress is not None:
                progress(num_z)
        return np.asarray(means), np.asarray(sds)

    return measure


def calibrate(generator, regressor, *, num_z: int = 100, seed: int = 12345, alpha_steps: int = 11,
              beta_steps: int = 6, batch_size: int = 256, meta: dict | None = None, progress=None) -> CalibrationTables:
    """Measure the tables of ``generator`` (:class:`caae_tf.generate.CGANSampler`) with ``regressor``
    (``predict_va(images) -> [N, 2]``). ``seed`` picks the noise vectors (keep it apart from evaluation seeds)."""
    if num_z < 2:
        raise CalibrationError(f"num_z must be >= 2, got {num_z}")
    meta = {"num_z": int(num_z), "seed": int(seed), **(meta or {})}
    return build_tables(measure_fn(generator, regressor, num_z, seed, batch_size, progress),
                        alpha_steps=alpha_steps, beta_steps=beta_steps, meta=meta)


def target_grid(step: float = 0.1) -> np.ndarray:
    """Targets on a regular grid over [−1, 1]² (row-major, valence outer), float32 [K, 2]."""
    n = int(round(2.0 / step)) + 1
    vals = np.round(np.linspace(-1.0, 1.0, n), 6)
    vv, aa = np.meshgrid(vals, vals, indexing="ij")
    return np.stack([vv.ravel(), aa.ravel()], 1).astype(np.float32)


def evaluate(generator, regressor, tables: CalibrationTables, *, step: float = 0.1, num_z: int = 50,
             seed: int = 777, batch_size: int = 256, progress=None) -> dict[str, Any]:
    """Reach of the calibrated mapping beside the uncalibrated one on the reachable targets of a grid.

    Targets: :func:`target_grid` (``step``) kept where :func:`invert` does not clamp. For each, ``num_z``
    noise vectors (``seed``, apart from the calibration's) are generated with the calibrated weights and with
    the uncalibrated mapping (:func:`caae_tf.labels.va_to_emotion_weights`: Neutral → the mixture of the
    circumplex neighbours, α = 1) and judged by ``regressor``. Reports RMSE of the mean judged (v, a) per
    target against the target (``rmse_mean``: what calibration controls), and RMSE over every image
    (``rmse_images``: includes the spread between noise vectors).
    """
    grid = target_grid(step)
    inv = invert(tables, grid)
    keep = ~inv["clamped"]
    targets = grid[keep]
    w_cal = inv["emotion_weights"][keep]
    w_unc = np.stack([_labels.va_to_emotion_weights(float(v), float(a)) for v, a in targets]) if len(targets) else \
        np.zeros((0, NUM_EMOTIONS), np.float32)
    z = np.asarray(generator.sample_z(num_z, seed), np.float32)
    rows = []
    result: dict[str, Any] = {"step": step, "num_z": num_z, "seed": seed, "num_targets": int(len(targets)),
                              "num_grid": int(len(grid))}
    for name, w in (("calibrated", w_cal), ("uncalibrated", w_unc)):
        means, errs = [], []
        for t, wt in zip(targets, w):
            va = judge(generator, regressor, z, np.repeat(wt[None], num_z, 0), batch_size)
            means.append(va.mean(0))
            errs.append(va - t[None])
            if progress is not None:
                progress(num_z)
        means = np.asarray(means).reshape(-1, 2)
        errs = np.concatenate(errs) if errs else np.zeros((0, 2))
        d = means - targets
        result[name] = {
            "rmse_mean": float(np.sqrt(np.mean(np.sum(d ** 2, 1)))) if len(d) else None,
            "rmse_mean_valence": float(np.sqrt(np.mean(d[:, 0] ** 2))) if len(d) else None,
            "rmse_mean_arousal": float(np.sqrt(np.mean(d[:, 1] ** 2))) if len(d) else None,
            "max_error_mean": float(np.max(np.linalg.norm(d, axis=1))) if len(d) else None,
            "rmse_images": float(np.sqrt(np.mean(np.sum(errs ** 2, 1)))) if len(errs) else None,
        }
        for t, m, wt in zip(targets, means, w):
            rows.append({"mapping": name, "target_valence": float(t[0]), "target_arousal": float(t[1]),
                         "judged_valence": float(m[0]), "judged_arousal": float(m[1]),
                         **{f"w_{e}": float(x) for e, x in zip(_labels.CGAN_EMOTIONS, wt)}})
    result["rows"] = rows
    return result


def load_for_model(path: str | os.PathLike) -> CalibrationTables | None:
    """The tables stored with a cGAN run dir (``RUN/calibration.json``) or SavedModel
    (``SM/assets/calibration.json``), or None."""
    path = os.fspath(path)
    for cand in (os.path.join(path, CALIBRATION_FILE), os.path.join(path, "assets", CALIBRATION_FILE)):
        if os.path.isfile(cand):
            return CalibrationTables.load(cand)
    if not os.path.exists(path):
        raise ModelError(f"{path}: not found")
    return None
