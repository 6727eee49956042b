"""Table II CNN / MobileNetV2 multi-task regressors, train-regressor end to end, load_regressor."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest

from caae_tf import cli
from caae_tf.images import write_image

keras = pytest.importorskip("keras")

from caae_tf.models import regressors as R


def test_table2_param_count_at_paper_width():
    """Table II at width 1.0 on 96x96x3 (built, not run): padding 'same' leaves 6x6x512 after 4 pools."""
    net = R.Table2CNN(1.0, name="valence_net")
    net.build((None, 96, 96, 3))
    convs = [(3, 64), (64, 128), (128, 256), (256, 256), (256, 512), (512, 512)]
    expected = sum(9 * i * o + o for i, o in convs)
    fcs = [(6 * 6 * 512, 4096), (4096, 2622), (2622, 2622), (2622, 1)]
    expected += sum(i * o + o for i, o in fcs)
    assert net.count_params() == expected == 97_624_895


def test_table2_pair_shapes_range_and_independence():
    m = R.build_regressor("table2", image_size=32, width_multiplier=0.05)
    x = np.random.default_rng(0).uniform(-1, 1, (3, 32, 32, 3)).astype(np.float32)
    out = m(x)
    assert set(out) == {"valence", "arousal"}
    for v in out.values():
        assert v.shape == (3, 1) and np.all(np.abs(np.asarray(v)) <= 1.0)
    # two separate networks: disjoint weights
    ids_v = {id(w) for w in m.valence_net.weights}
    assert ids_v.isdisjoint({id(w) for w in m.arousal_net.weights})
    cfg = m.get_config()
    assert cfg["width_multiplier"] == 0.05 and cfg["dropout"] == 0.5
    assert m.valence_net.get_layer("conv1").filters == 3  # round(64 * 0.05)


def test_mobilenetv2_two_heads():
    m = R.build_regressor("mobilenetv2", image_size=32, width_multiplier=0.35)
    x = np.random.default_rng(0).uniform(-1, 1, (2, 32, 32, 3)).astype(np.float32)
    out = m(x)
    assert out["va"].shape == (2, 2) and np.all(np.abs(np.asarray(out["va"])) <= 1.0)
    assert out["emotion8"].shape == (2, 8)
    np.testing.assert_allclose(np.asarray(out["emotion8"]).sum(-1), 1.0, rtol=1e-5)
    assert m.get_config()["alpha"] == 0.35 and m.get_config()["image_size"] == 32


def test_mobilenetv2_bn_momentum_reaches_every_batchnorm_and_moves_the_statistics():
    import keras

    from caae_tf.config import ConfigError, RegressorConfig
    from caae_tf.regressor_train import build_from_config

    def bns(model):
        return [la for la in model.backbone.layers if isinstance(la, keras.layers.BatchNormalization)]

    assert {b.momentum for b in bns(R.build_regressor("mobilenetv2", 32, 0.35))} == {0.999}  # Keras's own
    cfg = RegressorConfig.from_dict({"arch": "mobilenetv2", "image_size": 32, "width_multiplier": 0.35,
                                     "bn_momentum": 0.5})
    m = build_from_config(cfg)
    assert len(bns(m)) > 30 and {b.momentum for b in bns(m)} == {0.5}
    assert m.get_config()["bn_momentum"] == 0.5
    # one training-mode pass moves the first BN's moving mean half-way (momentum 0.5) to the batch mean
    first = bns(m)[0]
    before = np.asarray(first.moving_mean).copy()
    x = np.random.default_rng(0).uniform(-1, 1, (8, 32, 32, 3)).astype(np.float32)
    conv_out = np.asarray(m.backbone.get_layer("Conv1")(x))
    m.backbone(x, training=True)
    np.testing.assert_allclose(np.asarray(first.moving_mean), 0.5 * before + 0.5 * conv_out.mean((0, 1, 2)),
                               rtol=1e-4, atol=1e-5)
    with pytest.raises(ConfigError, match="bn_momentum"):
        RegressorConfig.from_dict({"bn_momentum": 1.0}).validate()


def test_masked_sparse_ce_ignores_unknown_labels():
    loss = R.MaskedSparseCategoricalCrossentropy()
    probs = np.full((3, 8), 1 / 8, np.float32)
    probs[1] = np.eye(8)[2] * 0.92 + 0.01  # rows sum to 1
    full = float(loss(np.array([-1, 2, 3]), probs))
    expected = (-np.log(0.93) - np.log(1 / 8)) / 2  # mean over the two known labels only
    assert full == pytest.approx(expected, rel=1e-4)
    assert float(loss(np.array([-1, -1, -1]), probs)) == 0.0


def test_split_by_identity_keeps_people_apart():
    from caae_tf.regressor_train import split_by_identity

    ident = np.array([0, 0, 1, 1, 2, 2, 3, 3, -1, -1])
    val = split_by_identity(ident, 0.25, seed=0)
    for i in range(4):
        assert len(set(val[ident == i])) == 1  # all images of a person on one side
    assert 0 < val.sum() < len(ident)
    np.testing.assert_array_equal(val, split_by_identity(ident, 0.25, seed=0))


@pytest.fixture(scope="module")
def tiny_va_set(tmp_path_factory):
    """24 tiny images whose colour encodes (valence, arousal), 6 identities."""
    root = tmp_path_factory.mktemp("va")
    rng = np.random.default_rng(0)
    rows = ["path,identity,valence,arousal,emotion"]
    emos = ["neutral", "happiness", "sadness", "anger"]
    for i in range(24):
        v, a = rng.uniform(-1, 1, 2)
        img = np.zeros((40, 40, 3), np.uint8)
        img[..., 0] = int((v + 1) * 127)
        img[..., 1] = int((a + 1) * 127)
        write_image(root / f"img{i}.png", img)
        rows.append(f"img{i}.png,{i % 6},{v:.3f},{a:.3f},{emos[i % 4]}")
    (root / "labels.csv").write_text("\n".join(rows) + "\n")
    return root


@pytest.mark.slow
def test_train_regressor_end_to_end(tiny_va_set, tmp_path, capsys):
    run = tmp_path / "run"
    rc = cli.main(["train-regressor", "--arch", "table2", "--data", str(tiny_va_set), "--run-dir", str(run),
                   "--set", "steps=4", "--set", "batch_size=8", "--set", "image_size=32",
                   "--set", "width_multiplier=0.05", "--set", "checkpoint_every=2", "--quiet"])
    assert rc == 0
    out = capsys.readouterr().out
    assert "RMSE" in out and "SAGR" in out and "CCC" in out
    for f in ("config.yaml", "checkpoints/checkpoint", "table3.csv", "table3.json", "val_predictions.csv"):
        assert (run / f).is_file(), f
    assert os.listdir(run / "logs")
    table = (run / "table3.csv").read_text().splitlines()
    assert table[0] == ",valence,arousal" and [r.split(",")[0] for r in table[1:]] == ["RMSE", "SAGR", "CCC"]
    res = json.loads((run / "table3.json").read_text())
    assert res["num_images"] == 4 and res["steps"] == 4  # 1 of 6 identities (round(0.1*6)) x 4 images

    # the saved val predictions reproduce Table III through `caae-tf metrics`
    assert cli.main(["metrics", "--csv", str(run / "val_predictions.csv")]) == 0
    again = json.loads(capsys.readouterr().out)
    for dim in ("valence", "arousal"):
        for m in ("rmse", "sagr", "ccc"):
            assert again[dim][m] == pytest.approx(res["metrics"][dim][m], abs=1e-4)

    # load_regressor rebuilds the same model: predictions match the ones written at training time
    from caae_tf.evaluation.inputs import open_faces
    from caae_tf.regressor_train import load_regressor

    reg = load_regressor(str(run))
    import pandas as pd

    vp = pd.read_csv(run / "val_predictions.csv")
    faces = open_faces(str(tiny_va_set))
    (names, imgs), = list(faces.batches(32, 64))
    sel = [names.index(p) for p in vp["image"]]
    pred = reg.predict_va(imgs[sel])
    assert pred.shape == (4, 2)
    np.testing.assert_allclose(pred, vp[["pred_valence", "pred_arousal"]].to_numpy(), atol=2e-3)
    # any input size is resized to the regressor's
    assert reg.predict_va(np.zeros((2, 48, 48, 3), np.float32)).shape == (2, 2)
    with pytest.raises(Exception, match="no emotion head"):
        reg.predict_emotion8(imgs[:1])


def test_load_regressor_errors(tmp_path):
    from caae_tf.errors import ModelError
    from caae_tf.regressor_train import load_regressor

    with pytest.raises(ModelError, match="not found"):
        load_regressor(str(tmp_path / "missing"))
    with pytest.raises(ModelError, match="config.yaml"):
        load_regressor(str(tmp_path))


def test_train_regressor_config_errors(tiny_va_set, tmp_path, capsys):
    rc = cli.main(["train-regressor", "--data", str(tiny_va_set), "--run-dir", str(tmp_path / "r"),
                   "--set", "va_loss=huber"])
    assert rc == 2 and "va_loss" in capsys.readouterr().err
