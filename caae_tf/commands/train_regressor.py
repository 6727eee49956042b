"""``caae-tf train-regressor``: train the valence/arousal regressor used by the experiments."""

from __future__ import annotations

import argparse

from caae_tf.commands._common import add_run_arguments

HELP = "train a valence/arousal regressor (paper 000 Table II CNN or paper 001 MobileNetV2 multi-task)"
DESCRIPTION = (
    HELP + ". Splits the data by identity (val_fraction) unless --val-data is given, trains in the "
    "training loop of every model (TensorBoard logs in RUN_DIR/logs, checkpoints in RUN_DIR/checkpoints) and "
    "reports RMSE/SAGR/CCC on the validation split in the layout of paper 000 Table III "
    "(RUN_DIR/table3.csv, table3.json)."
)


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--arch", choices=("table2", "mobilenetv2"), default=None,
                   help="table2: two VGG-like CNNs (paper 000); mobilenetv2: VA + 8 classes (paper 001). "
                        "Overrides the config's 'arch' (default table2)")
    p.add_argument("--data", required=True, metavar="SRC",
                   help="labelled CSV, folder with labels.csv, or TFRecord directory (needs valence/arousal)")
    p.add_argument("--val-data", metavar="SRC", help="separate validation source (otherwise split by identity)")
    add_run_arguments(p, config_help="YAML/JSON RegressorConfig file or preset name (regressor_mobilenetv2_paper)",
                      set_example="--set steps=200 --set width_multiplier=0.25")


def run(args: argparse.Namespace) -> int:
    from caae_tf.commands._common import strategy_from_args
    from caae_tf.config import RegressorConfig, resolve_config
    from caae_tf.evaluation.metrics import format_table
    from caae_tf.presets import resolve
    from caae_tf.regressor_train import train_regressor

    overrides = list(args.set)
    if args.arch:
        overrides.append(f"arch={args.arch}")
    cfg = resolve_config(RegressorConfig, resolve(args.config) if args.config else None, overrides)
    result = train_regressor(args.data, args.run_dir, cfg, val_data=args.val_data, verbose=0 if args.quiet else 1,
                             resume=args.resume, strategy=strategy_from_args(args))
    print(format_table(result["metrics"], title=f"Table III ({cfg.arch}, {result['num_images']} validation images)"))
    if result.get("emotion8_accuracy") is not None:
        print(f"8-class accuracy: {result['emotion8_accuracy']:.3f} on {result['emotion8_known']} labelled images")
    print(f"wrote {args.run_dir}/table3.csv, table3.json, checkpoints/")
    return 0
