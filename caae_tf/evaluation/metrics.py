"""Evaluation metrics of paper 000 §IV-A (Lindt et al. 2019): RMSE, CCC and SAGR.

Pure numpy, no TensorFlow. Every function takes two equally long 1-D vectors ``y_true`` (x in the
paper) and ``y_pred`` (y) and returns a Python float.

* RMSE(x, y) = sqrt(1/n · Σ (x_i − y_i)²)
* CCC(x, y)  = 2ρσ_xσ_y / (σ_x² + σ_y² + (μ_x − μ_y)²) = 2·cov(x, y) / (var(x) + var(y) + (μ_x − μ_y)²)
  with *population* (ddof = 0) variances and covariance (Lin 1989). Degenerate case: when both vectors
  are constant and equal the formula is 0/0; we define CCC = 1.0 there (the vectors agree perfectly and
  this is the limit of CCC(x, x) = 1). Every other constant case is well defined by the formula
  (e.g. both constant but different → 0.0; one constant → 0.0).
* SAGR(x, y) = 1/n · Σ δ(sign(x_i), sign(y_i)), δ the Kronecker delta. ``zero="exact"`` (default) is the
  paper's formula taken literally with ``np.sign``: sign(0) = 0, so a 0 matches only another exact 0 (a
  neutral target 0.0 is therefore never matched by a non-zero prediction — this matters for Table IV,
  where 1/7 of the grid targets of each dimension are 0). ``zero="positive"`` treats 0 as positive
  (sign(v) = +1 for v ≥ 0).

:func:`va_metrics` bundles the three for the two columns (valence, arousal) in the layout of the paper's
Tables I, III and IV.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

METRIC_NAMES: tuple[str, ...] = ("rmse", "sagr", "ccc")
DIMENSIONS: tuple[str, ...] = ("valence", "arousal")


def _pair(y_true, y_pred) -> tuple[np.ndarray, np.ndarray]:
    x = np.asarray(y_true, dtype=np.float64).reshape(-1)
    y = np.asarray(y_pred, dtype=np.float64).reshape(-1)
    if x.shape != y.shape:
        raise ValueError(f"y_true and y_pred must have the same length, got {x.size} and {y.size}")
    if x.size == 0:
        raise ValueError("metrics need at least one value")
    if not (np.all(np.isfinite(x)) and np.all(np.isfinite(y))):
        raise ValueError("metrics need finite values (drop NaN/inf rows first)")
    return x, y


def rmse(y_true, y_pred) -> float:
    """Root mean squared error sqrt(mean((x − y)²)) (paper 000 §IV-A-1)."""
    x, y = _pair(y_true, y_pred)
    return float(np.sqrt(np.mean((x - y) ** 2)))


def ccc(y_true, y_pred) -> float:
    """Concordance correlation coefficient (paper 000 §IV-A-2), population moments; 1.0 when x ≡ y constant."""
    x, y = _pair(y_true, y_pred)
    mx, my = x.mean(), y.mean()
    vx, vy = np.mean((x - mx) ** 2), np.mean((y - my) ** 2)
    cov = np.mean((x - mx) * (y - my))
    denom = vx + vy + (mx - my) ** 2
    if denom == 0.0:  # both constant and equal: perfect agreement
        return 1.0
    return float(2.0 * cov / denom)


def _sign(v: np.ndarray, zero: str) -> np.ndarray:
    if zero == "exact":
        return np.sign(v)
    if zero == "positive":
        return np.where(v >= 0, 1.0, -1.0)
    raise ValueError(f"zero must be 'exact' or 'positive', got {zero!r}")


def sagr(y_true, y_pred, zero: str = "exact") -> float:
    """Sign agreement mean(δ(sign(x), sign(y))) (paper 000 §IV-A-3); see module docstring for ``zero``."""
    x, y = _pair(y_true, y_pred)
    return float(np.mean(_sign(x, zero) == _sign(y, zero)))


def va_metrics(y_true, y_pred, zero: str = "exact") -> dict[str, dict[str, float]]:
    """RMSE/SAGR/CCC per dimension for [N, 2] (valence, arousal) arrays.

    Returns ``{"valence": {"rmse", "sagr", "ccc"}, "arousal": {...}}``.
    """
    t = np.asarray(y_true, dtype=np.float64)
    p = np.asarray(y_pred, dtype=np.float64)
    if t.ndim != 2 or t.shape[1] != 2 or p.shape != t.shape:
        raise ValueError(f"va_metrics needs two [N, 2] arrays, got {list(t.shape)} and {list(p.shape)}")
    out = {}
    for k, dim in enumerate(DIMENSIONS):
        out[dim] = {
            "rmse": rmse(t[:, k], p[:, k]),
            "sagr": sagr(t[:, k], p[:, k], zero=zero),
            "ccc": ccc(t[:, k], p[:, k]),
        }
    return out


def metrics_table(columns: dict[str, dict[str, float]]) -> "Any":
    """A pandas DataFrame with rows RMSE/SAGR/CCC and one column per entry of ``columns``.

    ``columns`` maps a column title (e.g. ``"valence"`` or ``"Extreme Arousal"``) to a metric dict as
    produced per dimension by :func:`va_metrics`. This is the layout of the paper's Tables I, III and IV.
    """
    import pandas as pd

    data = {title: [vals[m] for m in METRIC_NAMES] for title, vals in columns.items()}
    return pd.DataFrame(data, index=[m.upper() for m in METRIC_NAMES])


def format_table(columns: dict[str, dict[str, float]], title: str = "", digits: int = 3) -> str:
    """Plain-text table (rows RMSE/SAGR/CCC) for terminal output."""
    titles = list(columns)
    width = max(10, *(len(t) + 2 for t in titles))
    lines = [title] if title else []
    lines.append(" " * 6 + "".join(t.rjust(width) for t in titles))
    for m in METRIC_NAMES:
        cells = []
        for t in titles:
            v = columns[t][m]
            missing = v is None or (isinstance(v, float) and math.isnan(v))
            cells.append(("nan" if missing else f"{v:.{digits}f}").rjust(width))
        lines.append(m.upper().ljust(6) + "".join(cells))
    return "\n".join(lines)
