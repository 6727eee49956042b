"""CAAE networks of paper 000 §III: parameter counts, shapes, label conditioning, train_step, config."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

tf = pytest.importorskip("tensorflow")
import keras

from caae_tf.config import CAAEConfig
from caae_tf.errors import TrainingError
from _train_helpers import caae_batch, tiny_caae_config
from caae_tf.models.caae import (
    CAAE, Encoder, Generator, ImageDiscriminator, LatentDiscriminator, TileConcat,
)


def n_trainable(model) -> int:
    return int(sum(np.prod(v.shape) for v in model.trainable_variables))


tiny_config = tiny_caae_config
batch = caae_batch



@pytest.fixture(scope="module")
def paper_models():
    cfg = CAAEConfig(identity_weight=0.0)
    model = CAAE(cfg)
    model.build_all({"image": tf.zeros([1, 96, 96, 3]), "va": tf.zeros([1, 2])})
    return model


def test_paper_parameter_counts_at_96px(paper_models):
    m = paper_models
    assert n_trainable(m.E) == 5_228_210
    assert n_trainable(m.G) == 23_029_059
    # D_img: convs see 3, then 16+100, 32+100, 64+100 channels; FC on 6·6·(128+100); BN γ/β trainable
    convs = [(3, 16), (116, 32), (132, 64), (164, 128)]
    d_img = sum(25 * i * o + o + 2 * o for i, o in convs) + (36 * 228 * 1024 + 1024) + (1024 + 1)
    assert n_trainable(m.D_img) == d_img
    d_z = (50 * 64 + 64 + 128) + (64 * 32 + 32 + 64) + (32 * 16 + 16 + 32) + (16 + 1)
    assert n_trainable(m.D_z) == d_z
    # G has 6 transposed convs: 4 stride 2, 2 stride 1 (the last to RGB)
    deconvs = [lay for lay in m.G._flatten_layers() if isinstance(lay, keras.layers.Conv2DTranspose)]
    assert [d.strides for d in deconvs] == [(2, 2)] * 4 + [(1, 1)] * 2
    assert deconvs[-1].filters == 3


def test_initialisation_follows_paper(paper_models):
    k = paper_models.G.fc.kernel.numpy()
    assert abs(float(k.mean())) < 1e-3 and float(k.std()) == pytest.approx(0.02, rel=0.05)
    for net in (paper_models.E, paper_models.G, paper_models.D_img, paper_models.D_z):
        for v in net.trainable_variables:
            if v.path.endswith("bias"):
                assert not np.any(v.numpy())


@pytest.mark.parametrize("size", [64, 96, 128])
def test_shapes_and_ranges_at_resolutions(size):
    cfg = tiny_config(image_size=size)
    m = CAAE(cfg)
    b = batch(cfg, 2)
    m.build_all(b)
    z = m.encode(b["image"])
    assert z.shape == (2, cfg.z_dim) and z.dtype == tf.float32
    assert float(tf.reduce_max(tf.abs(z))) <= 1.0
    x_gen = m.decode(z, b["va"])
    assert x_gen.shape == (2, size, size, 3) and x_gen.dtype == tf.float32
    assert float(tf.reduce_max(tf.abs(x_gen))) <= 1.0
    assert m.D_img((x_gen, b["va"])).shape == (2, 1)
    assert m.D_z(z).shape == (2, 1)
    assert m({"image": b["image"], "va": b["va"]}).shape == (2, size, size, 3)


def test_generator_input_is_z_plus_repeated_label():
    g = Generator(image_size=32, z_dim=5, label_repeat=4, fc_channels=2, filters=[2, 2, 2, 2])
    z = tf.zeros([1, 5])
    g((z, tf.zeros([1, 2])))
    assert g.fc.kernel.shape[0] == 5 + 2 * 4
    # repeat layout [v]*r + [a]*r, the same as labels.tile_labels
    from caae_tf.labels import tile_labels

    va = np.array([[0.25, -0.5]], np.float32)
    np.testing.assert_array_equal(g.repeat_label(va).numpy(), tile_labels(va, 4))


def test_image_discriminator_sees_label_after_every_block():
    d = ImageDiscriminator(filters=[4, 6, 8, 10], label_repeat=3, fc_units=8)
    x = tf.random.uniform([2, 32, 32, 3], -1, 1, seed=1)
    y1 = tf.constant([[0.5, -0.5], [0.1, 0.9]])
    out1 = d((x, y1), training=False)
    concats = [lay for lay in d._flatten_layers() if isinstance(lay, TileConcat)]
    assert len(concats) == 4
    # conv k+1 sees the previous block's filters + 2·label_repeat label channels; FC sees the last concat
    assert [c.kernel.shape[2] for c in d.convs] == [3, 4 + 6, 6 + 6, 8 + 6]
    assert d.fc.kernel.shape[0] == 2 * 2 * (10 + 6)
    # the label reaches the output even through the last block alone: changing y changes the logit
    out2 = d((x, -y1), training=False)
    assert not np.allclose(out1.numpy(), out2.numpy())


def test_latent_discriminator_layout():
    d = LatentDiscriminator([64, 32, 16])
    d(tf.zeros([2, 50]))
    assert [f.units for f in d.fcs] == [64, 32, 16] and d.logit.units == 1
    assert len(d.bns) == 3


def test_get_config_round_trips():
    cfg = tiny_config()
    m = CAAE(cfg)
    again = CAAE.from_config(m.get_config())
    assert again.get_config() == m.get_config()
    assert again.config == cfg
    for net in (m.E, m.G, m.D_img, m.D_z):
        clone = type(net).from_config(net.get_config())
        assert clone.get_config() == net.get_config()
    e = Encoder(z_dim=7, filters=[2, 3], kernel_size=3)
    assert Encoder.from_config(e.get_config()).get_config()["filters"] == [2, 3]


def test_identity_network_required_unless_weight_zero():
    with pytest.raises(TrainingError, match="identity_weight=0"):
        CAAE(tiny_config(identity_weight=0.5))
    m = CAAE.from_config(tiny_config(identity_weight=0.5).to_dict())  # inference-only rebuild is allowed
    assert m.inference_only and m.identity_net is None
    with pytest.raises(TrainingError):
        m.build_optimizers()


class _TinyIdentity(keras.Model):
    """Stand-in identity network: two frozen conv feature maps."""

    def __init__(self):
        super().__init__(name="tiny_identity")
        self.c1 = keras.layers.Conv2D(3, 3, padding="same", activation="relu")
        self.c2 = keras.layers.Conv2D(4, 3, strides=2, padding="same", activation="relu")

    def call(self, x, training=None):
        a = self.c1(x)
        return [a, self.c2(a)]


def _weights(m):
    return {name: [v.numpy().copy() for v in net.trainable_variables]
            for name, net in (("E", m.E), ("G", m.G), ("D_img", m.D_img), ("D_z", m.D_z))}


@pytest.mark.parametrize("with_identity", [False, True])
def test_train_step_under_tf_function_updates_every_network(with_identity):
    keras.utils.set_random_seed(0)
    ident = _TinyIdentity() if with_identity else None
    cfg = tiny_config(identity_weight=1.0 / 3.0 if with_identity else 0.0)
    m = CAAE(cfg, identity_net=ident)
    b = batch(cfg, 4)
    m.build_all(b)
    opts = m.build_optimizers()
    assert set(opts) == {"eg_optimizer", "d_img_optimizer", "d_z_optimizer"}
    assert opts["eg_optimizer"].built
    if ident is not None:
        ident_before = [v.numpy().copy() for v in ident.weights]
        # the identity network is not tracked: not in the CAAE's variables (nor checkpoints)
        assert not any(v is w for v in m.variables for w in ident.weights)
    before = _weights(m)
    step = tf.function(m.train_step)
    out = step(b)
    out = step(batch(cfg, 4, seed=1))
    expected = {"loss_rec", "loss_iden", "loss_z", "loss_img", "loss_cond", "loss_eg_total", "d_z_loss",
                "d_img_loss", "d_z_real", "d_z_fake", "d_img_real", "d_img_fake"}
    assert set(out) == expected
    for k, v in out.items():
        assert v.dtype == tf.float32 and v.shape == () and np.isfinite(float(v)), k
    for k in ("d_z_real", "d_z_fake", "d_img_real", "d_img_fake"):
        assert 0.0 < float(out[k]) < 1.0
    if with_identity:
        assert float(out["loss_iden"]) > 0
        for a, v in zip(ident_before, ident.weights):
            np.testing.assert_array_equal(a, v.numpy())
    else:
        assert float(out["loss_iden"]) == 0.0
    after = _weights(m)
    for net in before:
        changed = [not np.array_equal(a, b2) for a, b2 in zip(before[net], after[net])]
        assert all(changed), f"{net}: {changed.count(False)} variables unchanged"
    # Eq. (5) total from the reported terms
    lam = (cfg.lambda_rec, cfg.identity_weight, cfg.lambda_z, cfg.lambda_img)
    terms = (out["loss_rec"], out["loss_iden"], out["loss_z"], out["loss_img"])
    assert float(out["loss_eg_total"]) == pytest.approx(sum(w * float(t) for w, t in zip(lam, terms)), rel=1e-5)
    # BatchNorm moving statistics are updated (the TF1 reference code never ran those updates)
    assert not np.allclose(m.D_z.bns[0].moving_mean.numpy(), 0.0)


def test_train_step_is_deterministic_for_a_seed():
    def run():
        keras.utils.set_random_seed(0)
        cfg = tiny_config()
        m = CAAE(cfg)
        b = batch(cfg, 4)
        m.build_all(b)
        m.build_optimizers()
        return [float(m.train_step(b)["loss_eg_total"]) for _ in range(2)]  # eager: no tracing cost

    assert run() == run()


def test_random_target_conditioning_term():
    """lambda_cond > 0 (beyond the paper): an extra adversarial term on edits to random labels enters Eq. (5)
    and D_img's loss; with lambda_cond = 0 the step is the paper's."""
    keras.utils.set_random_seed(0)
    cfg = dataclasses.replace(tiny_config(), lambda_cond=0.5)
    m = CAAE(cfg)
    b = batch(cfg, 4)
    m.build_all(b)
    m.build_optimizers()
    out = m.train_step(b)
    lam = (cfg.lambda_rec, cfg.identity_weight, cfg.lambda_z, cfg.lambda_img, cfg.lambda_cond)
    terms = [float(out[k]) for k in ("loss_rec", "loss_iden", "loss_z", "loss_img", "loss_cond")]
    assert terms[-1] > 0
    assert float(out["loss_eg_total"]) == pytest.approx(sum(w * t for w, t in zip(lam, terms)), rel=1e-5)
    # D_img's loss now also holds the edit and mismatch negatives: larger than the two-term paper loss
    assert float(out["d_img_loss"]) > 2 * 0.69 * 0.9


def test_mixed_bfloat16_outputs_are_float32():
    keras.mixed_precision.set_global_policy("mixed_bfloat16")
    try:
        cfg = tiny_config()
        m = CAAE(cfg)
        b = batch(cfg, 4)
        m.build_all(b)
        assert m.E.convs[0].compute_dtype == "bfloat16"
        assert m.encode(b["image"]).dtype == tf.float32
        assert m.edit(b["image"], b["va"]).dtype == tf.float32
        assert m.D_img((b["image"], b["va"])).dtype == tf.float32
        m.build_optimizers()
        out = m.train_step(b)
        assert all(v.dtype == tf.float32 and np.isfinite(float(v)) for v in out.values())
    finally:
        keras.mixed_precision.set_global_policy("float32")


def test_mixed_float16_wraps_optimizers_in_loss_scaling():
    keras.mixed_precision.set_global_policy("mixed_float16")
    try:
        m = CAAE(tiny_config())
        opts = m.build_optimizers()
        assert all(isinstance(o, keras.optimizers.LossScaleOptimizer) for o in opts.values())
    finally:
        keras.mixed_precision.set_global_policy("float32")


def test_sample_images_grids():
    cfg = tiny_config()
    m = CAAE(cfg)
    b = batch(cfg, 4)
    m.build_all(b)
    grids = m.sample_images(b)
    s, pad = cfg.image_size, 2
    assert set(grids) == {"inputs", "reconstructions", "va_sweep"}
    assert grids["inputs"].dtype == np.uint8 and grids["inputs"].shape == (s + 2 * pad, 4 * s + 5 * pad, 3)
    assert grids["reconstructions"].shape == grids["inputs"].shape
    # 4 rows (inputs), 1 + 7 columns (input, then the 7-step diagonal sweep)
    assert grids["va_sweep"].shape == (4 * s + 5 * pad, 8 * s + 9 * pad, 3)
    # the first column of the sweep is the input image itself
    from caae_tf.images import to_uint8

    np.testing.assert_array_equal(grids["va_sweep"][pad:pad + s, pad:pad + s], to_uint8(b["image"].numpy()[0]))


def test_checkpoint_round_trip_restores_weights(tmp_path):
    cfg = tiny_config()
    m = CAAE(cfg)
    b = batch(cfg, 2)
    m.build_all(b)
    path = tf.train.Checkpoint(model=m).save(str(tmp_path / "ckpt"))
    m2 = CAAE(cfg)
    m2.build_all(b)
    tf.train.Checkpoint(model=m2).restore(path).assert_existing_objects_matched()
    np.testing.assert_allclose(m.edit(b["image"], b["va"]).numpy(), m2.edit(b["image"], b["va"]).numpy())
