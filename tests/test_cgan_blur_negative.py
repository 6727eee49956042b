"""Blurred real images as D's negatives (``d_blur_negative``, beyond paper 001; CartoonGAN's edge-smoothed
negatives): the blur (σ in range, borders kept, a Gaussian's effect on a spectrum), the D term recomputed by hand
in the train step, D's objective, D learns to reject blurred images, resume determinism, the config rules and the
paper preset."""

from __future__ import annotations

import os

import numpy as np
import pytest

from caae_tf.config import CGANConfig, ConfigError, load_config

tf = pytest.importorskip("tensorflow")

from caae_tf.losses import radial_log_power  # noqa: E402
from test_cgan_conditional_bn import PRESETS  # noqa: E402
from test_cgan_model import _float32_policy, batch, tiny_model  # noqa: E402,F401 (the fixture is autouse here too)


def _sigma_of(m, blurred, x):
    """The σ of the Gaussian that maps ``x`` to ``blurred`` (least squares over a grid of σ)."""
    import cv2

    grid = np.linspace(0.3, 1.6, 131)
    err = [np.abs(np.stack([cv2.GaussianBlur(i, (0, 0), s, borderType=cv2.BORDER_REFLECT_101) for i in x])
                  - blurred).mean() for s in grid]
    return grid[int(np.argmin(err))]


def test_blur_keeps_constants_and_borders_and_draws_sigma_in_range():
    m = tiny_model(d_blur_negative=1.0, d_blur_sigma=[0.6, 0.9])
    flat = tf.fill([2, 64, 64, 3], 0.7)
    np.testing.assert_allclose(m.blur_negatives(flat).numpy(), 0.7, atol=1e-6)  # reflect padding: no dark rim
    x = np.random.default_rng(0).uniform(-1, 1, (3, 64, 64, 3)).astype(np.float32)
    sigmas = []
    for _ in range(4):
        m.draw_noise(1)  # the next step's draw
        sigmas.append(_sigma_of(m, m.blur_negatives(tf.constant(x)).numpy(), x))
    assert all(0.58 <= s <= 0.92 for s in sigmas) and len(set(sigmas)) > 1, sigmas
    # a blur removes high frequencies: the top rings of the reduced spectrum fall, the lowest hardly move
    gap = (radial_log_power(m.blur_negatives(tf.constant(x))) - radial_log_power(x)).numpy()
    assert gap[-4:].max() < -1.0 and abs(gap[0]) < 0.1, gap


def test_d_term_is_bce_of_blurred_reals_with_their_label():
    b = batch(4, emotions=[0, 1, 2, 5])
    v = tf.one_hot(b["emotion"], 6)
    ref = tiny_model(d_blur_negative=0.5)
    ref.draw_noise(4)  # train_step draws z first, then the blur's σ with the advanced counter
    logits = ref.D.outputs((ref.blur_negatives(tf.cast(b["image"], tf.float32)), v), training=True)["logit"]
    want = float(tf.reduce_mean(tf.nn.sigmoid_cross_entropy_with_logits(tf.zeros_like(logits), logits)))
    out = {k: float(t) for k, t in tf.function(tiny_model(d_blur_negative=0.5).train_step)(b).items()}
    assert out["d_loss_blur"] == pytest.approx(want, rel=1e-4)
    assert "d_loss_blur" not in tiny_model().train_step(b)
    m = tiny_model(d_blur_negative=0.5, d_mismatch_weight=0.25)
    terms = {"d_loss_real": tf.constant(0.3), "d_loss_fake": tf.constant(0.2), "d_loss_mismatch": tf.constant(0.4),
             "d_loss_blur": tf.constant(0.8)}
    assert float(m._d_objective(terms)) == pytest.approx(0.3 + 0.75 * 0.2 + 0.25 * 0.4 + 0.5 * 0.8)


def test_d_learns_to_reject_blurred_images():
    b = batch(8)
    x, v = tf.cast(b["image"], tf.float32), tf.one_hot(b["emotion"], 6)
    p_blur = {}
    for weight in (0.0, 1.0):
        m = tiny_model(d_blur_negative=weight)
        step = tf.function(m.train_step)
        first = [float(step(b).get("d_loss_blur", 0.0)) for _ in range(3)]
        for _ in range(30):
            last = float(step(b).get("d_loss_blur", 0.0))
        if weight:
            assert last < 0.8 * np.mean(first), (first, last)
        m.draw_noise(1)
        p_blur[weight] = float(tf.reduce_mean(tf.sigmoid(m.D((m.blur_negatives(x), v), training=True))))
    assert p_blur[1.0] < p_blur[0.0] - 0.1, p_blur


def test_resumed_steps_blur_with_the_same_sigma():
    a, b = tiny_model(d_blur_negative=1.0), tiny_model(d_blur_negative=1.0)
    x = tf.constant(np.random.default_rng(1).uniform(-1, 1, (2, 64, 64, 3)).astype(np.float32))
    for _ in range(3):
        a.draw_noise(1)
    b.noise_step.assign(3)  # a restored counter
    np.testing.assert_array_equal(a.blur_negatives(x).numpy(), b.blur_negatives(x).numpy())


def test_config_rules_and_paper_preset():
    with pytest.raises(ConfigError, match="d_blur_negative must be >= 0"):
        CGANConfig().replace("d_blur_negative", -0.5)
    for bad in ([0.0, 1.0], [1.0, 0.5], [0.5], [0.5, 5.0]):
        with pytest.raises(ConfigError, match="d_blur_sigma must be"):
            CGANConfig().replace("d_blur_sigma", bad)
    cfg = CGANConfig().replace("d_blur_negative", 0.5)
    assert cfg.to_dict()["d_blur_negative"] == 0.5 and "d_blur_sigma" not in cfg.to_dict()
    paper = load_config(os.path.join(PRESETS, "cgan_paper.yaml"))
    assert paper.d_blur_negative == 0.0 and "d_blur_negative" not in paper.to_dict()
    assert "d_blur_sigma" not in paper.to_dict()


def test_local_contrast_channels_make_features_independent_of_brightness():
    from caae_tf.models.cgan_networks import local_contrast_normalize

    rng = np.random.default_rng(0)
    x = rng.uniform(-1, 1, (2, 32, 32, 3)).astype(np.float32)
    # above the floor the map is invariant to a brightness offset and a contrast scale of the image
    np.testing.assert_allclose(local_contrast_normalize(tf.constant(0.5 * x - 0.4)).numpy(),
                               local_contrast_normalize(tf.constant(x)).numpy(), atol=1e-4)
    flat = local_contrast_normalize(tf.fill([1, 16, 16, 3], -0.8)).numpy()
    np.testing.assert_allclose(flat, 0.0, atol=1e-5)  # a flat (dark) region stays 0: reflect padding, no rim
    # an edge of contrast 0.4 on a dark face reads like one of contrast 1.0 on a light one; a faint edge (0.05, at
    # the level of pixel noise) stays below the floor and is not amplified to the same amplitude
    edge = np.zeros((1, 16, 16, 3), np.float32)
    edge[:, :, 8:] = 1.0
    strong = np.abs(local_contrast_normalize(tf.constant(edge - 0.5)).numpy()).max()
    dark = np.abs(local_contrast_normalize(tf.constant(0.4 * edge - 0.9)).numpy()).max()
    faint = np.abs(local_contrast_normalize(tf.constant(0.05 * edge - 0.9)).numpy()).max()
    assert 1.0 < strong < 3.0 and dark == pytest.approx(strong, rel=1e-3) and faint < 0.5 * strong
    # D with the key: one more input channel (the grey image's LCN); without it the paper's D (image + tiled label)
    with_lcn, plain = tiny_model(d_local_contrast=True), tiny_model()
    k_lcn, k_plain = with_lcn.D.convs[0].kernel.shape, plain.D.convs[0].kernel.shape
    assert k_lcn[2] == k_plain[2] + 1 == 3 + 1 + 6
    b = batch(4)
    out = {k: float(t) for k, t in tf.function(with_lcn.train_step)(b).items()}
    assert np.isfinite(list(out.values())).all()
    paper = load_config(os.path.join(PRESETS, "cgan_paper.yaml"))
    assert paper.d_local_contrast is False and "d_local_contrast" not in paper.to_dict()
