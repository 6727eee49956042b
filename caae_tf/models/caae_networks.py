"""The four networks of the CAAE (Lindt et al. 2019, §III-B; paper 000) and the beyond-the-paper auxiliaries:
E (:class:`Encoder`), G (:class:`Generator`), D_img (:class:`ImageDiscriminator`), D_z
(:class:`LatentDiscriminator`), D_va (:class:`VADiscriminator`) and D_zy (:class:`LatentVARegressor`).
Architecture, initialisation and mixed-precision notes: :mod:`caae_tf.models.caae`, which builds them into
the trainable :class:`caae_tf.models.caae.CAAE`."""

from __future__ import annotations

from typing import Sequence

import keras
import tensorflow as tf

from caae_tf.models.layers import TileConcat, attach, batch_norm, kernel_init

__all__ = ["RepeatLabel", "TileConcat", "Encoder", "Generator", "ImageDiscriminator", "LatentDiscriminator",
           "VADiscriminator", "LatentVARegressor"]


class RepeatLabel(keras.layers.Layer):
    """y = (valence, arousal) [B, 2] → [v]*repeat + [a]*repeat [B, 2·repeat] (``labels.tile_labels``)."""

    def __init__(self, repeat: int = 50, **kwargs):
        super().__init__(**kwargs)
        self.repeat = int(repeat)

    def call(self, y):
        return tf.repeat(tf.cast(y, self.compute_dtype), self.repeat, axis=-1)

    def compute_output_shape(self, input_shape):
        return (*input_shape[:-1], input_shape[-1] * self.repeat)

    def get_config(self):
        return {**super().get_config(), "repeat": self.repeat}


class Encoder(keras.Model):
    """E: x [B, S, S, 3] in [-1,1] → z [B, z_dim] in [-1,1] (float32). §III-B-1."""

    def __init__(self, z_dim: int = 50, filters: Sequence[int] = (64, 128, 256, 512), kernel_size: int = 5,
                 name: str = "E", appearance_dim: int = 0, **kwargs):
        super().__init__(name=name, **kwargs)
        self.z_dim = int(z_dim)
        self.appearance_dim = int(appearance_dim)
        self.filters = [int(f) for f in filters]
        self.kernel_size = int(kernel_size)
        self.convs = attach(self, [
            keras.layers.Conv2D(f, self.kernel_size, strides=2, padding="same", activation="relu",
                                kernel_initializer=kernel_init(), name=f"conv{i + 1}")
            for i, f in enumerate(self.filters)
        ])
        self.flatten = keras.layers.Flatten(name="flatten")
        self.fc = keras.layers.Dense(self.z_dim, activation="tanh", kernel_initializer=kernel_init(),
                                     dtype="float32", name="fc_z")
        if self.appearance_dim:
            self.fc_appearance = keras.layers.Dense(self.appearance_dim, activation="tanh",
                                                    kernel_initializer=kernel_init(), dtype="float32",
                                                    name="fc_appearance")

    def call(self, x, training=None):
        return self.encode_with_features(x)[0]

    def appearance(self, features, region) -> tf.Tensor:
        """a [B, appearance_dim] (``CAAEConfig.edit_region_appearance``): the first two blocks' outputs
        average-pooled over ``region`` (m [1, S, S, 1], area-resized to each block), then FC + tanh."""
        pooled = []
        for h in features[:2]:
            h = tf.cast(h, tf.float32)
            k = int(region.shape[1]) // int(h.shape[1])
            m = tf.nn.avg_pool2d(region, k, k, "VALID")  # area resize (differentiable, unlike ResizeArea)
            pooled.append(tf.reduce_sum(h * m, axis=[1, 2]) / (tf.reduce_sum(m) + 1e-3))
        return self.fc_appearance(tf.concat(pooled, axis=-1))

    def encode_with_features(self, x):
        """(z, [h_1, ..., h_n]): z and every conv block's output (S/2, S/4, ... resolution), for G's
        U-Net skips (``CAAEConfig.g_unet``)."""
        h, features = x, []
        for conv in self.convs:
            h = conv(h)
            features.append(h)
        return self.fc(self.flatten(h)), features

    def get_config(self):
        return {"z_dim": self.z_dim, "filters": self.filters, "kernel_size": self.kernel_size, "name": self.name,
                "appearance_dim": self.appearance_dim}


class Generator(keras.Model):
    """G: (z [B, z_dim], y [B, 2]) → x_gen [B, S, S, 3] in [-1,1] (float32). §III-B-1.

    y is repeated ``label_repeat`` times per component and concatenated to z; FC → (S/16)² × fc_channels
    + ReLU; transposed convs: ``filters[:4]`` stride 2, ``filters[4:]`` stride 1 (ReLU), then a stride-1
    transposed conv to 3 channels + tanh.
    """

    def __init__(self, image_size: int = 96, z_dim: int = 50, label_repeat: int = 50, fc_channels: int = 1024,
                 filters: Sequence[int] = (512, 256, 128, 64, 32), kernel_size: int = 5, name: str = "G",
                 unet: bool = False, residual: bool = False, **kwargs):
        super().__init__(name=name, **kwargs)
        if image_size % 16:
            raise ValueError(f"G: image_size must be a multiple of 16, got {image_size}")
        if len(filters) < 4:
            raise ValueError("G: filters needs at least the four stride-2 layers")
        self.image_size = int(image_size)
        self.z_dim = int(z_dim)
        self.label_repeat = int(label_repeat)
        self.fc_channels = int(fc_channels)
        self.filters = [int(f) for f in filters]
        self.kernel_size = int(kernel_size)
        self.unet = bool(unet)
        self.residual = bool(residual)
        if self.residual and not self.unet:
            raise ValueError("G: residual output needs unet (G must see x)")
        self.base = self.image_size // 16
        self.repeat_label = RepeatLabel(self.label_repeat, name="repeat_y")
        self.fc = keras.layers.Dense(self.base * self.base * self.fc_channels, kernel_initializer=kernel_init(),
                                     name="fc")
        self.reshape = keras.layers.Reshape((self.base, self.base, self.fc_channels), name="reshape")
        self.fc_act = keras.layers.ReLU(name="fc_relu")
        self.deconvs = attach(self, [
            keras.layers.Conv2DTranspose(f, self.kernel_size, strides=2 if i < 4 else 1, padding="same",
                                         activation="relu", kernel_initializer=kernel_init(),
                                         name=f"deconv{i + 1}")
            for i, f in enumerate(self.filters)
        ])
        self.to_rgb = keras.layers.Conv2DTranspose(3, self.kernel_size, strides=1, padding="same",
                                                   activation=None if self.residual else "tanh",
                                                   kernel_initializer=kernel_init(),
                                                   dtype="float32", name=f"deconv{len(self.filters) + 1}")
        if self.unet:
            self.tile_concat = TileConcat(name="concat_skip_y")

    def call(self, inputs, training=None):
        """``(z, y)``; with ``unet`` ``(z, y, skips, x)``: ``skips`` are E's block outputs
        (:meth:`Encoder.encode_with_features`), concatenated with y (tiled, 2 channels) before each stride-2
        transposed conv and, with y, after the last one; with ``residual`` the output is clip(x + Δ, -1, 1)."""
        if self.unet:
            z, y, skips, x = inputs
        else:
            z, y = inputs
        h = tf.concat([tf.cast(z, self.compute_dtype), self.repeat_label(y)], axis=-1)
        h = self.fc_act(self.reshape(self.fc(h)))
        for i, deconv in enumerate(self.deconvs):
            if self.unet and i <= 4:
                parts = [h, tf.cast(skips[-1 - i], h.dtype)] if i < len(skips) else [h]
                h = self.tile_concat([tf.concat(parts, axis=-1), y])
            h = deconv(h)
        if self.unet and len(self.deconvs) == 4:
            h = self.tile_concat([h, y])
        out = self.to_rgb(h)
        if self.residual:
            return tf.clip_by_value(tf.cast(x, tf.float32) + out, -1.0, 1.0)
        return out

    def get_config(self):
        return {"image_size": self.image_size, "z_dim": self.z_dim, "label_repeat": self.label_repeat,
                "fc_channels": self.fc_channels, "filters": self.filters, "kernel_size": self.kernel_size,
                "name": self.name, "unet": self.unet, "residual": self.residual}


class ImageDiscriminator(keras.Model):
    """D_img: (x [B, S, S, 3], y [B, 2]) → logit [B, 1] (float32); D_img(x, y) = sigmoid(logit). §III-B-1.

    Each block is Conv 5×5 stride 2 + BatchNorm + LeakyReLU(0.2) followed by a :class:`TileConcat` of the
    repeated label (2·label_repeat channels), so y is seen after every block; then FC ``fc_units`` +
    LeakyReLU(0.2) and FC 1.
    """

    def __init__(self, filters: Sequence[int] = (16, 32, 64, 128), label_repeat: int = 50, fc_units: int = 1024,
                 kernel_size: int = 5, name: str = "D_img", **kwargs):
        super().__init__(name=name, **kwargs)
        self.filters = [int(f) for f in filters]
        self.label_repeat = int(label_repeat)
        self.fc_units = int(fc_units)
        self.kernel_size = int(kernel_size)
        self.repeat_label = RepeatLabel(self.label_repeat, name="repeat_y")
        self.convs, self.bns, self.acts, self.concats = [], [], [], []
        for i, f in enumerate(self.filters):
            self.convs.append(keras.layers.Conv2D(f, self.kernel_size, strides=2, padding="same",
                                                  kernel_initializer=kernel_init(), name=f"conv{i + 1}"))
            self.bns.append(batch_norm(f"bn{i + 1}"))
            self.acts.append(keras.layers.LeakyReLU(0.2, name=f"lrelu{i + 1}"))
            self.concats.append(TileConcat(name=f"concat_y{i + 1}"))
        for group in (self.convs, self.bns, self.acts, self.concats):
            attach(self, group)
        self.flatten = keras.layers.Flatten(name="flatten")
        self.fc = keras.layers.Dense(self.fc_units, kernel_initializer=kernel_init(), name="fc1")
        self.fc_act = keras.layers.LeakyReLU(0.2, name="fc1_lrelu")
        self.logit = keras.layers.Dense(1, kernel_initializer=kernel_init(), dtype="float32", name="fc2")

    def call(self, inputs, training=None):
        x, y = inputs
        y_rep = self.repeat_label(y)
        h = x
        for conv, bn, act, concat in zip(self.convs, self.bns, self.acts, self.concats):
            h = concat([act(bn(conv(h), training=training)), y_rep])
        return self.logit(self.fc_act(self.fc(self.flatten(h))))

    def get_config(self):
        return {"filters": self.filters, "label_repeat": self.label_repeat, "fc_units": self.fc_units,
                "kernel_size": self.kernel_size, "name": self.name}


class LatentDiscriminator(keras.Model):
    """D_z: z [B, z_dim] → logit [B, 1] (float32); FC units each + BatchNorm + LeakyReLU(0.2), then FC 1."""

    def __init__(self, units: Sequence[int] = (64, 32, 16), name: str = "D_z", **kwargs):
        super().__init__(name=name, **kwargs)
        self.units = [int(u) for u in units]
        self.fcs = [keras.layers.Dense(u, kernel_initializer=kernel_init(), name=f"fc{i + 1}")
                    for i, u in enumerate(self.units)]
        self.bns = [batch_norm(f"bn{i + 1}") for i in range(len(self.units))]
        self.acts = [keras.layers.LeakyReLU(0.2, name=f"lrelu{i + 1}") for i in range(len(self.units))]
        for group in (self.fcs, self.bns, self.acts):
            attach(self, group)
        self.logit = keras.layers.Dense(1, kernel_initializer=kernel_init(), dtype="float32",
                                        name=f"fc{len(self.units) + 1}")

    def call(self, z, training=None):
        h = z
        for fc, bn, act in zip(self.fcs, self.bns, self.acts):
            h = act(bn(fc(h), training=training))
        return self.logit(h)

    def get_config(self):
        return {"units": self.units, "name": self.name}


class VADiscriminator(keras.Model):
    """D_va (beyond the paper, ``CAAEConfig.lambda_va``): x [B, S, S, 3] → (v, a) [B, 2] in [-1, 1].

    The auxiliary regressor of AC-GAN (Odena et al. 2017) / StarGAN (Choi et al. 2018) / GANimation
    (Pumarola et al. 2018), as its own network because D_img sees y after every block: stride-2 convs +
    LeakyReLU(0.2), Flatten, FC 2 + tanh (float32). It is trained on real (x, y) only; G is trained to
    make it read y' off G(E(x), y').
    """

    def __init__(self, filters: Sequence[int] = (32, 64, 128, 128), kernel_size: int = 5, name: str = "D_va",
                 **kwargs):
        super().__init__(name=name, **kwargs)
        self.filters = [int(f) for f in filters]
        self.kernel_size = int(kernel_size)
        self.convs = attach(self, [
            keras.layers.Conv2D(f, self.kernel_size, strides=2, padding="same", kernel_initializer=kernel_init(),
                                name=f"conv{i + 1}")
            for i, f in enumerate(self.filters)
        ])
        self.acts = attach(self, [keras.layers.LeakyReLU(0.2, name=f"lrelu{i + 1}") for i in range(len(self.filters))])
        self.flatten = keras.layers.Flatten(name="flatten")
        self.out = keras.layers.Dense(2, activation="tanh", kernel_initializer=kernel_init(), dtype="float32",
                                      name="fc_va")

    def call(self, x, training=None):
        h = x
        for conv, act in zip(self.convs, self.acts):
            h = act(conv(h))
        return self.out(self.flatten(h))

    def get_config(self):
        return {"filters": self.filters, "kernel_size": self.kernel_size, "name": self.name}


class LatentVARegressor(keras.Model):
    """D_zy (beyond the paper, ``CAAEConfig.lambda_z_label``): z → (v, a) in [-1, 1]; FC + LeakyReLU(0.2)
    per entry of ``units``, then FC 2 + tanh (float32). The Fader-network latent adversary."""

    def __init__(self, units: Sequence[int] = (64, 32), name: str = "D_zy", **kwargs):
        super().__init__(name=name, **kwargs)
        self.units = [int(u) for u in units]
        self.fcs = attach(self, [keras.layers.Dense(u, kernel_initializer=kernel_init(), name=f"fc{i + 1}")
                                  for i, u in enumerate(self.units)])
        self.acts = attach(self, [keras.layers.LeakyReLU(0.2, name=f"lrelu{i + 1}") for i in range(len(self.units))])
        self.out = keras.layers.Dense(2, activation="tanh", kernel_initializer=kernel_init(), dtype="float32",
                                      name="fc_va")

    def call(self, z, training=None):
        h = z
        for fc, act in zip(self.fcs, self.acts):
            h = act(fc(h))
        return self.out(h)

    def get_config(self):
        return {"units": self.units, "name": self.name}
