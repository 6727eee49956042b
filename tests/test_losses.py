"""Loss terms of paper 000 (Eq. 1–5) against hand computations in numpy."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import numpy as np
import pytest

tf = pytest.importorskip("tensorflow")

from caae_tf import losses as L


def np_sigmoid(x):
    return 1.0 / (1.0 + np.exp(-np.asarray(x, np.float64)))


def np_bce(target, logits):
    p = np_sigmoid(logits)
    return -(target * np.log(p) + (1 - target) * np.log(1 - p))


@pytest.fixture
def rng():
    return np.random.default_rng(3)


def test_reconstruction_loss_is_mean_absolute_error(rng):
    x = rng.uniform(-1, 1, (3, 4, 4, 3)).astype(np.float32)
    x_gen = rng.uniform(-1, 1, (3, 4, 4, 3)).astype(np.float32)
    expected = np.mean(np.abs(x - x_gen))
    assert float(L.reconstruction_loss(x, x_gen)) == pytest.approx(expected, rel=1e-6)
    assert float(L.reconstruction_loss(x, x)) == 0.0


def test_identity_loss_sums_layerwise_l1(rng):
    real = [rng.normal(size=(2, 8, 8, 4)).astype(np.float32), rng.normal(size=(2, 2, 2, 16)).astype(np.float32)]
    gen = [rng.normal(size=a.shape).astype(np.float32) for a in real]
    expected = sum(np.mean(np.abs(a - b)) for a, b in zip(real, gen))
    assert float(L.identity_loss(real, gen)) == pytest.approx(expected, rel=1e-5)
    # bf16 activations (mixed precision) are accepted and reduced in float32
    got = L.identity_loss([tf.cast(a, tf.bfloat16) for a in real], [tf.cast(b, tf.bfloat16) for b in gen])
    assert got.dtype == tf.float32
    assert float(got) == pytest.approx(expected, rel=2e-2)
    with pytest.raises(ValueError):
        L.identity_loss(real, gen[:1])


def test_discriminator_losses_match_eq3_eq4(rng):
    real = rng.normal(size=(5, 1)).astype(np.float32) * 3
    fake = rng.normal(size=(5, 1)).astype(np.float32) * 3
    # Eq. (3)/(4): max_D E log D(real) + E log(1 - D(fake))  <=>  min_D -(...)
    expected = -(np.mean(np.log(np_sigmoid(real))) + np.mean(np.log(1 - np_sigmoid(fake))))
    assert float(L.latent_discriminator_loss(real, fake)) == pytest.approx(expected, rel=1e-5)
    assert float(L.image_discriminator_loss(real, fake)) == pytest.approx(expected, rel=1e-5)
    # non-saturating E / G terms: -E log D(fake)
    ns = -np.mean(np.log(np_sigmoid(fake)))
    assert float(L.encoder_adversarial_loss(fake)) == pytest.approx(ns, rel=1e-5)
    assert float(L.generator_adversarial_loss(fake)) == pytest.approx(ns, rel=1e-5)
    # one-sided label smoothing
    smooth = np.mean(np_bce(0.9, real)) + np.mean(np_bce(0.0, fake))
    assert float(L.discriminator_loss(real, fake, real_target=0.9)) == pytest.approx(smooth, rel=1e-5)


def test_bce_from_logits_is_finite_where_probabilities_saturate():
    logits = np.array([[200.0], [-200.0]], np.float32)
    assert np.isfinite(float(L.discriminator_loss(logits, logits)))
    assert float(L.generator_loss(np.array([[-200.0]], np.float32))) == pytest.approx(200.0, rel=1e-4)


def test_total_eg_loss_eq5_weights():
    total = L.total_eg_loss(2.0, 3.0, 5.0, 7.0)  # paper λ = (1, 1/3, 0.01, 0.01)
    assert float(total) == pytest.approx(2.0 + 1.0 + 0.05 + 0.07, rel=1e-6)
    assert float(L.total_eg_loss(1.0, 1.0, 1.0, 1.0, 0.5, 0.0, 2.0, 3.0)) == pytest.approx(5.5)


def test_mean_probability_and_reduction(rng):
    logits = rng.normal(size=(4, 1)).astype(np.float32)
    assert float(L.mean_probability(logits)) == pytest.approx(np.mean(np_sigmoid(logits)), rel=1e-6)
    per = np.arange(6, dtype=np.float32).reshape(3, 2)
    assert float(L.mean_over_global_batch(per)) == pytest.approx(2.5)


def test_mean_over_global_batch_divides_by_global_batch_under_two_replicas():
    """Under MirroredStrategy with 2 replicas, each replica divides its sum by the global batch (2·B)."""
    code = textwrap.dedent("""
        import os; os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"
        import tensorflow as tf
        cpu = tf.config.list_physical_devices("CPU")[0]
        tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
        from caae_tf.losses import mean_over_global_batch
        s = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
        per_replica = s.experimental_distribute_values_from_function(
            lambda ctx: tf.constant([1.0, 3.0]) * float(ctx.replica_id_in_sync_group + 1))
        out = s.run(mean_over_global_batch, args=(per_replica,))
        total = s.reduce(tf.distribute.ReduceOp.SUM, out, axis=None)
        print(float(total))
    """)
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=900)
    assert res.returncode == 0, res.stderr[-2000:]
    # replica 0: (1+3)/4 = 1, replica 1: (2+6)/4 = 2 → the global mean of [1,3,2,6] = 3
    assert float(res.stdout.strip().splitlines()[-1]) == pytest.approx(3.0)
