"""The README's main job (`caae-tf demo`) end to end at tiny sizes."""

import json

import pytest

from caae_tf.cli import main

TINY = ["image_size=32", "batch_size=4", "z_dim=8", "e_filters=[4,8,8,16]", "g_fc_channels=16",
        "g_filters=[16,8,8,4,4]", "d_img_filters=[4,4,8,8]", "d_img_fc=16", "identity_input_size=32",
        "identity_images=2", "sample_every=2", "checkpoint_every=2", "mixed_precision=float32",
        "identity_weight=0.3333", "d_va_filters=[4,4,8,8]"]


@pytest.mark.slow
def test_demo_end_to_end_tiny(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("CAAE_CELEBA_DIR", str(tmp_path / "no_celeba"))
    argv = ["demo", "--out", str(tmp_path / "demo"), "--identities", "3", "--per-identity", "4", "--heldout", "1",
            "--steps", "2", "--identity-steps", "2", "--quiet"]
    for item in TINY:
        argv += ["--set", item]
    assert main(argv) == 0
    out = capsys.readouterr().out
    summary = json.loads((tmp_path / "demo" / "summary.json").read_text())
    assert summary["caae_steps"] == 2
    assert summary["saved_model_max_abs_diff"] < 1e-5
    # the reported scores are those of the per-edit oracle readings the demo wrote (recomputed here), and a
    # label-ignoring editor (one held-out identity: a constant reading) has CCC 0
    import numpy as np
    import pandas as pd

    from caae_tf.evaluation.metrics import va_metrics

    table = pd.read_csv(tmp_path / "demo" / "synthetic_truth" / "synthetic_truth.csv")
    assert len(table) == 49 and table["identity"].nunique() == 1
    targets = table[["valence", "arousal"]].to_numpy(np.float32)
    readings = table[["oracle_valence", "oracle_arousal"]].to_numpy(np.float32)
    again = va_metrics(targets, readings)
    for k, dim in enumerate(("valence", "arousal")):
        m = summary["heldout_edit_scores"][dim]
        assert set(m) == {"rmse", "sagr", "ccc"}
        assert m == pytest.approx(again[dim], rel=1e-5, abs=1e-6)
        assert m["rmse"] == pytest.approx(float(np.sqrt(np.mean((targets[:, k] - readings[:, k]) ** 2))), rel=1e-5)
        assert summary["label_ignoring_baseline"][dim]["ccc"] == pytest.approx(0.0, abs=1e-6)
    assert (tmp_path / "demo" / "saved_model_caae" / "saved_model.pb").exists()
    assert (tmp_path / "demo" / "identity" / "checkpoints" / "checkpoint").exists()
    assert "identity_network: VGG-style identity classifier" in (tmp_path / "demo" / "caae" / "config.yaml").read_text()
    assert "held-out identities" in out and "saved_model_caae" in out
    assert (tmp_path / "demo" / "edits" / "heldout_0_grid7.png").exists()
    truth = summary["synthetic_truth"]
    for region in ("whole", "face", "expression", "identity"):
        m = truth["mae"][region]
        assert m["edit"] == pytest.approx(table[f"mae_{region}"].mean(), rel=1e-5)  # the per-edit table's mean
        assert m["do_nothing"] == pytest.approx(table[f"noop_mae_{region}"].mean(), rel=1e-5, abs=1e-9)
        if m["do_nothing"]:
            assert m["ratio"] == pytest.approx(m["edit"] / m["do_nothing"])
    assert truth["mae"]["expression"]["do_nothing"] > 0.02 and truth["mae"]["identity"]["do_nothing"] < 1e-4
    assert "| expression |" in out and "| oracle |" in out
    assert (tmp_path / "demo" / "synthetic_truth" / "synthetic_truth.png").exists()
