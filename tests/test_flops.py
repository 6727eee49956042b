"""Analytic FLOP counter (caae_tf.flops) against hand-computed values."""

from __future__ import annotations

import pytest

from caae_tf.tf_env import tf as _tf

tf = _tf()
import keras

from caae_tf import flops as F
from caae_tf.config import CAAEConfig, CGANConfig


def _tiny_model():
    inp = keras.Input((8, 8, 3))
    h = keras.layers.Conv2D(4, 3, strides=2, padding="same", name="c")(inp)  # -> 4x4x4
    h = keras.layers.Conv2DTranspose(5, 3, strides=2, padding="same", name="t")(h)  # 4x4x4 -> 8x8x5
    h = keras.layers.Flatten()(h)
    out = keras.layers.Dense(7, name="d")(h)  # 320 -> 7
    return keras.Model(inp, out)


def test_tiny_conv_deconv_dense_hand_computed():
    m = _tiny_model()
    conv = 4 * 4 * 4 * (3 * 3 * 3)  # out pixels · C_out · k·k·C_in = 1728
    deconv = 4 * 4 * 4 * (3 * 3) * 5  # in pixels · C_in · k·k · C_out = 2880
    dense = 8 * 8 * 5 * 7  # 2240
    rows = {r["layer"].split("/")[-1]: r for r in F.flops_breakdown(m)}
    assert rows["c"]["macs"] == conv
    assert rows["t"]["macs"] == deconv
    assert rows["d"]["macs"] == dense
    assert F.forward_flops(m) == 2 * (conv + deconv + dense)


def test_dense_on_sequence_and_depthwise_separable():
    seq = keras.layers.Dense(6)
    seq.build((None, 10, 4))
    assert F.layer_macs(seq) == 10 * 4 * 6
    dw = keras.layers.DepthwiseConv2D(3, strides=1, padding="valid", depth_multiplier=2)
    dw.build((None, 7, 7, 3))
    assert F.layer_macs(dw) == 5 * 5 * 3 * 2 * 9
    sep = keras.layers.SeparableConv2D(8, 3, padding="same")
    sep.build((None, 6, 6, 4))
    assert F.layer_macs(sep) == 6 * 6 * 4 * 9 + 6 * 6 * 4 * 8


def test_unbuilt_and_non_matmul_layers_count_zero():
    assert F.layer_macs(keras.layers.Dense(3)) == 0
    bn = keras.layers.BatchNormalization()
    bn.build((None, 4, 4, 3))
    assert F.layer_macs(bn) == 0
    assert F.matmul_flops(2, 3, 4) == 48


@pytest.fixture(scope="module")
def paper_caae():
    from caae_tf.models.caae import CAAE
    from caae_tf.train import dummy_batch

    cfg = CAAEConfig(identity_weight=0.0)
    m = CAAE(cfg)
    m.build_all(dummy_batch(cfg, 1))
    return m


def test_caae_paper_96px_forward_flops_match_hand_computation(paper_caae):
    # E: conv 5x5 s2: 48²·64·75 + 3 × 471,859,200/4 ... (hand-computed: E ≈ 0.73 GFLOP, G ≈ 4.77 GFLOP)
    e_hand = 2 * (48 * 48 * 64 * 75 + 24 * 24 * 128 * 25 * 64 + 12 * 12 * 256 * 25 * 128
                  + 6 * 6 * 512 * 25 * 256 + 6 * 6 * 512 * 50)
    g_hand = 2 * (150 * 6 * 6 * 1024 + 5 * 471_859_200 + 96 * 96 * 32 * 25 * 3)
    assert F.forward_flops(paper_caae.E) == e_hand
    assert F.forward_flops(paper_caae.G) == g_hand
    assert F.forward_flops(paper_caae.E) == pytest.approx(0.73e9, rel=0.02)
    assert F.forward_flops(paper_caae.G) == pytest.approx(4.77e9, rel=0.02)
    assert F.caae_edit_flops(paper_caae) == pytest.approx(5.5e9, rel=0.02)


def test_caae_train_step_formula(paper_caae):
    f = F.caae_network_flops(paper_caae)
    out = F.caae_train_step_flops(paper_caae, 49)
    assert out["identity_images"] == 0  # identity_weight = 0
    expected = 3 * 49 * (f["E"] + f["G"]) + 6 * 49 * (f["D_img"] + f["D_z"]) + 49 * (f["D_img"] + f["D_z"])
    assert out["total"] == expected == sum(out["terms"].values())
    assert out["per_image"] == pytest.approx(expected / 49)


def test_caae_train_step_identity_terms():
    from caae_tf.models.caae import CAAE
    from caae_tf.models.vgg_face import IdentityFeatures, VGGFace
    from caae_tf.train import dummy_batch

    cfg = CAAEConfig(image_size=32, z_dim=4, label_repeat=2, e_filters=[2, 2, 2, 2], g_fc_channels=2,
                     g_filters=[2, 2, 2, 2, 2], d_img_filters=[2, 2, 2, 2], d_img_fc=2, d_z_units=[2, 2, 2],
                     identity_input_size=16, identity_images=16)
    ident = IdentityFeatures(VGGFace(width_multiplier=1 / 16, input_size=16, include_top=False),
                             ["conv1_2", "conv2_2"], input_size=16)
    ident(tf.zeros([1, 16, 16, 3]))
    phi = F.forward_flops(ident)
    # conv1_1 (3->4), conv1_2 (4->4) at 16², conv2_1 (4->8), conv2_2 (8->8) at 8²; conv3+ never called
    assert phi == 2 * (16 * 16 * 4 * 9 * 3 + 16 * 16 * 4 * 9 * 4 + 8 * 8 * 8 * 9 * 4 + 8 * 8 * 8 * 9 * 8)
    m = CAAE(cfg, identity_net=ident)
    m.build_all(dummy_batch(cfg, 1))
    big = F.caae_train_step_flops(m, 20)
    assert big["identity_images"] == 16
    assert big["terms"]["identity real forward"] == 16 * phi
    assert big["terms"]["identity generated forward+input-grad"] == 2 * 16 * phi
    small = F.caae_train_step_flops(m, 5)  # fewer images than identity_images
    assert small["terms"]["identity real forward"] == 5 * phi


def test_cgan_train_step_formula():
    from caae_tf.models.cgan import CGAN

    m = CGAN(CGANConfig(image_size=16, z_dim=4, g_filters=[8, 4], d_filters=[4, 8]))
    m.build_all()
    f = F.cgan_network_flops(m)
    # G: Dense 10 -> 4·4·8, deconv 4x4x8 -> 8x8x4, to_rgb 8x8x4 -> 16x16x3 (k=5)
    assert f["G"] == 2 * (10 * 128 + 4 * 4 * 8 * 25 * 4 + 8 * 8 * 4 * 25 * 3)
    # D: conv1 (3+6 -> 4) to 8x8, conv2 (4+6 -> 8) to 4x4, Dense 128 -> 1
    assert f["D"] == 2 * (8 * 8 * 4 * 25 * 9 + 4 * 4 * 8 * 25 * 10 + 128)
    out = F.cgan_train_step_flops(m, 8)
    assert out["total"] == 8 * (4 * f["G"] + 8 * f["D"]) == sum(out["terms"].values())
    assert F.cgan_generate_flops(m) == f["G"]
