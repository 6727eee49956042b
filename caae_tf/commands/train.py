"""``caae-tf train caae|cgan``: train the CAAE (paper 000) or the conditional GAN (paper 001)."""

from __future__ import annotations

from caae_tf.commands._common import add_run_arguments

HELP = "train the CAAE editor (paper 000) or the label-interpolating cGAN (paper 001)"
DESCRIPTION = (
    "Train a model with the shared driver: checkpoints + --resume (weights, optimizer slots, data position), "
    "TensorBoard logs, sample grids, NaN guard, SIGINT/SIGTERM checkpoint-and-exit. The run dir receives "
    "config.yaml, checkpoints/, logs/ and samples/."
)


def add_arguments(p) -> None:

    p.add_argument("model", choices=["caae", "cgan"], help="which model to train")
    p.add_argument("--data", required=True,
                   help="records dir (caae-tf prepare), labels CSV, folder with labels.csv, or class folders")
    add_run_arguments(p, config_help="YAML/JSON config file or a packaged preset name (caae_paper, caae_demo, "
                                     "caae_demo_paper, cgan_paper, cgan_demo, caae_tiny, cgan_tiny; see "
                                     "caae_tf/presets/)",
                      set_example="--set steps=2000 --set identity_weight=0", set_dest="overrides")


def run(args) -> int:
    from caae_tf.train import configure_cpu_replicas, train_command

    configure_cpu_replicas()
    result = train_command(
        args.model, args.data, args.run_dir, config_file=args.config, overrides=args.overrides,
        resume=args.resume, progress=not args.quiet, strategy=args.strategy,
    )
    losses = ", ".join(f"{k}={v:.4f}" for k, v in sorted(result.last_losses.items()))
    print(f"{result.status} at step {result.step}; checkpoint {result.checkpoint}")
    print(f"last losses: {losses}")
    print(f"TensorBoard: tensorboard --logdir {result.run_dir}/logs")
    return 0
