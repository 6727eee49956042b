"""Ground-truth evaluation of an editor on synthetic faces (independent of every trained network).

On the project's procedural faces the perfect edit is known: ``render_face(sample_identity(seed, k), v, a,
jitter=False)`` draws identity k at any (v, a). For each held-out identity we render an input at a random
(v0, a0), edit it to the 49 labels of the 7×7 grid and compare every edit with the renderer's own drawing at
that label. Nothing here uses a trained network: the judge is the renderer.

Regions (per identity, from its 49 ground-truth renders and the input):

* ``whole``: every pixel;
* ``face``: the bounding box of the head outline (``data_prep.synthetic``'s layout, no jitter);
* ``expression``: pixels whose value changes with the label (max over labels and channels of
  |truth_l − truth_mean| > ``expression_threshold``, default 2/255 on the 0..1 scale);
* ``identity``: all other pixels (background, hair, glasses, skin away from mouth/eyes/brows).

Each region's mean absolute error (0..1 scale) is reported for the edits and for the *do-nothing* editor
(returns the input), with their ratio. The oracle (:mod:`caae_tf.evaluation.synthetic_oracle`, nearest
jitter-free template) reads (v, a) off each edit, scored with RMSE/SAGR/CCC against the targets.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass

import numpy as np

from caae_tf.evaluation.metrics import va_metrics
from caae_tf.evaluation.synthetic_oracle import estimate_va, render_templates
from caae_tf.images import to_float, to_uint8
from caae_tf.labels import grid_labels

HELDOUT_FIRST_IDENTITY = 100_000
REGIONS = ("whole", "face", "expression", "identity")


@dataclass
class TruthCase:
    """One held-out identity: its input, the 49 targets and their ground-truth renders, region masks."""

    identity: int
    input_va: np.ndarray  # [2]
    x: np.ndarray  # [S, S, 3] float32 in [-1, 1]
    labels: np.ndarray  # [L, 2]
    truth: np.ndarray  # [L, S, S, 3] float32 in [-1, 1]
    masks: dict[str, np.ndarray]  # region -> bool [S, S]
    seed: int = 0
    _templates: tuple | None = None

    def templates(self, steps: int = 21) -> tuple[np.ndarray, np.ndarray]:
        """The oracle's jitter-free templates of this identity (rendered once, then cached)."""
        if self._templates is None or len(self._templates[1]) != steps * steps:
            self._templates = render_templates(self.identity, self.seed, self.x.shape[0], steps)
        return self._templates


def face_box_mask(identity: int, seed: int, size: int) -> np.ndarray:
    """bool [S, S]: the bounding box of the head outline of ``identity`` drawn without jitter."""
    from data_prep.synthetic import _head_outline, layout_to_image, sample_identity

    pts = layout_to_image(_head_outline(sample_identity(seed, identity))) * size
    x0, y0 = np.floor(pts.min(axis=0)).astype(int)
    x1, y1 = np.ceil(pts.max(axis=0)).astype(int)
    mask = np.zeros((size, size), bool)
    mask[max(y0, 0): min(y1, size), max(x0, 0): min(x1, size)] = True
    return mask


def make_cases(identities: int = 6, *, seed: int = 0, size: int = 64, grid: int = 7, extent: float = 0.75,
               first_identity: int = HELDOUT_FIRST_IDENTITY, expression_threshold: float = 2 / 255,
               input_range: float = 1.0) -> list[TruthCase]:
    """Held-out identities ``first_identity ..`` rendered without jitter at (v0, a0) ~ U[-r, r]² (seeded)."""
    from data_prep.synthetic import render_face, sample_identity

    labels = grid_labels(grid, extent)
    rng = np.random.default_rng(seed + 1)
    cases = []
    for k in range(identities):
        ident = first_identity + k
        factors = sample_identity(seed, ident)
        v0, a0 = (float(t) for t in rng.uniform(-input_range, input_range, 2))
        x = to_float(render_face(factors, v0, a0, size, jitter=False))
        truth = np.stack([to_float(render_face(factors, float(v), float(a), size, jitter=False)) for v, a in labels])
        allimg = (np.concatenate([truth, x[None]]) + 1.0) / 2.0
        spread = np.abs(allimg - allimg.mean(axis=0, keepdims=True)).max(axis=(0, 3))
        expression = spread > expression_threshold
        masks = {"whole": np.ones((size, size), bool), "face": face_box_mask(ident, seed, size),
                 "expression": expression, "identity": ~expression}
        cases.append(TruthCase(ident, np.array([v0, a0], np.float32), x, labels, truth, masks, seed))
    return cases


def _region_mae(images: np.ndarray, truth: np.ndarray, masks: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Per image and region: mean |image − truth| on the 0..1 scale over the region's pixels and channels."""
    diff = np.abs(images.astype(np.float32) - truth.astype(np.float32)).mean(axis=-1) / 2.0  # [L, S, S]
    return {r: (diff[:, m].mean(axis=1) if m.any() else np.zeros(len(diff), np.float32)) for r, m in masks.items()}


def evaluate_editor(editor, cases: list[TruthCase], *, template_steps: int = 21,
                    sagr_zero: str = "exact") -> tuple[dict, "object", dict[int, np.ndarray]]:
    """Edit every case to its labels and compare with the ground truth.

    ``editor.edit(images f32 [N,S,S,3] in [-1,1], va [N,2]) -> f32 [N,S,S,3]``. Returns (summary dict,
    pandas DataFrame with one row per identity × label, {identity: edits}).
    """
    import pandas as pd

    rows, edits_by_id = [], {}
    targets, est_edit, est_noop = [], [], []
    for case in cases:
        n = len(case.labels)
        edits = np.asarray(editor.edit(np.repeat(case.x[None], n, 0), case.labels), np.float32)
        if edits.shape != case.truth.shape:
            raise ValueError(f"editor returned {edits.shape}, expected {case.truth.shape}")
        edits_by_id[case.identity] = edits
        noop = np.repeat(case.x[None], n, 0)
        mae_e = _region_mae(edits, case.truth, case.masks)
        mae_n = _region_mae(noop, case.truth, case.masks)
        templates, tlabels = case.templates(template_steps)
        ve = estimate_va(edits, templates, tlabels)
        vn = estimate_va(noop[:1], templates, tlabels).repeat(n, 0)
        targets.append(case.labels)
        est_edit.append(ve)
        est_noop.append(vn)
        for j in range(n):
            row = {"identity": case.identity, "input_valence": case.input_va[0], "input_arousal": case.input_va[1],
                   "valence": case.labels[j, 0], "arousal": case.labels[j, 1],
                   "oracle_valence": ve[j, 0], "oracle_arousal": ve[j, 1]}
            for r in REGIONS:
                row[f"mae_{r}"] = float(mae_e[r][j])
                row[f"noop_mae_{r}"] = float(mae_n[r][j])
            rows.append(row)
    table = pd.DataFrame(rows)
    targets, est_edit, est_noop = (np.concatenate(a).astype(np.float32) for a in (targets, est_edit, est_noop))
    mae = {}
    for r in REGIONS:
        e, n_ = float(table[f"mae_{r}"].mean()), float(table[f"noop_mae_{r}"].mean())
        mae[r] = {"edit": e, "do_nothing": n_, "ratio": e / n_ if n_ > 0 else float("inf")}
    summary = {
        "identities": [c.identity for c in cases],
        "labels_per_identity": int(len(cases[0].labels)) if cases else 0,
        "expression_pixel_fraction": float(np.mean([c.masks["expression"].mean() for c in cases])),
        "mae": mae,
        "oracle": va_metrics(targets, est_edit, zero=sagr_zero),
        "oracle_do_nothing": va_metrics(targets, est_noop, zero=sagr_zero),
    }
    return summary, table, edits_by_id


def comparison_strip(case: TruthCase, edits: np.ndarray, columns: int = 7) -> np.ndarray:
    """uint8 image: row 1 = input | edits to the grid diagonal; row 2 = blank | ground truth renders."""
    from caae_tf.images import make_grid

    n = len(case.labels)
    idx = np.linspace(0, n - 1, columns).round().astype(int)
    blank = np.zeros_like(to_uint8(case.x))
    tiles = [to_uint8(case.x)] + [to_uint8(edits[i]) for i in idx] + [blank] + [to_uint8(case.truth[i]) for i in idx]
    return make_grid(tiles, columns + 1)


def run_synthetic_truth(editor, out_dir: str, *, identities: int = 6, seed: int = 0, grid: int = 7,
                        extent: float = 0.75, strips: int = 3, cases: list[TruthCase] | None = None) -> dict:
    """Evaluate ``editor`` (see :func:`evaluate_editor`) and write ``synthetic_truth.csv``,
    ``synthetic_truth.json`` and ``synthetic_truth.png`` (input | edits over ground truth, one pair of rows
    per identity) into ``out_dir``. ``cases`` (from :func:`make_cases`) replaces the identities/seed/grid
    arguments when the caller already rendered them. Returns the summary."""
    from caae_tf.images import write_image

    os.makedirs(out_dir, exist_ok=True)
    if cases is None:
        cases = make_cases(identities, seed=seed, size=editor.image_size, grid=grid, extent=extent)
    summary, table, edits = evaluate_editor(editor, cases)
    table.to_csv(os.path.join(out_dir, "synthetic_truth.csv"), index=False)
    with open(os.path.join(out_dir, "synthetic_truth.json"), "w", encoding="utf-8") as fh:
        json.dump(summary, fh, indent=1, default=float)
    rows = [comparison_strip(c, edits[c.identity]) for c in cases[:strips]]
    if rows:
        write_image(os.path.join(out_dir, "synthetic_truth.png"), np.concatenate(rows, axis=0))
    return summary


def format_summary(summary: dict) -> str:
    """Markdown tables: region MAE beside do-nothing, and the oracle's RMSE/SAGR/CCC."""
    lines = ["| region | edit MAE | do-nothing MAE | edit / do-nothing |", "|---|---|---|---|"]
    for r in REGIONS:
        m = summary["mae"][r]
        lines.append(f"| {r} | {m['edit']:.4f} | {m['do_nothing']:.4f} | {m['ratio']:.2f} |")
    lines += ["", "| oracle | RMSE | SAGR | CCC | do-nothing CCC |", "|---|---|---|---|---|"]
    for axis in ("valence", "arousal"):
        o, b = summary["oracle"][axis], summary["oracle_do_nothing"][axis]
        lines.append(f"| {axis} | {o['rmse']:.3f} | {o['sagr']:.3f} | {o['ccc']:.3f} | {b['ccc']:.3f} |")
    return "\n".join(lines)
