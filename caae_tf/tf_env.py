"""Quiet, consistent TensorFlow start-up.

TensorFlow prints oneDNN banners, CUDA-not-found warnings and absl chatter at import time. The CLI
calls :func:`configure` before anything imports TensorFlow; ``--verbose`` leaves all of it on.
oneDNN itself stays enabled (``TF_ENABLE_ONEDNN_OPTS=0`` makes these models ~2.5x slower on CPU).
"""

from __future__ import annotations

import logging
import os
import warnings

_VERBOSE = False


def configure(verbose: bool = False) -> None:
    """Set logging env vars; must run before the first ``import tensorflow``."""
    global _VERBOSE
    _VERBOSE = verbose
    if verbose:
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "0")
        return
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    os.environ.setdefault("ABSL_MIN_LOG_LEVEL", "3")
    os.environ.setdefault("GRPC_VERBOSITY", "ERROR")
    warnings.filterwarnings("ignore", category=UserWarning, module="keras")
    warnings.filterwarnings("ignore", category=DeprecationWarning)


def tf():
    """Import TensorFlow with the configured verbosity and return the module."""
    if "TF_CPP_MIN_LOG_LEVEL" not in os.environ:
        configure(_VERBOSE)
    import tensorflow as _tf  # noqa: PLC0415

    if not _VERBOSE:
        _tf.get_logger().setLevel(logging.ERROR)
        try:
            import absl.logging  # noqa: PLC0415

            absl.logging.set_verbosity(absl.logging.ERROR)
        except ImportError:  # pragma: no cover
            pass
    return _tf


def is_verbose() -> bool:
    return _VERBOSE
