"""The networks of paper 001's conditional DCGAN (Mertes et al. 2021): G (:class:`CGANGenerator`) and D
(:class:`CGANDiscriminator`), their layer plans, and the spectrally normalised layers of the beyond-the-paper
modes. Architecture notes: :mod:`caae_tf.models.cgan`, which builds them into the trainable
:class:`caae_tf.models.cgan.CGAN`."""

from __future__ import annotations

import math
from typing import Any

import keras
from keras import ops

from caae_tf import labels as _labels
from caae_tf.config import G_UPSAMPLE_MODES, ConfigError
from caae_tf.models.layers import TileConcat, attach, batch_norm, kernel_init

NUM_EMOTIONS = len(_labels.CGAN_EMOTIONS)


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


# ------------------------------------------------------------------------ conditional batch normalisation

@keras.saving.register_keras_serializable(package="caae_tf")
class ConditionalBatchNorm(keras.layers.Layer):
    """Class-conditional BatchNorm (beyond paper 001; ``g_conditional_bn``): the features are normalised
    with statistics shared by all classes, and the affine part comes from the label,

        y = γ(v) · BN(x) + β(v),      γ(v) = v · W_γ,  β(v) = v · W_β      (W_γ, W_β: [C, channels]),

    i.e. a bias-free Dense from the label vector v [B, C] per BN (de Vries, Strub, Mary, Larochelle, Pietquin
    & Courville 2017, "Modulating early visual processing by language" — conditional BN; Miyato & Koyama 2018,
    "cGANs with projection discriminator", and Brock, Donahue & Simonyan 2019, BigGAN, use it in G). W_γ
    starts at 1 (DCGAN's γ ~ N(1, ``gamma_stddev``)), W_β at 0, so for a one-hot or any interpolated v on the
    simplex (Σ v = 1) the layer starts as plain BN, and v = (1−α)·e_N + α·e_i gives the linear mix
    (1−α)·(γ_N, β_N) + α·(γ_i, β_i): paper 001's interpolation in label space carries over. BN's moving
    statistics (momentum 0.9, ε 1e-5) are those of :func:`caae_tf.models.layers.batch_norm`.
    """

    def __init__(self, gamma_stddev: float = 0.0, momentum: float = 0.9, epsilon: float = 1e-5, **kwargs):
        super().__init__(**kwargs)
        self.gamma_stddev = float(gamma_stddev)
        self.momentum = float(momentum)
        self.epsilon = float(epsilon)
        self.norm = keras.layers.BatchNormalization(momentum=self.momentum, epsilon=self.epsilon, center=False,
                                                    scale=False, name="norm")

    def build(self, input_shape):
        x_shape, v_shape = input_shape
        channels, classes = int(x_shape[-1]), int(v_shape[-1])
        self.norm.build(x_shape)
        init = (keras.initializers.RandomNormal(1.0, self.gamma_stddev) if self.gamma_stddev > 0
                else keras.initializers.Ones())
        self.gamma_embedding = self.add_weight(shape=(classes, channels), initializer=init, name="gamma_embedding")
        self.beta_embedding = self.add_weight(shape=(classes, channels), initializer="zeros", name="beta_embedding")
        self.built = True

    def affine(self, v):
        """(γ(v), β(v)), float32 [B, channels] each."""
        v = ops.cast(v, "float32")
        return (ops.matmul(v, ops.cast(self.gamma_embedding, "float32")),
                ops.matmul(v, ops.cast(self.beta_embedding, "float32")))

    def call(self, inputs, training=None):
        x, v = inputs
        h = self.norm(x, training=training)
        gamma, beta = self.affine(v)
        if len(x.shape) == 4:  # per channel, broadcast over height and width
            gamma, beta = gamma[:, None, None, :], beta[:, None, None, :]
        return h * ops.cast(gamma, h.dtype) + ops.cast(beta, h.dtype)

    def compute_output_shape(self, input_shape):
        return input_shape[0]

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "gamma_stddev": self.gamma_stddev, "momentum": self.momentum,
                "epsilon": self.epsilon}


# ----------------------------------------------------------------------------------------------- G, D

@keras.saving.register_keras_serializable(package="caae_tf")
class CGANGenerator(keras.Model):
    """G(z, v) → image in [-1, 1], float32 [B, S, S, 3] (module docstring; DCGAN generator + v).

    Beyond paper 001 (off by default): ``upsample="resize"`` (nearest-neighbour ×2 + conv) and
    ``conditional_bn`` (every BN of G is a :class:`ConditionalBatchNorm` whose γ, β come from v; de Vries et
    al. 2017, as in the generators of Miyato & Koyama 2018 and BigGAN); ``label_every_scale`` (v tiled and
    concatenated to the features before every upsampling, as D's input conditioning of Mirza & Osindero 2014
    applied at every scale of G); ``skip_rgb`` (the output is the sum of 1×1-conv RGB images from every scale,
    each bilinearly upsampled ×2 and added to the next, with the last layer's image: the "skip" generator of
    Karras et al. 2020, StyleGAN2 §4, after MSG-GAN, Karnewar & Wang 2020), so the coarse scales draw the
    image's large smooth areas directly; ``output_block`` = F > 0 (the last ×2 upsampling draws F feature
    channels, BN and ReLU, and a stride-1 3×3 conv maps them to RGB at the output resolution, as every
    resolution of ProGAN's and StyleGAN's generators ends in convolutions at that resolution, Karras et al. 2018
    Table 2), so the output has a non-linear layer at full resolution: without it, with ``upsample="resize"``,
    each output pixel is one linear 3×3 filter of the nearest-neighbour-upsampled half-resolution features.
    """

    def __init__(
        self,
        image_size: int = 256,
        z_dim: int = 100,
        num_emotions: int = NUM_EMOTIONS,
        g_filters: list[int] | tuple[int, ...] = (1024, 512, 256, 128, 64, 32),
        kernel_size: int = 5,
        upsample: str = "transposed",
        conditional_bn: bool = False,
        label_every_scale: bool = False,
        skip_rgb: bool = False,
        output_block: int = 0,
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
        self.conditional_bn = bool(conditional_bn)
        self.label_every_scale = bool(label_every_scale)
        bn = (lambda name: ConditionalBatchNorm(gamma_stddev=0.02, name=name)) if self.conditional_bn else _bn
        self.fc_bn = bn("fc_bn")
        if upsample not in G_UPSAMPLE_MODES:
            raise ConfigError(f"g_upsample must be one of {', '.join(G_UPSAMPLE_MODES)}, got {upsample!r}")
        self.upsample = upsample

        def up_layer(filters, name, use_bias):
            """×2 upsampling: DCGAN's stride-2 transposed conv, or (``resize``) nearest-neighbour ×2 then a
            stride-1 conv (Odena, Dumoulin & Olah 2016, "Deconvolution and checkerboard artifacts"), or
            (``bilinear``) bilinear ×2 then the conv: a low-pass upsampling, as StyleGAN's filtered ×2 (Karras,
            Laine & Aila 2019, §2 / Zhang 2019, "Making convolutional networks shift-invariant again"), which
            leaves no 2-px blocks for the conv to turn into a lattice."""
            if upsample == "transposed":
                return keras.layers.Conv2DTranspose(
                    filters, self.kernel_size, strides=2, padding="same", use_bias=use_bias,
                    kernel_initializer=kernel_init(), name=name,
                )
            return keras.Sequential([
                keras.layers.UpSampling2D(2, interpolation="nearest" if upsample == "resize" else "bilinear",
                                          name=f"{name}_up"),
                keras.layers.Conv2D(filters, 3, padding="same", use_bias=use_bias, kernel_initializer=kernel_init(),
                                    name=f"{name}_conv"),
            ], name=name)

        # label_every_scale: v tiled and concatenated to the features before every ×2 upsampling
        self.label_concats = [TileConcat(name=f"concat_v{k + 1}") for k in range(len(self.widths))] \
            if self.label_every_scale else []
        attach(self, self.label_concats)
        up_convs, up_bns = [], []
        for k, w in enumerate(self.widths[1:]):
            conv = up_layer(w, f"deconv{k + 1}", False)
            norm = bn(f"deconv{k + 1}_bn")
            attach(self, [conv, norm])  # one attribute per layer (caae_tf.models.layers.attach)
            up_convs.append(conv)
            up_bns.append(norm)
        self.up_convs = up_convs
        self.up_bns = up_bns
        # output_block > 0: the last ×2 upsampling draws that many channels (BN, ReLU) and a stride-1 3×3 conv at
        # the output resolution maps them to RGB; 0 (the paper): the last upsampling goes straight to RGB
        self.output_block = int(output_block)
        if self.output_block < 0:
            raise ConfigError(f"g_output_block must be >= 0, got {output_block}")
        if self.output_block:
            self.out_conv = up_layer(self.output_block, f"deconv{len(self.widths)}", False)
            self.out_bn = bn(f"deconv{len(self.widths)}_bn")
            self.to_rgb = keras.layers.Conv2D(3, 3, padding="same", kernel_initializer=kernel_init(), name="out_rgb")
        else:
            self.out_conv = self.out_bn = None
            self.to_rgb = up_layer(3, f"deconv{len(self.widths)}_rgb", True)
        # skip_rgb: a 1×1 conv to RGB at every scale below the output, summed up through bilinear ×2 upsampling
        self.skip_rgb = bool(skip_rgb)
        self.skip_to_rgb = [keras.layers.Conv2D(3, 1, kernel_initializer=kernel_init(), name=f"skip_rgb{k}")
                            for k in range(len(self.widths))] if self.skip_rgb else []
        attach(self, self.skip_to_rgb)
        self.skip_up = keras.layers.UpSampling2D(2, interpolation="bilinear", name="skip_up") if self.skip_rgb else None
        self.tanh = keras.layers.Activation("tanh", dtype="float32", name="tanh")

    def call(self, inputs, training=None):
        """``inputs = (z [B, z_dim], v [B, 6])`` (or a dict with keys ``z``, ``v``)."""
        z, v = _split(inputs, "z", "v")
        v = ops.cast(v, "float32")
        h = self.concat([ops.cast(z, "float32"), v])
        h = self.reshape(self.fc(h))

        def norm(layer, t):  # with conditional_bn every BN takes its γ, β from v
            return layer((t, v), training=training) if self.conditional_bn else layer(t, training=training)

        def tile(k, t):
            return self.label_concats[k]([t, v]) if self.label_every_scale else t

        h = ops.relu(norm(self.fc_bn, h))
        rgb = self.skip_to_rgb[0](h) if self.skip_rgb else None  # skip_rgb: the image so far, at 4×4
        for k, (conv, bn) in enumerate(zip(self.up_convs, self.up_bns)):
            h = ops.relu(norm(bn, conv(tile(k, h))))
            if self.skip_rgb:
                rgb = self.skip_up(rgb) + self.skip_to_rgb[k + 1](h)
        h = tile(len(self.up_convs), h)
        if self.output_block:  # one more block at the output resolution, then a 3×3 conv to RGB
            h = ops.relu(norm(self.out_bn, self.out_conv(h)))
        out = self.to_rgb(h)
        if self.skip_rgb:
            out = out + ops.cast(self.skip_up(rgb), out.dtype)
        return self.tanh(out)

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
            "upsample": self.upsample, "conditional_bn": self.conditional_bn,
            "label_every_scale": self.label_every_scale, "skip_rgb": self.skip_rgb,
            "output_block": self.output_block,
        }


#: σ (pixels) of the Gaussian window of :func:`local_contrast_normalize` and the floor of its local deviation
#: (image units, [-1, 1]): below it a region counts as flat and is not amplified (the training images' pixel
#: noise is σ ≈ 0.02).
LCN_SIGMA = 2.0
LCN_FLOOR = 0.1


def gaussian_blur_reflect(x, sigma, radius: int):
    """Gaussian blur of float32 ``[B, S, S, C]`` images over reflect-padded borders (so a flat image stays flat):
    a column then a row pass of 2·``radius`` + 1 taps exp(−k²/2σ²), normalised; ``sigma`` may be a tensor (one
    σ for the batch). Used for D's blurred negatives and for :func:`local_contrast_normalize`."""
    x = ops.cast(x, "float32")
    k = ops.cast(ops.arange(-radius, radius + 1), "float32")
    taps = ops.exp(-0.5 * ops.square(k / ops.cast(sigma, "float32")))
    taps = taps / ops.sum(taps)
    channels = int(x.shape[-1])
    k_rows = ops.tile(ops.reshape(taps, (-1, 1, 1, 1)), (1, 1, channels, 1))
    k_cols = ops.tile(ops.reshape(taps, (1, -1, 1, 1)), (1, 1, channels, 1))
    padded = ops.pad(x, [[0, 0], [radius, radius], [radius, radius], [0, 0]], mode="reflect")
    return ops.depthwise_conv(ops.depthwise_conv(padded, k_rows, padding="valid"), k_cols, padding="valid")


def local_contrast_normalize(x, sigma: float = LCN_SIGMA, floor: float = LCN_FLOOR):
    """Local contrast normalisation (Jarrett, Kavukcuoglu, Ranzato & LeCun 2009, "What is the best multi-stage
    architecture for object recognition?", §2.1; Pinto, Cox & DiCarlo 2008): per channel
    (x − G_σ * x) / max(√(G_σ * (x − G_σ * x)²), floor), G_σ a Gaussian window over reflect-padded images
    (:func:`gaussian_blur_reflect`). A mouth line on a dark face and on a light one then have about the same
    amplitude. Float32 ``[B, S, S, C]`` → same shape."""
    x = ops.cast(x, "float32")
    r = int(math.ceil(3.0 * sigma))
    centred = x - gaussian_blur_reflect(x, sigma, r)
    return centred / ops.maximum(ops.sqrt(gaussian_blur_reflect(ops.square(centred), sigma, r) + 1e-12), floor)


@keras.saving.register_keras_serializable(package="caae_tf")
def minibatch_stddev(h, group_size: int):
    """``h`` [B, H, W, C] with one more channel: the minibatch standard deviation of Karras et al. 2018 (ProGAN
    §3; StyleGAN2's grouped form). Rows i, i + M, i + 2M, … (M = B / g) form a group of g = ``group_size`` rows
    (the whole batch when g does not divide B); the standard deviation of every feature over its group,
    averaged over H, W and C, is the new channel of each of the group's rows. Computed in float32; the result
    has ``h``'s dtype."""
    import tensorflow as tf

    y = tf.cast(h, tf.float32)
    b = tf.shape(y)[0]
    g = tf.minimum(tf.constant(int(group_size)), b)
    g = tf.where(tf.equal(b % g, 0), g, b)
    grouped = tf.reshape(y, tf.concat([[g, -1], tf.shape(y)[1:]], 0))  # [g, M, H, W, C]
    std = tf.sqrt(tf.reduce_mean(tf.square(grouped - tf.reduce_mean(grouped, 0, keepdims=True)), 0) + 1e-8)
    per_row = tf.tile(tf.reduce_mean(std, axis=[1, 2, 3]), [g])  # row r takes group r mod M's value
    channel = tf.ones_like(y[..., :1]) * per_row[:, None, None, None]
    return tf.cast(tf.concat([y, channel], axis=-1), h.dtype)


class CGANDiscriminator(keras.Model):
    """D(x, v) → real/fake logit, float32 [B, 1] (module docstring; DCGAN discriminator + tiled v).

    Beyond paper 001 (all off by default): ``projection`` (Miyato & Koyama 2018: no tiled v, the logit is
    ψ(φ) + <V·v, φ> on the flattened last features φ), ``aux_classes`` > 0 (AC-GAN head, Odena et al. 2017:
    class logits C(x) from φ, :meth:`outputs`) and ``spectral_norm`` (Miyato et al. 2018: every kernel W/σ(W),
    no BatchNorm). With ``aux_trunk`` the class head has its own convolutional trunk (D's layer plan, no label
    input), so it reads C(x) off the image alone; without it the head shares D's features, which see the tiled v.
    ``twin_classes`` > 0 adds TAC-GAN's twin head C_mi (Gong et al. 2019) on the AC head's features
    (``"twin_logits"``), which the cGAN trains on generated images.
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
        aux_trunk: bool = False,
        local_contrast: bool = False,
        minibatch_std: int = 0,
        twin_classes: int = 0,
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
        self.local_contrast = bool(local_contrast)
        self.aux_trunk = bool(aux_trunk)
        self.minibatch_std = int(minibatch_std)
        self.twin_classes = int(twin_classes)
        if self.twin_classes > 0 and self.aux_classes <= 0:
            raise ConfigError("twin_classes needs the class head (aux_classes > 0)")
        if self.aux_trunk and self.aux_classes <= 0:
            raise ConfigError("aux_trunk needs the class head (aux_classes > 0)")
        self.widths = discriminator_widths(self.image_size, self.d_filters)
        self.concat_in = TileConcat(name="concat_x_v")  # v tiled over the image ...
        self.concat_h1 = TileConcat(name="concat_h1_v")  # ... and over the first block's output
        self.convs, self.bns = self._trunk("")
        self.flatten = keras.layers.Flatten(name="flatten")

        def dense(units, name, use_bias=True):
            if self.spectral_norm:
                return SNDense(units, use_bias=use_bias, kernel_initializer=kernel_init(), dtype="float32", name=name)
            return keras.layers.Dense(units, use_bias=use_bias, kernel_initializer=kernel_init(), dtype="float32",
                                      name=name)

        self.logit = dense(1, "logit")
        # projection: V maps v to φ's space (a class embedding for one-hot v), no bias (Miyato & Koyama 2018)
        phi_dim = 4 * 4 * (self.widths[-1] + int(self.minibatch_std > 0))
        self.embed_v = dense(phi_dim, "embed_v", use_bias=False) if self.projection else None
        self.classifier = dense(self.aux_classes, "aux_classifier") if self.aux_classes > 0 else None
        # aux_trunk: the class head's own trunk, created last so that D's other initial weights draw the same seeds
        self.aux_convs, self.aux_bns = self._trunk("aux_") if self.aux_trunk else ([], [])
        # twin_classes (TAC-GAN's C_mi): a second class head on the AC head's features, created after everything else
        self.twin_classifier = dense(self.twin_classes, "aux_twin_classifier") if self.twin_classes > 0 else None

    def _trunk(self, prefix: str):
        """One stride-2 conv (k = ``kernel_size``) per width, BN on every block but the first (none with spectral
        norm); the layers are named ``{prefix}conv{k}`` / ``{prefix}conv{k}_bn`` and attached to ``self``."""
        convs, bns = [], []
        for k, w in enumerate(self.widths):
            if self.spectral_norm:
                conv = SNConv2D(w, self.kernel_size, strides=2, padding="same", use_bias=True,
                                kernel_initializer=kernel_init(), name=f"{prefix}conv{k + 1}")
            else:
                conv = keras.layers.Conv2D(
                    w, self.kernel_size, strides=2, padding="same", use_bias=(k == 0),
                    kernel_initializer=kernel_init(), name=f"{prefix}conv{k + 1}",
                )
            bn = None if (k == 0 or self.spectral_norm) else _bn(f"{prefix}conv{k + 1}_bn")
            attach(self, [conv, bn])  # one attribute per layer (caae_tf.models.layers.attach)
            convs.append(conv)
            bns.append(bn)
        return convs, bns

    def _run_trunk(self, h, convs, bns, training, v=None):
        """The trunk's features; ``v`` (D's own trunk) is tiled onto the first block's output with label_reinject."""
        for k, (conv, bn) in enumerate(zip(convs, bns)):
            h = conv(h, training=training) if self.spectral_norm else conv(h)
            if bn is not None:
                h = bn(h, training=training)
            h = ops.leaky_relu(h, negative_slope=0.2)
            if k == 0 and v is not None:
                h = self.concat_h1([h, v])
        return h

    def outputs(self, inputs, training=None) -> dict[str, Any]:
        """``{"logit": [B, 1] float32, "features": [B, F] float32 (φ, the flattened last features the logit reads),
        "class_logits": [B, aux_classes] float32 (only with the AC head), "twin_logits": [B, twin_classes] float32
        (only with the twin head; same features as the AC head)}``."""
        x, v = _split(inputs, "image", "v")
        v = ops.cast(v, "float32")
        x = ops.cast(x, "float32")
        if self.local_contrast:  # the image and the local-contrast-normalised grey image (4 channels)
            x = ops.concatenate([x, local_contrast_normalize(ops.mean(x, axis=-1, keepdims=True))], axis=-1)
        h = x if self.projection else self.concat_in([x, v])
        h = self._run_trunk(h, self.convs, self.bns, training,
                            v=v if (self.label_reinject and not self.projection) else None)
        if self.minibatch_std > 0:  # ProGAN's minibatch standard deviation, one more channel of φ
            h = minibatch_stddev(h, self.minibatch_std)
        phi = ops.cast(self.flatten(h), "float32")

        def head(layer, t):
            return layer(t, training=training) if self.spectral_norm else layer(t)

        logit = head(self.logit, phi)
        if self.embed_v is not None:  # projection term <V v, φ(x)>
            logit = logit + ops.sum(head(self.embed_v, v) * phi, axis=-1, keepdims=True)
        out = {"logit": logit, "features": phi}
        if self.classifier is not None:
            phi_c = phi
            if self.aux_trunk:  # the head's own trunk sees the image only
                phi_c = ops.cast(self.flatten(self._run_trunk(x, self.aux_convs, self.aux_bns, training)), "float32")
            out["class_logits"] = head(self.classifier, phi_c)
            if self.twin_classifier is not None:
                out["twin_logits"] = head(self.twin_classifier, phi_c)
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
            "aux_classes": self.aux_classes, "spectral_norm": self.spectral_norm, "aux_trunk": self.aux_trunk,
            "local_contrast": self.local_contrast, "minibatch_std": self.minibatch_std,
            "twin_classes": self.twin_classes,
        }


# ------------------------------------------------------------------------------------------------ CGAN
