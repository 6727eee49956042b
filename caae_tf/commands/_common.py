"""Arguments every ``caae-tf train*`` command shares: the run dir, a config (file or packaged preset), ``--set``
overrides, ``--resume``, ``--strategy`` and ``--quiet`` — one spelling for the one training loop."""

from __future__ import annotations

import argparse

STRATEGY_HELP = ("tf.distribute strategy: mirrored = all local GPUs (or logical CPUs, see CAAE_TF_CPU_REPLICAS); "
                 "multiworker = MultiWorkerMirroredStrategy via TF_CONFIG")


def add_run_arguments(p: argparse.ArgumentParser, *, config_help: str, set_example: str,
                      set_dest: str = "set") -> None:
    """``--run-dir``, ``--config``, ``--set`` (into ``args.<set_dest>``), ``--resume``, ``--strategy``,
    ``--quiet``."""
    p.add_argument("--run-dir", required=True, metavar="DIR", help="output run directory")
    p.add_argument("--config", default=None, metavar="FILE|PRESET", help=config_help)
    p.add_argument("--set", dest=set_dest, action="append", default=[], metavar="KEY=VALUE",
                   help=f"override a config key (repeatable), e.g. {set_example}")
    p.add_argument("--resume", action="store_true", help="continue from the run dir's latest checkpoint")
    p.add_argument("--strategy", choices=["default", "mirrored", "multiworker"], default="default",
                   help=STRATEGY_HELP)
    p.add_argument("--quiet", action="store_true", help="no progress bar")


def strategy_from_args(args: argparse.Namespace):
    """The ``tf.distribute`` strategy named by ``--strategy`` (logical CPU replicas configured first)."""
    from caae_tf.strategy import configure_cpu_replicas, make_strategy

    configure_cpu_replicas()
    return make_strategy(args.strategy)
