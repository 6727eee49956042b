"""Class-conditional low-resolution pixel-mean matching in G's loss (``lambda_pixel_match``, beyond paper 001):
the split estimator against a NumPy reference, its expectation (the squared class-mean gap, without the
within-class variance the plain estimator adds), masking, the gradient, the term in the train step, the
config rules and the paper preset."""

from __future__ import annotations

import os

import numpy as np
import pytest

from caae_tf.config import CGANConfig, ConfigError, load_config

tf = pytest.importorskip("tensorflow")

from caae_tf.losses import class_feature_matching_loss, class_moment_loss  # noqa: E402
from test_cgan_conditional_bn import PRESETS  # noqa: E402
from test_cgan_model import _float32_policy, batch, tiny_model  # noqa: E402,F401 (the fixture is autouse here too)


def _reference(fake, real, labels, k, weights=None):
    fake, real = fake.reshape(len(fake), -1), real.reshape(len(real), -1)
    w = np.ones(len(labels)) if weights is None else np.asarray(weights, float)
    total, n = 0.0, 0.0
    for c in range(k):
        rows = (np.asarray(labels) == c) & (w > 0)
        idx = np.flatnonzero(rows)
        a, b = idx[0::2], idx[1::2]  # the class's rows alternate between the halves
        if len(b) == 0:
            continue
        t = real[rows].mean(0)
        total += rows.sum() * np.mean((fake[a].mean(0) - t) * (fake[b].mean(0) - t))
        n += rows.sum()
    return total / n if n else 0.0


def test_loss_matches_a_numpy_reference_with_masked_rows_and_one_row_classes():
    rng = np.random.default_rng(0)
    fake = rng.normal(size=(10, 2, 2, 3)).astype(np.float32)
    real = rng.normal(size=(10, 2, 2, 3)).astype(np.float32)
    # class 0: rows 0, 1, 2 (both halves); class 1: row 3 only (one row: does not count);
    # class 2: rows 4, 5, 6 with row 5 masked; row 7 has label -1; class 5: rows 8, 9
    labels = np.array([0, 0, 0, 1, 2, 2, 2, -1, 5, 5])
    weights = np.array([1, 1, 1, 1, 1, 0, 1, 1, 1, 1], np.float32)
    got = float(class_moment_loss(fake, real, labels, 6, weights))
    want = _reference(fake, real, labels, 6, weights)
    assert got == pytest.approx(want, rel=1e-5)
    fake2 = fake.copy()
    fake2[[3, 5, 7]] += 10.0  # the one-row class, the masked row and the invalid label do not count
    assert float(class_moment_loss(fake2, real, labels, 6, weights)) == pytest.approx(got, rel=1e-5)


def test_expectation_is_the_squared_mean_gap_without_the_variance_term():
    """Over many batches drawn from one G, the split estimator averages to ‖μ_fake − μ_real‖² (per dimension)
    plus the constant variance of the real-batch target, while the plain estimator also adds Var(μ_fake) —
    which a G could lower by collapsing its class."""
    rng = np.random.default_rng(3)
    labels = np.repeat(np.arange(2), 8)  # 8 rows per class
    gap, spread = 0.3, 2.0
    split, plain = [], []
    for _ in range(3000):
        fake = (gap + spread * rng.normal(size=(16, 4))).astype(np.float32)
        real = np.zeros((16, 4), np.float32)  # a fixed real batch: the target has no variance
        split.append(float(class_moment_loss(fake, real, labels, 2)))
        plain.append(float(class_feature_matching_loss(fake, real, labels, 2)))
    assert np.mean(split) == pytest.approx(gap ** 2, abs=0.03)
    assert np.mean(plain) == pytest.approx(gap ** 2 + spread ** 2 / 8, abs=0.05)


def test_gradient_reaches_the_generated_side_only_and_moves_the_class_means_to_the_real_ones():
    rng = np.random.default_rng(2)
    real = tf.Variable(rng.normal(size=(8, 4)).astype(np.float32))
    fake = tf.Variable(rng.normal(size=(8, 4)).astype(np.float32) + 1.0)
    labels = tf.constant([0, 1, 0, 1, 0, 1, 0, 1])  # interleaved classes: each still splits into two halves
    with tf.GradientTape() as tape:
        loss = class_moment_loss(fake, real, labels, 2)
    g_fake, g_real = tape.gradient(loss, [fake, real])
    assert g_real is None and float(tf.reduce_max(tf.abs(g_fake))) > 0

    def gap():
        return sum(float(tf.reduce_sum(tf.square(tf.reduce_mean(tf.boolean_mask(fake - real, labels == k), 0))))
                   for k in range(2))

    before = gap()
    for _ in range(50):
        with tf.GradientTape() as tape:
            loss = class_moment_loss(fake, real, labels, 2)
        fake.assign_sub(2.0 * tape.gradient(loss, fake))
    assert gap() < 0.01 * before


def test_train_step_adds_lambda_times_the_term_for_g():
    b = batch(4, emotions=[0, 0, 5, 5])
    v = tf.one_hot(b["emotion"], 6)
    ref = tiny_model(lambda_pixel_match=3.0, pixel_match_size=4)
    fake = ref.G((ref.draw_noise(4), v), training=True)  # train_step's first draw
    pool = ref.cfg.image_size // 4
    want = float(class_moment_loss(tf.nn.avg_pool2d(fake, pool, pool, "VALID"),
                                   tf.nn.avg_pool2d(b["image"], pool, pool, "VALID"), b["emotion"], 6))
    model = tiny_model(lambda_pixel_match=3.0, pixel_match_size=4)
    out = {k: float(t) for k, t in tf.function(model.train_step)(b).items()}
    assert out["g_loss_pixel_match"] == pytest.approx(want, rel=1e-3, abs=1e-6) and want != 0
    plain = {k: float(t) for k, t in tf.function(tiny_model().train_step)(b).items()}
    assert "g_loss_pixel_match" not in plain
    assert out["d_loss"] == pytest.approx(plain["d_loss"], rel=1e-5)  # D's update does not see the key
    assert out["g_loss"] - plain["g_loss"] == pytest.approx(3.0 * want, rel=1e-3, abs=1e-5)


def test_config_rules_and_paper_preset():
    with pytest.raises(ConfigError, match="lambda_pixel_match must be >= 0"):
        CGANConfig().replace("lambda_pixel_match", -1.0)
    with pytest.raises(ConfigError, match="pixel_match_size must divide image_size"):
        CGANConfig().replace("image_size", 64).replace("pixel_match_size", 7).replace("lambda_pixel_match", 1.0)
    assert CGANConfig().replace("lambda_pixel_match", 5.0).to_dict()["lambda_pixel_match"] == 5.0
    paper = load_config(os.path.join(PRESETS, "cgan_paper.yaml"))
    assert paper.lambda_pixel_match == 0.0 and "lambda_pixel_match" not in paper.to_dict()
