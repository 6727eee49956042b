"""One module per ``caae-tf`` subcommand: ``HELP``, ``add_arguments(parser)``, ``run(args) -> int``.

Modules here must not import TensorFlow at import time (``caae-tf --help`` builds every parser).
"""
