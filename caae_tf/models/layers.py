"""Layers and layer factories shared by both GANs (:mod:`caae_tf.models.caae`, :mod:`caae_tf.models.cgan`).

* :func:`kernel_init` — every conv/dense kernel ~ N(0, 0.02) (DCGAN; paper 000 §III-B-2);
* :func:`batch_norm` — BatchNorm with momentum 0.9 and ε = 1e-5 (the DCGAN-TensorFlow values); γ starts at 1
  (the CAAE) or, with ``gamma_stddev`` > 0, at N(1, ``gamma_stddev``) (the cGAN: DCGAN's γ ~ N(1, 0.02));
* :class:`TileConcat` — label tiling: a label vector [B, C] tiled over a feature map's h×w and concatenated to
  its channels (the CAAE's D_img after every block, its U-Net G, the cGAN's D at its input and first block);
* :func:`attach` — the Keras-3 list-tracking workaround for layers kept in Python lists.

Initialisers without a seed draw one from Keras' global seed (``keras.utils.set_random_seed``) when they are
*created*, so the order in which the models call these factories is part of a seeded run.
"""

from __future__ import annotations

from typing import Iterable

import keras
import tensorflow as tf


def kernel_init() -> keras.initializers.Initializer:
    """N(0, 0.02) for a conv/dense kernel (a new initialiser per layer: each draws its own seed)."""
    return keras.initializers.RandomNormal(mean=0.0, stddev=0.02)


def batch_norm(name: str, gamma_stddev: float = 0.0) -> keras.layers.BatchNormalization:
    """BatchNorm(momentum 0.9, ε 1e-5); γ starts at 1, or at N(1, ``gamma_stddev``) when it is > 0."""
    kwargs = {}
    if gamma_stddev > 0:
        kwargs["gamma_initializer"] = keras.initializers.RandomNormal(1.0, gamma_stddev)
    return keras.layers.BatchNormalization(momentum=0.9, epsilon=1e-5, name=name, **kwargs)


def attach(owner: keras.Layer, layers: Iterable) -> list:
    """Also set each layer (None entries skipped) as an attribute of ``owner`` named like the layer, and return
    the layers as a list.

    Layers held only in a Python list are tracked by Keras but are not children in ``tf.train.Checkpoint``'s
    object graph (Keras 3's ``TrackedList`` is no TF ``Trackable``), so their weights would silently be missing
    from object-graph checkpoints. Attributes are set in list order, which is the order of ``owner.weights``.
    """
    layers = list(layers)
    for layer in layers:
        if layer is not None:
            setattr(owner, layer.name, layer)
    return layers


class TileConcat(keras.layers.Layer):
    """Concatenate a label vector [B, C_y], tiled over the h×w map, to features [B, h, w, C] → C + C_y."""

    def call(self, inputs):
        features, y = inputs
        y = tf.cast(y, features.dtype)
        shape = tf.shape(features)
        tiled = tf.tile(y[:, None, None, :], [1, shape[1], shape[2], 1])
        return tf.concat([features, tiled], axis=-1)

    def compute_output_shape(self, input_shape):
        f, y = input_shape
        return (*f[:-1], f[-1] + y[-1])
