"""The AC head's "generated" class (``ac_fake_class``, beyond paper 001; the K+1-class discriminator of Salimans
et al. 2016 §5): head size, the D term recomputed by hand, D's objective, that D learns to put generated
images in class K, the config rules and the paper preset."""

from __future__ import annotations

import os

import numpy as np
import pytest
import yaml

from caae_tf.config import CGANConfig, ConfigError, load_config

tf = pytest.importorskip("tensorflow")

from conftest import experiment_module  # noqa: E402
from test_cgan_conditional_bn import PRESETS  # noqa: E402
from test_cgan_model import _float32_policy, batch, tiny_model  # noqa: E402,F401 (the fixture is autouse here too)

HERE = os.path.dirname(os.path.abspath(__file__))
K = 6


def _ce(logits, label):
    labels = tf.fill([tf.shape(logits)[0]], label)
    return tf.nn.sparse_softmax_cross_entropy_with_logits(labels=labels, logits=tf.cast(logits, tf.float32))


def test_head_has_a_generated_class_and_the_d_term_is_ce_of_fakes_in_class_k():
    assert tiny_model(lambda_ac=1.0).D.aux_classes == K
    b = batch(4, emotions=[0, 1, 2, 5])
    v = tf.one_hot(b["emotion"], K)
    ref = tiny_model(lambda_ac=1.0, ac_fake_class=True)
    assert ref.D.aux_classes == K + 1
    z = ref.draw_noise(4)  # train_step's first draw (counter 0 → 1)
    fake = ref.G((z, v), training=True)
    want_fake = float(tf.reduce_mean(_ce(ref.D.outputs((fake, v), training=True)["class_logits"], K)))
    m = tiny_model(lambda_ac=1.0, ac_fake_class=True)
    out = {k: float(t) for k, t in tf.function(m.train_step)(b).items()}
    assert out["d_loss_ac_fake"] == pytest.approx(want_fake, rel=1e-4)
    assert all(np.isfinite(list(out.values())))
    assert "d_loss_ac_fake" not in tiny_model(lambda_ac=1.0).train_step(b)


def test_d_objective_adds_lambda_times_the_fake_class_term():
    m = tiny_model(lambda_ac=0.5, ac_fake_class=True, d_mismatch_weight=0.0)
    terms = {"d_loss_real": tf.constant(0.3), "d_loss_fake": tf.constant(0.2), "d_loss_ac": tf.constant(0.1),
             "d_loss_ac_fake": tf.constant(0.7)}
    assert float(m._d_objective(terms)) == pytest.approx(0.3 + 0.2 + 0.5 * 0.1 + 0.5 * 0.7)
    plain = tiny_model(lambda_ac=0.5, d_mismatch_weight=0.0)
    assert float(plain._d_objective(terms)) == pytest.approx(0.3 + 0.2 + 0.5 * 0.1)


def test_d_learns_to_put_generated_images_in_class_k():
    m = tiny_model(lambda_ac=1.0, ac_fake_class=True)
    step = tf.function(m.train_step)
    b = batch(8)
    first = [float(step(b)["d_loss_ac_fake"]) for _ in range(3)]
    for _ in range(25):
        last = float(step(b)["d_loss_ac_fake"])
    assert last < 0.5 * np.mean(first), (first, last)


def test_config_rules_and_paper_preset():
    with pytest.raises(ConfigError, match="ac_fake_class needs the AC head"):
        CGANConfig().replace("ac_fake_class", True)
    cfg = CGANConfig().replace("lambda_ac", 1.0, validate=False).replace("ac_fake_class", True)
    assert cfg.to_dict()["ac_fake_class"] is True
    paper = load_config(os.path.join(PRESETS, "cgan_paper.yaml"))
    assert paper.ac_fake_class is False and "ac_fake_class" not in paper.to_dict()
    with open(os.path.join(HERE, "data", "cgan_paper_resolved.yaml"), encoding="utf-8") as fh:
        assert yaml.safe_dump(paper.to_dict(), sort_keys=False) == fh.read()


def _probe_module():
    return experiment_module("cgan_ac_probe")


def test_ac_probe_reports_the_heads_reading_next_to_the_regressors():
    probe = _probe_module()

    class MeanBrightness:  # a stand-in judge: valence = mean pixel, arousal = 0
        def predict_va(self, x):
            x = np.asarray(x)
            return np.stack([x.mean(axis=(1, 2, 3)), np.zeros(len(x))], 1)

    for fake_class in (False, True):
        m = tiny_model(lambda_ac=1.0, ac_fake_class=fake_class)
        rows = probe.probe(m, MeanBrightness(), num_z=5)
        assert [r["emotion"] for r in rows] == ["neutral", "sadness", "disgust", "fear", "anger", "happiness"]
        for k, r in enumerate(rows):
            v = tf.one_hot(tf.fill([5], k), K)
            x = m.sampler((tf.random.stateless_normal([5, m.z_dim], seed=[0, 0]), v), training=False)
            assert r["regressor_va"][0] == pytest.approx(float(tf.reduce_mean(x)), abs=1e-5)
            assert 0.0 <= r["head_share"] <= 1.0
            assert (r["head_fake_share"] is None) == (not fake_class)
    with pytest.raises(SystemExit, match="no AC head"):
        probe.probe(tiny_model(), MeanBrightness(), num_z=2)


def test_ac_mismatch_makes_the_head_read_the_image_not_the_label():
    """Without ``ac_mismatch`` the head can copy the tiled label of D's input; with it, shown a real image with a
    wrong label, it names the image's own class (a fixed batch of 6 random images, one per class)."""
    b = batch(6, emotions=[0, 1, 2, 3, 4, 5])
    x = tf.cast(b["image"], tf.float32)
    wrong = tf.one_hot((b["emotion"] + 3) % K, K)
    reads, copies = {}, {}
    for key in (False, True):
        m = tiny_model(lambda_ac=1.0, d_mismatch_weight=0.5, ac_mismatch=key)
        step = tf.function(m.train_step)
        for _ in range(60):
            out = step(b)
        assert ("d_loss_ac_mismatch" in out) == key
        logits = m.D.outputs((x, wrong), training=False)["class_logits"]
        reads[key] = tf.argmax(logits, -1, output_type=tf.int32).numpy()
        copies[key] = _probe_module().label_copy(m, x.numpy(), b["emotion"].numpy())  # all five wrong labels
    own, shown = b["emotion"].numpy(), (b["emotion"].numpy() + 3) % K
    assert (reads[True] == own).mean() >= 5 / 6, reads
    assert (reads[False] == shown).mean() >= (reads[False] == own).mean(), reads
    assert copies[True]["names_own_class"] >= 5 / 6 and copies[True]["names_shown_label"] <= 1 / 6, copies
    assert copies[False]["names_shown_label"] >= copies[False]["names_own_class"], copies
    with pytest.raises(ConfigError, match="ac_mismatch needs the AC head and the matching-aware D"):
        CGANConfig().replace("lambda_ac", 1.0, validate=False).replace("ac_mismatch", True)
    paper = load_config(os.path.join(PRESETS, "cgan_paper.yaml"))
    assert paper.ac_mismatch is False and "ac_mismatch" not in paper.to_dict()
