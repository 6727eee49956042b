"""Paper 000 Fig. 2: where does the editor change a face for each of the 48 non-neutral labels?

For each aligned face x (the paper: the first 200 frontal CelebA images, centre-cropped) and each label y of
the 7×7 grid except (0, 0), the per-pixel heatmap against the *neutral* edit (not the input, which in
CelebA mostly smiles) is

    h_y(p) = max(|R(p₁) − R(p₂)|, |G(p₁) − G(p₂)|, |B(p₁) − B(p₂)|),  p₁ ∈ G(E(x), y), p₂ ∈ G(E(x), (0,0)),

computed on intensities in **[0, 1]** (i.e. the [0, 255] difference / 255; from the library's [-1, 1]
images that is |Δ|/2). The heatmaps are **summed over the faces** and then **normalised by one global
maximum over all 48 sums** so that the 48 panels share one scale in [0, 1] (per-panel normalisation would
hide the paper's observation that labels near neutral change less). The raw sums and the mean change per
face (``mean_abs_change``: the sum / number of faces, averaged over pixels, in [0, 1] intensity units) are
saved too.

Figure layout (as paper Fig. 2): rows from high valence (top) to low valence, columns from high arousal
(left) to low arousal, values 0.75 … −0.75; the neutral centre cell is blank and labelled.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Iterable

import numpy as np

from caae_tf import labels as L


@dataclass
class HeatmapResult:
    sums: np.ndarray  # [K, H, W] float64: Σ_faces h_y for each non-neutral label
    labels: np.ndarray  # [K, 2] the non-neutral labels (grid order)
    num_faces: int
    grid: np.ndarray  # [n*n, 2] the full grid (incl. neutral)

    @property
    def normalised(self) -> np.ndarray:
        """Sums / global max over all labels, in [0, 1] (zeros when nothing changed)."""
        m = float(self.sums.max()) if self.sums.size else 0.0
        return (self.sums / m if m > 0 else np.zeros_like(self.sums)).astype(np.float32)

    @property
    def mean_per_face(self) -> np.ndarray:
        return (self.sums / max(1, self.num_faces)).astype(np.float32)


def pixel_heatmap(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """max over RGB of |a − b| for images in [-1, 1], in [0, 1] intensity units: [..., H, W, 3] → [..., H, W]."""
    return np.max(np.abs(np.asarray(a, np.float32) - np.asarray(b, np.float32)), axis=-1) / 2.0


def compute_heatmaps(editor, batches: Iterable[tuple[list[str], np.ndarray]], *, n: int = 7, extent: float = 0.75,
                     total_images: int | None = None, progress: bool = True) -> HeatmapResult:
    """Sum of per-face heatmaps for the n·n − 1 non-neutral grid labels (see module docstring)."""
    grid = L.grid_labels(n, extent)
    neutral = np.all(np.isclose(grid, 0.0), axis=1)
    if neutral.sum() != 1:
        raise ValueError(f"the {n}x{n} grid must contain exactly one neutral (0, 0) label (use an odd n)")
    labels = grid[~neutral]
    sums = None
    faces = 0
    bar = None
    if progress:
        from caae_tf.progress import Progress

        bar = Progress(total_images, f"Fig. 2 heatmaps: {len(labels)} labels", unit="face")
    for _names, images in batches:
        images = np.asarray(images, np.float32)
        if len(images) == 0:
            continue
        base = np.asarray(editor.edit(images, np.zeros((len(images), 2), np.float32)), np.float32)
        if sums is None:
            sums = np.zeros((len(labels),) + base.shape[1:3], np.float64)
        for j, y in enumerate(labels):
            edited = np.asarray(editor.edit(images, np.tile(y, (len(images), 1))), np.float32)
            sums[j] += pixel_heatmap(edited, base).sum(axis=0)
        faces += len(images)
        if bar is not None:
            bar.update(len(images))
    if bar is not None:
        bar.close()
    if sums is None:
        from caae_tf.errors import DataError

        raise DataError("heatmaps: no images")
    return HeatmapResult(sums, labels.astype(np.float32), faces, grid)


def summary_frame(result: HeatmapResult):
    import pandas as pd

    norm = result.normalised
    mean = result.mean_per_face
    return pd.DataFrame({
        "valence": result.labels[:, 0], "arousal": result.labels[:, 1],
        "mean_intensity": norm.reshape(len(norm), -1).mean(axis=1),
        "max_intensity": norm.reshape(len(norm), -1).max(axis=1),
        "mean_abs_change": mean.reshape(len(mean), -1).mean(axis=1),
    })


def plot_heatmaps(result: HeatmapResult, path: str, title: str | None = None, cmap: str = "gray") -> None:
    """The 7×7 Fig. 2 panel: rows valence high→low (top→bottom), columns arousal high→low (left→right)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    grid = result.grid
    n = int(round(np.sqrt(len(grid))))
    norm = result.normalised
    fig, axes = plt.subplots(n, n, figsize=(1.5 * n + 1.0, 1.5 * n + 1.0), squeeze=False)
    k = 0
    for idx, (v, a) in enumerate(grid):
        r, c = divmod(idx, n)
        ax = axes[r][c]
        ax.set_xticks([])
        ax.set_yticks([])
        if np.isclose(v, 0) and np.isclose(a, 0):
            ax.text(0.5, 0.5, "neutral\n(0, 0)", ha="center", va="center", fontsize=9, transform=ax.transAxes)
            for s in ax.spines.values():
                s.set_visible(False)
        else:
            ax.imshow(norm[k], cmap=cmap, vmin=0.0, vmax=1.0, interpolation="nearest")
            k += 1
        if c == 0:
            ax.set_ylabel(f"v={v:+.2f}", fontsize=8)
        if r == 0:
            ax.set_title(f"a={a:+.2f}", fontsize=8)
    fig.suptitle(title or f"Difference to the neutral edit, {result.num_faces} faces "
                 "(valence high→low top→bottom, arousal high→low left→right)", fontsize=9)
    fig.tight_layout(rect=(0, 0, 1, 0.97))
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)


def write_heatmaps(result: HeatmapResult, out_dir: str) -> dict[str, str]:
    """heatmaps.png, heatmaps.npy (normalised [48,H,W]), heatmaps.npz (+ raw sums, labels), heatmaps_summary.csv."""
    os.makedirs(out_dir, exist_ok=True)
    paths = {k: os.path.join(out_dir, k) for k in ("heatmaps.png", "heatmaps.npy", "heatmaps.npz",
                                                     "heatmaps_summary.csv")}
    np.save(paths["heatmaps.npy"], result.normalised)
    np.savez_compressed(paths["heatmaps.npz"], normalised=result.normalised, sums=result.sums.astype(np.float32),
                        labels=result.labels, num_faces=result.num_faces)
    summary_frame(result).to_csv(paths["heatmaps_summary.csv"], index=False, float_format="%.6f")
    plot_heatmaps(result, paths["heatmaps.png"])
    return paths
