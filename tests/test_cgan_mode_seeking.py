"""MSGAN's mode-seeking term (``lambda_ms``, beyond paper 001; Mao et al. 2019): the batch form against explicit
pairs in numpy, its gradient moves same-label images apart, masked rows and batches without a pair, the G step
with the key, the config rules and the paper preset."""

from __future__ import annotations

import os

import numpy as np
import pytest

from caae_tf.config import CGANConfig, ConfigError, load_config

tf = pytest.importorskip("tensorflow")

from caae_tf.losses import mode_seeking_loss  # noqa: E402
from test_cgan_conditional_bn import PRESETS  # noqa: E402
from test_cgan_model import _float32_policy, batch, tiny_model  # noqa: E402,F401 (the fixture is autouse here too)


def _reference(x, z, labels, valid):
    ratios = []
    for i in range(len(x)):
        for j in range(len(x)):
            if i != j and labels[i] == labels[j] and labels[i] >= 0 and valid[i] and valid[j]:
                d_i = np.sqrt(np.mean((x[i] - x[j]) ** 2))
                d_z = np.sqrt(np.mean((z[i] - z[j]) ** 2))
                ratios.append(d_i / (d_z + 1e-5))
    return 1.0 / (np.mean(ratios) + 1e-5) if ratios else 0.0


def test_mode_seeking_loss_matches_explicit_pairs():
    rng = np.random.default_rng(0)
    x = rng.uniform(-1, 1, (7, 8, 8, 3)).astype(np.float32)
    z = rng.normal(size=(7, 5)).astype(np.float32)
    labels = np.array([0, 1, 0, 2, 1, 0, -1])
    w = np.array([1, 1, 1, 1, 1, 0, 1], np.float32)  # row 5 masked, row 6 has no label
    got = float(mode_seeking_loss(tf.constant(x), tf.constant(z), tf.constant(labels), tf.constant(w)))
    assert got == pytest.approx(_reference(x, z, labels, w > 0), rel=1e-4)
    no_weights = float(mode_seeking_loss(tf.constant(x), tf.constant(z), tf.constant(labels)))
    assert no_weights == pytest.approx(_reference(x, z, labels, np.ones(7, bool)), rel=1e-4)
    # no two rows share a label: no pair, no term
    assert float(mode_seeking_loss(tf.constant(x[:3]), tf.constant(z[:3]), tf.constant([0, 1, 2]))) == 0.0


def test_its_gradient_moves_same_label_images_apart_and_leaves_lone_rows_alone():
    rng = np.random.default_rng(1)
    x = tf.Variable(rng.uniform(-0.1, 0.1, (4, 4, 4, 3)).astype(np.float32))
    z = tf.constant(rng.normal(size=(4, 6)).astype(np.float32))
    labels = tf.constant([3, 3, 1, 5])
    with tf.GradientTape() as tape:
        loss = mode_seeking_loss(x, z, labels)
    grad = tape.gradient(loss, x).numpy()
    assert np.abs(grad[2:]).max() == 0.0  # rows 2 and 3 have no same-label partner
    before = np.sqrt(np.mean((x[0] - x[1]).numpy() ** 2))
    x.assign_sub(0.05 * grad / np.abs(grad).max())
    after = np.sqrt(np.mean((x[0] - x[1]).numpy() ** 2))
    assert after > before
    assert float(mode_seeking_loss(x, z, labels)) < float(loss)
    # identical images of one label cost 1/ε-scale; spread ones far less
    same = tf.constant(np.repeat(x.numpy()[:1], 4, 0))
    assert float(mode_seeking_loss(same, z, tf.constant([0, 0, 0, 0]))) > 1e4 > float(loss)


def test_the_g_step_with_the_key_logs_the_term():
    m = tiny_model(lambda_ms=1.0)
    step = tf.function(m.train_step)
    outs = [{k: float(t) for k, t in step(batch(6, emotions=[0, 0, 1, 1, 2, 2], seed=s)).items()} for s in range(2)]
    assert all("g_loss_ms" in o and np.isfinite(o["g_loss_ms"]) and o["g_loss_ms"] > 0 for o in outs)
    plain = tiny_model()
    assert "g_loss_ms" not in {k for k in tf.function(plain.train_step)(batch(6))}


def test_config_rules_and_paper_preset():
    assert CGANConfig().lambda_ms == 0.0
    with pytest.raises(ConfigError, match="lambda_ms must be >= 0"):
        CGANConfig(lambda_ms=-1.0).validate()
    paper = load_config(os.path.join(PRESETS, "cgan_paper.yaml"))
    assert paper.lambda_ms == 0.0 and "lambda_ms" not in paper.to_dict()
