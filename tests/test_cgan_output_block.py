"""G's block at the output resolution (``g_output_block``, beyond paper 001): the layers and shapes it adds,
that it is a non-linear layer at full resolution, training with the skip G and EMA, the config key, and the
SavedModel export from a TF-only process."""

from __future__ import annotations

import os

import numpy as np
import pytest
import yaml

from caae_tf.config import CGANConfig, ConfigError, load_config

tf = pytest.importorskip("tensorflow")

from caae_tf.models import cgan as C  # noqa: E402

from test_cgan_conditional_bn import PRESETS, export_round_trip  # noqa: E402
from test_cgan_model import _float32_policy, batch, tiny_model  # noqa: E402,F401 (the fixture is autouse here too)

HERE = os.path.dirname(os.path.abspath(__file__))
ARGS = dict(image_size=32, z_dim=8, g_filters=[16, 8, 8], upsample="resize")


def _features_at(g, z, v, name):
    """The output of G's sub-layer ``name`` on (z, v), captured by wrapping that layer's call for one forward pass."""
    seen = {}
    layer = getattr(g, name)
    original = layer.call

    def spy(*a, **k):
        seen["out"] = original(*a, **k)
        return seen["out"]

    layer.call = spy
    try:
        g((z, v), training=False)
    finally:
        layer.call = original
    return seen["out"].numpy()


def test_output_block_adds_a_full_resolution_layer_before_rgb():
    plain = C.CGANGenerator(**ARGS)
    block = C.CGANGenerator(**ARGS, output_block=5)
    plain.build()
    block.build()
    assert block.output_block == 5 and plain.output_block == 0 and plain.out_conv is None
    # the last upsampling now draws 5 channels (no bias: BN follows), then a 3×3 stride-1 conv to RGB
    w_last = block.widths[-1]
    assert tuple(block.out_conv.layers[-1].kernel.shape) == (3, 3, w_last, 5)
    assert tuple(block.to_rgb.kernel.shape) == (3, 3, 5, 3) and tuple(block.to_rgb.bias.shape) == (3,)
    extra = (3 * 3 * w_last * 5 + 4 * 5 + 3 * 3 * 5 * 3 + 3) - (3 * 3 * w_last * 3 + 3)
    assert block.count_params() == plain.count_params() + extra
    z, v = tf.random.normal([2, 8], seed=1), tf.one_hot([0, 5], 6)
    assert _features_at(block, z, v, "out_conv").shape == (2, 32, 32, 5)
    out = block((z, v), training=False).numpy()
    assert out.shape == (2, 32, 32, 3) and np.abs(out).max() <= 1.0
    assert C.CGANGenerator(**block.get_config()).output_block == 5
    with pytest.raises(ConfigError, match="g_output_block"):
        C.CGANGenerator(**ARGS, output_block=-1)


def test_output_block_is_non_linear_at_full_resolution():
    """With the plain resize G the pre-tanh output is linear in the last hidden features, so it is additive:
    f(h1 + h2) = f(h1) + f(h2) - f(0). With the output block (BN, ReLU at full resolution) it is not."""

    def head(g, h):  # G's layers after the last hidden features, up to (not including) tanh
        if g.output_block:
            h = tf.nn.relu(g.out_bn(g.out_conv(h), training=False))
        return g.to_rgb(h)

    rng = np.random.default_rng(0)
    h1, h2 = (tf.constant(rng.normal(size=(1, 16, 16, 8)).astype(np.float32)) for _ in range(2))
    zero = tf.zeros_like(h1)
    for output_block, additive in ((0, True), (4, False)):
        g = C.CGANGenerator(**ARGS, output_block=output_block)
        g.build()
        lhs = head(g, h1 + h2).numpy()
        rhs = (head(g, h1) + head(g, h2) - head(g, zero)).numpy()
        assert np.allclose(lhs, rhs, atol=1e-5) == additive


def test_output_block_trains_with_skip_rgb_and_ema_mirrors_it():
    m = tiny_model(g_output_block=4, g_skip_rgb=True, g_upsample="resize", g_ema_decay=0.9)
    assert m.G.output_block == 4 and m.G_ema.output_block == 4 and tiny_model().G.output_block == 0
    before = m.G.to_rgb.kernel.numpy().copy(), m.G.out_bn.gamma.numpy().copy()
    out = {k: float(t) for k, t in tf.function(m.train_step)(batch(4)).items()}
    assert all(np.isfinite(list(out.values())))
    assert np.abs(m.G.to_rgb.kernel.numpy() - before[0]).max() > 0
    assert np.abs(m.G.out_bn.gamma.numpy() - before[1]).max() > 0
    assert [w.path.split("/", 2)[-1] for w in m.G.weights] == [w.path.split("/", 2)[-1] for w in m.G_ema.weights]


def test_key_is_off_in_the_paper_preset_and_left_out_of_resolved_configs():
    cfg = load_config(os.path.join(PRESETS, "cgan_paper.yaml"))
    assert cfg.g_output_block == 0 and "g_output_block" not in cfg.to_dict()
    with open(os.path.join(HERE, "data", "cgan_paper_resolved.yaml"), encoding="utf-8") as fh:
        assert yaml.safe_dump(cfg.to_dict(), sort_keys=False) == fh.read()
    assert CGANConfig().replace("g_output_block", 16).to_dict()["g_output_block"] == 16
    with pytest.raises(ConfigError, match="--set: g_output_block must be >= 0"):
        CGANConfig().replace("g_output_block", -2)


def test_saved_model_round_trips_with_output_block(tmp_path):
    from _train_helpers import tiny_cgan_model

    model = tiny_cgan_model(0, z_dim=8, g_output_block=4, g_skip_rgb=True, g_upsample="resize")
    rng = np.random.default_rng(0)
    model.G.to_rgb.kernel.assign(rng.normal(0, 0.5, model.G.to_rgb.kernel.shape).astype(np.float32))
    export_round_trip(model, tmp_path, "g_output_block", rng)
