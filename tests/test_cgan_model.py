"""Conditional DCGAN of paper 001 (caae_tf.models.cgan): layer plans, shapes, conditioning, train_step."""

from __future__ import annotations

import numpy as np
import pytest

from caae_tf.config import CGANConfig, ConfigError

tf = pytest.importorskip("tensorflow")
import keras

from caae_tf.models import cgan as C


def tiny_config(**kw) -> CGANConfig:
    base = dict(image_size=64, z_dim=8, g_filters=[32, 16, 8, 8], d_filters=[8, 16, 16, 32], batch_size=4, seed=3)
    base.update(kw)
    return CGANConfig(**base)


def tiny_model(**kw) -> C.CGAN:
    keras.utils.set_random_seed(0)
    model = C.CGAN(tiny_config(**kw))
    model.build_optimizers()
    model.build_all(batch(4))
    return model


def amplify(model: C.CGAN, seed: int = 0) -> C.CGAN:
    """Re-draw G's kernels He-normal so an *untrained* G (BN in inference mode) gives O(1) outputs instead
    of the ~1e-6 that DCGAN's N(0, 0.02) init produces; makes pixel-level comparisons meaningful."""
    rng = np.random.default_rng(seed)
    for var in model.G.trainable_variables:
        if "kernel" in var.path:
            shape = var.shape
            fan_in = int(np.prod(shape[:-2])) * int(shape[-1]) if len(shape) == 4 else int(shape[0])
            var.assign(rng.normal(0, np.sqrt(2.0 / fan_in), shape).astype(np.float32))
    return model


def batch(n: int = 4, size: int = 64, emotions=None, seed: int = 0) -> dict:
    rng = np.random.default_rng(seed)
    e = np.arange(n) % 6 if emotions is None else np.asarray(emotions)
    return {
        "image": tf.constant(rng.uniform(-1, 1, (n, size, size, 3)).astype(np.float32)),
        "emotion": tf.constant(e.astype(np.int32)),
        "va": tf.zeros([n, 2]),
    }


@pytest.fixture(autouse=True)
def _float32_policy():
    keras.mixed_precision.set_global_policy("float32")
    yield
    keras.mixed_precision.set_global_policy("float32")


# ------------------------------------------------------------------------------------ layer plans

def test_layer_plan_follows_image_size():
    assert C.num_upsamplings(256) == 6 and C.num_upsamplings(64) == 4 and C.num_upsamplings(8) == 1
    paper_g, paper_d = CGANConfig().g_filters, CGANConfig().d_filters
    assert C.generator_widths(256, paper_g) == [1024, 512, 256, 128, 64, 32]
    assert C.generator_widths(128, paper_g) == [512, 256, 128, 64, 32]
    assert C.generator_widths(64, paper_g) == [256, 128, 64, 32]  # last k: widths shrink toward the output
    assert C.discriminator_widths(64, paper_d) == [32, 64, 128, 256]  # first k: widths grow from the input
    for bad in (96, 100, 4, 0):
        with pytest.raises(ConfigError, match="4·2\\^n"):
            C.num_upsamplings(bad)
    with pytest.raises(ConfigError, match="g_filters needs at least 7"):
        C.generator_widths(512, paper_g)
    with pytest.raises(ConfigError, match="d_filters"):
        C.discriminator_widths(512, paper_d)


def test_shapes_and_dtypes_at_64():
    m = tiny_model()
    z = tf.random.normal([3, 8])
    v = tf.one_hot([0, 3, 5], 6)
    x = m.generate(z, v)
    assert x.shape == (3, 64, 64, 3) and x.dtype == tf.float32
    assert float(tf.reduce_min(x)) >= -1.0 and float(tf.reduce_max(x)) <= 1.0
    logits = m.D((x, v), training=False)
    assert logits.shape == (3, 1) and logits.dtype == tf.float32
    # call() takes one dict (SavedModel-friendly) and equals generate()
    np.testing.assert_allclose(m({"z": z, "emotion_weights": v}).numpy(), x.numpy(), atol=1e-6)
    # G: Dense + BN, 3 hidden deconvs (+BN), RGB deconv; D: 4 convs, 3 BNs, logit
    assert [type(layer).__name__ for layer in m.G.up_convs] == ["Conv2DTranspose"] * 3
    assert [c.filters for c in m.D.convs] == [8, 16, 16, 32]
    assert m.D.bns[0] is None and all(b is not None for b in m.D.bns[1:])


@pytest.mark.parametrize("size", [128, 256])
def test_paper_filters_build_at_128_and_256(size):
    keras.utils.set_random_seed(0)
    cfg = CGANConfig(image_size=size)  # the paper preset's widths
    g = C.CGANGenerator(size, cfg.z_dim, 6, cfg.g_filters, cfg.kernel_size)
    d = C.CGANDiscriminator(size, 6, cfg.d_filters, cfg.kernel_size)
    v = tf.one_hot([2], 6)
    x = g((tf.zeros([1, cfg.z_dim]), v))
    assert x.shape == (1, size, size, 3)
    assert d((x, v)).shape == (1, 1)
    n_up = C.num_upsamplings(size)
    assert len(g.up_convs) == n_up - 1 and len(d.convs) == n_up
    assert g.fc.units == 4 * 4 * C.generator_widths(size, cfg.g_filters)[0]


def test_conditioning_reaches_generator_and_discriminator():
    m = amplify(tiny_model())
    z = tf.random.normal([1, 8], seed=1)
    outs = [m.generate(z, tf.one_hot([k], 6)).numpy() for k in range(6)]
    assert np.abs(outs[0]).max() > 0.1  # amplified: visible images, not ~0
    for a in range(6):
        for b in range(a + 1, 6):
            assert np.abs(outs[a] - outs[b]).max() > 1e-2, (a, b)
    # an interpolated v gives a third, distinct output
    mid = m.generate(z, tf.constant([[0.5, 0, 0, 0, 0, 0.5]])).numpy()
    assert np.abs(mid - outs[0]).max() > 1e-3 and np.abs(mid - outs[5]).max() > 1e-3
    # the same v gives the same image (deterministic inference)
    np.testing.assert_array_equal(m.generate(z, tf.one_hot([3], 6)).numpy(), outs[3])

    x = tf.random.uniform([1, 64, 64, 3], -1, 1, seed=2)
    logits = [float(m.D((x, tf.one_hot([k], 6)), training=False)[0, 0]) for k in range(6)]
    assert len({round(v, 6) for v in logits}) == 6
    # without re-injection v still reaches D through the input channels
    d2 = C.CGANDiscriminator(64, 6, [8, 16, 16, 32], 5, label_reinject=False)
    l2 = [float(d2((x, tf.one_hot([k], 6)))[0, 0]) for k in (0, 5)]
    assert abs(l2[0] - l2[1]) > 1e-6
    assert m.D.convs[0].kernel.shape[2] == 3 + 6  # image channels + tiled v
    assert m.D.convs[1].kernel.shape[2] == 8 + 6  # first block's features + tiled v again


# ------------------------------------------------------------------------------------ training

def _snapshot(variables):
    return [v.numpy().copy() for v in variables]


def test_train_step_in_tf_function_updates_both_networks():
    m = tiny_model()
    g0, d0 = _snapshot(m.G.trainable_variables), _snapshot(m.D.trainable_variables)
    step = tf.function(m.train_step)
    out = step(batch(4))
    assert set(out) == {"g_loss", "d_loss", "d_loss_real", "d_loss_fake", "d_real", "d_fake"}
    vals = {k: float(v) for k, v in out.items()}
    assert all(v.dtype == tf.float32 and v.shape == () for v in out.values())
    assert all(np.isfinite(list(vals.values())))
    assert 0 < vals["d_real"] < 1 and 0 < vals["d_fake"] < 1
    assert vals["d_loss"] == pytest.approx(vals["d_loss_real"] + vals["d_loss_fake"], rel=1e-5)
    # at initialisation D is near chance: BCE ≈ log 2 per term
    assert 0.2 < vals["g_loss"] < 3 and 0.5 < vals["d_loss"] < 4
    changed_g = [np.abs(a - b.numpy()).max() > 0 for a, b in zip(g0, m.G.trainable_variables)]
    changed_d = [np.abs(a - b.numpy()).max() > 0 for a, b in zip(d0, m.D.trainable_variables)]
    assert all(changed_g) and all(changed_d)
    out2 = step(batch(4, seed=1))  # second call reuses the trace, still finite
    assert all(np.isfinite(float(v)) for v in out2.values())


def test_rows_without_emotion_are_masked_out():
    m = tiny_model()
    g0, d0 = _snapshot(m.G.trainable_variables), _snapshot(m.D.trainable_variables)
    out = tf.function(m.train_step)(batch(4, emotions=[-1, -1, -1, -1]))
    assert float(out["d_loss"]) == 0.0 and float(out["g_loss"]) == 0.0
    # zero gradients → Adam leaves the weights where they were
    for a, b in zip(g0 + d0, m.G.trainable_variables + m.D.trainable_variables):
        np.testing.assert_array_equal(a, b.numpy())


def test_label_smoothing_changes_real_target():
    m = tiny_model(label_smoothing=0.0)
    ms = tiny_model(label_smoothing=0.3)
    b = batch(4)
    r0 = float(m.train_step(b)["d_loss_real"])  # eager: train_step also works outside tf.function
    r1 = float(ms.train_step(b)["d_loss_real"])
    assert r0 != pytest.approx(r1, abs=1e-4)  # same weights/noise (same seeds), different target


def _weights_checkpoint(model: C.CGAN) -> "tf.train.Checkpoint":
    """Checkpoint of the flat ``model.weights`` list plus optimizer variables (the driver's layout)."""
    def vmap(variables):
        return {f"v{i:04d}": getattr(v, "value", v) for i, v in enumerate(variables)}

    return tf.train.Checkpoint(
        model=vmap(model.weights), g=vmap(model.g_optimizer.variables), d=vmap(model.d_optimizer.variables)
    )


def test_noise_counter_is_a_weight_so_resume_is_reproducible(tmp_path):
    m = tiny_model()
    assert any(w is m.noise_step for w in m.weights) and not m.noise_step.trainable
    step = tf.function(m.train_step)
    step(batch(4))
    assert int(m.noise_step.numpy()) == 1
    ckpt = _weights_checkpoint(m)
    path = ckpt.save(str(tmp_path / "ckpt"))
    saved = _snapshot(m.weights)
    a = {k: float(v) for k, v in step(batch(4, seed=5)).items()}
    z_next = m.draw_noise(2).numpy()
    assert any(np.abs(x - w.numpy()).max() > 0 for x, w in zip(saved, m.weights))
    ckpt.restore(path).assert_consumed()
    for x, w in zip(saved, m.weights):
        np.testing.assert_array_equal(x, w.numpy())
    b = {k: float(v) for k, v in step(batch(4, seed=5)).items()}
    for k in a:
        assert a[k] == pytest.approx(b[k], rel=1e-6, abs=1e-7), k
    np.testing.assert_array_equal(m.draw_noise(2).numpy(), z_next)

    # a fresh model (different init) restored from the checkpoint continues identically
    keras.utils.set_random_seed(123)
    fresh2 = C.CGAN(tiny_config())
    fresh2.build_optimizers()
    fresh2.build_all()
    _weights_checkpoint(fresh2).restore(path).assert_consumed()
    c = {k: float(v) for k, v in tf.function(fresh2.train_step)(batch(4, seed=5)).items()}
    for k in a:
        assert a[k] == pytest.approx(c[k], rel=1e-5, abs=1e-6), k


def test_mixed_bfloat16_outputs_stay_float32():
    keras.mixed_precision.set_global_policy("mixed_bfloat16")
    m = tiny_model()
    assert m.G.fc.compute_dtype == "bfloat16"
    x = m.generate(tf.random.normal([2, 8]), tf.one_hot([1, 2], 6))
    assert x.dtype == tf.float32
    assert m.D((x, tf.one_hot([1, 2], 6))).dtype == tf.float32
    out = tf.function(m.train_step)(batch(4))
    assert all(v.dtype == tf.float32 and np.isfinite(float(v)) for v in out.values())
    assert all(v.dtype == "float32" for v in m.G.trainable_variables)


def test_optimizers_follow_config_and_loss_scale_under_fp16():
    m = C.CGAN(tiny_config())
    opts = m.build_optimizers()
    assert set(opts) == {"g_optimizer", "d_optimizer"}
    assert opts["g_optimizer"] is m.g_optimizer and opts["d_optimizer"] is m.d_optimizer
    assert float(m.g_optimizer.learning_rate) == pytest.approx(1e-4)
    assert m.g_optimizer.beta_1 == 0.5 and m.g_optimizer.beta_2 == 0.999
    keras.mixed_precision.set_global_policy("mixed_float16")
    opts16 = C.CGAN(tiny_config()).build_optimizers()
    assert all(isinstance(o, keras.mixed_precision.LossScaleOptimizer) for o in opts16.values())


def test_config_round_trip_and_sample_grids():
    m = tiny_model()
    cfg = m.get_config()
    assert cfg["model"] == "cgan" and cfg["image_size"] == 64 and cfg["g_filters"] == [32, 16, 8, 8]
    again = C.CGAN.from_config(cfg)
    assert again.cfg == m.cfg
    g_cfg = m.G.get_config()
    assert C.CGANGenerator(**g_cfg).widths == m.G.widths
    assert C.CGANDiscriminator(**m.D.get_config()).widths == m.D.widths

    grids = m.sample_images(batch(4))
    s, pad = 64, 2
    assert grids["samples"].dtype == np.uint8
    assert grids["samples"].shape == (6 * s + 7 * pad, 8 * s + 9 * pad, 3)  # 6 emotions × 8 fixed z
    assert grids["interpolation"].shape == (5 * s + 6 * pad, 11 * s + 12 * pad, 3)  # 5 rows × 11 steps
    # fixed noise → identical grids on a second call
    np.testing.assert_array_equal(m.sample_images(None)["samples"], grids["samples"])
    # row r of the interpolation grid starts at Neutral for the first fixed z: all rows share column 0
    first = [grids["interpolation"][pad + r * (s + pad): pad + r * (s + pad) + s, pad: pad + s] for r in range(5)]
    for img in first[1:]:
        assert np.abs(img.astype(int) - first[0].astype(int)).max() <= 1
    # and equals the Neutral sample of the first column of the samples grid
    neutral = grids["samples"][pad: pad + s, pad: pad + s]
    assert np.abs(neutral.astype(int) - first[0].astype(int)).max() <= 1
