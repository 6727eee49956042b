"""Loss functions of paper 000 (Lindt et al. 2019, Eq. 1–5) and the GAN losses of paper 001.

Every loss is written per example and reduced with :func:`mean_over_global_batch`, so the same code is
correct on one device and under a ``tf.distribute`` strategy (where each replica divides by the *global*
batch size and the optimizer sums the replicas' gradients).

Discriminators return **logits**; D(·) of the paper is ``sigmoid(logit)``. The binary cross-entropy
with ``from_logits=True`` equals the paper's log-likelihood terms exactly:

    BCE(1, l) = -log σ(l) = -log D,      BCE(0, l) = -log(1 - σ(l)) = -log(1 - D),

but is evaluated as ``max(l, 0) - l·t + log(1 + exp(-|l|))``, which is finite for any logit (the
probability form saturates to log 0 once D is confident). So "max_D E[log D(real)] + E[log(1 - D(fake))]"
of Eq. (3)/(4) is "min_D BCE(1, real) + BCE(0, fake)" here.

For the encoder/generator side we use the non-saturating form of Goodfellow et al. (2014):
min_G -log D(fake) = BCE(1, fake) instead of min_G log(1 - D(fake)). Both have the same fixed point; the
non-saturating one gives useful gradients early in training when D rejects every fake (this is also what
the authors' TF1 code and the original CAAE of Zhang et al. 2017 do).
"""

from __future__ import annotations

from typing import Sequence

import keras
import numpy as np
import tensorflow as tf

_BCE = keras.losses.BinaryCrossentropy(from_logits=True, reduction=None)


# --------------------------------------------------------------------------------------- reduction

def mean_over_global_batch(per_example: tf.Tensor) -> tf.Tensor:
    """Mean of a per-example loss ``[B, ...]`` over the *global* batch.

    Inside a ``tf.distribute`` replica context with more than one replica this is
    ``tf.nn.compute_average_loss`` (sum over the replica's examples / (B_replica · num_replicas)), so that
    summing the replicas' gradients gives the gradient of the global-batch mean. Elsewhere it is
    ``reduce_mean``. Non-batch axes are averaged first. Always returns a float32 scalar.
    """
    per_example = tf.cast(per_example, tf.float32)
    if per_example.shape.rank is not None and per_example.shape.rank > 1:
        per_example = tf.reduce_mean(per_example, axis=list(range(1, per_example.shape.rank)))
    ctx = tf.distribute.get_replica_context()
    if ctx is not None and ctx.num_replicas_in_sync > 1:
        return tf.nn.compute_average_loss(per_example)
    return tf.reduce_mean(per_example)


def as_replica_mean(global_share: tf.Tensor) -> tf.Tensor:
    """Turn a :func:`mean_over_global_batch` value (this replica's share of the global mean) back into the
    replica's own mean, for logging: the driver averages logged values over replicas (``ReduceOp.MEAN``)."""
    ctx = tf.distribute.get_replica_context()
    if ctx is not None and ctx.num_replicas_in_sync > 1:
        return global_share * float(ctx.num_replicas_in_sync)
    return global_share


def per_example_l1(a: tf.Tensor, b: tf.Tensor) -> tf.Tensor:
    """Mean absolute error per example: ``mean_{i} |a_i - b_i|`` over all non-batch axes → ``[B]`` float32."""
    a = tf.cast(a, tf.float32)
    b = tf.cast(b, tf.float32)
    diff = tf.abs(a - b)
    return tf.reduce_mean(tf.reshape(diff, [tf.shape(diff)[0], -1]), axis=1)


def per_example_bce(target: float, logits: tf.Tensor) -> tf.Tensor:
    """Binary cross-entropy of logits ``[B, 1]`` (or ``[B]``) against a constant target → ``[B]`` float32."""
    logits = tf.cast(logits, tf.float32)
    logits = tf.reshape(logits, [tf.shape(logits)[0], 1])
    return _BCE(tf.fill(tf.shape(logits), tf.constant(target, tf.float32)), logits)


# ------------------------------------------------------------------------------- paper 000, Eq. 1–5

def reconstruction_loss(x: tf.Tensor, x_gen: tf.Tensor) -> tf.Tensor:
    """L_rec (Eq. 1): L1(x, G(E(x), y)), the mean absolute error between input and reconstruction.

    (The paper prints G(E(x), z); G's second argument is the label y — see ``caae_tf.models.caae``.)
    """
    return mean_over_global_batch(per_example_l1(x, x_gen))


def gradient_difference_loss(x: tf.Tensor, x_gen: tf.Tensor) -> tf.Tensor:
    """Gradient difference loss (Mathieu, Couprie & LeCun 2016, Eq. 5 with α = 1): the mean over pixels of
    ``| |∂_h x| − |∂_h x_gen| | + | |∂_w x| − |∂_w x_gen| |`` (finite differences along height and width),
    over the global batch. L1 alone is minimised by a blurred edge where an edge's position is uncertain;
    this term penalises the lost edge contrast."""
    x = tf.cast(x, tf.float32)
    x_gen = tf.cast(x_gen, tf.float32)

    def grads(t):
        return tf.abs(t[:, 1:, :, :] - t[:, :-1, :, :]), tf.abs(t[:, :, 1:, :] - t[:, :, :-1, :])

    (xh, xw), (gh, gw) = grads(x), grads(x_gen)
    return mean_over_global_batch(per_example_l1(xh, gh) + per_example_l1(xw, gw))


#: ``identity_loss(normalization=...)`` values: ``mean`` (each layer's L1 is the mean over its elements, the
#: reading of Eq. 2 with L1 as in Eq. 1) or ``authors`` (that mean divided once more by the layer's spatial
#: size h_l·w_l, as the authors' released TF1 code does: at 224 px conv1_2 … conv5_2 are divided by
#: 224², 112², 56², 28², 14²).
IDENTITY_NORMALIZATIONS: tuple[str, ...] = ("mean", "authors")


def identity_loss(features_real: Sequence[tf.Tensor], features_gen: Sequence[tf.Tensor],
                  normalization: str = "mean") -> tf.Tensor:
    """L_iden (Eq. 2): Σ_l L1(φ_l(x), φ_l(G(E(x), y))) over the identity network's layers l.

    ``features_*`` are lists of activations ``[B_id, h_l, w_l, c_l]`` (conv1_2 … conv5_2 of VGG-Face in the
    paper), each layer's L1 being the mean over its elements; the layers are summed, not averaged.
    ``normalization="authors"`` further divides each layer's term by h_l·w_l (see
    :data:`IDENTITY_NORMALIZATIONS`), which makes the term 196–50,176× smaller per layer at 224 px.
    """
    if normalization not in IDENTITY_NORMALIZATIONS:
        raise ValueError(f"identity_loss: normalization must be one of {', '.join(IDENTITY_NORMALIZATIONS)}, "
                         f"got {normalization!r}")
    if len(features_real) != len(features_gen):
        raise ValueError(f"identity_loss: {len(features_real)} real vs {len(features_gen)} generated feature maps")
    if not features_real:
        raise ValueError("identity_loss needs at least one feature layer")
    terms = []
    for a, b in zip(features_real, features_gen):
        term = per_example_l1(a, b)
        if normalization == "authors" and a.shape.rank == 4:
            hw = tf.cast(tf.shape(a)[1] * tf.shape(a)[2], tf.float32)
            term = term / hw
        terms.append(term)
    per_example = tf.add_n(terms)
    return mean_over_global_batch(per_example)


def discriminator_loss(real_logits: tf.Tensor, fake_logits: tf.Tensor, real_target: float = 1.0) -> tf.Tensor:
    """A discriminator's loss: BCE(real → ``real_target``) + BCE(fake → 0), each a global-batch mean.

    This is -[E log D(real) + E log(1 - D(fake))] (the max over D of Eq. 3 and Eq. 4 of paper 000, and the
    discriminator objective of paper 001). ``real_target`` < 1 is one-sided label smoothing.
    """
    return mean_over_global_batch(per_example_bce(real_target, real_logits)) + mean_over_global_batch(
        per_example_bce(0.0, fake_logits)
    )


def generator_loss(fake_logits: tf.Tensor) -> tf.Tensor:
    """Non-saturating adversarial loss of the generating network: BCE(D(fake) → 1) = -E log D(fake)."""
    return mean_over_global_batch(per_example_bce(1.0, fake_logits))


def latent_discriminator_loss(prior_logits: tf.Tensor, encoded_logits: tf.Tensor) -> tf.Tensor:
    """D_z's side of L_z (Eq. 3): prior samples z_prior ~ U[-1,1]^50 → 1, encoded z = E(x) → 0."""
    return discriminator_loss(prior_logits, encoded_logits)


def encoder_adversarial_loss(encoded_logits: tf.Tensor) -> tf.Tensor:
    """E's side of L_z (Eq. 3), non-saturating: -E log D_z(E(x)) (E wants D_z to call z a prior sample)."""
    return generator_loss(encoded_logits)


def image_discriminator_loss(real_logits: tf.Tensor, fake_logits: tf.Tensor) -> tf.Tensor:
    """D_img's side of L_img (Eq. 4): real pairs (x, y) → 1, generated pairs (G(E(x), y), y) → 0."""
    return discriminator_loss(real_logits, fake_logits)


def fake_loss(logits: tf.Tensor) -> tf.Tensor:
    """BCE(D(·) → 0) as a global-batch mean: a discriminator's loss on one kind of negative pair."""
    return mean_over_global_batch(per_example_bce(0.0, logits))


def generator_adversarial_loss(fake_logits: tf.Tensor) -> tf.Tensor:
    """G's side of L_img (Eq. 4), non-saturating: -E log D_img(G(E(x), y), y)."""
    return generator_loss(fake_logits)


def total_eg_loss(
    loss_rec: tf.Tensor,
    loss_iden: tf.Tensor,
    loss_z: tf.Tensor,
    loss_img: tf.Tensor,
    lambda_rec: float = 1.0,
    lambda_iden: float = 1.0 / 3.0,
    lambda_z: float = 0.01,
    lambda_img: float = 0.01,
) -> tf.Tensor:
    """Eq. (5) for E and G: λ1 L_rec + λ2 L_iden + λ3 L_z^E + λ4 L_img^G (paper: 1, 1/3, 0.01, 0.01)."""
    return (
        lambda_rec * tf.cast(loss_rec, tf.float32)
        + lambda_iden * tf.cast(loss_iden, tf.float32)
        + lambda_z * tf.cast(loss_z, tf.float32)
        + lambda_img * tf.cast(loss_img, tf.float32)
    )


def mean_probability(logits: tf.Tensor) -> tf.Tensor:
    """Mean of sigmoid(logits) over the (global) batch — the D(·) values the paper talks about."""
    return mean_over_global_batch(tf.sigmoid(tf.cast(tf.reshape(logits, [tf.shape(logits)[0], -1]), tf.float32)))


def va_regression_loss(va_true: tf.Tensor, va_pred: tf.Tensor) -> tf.Tensor:
    """Beyond the papers (``CAAEConfig.lambda_va``): mean over the global batch of ‖va_pred − va_true‖²
    (summed over valence and arousal) — the auxiliary regression loss of AC-GAN / StarGAN / GANimation."""
    va_true = tf.cast(va_true, tf.float32)
    va_pred = tf.cast(va_pred, tf.float32)
    return mean_over_global_batch(tf.reduce_sum(tf.square(va_pred - va_true), axis=-1))


def global_scalar_share(value: tf.Tensor) -> tf.Tensor:
    """A batch-independent scalar term (e.g. a size penalty on a model weight) as this replica's share:
    ``value / num_replicas`` inside a multi-replica context, so that the replicas' summed gradients count it
    once (like :func:`mean_over_global_batch` values); unchanged elsewhere."""
    value = tf.cast(value, tf.float32)
    ctx = tf.distribute.get_replica_context()
    if ctx is not None and ctx.num_replicas_in_sync > 1:
        return value / float(ctx.num_replicas_in_sync)
    return value


# --------------------------------------------------------------- cGAN beyond paper 001 (config keys)

def per_example_class_ce(class_logits: tf.Tensor, labels: tf.Tensor) -> tf.Tensor:
    """Softmax cross-entropy ``-log softmax(class_logits)[label]`` per example → ``[B]`` float32: the
    auxiliary-classifier term of AC-GAN (Odena, Olah & Shlens 2017, L_C). Labels outside
    ``0..num_classes-1`` (e.g. -1 = unknown) give 0 (those rows are masked out by the caller anyway)."""
    class_logits = tf.cast(class_logits, tf.float32)
    n = tf.shape(class_logits)[-1]
    labels = tf.cast(labels, tf.int32)
    valid = tf.logical_and(labels >= 0, labels < n)
    ce = tf.nn.sparse_softmax_cross_entropy_with_logits(labels=tf.where(valid, labels, 0), logits=class_logits)
    return tf.where(valid, ce, 0.0)


def per_example_r1(grad_x: tf.Tensor) -> tf.Tensor:
    """‖∇_x D(x)‖² per example → ``[B]`` float32, from the gradient of D's logit with respect to its real input
    (R1 of Mescheder, Geiger & Nowozin 2018; the penalty is γ/2 times its mean over real examples)."""
    g = tf.cast(grad_x, tf.float32)
    return tf.reduce_sum(tf.reshape(tf.square(g), [tf.shape(g)[0], -1]), axis=1)


def ema_decay(decay: float, step: tf.Tensor) -> tf.Tensor:
    """β_t = min(decay, (1 + t)/(10 + t)) for the t-th update (t from 0), as ``tf.train.ExponentialMovingAverage``
    with ``num_updates``: the average forgets its initial value quickly at the start of training."""
    t = tf.cast(step, tf.float32)
    return tf.minimum(tf.constant(float(decay), tf.float32), (1.0 + t) / (10.0 + t))


def radial_bins(size: int) -> np.ndarray:
    """``[size·size, size // 2]`` float32 averaging matrix of the rings r = 1 … size/2 of a ``size``×``size``
    unshifted 2-D DFT: entry (p, r − 1) = 1/n_r when frequency p = (k_y, k_x) has round(√(f_y² + f_x²)) = r,
    with f = min(k, size − k) (the DC term r = 0 and the corners beyond size/2 are left out)."""
    k = np.arange(size)
    f = np.minimum(k, size - k)
    r = np.rint(np.hypot(f[:, None], f[None, :])).astype(int).reshape(-1)
    rings = size // 2
    m = np.zeros((size * size, rings), np.float32)
    for ring in range(1, rings + 1):
        hit = r == ring
        m[hit, ring - 1] = 1.0 / hit.sum()
    return m


def radial_log_power(images: tf.Tensor, weights: tf.Tensor | None = None) -> tf.Tensor:
    """log of the azimuthally averaged power spectrum of a batch ``[B, S, S, C]`` → ``[S // 2]`` float32: the
    grey image (channel mean) per example, |DFT|² averaged over each ring r = 1 … S/2 (:func:`radial_bins`),
    then the (``weights``-weighted) mean over the batch, then log (the reduced spectrum of Durall, Keuper &
    Keuper 2020, "Watch your up-convolution", §3, one curve per batch)."""
    x = tf.cast(images, tf.float32)
    size = int(x.shape[1])
    if x.shape[2] != size:
        raise ValueError(f"radial_log_power needs square images, got {x.shape}")
    grey = tf.reduce_mean(x, axis=-1)
    power = tf.square(tf.abs(tf.signal.fft2d(tf.complex(grey, tf.zeros_like(grey)))))
    rings = tf.matmul(tf.reshape(power, [-1, size * size]), tf.constant(radial_bins(size)))
    if weights is None:
        mean = tf.reduce_mean(rings, axis=0)
    else:
        w = tf.cast(tf.reshape(weights, [-1, 1]), tf.float32)
        mean = tf.math.divide_no_nan(tf.reduce_sum(rings * w, axis=0), tf.reduce_sum(w))
    return tf.math.log(mean + 1e-8)


def spectral_loss(fake: tf.Tensor, real: tf.Tensor, weights: tf.Tensor | None = None) -> tf.Tensor:
    """Beyond paper 001 (``CGANConfig.lambda_spectral``): mean over the rings r of
    (log P_G(r) − log P_data(r))², P the batch's azimuthally averaged power spectrum (:func:`radial_log_power`),
    the real batch's curve held fixed (no gradient). A spectral regulariser in the spirit of Durall, Keuper &
    Keuper (2020), who match the reduced spectra of generated and real images so that G does not lose the high
    frequencies (their form: BCE of the max-normalised curves); this is a batch-level term, returned as this
    replica's share (:func:`global_scalar_share`)."""
    target = tf.stop_gradient(radial_log_power(real, weights))
    return global_scalar_share(tf.reduce_mean(tf.square(radial_log_power(fake, weights) - target)))


def _class_rows(fake, real, labels, num_classes: int, weights=None):
    """The class losses' common inputs: ``fake`` / ``real`` flattened to [B, D] float32 (``real`` held fixed)
    and the one-hot class matrix [B, K], its rows scaled by ``weights`` (a label < 0 or ≥ K gives a 0 row)."""
    fake = tf.reshape(tf.cast(fake, tf.float32), [tf.shape(fake)[0], -1])
    real = tf.stop_gradient(tf.reshape(tf.cast(real, tf.float32), [tf.shape(real)[0], -1]))
    onehot = tf.one_hot(tf.cast(labels, tf.int32), num_classes, dtype=tf.float32)
    if weights is not None:
        onehot *= tf.reshape(tf.cast(weights, tf.float32), [-1, 1])
    return fake, real, onehot


def _class_means(onehot: tf.Tensor, values: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
    """Per-class means [K, D] of ``values`` [B, D] over the rows ``onehot`` [B, K] selects (0 for an empty
    class), and the per-class row counts n_k [K]."""
    counts = tf.reduce_sum(onehot, axis=0)
    return tf.math.divide_no_nan(tf.matmul(onehot, values, transpose_a=True), counts[:, None]), counts


def class_feature_matching_loss(fake_features: tf.Tensor, real_features: tf.Tensor, labels: tf.Tensor,
                                num_classes: int, weights: tf.Tensor | None = None) -> tf.Tensor:
    """Beyond paper 001 (``CGANConfig.lambda_fm``): class-conditional feature matching,

        L_fm = Σ_k (n_k / N) · mean_d (μ_k^real − μ_k^fake)²,   μ_k = mean of φ over the batch rows of class k,

    the feature-matching objective of Salimans et al. (2016, "Improved techniques for training GANs" §3.1)
    taken per class: G's images of class k must have the same mean D features φ as the real images of class k.
    ``fake_features`` / ``real_features`` are [B, ...] (flattened here); row i of each carries ``labels[i]``
    (G draws its batch with the real batch's labels, so both sides have the same n_k). Rows with ``weights``
    0, or a label outside 0..num_classes-1, do not count. The real side is held fixed (no gradient). Returned
    as this replica's share (:func:`global_scalar_share`)."""
    fake, real, onehot = _class_rows(fake_features, real_features, labels, num_classes, weights)
    mean_fake, counts = _class_means(onehot, fake)
    mean_real, _ = _class_means(onehot, real)
    per_class = tf.reduce_mean(tf.square(mean_real - mean_fake), axis=1)
    share = tf.math.divide_no_nan(counts, tf.reduce_sum(counts))
    return global_scalar_share(tf.reduce_sum(share * per_class))


def class_moment_loss(fake: tf.Tensor, real: tf.Tensor, labels: tf.Tensor, num_classes: int,
                      weights: tf.Tensor | None = None) -> tf.Tensor:
    """Beyond paper 001 (``CGANConfig.lambda_pixel_match``): class-conditional first-moment matching with an
    unbiased split estimator,

        L = Σ_k (n_k / N) · mean_d (μ_k^A − t_k)(μ_k^B − t_k),   t_k = μ_k^real (held fixed),

    μ_k^A / μ_k^B the means of ``fake`` over the 1st, 3rd, … / 2nd, 4th, … rows of class k in batch order. Its
    expectation is (E μ_k^fake − E t_k)² plus a term G cannot change, so its gradient pulls G's class means onto the
    real ones and nothing else. The plain (μ_k^fake − t_k)² of :func:`class_feature_matching_loss` adds
    Var(μ_k^fake), whose gradient also shrinks G's spread within a class (a collapse bias, large for a ~10-row class
    and a low-dimensional statistic). A class with one row does not count. ``fake`` / ``real`` are [B, ...]
    (flattened here), row i of each labelled ``labels[i]``; rows with ``weights`` 0 or a label outside
    0..num_classes-1 do not count. The value can be below 0 (it estimates a square). Returned as this replica's
    share (:func:`global_scalar_share`)."""
    fake, real, onehot = _class_rows(fake, real, labels, num_classes, weights)
    # each class's rows alternate between the halves A and B in batch order (a row's rank within its class)
    rank = tf.reduce_sum((tf.cumsum(onehot, axis=0) - onehot) * onehot, axis=1)
    even = tf.cast(tf.equal(tf.math.floormod(rank, 2.0), 0.0), tf.float32)[:, None]
    mean_a, n_a = _class_means(onehot * even, fake)
    mean_b, n_b = _class_means(onehot * (1.0 - even), fake)
    target, counts = _class_means(onehot, real)
    per_class = tf.reduce_mean((mean_a - target) * (mean_b - target), axis=1)
    counted = counts * tf.cast(tf.logical_and(n_a > 0, n_b > 0), tf.float32)
    share = tf.math.divide_no_nan(counted, tf.reduce_sum(counted))
    return global_scalar_share(tf.reduce_sum(share * per_class))


def mode_seeking_loss(images: tf.Tensor, z: tf.Tensor, labels: tf.Tensor, weights: tf.Tensor | None = None,
                      eps: float = 1e-5) -> tf.Tensor:
    """Beyond paper 001 (``CGANConfig.lambda_ms``): the mode-seeking term of Mao et al. (2019, "Mode seeking
    generative adversarial networks for diverse image synthesis", Eq. 3), L_ms = 1 / (r + ε) with

        r = mean over the pairs (i, j), i ≠ j, of one label:  d_I(G(z_i, v), G(z_j, v)) / d_z(z_i, z_j),

    taken over every same-label pair of G's batch instead of MSGAN's two draws per label; d is the root mean
    square difference (MSGAN: the mean absolute one; the squared form comes from the batch's Gram matrix, no
    [B, B, H, W, C] tensor). Minimising it makes G's images of one label move apart as their noise vectors
    do. ``images`` [B, ...], ``z`` [B, Z], ``labels`` [B] int; rows with ``weights`` 0 or a label < 0 do not
    count. A batch without a same-label pair gives 0. Returned as this replica's share
    (:func:`global_scalar_share`)."""
    def rms_distances(x):
        x = tf.reshape(tf.cast(x, tf.float32), [tf.shape(x)[0], -1])
        sq = tf.reduce_sum(tf.square(x), axis=1)
        d2 = sq[:, None] + sq[None, :] - 2.0 * tf.matmul(x, x, transpose_b=True)
        return tf.sqrt(tf.maximum(d2, 0.0) / tf.cast(tf.shape(x)[1], tf.float32) + 1e-12)

    labels = tf.cast(labels, tf.int32)
    valid = labels >= 0
    if weights is not None:
        valid = tf.logical_and(valid, tf.cast(weights, tf.float32) > 0)
    n = tf.shape(labels)[0]
    same = tf.logical_and(tf.equal(labels[:, None], labels[None, :]), tf.logical_not(tf.eye(n, dtype=tf.bool)))
    pair = tf.cast(tf.logical_and(same, tf.logical_and(valid[:, None], valid[None, :])), tf.float32)
    ratio = rms_distances(images) / (rms_distances(tf.stop_gradient(z)) + eps)
    count = tf.reduce_sum(pair)
    r = tf.math.divide_no_nan(tf.reduce_sum(pair * ratio), count)
    loss = tf.where(count > 0, 1.0 / (r + eps), 0.0)
    return global_scalar_share(loss)
