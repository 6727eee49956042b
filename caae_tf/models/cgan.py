"""Label-interpolating conditional DCGAN of Mertes et al. (2021), paper 001 §3.2–3.3.

The networks are DCGAN's (Radford, Metz & Chintala, 2015, "Unsupervised representation learning with
deep convolutional generative adversarial networks", arXiv:1511.06434) extended with a conditioning
vector v ∈ [0,1]^6 over :data:`caae_tf.labels.CGAN_EMOTIONS` = (Neutral, Sadness, Disgust, Fear, Anger,
Happiness), v1 = Neutral. During training v is one-hot (paper 001 Eq. 1–2: v ∈ {0,1}^6, Σ v_i = 1);
at inference it may be any point of the simplex (Eq. 3 with Eq. 2 kept), e.g. the paper's interpolation
v = (1-α)·e_Neutral + α·e_i (Eq. 4: v1 + v_i = 1).

Generator G (:class:`CGANGenerator`)
    concat(z, v) → Dense 4·4·w0 → BN → ReLU → [stride-2 ConvTranspose(k=5) → BN → ReLU] × (n-1)
    → stride-2 ConvTranspose to 3 channels → tanh (float32).
    ``n = log2(image_size / 4)`` stride-2 upsamplings are needed (256 = 4·2^6 → n = 6). The widths are the
    **last n entries** of ``g_filters`` (``w0`` = the Dense width, the rest the hidden transposed convs),
    so a smaller image drops the widest layers at the input end and keeps the widths shrinking toward
    the output: with the default ``[1024, 512, 256, 128, 64, 32]`` 256 px uses all six, 128 px uses
    ``[512, …, 32]`` and 64 px ``[256, 128, 64, 32]``.

Discriminator D (:class:`CGANDiscriminator`)
    v is tiled to an S×S×6 map and concatenated to the image channels (and, with ``d_label_reinject``,
    again to the feature map after the first block). Paper 001 does not say how D is conditioned; this is
    the input-concatenation scheme of Mirza & Osindero (2014) / the DCGAN reference code for labelled
    data (a projection discriminator, Miyato & Koyama 2018, is the beyond-the-paper option
    ``d_projection``). Then n stride-2 Conv(k=5) → LeakyReLU(0.2), BN on every block but the first; the
    widths are the **first n entries** of ``d_filters`` (growing from the input); Flatten → Dense 1 logit
    (float32).

Initialisation is DCGAN's: conv/dense kernels ~ N(0, 0.02), BN γ ~ N(1, 0.02); BN momentum 0.9,
ε = 1e-5 (the DCGAN TensorFlow reference). Outputs of G and D are float32 under every Keras
mixed-precision policy (the last layers use a float32 dtype policy).

Training (:meth:`CGAN.train_step`): z ~ N(0, I) (DCGAN used U(-1,1); the Gaussian is the common modern
choice and matches :meth:`caae_tf.generate.CGANSampler.sample_z`), drawn with stateless ops seeded by
(config.seed, ``noise_step``), a step counter kept as a model weight, so a resumed run draws the same
noise as an uninterrupted one. With σ the
sigmoid and D(x, v) a logit, per example

    L_D = BCE(1 - s, D(x, v)) + BCE(0, D(G(z, v), v))          (s = one-sided label smoothing)
    L_G = BCE(1, D(G(z, v), v))                                (non-saturating generator loss)

averaged over the rows whose ``emotion`` label is valid (``emotion`` ∈ 0..5; rows with -1 are masked
out). Optionally (``d_mismatch_weight`` = w > 0, beyond the paper) D is matching-aware (Reed et al.
2016, "Generative adversarial text to image synthesis", GAN-CLS): a share w of the negative term goes to
real images paired with a wrong one-hot label v' (uniform over the other five classes),

    L_D = BCE(1 - s, D(x, v)) + (1 - w)·BCE(0, D(G(z, v), v)) + w·BCE(0, D(x, v'))

which makes D check the label from the first steps instead of only once G is realistic; on the synthetic
faces the plain loss leaves the expressions almost unconditioned after 5,000 steps at 64 px
(preset cgan_demo, caae_tf/presets/cgan_demo.yaml). One D update then one G update per step, Adam(lr = 1e-4 as in
paper 001 §4.1, β1 = 0.5, β2 = 0.999 — DCGAN's betas, the paper states only the learning rate).

Beyond the paper (config keys marked ``BEYOND_PAPER`` in :class:`caae_tf.config.CGANConfig`, all off in the
paper preset; their docstrings cite the sources): an AC-GAN class head on D (``lambda_ac``), a projection D
(``d_projection``), spectral normalisation of D (``spectral_norm``, :class:`SNConv2D` / :class:`SNDense`),
R1 (``lambda_r1``), one joint D batch for real and generated images (``d_joint_batch``), nearest-neighbour +
conv upsampling in G (``g_upsample="resize"``) and an EMA of G's weights used for every image outside
training (``g_ema_decay``, :attr:`CGAN.sampler`). With them the losses become

    L_D += λ_ac·CE(C(x), e) + γ/2·‖∇_x D(x, v)‖²,      L_G += λ_ac·CE(C(G(z, v)), e).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

import keras
import tensorflow as tf
from keras import ops

from caae_tf import images as _images
from caae_tf import labels as _labels
from caae_tf.config import CGANConfig, ConfigError
from caae_tf.losses import ema_decay, per_example_bce, per_example_class_ce, per_example_r1
from caae_tf.models.base import GAN
from caae_tf.models.layers import TileConcat, attach, batch_norm, kernel_init

NUM_EMOTIONS = len(_labels.CGAN_EMOTIONS)
#: Number of fixed noise vectors (columns) in :meth:`CGAN.sample_images`' ``samples`` grid.
SAMPLE_COLUMNS = 8
#: Interpolation steps of paper 001 §4.3 / Fig. 5 (α = 0, 0.1, …, 1).
PAPER_STEPS = 11


# ----------------------------------------------------------------------------------------- layer plans

def num_upsamplings(image_size: int) -> int:
    """n with image_size = 4·2^n (G upsamples 4×4 n times, D downsamples to 4×4 in n convs)."""
    n = math.log2(image_size / 4) if image_size >= 8 else -1
    if n < 1 or not float(n).is_integer():
        raise ConfigError(
            f"cGAN image_size must be 4·2^n with n >= 1 (8, 16, 32, 64, 128, 256, 512, ...), got {image_size}"
        )
    return int(n)


def generator_widths(image_size: int, g_filters: list[int] | tuple[int, ...]) -> list[int]:
    """Widths G uses at ``image_size``: the last n = log2(S/4) entries of ``g_filters``.

    ``widths[0]`` is the Dense 4×4 feature width, ``widths[1:]`` the hidden stride-2 transposed convs; the
    n-th (last) upsampling goes straight to 3 channels.
    """
    n = num_upsamplings(image_size)
    if len(g_filters) < n:
        raise ConfigError(
            f"g_filters needs at least {n} entries for image_size {image_size} (4·2^{n}), got {list(g_filters)}"
        )
    return [int(w) for w in list(g_filters)[len(g_filters) - n:]]


def discriminator_widths(image_size: int, d_filters: list[int] | tuple[int, ...]) -> list[int]:
    """Widths D uses at ``image_size``: the first n = log2(S/4) entries of ``d_filters`` (down to 4×4)."""
    n = num_upsamplings(image_size)
    if len(d_filters) < n:
        raise ConfigError(
            f"d_filters needs at least {n} entries for image_size {image_size} (4·2^{n}), got {list(d_filters)}"
        )
    return [int(w) for w in list(d_filters)[:n]]


def _bn(name: str) -> keras.layers.BatchNormalization:
    """DCGAN's BatchNorm: γ ~ N(1, 0.02) (module docstring)."""
    return batch_norm(name, gamma_stddev=0.02)


def _split(inputs: Any, first: str, second: str):
    """Accept ``(a, b)`` / ``[a, b]`` or a dict with the two keys."""
    if isinstance(inputs, dict):
        return inputs[first], inputs[second]
    a, b = inputs
    return a, b


# ------------------------------------------------------------------------------ spectral normalisation

def _l2_normalize(x, eps: float = 1e-12):
    return x / ops.sqrt(ops.maximum(ops.sum(ops.square(x)), eps))


class _SpectralNormMixin:
    """σ(W) by power iteration (Miyato, Kataoka, Koyama & Yoshida 2018, Algorithm 1) for a kernel whose last
    axis is the output axis; the kernel used is W/σ(W). u (not trainable) persists between calls and moves
    one iteration per training call; u and v are constants for the gradient, σ = vᵀWu is not, so gradients
    flow through σ as in the paper (``keras.layers.SpectralNormalization`` instead overwrites the kernel
    with W/σ and differentiates the layer as if σ were constant)."""

    def _build_u(self, out_dim: int) -> None:
        self.sn_u = self.add_weight(
            shape=(1, out_dim), initializer=keras.initializers.RandomNormal(0.0, 1.0), trainable=False,
            name="sn_u", aggregation="only_first_replica",
        )

    def sigma(self, training=None):
        """Estimated largest singular value of the kernel (float32); updates u when ``training``."""
        w = ops.reshape(ops.cast(self.kernel, "float32"), (-1, int(self.kernel.shape[-1])))
        u = ops.cast(self.sn_u.value, "float32")
        for _ in range(self.power_iterations):
            v = _l2_normalize(ops.matmul(u, ops.transpose(w)))
            u = _l2_normalize(ops.matmul(v, w))
        u = ops.stop_gradient(u)
        v = ops.stop_gradient(v)
        if training:
            self.sn_u.assign(u)
        return ops.reshape(ops.matmul(ops.matmul(v, w), ops.transpose(u)), ())

    def normalized_kernel(self, training=None):
        return ops.cast(ops.cast(self.kernel, "float32") / self.sigma(training), self.compute_dtype)


@keras.saving.register_keras_serializable(package="caae_tf")
class SNConv2D(_SpectralNormMixin, keras.layers.Layer):
    """2-D convolution with a spectrally normalised kernel (W/σ(W), Miyato et al. 2018)."""

    def __init__(self, filters: int, kernel_size: int, strides: int = 1, padding: str = "same",
                 use_bias: bool = True, kernel_initializer=None, power_iterations: int = 1, **kwargs):
        super().__init__(**kwargs)
        self.filters = int(filters)
        self.kernel_size = int(kernel_size)
        self.strides = int(strides)
        self.padding = padding
        self.use_bias = bool(use_bias)
        self.kernel_initializer = keras.initializers.get(kernel_initializer or "glorot_uniform")
        self.power_iterations = int(power_iterations)

    def build(self, input_shape):
        k = self.kernel_size
        self.kernel = self.add_weight(shape=(k, k, int(input_shape[-1]), self.filters),
                                      initializer=self.kernel_initializer, name="kernel")
        self.bias = self.add_weight(shape=(self.filters,), initializer="zeros", name="bias") if self.use_bias else None
        self._build_u(self.filters)
        self.built = True

    def call(self, x, training=None):
        y = ops.conv(x, self.normalized_kernel(training), strides=self.strides, padding=self.padding)
        return y + self.bias if self.bias is not None else y

    def compute_output_shape(self, input_shape):
        b, h, w, _ = input_shape
        s = self.strides
        return (b, None if h is None else -(-h // s), None if w is None else -(-w // s), self.filters)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "filters": self.filters, "kernel_size": self.kernel_size,
                "strides": self.strides, "padding": self.padding, "use_bias": self.use_bias,
                "kernel_initializer": keras.initializers.serialize(self.kernel_initializer),
                "power_iterations": self.power_iterations}


@keras.saving.register_keras_serializable(package="caae_tf")
class SNDense(_SpectralNormMixin, keras.layers.Layer):
    """Dense layer with a spectrally normalised kernel (W/σ(W), Miyato et al. 2018)."""

    def __init__(self, units: int, use_bias: bool = True, kernel_initializer=None, power_iterations: int = 1,
                 **kwargs):
        super().__init__(**kwargs)
        self.units = int(units)
        self.use_bias = bool(use_bias)
        self.kernel_initializer = keras.initializers.get(kernel_initializer or "glorot_uniform")
        self.power_iterations = int(power_iterations)

    def build(self, input_shape):
        self.kernel = self.add_weight(shape=(int(input_shape[-1]), self.units),
                                      initializer=self.kernel_initializer, name="kernel")
        self.bias = self.add_weight(shape=(self.units,), initializer="zeros", name="bias") if self.use_bias else None
        self._build_u(self.units)
        self.built = True

    def call(self, x, training=None):
        y = ops.matmul(x, self.normalized_kernel(training))
        return y + self.bias if self.bias is not None else y

    def compute_output_shape(self, input_shape):
        return (*input_shape[:-1], self.units)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "units": self.units, "use_bias": self.use_bias,
                "kernel_initializer": keras.initializers.serialize(self.kernel_initializer),
                "power_iterations": self.power_iterations}


# ----------------------------------------------------------------------------------------------- G, D

@keras.saving.register_keras_serializable(package="caae_tf")
class CGANGenerator(keras.Model):
    """G(z, v) → image in [-1, 1], float32 [B, S, S, 3] (module docstring; DCGAN generator + v)."""

    def __init__(
        self,
        image_size: int = 256,
        z_dim: int = 100,
        num_emotions: int = NUM_EMOTIONS,
        g_filters: list[int] | tuple[int, ...] = (1024, 512, 256, 128, 64, 32),
        kernel_size: int = 5,
        upsample: str = "transposed",
        **kwargs,
    ):
        kwargs.setdefault("name", "G")
        super().__init__(**kwargs)
        self.image_size = int(image_size)
        self.z_dim = int(z_dim)
        self.num_emotions = int(num_emotions)
        self.g_filters = [int(f) for f in g_filters]
        self.kernel_size = int(kernel_size)
        self.widths = generator_widths(self.image_size, self.g_filters)
        w0 = self.widths[0]
        self.concat = keras.layers.Concatenate(axis=-1, name="concat_z_v")
        self.fc = keras.layers.Dense(4 * 4 * w0, use_bias=False, kernel_initializer=kernel_init(), name="fc")
        self.reshape = keras.layers.Reshape((4, 4, w0), name="reshape")
        self.fc_bn = _bn("fc_bn")
        if upsample not in ("transposed", "resize"):
            raise ConfigError(f"g_upsample must be 'transposed' or 'resize', got {upsample!r}")
        self.upsample = upsample

        def up_layer(filters, name, use_bias):
            """×2 upsampling: DCGAN's stride-2 transposed conv, or (``resize``) nearest-neighbour ×2 then a
            stride-1 conv (Odena, Dumoulin & Olah 2016, "Deconvolution and checkerboard artifacts")."""
            if upsample == "transposed":
                return keras.layers.Conv2DTranspose(
                    filters, self.kernel_size, strides=2, padding="same", use_bias=use_bias,
                    kernel_initializer=kernel_init(), name=name,
                )
            return keras.Sequential([
                keras.layers.UpSampling2D(2, interpolation="nearest", name=f"{name}_up"),
                keras.layers.Conv2D(filters, 3, padding="same", use_bias=use_bias, kernel_initializer=kernel_init(),
                                    name=f"{name}_conv"),
            ], name=name)

        up_convs, up_bns = [], []
        for k, w in enumerate(self.widths[1:]):
            conv = up_layer(w, f"deconv{k + 1}", False)
            bn = _bn(f"deconv{k + 1}_bn")
            attach(self, [conv, bn])  # one attribute per layer (caae_tf.models.layers.attach)
            up_convs.append(conv)
            up_bns.append(bn)
        self.up_convs = up_convs
        self.up_bns = up_bns
        self.to_rgb = up_layer(3, f"deconv{len(self.widths)}_rgb", True)
        self.tanh = keras.layers.Activation("tanh", dtype="float32", name="tanh")

    def call(self, inputs, training=None):
        """``inputs = (z [B, z_dim], v [B, 6])`` (or a dict with keys ``z``, ``v``)."""
        z, v = _split(inputs, "z", "v")
        h = self.concat([ops.cast(z, "float32"), ops.cast(v, "float32")])
        h = self.reshape(self.fc(h))
        h = ops.relu(self.fc_bn(h, training=training))
        for conv, bn in zip(self.up_convs, self.up_bns):
            h = ops.relu(bn(conv(h), training=training))
        return self.tanh(self.to_rgb(h))

    def build(self, input_shape=None):
        """Create the variables with a one-row forward pass (``input_shape`` is ignored: it is fixed)."""
        self.call((ops.zeros([1, self.z_dim]), ops.zeros([1, self.num_emotions])), training=False)
        self.built = True

    def compute_output_shape(self, input_shape):
        return (None, self.image_size, self.image_size, 3)

    def get_config(self) -> dict[str, Any]:
        return {
            "name": self.name, "image_size": self.image_size, "z_dim": self.z_dim,
            "num_emotions": self.num_emotions, "g_filters": list(self.g_filters), "kernel_size": self.kernel_size,
            "upsample": self.upsample,
        }


@keras.saving.register_keras_serializable(package="caae_tf")
class CGANDiscriminator(keras.Model):
    """D(x, v) → real/fake logit, float32 [B, 1] (module docstring; DCGAN discriminator + tiled v).

    Beyond paper 001 (all off by default): ``projection`` (Miyato & Koyama 2018: no tiled v, the logit is
    ψ(φ) + <V·v, φ> on the flattened last features φ), ``aux_classes`` > 0 (AC-GAN head, Odena et al. 2017:
    class logits C(x) from φ, :meth:`outputs`) and ``spectral_norm`` (Miyato et al. 2018: every kernel W/σ(W),
    no BatchNorm).
    """

    def __init__(
        self,
        image_size: int = 256,
        num_emotions: int = NUM_EMOTIONS,
        d_filters: list[int] | tuple[int, ...] = (32, 64, 128, 256, 512, 1024),
        kernel_size: int = 5,
        label_reinject: bool = True,
        projection: bool = False,
        aux_classes: int = 0,
        spectral_norm: bool = False,
        **kwargs,
    ):
        kwargs.setdefault("name", "D")
        super().__init__(**kwargs)
        self.image_size = int(image_size)
        self.num_emotions = int(num_emotions)
        self.d_filters = [int(f) for f in d_filters]
        self.kernel_size = int(kernel_size)
        self.label_reinject = bool(label_reinject)
        self.projection = bool(projection)
        self.aux_classes = int(aux_classes)
        self.spectral_norm = bool(spectral_norm)
        self.widths = discriminator_widths(self.image_size, self.d_filters)
        self.concat_in = TileConcat(name="concat_x_v")  # v tiled over the image ...
        self.concat_h1 = TileConcat(name="concat_h1_v")  # ... and over the first block's output
        convs, bns = [], []
        for k, w in enumerate(self.widths):
            if self.spectral_norm:
                conv = SNConv2D(w, self.kernel_size, strides=2, padding="same", use_bias=True,
                                kernel_initializer=kernel_init(), name=f"conv{k + 1}")
            else:
                conv = keras.layers.Conv2D(
                    w, self.kernel_size, strides=2, padding="same", use_bias=(k == 0),
                    kernel_initializer=kernel_init(), name=f"conv{k + 1}",
                )
            bn = None if (k == 0 or self.spectral_norm) else _bn(f"conv{k + 1}_bn")
            attach(self, [conv, bn])  # one attribute per layer (caae_tf.models.layers.attach)
            convs.append(conv)
            bns.append(bn)
        self.convs = convs
        self.bns = bns
        self.flatten = keras.layers.Flatten(name="flatten")

        def dense(units, name, use_bias=True):
            if self.spectral_norm:
                return SNDense(units, use_bias=use_bias, kernel_initializer=kernel_init(), dtype="float32", name=name)
            return keras.layers.Dense(units, use_bias=use_bias, kernel_initializer=kernel_init(), dtype="float32",
                                      name=name)

        self.logit = dense(1, "logit")
        # projection: V maps v to φ's space (a class embedding for one-hot v), no bias (Miyato & Koyama 2018)
        self.embed_v = dense(4 * 4 * self.widths[-1], "embed_v", use_bias=False) if self.projection else None
        self.classifier = dense(self.aux_classes, "aux_classifier") if self.aux_classes > 0 else None

    def outputs(self, inputs, training=None) -> dict[str, Any]:
        """``{"logit": [B, 1] float32, "class_logits": [B, aux_classes] float32 (only with the AC head)}``."""
        x, v = _split(inputs, "image", "v")
        v = ops.cast(v, "float32")
        h = ops.cast(x, "float32")
        if not self.projection:
            h = self.concat_in([h, v])
        for k, (conv, bn) in enumerate(zip(self.convs, self.bns)):
            h = conv(h, training=training) if self.spectral_norm else conv(h)
            if bn is not None:
                h = bn(h, training=training)
            h = ops.leaky_relu(h, negative_slope=0.2)
            if k == 0 and self.label_reinject and not self.projection:
                h = self.concat_h1([h, v])
        phi = ops.cast(self.flatten(h), "float32")

        def head(layer, t):
            return layer(t, training=training) if self.spectral_norm else layer(t)

        logit = head(self.logit, phi)
        if self.embed_v is not None:  # projection term <V v, φ(x)>
            logit = logit + ops.sum(head(self.embed_v, v) * phi, axis=-1, keepdims=True)
        out = {"logit": logit}
        if self.classifier is not None:
            out["class_logits"] = head(self.classifier, phi)
        return out

    def call(self, inputs, training=None):
        """``inputs = (x [B, S, S, 3] in [-1, 1], v [B, 6])`` (or a dict with keys ``image``, ``v``)."""
        return self.outputs(inputs, training=training)["logit"]

    def build(self, input_shape=None):
        """Create the variables with a one-row forward pass (``input_shape`` is ignored: it is fixed)."""
        s = self.image_size
        self.outputs((ops.zeros([1, s, s, 3]), ops.zeros([1, self.num_emotions])), training=False)
        self.built = True

    def compute_output_shape(self, input_shape):
        return (None, 1)

    def get_config(self) -> dict[str, Any]:
        return {
            "name": self.name, "image_size": self.image_size, "num_emotions": self.num_emotions,
            "d_filters": list(self.d_filters), "kernel_size": self.kernel_size,
            "label_reinject": self.label_reinject, "projection": self.projection,
            "aux_classes": self.aux_classes, "spectral_norm": self.spectral_norm,
        }


# ------------------------------------------------------------------------------------------------ CGAN

def _masked_mean(per_example, mask, *, global_batch: bool = False):
    """Mean of ``per_example`` [B] over the rows where ``mask`` [B] is 1 (0 when no row is valid).

    ``global_batch=True`` is the loss to differentiate: inside a ``tf.distribute`` replica context with
    several replicas the denominator is the number of valid rows of the *global* batch (all-reduced), so
    summing the replicas' gradients gives the gradient of the global masked mean — the masked counterpart
    of :func:`caae_tf.losses.mean_over_global_batch`; the train step logs these shares as replica means
    (:meth:`caae_tf.models.base.GAN.replica_logs`). Otherwise it is the local masked mean.
    """
    per_example = tf.cast(tf.reshape(per_example, [-1]), tf.float32)
    count = tf.reduce_sum(mask)
    if global_batch:
        ctx = tf.distribute.get_replica_context()
        if ctx is not None and ctx.num_replicas_in_sync > 1:
            count = ctx.all_reduce(tf.distribute.ReduceOp.SUM, count)
    return tf.math.divide_no_nan(tf.reduce_sum(per_example * mask), count)


def _assign_in_sync(pairs) -> None:
    """``var.assign(value)`` for (var, value) pairs; inside a multi-replica step through ``merge_call`` so a
    mirrored variable (which has no replica-context aggregation) gets each replica's (identical) value."""
    ctx = tf.distribute.get_replica_context()
    if ctx is None or ctx.num_replicas_in_sync <= 1:
        for var, val in pairs:
            var.assign(val)
        return

    def merge(strategy, *values):
        for (var, _), val in zip(pairs, values):
            target = getattr(var, "value", var)
            strategy.extended.update(target, lambda t, x: t.assign(x), args=(val,), group=False)

    ctx.merge_call(merge, args=tuple(val for _, val in pairs))


@keras.saving.register_keras_serializable(package="caae_tf")
class CGAN(GAN):
    """Conditional DCGAN with label interpolation (paper 001); see the module docstring.

    A :class:`caae_tf.models.base.GAN` (the trainable-model protocol of ``docs/ARCHITECTURE.md``): ``build_optimizers``,
    ``train_step(batch)``, ``build_all(batch)``, ``sample_images(batch)``, ``get_config``.
    ``call({"z": [N, z_dim], "emotion_weights": [N, 6]})`` returns G's images (float32 in [-1, 1]).
    """

    def __init__(self, config: CGANConfig | dict | None = None, **kwargs):
        if config is None:
            config = CGANConfig()
        elif isinstance(config, dict):
            config = CGANConfig.from_dict(config)
        config.validate()
        kwargs.setdefault("name", "cgan")
        super().__init__(**kwargs)
        self.cfg = config
        self.image_size = config.image_size
        self.z_dim = config.z_dim
        self.num_emotions = config.num_emotions
        self.G = CGANGenerator(
            image_size=config.image_size, z_dim=config.z_dim, num_emotions=config.num_emotions,
            g_filters=config.g_filters, kernel_size=config.kernel_size, upsample=config.g_upsample,
        )
        self.D = CGANDiscriminator(
            image_size=config.image_size, num_emotions=config.num_emotions, d_filters=config.d_filters,
            kernel_size=config.kernel_size, label_reinject=config.d_label_reinject,
            projection=config.d_projection, aux_classes=config.num_emotions if config.lambda_ac > 0 else 0,
            spectral_norm=config.spectral_norm,
        )
        # Beyond the paper (g_ema_decay > 0): an exponential moving average of G's weights, used for every
        # image this model produces outside training (samples, generate, export). Its weights are model
        # weights, so checkpoints hold them.
        self.G_ema = None
        if config.g_ema_decay > 0:
            self.G_ema = CGANGenerator(
                image_size=config.image_size, z_dim=config.z_dim, num_emotions=config.num_emotions,
                g_filters=config.g_filters, kernel_size=config.kernel_size, upsample=config.g_upsample, name="G_ema",
            )
        # Noise counter for train_step: z = stateless_normal(seed=(config.seed, counter)), counter += 1
        # per step. It is a (non-trainable, int64) model weight, so every checkpoint of model.weights
        # holds it and a resumed run draws exactly the z an uninterrupted run would have drawn.
        self.noise_step = self.add_weight(
            shape=(), dtype="int64", initializer="zeros", trainable=False, name="noise_step",
            aggregation="only_first_replica",
        )
        self.g_optimizer = None
        self.d_optimizer = None

    # ------------------------------------------------------------------ protocol
    def get_config(self) -> dict[str, Any]:
        return self.cfg.to_dict()

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> "CGAN":
        return cls(CGANConfig.from_dict(config))

    @property
    def train_config(self) -> CGANConfig:
        """Adam(lr, β1, β2) for G and D come from it (1e-4, 0.5, 0.999 by default: paper 001 gives the
        learning rate, the betas are DCGAN's)."""
        return self.cfg

    def _optimized_networks(self) -> list[tuple[str, list]]:
        return [("g_optimizer", self.G.trainable_variables), ("d_optimizer", self.D.trainable_variables)]

    def _networks_built(self) -> bool:
        return self.G.built and self.D.built

    def build(self, input_shape=None):
        """Create G's and D's variables (a one-row forward pass of each); ``input_shape`` is ignored.
        G_ema (when configured) starts as a copy of G."""
        if not self.G.built:
            self.G.build()
        if not self.D.built:
            self.D.build()
        if self.G_ema is not None and not self.G_ema.built:
            self.G_ema.build()
            for src, dst in zip(self.G.weights, self.G_ema.weights):
                dst.assign(src)
        self.built = True

    @property
    def sampler(self):
        """The generator used outside training: G_ema when ``g_ema_decay`` > 0, else G."""
        return self.G_ema if self.G_ema is not None else self.G

    def build_all(self, batch: dict | None = None) -> None:
        """Create every variable (G, D and, once :meth:`build_optimizers` ran, the Adam slots)."""
        if not self.built:
            self.build()
        self._build_optimizer_variables()

    def call(self, inputs, training=False):
        """``inputs``: dict ``{"z": [N, z_dim], "emotion_weights": [N, 6]}`` → G(z, v) float32 [N, S, S, 3]."""
        return self.sampler((inputs["z"], inputs["emotion_weights"]), training=training)

    def generate(self, z, weights, training: bool = False):
        """G(z, v) for conditioning vectors ``weights`` = v ∈ [0,1]^6 (Eq. 3); float32 in [-1, 1]. Uses
        :attr:`sampler` (G_ema when configured)."""
        z = tf.convert_to_tensor(z, tf.float32)
        weights = tf.convert_to_tensor(weights, tf.float32)
        return self.sampler((z, weights), training=training)

    def update_ema(self) -> None:
        """θ_ema ← β_t·θ_ema + (1 − β_t)·θ for G's trainable weights, BN statistics copied (``g_ema_decay``;
        t = the number of steps drawn so far − 1, :func:`caae_tf.losses.ema_decay`)."""
        if self.G_ema is None:
            return
        beta = ema_decay(self.cfg.g_ema_decay, self.noise_step.value - 1)
        trainable = {id(v) for v in self.G.trainable_weights}
        pairs = []
        for src, dst in zip(self.G.weights, self.G_ema.weights):
            val = tf.convert_to_tensor(src.value)
            if id(src) in trainable:
                val = beta * tf.cast(dst.value, tf.float32) + (1.0 - beta) * tf.cast(val, tf.float32)
            pairs.append((dst, tf.cast(val, dst.dtype)))
        _assign_in_sync(pairs)

    def draw_noise(self, n) -> tf.Tensor:
        """z ~ N(0, I) [n, z_dim] for the next training step (stateless, seeded by (seed, noise_step) and
        the replica id under a ``tf.distribute`` strategy); advances ``noise_step``."""
        counter = tf.identity(self.noise_step.value)
        replica = 0
        ctx = tf.distribute.get_replica_context()
        if ctx is not None and ctx.num_replicas_in_sync > 1:
            replica = tf.cast(ctx.replica_id_in_sync_group, tf.int64)
        seed = tf.stack([tf.cast(self.cfg.seed, tf.int64) * 1009 + replica, counter])
        z = tf.random.stateless_normal(tf.stack([tf.cast(n, tf.int32), self.z_dim]), seed=seed, dtype=tf.float32)
        with tf.control_dependencies([z]):
            self.noise_step.assign_add(1)
        return z

    def draw_label_shift(self, n) -> tf.Tensor:
        """int32 [n] uniform in 1..num_emotions-1 (stateless, seeded by (seed, noise_step) on its own stream):
        (e + shift) mod 6 is a wrong label for the matching-aware D term."""
        seed = tf.stack([tf.cast(self.cfg.seed, tf.int64) * 1009 + 0x3C3, tf.identity(self.noise_step.value)])
        return tf.random.stateless_uniform(tf.reshape(n, [1]), seed, 1, self.num_emotions, dtype=tf.int32)

    def _d_outputs(self, pairs) -> list[dict]:
        """D.outputs (training mode) for each (images, v) pair: one call per pair (paper), or with
        ``d_joint_batch`` one call on their concatenation, so D's BatchNorm normalises real and generated
        images with the same batch statistics."""
        if not self.cfg.d_joint_batch:
            return [self.D.outputs(p, training=True) for p in pairs]
        sizes = [tf.shape(p[0])[0] for p in pairs]
        out = self.D.outputs((tf.concat([tf.cast(p[0], tf.float32) for p in pairs], 0),
                              tf.concat([p[1] for p in pairs], 0)), training=True)
        parts = {k: tf.split(t, sizes, axis=0) for k, t in out.items()}
        return [{k: parts[k][i] for k in parts} for i in range(len(pairs))]

    def _d_objective(self, terms: dict) -> tf.Tensor:
        """L_D from its terms (module docstring): real + (1 − w)·fake [+ w·mismatch] [+ λ_ac·ac] [+ γ/2·R1]."""
        c = self.cfg
        w_mis = float(c.d_mismatch_weight)
        d_loss = terms["d_loss_real"] + (1.0 - w_mis) * terms["d_loss_fake"]
        if w_mis > 0:
            d_loss += w_mis * terms["d_loss_mismatch"]
        if c.lambda_ac > 0:
            d_loss += float(c.lambda_ac) * terms["d_loss_ac"]
        if c.lambda_r1 > 0:
            d_loss += 0.5 * float(c.lambda_r1) * terms["d_r1"]
        return d_loss

    def train_step(self, batch: dict) -> dict[str, tf.Tensor]:
        """One D update then one G update (module docstring for the losses); returns float32 scalars
        ``g_loss``, ``d_loss``, ``d_loss_real``, ``d_loss_fake``, ``d_real``, ``d_fake`` (D's mean
        probabilities on real and generated images, valid rows only), plus ``d_loss_mismatch`` when
        ``d_mismatch_weight`` > 0, ``d_loss_ac`` / ``d_acc_ac`` / ``g_loss_ac`` (class cross-entropy of the
        AC head on real / its accuracy / on generated images) when ``lambda_ac`` > 0 and ``d_r1`` (mean
        ‖∇_x D‖² on real images) when ``lambda_r1`` > 0. ``d_loss`` and ``g_loss`` are the full objectives."""
        self._require_optimizers()
        c = self.cfg
        x = tf.cast(batch["image"], tf.float32)
        e = tf.cast(batch["emotion"], tf.int32)
        # one-hot v (Eq. 1); tf.one_hot gives an all-zero row for -1, and those rows are masked out.
        v = tf.one_hot(e, self.num_emotions, dtype=tf.float32)
        mask = tf.cast(tf.logical_and(e >= 0, e < self.num_emotions), tf.float32)
        z = self.draw_noise(tf.shape(x)[0])
        real_target = 1.0 - float(c.label_smoothing)
        w_mis = float(c.d_mismatch_weight)
        lam_ac, lam_r1 = float(c.lambda_ac), float(c.lambda_r1)
        if w_mis > 0:
            v_wrong = tf.one_hot((e + self.draw_label_shift(tf.shape(e)[0])) % self.num_emotions, self.num_emotions)

        def masked_mean(per_example):  # this replica's share of the global batch's mean over the valid rows
            return _masked_mean(per_example, mask, global_batch=True)

        logs = {}

        # G runs forward once per step: its tape is kept for the G update below (exact, since G's weights do
        # not change during the D update; measured 12-21 % faster than a second forward pass at 128 px).
        with tf.GradientTape() as g_tape:
            fake = self.G((z, v), training=True)
        d_pairs = [(x, v), (tf.stop_gradient(fake), v)] + ([(x, v_wrong)] if w_mis > 0 else [])
        with tf.GradientTape() as tape:
            if lam_r1 > 0:  # R1 (Mescheder et al. 2018): the input gradient is itself differentiated below
                with tf.GradientTape() as r1_tape:
                    r1_tape.watch(x)
                    d_outs = self._d_outputs(d_pairs)
                    logit_sum = tf.reduce_sum(tf.cast(d_outs[0]["logit"], tf.float32))
                grad_x = r1_tape.gradient(logit_sum, x)
                r1 = per_example_r1(grad_x)
            else:
                d_outs = self._d_outputs(d_pairs)
            real_out = d_outs[0]
            real_logits = real_out["logit"]
            fake_logits = d_outs[1]["logit"]
            bce_real = per_example_bce(real_target, real_logits)
            bce_fake = per_example_bce(0.0, fake_logits)
            logs["d_loss_real"] = masked_mean(bce_real)
            logs["d_loss_fake"] = masked_mean(bce_fake)
            if w_mis > 0:  # matching-aware D (module docstring): real image, wrong label → fake
                logs["d_loss_mismatch"] = masked_mean(per_example_bce(0.0, d_outs[2]["logit"]))
            if lam_ac > 0:  # AC-GAN head (Odena et al. 2017) learns the class of real images
                logs["d_loss_ac"] = masked_mean(per_example_class_ce(real_out["class_logits"], e))
            if lam_r1 > 0:
                logs["d_r1"] = masked_mean(r1)
            scaled = self.d_optimizer.scale_loss(self._d_objective(logs))
        d_vars = self.D.trainable_variables
        d_grads = tape.gradient(scaled, d_vars)
        self.d_optimizer.apply(d_grads, d_vars)

        with tf.GradientTape() as tape:
            tape.watch(fake)
            if self.cfg.d_joint_batch:  # the updated D sees real and generated images in one batch again
                gen_out = self._d_outputs([(x, v), (fake, v)])[1]
            else:
                gen_out = self.D.outputs((fake, v), training=True)  # through the updated D
            g_loss = masked_mean(per_example_bce(1.0, gen_out["logit"]))  # non-saturating: -log D(G(z, v), v)
            if lam_ac > 0:  # G is rewarded when the AC head reads the class it was conditioned on
                logs["g_loss_ac"] = masked_mean(per_example_class_ce(gen_out["class_logits"], e))
                g_loss += lam_ac * logs["g_loss_ac"]
            scaled = self.g_optimizer.scale_loss(g_loss)
        g_vars = self.G.trainable_variables
        d_fake = tape.gradient(scaled, fake)
        g_grads = g_tape.gradient(fake, g_vars, output_gradients=d_fake)
        self.g_optimizer.apply(g_grads, g_vars)
        self.update_ema()

        if lam_ac > 0:
            hit = tf.cast(tf.equal(tf.argmax(real_out["class_logits"], axis=-1, output_type=tf.int32), e), tf.float32)
            logs["d_acc_ac"] = masked_mean(hit)
        return self.replica_logs({
            **{k: logs[k] for k in ("d_loss_mismatch", "d_loss_ac", "d_acc_ac", "g_loss_ac", "d_r1") if k in logs},
            "g_loss": g_loss,
            "d_loss": self._d_objective(logs),
            "d_loss_real": logs["d_loss_real"],
            "d_loss_fake": logs["d_loss_fake"],
            "d_real": masked_mean(tf.sigmoid(tf.cast(tf.reshape(real_logits, [-1]), tf.float32))),
            "d_fake": masked_mean(tf.sigmoid(tf.cast(tf.reshape(fake_logits, [-1]), tf.float32))),
        })

    # ------------------------------------------------------------------ samples
    def fixed_noise(self, n: int = SAMPLE_COLUMNS) -> tf.Tensor:
        """Deterministic z [n, z_dim] (stateless, from the config seed) for comparable sample grids."""
        return tf.random.stateless_normal([n, self.z_dim], seed=[int(self.cfg.seed), 0x5A3D], dtype=tf.float32)

    def sample_images(self, batch: dict | None = None, num_z: int = SAMPLE_COLUMNS) -> dict[str, np.ndarray]:
        """uint8 grids: ``samples`` (rows = the 6 one-hot emotions in CGAN_EMOTIONS order, columns =
        ``num_z`` fixed noise vectors; cf. paper 001 Fig. 3) and ``interpolation`` (one row per extreme
        emotion, Neutral → emotion in 11 steps α = 0, 0.1, …, 1 for the first fixed z; cf. Fig. 5)."""
        z = self.fixed_noise(num_z)
        n_e = self.num_emotions
        v_samples = np.repeat(np.eye(n_e, dtype=np.float32), num_z, axis=0)  # row-major: emotion, then z
        z_samples = tf.tile(z, [n_e, 1])
        v_interp = np.concatenate(
            [_labels.interpolation_weights(e, steps=PAPER_STEPS) for e in _labels.EXTREME_EMOTIONS], axis=0
        )
        z_interp = tf.repeat(z[:1], v_interp.shape[0], axis=0)
        out = self.generate(tf.concat([z_samples, z_interp], 0), np.concatenate([v_samples, v_interp], 0))
        imgs = _images.to_uint8(out.numpy())
        k = v_samples.shape[0]
        return {
            "samples": _images.make_grid(imgs[:k], cols=num_z),
            "interpolation": _images.make_grid(imgs[k:], cols=PAPER_STEPS),
        }
