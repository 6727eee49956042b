"""Class-mean images of a trained cGAN next to those of its training set: a check for a G that draws too few
face shapes, and for what the label changes on average.

    python experiments/cgan_class_means.py --model runs/cgan_demo/run --data runs/cgan_demo/data \
        --num-z 200 --out runs/cgan_demo/class_means

Writes ``OUT/class_means.png`` (rows: the real class means; G's class means for the same ``--num-z`` noise
vectors in every class; real class mean minus real Neutral mean; the same for G; G minus real; differences ×4
around mid-grey) and ``OUT/class_means.json`` with the command line and, per class:

* ``sharpness_real`` / ``sharpness_g``: mean |Laplacian| of the class-mean image (ratio ``sharpness_ratio``).
  The real faces differ in outline, size and features, so their mean is blurred; a G's mean is sharper when
  its faces spread less *or* when every image carries one fixed-position pattern (a lattice), which averaging
  keeps. The two are told apart by:
* ``coarse_sharpness_ratio``: the same ratio of the means blurred by a Gaussian of σ = 2 px (face outlines and
  features; > 1 = less spread of face shapes than the real set);
* ``fixed_pattern_real`` / ``fixed_pattern_g``: RMS of the class mean minus its σ = 1 px blur (the fine
  structure every image shares at the same place);
* ``pixel_std_real`` / ``pixel_std_g``: mean per-pixel standard deviation over the class's images;
* ``delta_rms_real`` / ``delta_rms_g``, ``delta_cosine``, ``delta_projection``: the class mean minus the Neutral
  mean (identities cancel on average), its RMS for the real images and for G, the cosine between them, and G's
  delta projected on the real one (⟨Δ_G, Δ_real⟩ / ‖Δ_real‖², 1 = the real change's amount along its
  direction);
* ``mean_rmse``: RMS difference between G's and the real class-mean images;
* ``skin_shift_real`` / ``skin_shift_g`` and ``skin_abs_real`` / ``skin_abs_g``: how much the label changes the
  *skin* of one face (:func:`skin_shift`): the mean brightness of the two cheek boxes (:data:`CHEEKS`, where no
  expression cue of the synthetic renderer is drawn) in class k minus in Neutral, for the same z (G) or the same
  identity (real, its class-k images' mean minus its Neutral images' mean); ``shift`` is the signed mean over
  the pairs, ``abs`` the mean of its absolute value. The real set's are noise-sized: an identity keeps its skin
  across expressions. A G whose label also darkens or lightens the face changes the identity along an
  interpolation row (``cgan_targets.py``'s identity distance rises with it);
* ``skin_real`` / ``skin_g``: the mean cheek brightness of the class's images (every class of the real set
  has the same: its identities show every class).

No network is involved apart from G: the numbers are pixel statistics of the two sets of images.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import sys

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)


def _laplacian_energy(img: np.ndarray) -> float:
    """Mean |4-neighbour Laplacian| of an [H, W, C] image (interior pixels)."""
    lap = (4 * img[1:-1, 1:-1] - img[:-2, 1:-1] - img[2:, 1:-1] - img[1:-1, :-2] - img[1:-1, 2:])
    return float(np.abs(lap).mean())


def _blur(img: np.ndarray, sigma: float) -> np.ndarray:
    import cv2

    return cv2.GaussianBlur(np.ascontiguousarray(img, np.float32), (0, 0), sigma, borderType=cv2.BORDER_REFLECT_101)


#: the two cheek boxes, (y0, y1, x0, x1) as fractions of the image side: below the eyes (45.6 % down, 22.4 % apart
#: in the synthetic renderer), above the mouth (72 % down) and outside the nose and the mouth corners
CHEEKS = ((0.47, 0.62, 0.22, 0.34), (0.47, 0.62, 0.66, 0.78))


def cheek_brightness(images: np.ndarray) -> np.ndarray:
    """Mean over the :data:`CHEEKS` boxes and the channels of each of ``images`` [N, H, W, C] → [N]."""
    images = np.asarray(images, np.float32)
    h, w = images.shape[1:3]
    parts = [images[:, round(y0 * h):round(y1 * h), round(x0 * w):round(x1 * w)].mean(axis=(1, 2, 3))
             for y0, y1, x0, x1 in CHEEKS]
    return np.mean(parts, axis=0)


def skin_shift(base: np.ndarray, other: np.ndarray) -> tuple[float, float]:
    """``(signed mean, mean |.|)`` over pairs of :func:`cheek_brightness` (other − base); ``base`` and ``other``
    [N, H, W, C] are paired row by row (the same z, or the same identity)."""
    d = cheek_brightness(other) - cheek_brightness(base)
    return float(d.mean()), float(np.abs(d).mean())


def class_mean_stats(real: np.ndarray, real_classes: np.ndarray, fake: list[np.ndarray],
                     names: tuple[str, ...], neutral: int = 0,
                     real_identity: np.ndarray | None = None) -> tuple[dict, np.ndarray, np.ndarray]:
    """Per-class statistics (module docstring) of ``real`` [N, H, W, C] with class ids ``real_classes`` [N] and
    ``fake[k]`` [M, H, W, C] (G's images of class k); returns ``(stats, real_means, fake_means)``, the means
    [K, H, W, C]. A class without real images raises ``ValueError``. ``fake[k]`` row i must be drawn from the same z
    as ``fake[neutral]`` row i (the skin statistics pair them); with ``real_identity`` [N] the real skin statistics
    pair each identity's class-k images with its Neutral images (identities lacking either are left out)."""
    by_class = [real[real_classes == k] for k in range(len(names))]
    for k, name in enumerate(names):
        if len(by_class[k]) == 0:
            raise ValueError(f"no real images of class {k} ({name})")
    real_means = np.stack([rows.mean(0) for rows in by_class])
    fake_means = np.stack([np.asarray(f).mean(0) for f in fake])
    neutral_by_id = {}  # identity -> the mean of its real Neutral images (the real skin statistics' base)
    if real_identity is not None:
        neutral_by_id = {i: real[(real_identity == i) & (real_classes == neutral)].mean(0)
                         for i in np.unique(real_identity[real_classes == neutral])}
    stats = {}
    for k, name in enumerate(names):
        rows = by_class[k]
        rd, gd = real_means[k] - real_means[neutral], fake_means[k] - fake_means[neutral]
        s_r, s_g = _laplacian_energy(real_means[k]), _laplacian_energy(fake_means[k])
        c_r, c_g = (_laplacian_energy(_blur(m[k], 2.0)) for m in (real_means, fake_means))
        row = {"sharpness_real": s_r, "sharpness_g": s_g, "sharpness_ratio": s_g / max(s_r, 1e-12),
               "coarse_sharpness_ratio": c_g / max(c_r, 1e-12),
               "fixed_pattern_real": float(np.sqrt(np.mean((real_means[k] - _blur(real_means[k], 1.0)) ** 2))),
               "fixed_pattern_g": float(np.sqrt(np.mean((fake_means[k] - _blur(fake_means[k], 1.0)) ** 2))),
               "pixel_std_real": float(rows.std(0).mean()),
               "pixel_std_g": float(np.asarray(fake[k]).std(0).mean()),
               "mean_rmse": float(np.sqrt(np.mean((fake_means[k] - real_means[k]) ** 2))),
               "skin_real": float(cheek_brightness(rows).mean()), "skin_g": float(cheek_brightness(fake[k]).mean())}
        if k != neutral:
            row["skin_shift_g"], row["skin_abs_g"] = skin_shift(fake[neutral], fake[k])
            if real_identity is not None:
                ids = [i for i in np.unique(real_identity[real_classes == k]) if i in neutral_by_id]
                if ids:
                    base = np.stack([neutral_by_id[i] for i in ids])
                    other = np.stack([real[(real_identity == i) & (real_classes == k)].mean(0) for i in ids])
                    row["skin_shift_real"], row["skin_abs_real"] = skin_shift(base, other)
            rr = float((rd * rd).sum())
            row.update({"delta_rms_real": float(np.sqrt(np.mean(rd ** 2))),
                        "delta_rms_g": float(np.sqrt(np.mean(gd ** 2))),
                        "delta_cosine": float((rd * gd).sum() / max(np.sqrt(rr * float((gd * gd).sum())), 1e-12)),
                        "delta_projection": float((rd * gd).sum() / max(rr, 1e-12))})
        stats[name] = row
    return stats, real_means, fake_means


def figure(real_means: np.ndarray, fake_means: np.ndarray, neutral: int = 0, gain: float = 4.0,
           scale: int = 3) -> np.ndarray:
    """uint8 RGB grid (module docstring): 5 rows × K columns of the [-1, 1] mean images, enlarged ``scale``×."""
    def img(x):
        return np.clip((x + 1) * 127.5, 0, 255).astype(np.uint8)

    def diff(x):
        return np.clip(128 + x * 127.5 * gain, 0, 255).astype(np.uint8)

    rows = [[img(m) for m in real_means], [img(m) for m in fake_means],
            [diff(m - real_means[neutral]) for m in real_means], [diff(m - fake_means[neutral]) for m in fake_means],
            [diff(g - r) for g, r in zip(fake_means, real_means)]]
    grid = np.concatenate([np.concatenate(r, 1) for r in rows], 0)
    return np.repeat(np.repeat(grid, scale, 0), scale, 1)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--model", required=True, help="cGAN run dir or SavedModel")
    p.add_argument("--data", required=True, help="the cGAN's training set (labels.csv with emotion)")
    p.add_argument("--checkpoint", default=None, help="a checkpoint of the run dir --model (default: the latest)")
    p.add_argument("--num-z", type=int, default=200)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--scale", type=int, default=3, help="enlargement of the figure (nearest neighbour)")
    p.add_argument("--out", required=True)
    args = p.parse_args(argv)
    command = "python " + " ".join(shlex.quote(a) for a in [os.path.relpath(__file__, ROOT), *sys.argv[1:]])

    import cv2

    from caae_tf import labels as L
    from caae_tf.generate import CGANSampler
    from cgan_targets import labelled_images

    gen = CGANSampler(args.model, checkpoint=args.checkpoint)
    arr, imgs = labelled_images(args.data, gen.image_size)
    z = gen.sample_z(args.num_z, seed=args.seed)
    names = tuple(L.CGAN_EMOTIONS)
    fake = [np.asarray(gen.generate(z, np.repeat(np.eye(len(names), dtype=np.float32)[k:k + 1], args.num_z, 0)))
            for k in range(len(names))]
    stats, real_means, fake_means = class_mean_stats(imgs, arr["emotion"], fake, names,
                                                     neutral=names.index("neutral"), real_identity=arr["identity"])
    os.makedirs(args.out, exist_ok=True)
    cv2.imwrite(os.path.join(args.out, "class_means.png"), figure(real_means, fake_means, scale=args.scale)[..., ::-1])
    res = {"command": command, "model": os.path.abspath(args.model), "checkpoint": args.checkpoint,
           "num_z": args.num_z, "classes": stats}
    with open(os.path.join(args.out, "class_means.json"), "w") as f:
        json.dump(res, f, indent=2)
    print(command)
    print(f"{'class':10s} {'sharp real':>10s} {'sharp G':>8s} {'ratio':>6s} {'coarse':>6s} {'fixed real':>10s} "
          f"{'fixed G':>7s} {'std real':>8s} {'std G':>6s} {'Δ real':>7s} {'Δ G':>6s} {'cos':>5s} {'proj':>5s}")
    for name, r in stats.items():
        print(f"{name:10s} {r['sharpness_real']:10.4f} {r['sharpness_g']:8.4f} {r['sharpness_ratio']:6.2f} "
              f"{r['coarse_sharpness_ratio']:6.2f} {r['fixed_pattern_real']:10.4f} {r['fixed_pattern_g']:7.4f} "
              f"{r['pixel_std_real']:8.3f} {r['pixel_std_g']:6.3f} {r.get('delta_rms_real', 0):7.4f} "
              f"{r.get('delta_rms_g', 0):6.4f} {r.get('delta_cosine', 1):5.2f} {r.get('delta_projection', 1):5.2f}")
    print(f"{'class':10s} {'skin real':>9s} {'skin G':>7s} {'skin shift real':>15s} {'skin shift G':>12s} "
          f"{'|skin| real':>11s} {'|skin| G':>8s}")
    nan = float("nan")
    for name, r in stats.items():
        print(f"{name:10s} {r['skin_real']:9.3f} {r['skin_g']:7.3f} {r.get('skin_shift_real', nan):15.4f} "
              f"{r.get('skin_shift_g', nan):12.4f} {r.get('skin_abs_real', nan):11.4f} {r.get('skin_abs_g', nan):8.4f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
