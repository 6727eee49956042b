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
    import sys

    if _VERBOSE or "tensorflow" in sys.modules:
        import tensorflow as _tf
    else:
        # TF 2.21 writes oneDNN/CUDA banners from C++ (absl) straight to fd 2 before any Python log level
        # applies; hide fd 2 for the duration of the import only.
        with _quiet_fd2():
            import tensorflow as _tf
            import keras  # noqa: F401 - imported for its side effect: its start-up output falls in the hidden fd 2 too

    if not _VERBOSE:
        _tf.get_logger().setLevel(logging.ERROR)
        try:
            import absl.logging

            absl.logging.set_verbosity(absl.logging.ERROR)
        except ImportError:  # pragma: no cover
            pass
    return _tf


class _quiet_fd2:
    def __enter__(self):
        import sys

        try:
            sys.stderr.flush()
            self._saved = os.dup(2)
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, 2)
            os.close(devnull)
        except OSError:  # pragma: no cover - no fd 2 (embedded interpreters)
            self._saved = None
        return self

    def __exit__(self, *exc):
        if self._saved is not None:
            os.dup2(self._saved, 2)
            os.close(self._saved)
        return False
