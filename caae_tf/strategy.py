"""Distribution strategies by name (``--strategy``) for the training loop (:mod:`caae_tf.loop`)."""

from __future__ import annotations

import os

from caae_tf.errors import TrainingError
from caae_tf.tf_env import tf as _tf

STRATEGIES = ("default", "mirrored", "multiworker")


def make_strategy(name: str = "default"):
    """A ``tf.distribute`` strategy by name.

    * ``default``: the default (single-device) strategy;
    * ``mirrored``: ``MirroredStrategy`` over all local GPUs, or — without GPUs — over all logical CPU
      devices (create several with ``tf.config.set_logical_device_configuration`` before TF initialises,
      e.g. via ``CAAE_TF_CPU_REPLICAS=2``; this is how the CI test exercises multi-replica training);
    * ``multiworker``: ``MultiWorkerMirroredStrategy`` (each host runs the same command with its own
      ``TF_CONFIG``; the global batch is split across all replicas of all workers).
    """
    tf = _tf()
    if name not in STRATEGIES:
        raise TrainingError(f"unknown strategy {name!r}; choose one of {', '.join(STRATEGIES)}")
    if name == "default":
        return tf.distribute.get_strategy()
    if name == "multiworker":
        return tf.distribute.MultiWorkerMirroredStrategy()
    gpus = tf.config.list_logical_devices("GPU")
    devices = [d.name for d in (gpus or tf.config.list_logical_devices("CPU"))]
    return tf.distribute.MirroredStrategy(devices=devices)


def configure_cpu_replicas(n: int | None = None) -> None:
    """Split the CPU into ``n`` logical devices (``$CAAE_TF_CPU_REPLICAS``); must run before TF initialises."""
    n = n or int(os.environ.get("CAAE_TF_CPU_REPLICAS", "0") or 0)
    if n > 1:
        tf = _tf()
        cpu = tf.config.list_physical_devices("CPU")[0]
        tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * n)

