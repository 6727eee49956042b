"""``caae-tf train-identity``: train a VGG-Face-architecture identity network for the CAAE's L_iden."""

from __future__ import annotations

import argparse

from caae_tf.commands._common import add_run_arguments

HELP = "train a VGG-Face-architecture identity classifier (for identity_network= of a CAAE run)"
DESCRIPTION = (
    HELP + ". Paper 000's identity loss uses the pre-trained VGG-Face model (Parkhi et al. 2015); when its "
    "weights (.mat/.h5) are not at hand, this trains the same architecture (optionally narrower, "
    "--set width_multiplier=0.25, and smaller, --set image_size=64) as an identity classifier on any "
    "identity-labelled CSV (path,identity,...). Holds out 10%% of each identity's images and reports "
    "held-out accuracy. RUN_DIR gets checkpoints/, identity.json, config.yaml, status.json and "
    "TensorBoard logs/ (the run-dir layout of every trainer)."
)


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--data", required=True, metavar="SRC",
                   help="identity-labelled CSV (path,identity,...) or a folder with labels.csv")
    add_run_arguments(p, config_help="YAML/JSON IdentityConfig file or preset name (identity_demo)",
                      set_example="--set steps=2000 --set width_multiplier=0.25")


def run(args: argparse.Namespace) -> int:
    from caae_tf.commands._common import strategy_from_args
    from caae_tf.config import IdentityConfig, resolve_config
    from caae_tf.identity_train import train_identity
    from caae_tf.presets import resolve

    cfg = resolve_config(IdentityConfig, resolve(args.config) if args.config else None, args.set)
    out = train_identity(args.data, args.run_dir, cfg, verbose=0 if args.quiet else 1, resume=args.resume,
                         strategy=strategy_from_args(args))
    r = out["results"]
    held = "n/a (no identity has 5+ images)" if r["heldout_accuracy"] is None else f"{r['heldout_accuracy']:.3f}"
    print(f"identities: {out['num_classes']}  train images: {out['num_train']}  held-out images: {out['num_heldout']}")
    print(f"train loss {r['train_loss']:.4f}  train accuracy {r['train_accuracy']:.3f}  held-out accuracy {held}  "
          f"(chance {r['chance_accuracy']:.3f})")
    print(f"checkpoint: {out['checkpoint']}")
    print(f"use it with: caae-tf train caae ... --set identity_network={out['run_dir']}")
    return 0
