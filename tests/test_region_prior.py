"""The editing region estimated from labelled data (caae_tf.region_prior, CAAEConfig.edit_region_prior)."""

from __future__ import annotations

import os

import numpy as np
import pytest


def _faces(n=400, size=8, seed=0):
    """Pixel (2, 3) = valence (plus identity noise), pixel (5, 1) = arousal², pixel (0, 0) constant, the rest
    pure per-image noise (identity)."""
    rng = np.random.default_rng(seed)
    va = rng.uniform(-1, 1, (n, 2))
    x = rng.normal(0, 1, (n, size, size, 3))
    x[:, 2, 3, :] = va[:, :1] * 4 + rng.normal(0, 0.1, (n, 1))
    x[:, 5, 1, 1] = va[:, 1] ** 2 * 3
    x[:, 0, 0, :] = 0.5
    return x.astype(np.float32), va.astype(np.float32)


def test_label_variance_map_finds_label_pixels_and_ignores_identity_pixels():
    from caae_tf.region_prior import label_variance_map

    x, va = _faces()
    eta2 = label_variance_map(x, va, bins=5)
    assert eta2.shape == (8, 8)
    assert eta2[2, 3] > 0.85  # valence explains most of it (binning leaves the within-bin spread)
    assert eta2[5, 1] > 0.7  # a non-monotone function of arousal counts as well (not only correlation)
    assert eta2[0, 0] == 0.0  # constant pixel
    noise = np.delete(eta2.ravel(), [2 * 8 + 3, 5 * 8 + 1, 0])
    assert noise.max() < 0.15 and noise.mean() == pytest.approx(24 / 400, abs=0.03)  # bias (bins²-1)/N


def test_label_variance_map_exact_value_on_a_two_bin_example():
    """bins=2: 4 images; pixel = [0, 0, 2, 2] for labels in the low/high valence bins → η² = 1; pixel
    [0, 2, 0, 2] (varies within bins only) → η² = 0."""
    from caae_tf.region_prior import label_variance_map

    va = np.array([[-0.5, -0.5], [-0.5, -0.5], [0.5, -0.5], [0.5, -0.5]] * 2, np.float32)
    x = np.zeros((8, 1, 2, 1), np.float32)
    x[:, 0, 0, 0] = [0, 0, 2, 2, 0, 0, 2, 2]
    x[:, 0, 1, 0] = [0, 2, 0, 2, 0, 2, 0, 2]
    eta2 = label_variance_map(x, va, bins=2)
    np.testing.assert_allclose(eta2[0], [1.0, 0.0], atol=1e-6)


def test_label_variance_map_rejects_bad_shapes_and_too_few_images():
    from caae_tf.region_prior import label_variance_map

    with pytest.raises(ValueError, match=r"images \[N,S,S,C\]"):
        label_variance_map(np.zeros((60, 4, 4)), np.zeros((60, 2)))
    with pytest.raises(ValueError, match="too few"):
        label_variance_map(np.zeros((10, 4, 4, 3)), np.zeros((10, 2)), bins=5)


def test_region_from_map_threshold_mirror_and_dilation():
    from caae_tf.region_prior import region_from_map

    eta2 = np.zeros((9, 9), np.float32)
    eta2[4, 1] = 1.0
    r = region_from_map(eta2, threshold=0.5, dilate=0, symmetric=False, smooth=1)
    assert r.sum() == 1 and r[4, 1]
    r = region_from_map(eta2, threshold=0.5, dilate=0, symmetric=True, smooth=1)
    assert r.sum() == 2 and r[4, 1] and r[4, 7]
    r = region_from_map(eta2, threshold=0.5, dilate=1, symmetric=False, smooth=1)
    assert r.sum() == 9 and r[3:6, 0:3].all()


def test_collect_stops_at_max_images():
    from caae_tf.region_prior import collect

    batches = ({"image": np.full((4, 2, 2, 3), i, np.float32), "va": np.zeros((4, 2), np.float32)} for i in range(5))
    x, y = collect(batches, 10)
    assert x.shape == (10, 2, 2, 3) and y.shape == (10, 2)
    assert x[:, 0, 0, 0].tolist() == [0] * 4 + [1] * 4 + [2] * 2


def _region_model(**over):
    from test_caae_edit_mode import _model

    keys = dict(g_residual=False, lambda_va=0.0, lambda_cycle=0.0, lambda_delta=0.0, edit_region=True,
                edit_region_resolution=32, edit_region_floor=0.1, edit_region_trainable=False)
    return _model(**{**keys, **over})


def test_set_edit_region_gives_a_binary_mask_and_a_fixed_region_is_not_trained():
    m, batch = _region_model()
    region = np.zeros((32, 32), bool)
    region[10:20, 8:24] = True
    m.set_edit_region(region)
    mask = m.edit_region_mask().numpy()[0, ..., 0]
    np.testing.assert_allclose(mask[region], 1.0, atol=1e-3)
    assert (mask[~region] == 0).all()  # the floor makes the outside an exact copy
    assert all(v is not m.region_logits for v in m.eg_variables)
    before = m.region_logits.numpy().copy()
    m.train_step(batch)
    np.testing.assert_array_equal(m.region_logits.numpy(), before)
    # outside the region the edit is the input, bit for bit
    x = batch["image"].numpy()
    out = m.edit(x, np.array([[0.9, -0.9]] * 4, np.float32)).numpy()
    np.testing.assert_array_equal(out[:, ~region], x[:, ~region])


def test_set_edit_region_resizes_to_the_logit_grid_and_refuses_without_a_region():
    from caae_tf.errors import TrainingError

    m, _ = _region_model(edit_region_resolution=8)
    region = np.zeros((32, 32), bool)
    region[:16] = True
    m.set_edit_region(region)
    logits = m.region_logits.numpy()[0, ..., 0] * m.config.edit_region_lr_multiplier
    assert (logits[:4] > 7).all() and (logits[4:] < -7).all()
    plain, _ = _region_model(edit_region=False, edit_region_trainable=True, edit_region_floor=0.0)
    with pytest.raises(TrainingError, match="no editing region"):
        plain.set_edit_region(region)


def test_config_checks_the_prior_keys_whatever_their_order():
    from caae_tf.config import CAAEConfig, ConfigError, apply_overrides

    ok = apply_overrides(CAAEConfig(), ["edit_region_trainable=false", "edit_region_prior=label_variance",
                                        "edit_region=true", "g_unet=true"])
    assert ok.edit_region_prior == "label_variance" and not ok.edit_region_trainable
    with pytest.raises(ConfigError, match="edit_region_prior must be"):
        apply_overrides(CAAEConfig(), ["g_unet=true", "edit_region=true", "edit_region_prior=pca"])
    with pytest.raises(ConfigError, match="needs edit_region"):
        apply_overrides(CAAEConfig(), ["edit_region_prior=label_variance"])
    with pytest.raises(ConfigError, match="nothing for lambda_region"):
        apply_overrides(CAAEConfig(), ["g_unet=true", "edit_region=true", "edit_region_trainable=false",
                                       "lambda_region=0.1"])


@pytest.mark.slow
def test_training_with_the_prior_sets_the_region_from_the_data_and_keeps_it_on_resume(tmp_path):
    """A real (tiny) training run: the region equals region_from_map(label_variance_map(training images)),
    its picture is written, and --resume restores it from the checkpoint instead of re-estimating."""
    from caae_tf.region_prior import collect, label_variance_map, region_from_map
    from caae_tf.train import load_model, make_training_dataset, train_command
    from data_prep.synthetic import generate_dataset

    data = str(tmp_path / "data")
    generate_dataset(data, 40, 6, size=32, seed=0, progress=False)
    over = ["image_size=32", "batch_size=8", "z_dim=8", "e_filters=[8,8,16,16]", "g_fc_channels=16",
            "g_filters=[16,8,8,8]", "d_img_filters=[4,4,8,8]", "d_img_fc=16", "identity_weight=0", "steps=2",
            "log_every=1", "sample_every=0", "checkpoint_every=2", "mixed_precision=float32", "g_unet=true",
            "edit_region=true", "edit_region_resolution=32", "edit_region_floor=0.1",
            "edit_region_prior=label_variance", "edit_region_trainable=false", "edit_region_prior_images=240",
            "edit_region_prior_threshold=0.25", "edit_region_prior_dilate=1", "augment_flip=false"]
    run = str(tmp_path / "run")
    train_command("caae", data, run, overrides=over, progress=False)
    assert os.path.exists(os.path.join(run, "samples", "edit_region_prior.png"))
    model = load_model(run)[0]
    cfg = model.config
    images, labels = collect(make_training_dataset(data, cfg, training=False, repeat=False).as_numpy_iterator(), 240)
    assert len(images) == 240
    expected = region_from_map(label_variance_map(images, labels), 0.25, 1, symmetric=False)
    assert 0 < expected.mean() < 0.6
    np.testing.assert_array_equal(model.edit_region_mask().numpy()[0, ..., 0] > 0.5, expected)
    # resume: the region comes from the checkpoint (a different threshold now would give another region)
    train_command("caae", data, run, overrides=["steps=3", "checkpoint_every=1"], resume=True, progress=False)
    np.testing.assert_array_equal(load_model(run)[0].edit_region_mask().numpy()[0, ..., 0] > 0.5, expected)


def _noise_faces_csv(folder, labels) -> str:
    """64 pure-noise 32 px faces (no pixel depends on anything) with the given labels → ``labels.csv``."""
    from caae_tf.images import write_image

    rng = np.random.default_rng(0)
    rows = ["path,valence,arousal"]
    for i, (v, a) in enumerate(labels):
        write_image(folder / f"f{i}.png", rng.integers(0, 255, (32, 32, 3), dtype=np.uint8))
        rows.append(f"f{i}.png,{v:.3f},{a:.3f}")
    (folder / "labels.csv").write_text("\n".join(rows) + "\n")
    return str(folder / "labels.csv")


def test_constant_labels_are_a_clear_error_not_an_empty_region(tmp_path):
    """Labels that explain no pixel (here: every image labelled (0, 0)) give a TrainingError naming the data,
    not a run that trains with an empty editing region."""
    from caae_tf.errors import TrainingError
    from caae_tf.train import init_edit_region

    csv = _noise_faces_csv(tmp_path, np.zeros((64, 2)))
    m, _ = _region_model(edit_region_prior="label_variance", batch_size=4)
    with pytest.raises(TrainingError, match=r"labels\.csv: the labels explain no pixel"):
        init_edit_region(m, csv, m.config, None)


def test_a_region_over_the_whole_image_from_too_few_images_is_warned_about(tmp_path, capsys):
    """With few images per label bin every pixel's η² is high by chance; a region over most of the image then
    comes with a warning that names the chance level and the threshold to use (tiny smoke runs still train)."""
    from caae_tf.train import init_edit_region

    csv = _noise_faces_csv(tmp_path, np.random.default_rng(1).uniform(-1, 1, (64, 2)))
    m, _ = _region_model(edit_region_prior="label_variance", batch_size=4)
    fraction = init_edit_region(m, csv, m.config, None)
    err = capsys.readouterr().err
    assert fraction > 0.6 and "by chance" in err and "raise edit_region_prior_threshold above" in err
