"""TAC-GAN's twin classifier (``ac_twin``, beyond paper 001; Gong et al. 2019): a second class head on the AC
head's label-free features, trained on G's images, which G plays against. The head's place in D, the signs of
its D and G terms, its checkpointing, the config rules and the paper preset."""

from __future__ import annotations

import os

import numpy as np
import pytest

from caae_tf.config import CGANConfig, ConfigError, load_config

tf = pytest.importorskip("tensorflow")

from test_cgan_conditional_bn import PRESETS  # noqa: E402
from test_cgan_model import _float32_policy, _weights_checkpoint, batch, tiny_model  # noqa: E402,F401 (autouse)

K = 6
TWIN = dict(lambda_ac=1.0, d_projection=True, ac_twin=True)


def test_twin_head_reads_the_same_label_free_features():
    b = batch(6, emotions=[0, 1, 2, 3, 4, 5])
    x = tf.cast(b["image"], tf.float32)
    m = tiny_model(**TWIN)
    right = m.D.outputs((x, tf.one_hot(b["emotion"], K)), training=False)
    wrong = m.D.outputs((x, tf.one_hot((b["emotion"] + 1) % K, K)), training=False)
    assert right["twin_logits"].shape == (6, K) and right["class_logits"].shape == (6, K)
    np.testing.assert_array_equal(right["twin_logits"].numpy(), wrong["twin_logits"].numpy())
    # a Dense head on φ: the logits are φ·W + b with the head's own weights
    head = m.D.twin_classifier
    want = right["features"].numpy() @ head.kernel.numpy() + head.bias.numpy()
    np.testing.assert_allclose(right["twin_logits"].numpy(), want, rtol=1e-4, atol=1e-5)
    # D's other weights start as without the key; the twin head is the only addition
    plain = tiny_model(lambda_ac=1.0, d_projection=True)
    got = {w.path: w.numpy() for w in m.D.weights}
    for w in plain.D.weights:
        np.testing.assert_array_equal(got.pop(w.path), w.numpy(), err_msg=w.path)
    assert got and all("aux_twin_classifier" in p for p in got), sorted(got)
    assert "twin_logits" not in plain.D.outputs((x, tf.one_hot(b["emotion"], K)), training=False)


def test_d_and_g_terms_have_tac_gan_signs():
    """With D frozen (learning rate ~0) and the twin head a copy of the AC head, G's twin term cancels its AC
    term exactly (L_G += λ·CE_C − λ·CE_Cmi), so G's loss is the one without any AC head; D's objective adds both
    heads' cross-entropies."""
    b = batch(12, emotions=[0, 1, 2, 3, 4, 5] * 2)
    tac = tiny_model(**TWIN, learning_rate=1e-12)
    tac.D.twin_classifier.kernel.assign(tac.D.classifier.kernel)
    tac.D.twin_classifier.bias.assign(tac.D.classifier.bias)
    none = tiny_model(lambda_ac=0.0, d_projection=True, learning_rate=1e-12)
    out, ref = tac.train_step(b), none.train_step(b)
    assert float(out["g_loss_ac_twin"]) == pytest.approx(float(out["g_loss_ac"]), rel=1e-5)
    assert float(out["g_loss"]) == pytest.approx(float(ref["g_loss"]), rel=1e-4)
    assert float(out["d_loss"]) == pytest.approx(
        float(ref["d_loss"]) + float(out["d_loss_ac"]) + float(out["d_loss_ac_twin"]), rel=1e-4)
    assert "d_loss_ac_twin" not in ref and "g_loss_ac_twin" not in ref


def test_twin_head_is_trained_and_checkpointed(tmp_path):
    m = tiny_model(**TWIN)
    before = m.D.twin_classifier.kernel.numpy().copy()
    step = tf.function(m.train_step)
    b = batch(12, emotions=[0, 1, 2, 3, 4, 5] * 2)
    for _ in range(5):
        out = step(b)
    assert np.isfinite(float(out["g_loss_ac_twin"])) and np.isfinite(float(out["d_loss_ac_twin"]))
    assert np.abs(m.D.twin_classifier.kernel.numpy() - before).max() > 0  # D's optimizer trains it
    path = _weights_checkpoint(m).save(str(tmp_path / "ckpt"))
    fresh = tiny_model(**TWIN)
    _weights_checkpoint(fresh).restore(path).assert_consumed()
    np.testing.assert_array_equal(fresh.D.twin_classifier.kernel.numpy(), m.D.twin_classifier.kernel.numpy())


def test_config_rules_and_paper_preset():
    with pytest.raises(ConfigError, match="ac_twin needs the AC head on features that see no label"):
        CGANConfig(lambda_ac=1.0).replace("ac_twin", True)
    with pytest.raises(ConfigError, match="ac_twin needs the AC head"):
        CGANConfig(d_projection=True).replace("ac_twin", True)
    with pytest.raises(ConfigError, match="ac_twin excludes ac_fake_class"):
        CGANConfig(lambda_ac=1.0, d_projection=True, ac_fake_class=True).replace("ac_twin", True)
    for ok in (dict(d_projection=True), dict(ac_separate_trunk=True)):
        cfg = CGANConfig(lambda_ac=1.0, **ok).replace("ac_twin", True)
        assert cfg.to_dict()["ac_twin"] is True
    assert "ac_twin" not in CGANConfig(lambda_ac=1.0, d_projection=True).to_dict()
    paper = load_config(os.path.join(PRESETS, "cgan_paper.yaml"))
    assert paper.ac_twin is False and "ac_twin" not in paper.to_dict()
    from caae_tf.models.cgan_networks import CGANDiscriminator

    with pytest.raises(ConfigError, match="twin_classes needs the class head"):
        CGANDiscriminator(image_size=64, d_filters=[8, 16, 16, 32], twin_classes=K)
    d = CGANDiscriminator(image_size=64, d_filters=[8, 16, 16, 32], aux_classes=K, twin_classes=K, projection=True)
    assert d.get_config()["twin_classes"] == K
