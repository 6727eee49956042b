"""The AC head on its own label-free trunk (``ac_separate_trunk``, beyond paper 001; the AC-GAN classifier of Odena
et al. 2017 sees the image only): the head's reading does not depend on the label D is shown, D's own weights
start as without the key, the head learns the real classes, its weights are checkpointed, the config rules and
the paper preset."""

from __future__ import annotations

import os

import numpy as np
import pytest

from caae_tf.config import CGANConfig, ConfigError, load_config

tf = pytest.importorskip("tensorflow")

from test_cgan_conditional_bn import PRESETS  # noqa: E402
from test_cgan_model import _float32_policy, _weights_checkpoint, batch, tiny_model  # noqa: E402,F401 (autouse)

K = 6


def test_head_reads_the_image_alone():
    b = batch(6, emotions=[0, 1, 2, 3, 4, 5])
    x = tf.cast(b["image"], tf.float32)
    v = tf.one_hot(b["emotion"], K)
    wrong = tf.one_hot((b["emotion"] + 2) % K, K)
    sep = tiny_model(lambda_ac=1.0, ac_separate_trunk=True)
    assert sep.D.aux_trunk and [c.name for c in sep.D.aux_convs] == ["aux_conv1", "aux_conv2", "aux_conv3", "aux_conv4"]
    right = sep.D.outputs((x, v), training=False)
    shown_wrong = sep.D.outputs((x, wrong), training=False)
    np.testing.assert_array_equal(right["class_logits"].numpy(), shown_wrong["class_logits"].numpy())
    assert np.abs(right["logit"].numpy() - shown_wrong["logit"].numpy()).max() > 0  # D's own logit still sees v
    shared = tiny_model(lambda_ac=1.0)
    a = shared.D.outputs((x, v), training=False)["class_logits"].numpy()
    assert np.abs(a - shared.D.outputs((x, wrong), training=False)["class_logits"].numpy()).max() > 0


def test_d_starts_as_without_the_key_and_only_adds_the_trunk():
    plain, sep = tiny_model(lambda_ac=1.0), tiny_model(lambda_ac=1.0, ac_separate_trunk=True)
    got = {w.path: w.numpy() for w in sep.D.weights}
    for w in plain.D.weights:
        np.testing.assert_array_equal(got.pop(w.path), w.numpy(), err_msg=w.path)
    assert got and all("aux_conv" in p for p in got), sorted(got)
    for a, b in zip(plain.G.weights, sep.G.weights):
        np.testing.assert_array_equal(a.numpy(), b.numpy())
    # the head's trunk has D's layer plan: same kernel shapes, no label channels at the input
    kernels = {w.path.split("/")[-2]: tuple(w.shape) for w in sep.D.weights if w.path.endswith("kernel")}
    assert kernels["aux_conv1"] == kernels["conv1"][:2] + (3,) + kernels["conv1"][3:]
    assert kernels["conv1"][2] == 3 + K


def test_head_learns_the_real_classes_and_g_gets_its_term():
    m = tiny_model(lambda_ac=1.0, ac_separate_trunk=True)
    step = tf.function(m.train_step)
    b = batch(12, emotions=[0, 1, 2, 3, 4, 5] * 2)
    first = float(step(b)["d_loss_ac"])
    for _ in range(40):
        out = step(b)
    assert float(out["d_loss_ac"]) < 0.5 * first and float(out["d_acc_ac"]) == 1.0, (first, out)
    assert np.isfinite(float(out["g_loss_ac"]))
    # the trunk is trained by D's optimizer (its kernels moved) and G's loss includes λ_ac·CE of the head
    before = tiny_model(lambda_ac=1.0, ac_separate_trunk=True)
    moved = {w.path: np.abs(w.numpy() - v.numpy()).max() for w, v in zip(m.D.weights, before.D.weights)}
    assert all(moved[p] > 0 for p in moved if "aux_conv" in p and p.endswith("kernel"))


def test_trunk_weights_round_trip_through_the_checkpoint(tmp_path):
    m = tiny_model(lambda_ac=1.0, ac_separate_trunk=True)
    step = tf.function(m.train_step)
    step(batch(4))
    path = _weights_checkpoint(m).save(str(tmp_path / "ckpt"))
    saved = {w.path: w.numpy() for w in m.D.weights if "aux_conv" in w.path}
    fresh = tiny_model(lambda_ac=1.0, ac_separate_trunk=True)
    _weights_checkpoint(fresh).restore(path).assert_consumed()
    for w in fresh.D.weights:
        if "aux_conv" in w.path:
            np.testing.assert_array_equal(w.numpy(), saved[w.path])


def test_config_rules_and_paper_preset():
    with pytest.raises(ConfigError, match="ac_separate_trunk needs the AC head"):
        CGANConfig().replace("ac_separate_trunk", True)
    both = CGANConfig(lambda_ac=1.0, d_mismatch_weight=0.5, ac_mismatch=True)
    with pytest.raises(ConfigError, match="ac_separate_trunk and ac_mismatch exclude each other"):
        both.replace("ac_separate_trunk", True)
    cfg = CGANConfig(lambda_ac=1.0).replace("ac_separate_trunk", True)
    assert cfg.to_dict()["ac_separate_trunk"] is True
    assert "ac_separate_trunk" not in CGANConfig(lambda_ac=1.0).to_dict()
    paper = load_config(os.path.join(PRESETS, "cgan_paper.yaml"))
    assert paper.ac_separate_trunk is False and "ac_separate_trunk" not in paper.to_dict()
    with pytest.raises(ConfigError, match="aux_trunk needs the class head"):
        from caae_tf.models.cgan_networks import CGANDiscriminator

        CGANDiscriminator(image_size=64, d_filters=[8, 16, 16, 32], aux_trunk=True)
