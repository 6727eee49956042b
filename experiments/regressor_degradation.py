"""How a valence/arousal regressor reads the *real* images of each cGAN class when they are degraded.

    python experiments/regressor_degradation.py --regressor runs/cgan_demo/regressor --data runs/cgan_demo/data

Prints the mean (valence, arousal) per class for the clean images, with additive Gaussian pixel noise
(σ on the [-1, 1] scale, seeded) and after a Gaussian blur (σ in pixels). The cGAN's faces are noisier and
blurrier than the renderer's, so this separates the regressor's reaction to image quality from the
expression the generator draws (README, "Training mode that makes the label count").
"""

from __future__ import annotations

import argparse
import os
import shlex
import sys

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--regressor", required=True)
    p.add_argument("--data", required=True, help="labelled discrete set (labels.csv with emotion)")
    p.add_argument("--noise", default="0.05,0.1,0.2", help="pixel-noise σ values")
    p.add_argument("--blur", default="0.5,1.0", help="Gaussian blur σ values (pixels)")
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)
    import cv2

    from caae_tf import images as I
    from caae_tf import labels as L
    from caae_tf.data.table import label_arrays, load_table
    from caae_tf.regressor_train import load_regressor

    print("`python " + " ".join(shlex.quote(a) for a in [os.path.relpath(__file__, ROOT), *sys.argv[1:]]) + "`\n")
    reg = load_regressor(args.regressor)
    df, _ = load_table(args.data, require=("emotion",))
    emo = label_arrays(df)["emotion"]
    imgs = np.stack([I.to_float(I.decode_image(b)) for b in df["image_bytes"]])
    rng = np.random.default_rng(args.seed)
    rows = [("clean", imgs)]
    rows += [(f"noise σ={float(s):g}", np.clip(imgs + rng.normal(0, float(s), imgs.shape).astype(np.float32), -1, 1))
             for s in args.noise.split(",") if s]
    rows += [(f"blur σ={float(s):g} px", np.stack([cv2.GaussianBlur(i, (0, 0), float(s)) for i in imgs]))
             for s in args.blur.split(",") if s]
    print("| images | " + " | ".join(L.CGAN_EMOTIONS) + " |")
    print("|---|" + "---|" * len(L.CGAN_EMOTIONS))
    for name, x in rows:
        pred = reg.predict_va(x)
        cells = [f"({pred[emo == k, 0].mean():.2f}, {pred[emo == k, 1].mean():.2f})"
                 for k in range(len(L.CGAN_EMOTIONS))]
        print(f"| {name} | " + " | ".join(cells) + " |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
