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
conv upsampling in G (``g_upsample="resize"``), class-conditional BatchNorm in G (``g_conditional_bn``,
:class:`ConditionalBatchNorm`: γ, β of every BN of G from v; de Vries et al. 2017), a "skip" G summing RGB
images from every scale (``g_skip_rgb``; Karras et al. 2020, StyleGAN2 §4), DiffAugment of every image D sees
(``d_augment``, :mod:`caae_tf.models.diffaugment`; Zhao et al. 2020) and an EMA of G's weights used for every
image outside training (``g_ema_decay``, :attr:`CGAN.sampler`). With them the losses become

    L_D += λ_ac·CE(C(x), e) + γ/2·‖∇_x D(x, v)‖²,      L_G += λ_ac·CE(C(G(z, v)), e) + λ_spec·L_spec

(``lambda_fm``: L_G += λ_fm·Σ_k (n_k/N)·‖μ_k(φ(x)) − μ_k(φ(G(z, v)))‖² / F, class-conditional feature matching on
D's last features, Salimans et al. 2016 §3.1; ``d_blur_negative`` = b adds real images blurred by a Gaussian to
D's negatives, L_D += b·BCE(0, D(blur(x), v)), the edge-smoothed negatives of CartoonGAN, Chen et al. 2018;
``lambda_spectral``: L_spec = mean_r (log P_G(r) − log P_data(r))² of the batches' azimuthally averaged power
spectra, Durall et al. 2020; :func:`caae_tf.losses.spectral_loss`; ``lambda_pixel_match``: L_G += λ_pm·Σ_k (n_k/N)·
mean_d (μ_k^A − μ_k^real)(μ_k^B − μ_k^real) of the images average-pooled to ``pixel_match_size`` px, A / B the two
halves of class k's rows, an unbiased estimate of the squared class-mean gap, :func:`caae_tf.losses.class_moment_loss`).

With ``ac_fake_class`` the head C has K + 1 outputs and D also learns to put generated images in the extra
class K (Salimans et al. 2016 §5; Odena 2016): L_D += λ_ac·CE(C(G(z, v)), K), so G can no longer satisfy
the head with artefacts that are only ever seen on generated images. With ``ac_mismatch`` the head also learns
the true class of the real images shown with a wrong label, L_D += λ_ac·CE(C(x, v'), e), so it cannot copy the
label D's input carries. With ``ac_separate_trunk`` the head has its own trunk that sees the image only (the
AC-GAN classifier's input), so there is no label to copy. With ``ac_twin`` (TAC-GAN, Gong et al. 2019, Eq. 6) a
twin head C_mi on the AC head's features learns the class of G's images, L_D += λ_ac·CE(C_mi(G(z, v)), e), and G
plays against it, L_G −= λ_ac·CE(C_mi(G(z, v)), e): G gains nothing from class patterns its own images carry more
than real ones.
"""

from __future__ import annotations

from typing import Any

import numpy as np

import keras
import tensorflow as tf

from caae_tf import images as _images
from caae_tf import labels as _labels
from caae_tf.config import CGANConfig
from caae_tf.errors import TrainingError
from caae_tf.losses import (class_feature_matching_loss, class_moment_loss, ema_decay, mode_seeking_loss,
                            per_example_bce, per_example_class_ce, per_example_r1, spectral_loss)
from caae_tf.models.base import GAN, Untracked
from caae_tf.models.diffaugment import diff_augment, parse_policy
from caae_tf.models.cgan_networks import (NUM_EMOTIONS, CGANDiscriminator, CGANGenerator, ConditionalBatchNorm,
                                          SNConv2D, SNDense, discriminator_widths, gaussian_blur_reflect,
                                          generator_widths, num_upsamplings)

#: Number of fixed noise vectors (columns) in :meth:`CGAN.sample_images`' ``samples`` grid.
SAMPLE_COLUMNS = 8
#: Interpolation steps of paper 001 §4.3 / Fig. 5 (α = 0, 0.1, …, 1).
PAPER_STEPS = 11

__all__ = ["NUM_EMOTIONS", "SAMPLE_COLUMNS", "PAPER_STEPS", "CGANGenerator", "CGANDiscriminator", "SNConv2D",
           "SNDense", "ConditionalBatchNorm", "num_upsamplings", "generator_widths", "discriminator_widths", "CGAN"]


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


def _replica_id():
    """This replica's id (int64) inside a multi-replica ``tf.distribute`` step, else 0: it offsets the stateless
    seeds so that replicas draw different noise / augmentations."""
    ctx = tf.distribute.get_replica_context()
    if ctx is not None and ctx.num_replicas_in_sync > 1:
        return tf.cast(ctx.replica_id_in_sync_group, tf.int64)
    return 0


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

    def __init__(self, config: CGANConfig | dict | None = None, va_net=None, va_input_size: int | None = None,
                 **kwargs):
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
        g_args = dict(image_size=config.image_size, z_dim=config.z_dim, num_emotions=config.num_emotions,
                      g_filters=config.g_filters, kernel_size=config.kernel_size, upsample=config.g_upsample,
                      conditional_bn=config.g_conditional_bn, label_every_scale=config.g_label_every_scale,
                      skip_rgb=config.g_skip_rgb, output_block=config.g_output_block)
        self.G = CGANGenerator(**g_args)
        self.D = CGANDiscriminator(
            image_size=config.image_size, num_emotions=config.num_emotions, d_filters=config.d_filters,
            kernel_size=config.kernel_size, label_reinject=config.d_label_reinject,
            projection=config.d_projection,
            aux_classes=(config.num_emotions + int(config.ac_fake_class)) if config.lambda_ac > 0 else 0,
            spectral_norm=config.spectral_norm, aux_trunk=config.ac_separate_trunk,
            local_contrast=config.d_local_contrast, minibatch_std=config.d_minibatch_std,
            twin_classes=config.num_emotions if config.ac_twin else 0,
        )
        # Beyond the paper (g_ema_decay > 0): an exponential moving average of G's weights, used for every
        # image this model produces outside training (samples, generate, export). Its weights are model
        # weights, so checkpoints hold them.
        self.G_ema = None
        if config.g_ema_decay > 0:
            self.G_ema = CGANGenerator(**g_args, name="G_ema")
        # Noise counter for train_step: z = stateless_normal(seed=(config.seed, counter)), counter += 1
        # per step. It is a (non-trainable, int64) model weight, so every checkpoint of model.weights
        # holds it and a resumed run draws exactly the z an uninterrupted run would have drawn.
        self.noise_step = self.add_weight(
            shape=(), dtype="int64", initializer="zeros", trainable=False, name="noise_step",
            aggregation="only_first_replica",
        )
        self._augment_policy = parse_policy(config.d_augment)
        # lambda_va_match: the frozen regressor R (``va_network``), held outside tracking (not in checkpoints)
        if va_net is not None:
            va_net.trainable = False
        self._va_net = Untracked((va_net, int(va_input_size or config.image_size)))
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
        seed = tf.stack([tf.cast(self.cfg.seed, tf.int64) * 1009 + _replica_id(), counter])
        z = tf.random.stateless_normal(tf.stack([tf.cast(n, tf.int32), self.z_dim]), seed=seed, dtype=tf.float32)
        with tf.control_dependencies([z]):
            self.noise_step.assign_add(1)
        return z

    def draw_label_shift(self, n) -> tf.Tensor:
        """int32 [n] uniform in 1..num_emotions-1 (stateless, seeded by (seed, noise_step) on its own stream):
        (e + shift) mod 6 is a wrong label for the matching-aware D term."""
        seed = tf.stack([tf.cast(self.cfg.seed, tf.int64) * 1009 + 0x3C3, tf.identity(self.noise_step.value)])
        return tf.random.stateless_uniform(tf.reshape(n, [1]), seed, 1, self.num_emotions, dtype=tf.int32)

    def _augment(self, images, stream: int):
        """T(images) for D (``d_augment``, DiffAugment; :mod:`caae_tf.models.diffaugment`), or the images
        unchanged when it is off. Stateless: seeded by (seed, ``noise_step``, ``stream``), one stream per
        batch D sees in a step (and the replica under a ``tf.distribute`` strategy), so a resumed run augments as an
        uninterrupted one."""
        if not self._augment_policy:
            return images
        # each replica augments its share with its own streams (16 per replica: more than the 5 a step uses)
        seed = tf.stack([tf.cast(self.cfg.seed, tf.int64) * 1009 + 0xDA0 + stream + 16 * _replica_id(),
                         tf.identity(self.noise_step.value)])
        return diff_augment(images, self._augment_policy, seed)

    def blur_negatives(self, images):
        """Real images blurred for D's extra negative term (``d_blur_negative``; CartoonGAN's edge-smoothed
        negatives): a Gaussian of σ ~ U(``d_blur_sigma``), one σ per step (stateless, seeded by (seed,
        ``noise_step``) on its own stream), over reflect-padded images so the borders are not darkened."""
        lo, hi = (float(s) for s in self.cfg.d_blur_sigma)
        seed = tf.stack([tf.cast(self.cfg.seed, tf.int64) * 1009 + 0xB1 + 16 * _replica_id(),
                         tf.identity(self.noise_step.value)])
        sigma = tf.random.stateless_uniform([], seed, lo, hi, dtype=tf.float32)
        return gaussian_blur_reflect(images, sigma, int(np.ceil(3.0 * hi)))

    def _d_outputs(self, pairs, stream: int = 0) -> list[dict]:
        """D.outputs (training mode) for each (images, v) pair: one call per pair (paper), or with
        ``d_joint_batch`` one call on their concatenation, so D's BatchNorm normalises real and generated
        images with the same batch statistics. With ``d_augment`` every pair's images are augmented first
        (streams ``stream``, ``stream`` + 1, …)."""
        pairs = [(self._augment(p[0], stream + i), p[1]) for i, p in enumerate(pairs)]
        if not self.cfg.d_joint_batch:
            return [self.D.outputs(p, training=True) for p in pairs]
        sizes = [tf.shape(p[0])[0] for p in pairs]
        out = self.D.outputs((tf.concat([tf.cast(p[0], tf.float32) for p in pairs], 0),
                              tf.concat([p[1] for p in pairs], 0)), training=True)
        parts = {k: tf.split(t, sizes, axis=0) for k, t in out.items()}
        return [{k: parts[k][i] for k in parts} for i in range(len(pairs))]

    def _va_input(self, images):
        net, size = self._va_net.value
        if net is None:
            raise TrainingError("lambda_va_match > 0 needs the frozen regressor: build the model with "
                                "caae_tf.serving.build_model (it loads va_network) or CGAN(config, va_net=...)")
        images = tf.cast(images, tf.float32)
        if size != images.shape[1]:
            images = tf.image.resize(images, (size, size), antialias=True)
        return net, images

    def read_va_features(self, images) -> tf.Tensor:
        """R's last hidden features [B, F] float32 on ``images`` (``va_match_features``; R in inference mode)."""
        net, images = self._va_input(images)
        return tf.cast(net.features(images, training=False), tf.float32)

    def read_va(self, images) -> tf.Tensor:
        """(v, a) [B, 2] float32 of the frozen regressor R (``va_network``, for ``lambda_va_match``) on ``images``
        in [-1, 1], resized to R's input size when it differs. R runs in inference mode; gradients flow to the
        images. Table II pairs return ``{"valence", "arousal"}``, MobileNetV2 ``{"va", …}``."""
        net, images = self._va_input(images)
        out = net(images, training=False)
        va = out["va"] if "va" in out else tf.concat([out["valence"], out["arousal"]], axis=-1)
        return tf.cast(va, tf.float32)

    def _d_objective(self, terms: dict) -> tf.Tensor:
        """L_D from its terms (module docstring): real + (1 − w)·fake [+ w·mismatch] [+ λ_ac·ac] [+ γ/2·R1]."""
        c = self.cfg
        w_mis = float(c.d_mismatch_weight)
        d_loss = terms["d_loss_real"] + (1.0 - w_mis) * terms["d_loss_fake"]
        if w_mis > 0:
            d_loss += w_mis * terms["d_loss_mismatch"]
        if c.d_blur_negative > 0:
            d_loss += float(c.d_blur_negative) * terms["d_loss_blur"]
        if c.lambda_ac > 0:
            d_loss += float(c.lambda_ac) * terms["d_loss_ac"]
            if c.ac_fake_class:
                d_loss += float(c.lambda_ac) * terms["d_loss_ac_fake"]
            if c.ac_mismatch:
                d_loss += float(c.lambda_ac) * terms["d_loss_ac_mismatch"]
            if c.ac_twin:
                d_loss += float(c.lambda_ac) * terms["d_loss_ac_twin"]
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
        if c.d_blur_negative > 0:  # blurred real images with their own label are negatives too (CartoonGAN)
            d_pairs.append((self.blur_negatives(x), v))
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
            if c.d_blur_negative > 0:
                logs["d_loss_blur"] = masked_mean(per_example_bce(0.0, d_outs[-1]["logit"]))
            if lam_ac > 0:  # AC-GAN head (Odena et al. 2017) learns the class of real images
                logs["d_loss_ac"] = masked_mean(per_example_class_ce(real_out["class_logits"], e))
                if c.ac_mismatch:  # the true class of a real image shown with a wrong label: the head must read x
                    logs["d_loss_ac_mismatch"] = masked_mean(per_example_class_ce(d_outs[2]["class_logits"], e))
                if c.ac_fake_class:  # generated images belong to the extra class K (Salimans et al. 2016 §5)
                    fake_class = tf.fill(tf.shape(e), self.num_emotions)
                    logs["d_loss_ac_fake"] = masked_mean(per_example_class_ce(d_outs[1]["class_logits"], fake_class))
                if c.ac_twin:  # TAC-GAN: the twin head C_mi learns the class G drew (Gong et al. 2019)
                    logs["d_loss_ac_twin"] = masked_mean(per_example_class_ce(d_outs[1]["twin_logits"], e))
            if lam_r1 > 0:
                logs["d_r1"] = masked_mean(r1)
            scaled = self.d_optimizer.scale_loss(self._d_objective(logs))
        d_vars = self.D.trainable_variables
        d_grads = tape.gradient(scaled, d_vars)
        self.d_optimizer.apply(d_grads, d_vars)

        with tf.GradientTape() as tape:
            tape.watch(fake)
            if self.cfg.d_joint_batch:  # the updated D sees real and generated images in one batch again
                gen_out = self._d_outputs([(x, v), (fake, v)], stream=3)[1]
            else:  # through the updated D (and, with d_augment, through T: its own draw)
                gen_out = self._d_outputs([(fake, v)], stream=4)[0]
            g_loss = masked_mean(per_example_bce(1.0, gen_out["logit"]))  # non-saturating: -log D(G(z, v), v)
            if lam_ac > 0:  # G is rewarded when the AC head reads the class it was conditioned on
                logs["g_loss_ac"] = masked_mean(per_example_class_ce(gen_out["class_logits"], e))
                g_loss += lam_ac * logs["g_loss_ac"]
                if c.ac_twin:  # ... and is penalised where the twin head, trained on its images, reads it too
                    logs["g_loss_ac_twin"] = masked_mean(per_example_class_ce(gen_out["twin_logits"], e))
                    g_loss -= lam_ac * logs["g_loss_ac_twin"]
            if c.lambda_fm > 0:  # class means of D's features toward the real batch's (Salimans et al. 2016)
                logs["g_loss_fm"] = class_feature_matching_loss(gen_out["features"], real_out["features"], e,
                                                                self.num_emotions, mask)
                g_loss += float(c.lambda_fm) * logs["g_loss_fm"]
            if c.lambda_va_match > 0:  # class means of the frozen regressor's (v, a) toward the real batch's
                read = self.read_va_features if c.va_match_features else self.read_va
                logs["g_loss_va_match"] = class_feature_matching_loss(read(fake), read(x), e, self.num_emotions, mask)
                g_loss += float(c.lambda_va_match) * logs["g_loss_va_match"]
            if c.lambda_pixel_match > 0:  # class means of G's low-resolution images toward the real batch's
                pool = c.image_size // c.pixel_match_size
                logs["g_loss_pixel_match"] = class_moment_loss(
                    tf.nn.avg_pool2d(tf.cast(fake, tf.float32), pool, pool, "VALID"),
                    tf.nn.avg_pool2d(x, pool, pool, "VALID"), e, self.num_emotions, mask)
                g_loss += float(c.lambda_pixel_match) * logs["g_loss_pixel_match"]
            if c.lambda_ms > 0:  # MSGAN: G's same-label images apart as their z are (Mao et al. 2019)
                logs["g_loss_ms"] = mode_seeking_loss(fake, z, e, mask)
                g_loss += float(c.lambda_ms) * logs["g_loss_ms"]
            if c.lambda_spectral > 0:  # G's batch spectrum toward the real batch's (Durall et al. 2020)
                logs["g_loss_spectral"] = spectral_loss(fake, x, mask)
                g_loss += float(c.lambda_spectral) * logs["g_loss_spectral"]
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
            **{k: logs[k] for k in ("d_loss_mismatch", "d_loss_blur", "d_loss_ac", "d_loss_ac_fake",
                                    "d_loss_ac_mismatch", "d_loss_ac_twin", "d_acc_ac", "g_loss_ac", "g_loss_ac_twin",
                                    "g_loss_fm", "g_loss_va_match", "g_loss_ms", "g_loss_pixel_match",
                                    "g_loss_spectral", "d_r1")
               if k in logs},
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
