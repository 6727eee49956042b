"""``caae-tf train-identity`` end to end on a tiny generated identity set, then load_identity_network."""

from __future__ import annotations

import json

import numpy as np
import pytest

tf = pytest.importorskip("tensorflow")

from caae_tf.cli import main
from caae_tf.config import IdentityConfig, load_config
from caae_tf.errors import DataError
from caae_tf.identity_train import split_heldout
from caae_tf.images import write_image
from caae_tf.models.vgg_face import load_identity_network


def make_identity_set(folder, identities=("anna", "bob", "chen"), per_identity=6, size=40, seed=0):
    """Tiny images: each identity a distinct base colour + a blob, with noise; CSV path,identity."""
    rng = np.random.default_rng(seed)
    rows = ["path,identity,emotion"]
    for name in identities:
        base = rng.uniform(0, 255, 3)
        for i in range(per_identity):
            img = np.clip(base + rng.normal(0, 20, (size, size, 3)), 0, 255)
            y, x = rng.integers(5, size - 15, 2)
            img[y:y + 10, x:x + 10] = 255 - base
            rel = f"img/{name}_{i}.png"
            write_image(folder / rel, img.astype(np.uint8))
            rows.append(f"{rel},{name},neutral")
    csv = folder / "ids.csv"
    csv.write_text("\n".join(rows) + "\n")
    return csv


def test_split_heldout_takes_ten_percent_of_each_identity():
    ident = np.repeat([0, 1, 2], [20, 10, 3])
    mask = split_heldout(ident, 0.1, seed=0)
    assert [int(mask[ident == k].sum()) for k in range(3)] == [2, 1, 0]
    np.testing.assert_array_equal(mask, split_heldout(ident, 0.1, seed=0))


def test_train_identity_cli_end_to_end(tmp_path, capsys):
    csv = make_identity_set(tmp_path / "data")
    run_dir = tmp_path / "run"
    rc = main(["train-identity", "--data", str(csv), "--run-dir", str(run_dir), "--quiet",
               "--set", "image_size=32", "--set", "width_multiplier=0.0625", "--set", "steps=4",
               "--set", "batch_size=4", "--set", "checkpoint_every=2", "--set", "mixed_precision=float32",
               "--set", "learning_rate=0.0001"])
    assert rc == 0
    out = capsys.readouterr().out
    assert "held-out accuracy" in out and "identities: 3" in out
    for name in ("checkpoints/checkpoint", "identity.json", "config.yaml", "train.csv", "heldout.csv"):
        assert (run_dir / name).is_file(), name
    assert any((run_dir / "logs").rglob("events.out.tfevents*"))
    cfg = load_config(run_dir / "config.yaml")
    assert isinstance(cfg, IdentityConfig) and cfg.image_size == 32 and cfg.steps == 4
    meta = json.loads((run_dir / "identity.json").read_text())
    assert meta["num_classes"] == 3 and meta["num_train"] == 15 and meta["num_heldout"] == 3
    assert meta["fc_units"] == 256 and meta["results"]["steps"] == 4
    # the reported held-out accuracy and loss are those of the saved network on heldout.csv, recomputed here
    _check_heldout_results(run_dir, meta)
    assert meta["results"]["train_loss"] > 0 and meta["results"]["chance_accuracy"] == pytest.approx(1 / 3)

    ident = load_identity_network(str(run_dir), input_size=48)
    assert "train-identity" in ident.description and "width 0.0625" in ident.description
    x = np.random.default_rng(0).uniform(-1, 1, (2, 32, 32, 3)).astype(np.float32)
    feats = ident(x)
    assert [tuple(f.shape) for f in feats] == [(2, 48, 48, 4), (2, 24, 24, 8), (2, 12, 12, 16), (2, 6, 6, 32),
                                              (2, 3, 3, 32)]
    assert ident.embed(x).shape == (2, 256)
    assert not ident.trainable_variables


def _check_heldout_results(run_dir, meta):
    import keras

    from caae_tf.data.pipeline import make_dataset
    from caae_tf.models.vgg_face import VGGFace

    model = VGGFace(meta["width_multiplier"], meta["num_classes"], meta["image_size"], fc_units=meta["fc_units"],
                    name="vgg_face")
    model.build_weights()
    from caae_tf.serving import latest_checkpoint, restore_weights

    restore_weights(model, latest_checkpoint(str(run_dir)))
    ds = make_dataset(str(run_dir / "heldout.csv"), image_size=meta["image_size"], batch_size=2, training=False,
                      repeat=False, drop_remainder=False, require=("identity",))
    logits, labels = [], []
    for b in ds:
        logits.append(model(b["image"], training=False).numpy())
        labels.append(b["identity"].numpy())
    logits, labels = np.concatenate(logits), np.concatenate(labels)
    assert len(labels) == meta["num_heldout"] == 3 and sorted(labels) == [0, 1, 2]  # one image per identity
    accuracy = float(np.mean(np.argmax(logits, 1) == labels))
    loss = float(np.mean(keras.losses.sparse_categorical_crossentropy(labels, logits, from_logits=True)))
    assert meta["results"]["heldout_accuracy"] == pytest.approx(accuracy, abs=1e-6)
    assert meta["results"]["heldout_loss"] == pytest.approx(loss, rel=1e-4)


def test_train_identity_needs_identity_labels(tmp_path):
    data = tmp_path / "d"
    write_image(data / "a.png", np.zeros((8, 8, 3), np.uint8))
    (data / "labels.csv").write_text("path,valence,arousal\na.png,0,0\n")
    from caae_tf.identity_train import train_identity

    with pytest.raises(DataError, match="identity"):
        train_identity(str(data), str(tmp_path / "run"), IdentityConfig(image_size=32, steps=1), verbose=0)
