"""cGAN training modes beyond paper 001 (config keys marked BEYOND_PAPER): AC-GAN head, projection D,
spectral normalisation, EMA of G, R1. Each term's value is checked on small tensors against a hand
computation; the paper preset's resolved config is pinned byte for byte."""

from __future__ import annotations

import os

import numpy as np
import pytest
import yaml

from caae_tf.config import CGANConfig, ConfigError, load_config

tf = pytest.importorskip("tensorflow")
import keras  # noqa: E402

from caae_tf import losses as L  # noqa: E402
from caae_tf.models import cgan as C  # noqa: E402

from test_cgan_model import _float32_policy, batch, tiny_model  # noqa: E402,F401 (the fixture is autouse here too)

HERE = os.path.dirname(os.path.abspath(__file__))
PRESETS = os.path.join(os.path.dirname(HERE), "caae_tf", "presets")
MODE_KEYS = ("lambda_ac", "d_projection", "spectral_norm", "g_ema_decay", "lambda_r1", "g_conditional_bn")


# ----------------------------------------------------------------------------------------- config

def test_paper_preset_resolved_config_is_byte_identical():
    cfg = load_config(os.path.join(PRESETS, "cgan_paper.yaml"))
    text = yaml.safe_dump(cfg.to_dict(), sort_keys=False)
    with open(os.path.join(HERE, "data", "cgan_paper_resolved.yaml"), encoding="utf-8") as fh:
        assert text == fh.read()
    assert not set(MODE_KEYS) & set(cfg.to_dict())


def test_demo_preset_switches_the_modes_on_and_keys_validate():
    demo = load_config(os.path.join(PRESETS, "cgan_demo.yaml"))
    assert demo.d_projection and demo.d_mismatch_weight > 0 and demo.g_ema_decay > 0
    assert {"d_projection", "d_mismatch_weight", "g_ema_decay"} <= set(demo.to_dict())
    for key, bad in (("lambda_ac", -1), ("lambda_r1", -0.5), ("g_ema_decay", 1.0), ("g_ema_decay", -0.1)):
        with pytest.raises(ConfigError, match=key):
            CGANConfig().replace(key, bad)


# ----------------------------------------------------------------------------------------- loss terms

def test_class_cross_entropy_known_values():
    logits = tf.constant([[0.0, np.log(3.0), 0.0], [2.0, 0.0, 0.0], [1.0, 1.0, 1.0]], tf.float32)
    ce = L.per_example_class_ce(logits, tf.constant([1, 0, -1])).numpy()
    # softmax([0, ln3, 0]) = [1/5, 3/5, 1/5]; softmax([2, 0, 0])[0] = e²/(e²+2); unknown label → 0
    np.testing.assert_allclose(ce, [-np.log(0.6), -np.log(np.e ** 2 / (np.e ** 2 + 2)), 0.0], rtol=1e-6)


def test_r1_and_ema_decay_known_values():
    g = tf.constant([[[1.0, 2.0]], [[3.0, -4.0]]])  # [2, 1, 2]
    np.testing.assert_allclose(L.per_example_r1(g).numpy(), [5.0, 25.0])
    np.testing.assert_allclose([float(L.ema_decay(0.999, t)) for t in (0, 10, 10_000)],
                               [0.1, 11 / 20, 0.999], rtol=1e-6)


# ----------------------------------------------------------------------------------------- D variants

def test_ac_head_loss_in_train_step_matches_hand_computation():
    m = tiny_model(lambda_ac=2.0)
    b = batch(4, emotions=[0, 3, -1, 5])
    v = tf.one_hot(b["emotion"], 6)
    # D's real-image class logits before the step (same weights, training-mode BN as in train_step)
    logits = m.D.outputs((b["image"], v), training=True)["class_logits"].numpy()
    p = np.exp(logits - logits.max(-1, keepdims=True))
    p /= p.sum(-1, keepdims=True)
    ce = -np.log(p[[0, 1, 3], [0, 3, 5]])  # the row with emotion -1 is masked out
    out = {k: float(v) for k, v in m.train_step(b).items()}
    assert out["d_loss_ac"] == pytest.approx(ce.mean(), rel=1e-4)
    assert out["d_acc_ac"] == pytest.approx(np.mean(logits[[0, 1, 3]].argmax(-1) == [0, 3, 5]))
    assert out["d_loss"] == pytest.approx(out["d_loss_real"] + out["d_loss_fake"] + 2.0 * out["d_loss_ac"], rel=1e-5)
    assert out["g_loss_ac"] > 0 and out["g_loss"] > 2.0 * out["g_loss_ac"]
    assert m.D.classifier.units == 6


def test_projection_discriminator_is_linear_in_v_and_v_enters_only_by_projection():
    m = tiny_model(d_projection=True)
    assert m.D.convs[0].kernel.shape[2] == 3  # no tiled v on the input
    assert m.D.convs[1].kernel.shape[2] == m.D.widths[0]  # and none after the first block
    x = tf.random.uniform([2, 64, 64, 3], -1, 1, seed=4)
    v1, v2 = tf.one_hot([1, 4], 6), tf.one_hot([5, 0], 6)
    l1, l2 = (m.D((x, v), training=False).numpy() for v in (v1, v2))
    mid = m.D((x, 0.5 * v1 + 0.5 * v2), training=False).numpy()
    np.testing.assert_allclose(mid, 0.5 * (l1 + l2), rtol=1e-5, atol=1e-6)
    assert np.abs(l1 - l2).max() > 1e-4
    # logit = ψ(φ) + <V v, φ>: with V = 0 the label has no effect
    m.D.embed_v.kernel.assign(tf.zeros_like(m.D.embed_v.kernel))
    np.testing.assert_allclose(m.D((x, v1), training=False).numpy(), m.D((x, v2), training=False).numpy())


def test_spectral_norm_sigma_normalised_kernel_and_gradient_through_sigma():
    keras.utils.set_random_seed(1)
    layer = C.SNDense(5, power_iterations=1)
    layer.build((None, 7))
    w = np.random.default_rng(0).normal(size=(7, 5)).astype(np.float32)
    layer.kernel.assign(w)
    for _ in range(50):  # power iteration converges to the largest singular value
        layer.sigma(training=True)
    s_max = np.linalg.svd(w, compute_uv=False)[0]
    assert float(layer.sigma()) == pytest.approx(s_max, rel=1e-4)
    assert np.linalg.svd(layer.normalized_kernel().numpy(), compute_uv=False)[0] == pytest.approx(1.0, rel=1e-4)
    # d/dW <C, W/σ(W)> = C/σ − <C, W>/σ² · v uᵀ (u, v the singular vectors): σ is differentiated too
    c = np.random.default_rng(1).normal(size=(7, 5)).astype(np.float32)
    with tf.GradientTape() as tape:
        obj = tf.reduce_sum(tf.constant(c) * layer.normalized_kernel())
    grad = tape.gradient(obj, layer.kernel.value).numpy()
    uu, ss, vt = np.linalg.svd(w)
    outer = np.outer(uu[:, 0], vt[0])
    np.testing.assert_allclose(grad, c / s_max - (c * w).sum() / s_max ** 2 * outer, rtol=1e-3, atol=1e-4)
    # a D with spectral_norm: SN layers, no BatchNorm, and a train step runs
    m = tiny_model(spectral_norm=True)
    assert all(isinstance(conv, C.SNConv2D) for conv in m.D.convs) and all(bn is None for bn in m.D.bns)
    assert isinstance(m.D.logit, C.SNDense)
    assert all(np.isfinite(float(v)) for v in tf.function(m.train_step)(batch(4)).values())


def test_sn_conv_matches_plain_convolution_with_the_normalised_kernel():
    keras.utils.set_random_seed(2)
    conv = C.SNConv2D(4, 3, strides=2, padding="same")
    x = tf.random.uniform([2, 8, 8, 3], seed=1)
    y = conv(x).numpy()
    ref = tf.nn.conv2d(x, conv.normalized_kernel(), 2, "SAME") + conv.bias
    np.testing.assert_allclose(y, ref.numpy(), rtol=1e-5, atol=1e-6)
    assert y.shape == (2, 4, 4, 4)


def test_r1_penalty_value_in_train_step():
    m = tiny_model(lambda_r1=3.0)
    b = batch(4, emotions=[1, 2, 3, -1])
    x = tf.cast(b["image"], tf.float32)
    v = tf.one_hot(b["emotion"], 6)
    with tf.GradientTape() as tape:
        tape.watch(x)
        s = tf.reduce_sum(m.D((x, v), training=True))
    g = tape.gradient(s, x).numpy()
    ref = (g[:3] ** 2).reshape(3, -1).sum(1).mean()  # real rows with a valid emotion only
    out = {k: float(v) for k, v in m.train_step(b).items()}
    assert out["d_r1"] == pytest.approx(ref, rel=1e-4)
    assert out["d_loss"] == pytest.approx(out["d_loss_real"] + out["d_loss_fake"] + 1.5 * out["d_r1"], rel=1e-5)


# ----------------------------------------------------------------------------------------- EMA of G

def test_ema_generator_tracks_g_and_is_what_the_model_samples_with():
    m = tiny_model(g_ema_decay=0.99)
    assert m.sampler is m.G_ema
    for a, b in zip(m.G.weights, m.G_ema.weights):  # starts as a copy of G
        np.testing.assert_array_equal(a.numpy(), b.numpy())
    g_before = [w.numpy().copy() for w in m.G.weights]
    m.train_step(batch(4))
    trainable = {id(w) for w in m.G.trainable_weights}
    beta = 0.1  # first update: min(0.99, (1 + 0)/(10 + 0))
    for src, dst, old in zip(m.G.weights, m.G_ema.weights, g_before):
        if id(src) in trainable:
            np.testing.assert_allclose(dst.numpy(), beta * old + (1 - beta) * src.numpy(), rtol=1e-5, atol=1e-7)
        else:  # BN moving statistics are copied
            np.testing.assert_array_equal(dst.numpy(), src.numpy())
    # a second step: β = 2/11
    g1 = [w.numpy().copy() for w in m.G_ema.trainable_weights]
    m.train_step(batch(4, seed=1))
    for dst, old, src in zip(m.G_ema.trainable_weights, g1, m.G.trainable_weights):
        np.testing.assert_allclose(dst.numpy(), 2 / 11 * old + 9 / 11 * src.numpy(), rtol=1e-5, atol=1e-7)
    z, v = tf.random.normal([2, 8], seed=3), tf.one_hot([1, 5], 6)
    np.testing.assert_array_equal(m.generate(z, v).numpy(), m.G_ema((z, v), training=False).numpy())
    assert np.abs(m.generate(z, v).numpy() - m.G((z, v), training=False).numpy()).max() > 0
    # G_ema's weights are model weights, so the driver's checkpoints hold them
    ids = {id(w) for w in m.weights}
    assert all(id(w) in ids for w in m.G_ema.weights)
    # paper mode has no G_ema
    assert tiny_model().G_ema is None and tiny_model().sampler is not None


# ----------------------------------------------------------------------------------------- G upsampling

def test_resize_upsampling_has_no_checkerboard_where_transposed_conv_has_one():
    """A constant feature map through a ×2 upsampling with constant kernels: DCGAN's stride-2 transposed conv
    with k = 5 (uneven kernel overlap) gives a periodic pattern, nearest-neighbour + 3×3 conv a constant map
    (Odena, Dumoulin & Olah 2016)."""
    interiors = {}
    for mode in ("transposed", "resize"):
        g = C.CGANGenerator(32, 8, 6, [16, 8, 8], 5, upsample=mode)
        g.build()
        layer = g.up_convs[0]
        for var in layer.trainable_variables:
            var.assign(tf.ones_like(var) if "kernel" in var.path else tf.zeros_like(var))
        out = layer(tf.ones([1, 4, 4, 16])).numpy()[0, 2:-2, 2:-2, 0]  # 8×8 output, interior 4×4
        interiors[mode] = out
    assert np.ptp(interiors["resize"]) == 0
    assert np.ptp(interiors["transposed"]) > 0.1 * np.abs(interiors["transposed"]).mean()
    m = tiny_model(g_upsample="resize")
    assert not any("Conv2DTranspose" in type(layer).__name__ for layer in m.G._flatten_layers())
    x = m.generate(tf.random.normal([2, 8]), tf.one_hot([1, 2], 6))
    assert x.shape == (2, 64, 64, 3)
    assert all(np.isfinite(float(v)) for v in tf.function(m.train_step)(batch(4)).values())
    with pytest.raises(ConfigError, match="g_upsample"):
        CGANConfig().replace("g_upsample", "bicubic")


def test_bilinear_upsampling_keeps_a_ramp_linear_where_nearest_makes_steps():
    """``g_upsample=bilinear``: a horizontal ramp through ×2 upsampling and a 3×3 conv set to the identity stays a
    ramp in the interior (constant differences), nearest-neighbour ``resize`` turns it into 2-px steps (the
    blocks a conv turns into a lattice)."""
    diffs = {}
    for mode in ("resize", "bilinear"):
        g = C.CGANGenerator(32, 8, 6, [4, 4, 4], 5, upsample=mode)
        g.build()
        layer = g.up_convs[0]
        up, conv = layer.layers
        assert up.interpolation == ("nearest" if mode == "resize" else "bilinear")
        k = np.zeros(conv.kernel.shape, np.float32)
        for c in range(k.shape[2]):
            k[1, 1, c, c] = 1.0
        conv.kernel.assign(k)
        ramp = np.tile(np.arange(8, dtype=np.float32)[None, None, :, None], (1, 8, 1, 4))
        out = layer(tf.constant(ramp)).numpy()[0, 4:-4, 2:-2, 0]  # 16×16, interior columns
        diffs[mode] = np.diff(out, axis=1)
    np.testing.assert_allclose(diffs["bilinear"], 0.5, atol=1e-6)
    assert set(np.round(np.unique(diffs["resize"]), 6)) == {0.0, 1.0}
    m = tiny_model(g_upsample="bilinear")
    assert m.generate(tf.random.normal([2, 8]), tf.one_hot([1, 2], 6)).shape == (2, 64, 64, 3)
    assert all(np.isfinite(float(v)) for v in tf.function(m.train_step)(batch(4)).values())
    assert CGANConfig().replace("g_upsample", "bilinear").g_upsample == "bilinear"


# ----------------------------------------------------------------------------------------- joint D batch

def test_joint_batch_normalises_real_and_generated_images_together():
    m = tiny_model(d_joint_batch=True)
    b = batch(4, emotions=[0, 1, 2, 3])
    x, v = tf.cast(b["image"], tf.float32), tf.one_hot(b["emotion"], 6)
    fake = x * 0.2 + 0.3  # a batch whose statistics differ from the real one
    joint = m._d_outputs([(x, v), (fake, v)])
    ref = m.D((tf.concat([x, fake], 0), tf.concat([v, v], 0)), training=True).numpy()
    np.testing.assert_allclose(np.concatenate([joint[0]["logit"], joint[1]["logit"]]), ref, rtol=1e-5, atol=1e-6)
    sep = [m.D((t, v), training=True).numpy() for t in (x, fake)]  # each batch normalised by its own statistics
    assert np.abs(sep[1] - joint[1]["logit"].numpy()).max() > 1e-4
    # the loss of the step is computed from the joint call (before D's update)
    m2 = tiny_model(d_joint_batch=True, d_mismatch_weight=0.0)
    z = m2.draw_noise(4)  # the noise train_step will draw (same seed, counter reset below)
    m2.noise_step.assign(0)
    fake2 = m2.G((z, v), training=True)
    out_ref = m2._d_outputs([(x, v), (fake2, v)])
    m3 = tiny_model(d_joint_batch=True, d_mismatch_weight=0.0)
    out = {k: float(t) for k, t in m3.train_step(b).items()}
    bce_r = tf.nn.sigmoid_cross_entropy_with_logits(tf.ones_like(out_ref[0]["logit"]), out_ref[0]["logit"]).numpy()
    bce_f = tf.nn.sigmoid_cross_entropy_with_logits(tf.zeros_like(out_ref[1]["logit"]), out_ref[1]["logit"]).numpy()
    assert out["d_loss_real"] == pytest.approx(bce_r.mean(), rel=1e-4)
    assert out["d_loss_fake"] == pytest.approx(bce_f.mean(), rel=1e-4)


# ----------------------------------------------------------------------------------------- multi-replica

@pytest.mark.slow
def test_modes_train_under_mirrored_strategy_on_two_logical_cpus(tmp_path):
    """EMA assignment (merge_call), the SN power-iteration vector and the joint D batch under a 2-replica
    MirroredStrategy: one step each, single and mirrored, then a resumed second step."""
    import json
    import subprocess
    import sys
    import textwrap

    modes = ["lambda_ac=1", "g_ema_decay=0.9", "d_joint_batch=true", "g_upsample=resize", "lambda_r1=0.5",
             "spectral_norm=true", "d_projection=true", "g_conditional_bn=true", "g_skip_rgb=true",
             "d_augment=color,translation,cutout"]
    code = textwrap.dedent(f"""
        import json, sys
        sys.path.insert(0, {HERE!r})
        from caae_tf.train import configure_cpu_replicas, train_command, load_model
        configure_cpu_replicas(2)
        from _train_helpers import TINY_CGAN, write_tiny_set
        csv = write_tiny_set({str(tmp_path / 'data')!r}, n=16, size=32)
        over = TINY_CGAN + {modes!r} + ["steps=1"]
        single = train_command("cgan", csv, {str(tmp_path / 'single')!r}, overrides=over, progress=False)
        mirrored = train_command("cgan", csv, {str(tmp_path / 'mirrored')!r}, overrides=over, progress=False,
                                 strategy="mirrored")
        resumed = train_command("cgan", csv, {str(tmp_path / 'mirrored')!r}, overrides=["steps=2"],
                                progress=False, strategy="mirrored", resume=True)
        m, _ = load_model({str(tmp_path / 'mirrored')!r})
        diff = max(float(abs(a.numpy() - b.numpy()).max()) for a, b in zip(m.G.trainable_weights,
                                                                          m.G_ema.trainable_weights))
        json.dump({{"single": single.last_losses, "mirrored": mirrored.last_losses, "resumed_step": resumed.step,
                    "resumed": resumed.last_losses, "ema_diff": diff}}, open({str(tmp_path / 'out.json')!r}, "w"))
    """)
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=900)
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = json.loads((tmp_path / "out.json").read_text())
    assert out["resumed_step"] == 2
    for run in ("single", "mirrored", "resumed"):
        assert {"d_loss_ac", "g_loss_ac", "d_r1"} <= set(out[run]) and all(np.isfinite(list(out[run].values())))
    # D's class head starts at chance: CE ≈ log 6 on both set-ups (the global batch is averaged, not split)
    for run in ("single", "mirrored"):
        assert abs(out[run]["d_loss_ac"] - np.log(6)) < 0.5, out
    assert 0 < out["ema_diff"]  # G_ema was updated, and differs from G
