"""Differentiable augmentation of every image D sees (beyond paper 001; ``CGANConfig.d_augment``).

Zhao, Liu, Lin, Zhu & Han (2020), "Differentiable augmentation for data-efficient GAN training" (NeurIPS):
with few training images D memorises them, its outputs saturate (on the cGAN demo's 1,800 faces D's mean
probability is 0.94 on real and 0.02 on generated images after 4,000 steps) and G's gradients carry little
more than noise. DiffAugment applies the same family of random, differentiable transformations T to real
*and* generated images, in D's update and in G's, so D cannot tell them apart by augmentation statistics and
G's gradient flows back through T:

    L_D = f(D(T(x))) + f(−D(T(G(z))))      L_G = f(D(T(G(z))))

The policies are those of the paper's reference implementation (re-written here with TensorFlow ops;
images in [-1, 1]): ``color`` (per image: brightness + U(−0.5, 0.5), saturation × U(0, 2) about the
per-pixel channel mean, contrast × U(0.5, 1.5) about the image mean), ``translation`` (per image an integer
shift of up to ⌊size/8 + ½⌋ pixels on each axis, the uncovered border filled with 0) and ``cutout`` (per image
one square of side ⌊size/2 + ½⌋ set to 0, its centre uniform over the image, clipped at the border). None of
them changes the expression's label. Random numbers are stateless, drawn from a seed ``[2]``, so a resumed
run augments exactly as an uninterrupted one.
"""

from __future__ import annotations

import tensorflow as tf

from caae_tf.config import DIFFAUGMENT_POLICIES as POLICIES  # the order they are applied (the reference's)
from caae_tf.config import parse_diffaugment_policy as parse_policy

__all__ = ["POLICIES", "parse_policy", "color", "translation", "cutout", "diff_augment"]


def _uniform(shape, seed, minval=0.0, maxval=1.0):
    return tf.random.stateless_uniform(shape, seed=seed, minval=minval, maxval=maxval, dtype=tf.float32)


def color(x, seed):
    """Brightness, saturation and contrast jitter per image (DiffAugment's ``color``)."""
    s = tf.random.experimental.stateless_split(seed, 3)
    b = tf.shape(x)[0]
    x = x + (_uniform([b, 1, 1, 1], s[0]) - 0.5)
    mean_c = tf.reduce_mean(x, axis=-1, keepdims=True)
    x = (x - mean_c) * (_uniform([b, 1, 1, 1], s[1]) * 2.0) + mean_c
    mean = tf.reduce_mean(x, axis=[1, 2, 3], keepdims=True)
    return (x - mean) * (_uniform([b, 1, 1, 1], s[2]) + 0.5) + mean


def _shift_axis(x, shift, axis: int):
    """out[..., i, ...] = x[..., i − shift, ...] along ``axis`` (1 = rows, 2 = columns) per image, 0 where
    i − shift falls outside the image; ``shift`` int32 [B]."""
    n = tf.shape(x)[axis]
    src = tf.range(n)[None, :] - shift[:, None]  # [B, n]
    valid = tf.cast((src >= 0) & (src < n), x.dtype)
    out = tf.gather(x, tf.clip_by_value(src, 0, n - 1), axis=axis, batch_dims=1)
    shape = [-1, n, 1, 1] if axis == 1 else [-1, 1, n, 1]
    return out * tf.reshape(valid, shape)


def translation(x, seed, ratio: float = 0.125):
    """Shift each image by integers in [−r, r] rows and columns, r = ⌊size·ratio + ½⌋; zero fill."""
    s = tf.random.experimental.stateless_split(seed, 2)
    b = tf.shape(x)[0]
    r_h = int(int(x.shape[1]) * ratio + 0.5)
    r_w = int(int(x.shape[2]) * ratio + 0.5)
    dy = tf.random.stateless_uniform([b], seed=s[0], minval=-r_h, maxval=r_h + 1, dtype=tf.int32)
    dx = tf.random.stateless_uniform([b], seed=s[1], minval=-r_w, maxval=r_w + 1, dtype=tf.int32)
    return _shift_axis(_shift_axis(x, dy, 1), dx, 2)


def cutout(x, seed, ratio: float = 0.5):
    """Zero one square of side ⌊size·ratio + ½⌋ per image, its centre uniform over the image."""
    s = tf.random.experimental.stateless_split(seed, 2)
    b = tf.shape(x)[0]
    h, w = int(x.shape[1]), int(x.shape[2])
    ch, cw = int(h * ratio + 0.5), int(w * ratio + 0.5)
    cy = tf.random.stateless_uniform([b, 1], seed=s[0], minval=0, maxval=h + (1 - ch % 2), dtype=tf.int32)
    cx = tf.random.stateless_uniform([b, 1], seed=s[1], minval=0, maxval=w + (1 - cw % 2), dtype=tf.int32)
    rows = tf.range(h)[None, :] - (cy - ch // 2)  # position inside the square, [B, h]
    cols = tf.range(w)[None, :] - (cx - cw // 2)
    in_r = tf.cast((rows >= 0) & (rows < ch), x.dtype)
    in_c = tf.cast((cols >= 0) & (cols < cw), x.dtype)
    mask = 1.0 - in_r[:, :, None, None] * in_c[:, None, :, None]
    return x * mask


_OPS = {"color": color, "translation": translation, "cutout": cutout}


def diff_augment(x, policy: str | tuple[str, ...], seed):
    """T(x) for float images ``x`` [B, H, W, C] with the policies in ``policy`` (a comma-separated string or
    :func:`parse_policy`'s tuple), each drawing from its own split of ``seed`` (int [2]). "" → x unchanged."""
    names = parse_policy(policy) if isinstance(policy, str) else tuple(policy)
    if not names:
        return x
    x = tf.cast(x, tf.float32)
    seeds = tf.random.experimental.stateless_split(tf.cast(seed, tf.int64), len(POLICIES))
    for name in POLICIES:  # fixed order and a fixed seed per policy, whatever order the string names them in
        if name in names:
            x = _OPS[name](x, seeds[POLICIES.index(name)])
    return x
