"""The Conditional Adversarial Autoencoder of Lindt et al. (2019), §III (paper 000).

Four networks (Fig. 1): the encoder E maps a face x ∈ [-1,1]^{S×S×3} to z = E(x) ∈ [-1,1]^50; the
generator G maps (z, y) — y = (valence, arousal) ∈ [-1,1]^2, each component repeated 50 times
("scaled to 50 times its size") and concatenated to z, 150 inputs — to x_gen = G(z, y); D_z tells
z = E(x) from samples of the prior U[-1,1]^50 (Eq. 3); D_img tells real pairs (x, y) from generated
pairs (G(E(x), y), y) (Eq. 4). E and G minimise Eq. (5)
λ1 L_rec + λ2 L_iden + λ3 L_z + λ4 L_img with the paper's λ = (1, 1/3, 0.01, 0.01).

Architecture (§III-B-1), at the default 96 px:

* E: 4 × [Conv 5×5 stride 2 'same' + ReLU] (64, 128, 256, 512) → Flatten (6·6·512) → FC 50 + tanh.
  5,228,210 parameters.
* G: FC 150 → 6·6·1024 + ReLU → 6 transposed convs 5×5: 4 with stride 2 (512, 256, 128, 64) and 2 with
  stride 1 (32, then 3 + tanh). 23,029,059 parameters. The paper mentions no batch normalisation in E
  or G, and we use none (the parameter counts above are exact; E/G train well without it here).
* D_img: 4 × [Conv 5×5 stride 2 + BatchNorm + LeakyReLU(0.2)] (16, 32, 64, 128); after *each* block
  the enlarged label (the 100-dim repeated y, tiled over the block's h×w map) is concatenated to the
  block output ("Following each block of convolution and batch normalization, the enlarged emotion label
  y is concatenated to the block's output"). y is not concatenated to the raw input image: the paper
  says "following each block", and the first block's output already receives it. Then Flatten →
  FC 1024 + LeakyReLU(0.2) → FC 1 (logit). 9,237,761 trainable parameters (the tiled label is the
  repeated 100-dim vector, so the convs see 16+100, 32+100, 64+100 channels and the FC 6·6·(128+100)).
* D_z: FC 64, 32, 16, each followed by BatchNorm + LeakyReLU(0.2), then FC 1 (logit). 6,113 trainable
  parameters.

The paper does not name the discriminators' activation; we use LeakyReLU(0.2) (DCGAN, Radford et al.
2016, which the paper cites as inspiration), with ReLU in E and G. BatchNorm uses momentum 0.9 and
ε = 1e-5 with a learned γ (starting at 1) and β (at 0): the paper gives no BatchNorm settings, and these
are the DCGAN-TensorFlow values, *not* those of the CAAE code base: Zhang et al.'s CAAE calls
``tf.contrib.layers.batch_norm`` with its defaults, decay 0.999 and ε = 1e-3, and ``scale=False`` (no γ);
the ``batch_norm`` helper of the authors' own code is not in their released repository.

Initialisation (§III-B-2): every kernel ~ N(0, 0.02), every bias 0. x, y, z are in [-1, 1].

Discriminators return logits: D(·) = sigmoid(logit). The losses (``caae_tf.losses``) use
binary cross-entropy *from logits*, which is identical to the log D / log(1 - D) terms of Eq. (3)/(4)
but numerically stable. E and G use the non-saturating adversarial loss -log D(fake).

Resolved paper typos:

* Eq. (1)/(2) read G(E(x), z); G's inputs are (E(x), y) — Eq. (1) is L1(x, G(E(x), y)).
* "λ3 = 0.01 and λ3 = 0.01": the second one is λ4 (weight of L_img).

Differences from the authors' public TF1 code, where it differs from the paper (we follow the paper):
that code concatenates y in D_img only once, never trains G's FC layer and never runs the BatchNorm
moving-average updates. Here y is concatenated after every D_img block, every layer of G is trained and
BatchNorm statistics are updated in every training call.

Mixed precision: all layers follow the global Keras dtype policy; the last layer of every network
(E's FC, G's last transposed conv, both D's final FC) computes in float32, so z, x_gen and the logits —
and with them every loss — are float32.
"""

from __future__ import annotations

from typing import Any

import keras
import numpy as np
import tensorflow as tf

from caae_tf import losses as L
from caae_tf.config import CAAEConfig
from caae_tf.errors import TrainingError
from caae_tf.models import caae_edit_time as edit_time
from caae_tf.models.base import GAN, Untracked
from caae_tf.models.caae_networks import (Encoder, Generator, ImageDiscriminator, LatentDiscriminator,
                                          LatentVARegressor, RepeatLabel, TileConcat, VADiscriminator)

__all__ = ["RepeatLabel", "TileConcat", "Encoder", "Generator", "ImageDiscriminator", "LatentDiscriminator",
           "VADiscriminator", "LatentVARegressor", "CAAE"]


class CAAE(GAN):
    """The full model; a :class:`caae_tf.models.base.GAN` (the trainable-model protocol of ``docs/ARCHITECTURE.md``).

    ``CAAE(config, identity_net=None)``: ``identity_net`` is a frozen feature extractor (``images in
    [-1,1] → list of activations``, e.g. :class:`caae_tf.models.vgg_face.IdentityFeatures`); it may be
    None only when ``config.identity_weight == 0`` or for an ``inference_only`` model (editing/export).
    The identity network is not tracked, so checkpoints hold E, G, D_img, D_z (and the optimizers) only.

    Training step (:meth:`train_step`): one forward pass
    z = E(x), x_gen = G(z, y), D_z(z_prior), D_z(z), D_img(x, y), D_img(x_gen, y), φ(x_gen[:16]) under one
    persistent tape; then the three updates are computed from it and applied *simultaneously* (each
    network's gradient is taken at the same parameters; as in the reference implementation, which runs
    the three optimisers in one ``session.run``): D_z on Eq. (3), D_img on Eq. (4), E+G on Eq. (5).
    """

    def __init__(self, config: CAAEConfig | dict | None = None, identity_net=None, *, inference_only: bool = False,
                 name: str = "CAAE", **kwargs):
        super().__init__(name=name, **kwargs)
        if config is None:
            config = CAAEConfig()
        elif isinstance(config, dict):
            config = CAAEConfig.from_dict(config)
        self.config = config
        self.inference_only = bool(inference_only)
        if identity_net is None and config.identity_weight > 0 and not inference_only:
            raise TrainingError(
                f"CAAE: identity_weight={config.identity_weight:g} needs an identity network; set "
                "identity_network=PATH (VGG-Face .mat/.h5 or a `caae-tf train-identity` run dir) or identity_weight=0"
            )
        if identity_net is not None:
            identity_net.trainable = False
        self._identity = Untracked(identity_net)  # outside tracking: not part of checkpoints
        c = config
        self.E = Encoder(c.z_dim, c.e_filters, c.kernel_size, name="E", appearance_dim=c.edit_region_appearance)
        self.G = Generator(c.image_size, c.z_dim, c.label_repeat, c.g_fc_channels, c.g_filters, c.kernel_size,
                           name="G", unet=c.g_unet, residual=c.g_residual)
        self.D_img = ImageDiscriminator(c.d_img_filters, c.label_repeat, c.d_img_fc, c.kernel_size, name="D_img")
        self.D_z = LatentDiscriminator(c.d_z_units, name="D_z")
        self.D_va = VADiscriminator(c.d_va_filters, c.kernel_size, name="D_va") if c.lambda_va > 0 else None
        self.D_erased = None
        self.D_zy = LatentVARegressor(c.d_z_units[:2], name="D_zy") if c.lambda_z_label > 0 else None
        if c.edit_region:
            r = c.edit_region_resolution
            self.region_logits = self.add_weight(
                shape=(1, r, r, 1), trainable=True,
                initializer=keras.initializers.Constant(c.edit_region_init / c.edit_region_lr_multiplier),
                name="edit_region_logits", dtype="float32")
            if c.lambda_region_adv > 0:
                self.D_erased = VADiscriminator(c.d_va_filters, c.kernel_size, name="D_erased")
        self.seed_generator = keras.random.SeedGenerator(c.seed, name="prior_seed")
        # the generator's state variable as an attribute so that checkpoints (and --resume) include it
        self.prior_seed_state = self.seed_generator.state
        self.eg_optimizer = self.d_img_optimizer = self.d_z_optimizer = self.d_va_optimizer = None
        self.d_erased_optimizer = self.d_zy_optimizer = None

    # ------------------------------------------------------------------------------- properties
    @property
    def identity_net(self):
        return self._identity.value

    @property
    def image_size(self) -> int:
        return self.config.image_size

    @property
    def eg_variables(self) -> list:
        """E's and G's weights (and the editing region's logits in ``edit_region`` mode)."""
        c = self.config
        extra = [self.region_logits] if c.edit_region and c.edit_region_trainable else []
        return self.E.trainable_variables + self.G.trainable_variables + extra

    def edit_region_mask(self, floor: bool = True) -> tf.Tensor:
        """m [1, S, S, 1] float32 in [0, 1): the learned editing region (``CAAEConfig.edit_region``), with
        values below ``edit_region_floor`` set to 0 unless ``floor=False``."""
        c = self.config
        logits = self.region_logits * c.edit_region_lr_multiplier
        m = tf.sigmoid(tf.image.resize(logits, (c.image_size, c.image_size), method="bilinear"))
        if floor and c.edit_region_floor > 0:
            m = tf.nn.relu(m - c.edit_region_floor) / (1.0 - c.edit_region_floor)
        return m

    def set_edit_region(self, region: np.ndarray, logit: float = 8.0) -> None:
        """Set the editing region to ``region`` (bool/float [S, S] in [0, 1], e.g. from
        :mod:`caae_tf.region_prior`): area-resized to the logit grid, then logits ±``logit`` (sigmoid(8) =
        0.9997), so the mask is ~1 inside and ~0 outside."""
        import cv2

        c = self.config
        if not c.edit_region:
            raise TrainingError("CAAE.set_edit_region: the model has no editing region (edit_region=false)")
        r = c.edit_region_resolution
        m = np.asarray(region, np.float32)
        if m.ndim != 2:
            raise ValueError(f"CAAE.set_edit_region: need a [S, S] region, got shape {m.shape}")
        if m.shape != (r, r):
            m = cv2.resize(m, (r, r), interpolation=cv2.INTER_AREA)
        logits = np.where(m >= 0.5, logit, -logit).astype(np.float32) / c.edit_region_lr_multiplier
        self.region_logits.assign(logits.reshape(1, r, r, 1))

    # ------------------------------------------------------------------------------- protocol
    @property
    def train_config(self) -> CAAEConfig:
        return self.config

    def _check_trainable(self) -> None:
        if self.inference_only and self.config.identity_weight > 0 and self.identity_net is None:
            raise TrainingError(
                "CAAE: cannot train without an identity network; set identity_network=PATH or identity_weight=0"
            )

    def _networks_built(self) -> bool:
        return self.E.built

    def _optimized_networks(self) -> list[tuple[str, list]]:
        """(optimizer attribute, variables it updates) for every network that is trained: E+G, D_img, D_z and
        the beyond-the-paper auxiliaries that the config switched on (D_va, D_erased, D_zy)."""
        pairs = [("eg_optimizer", self.eg_variables), ("d_img_optimizer", self.D_img.trainable_variables),
                 ("d_z_optimizer", self.D_z.trainable_variables)]
        for key, net in (("d_va_optimizer", self.D_va), ("d_erased_optimizer", self.D_erased),
                         ("d_zy_optimizer", self.D_zy)):
            if net is not None:
                pairs.append((key, net.trainable_variables))
        return pairs

    def build_all(self, batch: dict) -> None:
        """Create every variable (the four networks and, if made, the optimizers' slots)."""
        x = tf.convert_to_tensor(batch["image"], tf.float32)
        y = tf.convert_to_tensor(batch["va"], tf.float32)
        z, features = self.encode_features(x, training=False)
        x_gen = self.generate(z, y, features, x, training=False)
        self.D_z(z[:, : self.config.z_dim], training=False)
        self.D_img((x_gen, y), training=False)
        if self.D_va is not None:
            self.D_va(x, training=False)
        if self.D_erased is not None:
            self.D_erased(x, training=False)
        if self.D_zy is not None:
            self.D_zy(z, training=False)
        self._build_optimizer_variables()

    def encode_features(self, x, training=None):
        """(z, skips): z = E(x) and, with ``g_unet``, E's block outputs (else None). In ``edit_region`` mode
        E sees the erased face x·(1 − m)."""
        if self.config.edit_region:
            m = self.edit_region_mask()
            erased = x * (1.0 - m)
            if self.config.edit_region_full_z:
                z, whole = self.E.encode_with_features(x)
                if self.config.edit_region_appearance:  # G's code is [z, a]
                    z = tf.concat([z, self.E.appearance(whole, m)], axis=-1)
                return z, self.E.encode_with_features(erased)[1]
            x = erased
        if self.config.g_unet:
            return self.E.encode_with_features(x)
        return self.E(x, training=training), None

    def generate(self, z, y, features, x, training=None, g_weights=None):
        """G(z, y) — with ``g_unet`` also given E's skips and x (and clip(x + Δ) with ``g_residual``).
        ``g_weights`` (``edit_region`` mode): G's trainable weights as tensors to draw with instead of its
        variables (``stateless_call``; the pivotal tuning of :mod:`caae_tf.models.caae_edit_time`)."""
        if self.config.edit_region:
            m = self.edit_region_mask()
            kept = tf.cast(x, tf.float32) * (1.0 - m)
            inputs = (z, y, features, kept)
            if g_weights is None:
                drawn = self.G(inputs, training=training)
            else:
                drawn = self.G.stateless_call(g_weights, list(self.G.non_trainable_variables), inputs,
                                              training=training)[0]
            return kept + drawn * m
        if self.config.g_unet:
            return self.G((z, y, features, x), training=training)
        return self.G((z, y), training=training)

    def sample_prior(self, n) -> tf.Tensor:
        """z_prior ~ U[-1, 1]^z_dim (D_z's "real" samples, Eq. 3), from the model's seeded generator."""
        return keras.random.uniform((n, self.config.z_dim), minval=-1.0, maxval=1.0, seed=self.seed_generator)

    def train_step(self, batch: dict) -> dict[str, tf.Tensor]:
        """One simultaneous update of D_z (Eq. 3), D_img (Eq. 4) and E+G (Eq. 5); see the class docstring."""
        self._require_optimizers()
        c = self.config
        x = tf.cast(batch["image"], tf.float32)
        y = tf.cast(batch["va"], tf.float32)
        use_identity = c.identity_weight > 0 and self.identity_net is not None
        if use_identity:
            x_id = x[: c.identity_images]
            features_real = [tf.stop_gradient(f) for f in self.identity_net(x_id, training=False)]
        z_prior = self.sample_prior(tf.shape(x)[0])
        use_cond = c.lambda_cond > 0
        # an adversary whose weight is 0 cannot move E or G: it is neither run nor trained (beyond the paper;
        # the paper presets weight both)
        use_d_z, use_d_img = c.lambda_z > 0, c.lambda_img > 0 or use_cond
        # beyond the paper: edits x' = G(E(x), y') to random targets y' (CAAEConfig.lambda_cond / lambda_va / ...)
        need_edit = use_cond or c.lambda_va > 0 or c.lambda_cycle > 0 or c.lambda_delta > 0
        use_edit = need_edit or self.D_erased is not None
        y_rand = None
        if need_edit:
            y_rand = keras.random.uniform(tf.shape(y), minval=-1.0, maxval=1.0, seed=self.seed_generator)

        with tf.GradientTape(persistent=True) as tape:
            z, features = self.encode_features(x, training=True)
            x_gen = self.generate(z, y, features, x, training=True)
            if use_d_z:
                prior_logits = self.D_z(z_prior, training=True)
                z_logits = self.D_z(z[:, : c.z_dim], training=True)  # [z, a]: D_z sees z only
            if use_d_img:
                real_logits = self.D_img((x, y), training=True)
                fake_logits = self.D_img((x_gen, y), training=True)

            loss_rec = L.reconstruction_loss(x, x_gen)
            if use_identity:
                features_gen = self.identity_net(x_gen[: c.identity_images], training=False)
                loss_iden = L.identity_loss(features_real, features_gen, c.identity_normalization)
            else:
                loss_iden = tf.zeros([], tf.float32)
            zero = tf.zeros([], tf.float32)
            loss_z = L.encoder_adversarial_loss(z_logits) if use_d_z else zero
            loss_img = L.generator_adversarial_loss(fake_logits) if use_d_img else zero
            loss_eg = L.total_eg_loss(loss_rec, loss_iden, loss_z, loss_img, c.lambda_rec, c.identity_weight,
                                      c.lambda_z, c.lambda_img)
            if c.lambda_gdl > 0:
                loss_gdl = L.gradient_difference_loss(x, x_gen)
                loss_eg = loss_eg + c.lambda_gdl * loss_gdl
            d_z_loss = L.latent_discriminator_loss(prior_logits, z_logits) if use_d_z else zero
            d_img_loss = L.image_discriminator_loss(real_logits, fake_logits) if use_d_img else zero
            if use_edit:
                x_edit = self.generate(z, y_rand, features, x, training=True) if need_edit else None
                edit_terms = self._edit_terms(x, y, y_rand, x_edit)
                loss_eg = loss_eg + edit_terms["eg"]
            if use_cond:
                edit_logits = self.D_img((x_edit, y_rand), training=True)
                mismatch_logits = self.D_img((x, y_rand), training=True)
                loss_cond = L.generator_adversarial_loss(edit_logits)
                loss_eg = loss_eg + c.lambda_cond * loss_cond
                d_img_loss = d_img_loss + 0.5 * (L.fake_loss(edit_logits) + L.fake_loss(mismatch_logits))
            else:
                loss_cond = tf.zeros([], tf.float32)
            if c.edit_region:
                loss_region = L.global_scalar_share(tf.reduce_mean(self.edit_region_mask(floor=False)))
                loss_eg = loss_eg + c.lambda_region * loss_region
            scaled = [self.eg_optimizer.scale_loss(loss_eg), self.d_img_optimizer.scale_loss(d_img_loss),
                      self.d_z_optimizer.scale_loss(d_z_loss)]
            if self.D_va is not None:
                scaled.append(self.d_va_optimizer.scale_loss(edit_terms["d_va_loss"]))
            if self.D_erased is not None:
                erased_scaled = self.d_erased_optimizer.scale_loss(edit_terms["d_erased_loss"])
            if self.D_zy is not None:  # Fader latent adversary; E gets the reversed gradient
                d_zy_loss = L.va_regression_loss(y, self.D_zy(z, training=True))
                loss_eg = loss_eg - c.lambda_z_label * d_zy_loss
                zy_scaled = self.d_zy_optimizer.scale_loss(d_zy_loss)
            scaled[0] = self.eg_optimizer.scale_loss(loss_eg)

        eg_vars = self.eg_variables
        d_img_vars = self.D_img.trainable_variables
        d_z_vars = self.D_z.trainable_variables
        eg_grads = tape.gradient(scaled[0], eg_vars)
        d_img_grads = tape.gradient(scaled[1], d_img_vars) if use_d_img else None
        d_z_grads = tape.gradient(scaled[2], d_z_vars) if use_d_z else None
        if self.D_va is not None:
            d_va_vars = self.D_va.trainable_variables
            self.d_va_optimizer.apply(tape.gradient(scaled[3], d_va_vars), d_va_vars)
        if self.D_erased is not None:
            d_er_vars = self.D_erased.trainable_variables
            self.d_erased_optimizer.apply(tape.gradient(erased_scaled, d_er_vars), d_er_vars)
        if self.D_zy is not None:
            d_zy_vars = self.D_zy.trainable_variables
            self.d_zy_optimizer.apply(tape.gradient(zy_scaled, d_zy_vars), d_zy_vars)
        del tape
        if use_d_z:
            self.d_z_optimizer.apply(d_z_grads, d_z_vars)
        if use_d_img:
            self.d_img_optimizer.apply(d_img_grads, d_img_vars)
        self.eg_optimizer.apply(eg_grads, eg_vars)

        logs = {
            "loss_rec": loss_rec,
            "loss_iden": loss_iden,
            "loss_z": loss_z,
            "loss_img": loss_img,
            "loss_cond": loss_cond,
            "loss_eg_total": loss_eg,
            "d_z_loss": d_z_loss,
            "d_img_loss": d_img_loss,
        }
        if use_d_z:
            logs.update(d_z_real=L.mean_probability(prior_logits), d_z_fake=L.mean_probability(z_logits))
        if use_d_img:
            logs.update(d_img_real=L.mean_probability(real_logits), d_img_fake=L.mean_probability(fake_logits))
        if use_edit:
            logs.update({k: v for k, v in edit_terms.items() if k != "eg"})
        if c.edit_region:
            logs["loss_region"] = loss_region
        if c.lambda_gdl > 0:
            logs["loss_gdl"] = loss_gdl
        if self.D_zy is not None:
            logs["d_zy_loss"] = d_zy_loss
        return self.replica_logs(logs)

    def _edit_terms(self, x, y, y_rand, x_edit) -> dict[str, tf.Tensor]:
        """Beyond-the-paper terms on the edit x' = G(E(x), y') to a random target y' (edit mode).

        * ``loss_va`` = mean ‖D_va(x') − y'‖² (AC-GAN / StarGAN / GANimation), and D_va's own loss
          ``d_va_loss`` = mean ‖D_va(x) − y‖² on real pairs;
        * ``loss_cycle`` = ‖x − G(E(x'), y)‖₁ (CycleGAN / StarGAN);
        * ``loss_delta`` = ‖x' − x‖₁ (edit sparsity, GANimation's mask penalty in additive form).

        Returns the weighted sum for E+G under ``"eg"`` plus each term for logging. ``x_edit`` and ``y_rand``
        are None when no term needs an edit (only the editing region's adversary is on).
        """
        c = self.config
        zero = tf.zeros([], tf.float32)
        out = {"loss_va": zero, "loss_cycle": zero, "loss_delta": zero}
        eg = zero
        if self.D_va is not None:
            x_va, x_edit_va = x, x_edit
            if c.va_noise > 0:
                x_va = x + c.va_noise * keras.random.normal(tf.shape(x), seed=self.seed_generator)
                x_edit_va = x_edit + c.va_noise * keras.random.normal(tf.shape(x), seed=self.seed_generator)
            if c.lambda_va_gp > 0:
                with tf.GradientTape() as gp_tape:
                    gp_tape.watch(x_va)
                    va_real = self.D_va(x_va, training=True)
                    u = tf.sign(keras.random.uniform(tf.shape(va_real), -1.0, 1.0, seed=self.seed_generator))
                    projected = tf.reduce_sum(va_real * u)
                grad_x = tf.cast(gp_tape.gradient(projected, x_va), tf.float32)
                out["d_va_gp"] = L.mean_over_global_batch(tf.reduce_sum(tf.square(grad_x), axis=[1, 2, 3]))
            else:
                va_real = self.D_va(x_va, training=True)
            out["loss_va"] = L.va_regression_loss(y_rand, self.D_va(x_edit_va, training=True))
            out["d_va_loss"] = c.lambda_va_real * L.va_regression_loss(y, va_real)
            if c.lambda_va_gp > 0:
                out["d_va_loss"] = out["d_va_loss"] + c.lambda_va_gp * out["d_va_gp"]
            eg = eg + c.lambda_va * out["loss_va"]
        if self.D_erased is not None:
            erased = x * (1.0 - self.edit_region_mask())
            read = self.D_erased(erased, training=True)
            out["d_erased_loss"] = L.va_regression_loss(y, read)
            out["loss_region_adv"] = -out["d_erased_loss"]  # gradient reversal (Ganin & Lempitsky 2015)
            eg = eg + c.lambda_region_adv * out["loss_region_adv"]
        if c.lambda_cycle > 0:
            z_edit, features_edit = self.encode_features(x_edit, training=True)
            x_cycle = self.generate(z_edit, y, features_edit, x_edit, training=True)
            out["loss_cycle"] = L.reconstruction_loss(x, x_cycle)
            eg = eg + c.lambda_cycle * out["loss_cycle"]
        if c.lambda_delta > 0:
            out["loss_delta"] = L.reconstruction_loss(x, x_edit)
            eg = eg + c.lambda_delta * out["loss_delta"]
        out["eg"] = eg
        return out

    # ------------------------------------------------------------------------------- inference
    def encode(self, images) -> tf.Tensor:
        """z = E(x) for images float32 [N, S, S, 3] in [-1, 1]."""
        return self.E(tf.cast(images, tf.float32), training=False)

    def decode(self, z, va) -> tf.Tensor:
        """x_gen = G(z, y) for z [N, z_dim], y = (valence, arousal) [N, 2]; float32 in [-1, 1]. Not available
        with ``g_unet`` (G then also needs E's skips and x: use :meth:`edit`)."""
        if self.config.g_unet:
            raise TrainingError("CAAE.decode: with g_unet G needs E's skips and the input image; use edit(images, va)")
        return self.G((tf.cast(z, tf.float32), tf.cast(va, tf.float32)), training=False)

    def edit(self, images, va) -> tf.Tensor:
        """§III-C: G(E(x), y) — the face of x expressing y (with ``g_unet`` G also sees E's skips and x).

        Beyond the paper (edit-time keys): with ``edit_tune_steps`` > 0 the edit is drawn by a copy of G
        tuned on x (:meth:`_tuned_edit`); with ``edit_change_tau`` > 0 only the pixels that the label change
        redraws are taken from G: x + w·(G(E(x), y) − x), w = clip(|G(E(x), y) − G(E(x), ŷ)| / τ, 0, 1),
        ŷ = :meth:`source_va`."""
        c = self.config
        x = tf.cast(images, tf.float32)
        y = tf.cast(va, tf.float32)
        z, features = self.encode_features(x, training=False)
        y_src = self.source_va(x, z, features) if c.edit_change_tau > 0 or c.edit_tune_steps > 0 else None
        if c.edit_tune_steps > 0:
            edited, source = self._tuned_edit(x, y, z, features, y_src, need_source=c.edit_change_tau > 0)
        else:
            edited = self.generate(z, y, features, x, training=False)
            source = self.generate(z, y_src, features, x, training=False) if c.edit_change_tau > 0 else None
        if c.edit_change_tau <= 0:
            return edited
        w = tf.clip_by_value(tf.reduce_mean(tf.abs(edited - source), axis=-1, keepdims=True) / c.edit_change_tau,
                             0.0, 1.0)
        return x + w * (edited - x)

    def _pivotal_weights(self, x1, z1, features1, y1) -> tuple[list, tf.Tensor, tf.Tensor]:
        """(G's weights, z, ŷ) tuned on one image (:func:`caae_tf.models.caae_edit_time.pivotal_weights`)."""
        return edit_time.pivotal_weights(self, x1, z1, features1, y1)

    def _tuned_edit(self, x, y, z, features, y_src, need_source: bool = True) -> tuple[tf.Tensor, tf.Tensor | None]:
        """(G'(E(x), y), G'(E(x), ŷ) or None) by per-image tuned G
        (:func:`caae_tf.models.caae_edit_time.tuned_edit`)."""
        return edit_time.tuned_edit(self, x, y, z, features, y_src, need_source)

    def source_va(self, x, z=None, features=None) -> tf.Tensor:
        """ŷ [N, 2], x's own label by analysis-by-synthesis (:func:`caae_tf.models.caae_edit_time.source_va`)."""
        return edit_time.source_va(self, x, z, features)

    def call(self, inputs, training=None):
        """``{"image": f32 [N,S,S,3] in [-1,1], "va": f32 [N,2]}`` → edited images f32 [N,S,S,3]."""
        return self.edit(inputs["image"], inputs["va"])

    def sample_images(self, batch: dict, max_images: int = 8, sweep_inputs: int = 4,
                      sweep_steps: int = 7) -> dict[str, np.ndarray]:
        """uint8 grids: ``inputs`` (first ``max_images`` images), ``reconstructions`` (G(E(x), y_x) with the
        image's own label), ``va_sweep`` (one row per input, up to ``sweep_inputs``: the input, then
        ``sweep_steps`` edits along the diagonal (v, a) = (t, t), t from 0.75 down to -0.75 — high
        valence/high arousal to low valence/low arousal, the diagonal of the paper's 7×7 grid)."""
        from caae_tf.images import make_grid, to_uint8

        x = np.asarray(batch["image"], np.float32)[:max_images]
        va = np.asarray(batch["va"], np.float32)[: len(x)]
        rec = self.edit(x, va).numpy()
        cols = min(len(x), 8)
        out = {"inputs": make_grid(to_uint8(x), cols), "reconstructions": make_grid(to_uint8(rec), cols)}
        n = min(sweep_inputs, len(x))
        t = np.linspace(0.75, -0.75, sweep_steps, dtype=np.float32)
        sweep_va = np.stack([t, t], axis=1)
        va_rep = np.tile(sweep_va, (n, 1))
        edits = self.edit(np.repeat(x[:n], sweep_steps, axis=0), va_rep).numpy().reshape(n, sweep_steps, *x.shape[1:])
        tiles = []
        for i in range(n):
            tiles.append(to_uint8(x[i]))
            tiles.extend(to_uint8(e) for e in edits[i])
        out["va_sweep"] = make_grid(tiles, sweep_steps + 1)
        return out

    # ------------------------------------------------------------------------------- config
    def get_config(self) -> dict[str, Any]:
        return self.config.to_dict()

    @classmethod
    def from_config(cls, config: dict, identity_net=None, **kwargs):
        """Rebuild from :meth:`get_config`; without ``identity_net`` (and identity_weight > 0) the model is
        ``inference_only`` (it can edit/export but :meth:`build_optimizers` refuses to train it)."""
        cfg = CAAEConfig.from_dict(config)
        inference_only = identity_net is None and cfg.identity_weight > 0
        return cls(cfg, identity_net=identity_net, inference_only=inference_only, **kwargs)
