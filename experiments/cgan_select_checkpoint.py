"""Pick a cGAN run's checkpoint by a validator trained on the cGAN's own training set (beyond paper 001;
:mod:`caae_tf.evaluation.selection`), and optionally write it as a new run dir.

    caae-tf train-regressor --arch table2 --data runs/cgan_demo/data --run-dir runs/cgan_demo/validator ...
    python experiments/cgan_select_checkpoint.py --run runs/cgan_demo/run --validator runs/cgan_demo/validator \
        --data runs/cgan_demo/data --min-step 4000 --num-z 200 --out runs/cgan_demo/run_selected

Per checkpoint it prints the validator's score (≤ 1: every class within issue 13's tolerances as the validator
reads it) and the worst class; ``--out`` gets the chosen checkpoint's weights as a run dir
(:func:`caae_tf.serving.save_weights_as_run`) with ``selection.json`` (the command, every checkpoint's readings
and scores). The validator must not be the judge that later reports the targets: train it on ``--data``, the
cGAN's training set, and judge with a regressor trained on other identities (``experiments/cgan_demo.sh``).
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--run", required=True, help="a cGAN training run dir (its checkpoints/ are scored)")
    p.add_argument("--validator", required=True, help="train-regressor run dir trained on --data")
    p.add_argument("--data", required=True, help="the cGAN's training set (labels.csv with emotion)")
    p.add_argument("--min-step", type=int, default=0, help="only checkpoints at or after this step")
    p.add_argument("--steps", type=int, nargs="+", default=None, help="only these checkpoint steps")
    p.add_argument("--num-z", type=int, default=200)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default=None, help="new run dir for the chosen checkpoint (must not exist)")
    p.add_argument("--report", default=None, help="selection JSON (default OUT/selection.json; printed anyway)")
    args = p.parse_args(argv)
    command = "python " + " ".join(shlex.quote(a) for a in [os.path.relpath(__file__, ROOT), *(argv or sys.argv[1:])])
    if args.out and os.path.exists(args.out):
        p.error(f"--out {args.out} exists; choose a new directory")

    from caae_tf import labels as L
    from caae_tf.config import load_config
    from caae_tf.errors import ModelError
    from caae_tf.evaluation.selection import class_tolerances, select_checkpoint
    from caae_tf.regressor_train import load_regressor
    from caae_tf.serving import CONFIG_FILE, load_model, save_weights_as_run

    sys.path.insert(0, os.path.join(ROOT, "experiments"))
    from cgan_targets import labelled_images

    if not os.path.isfile(os.path.join(args.run, CONFIG_FILE)):
        raise SystemExit(f"{args.run}: not a training run dir (no {CONFIG_FILE})")
    validator = load_regressor(args.validator)
    arr, images = labelled_images(args.data, load_config(os.path.join(args.run, CONFIG_FILE)).image_size)

    def show(step, score, err):
        worst = int((err / class_tolerances()).argmax())
        print(f"ckpt-{step}: score {score:.3f} (worst {L.CGAN_EMOTIONS[worst]} {err[worst]:.3f}; "
              f"Neutral {err[0]:.3f}, max alpha 1 {err[1:].max():.3f})", flush=True)

    try:
        res = select_checkpoint(args.run, validator, images, arr["emotion"], steps=args.steps,
                                min_step=args.min_step, num_z=args.num_z, seed=args.seed, progress=show)
    except ModelError as exc:
        raise SystemExit(str(exc)) from None
    record = {"command": command, "run": args.run, "validator": args.validator, "data": args.data,
              "num_z": args.num_z, "seed": args.seed, **res.to_dict()}
    print(f"selected ckpt-{res.best_step} (score {min(res.scores):.3f}) of {args.run}")
    if args.out:
        model, _ = load_model(args.run, checkpoint=res.best_path)
        saved = save_weights_as_run(model, args.run, args.out, res.best_step, record, "selection.json")
        print(f"wrote {saved}")
    if args.report:
        os.makedirs(os.path.dirname(os.path.abspath(args.report)), exist_ok=True)
        with open(args.report, "w", encoding="utf-8") as fh:
            json.dump(record, fh, indent=1, default=float)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
