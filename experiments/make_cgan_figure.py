"""Paper 001 Fig. 5-style figure from a trained cGAN: label interpolation Neutral → each extreme emotion.

For each of ``--num-z`` noise vectors (``CGANSampler.sample_z(num_z, seed)``, the same vectors as
``caae-tf generate --seed``) one block: rows = the 5 extreme emotions (sadness, disgust, fear, anger,
happiness), columns = ``--steps`` steps of v(α) = (1-α)·e_Neutral + α·e_emotion (paper 001 Eq. 4), α = 0 … 1.
Rows are labelled with the emotion, columns with α.

    python experiments/make_cgan_figure.py --model runs/cgan_demo/run --out docs/demo_cgan_interpolation.png
"""

from __future__ import annotations

import argparse
import sys

import numpy as np


def build_figure(generator, num_z: int = 2, seed: int = 0, steps: int = 11, scale: int = 1) -> np.ndarray:
    """uint8 RGB figure (see module docstring)."""
    import cv2

    from caae_tf import labels
    from caae_tf.generate import interpolation_grid
    from caae_tf.images import make_grid

    emotions = labels.EXTREME_EMOTIONS
    per_emotion = {}
    for e in emotions:
        _grid, imgs, alphas = interpolation_grid(generator, e, steps=steps, num_z=num_z, seed=seed)
        per_emotion[e] = imgs  # [num_z, K, S, S, 3]
    s = generator.image_size * scale
    pad, label_w, header_h, gap = 2, 78, 16, 8
    font, fscale = cv2.FONT_HERSHEY_SIMPLEX, 0.38
    blocks = []
    for k in range(num_z):
        tiles = [per_emotion[e][k, j] for e in emotions for j in range(len(alphas))]
        if scale != 1:
            tiles = [cv2.resize(t, (s, s), interpolation=cv2.INTER_NEAREST) for t in tiles]
        grid = make_grid(tiles, cols=len(alphas), pad=pad)
        canvas = np.full((grid.shape[0] + header_h, grid.shape[1] + label_w, 3), 255, np.uint8)
        canvas[header_h:, label_w:] = grid
        for r, e in enumerate(emotions):
            y = header_h + pad + r * (s + pad) + s // 2 + 4
            cv2.putText(canvas, e, (4, y), font, fscale, (0, 0, 0), 1, cv2.LINE_AA)
        for j, a in enumerate(alphas):
            x = label_w + pad + j * (s + pad) + s // 2 - 10
            cv2.putText(canvas, f"{a:.1f}", (x, header_h - 4), font, fscale, (0, 0, 0), 1, cv2.LINE_AA)
        cv2.putText(canvas, f"z{k}", (4, header_h - 4), font, fscale, (90, 90, 90), 1, cv2.LINE_AA)
        blocks.append(canvas)
    spacer = np.full((gap, blocks[0].shape[1], 3), 255, np.uint8)
    parts = []
    for b in blocks:
        parts += [b, spacer]
    return np.concatenate(parts[:-1], axis=0)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--model", required=True, help="cGAN run dir or SavedModel dir")
    p.add_argument("--out", required=True, help="output PNG")
    p.add_argument("--num-z", type=int, default=2, help="noise vectors = blocks (default 2)")
    p.add_argument("--seed", type=int, default=0, help="seed of the noise vectors (as caae-tf generate --seed)")
    p.add_argument("--steps", type=int, default=11, help="interpolation steps (paper: 11)")
    p.add_argument("--scale", type=int, default=1, help="nearest-neighbour upscaling of each tile")
    p.add_argument("--palette", type=int, default=256,
                   help="store the PNG with an N-colour palette (median cut, no dither; GAN pixel noise makes "
                        "full RGB PNGs ~1 MB, a 256-colour palette ~130 KB); 0 = full RGB")
    args = p.parse_args(argv)

    from caae_tf.generate import CGANSampler
    from caae_tf.images import write_image

    fig = build_figure(CGANSampler(args.model), num_z=args.num_z, seed=args.seed, steps=args.steps, scale=args.scale)
    if args.palette:
        import os

        from PIL import Image

        os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
        Image.fromarray(fig).quantize(colors=args.palette, method=Image.Quantize.MEDIANCUT,
                                      dither=Image.Dither.NONE).save(args.out, optimize=True)
    else:
        write_image(args.out, fig)
    print(f"wrote {args.out} ({fig.shape[1]}x{fig.shape[0]})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
