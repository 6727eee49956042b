"""Measure CAAE training modes against the synthetic ground truth (issue: CAAE edits that beat doing nothing).

Each variant is the demo preset plus ``--set``-style overrides, trained on the same synthetic training set
for the same number of steps, then judged by :mod:`caae_tf.evaluation.synthetic_truth` (the renderer is the
judge; no trained network). One JSON line per variant goes to ``OUT/results.jsonl`` and a markdown table to
``OUT/results.md``.

    python experiments/caae_edit_modes.py --out runs/edit_modes --steps 600 \
        --variant paper --variant edit
    python experiments/caae_edit_modes.py --out runs/edit_modes --steps 600 \
        --variant "edit_no_va:lambda_va=0" --variant "edit_no_cycle:lambda_cycle=0"

``--variant NAME[:key=value,key=value]``: NAME is a named variant (``NAMED`` below: ``paper``, ``edit``,
``region_learned``, ``residual``, ``region_erased_z``), or ``BASE+anything`` to start from a named one, or
any other name to start from ``edit``; the overrides apply on top.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))

# the previous demo preset's settings that the current one changed (5x5 kernels, lambda_rec 1, lr 3e-4)
_PREVIOUS = ["edit_region_prior=", "edit_region_trainable=true", "lambda_rec=1", "kernel_size=5",
             "learning_rate=0.0003"]
_LEARNED_REGION = ["edit_region_resolution=16", "lambda_region=0.1", "lambda_region_adv=1", "lambda_cond=0.01"]
_REGION_OFF = ["edit_region=false", "edit_region_full_z=false", "edit_region_floor=0", "lambda_region=0",
               "lambda_region_adv=0", "lambda_z_label=0"]
NAMED = {
    # the paper's method at the demo budget (no identity network: the demo preset has none either)
    "paper": ("caae_demo_paper.yaml", ["identity_weight=0"]),
    # the demo preset: editing region from the data (label_variance prior, fixed), z from the whole face +
    # latent adversary, lambda_rec 10, 3x3 kernels
    "edit": ("caae_demo.yaml", []),
    # the previous demo preset: region learned with the adversary D_erased, matching-aware D on edits
    "region_learned": ("caae_demo.yaml", _PREVIOUS + _LEARNED_REGION),
    # StarGAN / GANimation-style alternative: residual G, auxiliary VA regressor D_va, cycle, edit sparsity
    "residual": ("caae_demo.yaml", _PREVIOUS + _REGION_OFF + ["g_residual=true", "lambda_va=1", "lambda_cycle=1",
                                                              "lambda_delta=0.1", "lambda_cond=0.01"]),
    # the first editing-region variant: z from the erased face, no latent adversary, no floor
    "region_erased_z": ("caae_demo.yaml", _PREVIOUS + _LEARNED_REGION + [
        "edit_region_full_z=false", "lambda_z_label=0", "edit_region_floor=0"]),
}


def parse_variant(spec: str) -> tuple[str, str, list[str]]:
    name, _, rest = spec.partition(":")
    base = name if name in NAMED else (name.split("+")[0] if name.split("+")[0] in NAMED else "edit")
    preset, overrides = NAMED[base]
    extra = [kv for kv in re.split(r",(?![^\[]*\])", rest) if kv.strip()] if rest else []  # not inside [...]
    return name, preset, list(overrides) + extra


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", required=True)
    ap.add_argument("--variant", action="append", required=True)
    ap.add_argument("--steps", type=int, default=None, help="override the preset's steps")
    ap.add_argument("--data", default=None, help="training set (default: render OUT/data, as the demo does)")
    ap.add_argument("--identities", type=int, default=1000)
    ap.add_argument("--per-identity", type=int, default=4)
    ap.add_argument("--heldout", type=int, default=6)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)

    from caae_tf.edit import Editor
    from caae_tf.evaluation.synthetic_truth import format_summary, run_synthetic_truth
    from caae_tf.train import train_command
    from data_prep.synthetic import generate_dataset

    os.makedirs(args.out, exist_ok=True)
    data = args.data or os.path.join(args.out, "data")
    if not os.path.exists(os.path.join(data, "labels.csv")):
        generate_dataset(data, args.identities, args.per_identity, size=64, seed=args.seed, progress=False)
    md = []
    for spec in args.variant:
        name, preset, overrides = parse_variant(spec)
        if args.steps:
            overrides.append(f"steps={args.steps}")
        overrides.append(f"seed={args.seed}")
        run = os.path.join(args.out, name)
        t0 = time.perf_counter()
        fit = train_command("caae", data, run, config_file=preset,  # a caae_tf.presets name
                            overrides=overrides, resume=os.path.exists(os.path.join(run, "checkpoints", "checkpoint")),
                            progress=False)
        train_s = time.perf_counter() - t0
        summary = run_synthetic_truth(Editor.load(run), os.path.join(run, "truth"), identities=args.heldout,
                                      seed=args.seed)
        rec = {"variant": name, "preset": preset, "overrides": overrides, "steps": fit.step,
               "train_seconds": round(train_s, 1), "load_avg": os.getloadavg(), "last_losses": fit.last_losses,
               **summary}
        with open(os.path.join(args.out, "results.jsonl"), "a", encoding="utf-8") as fh:
            fh.write(json.dumps(rec, default=float) + "\n")
        text = (f"## {name} ({preset} + {' '.join(overrides)}; {fit.step} steps, {train_s:.0f} s)\n\n"
                + format_summary(summary))
        print(text, flush=True)
        md.append(text)
    with open(os.path.join(args.out, "results.md"), "a", encoding="utf-8") as fh:
        fh.write("\n\n".join(md) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
