"""The "skip" generator for the cGAN (``g_skip_rgb``, beyond paper 001; StyleGAN2 §4): known values of the
summed RGB path on a tiny G, training, the config key, and the SavedModel export from a TF-only process."""

from __future__ import annotations

import os

import numpy as np
import pytest
import yaml

from caae_tf.config import CGANConfig, load_config

tf = pytest.importorskip("tensorflow")

from caae_tf.models import cgan as C  # noqa: E402

from test_cgan_conditional_bn import PRESETS, export_round_trip  # noqa: E402
from test_cgan_model import _float32_policy, batch, tiny_model  # noqa: E402,F401 (the fixture is autouse here too)

HERE = os.path.dirname(os.path.abspath(__file__))
ARGS = dict(image_size=32, z_dim=8, g_filters=[16, 8, 8], upsample="resize")


def _pair():
    """A skip G and a plain G with the same weights everywhere the plain one has them."""
    plain = C.CGANGenerator(**ARGS, name="G")
    skip = C.CGANGenerator(**ARGS, skip_rgb=True, name="G")
    plain.build()
    skip.build()
    rng = np.random.default_rng(0)
    by_path = {w.path: w for w in skip.weights}
    for w in plain.weights:
        if "kernel" in w.path:  # He-scale kernels: O(1) pre-activations, so the outputs are not all ~0
            fan_in = np.prod(w.shape[:-1])
            w.assign(rng.normal(0, np.sqrt(2 / fan_in), w.shape).astype(np.float32) * 0.3)
        by_path[w.path].assign(w)
    return plain, skip


def test_zero_skip_path_is_the_plain_generator_and_a_bias_is_a_constant_offset():
    plain, skip = _pair()
    layers = skip.skip_to_rgb
    assert [tuple(layer.kernel.shape) for layer in layers] == [(1, 1, w, 3) for w in skip.widths]
    assert len(skip.trainable_weights) == len(plain.trainable_weights) + 2 * len(skip.widths)
    for layer in layers:
        layer.kernel.assign(tf.zeros_like(layer.kernel))
        layer.bias.assign(tf.zeros_like(layer.bias))
    z, v = tf.random.normal([3, 8], seed=1), tf.one_hot([0, 2, 5], 6)
    ref = plain((z, v), training=False).numpy()
    assert np.abs(ref).max() > 0.01
    np.testing.assert_allclose(skip((z, v), training=False).numpy(), ref, atol=1e-6)
    # a bias at the coarsest scale (4×4) is bilinearly upsampled to a constant offset before tanh
    offset = np.array([0.1, -0.2, 0.3], np.float32)
    layers[0].bias.assign(offset)
    out = skip((z, v), training=False).numpy()
    np.testing.assert_allclose(np.arctanh(out) - np.arctanh(ref), np.broadcast_to(offset, out.shape), atol=2e-4)
    # a kernel at the coarsest scale adds a smooth image: its row-to-row steps are far smaller than its range
    layers[0].bias.assign(np.zeros(3, np.float32))
    layers[0].kernel.assign(tf.random.normal(layers[0].kernel.shape, seed=3))
    diff = np.arctanh(skip((z, v), training=False).numpy()) - np.arctanh(ref)
    assert np.ptp(diff) > 0.1 and np.abs(np.diff(diff, axis=1)).max() < 0.25 * np.ptp(diff)


def test_skip_generator_trains_its_rgb_path_and_ema_mirrors_it():
    m = tiny_model(g_skip_rgb=True, g_upsample="resize", g_ema_decay=0.9)
    assert m.G.skip_rgb and m.G_ema.skip_rgb and not tiny_model().G.skip_rgb
    before = [layer.kernel.numpy().copy() for layer in m.G.skip_to_rgb]
    out = {k: float(t) for k, t in tf.function(m.train_step)(batch(4)).items()}
    assert all(np.isfinite(list(out.values())))
    assert all(np.abs(layer.kernel.numpy() - b).max() > 0 for layer, b in zip(m.G.skip_to_rgb, before))
    assert [w.path.split("/", 2)[-1] for w in m.G.weights] == [w.path.split("/", 2)[-1] for w in m.G_ema.weights]
    assert C.CGANGenerator(**m.G.get_config()).skip_rgb


def test_key_is_off_in_the_paper_preset_and_left_out_of_resolved_configs():
    cfg = load_config(os.path.join(PRESETS, "cgan_paper.yaml"))
    assert cfg.g_skip_rgb is False and "g_skip_rgb" not in cfg.to_dict()
    with open(os.path.join(HERE, "data", "cgan_paper_resolved.yaml"), encoding="utf-8") as fh:
        assert yaml.safe_dump(cfg.to_dict(), sort_keys=False) == fh.read()
    assert CGANConfig().replace("g_skip_rgb", True).to_dict()["g_skip_rgb"] is True


def test_saved_model_round_trips_with_skip_rgb(tmp_path):
    from _train_helpers import tiny_cgan_model

    model = tiny_cgan_model(0, z_dim=8, g_skip_rgb=True, g_upsample="resize")
    rng = np.random.default_rng(0)
    for layer in model.G.skip_to_rgb:  # a skip path that visibly changes the image
        layer.kernel.assign(rng.normal(0, 0.5, layer.kernel.shape).astype(np.float32))
        layer.bias.assign(rng.normal(0, 0.2, 3).astype(np.float32))
    export_round_trip(model, tmp_path, "g_skip_rgb", rng)
