"""Class-conditional feature matching in G's loss (``lambda_fm``, beyond paper 001; Salimans et al. 2016 §3.1
taken per class): the loss against a NumPy reference, its class-conditional zero, masking and gradient, D's
``features`` output, the term in the train step, the config rules and the paper preset."""

from __future__ import annotations

import os

import numpy as np
import pytest

from caae_tf.config import CGANConfig, ConfigError, load_config

tf = pytest.importorskip("tensorflow")

from caae_tf.losses import class_feature_matching_loss  # noqa: E402
from test_cgan_conditional_bn import PRESETS  # noqa: E402
from test_cgan_model import _float32_policy, batch, tiny_model  # noqa: E402,F401 (the fixture is autouse here too)


def _reference(fake, real, labels, k, weights=None):
    fake, real = fake.reshape(len(fake), -1), real.reshape(len(real), -1)
    w = np.ones(len(labels)) if weights is None else np.asarray(weights, float)
    total, n = 0.0, 0.0
    for c in range(k):
        rows = (np.asarray(labels) == c) & (w > 0)
        if rows.any():
            d = real[rows].mean(0) - fake[rows].mean(0)
            total += rows.sum() * np.mean(d ** 2)
            n += rows.sum()
    return total / n


def test_loss_matches_a_numpy_reference_with_masked_rows():
    rng = np.random.default_rng(0)
    fake = rng.normal(size=(8, 2, 2, 3)).astype(np.float32)
    real = rng.normal(size=(8, 2, 2, 3)).astype(np.float32)
    labels = np.array([0, 0, 1, 2, 2, 2, -1, 5])
    weights = np.array([1, 1, 1, 1, 0, 1, 1, 1], np.float32)
    got = float(class_feature_matching_loss(fake, real, labels, 6, weights))
    assert got == pytest.approx(_reference(fake, real, labels, 6, weights), rel=1e-5)
    # row 6 (label -1) and row 4 (weight 0) do not count: changing them leaves the loss as it is
    fake2 = fake.copy()
    fake2[[4, 6]] += 10.0
    assert float(class_feature_matching_loss(fake2, real, labels, 6, weights)) == pytest.approx(got, rel=1e-5)


def test_zero_when_class_means_agree_and_positive_when_only_the_batch_mean_does():
    rng = np.random.default_rng(1)
    real = rng.normal(size=(6, 5)).astype(np.float32)
    labels = np.array([0, 0, 0, 1, 1, 1])
    # rows permuted within their class: the same class means
    same = real[[2, 0, 1, 5, 3, 4]]
    assert float(class_feature_matching_loss(same, real, labels, 2)) == pytest.approx(0.0, abs=1e-10)
    # the two classes' rows swapped: the batch mean is unchanged (unconditional feature matching would be 0),
    # the class means are not
    swapped = real[[3, 4, 5, 0, 1, 2]]
    assert np.allclose(swapped.mean(0), real.mean(0), atol=1e-6)
    assert float(class_feature_matching_loss(swapped, real, labels, 2)) > 0.1


def test_gradient_reaches_the_generated_side_only_and_lowers_the_loss():
    rng = np.random.default_rng(2)
    real = tf.Variable(rng.normal(size=(8, 4)).astype(np.float32))
    fake = tf.Variable(rng.normal(size=(8, 4)).astype(np.float32))
    labels = tf.constant([0, 1, 2, 3, 0, 1, 2, 3])
    with tf.GradientTape() as tape:
        loss = class_feature_matching_loss(fake, real, labels, 4)
    g_fake, g_real = tape.gradient(loss, [fake, real])
    assert g_real is None and float(tf.reduce_max(tf.abs(g_fake))) > 0
    fake.assign_sub(1.0 * g_fake)
    assert float(class_feature_matching_loss(fake, real, labels, 4)) < float(loss)


def test_discriminator_returns_its_last_features():
    m = tiny_model()
    out = m.D.outputs((batch(3)["image"], tf.one_hot([0, 1, 2], 6)), training=False)
    s = m.cfg.image_size // 16  # four stride-2 blocks
    assert out["features"].shape == (3, s * s * m.cfg.d_filters[-1]) and out["features"].dtype == tf.float32


def test_train_step_adds_lambda_times_the_term_for_g():
    b = batch(4, emotions=[0, 1, 1, 5])
    v = tf.one_hot(b["emotion"], 6)
    ref = tiny_model(lambda_fm=2.0)
    real_features = ref.D.outputs((b["image"], v), training=True)["features"]  # D before its update
    fake = ref.G((ref.draw_noise(4), v), training=True)  # train_step's first draw
    model = tiny_model(lambda_fm=2.0)
    out = {k: float(t) for k, t in tf.function(model.train_step)(b).items()}
    # G's side goes through the updated D; the real side is the D update's pass over the real batch
    want = float(class_feature_matching_loss(model.D.outputs((fake, v), training=True)["features"],
                                             real_features, b["emotion"], 6))
    assert out["g_loss_fm"] == pytest.approx(want, rel=1e-3) and want > 0
    plain = {k: float(t) for k, t in tf.function(tiny_model().train_step)(b).items()}
    assert "g_loss_fm" not in plain
    assert out["d_loss"] == pytest.approx(plain["d_loss"], rel=1e-5)  # D's update does not see the key
    assert out["g_loss"] - plain["g_loss"] == pytest.approx(2.0 * want, rel=1e-3, abs=1e-5)


def test_config_rules_and_paper_preset():
    with pytest.raises(ConfigError, match="lambda_fm must be >= 0"):
        CGANConfig().replace("lambda_fm", -1.0)
    assert CGANConfig().replace("lambda_fm", 5.0).to_dict()["lambda_fm"] == 5.0
    paper = load_config(os.path.join(PRESETS, "cgan_paper.yaml"))
    assert paper.lambda_fm == 0.0 and "lambda_fm" not in paper.to_dict()


# ------------------------------------------------------------------ lambda_va_match (frozen regressor R)

def _tiny_regressor(size: int = 32):
    import keras

    from caae_tf.models.regressors import VARegressorPair

    keras.utils.set_random_seed(1)
    net = VARegressorPair(width_multiplier=0.0625)
    net(tf.zeros([1, size, size, 3]))
    return net


def _with_regressor(net, size=None, **kw):
    """tiny_model, built with the frozen regressor ``net`` (None: without one)."""
    import keras

    from caae_tf.models import cgan as C
    from test_cgan_model import tiny_config

    keras.utils.set_random_seed(0)
    m = C.CGAN(tiny_config(**kw), va_net=net, va_input_size=size)
    m.build_optimizers()
    m.build_all(batch(4))
    return m


def test_va_match_reads_the_frozen_regressor_on_resized_images():
    net = _tiny_regressor(32)
    model = _with_regressor(net, 32, lambda_va_match=3.0, va_network="r")
    images = batch(4)["image"]
    want = net(tf.image.resize(images, (32, 32), antialias=True), training=False)
    got = model.read_va(images).numpy()
    np.testing.assert_allclose(got, np.concatenate([want["valence"], want["arousal"]], axis=1), rtol=1e-5)
    assert not net.trainable and not any(v is w for v in model.weights for w in net.weights)  # not in checkpoints


def test_train_step_adds_the_va_matching_term_and_r_stays_frozen():
    net = _tiny_regressor(64)
    before = [w.numpy().copy() for w in net.weights]
    b = batch(4, emotions=[0, 1, 1, 5])
    v = tf.one_hot(b["emotion"], 6)

    def make(**kw):
        return _with_regressor(net if kw else None, **kw)

    ref = make(lambda_va_match=3.0, va_network="r")
    fake = ref.G((ref.draw_noise(4), v), training=True)
    want = float(class_feature_matching_loss(ref.read_va(fake), ref.read_va(b["image"]), b["emotion"], 6))
    out = {k: float(t) for k, t in tf.function(make(lambda_va_match=3.0, va_network="r").train_step)(b).items()}
    assert out["g_loss_va_match"] == pytest.approx(want, rel=1e-3) and want > 0
    plain = {k: float(t) for k, t in tf.function(make().train_step)(b).items()}
    assert out["d_loss"] == pytest.approx(plain["d_loss"], rel=1e-5)
    assert out["g_loss"] - plain["g_loss"] == pytest.approx(3.0 * want, rel=1e-3, abs=1e-5)
    for w, w0 in zip(net.weights, before):
        np.testing.assert_array_equal(w.numpy(), w0)


def test_va_match_needs_a_regressor():
    with pytest.raises(ConfigError, match="lambda_va_match must be >= 0"):
        CGANConfig().replace("lambda_va_match", -1.0)
    model = tiny_model(lambda_va_match=1.0, va_network="somewhere")  # built without R
    with pytest.raises(Exception, match="needs the frozen regressor"):
        model.train_step(batch(4))
    paper = load_config(os.path.join(PRESETS, "cgan_paper.yaml"))
    assert paper.lambda_va_match == 0.0 and "va_network" not in paper.to_dict()


def test_build_model_loads_va_network_from_a_regressor_run(tmp_path):
    """serving.build_model gives the training model R from ``va_network`` (a train-regressor run dir) and
    names the directory when it is not one."""
    from caae_tf.errors import ModelError, TrainingError
    from caae_tf.serving import build_model
    from test_cgan_model import tiny_config

    with pytest.raises(TrainingError, match="needs a frozen regressor.*--set va_network=R"):
        build_model(tiny_config(lambda_va_match=1.0))
    with pytest.raises(ModelError, match="regressor run directory not found"):
        build_model(tiny_config(lambda_va_match=1.0, va_network=str(tmp_path / "missing")))
    # inference (generate / export) never needs R
    assert build_model(tiny_config(lambda_va_match=1.0, va_network=str(tmp_path / "missing")),
                       for_training=False)._va_net.value[0] is None


def test_regressor_features_are_what_the_outputs_read():
    """Table2CNN.features → out is the network's call; the pair concatenates both networks' features."""
    net = _tiny_regressor(32)
    x = batch(3, size=32)["image"]
    f = net.features(x)
    width = net.valence_net.features(x).shape[-1]
    assert f.shape == (3, 2 * width)
    np.testing.assert_allclose(net.valence_net.out(f[:, :width]).numpy(), net(x)["valence"].numpy(), rtol=1e-5)
    np.testing.assert_allclose(net.arousal_net.out(f[:, width:]).numpy(), net(x)["arousal"].numpy(), rtol=1e-5)


def test_train_step_matches_the_regressor_features_with_va_match_features():
    net = _tiny_regressor(64)
    b = batch(4, emotions=[0, 1, 1, 5])
    v = tf.one_hot(b["emotion"], 6)
    kw = dict(lambda_va_match=50.0, va_network="r", va_match_features=True)
    ref = _with_regressor(net, **kw)
    fake = ref.G((ref.draw_noise(4), v), training=True)
    want = float(class_feature_matching_loss(net.features(fake), net.features(b["image"]), b["emotion"], 6))
    out = {k: float(t) for k, t in tf.function(_with_regressor(net, **kw).train_step)(b).items()}
    assert out["g_loss_va_match"] == pytest.approx(want, rel=1e-3) and want > 0
    va_only = float(class_feature_matching_loss(ref.read_va(fake), ref.read_va(b["image"]), b["emotion"], 6))
    assert want != pytest.approx(va_only, rel=1e-2)  # the features, not the two outputs
