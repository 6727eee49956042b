"""The spectral term of G's loss (``lambda_spectral``, beyond paper 001; the reduced spectrum of Durall, Keuper &
Keuper 2020): ring matrix, the reduced spectrum of an image whose spectrum is known analytically, the loss's
zero, sign and gradient, the term in the train step, the config rules and the paper preset."""

from __future__ import annotations

import os

import numpy as np
import pytest

from caae_tf.config import CGANConfig, ConfigError, load_config

tf = pytest.importorskip("tensorflow")

from caae_tf.losses import radial_bins, radial_log_power, spectral_loss  # noqa: E402
from conftest import experiment_module  # noqa: E402
from test_cgan_conditional_bn import PRESETS  # noqa: E402
from test_cgan_model import _float32_policy, batch, tiny_model  # noqa: E402,F401 (the fixture is autouse here too)


def test_ring_matrix_averages_each_ring_once():
    m = radial_bins(16)
    assert m.shape == (256, 8)
    np.testing.assert_allclose(m.sum(axis=0), 1.0, rtol=1e-6)  # an average over each ring
    assert ((m > 0).sum(axis=1) <= 1).all()  # every frequency in at most one ring
    assert m[0].sum() == 0  # DC left out
    # (k_y, k_x) = (0, 3) and (0, 13) (= -3) are in ring 3; (8, 8) (radius 11.3) is beyond the last ring
    assert m[3, 2] > 0 and m[13, 2] > 0 and m[8 * 16 + 8].sum() == 0


@pytest.mark.parametrize("freq", [2, 5, 8])
def test_reduced_spectrum_of_a_cosine(freq):
    """A grey image A·cos(2π f x / S) has |DFT|² = (A·S²/2)² at (0, ±f) and 0 elsewhere, so ring f holds
    2·(A·S²/2)² / n_f and every other ring nothing (log → log 1e-8); at f = S/2 the two peaks are one bin,
    (A·S²)²."""
    s, amp = 16, 0.5
    x = amp * np.cos(2 * np.pi * freq * np.arange(s) / s)
    img = np.repeat(np.tile(x[None, :], (s, 1))[None, :, :, None], 3, axis=-1).astype(np.float32)
    n_f = int((radial_bins(s)[:, freq - 1] > 0).sum())
    got = radial_log_power(tf.constant(np.concatenate([img, img])), None).numpy()
    want = np.log((2 * (amp * s * s / 2) ** 2 if 2 * freq < s else (amp * s * s) ** 2) / n_f)
    assert got[freq - 1] == pytest.approx(want, rel=1e-4)
    others = np.delete(got, freq - 1)
    assert (others < np.log(1e-3)).all(), got
    # weights: a zero-weight row does not count
    blank = np.zeros_like(img)
    weighted = radial_log_power(tf.constant(np.concatenate([img, blank])), tf.constant([1.0, 0.0])).numpy()
    assert weighted[freq - 1] == pytest.approx(want, rel=1e-4)


def test_loss_is_zero_on_the_same_batch_and_its_gradient_restores_the_high_frequencies():
    rng = np.random.default_rng(0)
    real = tf.constant(rng.uniform(-1, 1, (8, 16, 16, 3)).astype(np.float32))
    assert float(spectral_loss(real, real)) == pytest.approx(0.0, abs=1e-10)
    # a box-blurred copy lacks high frequencies: the loss is positive, and a gradient step on it moves the
    # blurred batch's top rings back toward the real batch's
    blurred = tf.Variable(tf.nn.avg_pool2d(real, 3, 1, "SAME"))
    before = float(spectral_loss(blurred, real))
    assert before > 0.1
    top_gap = lambda: float(tf.reduce_mean(radial_log_power(real)[-4:] - radial_log_power(blurred)[-4:]))  # noqa: E731
    gap0 = top_gap()
    for _ in range(5):
        with tf.GradientTape() as tape:
            loss = spectral_loss(blurred, real)
        blurred.assign_sub(0.02 * tape.gradient(loss, blurred))
    assert float(spectral_loss(blurred, real)) < before and top_gap() < gap0 and gap0 > 0


def test_train_step_adds_lambda_times_the_term_for_g():
    b = batch(4, emotions=[0, 1, 2, 5])
    ref = tiny_model(lambda_spectral=2.0)
    z = ref.draw_noise(4)  # train_step's first draw
    fake = ref.G((z, tf.one_hot(b["emotion"], 6)), training=True)
    want = float(spectral_loss(fake, b["image"]))
    out = {k: float(t) for k, t in tf.function(tiny_model(lambda_spectral=2.0).train_step)(b).items()}
    assert out["g_loss_spectral"] == pytest.approx(want, rel=1e-4)
    plain = {k: float(t) for k, t in tf.function(tiny_model().train_step)(b).items()}
    assert "g_loss_spectral" not in plain
    # D's update is the same with or without the key, so G's adversarial term is too: g_loss differs by λ·term
    assert out["d_loss"] == pytest.approx(plain["d_loss"], rel=1e-5)
    assert out["g_loss"] - plain["g_loss"] == pytest.approx(2.0 * want, rel=1e-3, abs=1e-5)


def test_config_rules_and_paper_preset():
    with pytest.raises(ConfigError, match="lambda_spectral must be >= 0"):
        CGANConfig().replace("lambda_spectral", -1.0)
    assert CGANConfig().replace("lambda_spectral", 0.5).to_dict()["lambda_spectral"] == 0.5
    paper = load_config(os.path.join(PRESETS, "cgan_paper.yaml"))
    assert paper.lambda_spectral == 0.0 and "lambda_spectral" not in paper.to_dict()


def test_judge_blur_rows_order_the_blurred_sets_and_read_the_model():
    jb = experiment_module("judge_blur")

    class MeanBrightness:  # a stand-in judge: valence = mean pixel, arousal = mean |Laplacian| proxy
        def predict_va(self, x):
            x = np.asarray(x)
            return np.stack([x.mean(axis=(1, 2, 3)), np.abs(np.diff(x, axis=1)).mean(axis=(1, 2, 3))], 1)

    rng = np.random.default_rng(0)
    real = rng.uniform(-1, 1, (12, 16, 16, 3)).astype(np.float32)
    emotion = np.arange(12) % 6
    table = jb.rows(MeanBrightness(), real, emotion, [0.5, 1.0], None, 0)
    assert [r["set"] for r in table] == ["real training images", "real, Gaussian blur σ = 0.5 px",
                                         "real, Gaussian blur σ = 1 px"]
    assert table[0]["gap"] == pytest.approx(0.0, abs=1e-6)
    assert table[0]["hf"] > table[1]["hf"] > table[2]["hf"] and 0 > table[1]["gap"] > table[2]["gap"]
    assert table[0]["va"][3][0] == pytest.approx(float(real[emotion == 3].mean()), abs=1e-6)
    assert table[0]["va"][3][1] > table[2]["va"][3][1]  # the stand-in's "arousal" falls with blur
    assert "| real training images | " in jb.markdown(table, "cmd")


def test_judge_blur_brightness_quarters():
    from caae_tf.generate import CGANSampler
    from test_cgan_model import tiny_model

    jb = experiment_module("judge_blur")

    class MeanBrightness:  # valence = mean pixel, arousal = minus it
        def predict_va(self, x):
            m = np.asarray(x).mean(axis=(1, 2, 3))
            return np.stack([m, -m], 1)

    # 8 real images per class at brightness levels -0.8 .. 0.6: the quarters sort them
    levels = np.linspace(-0.8, 0.6, 8)
    real = np.concatenate([np.full((8, 64, 64, 3), 1.0, np.float32) * levels[:, None, None, None]] * 6)
    emotion = np.repeat(np.arange(6), 8)
    np.testing.assert_allclose(jb.face_brightness(real[:8]), levels, atol=1e-6)
    table = jb.by_brightness(MeanBrightness(), real, emotion, CGANSampler.from_model(tiny_model()), num_z=6)
    assert [r["emotion"] for r in table] == ["sadness", "disgust", "fear", "anger", "happiness"]
    assert [r["axis"] for r in table] == ["valence", "valence", "arousal", "arousal", "valence"]
    happy = table[-1]
    np.testing.assert_allclose(happy["real"], [levels[0:2].mean(), levels[2:4].mean(), levels[4:6].mean(),
                                               levels[6:8].mean()], atol=1e-5)
    assert sum(happy["generated_counts"]) == 6
    assert "| happiness | valence |" in jb.brightness_markdown(table)
