"""Background noise of generated faces against real ones: a number for issue 13's faces target.

    python experiments/cgan_background_noise.py --model runs/c26/preset_s4 --data runs/quiet/cgan_demo3/data --num 120

The synthetic faces' backgrounds are smooth gradients, and the cGAN's are blotched with colour patches (README,
"Fourteenth round"). Per image, in the two top corners (``--patch`` px squares, away from hair and face), each
channel's least-squares plane a + b·y + c·x is removed, and the standard deviation of what is left is averaged over
corners, channels and images (images in [-1, 1]). A smooth gradient scores 0; real images score their renderer's
grain. ``--model`` may be given several times; G draws ``--num`` faces over the six one-hot classes (z seed 0).
"""

from __future__ import annotations

import argparse
import os
import sys

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)


def corner_residual_std(images: np.ndarray, patch: int = 12) -> float:
    """Mean residual std after a per-channel plane fit in the top-left and top-right ``patch`` squares."""
    images = np.asarray(images, np.float64)
    if images.ndim != 4 or images.shape[1] < patch or images.shape[2] < patch:
        raise ValueError(f"expected [N, H, W, C] images of at least {patch} px, got {images.shape}")
    yy, xx = np.mgrid[0:patch, 0:patch]
    basis = np.stack([np.ones(patch * patch), yy.ravel(), xx.ravel()], 1)
    proj = np.eye(patch * patch) - basis @ np.linalg.pinv(basis)  # residual projector
    corners = np.concatenate([images[:, :patch, :patch], images[:, :patch, -patch:]], axis=0)
    flat = corners.transpose(0, 3, 1, 2).reshape(-1, patch * patch)  # [2N·C, patch²]
    return float((flat @ proj.T).std(axis=1).mean())


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--model", action="append", default=[], help="cGAN run dir or SavedModel (repeatable)")
    p.add_argument("--data", required=True, help="the real set (labels.csv with emotion)")
    p.add_argument("--num", type=int, default=120)
    p.add_argument("--patch", type=int, default=12)
    args = p.parse_args(argv)
    sys.path.insert(0, os.path.join(ROOT, "experiments"))
    from cgan_targets import labelled_images

    _, real = labelled_images(args.data)
    idx = np.linspace(0, len(real) - 1, min(args.num, len(real))).astype(int)
    print(f"real ({args.data}): {corner_residual_std(real[idx], args.patch):.4f}")
    if args.model:
        from caae_tf.generate import CGANSampler

        for m in args.model:
            g = CGANSampler(m)
            ims = g.generate(g.sample_z(args.num, 0), np.eye(6, dtype=np.float32)[np.arange(args.num) % 6])
            print(f"{m}: {corner_residual_std(ims, args.patch):.4f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
