"""Paper-fidelity fixes (issue 15): regressor splits and flips, Table IV extent, recorded optimiser
settings, identity-loss normalisation, pre-ReLU VGG features, AffectNet classes 8-10, paper presets."""

from __future__ import annotations

import dataclasses
import os

import numpy as np
import pytest

from caae_tf.config import CAAEConfig, CGANConfig, ConfigError, RegressorConfig, resolve_config
from caae_tf.errors import DataError

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CONFIGS = os.path.join(REPO, "caae_tf", "presets")  # the packaged presets (caae_tf.presets)
N_ROWS = 40


def _half_image(i: int, size: int = 8) -> np.ndarray:
    """Dark left half, bright right half (so a mirror image is recognisable); a per-row tint in green."""
    img = np.zeros((size, size, 3), np.uint8)
    img[:, size // 2:, 0] = 255
    img[..., 1] = 5 * i
    return img


def _write_records(out_dir, identity, n: int = N_ROWS, with_path: bool = True):
    from caae_tf.data.records import write_records

    rows = []
    for i in range(n):
        rows.append({"image": _half_image(i), "format": "png", "valence": -1 + 2 * i / n, "arousal": 0.5,
                     "identity": identity if not callable(identity) else identity(i),
                     "path": f"/some/where/{i % 7}/face_{i:04d}.jpg" if with_path else ""})
    write_records(rows, out_dir, 3, command="test")
    return str(out_dir)


def _count(ds) -> int:
    return int(sum(int(b["va"].shape[0]) for b in ds))


def _tiny_cfg(**kw) -> RegressorConfig:
    base = dict(arch="table2", image_size=16, batch_size=4, width_multiplier=1 / 64, steps=2, checkpoint_every=2,
                val_fraction=0.1)
    base.update(kw)
    return RegressorConfig(**base)


# --------------------------------------------------------------------------- bug 1: regressor split

@pytest.fixture(scope="module")
def unknown_identity_records(tmp_path_factory):
    """AffectNet-like records: no identities (-1), distinct paths."""
    return _write_records(tmp_path_factory.mktemp("affectnet_like"), -1)


@pytest.mark.parametrize("seed", [0, 761, 860])
def test_records_split_without_identities_has_both_sides(unknown_identity_records, seed):
    """Identity -1 everywhere: the old hash(identity) split put every row on one side (validation empty
    for seed 0, training empty for seeds 761-860). Splitting such rows by path keeps both sides."""
    from caae_tf.regressor_train import _records_datasets

    cfg = _tiny_cfg(seed=seed)
    n_train = _count(_records_datasets(unknown_identity_records, cfg, False, "train"))
    n_val = _count(_records_datasets(unknown_identity_records, cfg, False, "val"))
    assert n_train + n_val == N_ROWS
    assert n_train > 0 and n_val > 0, (n_train, n_val)
    from caae_tf.regressor_train import records_split_counts

    assert records_split_counts(unknown_identity_records, cfg) == (n_train, n_val)
    # deterministic for a seed; the same file name gives the same side wherever the images lived
    assert records_split_counts(unknown_identity_records, cfg) == (n_train, n_val)


def test_records_split_by_path_ignores_folder(tmp_path):
    from caae_tf.regressor_train import records_split_counts

    a = _write_records(tmp_path / "a", -1)
    from caae_tf.data.records import write_records

    rows = [{"image": _half_image(i), "format": "png", "valence": 0.0, "arousal": 0.0, "identity": -1,
             "path": f"C:\\elsewhere\\face_{i:04d}.jpg"} for i in range(N_ROWS)]
    write_records(rows, tmp_path / "b", 2, command="test")
    cfg = _tiny_cfg(seed=3)
    assert records_split_counts(a, cfg) == records_split_counts(str(tmp_path / "b"), cfg)
    # rows without a recorded path are split by their bytes
    c = _write_records(tmp_path / "c", -1, with_path=False)
    n_train, n_val = records_split_counts(c, cfg)
    assert n_train > 0 and n_val > 0


@pytest.mark.parametrize("identity,side", [(0, "training"), (5, "validation")])
def test_empty_split_is_an_error_before_training(tmp_path, monkeypatch, identity, side):
    """One known identity: with seed 0 identity 0 hashes into validation (training empty; the old code hung
    in fit), identity 5 into training (validation empty; the old code trained, then failed)."""
    import keras

    from caae_tf.regressor_train import train_regressor

    def no_fit(*a, **k):
        raise AssertionError("training started although a split is empty")

    monkeypatch.setattr(keras.Model, "fit", no_fit)
    src = _write_records(tmp_path / "one_person", identity, n=12)
    with pytest.raises(DataError, match=f"the {side} split is empty"):
        train_regressor(src, str(tmp_path / "run"), _tiny_cfg(seed=0), verbose=0)
    assert not os.path.exists(tmp_path / "run" / "checkpoints")


def test_empty_validation_data_is_an_error_before_training(tmp_path, monkeypatch):
    import keras

    from caae_tf.regressor_train import train_regressor

    monkeypatch.setattr(keras.Model, "fit", lambda *a, **k: (_ for _ in ()).throw(AssertionError("fit")))
    src = _write_records(tmp_path / "train", -1, n=8)
    from caae_tf.data.records import write_records

    write_records([{"image": _half_image(0), "format": "png", "identity": -1}], tmp_path / "val", 1, command="t")
    with pytest.raises(DataError, match="validation split is empty"):
        train_regressor(src, str(tmp_path / "run"), _tiny_cfg(), val_data=str(tmp_path / "val"), verbose=0)


def test_train_regressor_on_records_without_identities(unknown_identity_records, tmp_path):
    """The README's AffectNet recipe (records without identities, no --val-data) trains and validates;
    ``epochs`` derives the step count from the training split's size."""
    import json

    from caae_tf.regressor_train import records_split_counts, train_regressor

    cfg = _tiny_cfg(epochs=2)
    n_train, n_val = records_split_counts(unknown_identity_records, cfg)
    res = train_regressor(unknown_identity_records, str(tmp_path / "run"), cfg, verbose=0)
    assert res["num_images"] == n_val and res["num_train"] == n_train
    assert res["steps"] == 2 * int(np.ceil(n_train / cfg.batch_size)) and res["epochs"] == 2
    saved = json.loads((tmp_path / "run" / "table3.json").read_text())
    assert saved["num_images"] == n_val
    import pandas as pd

    names = pd.read_csv(tmp_path / "run" / "val_predictions.csv")["image"].tolist()
    assert len(names) == n_val and all(str(n).endswith(".jpg") for n in names)


# --------------------------------------------------------------------------- bug 2: flips per epoch

def _flip_pattern(ds, epochs: int, n: int) -> dict[float, list[bool]]:
    """valence → [flipped in epoch 0, 1, ...] from batches of exactly one epoch each."""
    pattern: dict[float, list[bool]] = {}
    for batch in ds.take(epochs):
        img = batch["image"].numpy()
        va = batch["va"].numpy()
        assert len(va) == n
        for k in range(n):
            flipped = img[k, :, 0, 0].mean() > img[k, :, -1, 0].mean()  # bright half moved to the left
            pattern.setdefault(round(float(va[k, 0]), 4), []).append(bool(flipped))
    return pattern


def test_table_flips_vary_per_epoch_and_are_reproducible():
    from caae_tf.data.records import encode_image
    from caae_tf.regressor_train import table_dataset

    n = 8
    data = [encode_image(_half_image(i), "png") for i in range(n)]
    arrays = {"va": np.stack([np.linspace(-0.9, 0.9, n), np.zeros(n)], 1).astype(np.float32),
              "emotion8": np.full(n, -1, np.int32)}

    def make(seed):
        return table_dataset(data, arrays, image_size=8, batch_size=n, training=True, seed=seed, augment_flip=True)

    first = _flip_pattern(make(0), 10, n)
    assert len(first) == n and all(len(v) == 10 for v in first.values())
    varying = [v for v in first.values() if 0 < sum(v) < len(v)]
    assert len(varying) >= n // 2, first  # images are flipped in some epochs and not in others
    flips = sum(sum(v) for v in first.values())
    assert 0.25 < flips / (10 * n) < 0.75
    assert _flip_pattern(make(0), 10, n) == first  # same seed, same flips
    assert _flip_pattern(make(1), 10, n) != first
    no_flip = table_dataset(data, arrays, image_size=8, batch_size=n, training=True, seed=0, augment_flip=False)
    assert not any(any(v) for v in _flip_pattern(no_flip, 3, n).values())


def test_records_flips_vary_per_epoch(unknown_identity_records):
    from caae_tf.regressor_train import _records_datasets

    cfg = _tiny_cfg(batch_size=N_ROWS, image_size=8)
    pattern = _flip_pattern(_records_datasets(unknown_identity_records, cfg, True), 6, N_ROWS)
    assert sum(1 for v in pattern.values() if 0 < sum(v) < len(v)) >= N_ROWS // 2
    assert _flip_pattern(_records_datasets(unknown_identity_records, cfg, True), 6, N_ROWS) == pattern


# --------------------------------------------------------------------------- bug 3: Table IV extent

class _PaintEditor:
    image_size = 4

    def edit(self, images, va):
        out = np.array(images, np.float32, copy=True)
        out[..., 0] = np.asarray(va)[:, 0, None, None]
        out[..., 1] = np.asarray(va)[:, 1, None, None]
        return out


class _ReadRegressor:
    def predict_va(self, images):
        return np.asarray(images, np.float32)[:, 0, 0, :2] * 0.5


def _batches(k=3):
    yield [f"x{i}" for i in range(k)], np.zeros((k, 4, 4, 3), np.float32)


@pytest.mark.parametrize("how", ["labels", "extent"])
def test_table4_custom_grid_marks_its_corners_extreme(how):
    from caae_tf import labels as L
    from caae_tf.evaluation.table4 import run_table4

    kw = {"labels": L.grid_labels(7, 1.0)} if how == "labels" else {"extent": 1.0}
    res = run_table4(_PaintEditor(), _ReadRegressor(), _batches(), progress=False, **kw)
    assert res.counts["num_edits"] == 49 * 3
    assert res.counts["num_extreme"] == 4 * 3 and res.counts["num_extreme_labels"] == 4
    assert "Extreme Valence" in res.columns and "Extreme Arousal" in res.columns
    ext = res.edits[res.edits["extreme"]]
    assert set(map(tuple, np.abs(ext[["target_v", "target_a"]].to_numpy()).round(6))) == {(1.0, 1.0)}
    assert res.to_json()["extreme_definition"] == "four corner labels (±1, ±1)"
    default = run_table4(_PaintEditor(), _ReadRegressor(), _batches(), progress=False)
    assert default.counts["num_extreme"] == 12 and np.abs(default.edits["target_v"]).max() == pytest.approx(0.75)


def test_experiment_table4_extent_option(tmp_path, monkeypatch, capsys):
    import json

    from caae_tf import cli
    from caae_tf.commands import experiment as E
    from caae_tf.images import write_image

    faces = tmp_path / "faces"
    rng = np.random.default_rng(0)
    for i in range(2):
        write_image(faces / f"{i:06d}.jpg", rng.integers(0, 255, (20, 16, 3), dtype=np.uint8))
    monkeypatch.setattr(E, "_load_editor", lambda path: _PaintEditor())
    monkeypatch.setattr(E, "_load_regressor", lambda path: _ReadRegressor())
    out = tmp_path / "t4"
    assert cli.main(["experiment", "table4", "--model", "m", "--regressor", "r", "--data", str(faces),
                     "--out", str(out), "--extent", "1.0", "--quiet"]) == 0
    js = json.loads((out / "table4.json").read_text())
    assert js["counts"]["num_extreme"] == 8 and js["extent"] == 1.0
    capsys.readouterr()
    assert cli.main(["experiment", "table4", "--model", "m", "--regressor", "r", "--data", str(faces),
                     "--out", str(out), "--extent", "1.5", "--quiet"]) == 2
    assert "--extent" in capsys.readouterr().err


# --------------------------------------------------------------------------- bug 4: recorded Adam betas

def test_regressor_adam_uses_recorded_betas():
    from caae_tf.models.regressors import compile_regressor
    from caae_tf.regressor_train import _build_and_compile

    cfg = RegressorConfig(arch="mobilenetv2", image_size=32, width_multiplier=0.35, beta_1=0.5, beta_2=0.99)
    model = _build_and_compile(cfg, compile_regressor)
    assert float(model.optimizer.beta_1) == 0.5 and float(model.optimizer.beta_2) == 0.99
    assert float(model.optimizer.learning_rate) == pytest.approx(cfg.learning_rate)
    # what a default run records is what it uses: Adam's own defaults (paper 001 names none)
    assert RegressorConfig().beta_1 == 0.9 and RegressorConfig().beta_2 == 0.999
    assert RegressorConfig().to_dict()["beta_1"] == 0.9


# --------------------------------------------------------------------------- identity loss and VGG features

def test_identity_loss_normalization():
    import tensorflow as tf

    from caae_tf import losses as L

    rng = np.random.default_rng(0)
    shapes = [(2, 8, 8, 3), (2, 4, 4, 5), (2, 2, 2, 7)]
    real = [tf.constant(rng.normal(size=s), tf.float32) for s in shapes]
    gen = [tf.constant(rng.normal(size=s), tf.float32) for s in shapes]
    per_layer = [float(np.mean(np.abs(a.numpy() - b.numpy()))) for a, b in zip(real, gen)]
    assert float(L.identity_loss(real, gen)) == pytest.approx(sum(per_layer), rel=1e-5)
    assert float(L.identity_loss(real, gen, "mean")) == pytest.approx(sum(per_layer), rel=1e-5)
    authors = sum(m / (s[1] * s[2]) for m, s in zip(per_layer, shapes))
    assert float(L.identity_loss(real, gen, "authors")) == pytest.approx(authors, rel=1e-5)
    with pytest.raises(ValueError, match="normalization"):
        L.identity_loss(real, gen, "sum")


def test_caae_identity_normalization_key():
    cfg = CAAEConfig()
    assert cfg.identity_normalization == "mean"
    assert list(cfg.to_dict())[-1] == "identity_normalization"
    assert cfg.replace("identity_normalization", "authors").identity_normalization == "authors"
    with pytest.raises(ConfigError, match="identity_normalization"):
        cfg.replace("identity_normalization", "sum")
    paper = resolve_config(CAAEConfig, os.path.join(CONFIGS, "caae_paper.yaml"))
    assert paper.identity_normalization == "mean"


def test_caae_train_step_passes_identity_normalization(monkeypatch):
    import tensorflow as tf

    from caae_tf import losses as L
    from caae_tf.models.caae import CAAE
    from caae_tf.models.vgg_face import IdentityFeatures, VGGFace

    seen = []
    original = L.identity_loss
    monkeypatch.setattr(L, "identity_loss", lambda r, g, normalization="mean": seen.append(normalization)
                        or original(r, g, normalization))
    cfg = CAAEConfig(image_size=32, z_dim=4, label_repeat=2, e_filters=[2, 2, 2, 2], g_fc_channels=2,
                     g_filters=[2, 2, 2, 2, 2], d_img_filters=[2, 2, 2, 2], d_img_fc=2, d_z_units=[2, 2, 2],
                     identity_input_size=16, identity_images=2, batch_size=2, identity_normalization="authors")
    ident = IdentityFeatures(VGGFace(width_multiplier=1 / 16, input_size=16, include_top=False),
                             ["conv1_2_pre_relu", "conv2_2"], input_size=16)
    model = CAAE(cfg, identity_net=ident)
    batch = {"image": tf.random.uniform([2, 32, 32, 3], -1, 1, seed=0), "va": tf.zeros([2, 2]),
             "emotion": tf.zeros([2], tf.int32), "emotion8": tf.zeros([2], tf.int32),
             "identity": tf.zeros([2], tf.int32)}
    model.build_all(batch)
    model.build_optimizers()
    logs = model.train_step(batch)
    assert seen == ["authors"] and np.isfinite(float(logs["loss_iden"]))


def test_vgg_pre_relu_features():
    import tensorflow as tf

    from caae_tf.models.vgg_face import VGGFace

    vgg = VGGFace(width_multiplier=1 / 16, input_size=16, include_top=False)
    vgg.build_weights()
    x = tf.random.uniform([2, 16, 16, 3], -1, 1, seed=1)
    pre, post, post2 = vgg.features(x, ["conv1_2_pre_relu", "conv1_2", "conv2_2"])
    assert pre.shape == post.shape == (2, 16, 16, 4) and post2.shape == (2, 8, 8, 8)
    assert float(tf.reduce_min(pre)) < 0 <= float(tf.reduce_min(post))
    np.testing.assert_allclose(post.numpy(), np.maximum(pre.numpy(), 0), atol=1e-6)
    from caae_tf.errors import ModelError

    with pytest.raises(ModelError, match="pre_relu"):
        vgg.features(x, ["pool1_pre_relu"])


# --------------------------------------------------------------------------- AffectNet classes 8-10

def test_affectnet_other_expressions_dropped_unless_kept(tmp_path):
    from data_prep.affectnet import balanced_indices, read_affectnet_csv

    header = "subDirectory_filePath,face_x,face_y,face_width,face_height,facial_landmarks,expression,valence,arousal"
    rows = [f"1/a{i}.jpg,0,0,10,10,,{code},0.1,0.2" for i, code in enumerate([0, 1, 8, 9, 10])]
    rows.append("1/b.jpg,0,0,10,10,,10,-2,-2")
    csv = tmp_path / "training.csv"
    csv.write_text(header + "\n" + "\n".join(rows) + "\n")
    table, skips = read_affectnet_csv(str(csv))
    assert sorted(table["expression"]) == [0, 1]
    assert skips["expression 8 (none)"] == 1 and skips["expression 9 (uncertain)"] == 1
    kept, skips2 = read_affectnet_csv(str(csv), keep_other_expressions=True)
    assert sorted(kept["expression"]) == [0, 1, 8, 9, 10]
    import pandas as pd

    from caae_tf.data.records import _emotion_fields

    other = kept.loc[kept["expression"] >= 8, "emotion"]
    assert len(other) == 3 and other.isna().all()  # class unknown
    assert all(_emotion_fields(e) == ("", -1, -1) for e in other) and not pd.isna(kept["emotion"][0])
    assert skips2["valence/arousal -2 (uncertain/no face)"] == 1
    _, factors = balanced_indices(kept["expression"].to_numpy(), np.random.default_rng(0))
    assert "none" in factors and "non-face" in factors


def test_prepare_cli_passes_keep_other_expressions(tmp_path, monkeypatch):
    """`caae-tf prepare affectnet --keep-other-expressions` reaches prepare_affectnet (default: dropped)."""
    import data_prep.affectnet as affectnet
    from caae_tf.cli import main

    seen = []

    def fake(*args, **kwargs):
        seen.append(kwargs["keep_other_expressions"])
        return {}

    monkeypatch.setattr(affectnet, "prepare_affectnet", fake)
    base = ["prepare", "affectnet", "--train-csv", str(tmp_path / "t.csv"), "--images", str(tmp_path),
            "--out", str(tmp_path / "out"), "--quiet"]
    assert main(base) == 0 and main(base + ["--keep-other-expressions"]) == 0
    assert seen == [False, True]


# --------------------------------------------------------------------------- paper presets

def test_cgan_paper_preset_differs_only_in_flips():
    paper = resolve_config(CGANConfig, os.path.join(CONFIGS, "cgan_paper.yaml"))
    assert paper.augment_flip is False  # paper 001: "No further preprocessing was necessary."
    assert paper.to_dict() == dataclasses.replace(CGANConfig(), augment_flip=False).to_dict()


def test_mobilenetv2_paper_preset():
    cfg = resolve_config(RegressorConfig, os.path.join(CONFIGS, "regressor_mobilenetv2_paper.yaml"))
    assert (cfg.arch, cfg.learning_rate, cfg.epochs) == ("mobilenetv2", 1e-3, 100)
    assert (cfg.beta_1, cfg.beta_2) == (0.9, 0.999)
    assert cfg.to_dict() == dataclasses.replace(RegressorConfig(), arch="mobilenetv2", epochs=100).to_dict()
    with pytest.raises(ConfigError, match="epochs"):
        cfg.replace("epochs", -1)
