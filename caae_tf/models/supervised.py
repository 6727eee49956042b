"""A supervised network as a model of the one training loop (:mod:`caae_tf.loop`).

:class:`SupervisedTrainer` wraps a Keras network (a valence/arousal regressor, the identity classifier) so
that it satisfies the loop's trainable-model protocol, as the GANs do: it owns its optimizer and loss through
Keras ``compile`` (the choices of :func:`caae_tf.models.regressors.compile_regressor` or the identity
trainer), and its ``train_step(batch) -> {name: scalar}`` is Keras's own default ``Model.train_step``
spelled out with a ``GradientTape`` — ``self(x, training=True)``, ``compute_loss``, ``optimizer.scale_loss``,
``optimizer.apply`` — except that it returns this step's values instead of running means, so the loop's
NaN guard and logs see every step. It draws no samples (``sample_images`` is optional in the protocol).

Batches are the input pipeline's dicts; ``targets(batch)`` picks the labels in the structure of the
network's outputs (e.g. ``{"va": ..., "emotion8": ...}``) and the network reads ``batch["image"]``.

The wrapper adds no variables of its own: its ``weights`` are the network's, in the same order, so a
checkpoint written by the loop (``model`` = :func:`caae_tf.serving.variable_map` of those weights) restores
into the bare network (:func:`caae_tf.serving.restore_weights`). Keras keeps the dropout layers' seed
generators out of ``weights``; :meth:`SupervisedTrainer.checkpoint_state` hands them to the loop so that a
resumed run draws the same dropout masks as an uninterrupted one.
"""

from __future__ import annotations

from typing import Any, Callable

import keras
import tensorflow as tf

from caae_tf.errors import TrainingError
from caae_tf.losses import as_replica_mean


class SupervisedTrainer(keras.Model):
    """``net`` + compiled optimizer/loss as a model of the training loop (module docstring).

    ``step_metrics(y, y_pred) -> {name: scalar}`` adds per-step values to the logged loss (e.g. accuracy);
    they are averaged over replicas by the loop.
    """

    def __init__(self, net: keras.Model, targets: Callable[[dict], Any],
                 step_metrics: Callable[[Any, Any], dict] | None = None, **kwargs):
        kwargs.setdefault("name", f"{net.name}_trainer")
        super().__init__(**kwargs)
        self.net = net
        self._targets = targets
        self._step_metrics = step_metrics

    def call(self, x, training=False):
        return self.net(x, training=training)

    # ------------------------------------------------------------------------------- protocol
    def build_optimizers(self) -> dict[str, keras.optimizers.Optimizer]:
        """The optimizer given to ``compile`` (its slots are built here once the network is)."""
        if self.optimizer is None:
            raise TrainingError(f"{self.name}: compile the trainer (optimizer and loss) before training")
        if self.net.built and not self.optimizer.built:
            self.optimizer.build(self.trainable_variables)
        return {"optimizer": self.optimizer}

    def checkpoint_state(self) -> dict[str, list]:
        """State outside ``weights`` that exact resume needs: the network's random-number state (the seed
        generators of its dropout layers), checkpointed by the loop under ``rng``."""
        weights = {id(v) for v in self.net.weights}
        return {"rng": [v for v in self.net.variables if id(v) not in weights]}

    def build_all(self, batch: dict) -> None:
        """Create every variable: the network's, the optimizer's slots and the compiled loss's state (one
        inference pass over the first example of ``batch``, outside any ``tf.function``)."""
        one = tf.nest.map_structure(lambda t: t[:1], batch)
        x, y = one["image"], self._targets(one)
        self.compute_loss(x=x, y=y, y_pred=self(x, training=False), training=False)
        if not self.optimizer.built:
            self.optimizer.build(self.trainable_variables)
        self.built = True

    def train_step(self, batch: dict) -> dict[str, tf.Tensor]:
        """One optimizer update on ``batch``; returns ``loss`` (this step's, averaged over the replica's
        examples) and the ``step_metrics``. Under a distribution strategy Keras's ``compute_loss`` returns
        the replica's share of the global-batch loss and the optimizer sums the replicas' gradients."""
        x, y = batch["image"], self._targets(batch)
        with tf.GradientTape() as tape:
            y_pred = self(x, training=True)
            loss = self.compute_loss(x=x, y=y, y_pred=y_pred, training=True)
            scaled = self.optimizer.scale_loss(loss)
        variables = self.trainable_variables
        self.optimizer.apply(tape.gradient(scaled, variables), variables)
        logs = {"loss": as_replica_mean(tf.cast(loss, tf.float32))}
        if self._step_metrics is not None:
            logs.update({k: tf.cast(v, tf.float32) for k, v in self._step_metrics(y, y_pred).items()})
        return logs
