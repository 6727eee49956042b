"""Average a cGAN run's weights over several of its checkpoints into a new run dir: a post-hoc test of whether
a longer averaging horizon for G_ema (``g_ema_decay`` closer to 1) would steady what the judge reads.

    python experiments/cgan_average_checkpoints.py --run runs/c25/pm16blur_s1 --steps 5000 6000 7000 \
        --out runs/c25/avg_pm16blur_s1

Why: the judged class means of one run move by up to 0.12 between its checkpoints 1,000 steps apart, although
samples come from an EMA of G's weights with decay 0.999 (a ~1,000-step horizon; Karras et al. 2018). The
uniform mean of the EMA weights at steps s_1 … s_n is the Polyak average over a longer horizon (Yazıcı et al.
2019, "The unusual effectiveness of averaging in GAN training"), taken from checkpoints that already exist.

Every weight of the model (G, G_ema with its batch-norm statistics, D) is the arithmetic mean over the
checkpoints (integer state such as seed counters keeps the last one's); only G_ema (or G with ``--raw-g``
downstream) is used to sample. ``OUT`` gets the run's ``config.yaml`` and ``status.json`` and one checkpoint
``OUT/checkpoints/ckpt-<last step>`` holding the model's weights only (no optimizer), which ``cgan_targets.py
--model OUT``, ``make_cgan_figure.py`` and ``caae-tf export cgan --run-dir OUT`` read like any run dir.
``OUT/averaged.json`` records the command and the checkpoints. A checkpoint that is missing or does not match
the run's config is an error naming it.
"""

from __future__ import annotations

import argparse
import os
import sys

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--run", required=True, help="a cGAN training run dir")
    p.add_argument("--steps", type=int, nargs="+", required=True, help="checkpoint steps to average (>= 2)")
    p.add_argument("--out", required=True, help="new run dir (must not exist)")
    args = p.parse_args(argv)

    from caae_tf.serving import CKPT_DIR, load_model, restore_weights, save_weights_as_run
    from caae_tf.tf_env import tf as _tf

    _tf()
    import keras  # after caae_tf.tf_env has set TensorFlow up

    if len(set(args.steps)) < 2:
        p.error("--steps needs at least two different checkpoints")
    if os.path.exists(args.out):
        p.error(f"--out {args.out} exists; choose a new directory")
    paths = [os.path.join(args.run, CKPT_DIR, f"ckpt-{s}") for s in sorted(set(args.steps))]
    for path in paths:
        if not os.path.isfile(path + ".index"):
            p.error(f"{path}: no such checkpoint in {args.run}")

    # build the model once (first checkpoint), then restore each further checkpoint into it
    model, _ = load_model(args.run, checkpoint=paths[0])
    floats = [w for w in model.weights if keras.backend.is_float_dtype(w.dtype)]
    total = [np.asarray(w.numpy(), np.float64) for w in floats]
    for path in paths[1:]:
        restore_weights(model, path, f"the model in {args.run}")
        total = [t + w.numpy() for t, w in zip(total, floats)]
    for w, t in zip(floats, total):  # integer state (random-seed counters) keeps the last checkpoint's value
        w.assign((t / len(paths)).astype(np.float32))

    saved = save_weights_as_run(model, args.run, args.out, max(args.steps),
                                {"command": " ".join(sys.argv), "run": args.run, "checkpoints": paths}, "averaged.json")
    print(f"wrote {saved}: the mean of {len(paths)} checkpoints of {args.run}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
