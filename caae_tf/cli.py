"""The ``caae-tf`` command line: parses, then calls one function per subcommand.

Each subcommand lives in ``caae_tf/commands/<name>.py`` with ``HELP``, ``add_arguments(parser)`` and
``run(args) -> int``. Command modules import TensorFlow only inside ``run`` so that ``--help`` and
``--version`` stay instant, and after :func:`caae_tf.tf_env.configure` has silenced TF's start-up logs.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from caae_tf import __version__
from caae_tf import tf_env

#: subcommand → module under caae_tf.commands
COMMANDS: dict[str, str] = {
    "demo": "demo",
    "synth": "synth",
    "prepare": "prepare",
    "train": "train",
    "train-identity": "train_identity",
    "train-regressor": "train_regressor",
    "edit": "edit",
    "generate": "generate",
    "calibrate": "calibrate",
    "export": "export",
    "metrics": "metrics",
    "experiment": "experiment",
    "bench": "bench",
    "data-bench": "data_bench",
    "study": "study",
}


def _load(name: str):
    return importlib.import_module(f"caae_tf.commands.{COMMANDS[name]}")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="caae-tf",
        description="Continuous-emotion face editing (CAAE) and label-interpolating cGANs in TensorFlow/Keras.",
    )
    parser.add_argument("--version", action="version", version=f"caae-tf {__version__}")
    parser.add_argument("--verbose", action="store_true", help="show TensorFlow's own log output")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMANDS:
        mod = _load(name)
        p = sub.add_parser(name, help=mod.HELP, description=getattr(mod, "DESCRIPTION", mod.HELP))
        p.add_argument("--verbose", action="store_true", default=argparse.SUPPRESS,
                       help="show TensorFlow's own log output")
        mod.add_arguments(p)
        p.set_defaults(_command=name)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "command", None):
        parser.print_help()
        return 2
    tf_env.configure(verbose=getattr(args, "verbose", False))
    if getattr(_load(args._command), "NEEDS_TF", True):
        tf_env.tf()  # import TensorFlow once, with its C++ start-up banners hidden unless --verbose
    from caae_tf.errors import UserError

    try:
        return int(_load(args._command).run(args) or 0)
    except UserError as exc:
        print(f"caae-tf {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"caae-tf {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
