"""DiffAugment for the cGAN's D (``d_augment``, beyond paper 001; Zhao et al. 2020): known values of each
policy on small tensors, its seeding, its gradients, the config check, and the train step's D seeing T(x)."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from caae_tf.config import CGANConfig, ConfigError

tf = pytest.importorskip("tensorflow")

from caae_tf.models import diffaugment as DA  # noqa: E402

from test_cgan_model import _float32_policy, batch, tiny_model  # noqa: E402,F401 (the fixture is autouse here too)

RNG = np.random.default_rng(0)
X = RNG.uniform(-1, 1, size=(6, 16, 16, 3)).astype(np.float32)


def test_shift_axis_known_values():
    x = np.arange(2 * 4 * 3, dtype=np.float32).reshape(2, 4, 3, 1)
    rows = DA._shift_axis(tf.constant(x), tf.constant([1, -2]), 1).numpy()
    exp0 = np.concatenate([np.zeros((1, 3, 1)), x[0, :3]], 0)  # down by one row, row 0 filled with 0
    exp1 = np.concatenate([x[1, 2:], np.zeros((2, 3, 1))], 0)  # up by two rows
    np.testing.assert_array_equal(rows, np.stack([exp0, exp1]))
    cols = DA._shift_axis(tf.constant(x), tf.constant([0, 1]), 2).numpy()
    np.testing.assert_array_equal(cols[0], x[0])
    np.testing.assert_array_equal(cols[1, :, 1:], x[1, :, :2])
    assert (cols[1, :, 0] == 0).all()


def _shifted(x, dy, dx):
    out = np.zeros_like(x)
    h, w = x.shape[:2]
    src = x[max(-dy, 0):h - max(dy, 0), max(-dx, 0):w - max(dx, 0)]
    out[max(dy, 0):h + min(dy, 0), max(dx, 0):w + min(dx, 0)] = src
    return out


def test_translation_is_an_integer_shift_of_at_most_an_eighth_with_zero_fill():
    out = DA.translation(tf.constant(X), tf.constant([5, 7], tf.int64)).numpy()
    r = 2  # 16 px · 0.125
    found = []
    for i in range(len(X)):
        hits = [(dy, dx) for dy, dx in itertools.product(range(-r, r + 1), repeat=2)
                if np.array_equal(out[i], _shifted(X[i], dy, dx))]
        assert len(hits) == 1, i
        found.append(hits[0])
    assert len(set(found)) > 1  # per image, not one shift for the batch


def test_cutout_zeroes_one_clipped_square_per_image():
    ones = tf.ones([64, 16, 16, 1])
    out = DA.cutout(ones, tf.constant([1, 2], tf.int64)).numpy()[..., 0]
    sizes = []
    for img in out:
        zr, zc = np.where(img == 0)
        assert set(np.unique(img)) <= {0.0, 1.0}
        rows, cols = np.unique(zr), np.unique(zc)
        assert len(zr) == len(rows) * len(cols)  # a rectangle ...
        assert np.all(np.diff(rows) == 1) and np.all(np.diff(cols) == 1)  # ... of contiguous rows and columns
        assert len(rows) <= 8 and len(cols) <= 8  # side 16 · 0.5, clipped at the border
        sizes.append(len(zr))
    assert max(sizes) == 64 and min(sizes) < 64


def test_color_of_a_grey_image_is_a_uniform_brightness_shift():
    grey = np.full((8, 4, 4, 3), 0.2, np.float32)  # saturation and contrast leave a flat image as it is
    out = DA.color(tf.constant(grey), tf.constant([3, 4], tf.int64)).numpy()
    shift = out - grey
    assert np.allclose(shift, shift[:, :1, :1, :1], atol=1e-6)
    assert np.all(np.abs(shift) <= 0.5) and np.ptp(shift[:, 0, 0, 0]) > 0.1
    # on a coloured image the per-image jitter changes the mean and the spread
    out = DA.color(tf.constant(X), tf.constant([3, 4], tf.int64)).numpy()
    assert not np.allclose(out.mean((1, 2, 3)), X.mean((1, 2, 3)), atol=1e-3)


def test_seeded_order_free_and_off_when_empty():
    full = "color,translation,cutout"
    a = DA.diff_augment(X, full, [1, 2]).numpy()
    np.testing.assert_array_equal(a, DA.diff_augment(X, full, [1, 2]).numpy())
    np.testing.assert_array_equal(a, DA.diff_augment(X, "cutout, translation,color", [1, 2]).numpy())
    assert np.abs(a - DA.diff_augment(X, full, [1, 3]).numpy()).max() > 0.1
    assert DA.diff_augment(X, "", [1, 2]) is X
    with pytest.raises(ValueError, match="flip"):
        DA.parse_policy("color,flip")


def test_gradient_flows_through_every_policy():
    x = tf.constant(X)
    with tf.GradientTape() as tape:
        tape.watch(x)
        y = DA.diff_augment(x, "translation", [9, 9])
        loss = tf.reduce_sum(y)
    g = tape.gradient(loss, x).numpy()
    assert set(np.unique(g)) <= {0.0, 1.0}  # each input pixel lands once inside the image, or not at all
    assert g.sum() == np.count_nonzero(y.numpy())
    with tf.GradientTape() as tape:
        tape.watch(x)
        loss = tf.reduce_sum(DA.diff_augment(x, "color,translation,cutout", [9, 9]) ** 2)
    g = tape.gradient(loss, x).numpy()
    assert np.isfinite(g).all() and np.abs(g).max() > 0


def test_config_check_and_paper_presets_untouched():
    CGANConfig(d_augment="color, cutout").validate()
    for bad in ("flip", "color,color", "translation;cutout"):
        with pytest.raises(ConfigError, match="d_augment"):
            CGANConfig(d_augment=bad).validate()
    assert "d_augment" not in CGANConfig().to_dict()  # off: left out of resolved configs
    assert CGANConfig(d_augment="cutout").to_dict()["d_augment"] == "cutout"


def test_train_step_shows_d_the_augmented_images():
    b = batch(4, emotions=[0, 1, 2, 3])
    x, v = tf.cast(b["image"], tf.float32), tf.one_hot(b["emotion"], 6)
    policy = "color,translation,cutout"
    ref = tiny_model(d_augment=policy)
    ref.noise_step.assign(1)  # train_step draws z first (counter 0 → 1), then augments
    aug = ref._augment(x, 0)
    assert np.abs(aug.numpy() - x.numpy()).max() > 0.1
    logit = ref.D((aug, v), training=True)
    want = tf.nn.sigmoid_cross_entropy_with_logits(tf.ones_like(logit), logit).numpy().mean()
    m = tiny_model(d_augment=policy)
    out = {k: float(t) for k, t in tf.function(m.train_step)(b).items()}
    assert out["d_loss_real"] == pytest.approx(want, rel=1e-4)
    plain = {k: float(t) for k, t in tiny_model().train_step(b).items()}
    assert abs(plain["d_loss_real"] - out["d_loss_real"]) > 1e-4
    # same seed, same steps: identical losses (the augmentation is stateless); every term finite
    again = {k: float(t) for k, t in tf.function(tiny_model(d_augment=policy).train_step)(b).items()}
    assert again == out and all(np.isfinite(list(out.values())))
    # images outside training are never augmented
    z = tf.random.normal([2, 8])
    np.testing.assert_array_equal(m.generate(z, tf.one_hot([1, 2], 6)).numpy(),
                                  m.sampler((z, tf.one_hot([1, 2], 6)), training=False).numpy())
