"""What both GANs share as trainable models (:class:`GAN`): their optimizers and how they log a step.

:class:`caae_tf.models.caae.CAAE` and :class:`caae_tf.models.cgan.CGAN` subclass :class:`GAN` and say which
networks are trained (:meth:`GAN._optimized_networks`); the base class builds one Adam(lr, β1, β2) per entry
from the model's config — wrapped in ``keras.optimizers.LossScaleOptimizer`` under a ``mixed_float16``
policy — stores it as the attribute of that name and returns them by name (the names are the training
driver's checkpoint keys). A train step scales each loss with ``optimizer.scale_loss`` and updates with
``optimizer.apply(grads, variables)``, raises :class:`caae_tf.errors.TrainingError` when it cannot run, and
returns :meth:`GAN.replica_logs`.
"""

from __future__ import annotations

import keras
import tensorflow as tf

from caae_tf import losses as L
from caae_tf.errors import TrainingError


class Untracked:
    """Holds a frozen helper network (CAAE's identity network, the cGAN's ``va_network``) outside Keras /
    tf.train tracking, so it is not part of the model's weights, checkpoints or exports."""

    def __init__(self, value):
        self.value = value


class GAN(keras.Model):
    """Base class of the trainable GANs (the protocol of ``docs/ARCHITECTURE.md``).

    Subclasses implement :attr:`train_config` (the dataclass config with ``learning_rate``, ``beta_1``,
    ``beta_2``), :meth:`_optimized_networks` and :meth:`_networks_built`, and set every optimizer attribute
    that :meth:`_optimized_networks` names to None in ``__init__``.
    """

    @property
    def train_config(self):
        raise NotImplementedError

    def _optimized_networks(self) -> list[tuple[str, list]]:
        """(optimizer attribute, variables it updates) for every network that is trained, in update order."""
        raise NotImplementedError

    def _networks_built(self) -> bool:
        """Whether the networks' variables exist (then :meth:`build_optimizers` also builds the slots)."""
        raise NotImplementedError

    def _check_trainable(self) -> None:
        """Raise :class:`TrainingError` when this model cannot be trained (default: it can)."""

    def build_optimizers(self) -> dict[str, keras.optimizers.Optimizer]:
        """Adam(lr, β1, β2) from the config for each trained network (LossScaleOptimizer under
        ``mixed_float16``), set as the model's attributes and returned by attribute name."""
        self._check_trainable()
        c = self.train_config
        fp16 = keras.mixed_precision.global_policy().name == "mixed_float16"
        opts = {}
        for key, _ in self._optimized_networks():
            opt = keras.optimizers.Adam(self._learning_rate(), beta_1=c.beta_1, beta_2=c.beta_2, name=key)
            if fp16:
                opt = keras.optimizers.LossScaleOptimizer(opt, name=f"{key}_loss_scale")
            opts[key] = opt
            setattr(self, key, opt)
        if self._networks_built():
            self._build_optimizer_variables()
        return opts

    def _learning_rate(self):
        """The optimizers' learning rate: ``learning_rate``, or with ``lr_decay: cosine`` (CAAE, cGAN; beyond the
        paper) a cosine decay to 0 over ``steps`` (SGDR without restarts, Loshchilov & Hutter 2017) that reads
        each optimizer's own step counter, so it survives ``--resume``."""
        c = self.train_config
        if getattr(c, "lr_decay", "constant") == "cosine":
            return keras.optimizers.schedules.CosineDecay(c.learning_rate, decay_steps=max(1, c.steps), alpha=0.0)
        return c.learning_rate

    def _build_optimizer_variables(self) -> None:
        """Create the slots of every optimizer made so far (no-op before :meth:`build_optimizers`)."""
        for key, variables in self._optimized_networks():
            opt = getattr(self, key)
            if opt is not None and not opt.built:
                opt.build(variables)

    def _require_optimizers(self) -> None:
        if any(getattr(self, key) is None for key, _ in self._optimized_networks()):
            raise TrainingError(f"{type(self).__name__}.train_step: call build_optimizers() first")

    @staticmethod
    def replica_logs(logs: dict[str, tf.Tensor]) -> dict[str, tf.Tensor]:
        """A train step's logged values, given as this replica's shares of global-batch means (the losses that
        are differentiated, :func:`caae_tf.losses.mean_over_global_batch`), returned as the replica's own
        means (:func:`caae_tf.losses.as_replica_mean`): the driver averages logged values over replicas."""
        return {k: L.as_replica_mean(v) for k, v in logs.items()}
