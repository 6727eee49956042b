"""The editing region from labelled data: the pixels whose values the label explains (beyond the papers).

For aligned faces the expression lives at fixed places (mouth, eyes, brows). Over a labelled training set
the **correlation ratio** η² (Pearson 1903; the share of a pixel's variance that lies between the means of
label bins) of each pixel with the binned (valence, arousal) label finds them without any knowledge of how
the faces were made:

    η²(p) = Σ_b (n_b / N) · (mean_b(p) − mean(p))² / var(p)

with b running over a ``bins × bins`` grid of [-1, 1]². A pixel that identity, background or lighting
govern has η² ≈ (bins² − 1) / N (the estimate's bias); a pixel that draws the mouth has η² of 0.1–0.3 even
though identity dominates its variance. The map (max over colour channels) is smoothed with a 3×3 box,
thresholded, mirrored left-right when training flips faces, and dilated by a few pixels so that the
edges of the expression are inside. :class:`caae_tf.models.caae.CAAE` uses the result as its fixed
editing region (``CAAEConfig.edit_region_prior``): everything outside is copied from the input.

Works on any source the project reads (AffectNet records, CSV, folders); it needs aligned faces, which
``data_prep`` produces.
"""

from __future__ import annotations

import numpy as np


def label_variance_map(images: np.ndarray, labels: np.ndarray, bins: int = 5) -> np.ndarray:
    """η² [S, S] of each pixel with the label binned on a ``bins × bins`` grid over [-1, 1]².

    ``images`` float [N, S, S, C] (any affine scale), ``labels`` float [N, 2] in [-1, 1]. Returns the
    maximum over channels; constant pixels get 0.
    """
    x = np.asarray(images, np.float64)
    y = np.asarray(labels, np.float64)
    if x.ndim != 4 or y.shape != (len(x), 2):
        raise ValueError(f"label_variance_map: need images [N,S,S,C] and labels [N,2], got {x.shape} and {y.shape}")
    if len(x) < 2 * bins * bins:
        raise ValueError(f"label_variance_map: {len(x)} images are too few for {bins}x{bins} label bins "
                         f"(need at least {2 * bins * bins})")
    idx = np.clip(((y + 1.0) / 2.0 * bins).astype(int), 0, bins - 1)
    cell = idx[:, 0] * bins + idx[:, 1]
    mean = x.mean(axis=0)
    total = np.square(x - mean).mean(axis=0)
    between = np.zeros_like(mean)
    for b in np.unique(cell):
        members = x[cell == b]
        between += len(members) / len(x) * np.square(members.mean(axis=0) - mean)
    eta2 = np.where(total > 1e-12, between / np.maximum(total, 1e-12), 0.0)
    return eta2.max(axis=-1).astype(np.float32)


def region_from_map(eta2: np.ndarray, threshold: float = 0.04, dilate: int = 2, symmetric: bool = True,
                    smooth: int = 3) -> np.ndarray:
    """bool [S, S]: ``box_blur(η², smooth) > threshold``, mirrored left-right (``symmetric``), dilated by
    ``dilate`` pixels (a (2·dilate + 1)² square)."""
    import cv2

    m = np.asarray(eta2, np.float32)
    if smooth > 1:
        m = cv2.blur(m, (smooth, smooth), borderType=cv2.BORDER_REPLICATE)
    region = (m > threshold).astype(np.uint8)
    if symmetric:
        region = np.maximum(region, region[:, ::-1])
    if dilate > 0:
        region = cv2.dilate(region, np.ones((2 * dilate + 1, 2 * dilate + 1), np.uint8))
    return region.astype(bool)


def collect(batches, max_images: int) -> tuple[np.ndarray, np.ndarray]:
    """(images, labels) from an iterable of ``{"image", "va"}`` batches, at most ``max_images``."""
    xs, ys, n = [], [], 0
    for batch in batches:
        x = np.asarray(batch["image"], np.float32)
        y = np.asarray(batch["va"], np.float32)
        xs.append(x[: max_images - n])
        ys.append(y[: max_images - n])
        n += len(xs[-1])
        if n >= max_images:
            break
    if not xs:
        raise ValueError("editing-region prior: the training data yielded no images")
    return np.concatenate(xs), np.concatenate(ys)
