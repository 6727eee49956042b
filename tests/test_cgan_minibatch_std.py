"""ProGAN's minibatch standard deviation in D (``d_minibatch_std``, beyond paper 001): the statistic against a
numpy reference (grouping, fallback to the whole batch), D's features and weights with the key, D reads it (a
batch of one repeated image scores differently from a diverse one), training, the config rules and the paper
preset."""

from __future__ import annotations

import os

import numpy as np
import pytest

from caae_tf.config import CGANConfig, ConfigError, load_config

tf = pytest.importorskip("tensorflow")

from caae_tf.models.cgan_networks import CGANDiscriminator, minibatch_stddev  # noqa: E402
from test_cgan_conditional_bn import PRESETS  # noqa: E402
from test_cgan_model import _float32_policy, batch, tiny_model  # noqa: E402,F401 (the fixture is autouse here too)


def _reference(x: np.ndarray, group: int) -> np.ndarray:
    """Per row: the mean over features of the (population) std over the row's group; the rows i, i + M, …
    (M = B / g) form a group, the whole batch when g does not divide B."""
    b = x.shape[0]
    g = min(group, b)
    g = g if b % g == 0 else b
    m = b // g
    return np.array([x[r % m::m].std(0).mean() for r in range(b)])


@pytest.mark.parametrize("b, group", [(8, 4), (8, 2), (6, 4), (5, 4), (1, 4), (4, 8)])
def test_minibatch_stddev_matches_a_numpy_reference(b, group):
    x = np.random.default_rng(b * 10 + group).normal(0.3, 1.5, (b, 4, 4, 3)).astype(np.float32)
    y = minibatch_stddev(tf.constant(x), group).numpy()
    assert y.shape == (b, 4, 4, 4)
    np.testing.assert_array_equal(y[..., :3], x)  # the features pass through unchanged
    ref = _reference(x, group)
    np.testing.assert_allclose(y[..., 3], np.broadcast_to(ref[:, None, None], (b, 4, 4)), atol=1e-3)
    # a batch of one repeated feature map has (almost) no spread; a spread-out one has a large value (a batch of
    # one row is its own group: no spread either)
    same = minibatch_stddev(tf.constant(np.repeat(x[:1], 8, 0)), group).numpy()[..., 3]
    assert np.abs(same).max() < 1e-3
    assert ref.min() > 0.5 if b > 1 else ref.max() == 0.0


def test_minibatch_stddev_keeps_the_dtype_and_works_in_a_graph_with_an_unknown_batch():
    fn = tf.function(lambda h: minibatch_stddev(h, 4), input_signature=[tf.TensorSpec([None, 4, 4, 8], tf.bfloat16)])
    out = fn(tf.cast(tf.random.normal([12, 4, 4, 8]), tf.bfloat16))
    assert out.dtype == tf.bfloat16 and out.shape == (12, 4, 4, 9)
    assert fn.get_concrete_function().structured_outputs.shape.as_list() == [None, 4, 4, 9]


def test_d_with_the_key_has_one_more_feature_channel_and_reads_the_batch_spread():
    plain = CGANDiscriminator(image_size=16, d_filters=[8, 16], kernel_size=4)
    mb = CGANDiscriminator(image_size=16, d_filters=[8, 16], kernel_size=4, minibatch_std=4)
    plain.build()
    mb.build()
    assert plain.logit.kernel.shape == (4 * 4 * 16, 1) and mb.logit.kernel.shape == (4 * 4 * 17, 1)
    assert mb.get_config()["minibatch_std"] == 4 and plain.get_config()["minibatch_std"] == 0
    assert CGANDiscriminator.from_config(mb.get_config()).minibatch_std == 4
    rng = np.random.default_rng(0)
    x = rng.uniform(-1, 1, (8, 16, 16, 3)).astype(np.float32)
    v = np.eye(6, dtype=np.float32)[np.arange(8) % 6]
    diverse = mb.outputs((x, v), training=False)["features"].numpy()
    repeated = mb.outputs((np.repeat(x[:1], 8, 0), v[:1].repeat(8, 0)), training=False)["features"].numpy()
    # the statistic is the last channel of every position: φ is the flattened [4, 4, 17] map
    stat_d, stat_r = diverse.reshape(8, 4, 4, 17)[..., -1], repeated.reshape(8, 4, 4, 17)[..., -1]
    assert np.abs(stat_r).max() < 1e-3 < stat_d.min()
    # the first row's own features are the same whatever the other rows are; only the statistic differs
    alone = mb.outputs((np.repeat(x[:1], 8, 0), np.repeat(v[:1], 8, 0)), training=False)["features"].numpy()
    np.testing.assert_allclose(alone.reshape(8, 4, 4, 17)[0, ..., :16], diverse.reshape(8, 4, 4, 17)[0, ..., :16],
                               atol=1e-5)
    with_proj = CGANDiscriminator(image_size=16, d_filters=[8, 16], kernel_size=4, minibatch_std=4, projection=True)
    with_proj.build()
    assert with_proj.embed_v.kernel.shape == (6, 4 * 4 * 17)


def test_training_with_the_key_runs_and_d_learns_to_use_the_statistic():
    m = tiny_model(d_minibatch_std=4)
    assert m.D.minibatch_std == 4
    step = tf.function(m.train_step)
    w_stat = lambda: m.D.logit.kernel.numpy().reshape(4, 4, -1, 1)[..., -1, 0].copy()  # noqa: E731
    before = w_stat()
    outs = [{k: float(t) for k, t in step(batch(8, seed=s)).items()} for s in range(3)]
    assert all(np.isfinite(list(o.values())).all() for o in outs)
    assert not np.allclose(w_stat(), before)  # the logit's weights on the statistic are trained


def test_config_rules_and_paper_preset():
    assert CGANConfig().d_minibatch_std == 0
    with pytest.raises(ConfigError, match="d_minibatch_std must be >= 0"):
        CGANConfig(d_minibatch_std=-1).validate()
    with pytest.raises(ConfigError, match="d_joint_batch"):
        CGANConfig(d_minibatch_std=4, d_joint_batch=True).validate()
    CGANConfig(d_minibatch_std=4).validate()
    paper = load_config(os.path.join(PRESETS, "cgan_paper.yaml"))
    assert paper.d_minibatch_std == 0 and "d_minibatch_std" not in paper.to_dict()
    demo = load_config(os.path.join(PRESETS, "cgan_demo.yaml"))  # measured, not kept (README, "Ninth round")
    assert demo.d_minibatch_std == 0


def test_class_means_script_tells_one_face_shape_from_many():
    """experiments/cgan_class_means.py: a "G" that draws one aligned face for every z has a sharper class mean
    than a set of shifted faces; a G whose change from Neutral is half the real one projects at 0.5."""
    from conftest import experiment_module

    mod = experiment_module("cgan_class_means")
    rng = np.random.default_rng(0)
    face = np.zeros((16, 16, 3), np.float32)
    face[4:12, 5:11] = 1.0  # a bright block on a dark ground
    mouth = np.zeros_like(face)
    mouth[10, 6:10] = 0.8  # what class 1 adds
    shifts = rng.integers(-2, 3, (40, 2))
    real = np.stack([np.roll(face + (i % 2) * mouth, tuple(s), axis=(0, 1)) for i, s in enumerate(shifts)])
    classes = np.arange(40) % 2
    fake = [np.repeat(face[None], 10, 0), np.repeat((face + 0.5 * mouth)[None], 10, 0)]
    stats, real_means, fake_means = mod.class_mean_stats(real, classes, fake, ("neutral", "happiness"))
    assert stats["neutral"]["sharpness_ratio"] > 1.5 and stats["neutral"]["pixel_std_g"] == 0.0
    assert stats["neutral"]["coarse_sharpness_ratio"] > 1.2
    # a fixed-position lattice on every image of G survives the mean: fine structure, not face shapes
    lattice = np.zeros_like(face)
    lattice[::4, :] = 0.3
    on_real = [real[classes == 0][:20] + lattice, real[classes == 1][:20] + lattice]
    lat, _, _ = mod.class_mean_stats(real, classes, on_real, ("neutral", "happiness"))
    assert lat["neutral"]["fixed_pattern_g"] > 2 * lat["neutral"]["fixed_pattern_real"]
    assert lat["neutral"]["coarse_sharpness_ratio"] < lat["neutral"]["sharpness_ratio"]
    assert stats["neutral"]["pixel_std_real"] > 0.1
    assert "delta_projection" not in stats["neutral"]
    np.testing.assert_allclose(fake_means[1], face + 0.5 * mouth)
    # aligned real faces: G's change from Neutral is half the real change, in the same direction
    aligned = np.stack([face + (i % 2) * mouth for i in range(40)]) + rng.normal(0, 0.01, (40, 16, 16, 3))
    happy, _, _ = mod.class_mean_stats(aligned.astype(np.float32), classes, fake, ("neutral", "happiness"))
    assert happy["happiness"]["delta_projection"] == pytest.approx(0.5, abs=0.02)
    assert happy["happiness"]["delta_cosine"] > 0.95
    assert happy["neutral"]["sharpness_ratio"] == pytest.approx(1, abs=0.1)
    grid = mod.figure(real_means, fake_means, scale=2)
    assert grid.dtype == np.uint8 and grid.shape == (5 * 16 * 2, 2 * 16 * 2, 3)
    assert (grid[2 * 32:3 * 32, :32] == 128).all()  # Neutral minus itself: mid-grey
    with pytest.raises(ValueError, match="no real images of class 1"):
        mod.class_mean_stats(real[classes == 0], classes[classes == 0], fake, ("neutral", "happiness"))


def test_class_means_skin_shift():
    """cgan_class_means.skin_shift: a G whose label darkens the cheeks of the same z by 0.2 reads -0.2 (and |.|
    0.2); one that only redraws the mouth reads 0; real identities that keep their skin read ~0."""
    from conftest import experiment_module

    mod = experiment_module("cgan_class_means")
    rng = np.random.default_rng(1)
    skins = rng.uniform(-0.5, 0.5, (12, 1, 1, 1)).astype(np.float32)
    neutral = np.repeat(np.repeat(np.repeat(skins, 32, 1), 32, 2), 3, 3)
    mouth_only = neutral.copy()
    mouth_only[:, 24:27, 12:20] = -1.0  # 72-84 % down, centred: outside both cheek boxes
    darker = neutral - 0.2
    assert mod.skin_shift(neutral, mouth_only) == pytest.approx((0.0, 0.0), abs=1e-6)
    assert mod.skin_shift(neutral, darker) == pytest.approx((-0.2, 0.2), abs=1e-5)
    # real: 12 identities x (2 Neutral + 2 class-1 images), pixel noise only; paired by identity
    real = np.concatenate([neutral, neutral, mouth_only, mouth_only]) + rng.normal(0, 0.02, (48, 32, 32, 3))
    classes, ident = np.repeat([0, 0, 1, 1], 12), np.tile(np.arange(12), 4)
    stats, _, _ = mod.class_mean_stats(real.astype(np.float32), classes, [neutral, darker],
                                       ("neutral", "sadness"), real_identity=ident)
    assert abs(stats["sadness"]["skin_shift_real"]) < 0.01 and stats["sadness"]["skin_abs_real"] < 0.01
    assert stats["sadness"]["skin_shift_g"] == pytest.approx(-0.2, abs=1e-5)
    assert stats["sadness"]["skin_g"] == pytest.approx(stats["neutral"]["skin_g"] - 0.2, abs=1e-5)
    assert stats["sadness"]["skin_real"] == pytest.approx(stats["neutral"]["skin_real"], abs=0.01)
    assert "skin_shift_g" not in stats["neutral"]
