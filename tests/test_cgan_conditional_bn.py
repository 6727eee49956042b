"""Class-conditional BatchNorm in the cGAN's G (``g_conditional_bn``, beyond paper 001; de Vries et al. 2017):
known values of :class:`caae_tf.models.cgan_networks.ConditionalBatchNorm` on small tensors, G built with it,
the EMA copy, and the SavedModel export (serving_default, interpolate, generate_va) from a TF-only process."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import yaml

from caae_tf.config import CGANConfig, load_config

tf = pytest.importorskip("tensorflow")
import keras  # noqa: E402

from caae_tf.models import cgan as C  # noqa: E402
from caae_tf.models.cgan_networks import ConditionalBatchNorm  # noqa: E402

from test_cgan_model import _float32_policy, batch, tiny_model  # noqa: E402,F401 (the fixture is autouse here too)

HERE = os.path.dirname(os.path.abspath(__file__))
PRESETS = os.path.join(os.path.dirname(HERE), "caae_tf", "presets")

X = np.random.default_rng(0).normal(1.5, 2.0, size=(4, 3, 3, 2)).astype(np.float32)
EYE = np.eye(3, dtype=np.float32)


def _layer(gamma=None, beta=None) -> ConditionalBatchNorm:
    layer = ConditionalBatchNorm(name="cbn")
    layer.build((X.shape, (None, 3)))
    if gamma is not None:
        layer.gamma_embedding.assign(np.asarray(gamma, np.float32))
    if beta is not None:
        layer.beta_embedding.assign(np.asarray(beta, np.float32))
    return layer


def _normalised(x):  # training-mode BN by hand: batch statistics over N, H, W; ε = 1e-5
    mean, var = x.mean((0, 1, 2)), x.var((0, 1, 2))
    return (x - mean) / np.sqrt(var + 1e-5)


def test_unit_gamma_zero_beta_is_plain_batch_norm():
    layer = _layer()  # W_γ = 1, W_β = 0 (gamma_stddev 0)
    plain = keras.layers.BatchNormalization(momentum=0.9, epsilon=1e-5)
    mixed = EYE[[2, 2, 2, 2]] * 0.25 + EYE[[0, 1, 1, 0]] * 0.75
    for v in (EYE[[0, 1, 2, 0]], np.full((4, 3), 1 / 3, np.float32), mixed):
        out = layer((X, v), training=True).numpy()  # one call per step on each layer: same moving statistics
        np.testing.assert_allclose(out, plain(X, training=True).numpy(), rtol=1e-5, atol=1e-5)
        np.testing.assert_allclose(out, _normalised(X), rtol=1e-4, atol=1e-5)
    # the moving statistics follow the batch exactly as plain BN's do (momentum 0.9), and inference uses them
    np.testing.assert_allclose(layer.norm.moving_mean.numpy(), plain.moving_mean.numpy(), rtol=1e-6)
    np.testing.assert_allclose(layer.norm.moving_variance.numpy(), plain.moving_variance.numpy(), rtol=1e-6)
    np.testing.assert_allclose(layer((X, EYE[[1, 1, 1, 1]]), training=False).numpy(), plain(X, training=False).numpy(),
                               rtol=1e-5, atol=1e-5)


def test_label_changes_only_the_affine_part_and_is_linear_in_label_space():
    gamma = [[1.0, 2.0], [0.5, -1.0], [3.0, 0.0]]  # [classes, channels]
    beta = [[0.0, 1.0], [-2.0, 0.5], [0.25, 0.0]]
    layer = _layer(gamma, beta)
    h = _normalised(X)
    v = EYE[[0, 1, 2, 1]]
    out = layer((X, v), training=True).numpy()
    expected = h * np.asarray(gamma)[[0, 1, 2, 1]][:, None, None, :] + np.asarray(beta)[[0, 1, 2, 1]][:, None, None, :]
    np.testing.assert_allclose(out, expected, rtol=1e-4, atol=1e-4)
    # e.g. row 1 (class 1), channel 1: γ = -1, β = 0.5
    np.testing.assert_allclose(out[1, ..., 1], -h[1, ..., 1] + 0.5, rtol=1e-4, atol=1e-4)
    # paper 001's interpolation v = (1-α)·e_0 + α·e_2 mixes (γ, β) linearly: the output is the same mix
    a = 0.3
    mix = layer((X, (1 - a) * EYE[[0] * 4] + a * EYE[[2] * 4]), training=True).numpy()
    ends = [layer((X, EYE[[k] * 4]), training=True).numpy() for k in (0, 2)]
    np.testing.assert_allclose(mix, (1 - a) * ends[0] + a * ends[1], rtol=1e-4, atol=1e-4)
    # the normalisation itself does not depend on v: with γ = 1 for every class only β differs
    layer.gamma_embedding.assign(np.ones((3, 2), np.float32))
    d = layer((X, EYE[[1] * 4]), training=True).numpy() - layer((X, EYE[[0] * 4]), training=True).numpy()
    np.testing.assert_allclose(d, np.broadcast_to(np.asarray(beta[1]) - np.asarray(beta[0]), d.shape), atol=1e-5)


def test_layer_config_round_trip_and_dcgan_gamma_init():
    keras.utils.set_random_seed(0)
    layer = ConditionalBatchNorm(gamma_stddev=0.02, name="x")
    layer.build(((None, 4, 4, 16), (None, 6)))
    g = layer.gamma_embedding.numpy()
    assert g.shape == (6, 16) and abs(g.mean() - 1) < 0.02 and 0.005 < g.std() < 0.05
    assert not layer.beta_embedding.numpy().any()
    clone = ConditionalBatchNorm.from_config(layer.get_config())
    assert (clone.gamma_stddev, clone.momentum, clone.epsilon, clone.name) == (0.02, 0.9, 1e-5, "x")


def test_generator_with_conditional_bn_trains_and_ema_copies_it():
    m = tiny_model(g_conditional_bn=True, g_ema_decay=0.99, g_upsample="resize")
    bns = [m.G.fc_bn, *m.G.up_bns]
    assert all(isinstance(bn, ConditionalBatchNorm) for bn in bns) and len(bns) == len(m.G.widths)
    assert [bn.gamma_embedding.shape for bn in bns] == [(6, w) for w in m.G.widths]
    assert not any(isinstance(bn, ConditionalBatchNorm) for bn in tiny_model().G._flatten_layers())
    cfg = m.G.get_config()
    assert cfg["conditional_bn"] is True and C.CGANGenerator(**cfg).conditional_bn
    out = {k: float(v) for k, v in tf.function(m.train_step)(batch(4)).items()}
    assert all(np.isfinite(list(out.values())))
    # G's label embeddings are trained (the classes of the batch moved), and G_ema holds their average
    trained = [w for w in m.G.trainable_weights if "gamma_embedding" in w.path or "beta_embedding" in w.path]
    assert len(trained) == 2 * len(bns)
    assert any(np.abs(w.numpy()).max() > 0 for w in trained if "beta" in w.path)
    names = [w.path.split("/", 2)[-1] for w in m.G.weights]
    assert names == [w.path.split("/", 2)[-1] for w in m.G_ema.weights]
    # the label reaches G through the BN affine part: with the input concat's label columns zeroed,
    # different labels still give different images
    m.G.fc.kernel.assign(tf.concat([m.G.fc.kernel[:8], tf.zeros_like(m.G.fc.kernel[8:])], 0))
    z = tf.random.normal([2, 8], seed=1)
    for bn in bns:
        bn.beta_embedding.assign(tf.random.normal(bn.beta_embedding.shape, seed=2))
    a, b = (m.G((z, tf.one_hot([k, k], 6)), training=False).numpy() for k in (1, 5))
    assert np.abs(a - b).max() > 1e-3


def test_key_is_off_in_the_paper_preset_and_left_out_of_resolved_configs():
    cfg = load_config(os.path.join(PRESETS, "cgan_paper.yaml"))
    assert cfg.g_conditional_bn is False and "g_conditional_bn" not in cfg.to_dict()
    with open(os.path.join(HERE, "data", "cgan_paper_resolved.yaml"), encoding="utf-8") as fh:
        assert yaml.safe_dump(cfg.to_dict(), sort_keys=False) == fh.read()
    assert CGANConfig().replace("g_conditional_bn", True).to_dict()["g_conditional_bn"] is True


CHILD = textwrap.dedent(
    """
    import json, sys
    import numpy as np
    import tensorflow as tf

    d = sys.argv[1]
    m = tf.saved_model.load(d + "/sm")
    z, w = tf.constant(np.load(d + "/z.npy")), tf.constant(np.load(d + "/w.npy"))
    e, a = tf.constant(np.load(d + "/e.npy")), tf.constant(np.load(d + "/a.npy"))
    va = tf.constant(np.load(d + "/va.npy"))
    np.save(d + "/serve.npy", m.signatures["serving_default"](z=z, emotion_weights=w)["images"].numpy())
    np.save(d + "/interp.npy", m.signatures["interpolate"](z=z, emotion=e, alpha=a)["images"].numpy())
    out = m.signatures["generate_va"](z=z[:len(va)], valence_arousal=va)
    np.savez(d + "/va_out.npz", **{k: v.numpy() for k, v in out.items()})
    try:
        m.signatures["generate_va"](z=z[:len(va)], valence_arousal=va + 1.5)
        err = None
    except Exception as exc:
        err = type(exc).__name__ + ": " + str(exc)
    print("RESULT" + json.dumps({"signatures": sorted(m.signatures.keys()), "error": err,
                                 "caae_tf_imported": any(k.startswith("caae_tf") for k in sys.modules)}))
    """
)


def export_round_trip(model, tmp_path, key: str, rng) -> None:
    """Export ``model`` (whose config has ``key`` on) with calibration tables, run its serving_default,
    interpolate and generate_va signatures in a TF-only subprocess (:data:`CHILD`), and check them against the
    model: the same images to ±1 grey level, the label reaching the exported G, the tables' inversion, and
    the clear error for a target outside [-1, 1]²."""
    from caae_tf import calibration as K
    from caae_tf.export.cgan import export_cgan, read_export_metadata
    from caae_tf.images import to_uint8

    from test_calibration import bent_va, measure_of

    tables = K.build_tables(measure_of(bent_va), alpha_steps=6, beta_steps=3, meta={"test": True})
    export_cgan(model, tmp_path / "sm", calibration=tables)
    exported = read_export_metadata(tmp_path / "sm")["config"][key]
    assert exported and exported == getattr(model.cfg, key)
    n = 6
    z = rng.standard_normal((n, 8)).astype(np.float32)
    e = np.array([1, 2, 3, 4, 5, 5], np.int32)
    a = np.array([0.0, 0.2, 0.5, 0.8, 1.0, 0.35], np.float32)
    w = ((1 - a)[:, None] * np.eye(6)[0] + a[:, None] * np.eye(6)[e]).astype(np.float32)
    va = np.array([[0.3, 0.1], [-0.5, 0.3], [-0.12, -0.08]], np.float32)
    for name, arr in {"z": z, "w": w, "e": e, "a": a, "va": va}.items():
        np.save(tmp_path / f"{name}.npy", arr)
    proc = subprocess.run([sys.executable, "-c", CHILD, str(tmp_path)], capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stderr[-3000:]
    res = json.loads([ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT")][-1][len("RESULT"):])
    assert res["caae_tf_imported"] is False
    assert res["signatures"] == ["generate_va", "interpolate", "serving_default", "va_to_weights"]
    ref = to_uint8(model.generate(z, w).numpy())
    serve = np.load(tmp_path / "serve.npy")
    assert np.abs(serve.astype(int) - ref).max() <= 1 and len(np.unique(serve)) > 50
    assert np.abs(np.load(tmp_path / "interp.npy").astype(int) - serve).max() <= 1
    assert np.abs(serve[4].astype(int) - serve[0]).max() > 2  # the label reaches the exported G
    out = np.load(tmp_path / "va_out.npz")
    np.testing.assert_allclose(out["emotion_weights"], K.invert(tables, va)["emotion_weights"], atol=1e-5)
    ref_va = to_uint8(model.generate(z[:len(va)], out["emotion_weights"]).numpy())
    assert np.abs(out["images"].astype(int) - ref_va).max() <= 1
    assert "valence_arousal must be finite and lie in [-1, 1]^2" in res["error"]


def test_saved_model_round_trips_with_conditional_bn(tmp_path):
    from _train_helpers import tiny_cgan_model

    model = tiny_cgan_model(0, z_dim=8, g_conditional_bn=True, g_upsample="resize")
    rng = np.random.default_rng(0)
    for bn in [model.G.fc_bn, *model.G.up_bns]:  # labels that visibly change the affine part
        bn.gamma_embedding.assign(rng.uniform(0.5, 1.5, bn.gamma_embedding.shape).astype(np.float32))
        bn.beta_embedding.assign(rng.normal(0, 0.5, bn.beta_embedding.shape).astype(np.float32))
    export_round_trip(model, tmp_path, "g_conditional_bn", rng)


def test_label_every_scale_tiles_v_before_every_upsampling():
    m = tiny_model(g_label_every_scale=True, g_upsample="resize")
    convs = [*(c.layers[1] for c in m.G.up_convs), m.G.to_rgb.layers[1]]
    # every upsampling conv sees its input width + the 6 label channels
    assert [int(c.kernel.shape[2]) for c in convs] == [w + 6 for w in m.G.widths]
    assert tiny_model(g_upsample="resize").G.to_rgb.layers[1].kernel.shape[2] == m.G.widths[-1]
    assert m.G.get_config()["label_every_scale"] is True
    assert "g_label_every_scale" not in load_config(os.path.join(PRESETS, "cgan_paper.yaml")).to_dict()
    assert all(np.isfinite(float(v)) for v in tf.function(m.train_step)(batch(4)).values())


def test_cosine_learning_rate_decay_for_the_cgan():
    m = tiny_model(lr_decay="cosine", steps=10, learning_rate=2e-4)
    lr = m.g_optimizer.learning_rate
    assert float(lr) == pytest.approx(2e-4)
    sched = m._learning_rate()
    assert float(sched(5)) == pytest.approx(1e-4, rel=1e-5) and float(sched(10)) == pytest.approx(0.0, abs=1e-12)
    assert float(tiny_model().d_optimizer.learning_rate) == pytest.approx(1e-4)  # constant by default
    assert "lr_decay" not in load_config(os.path.join(PRESETS, "cgan_paper.yaml")).to_dict()
    with pytest.raises(Exception, match="lr_decay"):
        CGANConfig().replace("lr_decay", "step")
