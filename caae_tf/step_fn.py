"""The compiled training step: ``model.train_step`` under a ``tf.distribute`` strategy, written once.

:func:`make_train_fn` is what the training loop (:func:`caae_tf.loop.fit`), the bench (:mod:`caae_tf.bench`)
and the bench experiments (``experiments/bench/``) run.
"""

from __future__ import annotations

from typing import Callable

from caae_tf.tf_env import tf as _tf


def make_train_fn(model, strategy=None, *, jit_compile: bool = False) -> Callable[[dict], dict]:
    """A ``tf.function`` ``batch → {name: scalar}`` running ``model.train_step`` once on every replica of
    ``strategy`` (default: the current one) and averaging the logged values over replicas (``ReduceOp.MEAN``).

    ``batch`` is the *global* batch (a dict of tensors); under several replicas each replica takes its slice
    inside the function (so a single checkpointable iterator keeps the data order of a single-device run).
    ``jit_compile`` compiles the step with XLA.
    """
    tf = _tf()
    strategy = strategy or tf.distribute.get_strategy()
    replicas = strategy.num_replicas_in_sync

    @tf.function(jit_compile=bool(jit_compile))
    def train_fn(batch):
        if replicas > 1:
            batch = strategy.experimental_distribute_values_from_function(
                lambda ctx: {k: tf.split(v, replicas)[ctx.replica_id_in_sync_group] for k, v in batch.items()}
            )
        out = strategy.run(model.train_step, args=(batch,))
        return {k: strategy.reduce(tf.distribute.ReduceOp.MEAN, v, axis=None) for k, v in out.items()}

    return train_fn
