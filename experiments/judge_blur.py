"""How the independent VA regressor reads blur: its per-class (v, a) on the real training images of a discrete set,
unchanged and blurred with Gaussians of growing σ, next to its reading of a cGAN's images, with each set's
high-frequency energy (mean |Laplacian|) and its reduced-spectrum gap to the real images (mean over the rings
r >= S/4 of log10 P(r) − log10 P_real(r); :func:`caae_tf.losses.radial_log_power`).

    python experiments/judge_blur.py --regressor runs/quiet/cgan_demo2/regressor --data runs/quiet/cgan_demo2/data \
        --model runs/quiet/cgan_demo3/run --sigmas 0.3 0.5 0.7 --out experiments/results/cgan/judge_blur.md

If a model's readings sit where the blurred real images' do, its "weaker expressions" are (in part) the judge
reading soft images, and sharper images, not a stronger label, close the gap (README, "Fifth round"). With a
training run as ``--model`` the table also shows that run's D: its mean probability D(x, v) for each set, with the
images' own labels and BatchNorm in training mode (as D sees its batches in training), so it shows whether D
tells blurred real images from sharp ones.
"""

from __future__ import annotations

import argparse
import os
import shlex
import sys

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))


def hf_energy(images: np.ndarray) -> float:
    """Mean |Laplacian| of float images in [-1, 1] (cgan_modes_table's HF energy column)."""
    import cv2

    return float(np.mean([np.abs(cv2.Laplacian(np.asarray(i, np.float32), cv2.CV_32F)).mean() for i in images]))


def spectrum_gap(images: np.ndarray, real: np.ndarray) -> float:
    """Mean over the rings r >= S/4 of log10 P_images(r) − log10 P_real(r) (0 for the real images themselves)."""
    from caae_tf.losses import radial_log_power

    gap = (radial_log_power(images).numpy() - radial_log_power(real).numpy()) / np.log(10.0)
    return float(gap[images.shape[1] // 4 - 1:].mean())


def d_probability(d, images: np.ndarray, classes: np.ndarray, batch: int = 64) -> float:
    """Mean σ(D(x, v)) over ``images`` with one-hot v of ``classes``; BatchNorm in training mode (batches of
    ``batch`` in a fixed shuffled order, as D sees them in training; no variable changes in a plain call)."""
    import tensorflow as tf

    order = np.random.default_rng(0).permutation(len(images))
    probs = []
    for i in range(0, len(order) - batch + 1, batch):
        idx = order[i:i + batch]
        v = tf.one_hot(classes[idx], d.num_emotions)
        probs.append(tf.sigmoid(d((tf.constant(images[idx]), v), training=True)).numpy().reshape(-1))
    return float(np.concatenate(probs).mean())


def rows(regressor, real: np.ndarray, emotion: np.ndarray, sigmas, model: str | None, num_z: int) -> list[dict]:
    """One row per set: name, HF energy, spectrum gap, per-class mean (v, a) (classes of CGAN_EMOTIONS) and, with
    a training run's D available, D's mean probability."""
    import cv2

    from caae_tf import labels as L

    g = d = None
    if model:
        from caae_tf.generate import CGANSampler

        g = CGANSampler(model)
        d = getattr(g._model, "D", None)  # a training run's D; a SavedModel has none
        d = d if d is not None and d.built else None

    def row(name, imgs, classes):
        pred = regressor.predict_va(imgs)
        return {"set": name, "hf": hf_energy(imgs), "gap": spectrum_gap(imgs, real),
                "va": [pred[classes == c].mean(0).tolist() for c in range(len(L.CGAN_EMOTIONS))],
                "d": d_probability(d, imgs, classes) if d is not None else None}

    out = [row("real training images", real, emotion)]
    for s in sigmas:
        blurred = np.stack([cv2.GaussianBlur(i, (0, 0), float(s)) for i in real]).astype(np.float32)
        out.append(row(f"real, Gaussian blur σ = {s:g} px", blurred, emotion))
    if g is not None:
        classes = np.repeat(np.arange(len(L.CGAN_EMOTIONS)), num_z)
        x = g.generate(np.tile(g.sample_z(num_z, 0), (len(L.CGAN_EMOTIONS), 1)),
                       np.eye(len(L.CGAN_EMOTIONS), dtype=np.float32)[classes])
        out.append(row(f"generated ({model}, one-hot, {num_z} z per class)", np.asarray(x, np.float32), classes))
    return out


def face_brightness(images: np.ndarray) -> np.ndarray:
    """Mean of the central face region (rows 24-43, columns 22-41 of 64, scaled to the image size) per image."""
    s = images.shape[1] / 64.0
    r0, r1, c0, c1 = (int(round(t * s)) for t in (24, 44, 22, 42))
    return np.asarray(images)[:, r0:r1, c0:c1].mean(axis=(1, 2, 3))


def by_brightness(regressor, real: np.ndarray, emotion: np.ndarray, model, num_z: int) -> list[dict]:
    """Per extreme emotion, the regressor's reading on its dominant axis (the larger |coordinate| of its circumplex
    point) in each quarter of face brightness (edges from that class's real images), real and generated.
    ``model``: a run / SavedModel path or a :class:`caae_tf.generate.CGANSampler`."""
    from caae_tf import labels as L
    from caae_tf.generate import CGANSampler

    g = model if isinstance(model, CGANSampler) else CGANSampler(model)
    z = g.sample_z(num_z, 0)
    out = []
    for e in L.EXTREME_EMOTIONS:
        c = L.CGAN_EMOTIONS.index(e)
        axis = int(np.argmax(np.abs(L.circumplex_va(e))))
        real_c = real[emotion == c]
        fake = np.asarray(g.generate(z, np.repeat(np.eye(len(L.CGAN_EMOTIONS), dtype=np.float32)[c:c + 1], num_z, 0)))
        edges = np.quantile(face_brightness(real_c), [0.25, 0.5, 0.75])
        cells = []
        for imgs in (real_c, fake):
            q = np.digitize(face_brightness(imgs), edges)
            pred = regressor.predict_va(imgs)[:, axis]
            cells.append([float(pred[q == k].mean()) if (q == k).any() else float("nan") for k in range(4)]
                         + [[int((q == k).sum()) for k in range(4)]])
        out.append({"emotion": e, "axis": ("valence", "arousal")[axis], "real": cells[0][:4], "generated": cells[1][:4],
                    "generated_counts": cells[1][4]})
    return out


def brightness_markdown(table: list[dict]) -> str:
    lines = ["", "Reading on the dominant axis by quarter of face brightness (darkest first; edges from the class's "
             "real images): real → generated (generated count)", "",
             "| emotion | axis | Q1 (darkest) | Q2 | Q3 | Q4 (lightest) |", "|---|---|---|---|---|---|"]
    for r in table:
        cells = [f"{a:.2f} → {b:.2f} ({n})" for a, b, n in zip(r["real"], r["generated"], r["generated_counts"])]
        lines.append(f"| {r['emotion']} | {r['axis']} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def markdown(table: list[dict], command: str) -> str:
    from caae_tf import labels as L

    with_d = any(r.get("d") is not None for r in table)
    head = ["set", "HF energy", "spectrum gap r >= S/4 (log10)"] + (["D(x, v)"] if with_d else []) \
        + list(L.CGAN_EMOTIONS)
    lines = [f"`{command}`", "", "| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in table:
        cells = [r["set"], f"{r['hf']:.3f}", f"{r['gap']:+.2f}"] + ([f"{r['d']:.3f}"] if with_d else []) \
            + [f"({v:.2f}, {a:.2f})" for v, a in r["va"]]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--regressor", required=True, help="VA regressor run (never used in the cGAN's training)")
    p.add_argument("--data", required=True, help="discrete labelled set (labels.csv with emotion)")
    p.add_argument("--model", help="cGAN run or SavedModel to read next to the blurred images")
    p.add_argument("--sigmas", type=float, nargs="*", default=[0.3, 0.5, 0.7])
    p.add_argument("--num-z", type=int, default=200)
    p.add_argument("--by-brightness", action="store_true",
                   help="also the dominant-axis reading by quarter of face brightness, real and --model's")
    p.add_argument("--out", help="write the markdown table here")
    args = p.parse_args(argv)
    from cgan_targets import labelled_images

    from caae_tf.regressor_train import load_regressor

    arr, real = labelled_images(args.data)
    reg = load_regressor(args.regressor)
    table = rows(reg, real.astype(np.float32), arr["emotion"], args.sigmas, args.model,
                 args.num_z)
    text = markdown(table, "python experiments/judge_blur.py " + shlex.join(argv if argv is not None else sys.argv[1:]))
    if args.by_brightness:
        if not args.model:
            p.error("--by-brightness needs --model")
        text += brightness_markdown(by_brightness(reg, real.astype(np.float32), arr["emotion"], args.model,
                                                  args.num_z))
    print(text)
    if args.out:
        os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
        with open(args.out, "w", encoding="utf-8") as fh:
            fh.write(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
