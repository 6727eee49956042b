"""Paper 000 Table IV: how well do the edited faces express their target (valence, arousal)?

Every evaluation image x is edited to each label y of the 7×7 grid (:func:`caae_tf.labels.grid_labels`,
values ±0.75, ±0.5, ±0.25, 0), x' = G(E(x), y); a valence/arousal regressor predicts ŷ = R(x') and
RMSE/SAGR/CCC (:mod:`caae_tf.evaluation.metrics`) compare y with ŷ, for all edits and for the "extreme"
ones.

The grid's extent is not in paper 000, which calls −1 and 1 "an extreme emotion value" (§IV-D). ±0.75 in
steps of 0.25 is the grid of the authors' released code (``Experiments/editFaces.py`` and ``model.py``'s
``test`` in github.com/pablovin/FaceEditing_ContinualGAN: ``np.arange(0.75, -0.751, -0.25)``), and is our
default; ``extent=1.0`` (``caae-tf experiment table4 --extent 1.0``) gives the 7×7 grid
−1, −2/3, …, 1 for the reading of the text. The extreme labels are always the corners of the grid in use.

Counts: the paper evaluates 220,500 generated images, 18,000 of them extreme. 220,500 = 4,500 images × 49
labels (4,500 = the size of the AffectNet validation set it mentions), and 18,000 = 4,500 × 4, so
"extreme" are the **four corner labels** (±extent, ±extent) (:func:`caae_tf.labels.extreme_label_mask`) —
not every label with one extreme coordinate (that would be 24 of 49 labels). The result records
``num_images``, ``num_edits`` and ``num_extreme`` so the check ``num_edits = 49·num_images``,
``num_extreme = 4·num_images`` is visible in every report.

SAGR uses the paper's literal δ(sign(x), sign(y)) with sign(0) = 0 by default (``sagr_zero="exact"``), so
the 13 labels with a 0 coordinate can only match exact-0 predictions; ``"positive"`` counts 0 as positive.

Identity preservation (optional, beyond the paper; :mod:`caae_tf.evaluation.identity`): with an identity
network the cosine distance between the embeddings of x and x' is stored per edit and summarised.

Outputs (:func:`write_table4`): ``edits.csv`` (image, target_v, target_a, pred_v, pred_a, extreme,
identity_distance), ``table4.csv`` (rows RMSE/SAGR/CCC; columns All Valence, All Arousal, Extreme Valence,
Extreme Arousal), ``table4.json`` (metrics, counts, identity summary), ``table4_per_label.csv``.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from typing import Any, Iterable

import numpy as np

from caae_tf import labels as L
from caae_tf.evaluation import identity as I
from caae_tf.evaluation.metrics import format_table, metrics_table, va_metrics

PAPER_TABLE4 = {
    "All Valence": {"rmse": 0.528, "sagr": 0.567, "ccc": 0.312},
    "All Arousal": {"rmse": 0.607, "sagr": 0.483, "ccc": 0.210},
    "Extreme Valence": {"rmse": 0.671, "sagr": 0.691, "ccc": 0.353},
    "Extreme Arousal": {"rmse": 0.720, "sagr": 0.624, "ccc": 0.267},
}
PAPER_COUNTS = {"num_images": 4500, "num_edits": 220500, "num_extreme": 18000}


@dataclass
class Table4Result:
    edits: Any  # pandas DataFrame, one row per edit
    columns: dict[str, dict[str, float]]  # Table IV columns
    counts: dict[str, int]
    identity: dict | None = None
    extras: dict = field(default_factory=dict)

    @property
    def extent(self) -> float:
        """The grid extent whose corners are the "extreme" labels (0.75 unless run with another grid)."""
        return float(self.extras.get("extent", 0.75))

    def to_json(self) -> dict:
        e = self.extent
        return {"table4": self.columns, "counts": self.counts, "paper_counts": PAPER_COUNTS,
                "paper_table4": PAPER_TABLE4, "extreme_definition": f"four corner labels (±{e:g}, ±{e:g})",
                "identity": self.identity, **self.extras}

    def format(self) -> str:
        c = self.counts
        text = format_table(self.columns, title=(
            f"Table IV: {c['num_edits']} edits of {c['num_images']} images "
            f"({c['num_extreme']} extreme = {c['num_images']} x 4 corner labels ±{self.extent:g})"))
        if self.identity and self.identity.get("count"):
            d = self.identity
            base = d.get("baseline_between_inputs")
            text += (f"\nidentity ({d['metric']}): mean {d['mean']:.3f}, median {d['median']:.3f}, "
                     f"{100 * d['share_below_threshold']:.1f}% below {d['threshold']:g}"
                     + (f"; between different inputs {base:.3f}" if base is not None else ""))
        return text


def run_table4(editor, regressor, batches: Iterable[tuple[list[str], np.ndarray]], *, labels: np.ndarray | None = None,
               identity=None, identity_threshold: float = I.DEFAULT_THRESHOLD, chunk: int = 64,
               total_images: int | None = None, progress: bool = True, sagr_zero: str = "exact",
               extent: float | None = None) -> Table4Result:
    """Edit every image of ``batches`` to every label, regress the edits and compute Table IV.

    ``editor.edit(images [B,S,S,3], va [B,2]) -> [B,S,S,3]``; ``regressor.predict_va(images) -> [B,2]``;
    optional ``identity.embed(images) -> [B,D]``. ``batches`` yields (names, images at the editor's size).
    ``chunk`` is the number of edits per editor call. ``labels`` defaults to the 7×7 grid of ±``extent``
    (default 0.75, the authors' code; 1.0 for the paper's "extreme values −1 and 1"); the extreme labels are
    the corners (±extent, ±extent), where ``extent`` defaults to the largest |coordinate| of ``labels``.
    """
    import pandas as pd

    if labels is None:
        extent = 0.75 if extent is None else float(extent)
        grid = L.grid_labels(7, extent)
    else:
        grid = np.asarray(labels, np.float32)
        extent = float(np.max(np.abs(grid))) if extent is None and grid.size else float(extent or 0.0)
    extreme = L.extreme_label_mask(grid, extent)
    k = len(grid)
    bar = None
    if progress:
        from caae_tf.progress import Progress

        bar = Progress(total_images * k if total_images else None, f"Table IV: editing to {k} labels", unit="edit")
    names_all, tv, pv, ext, dist, in_emb = [], [], [], [], [], []
    n_images = 0
    for names, images in batches:
        images = np.asarray(images, np.float32)
        b = len(images)
        if b == 0:
            continue
        n_images += b
        # image-major order: image 0 × all labels, image 1 × all labels, ...
        idx_img = np.repeat(np.arange(b), k)
        idx_lab = np.tile(np.arange(k), b)
        emb_in = I.embed(identity, images) if identity is not None else None
        if emb_in is not None:
            in_emb.append(emb_in)
        for s in range(0, b * k, chunk):
            ii, ll = idx_img[s:s + chunk], idx_lab[s:s + chunk]
            edited = np.asarray(editor.edit(images[ii], grid[ll]), np.float32)
            pred = np.asarray(regressor.predict_va(edited), np.float32).reshape(len(ii), 2)
            pv.append(pred)
            tv.append(grid[ll])
            ext.append(extreme[ll])
            names_all.extend(names[i] for i in ii)
            if emb_in is not None:
                dist.append(I.cosine_distance(emb_in[ii], I.embed(identity, edited)))
            if bar is not None:
                bar.update(len(ii))
    if bar is not None:
        bar.close()
    if n_images == 0:
        from caae_tf.errors import DataError

        raise DataError("Table IV: no evaluation images")
    t = np.concatenate(tv)
    p = np.concatenate(pv)
    e = np.concatenate(ext)
    df = pd.DataFrame({"image": names_all, "target_v": t[:, 0], "target_a": t[:, 1], "pred_v": p[:, 0],
                       "pred_a": p[:, 1], "extreme": e})
    ident_summary = None
    if dist:
        d = np.concatenate(dist)
        df["identity_distance"] = d
        ident_summary = I.identity_summary(d, identity_threshold, I.between_image_baseline(np.concatenate(in_emb)))
    all_m = va_metrics(t, p, zero=sagr_zero)
    cols = {"All Valence": all_m["valence"], "All Arousal": all_m["arousal"]}
    if e.any():
        ex_m = va_metrics(t[e], p[e], zero=sagr_zero)
        cols.update({"Extreme Valence": ex_m["valence"], "Extreme Arousal": ex_m["arousal"]})
    counts = {"num_images": int(n_images), "num_labels": int(k), "num_edits": int(len(df)),
              "num_extreme": int(e.sum()), "num_extreme_labels": int(extreme.sum())}
    return Table4Result(df, cols, counts, ident_summary, {"sagr_zero": sagr_zero, "extent": extent})


def per_label_summary(df):
    """Mean prediction (and identity distance) per target label."""
    agg = {"pred_v": ["mean", "std"], "pred_a": ["mean", "std"]}
    if "identity_distance" in df.columns:
        agg["identity_distance"] = ["mean"]
    out = df.groupby(["target_v", "target_a"], sort=False).agg(agg)
    out.columns = ["_".join(c) for c in out.columns]
    return out.reset_index()


def write_table4(result: Table4Result, out_dir: str) -> dict[str, str]:
    """Write edits.csv, table4.csv, table4.json and table4_per_label.csv into ``out_dir``."""
    os.makedirs(out_dir, exist_ok=True)
    paths = {name: os.path.join(out_dir, name) for name in
             ("edits.csv", "table4.csv", "table4.json", "table4_per_label.csv")}
    result.edits.to_csv(paths["edits.csv"], index=False, float_format="%.5f")
    metrics_table(result.columns).to_csv(paths["table4.csv"], float_format="%.4f")
    with open(paths["table4.json"], "w", encoding="utf-8") as fh:
        json.dump(result.to_json(), fh, indent=2)
    per_label_summary(result.edits).to_csv(paths["table4_per_label.csv"], index=False, float_format="%.5f")
    return paths
