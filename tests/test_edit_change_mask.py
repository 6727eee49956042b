"""The CAAE's edit-time change mask (CAAEConfig.edit_change_tau, CAAE.source_va) and the gradient difference
loss (CAAEConfig.lambda_gdl)."""

from __future__ import annotations

import numpy as np
import pytest


def _model(**over):
    from test_region_prior import _region_model

    m, batch = _region_model(**over)
    region = np.zeros((32, 32), bool)
    region[10:22, 8:24] = True
    m.set_edit_region(region)
    return m, batch, region


def test_gradient_difference_loss_known_values():
    import tensorflow as tf

    from caae_tf.losses import gradient_difference_loss

    x = tf.constant([[0.0, 2.0], [0.0, 2.0]])[None, ..., None]      # a vertical edge of contrast 2
    soft = tf.constant([[0.0, 1.0], [0.0, 1.0]])[None, ..., None]   # the same edge at half contrast
    assert float(gradient_difference_loss(x, x)) == 0.0
    # width differences: | |2| − |1| | = 1 in both rows; height differences: 0 → 1 + 0
    assert float(gradient_difference_loss(x, soft)) == pytest.approx(1.0)
    # a shifted copy of a constant image has the same (zero) gradients: no penalty for a colour offset
    assert float(gradient_difference_loss(x * 0 + 1.0, x * 0 - 1.0)) == 0.0


def test_gdl_enters_the_eg_objective_and_is_logged():
    m, batch, _ = _model(lambda_gdl=2.0)
    logs = m.train_step(batch)
    assert float(logs["loss_gdl"]) > 0
    plain, batch2, _ = _model()
    assert "loss_gdl" not in plain.train_step(batch2)


def test_source_va_is_the_argmin_of_the_region_error_over_the_lattice():
    import tensorflow as tf

    m, batch, region = _model(edit_source_grid=5, edit_source_levels=1)
    x = batch["image"]
    y_hat = m.source_va(x).numpy()
    g = np.linspace(-1, 1, 5, dtype=np.float32)
    lattice = np.stack(np.meshgrid(g, g, indexing="ij"), -1).reshape(-1, 2)
    z, feats = m.encode_features(x, training=False)
    mask = m.edit_region_mask()
    errors = np.stack([tf.reduce_mean(tf.abs((m.generate(z, np.repeat(y[None], 4, 0), feats, x) - x) * mask),
                                      axis=[1, 2, 3]).numpy() for y in lattice])          # [K, N]
    np.testing.assert_allclose(y_hat, lattice[errors.argmin(0)])
    # a finer level can only lower the error
    m.config = m.config.replace("edit_source_levels", 3)
    y_fine = m.source_va(x).numpy()
    err = [tf.reduce_mean(tf.abs((m.generate(z, y, feats, x) - x) * mask), axis=[1, 2, 3]).numpy()
           for y in (y_hat, y_fine)]
    assert (err[1] <= err[0] + 1e-7).all()
    assert np.abs(y_fine).max() <= 1.0


def test_change_mask_edit_to_the_source_label_is_the_input_and_outside_is_bit_exact():
    m, batch, region = _model(edit_change_tau=0.1)
    x = batch["image"].numpy()
    y_src = m.source_va(x).numpy()
    np.testing.assert_array_equal(m.edit(x, y_src).numpy(), x)  # w = 0 everywhere
    out = m.edit(x, np.array([[0.9, -0.9]] * 4, np.float32)).numpy()
    np.testing.assert_array_equal(out[:, ~region], x[:, ~region])


def test_change_mask_blends_by_how_much_the_label_change_redraws():
    import tensorflow as tf

    m, batch, _ = _model(edit_change_tau=0.05)
    x = tf.constant(batch["image"])
    y = tf.constant(np.array([[0.9, -0.9], [-0.9, 0.9], [0.0, 0.0], [0.5, 0.5]], np.float32))
    z, feats = m.encode_features(x, training=False)
    plain = m.generate(z, y, feats, x)
    source = m.generate(z, m.source_va(x, z, feats), feats, x)
    w = np.clip(np.abs(plain - source).mean(-1, keepdims=True) / 0.05, 0, 1)
    expected = x.numpy() + w * (plain.numpy() - x.numpy())
    np.testing.assert_allclose(m.edit(x, y).numpy(), expected, atol=1e-6)
    # the same inside a tf.function (how Editor and the SavedModel run it)
    np.testing.assert_allclose(tf.function(m.edit)(x, y).numpy(), expected, atol=1e-5)
    assert 0 < w.mean() < 1  # some pixels redrawn, some kept


def test_change_mask_and_pivotal_tuning_survive_export_to_saved_model(tmp_path):
    import tensorflow as tf

    from caae_tf.export.caae import export_caae

    m, batch, _ = _model(edit_change_tau=0.1, edit_source_grid=3, edit_tune_steps=3, edit_tune_source_lr=0.05,
                         edit_tune_code_lr=0.03)
    out = export_caae(m, str(tmp_path / "sm"))
    loaded = tf.saved_model.load(out)
    x = batch["image"].numpy()
    y = np.array([[0.9, -0.9]] * 4, np.float32)
    got = loaded.signatures["edit_float"](images=tf.constant(x), valence_arousal=tf.constant(y))
    got = next(iter(got.values())).numpy()
    np.testing.assert_allclose(got, m.edit(x, y).numpy(), atol=1e-5)


def test_change_mask_config_checks():
    from caae_tf.config import ConfigError
    from test_caae_edit_mode import _cfg

    with pytest.raises(ConfigError, match="edit_change_tau needs edit_region"):
        _cfg(g_residual=False, edit_change_tau=0.1).validate()
    with pytest.raises(ConfigError, match="edit_change_tau must be >= 0"):
        _cfg(g_residual=False, edit_region=True, edit_change_tau=-1.0).validate()
    with pytest.raises(ConfigError, match="edit_source_grid"):
        _cfg(g_residual=False, edit_region=True, edit_change_tau=0.1, edit_source_grid=1).validate()
    assert "edit_change_tau" not in _cfg().to_dict()


# ------------------------------------------------------------------------------- pivotal tuning (edit_tune_steps)

def test_pivotal_tuning_first_step_is_adams_and_leaves_g_untouched():
    """One tuning step is Adam's first step: w − lr·g/(|g| + ε') (bias-corrected); G's variables do not move."""
    import tensorflow as tf

    m, batch, _ = _model(edit_tune_steps=1, edit_tune_lr=1e-2, edit_source_grid=3, edit_source_levels=1)
    x = batch["image"][:1]
    z, feats = m.encode_features(x, training=False)
    y_src = m.source_va(x, z, feats)
    before = [v.numpy().copy() for v in m.G.trainable_variables]
    tuned, z_tuned, y_tuned = m._pivotal_weights(x, z, feats, y_src)
    np.testing.assert_array_equal(z_tuned.numpy(), z.numpy())  # edit_tune_code_lr 0: z stays
    np.testing.assert_array_equal(y_tuned.numpy(), y_src.numpy())  # edit_tune_source_lr 0: ŷ stays
    with tf.GradientTape() as tape:
        g = m.generate(z, y_src, feats, x)
        loss = tf.reduce_mean(tf.abs((g - x) * m.edit_region_mask()))
    grads = tape.gradient(loss, m.G.trainable_variables)
    for w0, w1, gr, v in zip(before, tuned, grads, m.G.trainable_variables):
        gr = gr.numpy()
        expected = w0 - 1e-2 * np.sqrt(1 - 0.999) * gr / (np.sqrt(1 - 0.999) * np.abs(gr) + 1e-8)
        np.testing.assert_allclose(w1.numpy(), expected, atol=1e-5)  # a step is lr = 1e-2
        np.testing.assert_array_equal(v.numpy(), w0)


def test_pivotal_tuning_of_the_code_and_source_label_takes_adams_step():
    """edit_tune_code_lr / edit_tune_source_lr: z and ŷ take their own Adam steps on the same loss (jointly
    with G's weights; ŷ stays in [-1, 1]²); G's weights take the same first step as without them."""
    import tensorflow as tf

    m, batch, _ = _model(edit_tune_steps=1, edit_tune_lr=1e-2, edit_tune_code_lr=0.03, edit_tune_source_lr=0.05,
                         edit_source_grid=3, edit_source_levels=1)
    x = batch["image"][:1]
    z, feats = m.encode_features(x, training=False)
    y_src = tf.constant([[0.3, -0.4]])
    weights, z_tuned, y_tuned = m._pivotal_weights(x, z, feats, y_src)
    with tf.GradientTape() as tape:
        tape.watch([z, y_src])
        loss = tf.reduce_mean(tf.abs((m.generate(z, y_src, feats, x) - x) * m.edit_region_mask()))
    g_z, g_y = (g.numpy() for g in tape.gradient(loss, [z, y_src]))

    def adam_first(value, g, lr):
        return value - lr * np.sqrt(1 - 0.999) * g / (np.sqrt(1 - 0.999) * np.abs(g) + 1e-8)

    np.testing.assert_allclose(y_tuned.numpy(), adam_first(y_src.numpy(), g_y, 0.05), atol=1e-6)
    np.testing.assert_allclose(z_tuned.numpy(), adam_first(z.numpy(), g_z, 0.03), atol=1e-6)
    assert np.abs(y_tuned.numpy() - y_src.numpy()).max() > 0.04  # it moved by about the rate
    m.config.edit_tune_source_lr = m.config.edit_tune_code_lr = 0.0
    plain, z_plain, _ = m._pivotal_weights(x, z, feats, y_src)
    np.testing.assert_array_equal(z_plain.numpy(), z.numpy())
    for a, b in zip(weights, plain):
        np.testing.assert_allclose(a.numpy(), b.numpy(), atol=1e-6)
    # kept in range: a large rate from the corner clips at ±1
    m.config.edit_tune_source_lr = 10.0
    _, _, y_far = m._pivotal_weights(x, z, feats, tf.constant([[1.0, -1.0]]))
    assert np.all(np.abs(y_far.numpy()) <= 1.0)


def test_pivotal_tuning_fits_the_input_once_per_distinct_image():
    import tensorflow as tf

    m, batch, region = _model(edit_tune_steps=15, edit_tune_lr=3e-3, edit_source_grid=3, edit_source_levels=1)
    x = batch["image"].numpy()
    z, feats = m.encode_features(x, training=False)
    y_src = m.source_va(x, z, feats)
    # tuning lowers the region error of the redraw at the source label (what it optimises)
    plain = m.generate(z, y_src, feats, x).numpy()
    _, tuned = m._tuned_edit(tf.constant(x), y_src, z, feats, y_src)
    mask = m.edit_region_mask().numpy()
    err = lambda a: np.abs((a - x) * mask).mean(axis=(1, 2, 3))  # noqa: E731
    assert (err(tuned.numpy()) < err(plain)).all()
    # a batch edits each image as if alone; copies of one image share its tuning; outside the region: x
    labels = np.array([[0.9, -0.9], [-0.9, 0.9], [0.0, 0.5], [0.5, 0.0]], np.float32)
    both = np.stack([x[0], x[1], x[0], x[1]])
    edit = tf.function(m.edit, reduce_retracing=True)  # as Editor and the SavedModel run it
    out = edit(tf.constant(both), tf.constant(labels)).numpy()
    for src in (0, 1):
        alone = edit(tf.constant(x[[src, src]]), tf.constant(labels[[src, src + 2]])).numpy()
        np.testing.assert_allclose(out[[src, src + 2]], alone, atol=2e-5)
        np.testing.assert_array_equal(out[src][~region], x[src][~region])
    np.testing.assert_allclose(m.edit(both, labels).numpy(), out, atol=2e-5)  # eager = graph


def test_pivotal_tuning_config_checks():
    from caae_tf.config import ConfigError
    from test_caae_edit_mode import _cfg

    with pytest.raises(ConfigError, match="edit_tune_steps needs edit_region"):
        _cfg(g_residual=False, edit_tune_steps=5).validate()
    with pytest.raises(ConfigError, match="edit_tune_steps must be >= 0"):
        _cfg(g_residual=False, edit_region=True, edit_tune_lr=0.0).validate()
    with pytest.raises(ConfigError, match="edit_tune_source_lr and edit_tune_code_lr must be >= 0"):
        _cfg(g_residual=False, edit_region=True, edit_tune_source_lr=-0.1).validate()
