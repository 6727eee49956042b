"""Does a cGAN's own AC head agree with an independent judge? For each class k, G (or G_ema) draws
``--num-z`` faces with the one-hot label e_k; the table gives the share D's AC head (``lambda_ac``) puts in
class k (the argmax over all its outputs, the "generated" class of ``ac_fake_class`` included) next to the
mean (valence, arousal) an independent regressor reads off the same faces.

A head that reads ~100 % of G's images as their class while the regressor reads them as another emotion has
been fooled: G satisfies it with patterns that are not the expression (README, cGAN "Fourth round").
With ``--data`` (the cGAN's training set) it also shows the real images of each class to the head with every
*wrong* label: a head that names the shown label, not the image's class, copies the label D's input carries.

    python experiments/cgan_ac_probe.py --model RUN --regressor REGRESSOR_RUN [--data DIR] [--num-z 200] [--raw-g]
"""

from __future__ import annotations

import argparse
import os
import sys

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)


def probe(model, regressor, num_z: int = 200, seed: int = 0, raw_g: bool = False) -> list[dict]:
    """One row per class: ``emotion``, ``head_share`` (share of G's images the AC head puts in that class),
    ``head_fake_share`` (share put in the "generated" class, ``ac_fake_class`` only, else None) and
    ``regressor_va`` (mean judged (v, a))."""
    import tensorflow as tf

    from caae_tf import labels as L

    m = model
    if m.D.aux_classes <= 0:
        raise SystemExit("the run has no AC head (lambda_ac = 0)")
    g = m.G if raw_g else m.sampler
    k_classes = m.num_emotions
    z = tf.random.stateless_normal([num_z, m.z_dim], seed=[seed, 0])
    rows = []
    for k, name in enumerate(L.CGAN_EMOTIONS[:k_classes]):
        v = tf.one_hot(tf.fill([num_z], k), k_classes)
        x = g((z, v), training=False)
        pred = tf.argmax(tf.cast(m.D.outputs((x, v), training=False)["class_logits"], tf.float32), -1).numpy()
        va = np.asarray(regressor.predict_va(np.asarray(x))).mean(0)
        rows.append({"emotion": name, "head_share": float((pred == k).mean()),
                     "head_fake_share": float((pred == k_classes).mean()) if m.D.aux_classes > k_classes else None,
                     "regressor_va": [float(va[0]), float(va[1])]})
    return rows


def label_copy(model, images: np.ndarray, emotion: np.ndarray) -> dict:
    """Real ``images`` (float [-1, 1]) of class ``emotion`` shown to D's AC head with each wrong label:
    ``{"names_shown_label": share, "names_own_class": share}`` over all (image, wrong label) pairs."""
    import tensorflow as tf

    k_classes = model.num_emotions
    x = tf.constant(images, tf.float32)
    shown_hits = own_hits = total = 0
    for shift in range(1, k_classes):
        shown = (emotion + shift) % k_classes
        logits = model.D.outputs((x, tf.one_hot(shown, k_classes)), training=False)["class_logits"]
        pred = tf.argmax(tf.cast(logits, tf.float32), -1).numpy()
        shown_hits += int((pred == shown).sum())
        own_hits += int((pred == emotion).sum())
        total += len(pred)
    return {"names_shown_label": shown_hits / total, "names_own_class": own_hits / total}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--model", required=True, help="cGAN run dir (trained with lambda_ac > 0)")
    p.add_argument("--regressor", required=True, help="a regressor run the cGAN never used in training")
    p.add_argument("--num-z", type=int, default=200)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--raw-g", action="store_true", help="probe G, not G_ema")
    p.add_argument("--data", default=None, help="the cGAN's training set: also show its real images with wrong labels")
    p.add_argument("--max-images", type=int, default=300, help="real images used with --data")
    args = p.parse_args(argv)

    from caae_tf.generate import CGANSampler
    from caae_tf.regressor_train import load_regressor

    gen = CGANSampler(args.model)
    if gen.kind == "savedmodel":
        raise SystemExit("--model must be a run dir: a SavedModel has no D")
    rows = probe(gen._model, load_regressor(args.regressor), args.num_z, args.seed, args.raw_g)
    print(f"{args.num_z} noise vectors per class; {'G' if args.raw_g else 'G_ema (if trained)'}; "
          f"regressor {args.regressor}\n")
    print("| label | AC head reads the label | AC head reads 'generated' | regressor (v, a) |")
    print("|---|---|---|---|")
    for r in rows:
        fake = "" if r["head_fake_share"] is None else f"{100 * r['head_fake_share']:.0f} %"
        print(f"| {r['emotion']} | {100 * r['head_share']:.0f} % | {fake} | "
              f"({r['regressor_va'][0]:.2f}, {r['regressor_va'][1]:.2f}) |")
    if args.data:
        from cgan_targets import labelled_images  # experiments/ is this script's own folder

        arr, imgs = labelled_images(args.data, gen.image_size)
        keep = np.flatnonzero(arr["emotion"] >= 0)[: args.max_images]
        c = label_copy(gen._model, imgs[keep], arr["emotion"][keep])
        print(f"\n{len(keep)} real images of {args.data}, each shown with the five wrong labels: the head names the "
              f"shown label for {100 * c['names_shown_label']:.0f} % and the image's own class for "
              f"{100 * c['names_own_class']:.0f} %")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
