"""Calibrated label interpolation (caae_tf.calibration, `caae-tf calibrate`, `generate --valence/--arousal`,
the SavedModel's va_to_weights / generate_va): monotone tables and exact inversion on synthetic paths whose
(valence, arousal) are known analytically, TF-only round trip through the SavedModel, range errors."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from caae_tf import calibration as K
from caae_tf import labels

CIRCUMPLEX = np.array([[0.0, 0.0]] + [labels.circumplex_va(e) for e in labels.EXTREME_EMOTIONS])
OFFSET = np.array([-0.12, -0.08])


def bent_va(weights) -> np.ndarray:
    """Analytic 'generator + regressor': the circumplex mixture of v, pulled toward an offset Neutral and bent
    along every path (radius r → 0.85·r^0.6: fast change near Neutral, slow near the emotions)."""
    p = np.asarray(weights, np.float64) @ CIRCUMPLEX
    r = np.linalg.norm(p, axis=-1, keepdims=True)
    return OFFSET + 0.85 * p * np.where(r > 0, r, 1.0) ** -0.4


def measure_of(fn):
    return lambda w: (fn(w), np.zeros((len(w), 2)))


@pytest.fixture(scope="module")
def tables():
    return K.build_tables(measure_of(bent_va), alpha_steps=11, beta_steps=6, meta={"test": True})


# ------------------------------------------------------------------------------------------ monotone

def test_pava_known_values():
    np.testing.assert_allclose(K.pava_nondecreasing([1, 3, 2, 4]), [1, 2.5, 2.5, 4])
    np.testing.assert_allclose(K.pava_nondecreasing([3, 2, 1]), [2, 2, 2])
    np.testing.assert_allclose(K.pava_nondecreasing([0, 1, 2]), [0, 1, 2])


def test_monotone_path_keeps_ends_and_perpendicular_part():
    # overshooting path along +x with a bump in y: x = 0, 0.8, 1.3, 0.9, 1.0
    pts = np.array([[0, 0], [0.8, 0.1], [1.3, 0.2], [0.9, 0.1], [1.0, 0.0]])
    out = K.monotone_path(pts)
    np.testing.assert_allclose(out[[0, -1]], pts[[0, -1]])
    np.testing.assert_allclose(out[:, 1], pts[:, 1])  # the chord is the x axis: y untouched
    np.testing.assert_allclose(out[:, 0], [0, 0.8, 0.95, 0.95, 1.0])  # clipped to [0, 1], then pooled
    assert K.is_monotone_path(out) and not K.is_monotone_path(pts)


def test_tables_reproduce_the_analytic_paths_and_are_monotone(tables):
    assert tables.is_monotone() and tables.max_adjustment < 1e-9  # bent but monotone: nothing to adjust
    # pairs are the circumplex neighbours (ordered by angle around Neutral)
    names = [(labels.CGAN_EMOTIONS[i], labels.CGAN_EMOTIONS[j]) for i, j in tables.pairs]
    assert names == [("happiness", "anger"), ("anger", "fear"), ("fear", "disgust"), ("disgust", "sadness"),
                     ("sadness", "happiness")]
    for p, pair in enumerate(tables.pairs):
        # measured at float32 conditioning vectors
        np.testing.assert_allclose(tables.va_raw[p], bent_va(K.patch_weights(pair, tables.alphas, tables.betas)),
                                   atol=1e-6)
    for e in labels.EXTREME_EMOTIONS:  # Neutral → emotion table: α = 0 is Neutral, α = 1 the emotion
        path = tables.path(e)
        np.testing.assert_allclose(path[0], OFFSET, atol=1e-9)
        np.testing.assert_allclose(path[-1], bent_va(labels.one_hot(labels.cgan_index(e))[None])[0], atol=1e-9)
        s, _, _ = K.chord_projection(path)
        assert np.all(np.diff(s) > 0)


def test_non_monotone_measurements_are_made_monotone():
    def wobbly(w):  # Neutral → emotion overshoots: the reading peaks at α ≈ 0.7 and comes back
        w = np.asarray(w, np.float64)
        a = 1.0 - w[:, :1]
        return bent_va(w) + 0.15 * np.sin(np.pi * a) * np.sign(bent_va(w) - OFFSET)

    t = K.build_tables(measure_of(wobbly), alpha_steps=11, beta_steps=4)
    assert t.is_monotone() and t.max_adjustment > 0.01
    assert not all(K.is_monotone_path(t.va_raw[p, :, j]) for p in range(5) for j in range(4))
    np.testing.assert_allclose(t.va[:, 0], t.va_raw[:, 0])  # Neutral and
    np.testing.assert_allclose(t.va[:, -1, [0, -1]], t.va_raw[:, -1, [0, -1]])  # the emotions never move


def test_inversion_reaches_targets_on_the_analytic_paths(tables):
    grid = K.target_grid(0.1)
    inv = K.invert(tables, grid)
    inside = ~inv["clamped"]
    assert 60 < inside.sum() < len(grid)
    w = inv["emotion_weights"]
    assert np.all(w >= -1e-6) and np.allclose(w.sum(1), 1, atol=1e-5)  # on the simplex (Eq. 2)
    reached = bent_va(w[inside])
    err = np.linalg.norm(reached - grid[inside], axis=1)
    # piecewise-linear tables on an 11 x 6 grid; the largest error is in the cells next to Neutral, where the
    # analytic reading (∝ r^0.6) has an infinite slope
    assert err.max() < 0.05 and np.sqrt(np.mean(err ** 2)) < 0.01
    np.testing.assert_allclose(inv["expected_valence_arousal"][inside], grid[inside], atol=1e-4)
    # clamped targets: the reported point is on the mesh, `distance` away, and nearer than any reachable grid target
    c = inv["clamped"]
    exp = inv["expected_valence_arousal"][c]
    np.testing.assert_allclose(np.linalg.norm(exp - grid[c], axis=1), inv["distance"][c], atol=1e-5)
    assert np.all(inv["distance"][c] <= np.min(np.linalg.norm(grid[c][:, None] - grid[inside][None], axis=-1), 1)
                  + 1e-5)
    # each emotion's own reading at α = 1 is reached with its one-hot vector
    for k, _emotion in enumerate(labels.EXTREME_EMOTIONS, start=1):
        target = bent_va(labels.one_hot(k)[None])
        out = K.invert(tables, target)
        assert not out["clamped"][0]
        np.testing.assert_allclose(out["emotion_weights"][0], labels.one_hot(k), atol=1e-4)
    # and Neutral's reading with e_Neutral (α = 0)
    np.testing.assert_allclose(K.invert(tables, OFFSET[None])["alpha"], [0.0], atol=1e-4)


def test_targets_outside_the_square_are_errors(tables):
    with pytest.raises(K.CalibrationError, match=r"target #1 = \(0.2, 1.5\) is outside \[-1, 1\]²"):
        K.invert(tables, [[0.0, 0.0], [0.2, 1.5]])
    with pytest.raises(K.CalibrationError, match="outside"):
        K.invert(tables, [[np.nan, 0.0]])
    with pytest.raises(K.CalibrationError, match=r"shape \[N, 2\]"):
        K.check_targets(np.zeros((2, 3)))


def test_calibrated_alphas_even_out_a_bent_path(tables):
    a = K.calibrated_alphas(tables, "happiness", 6)
    assert a[0] == 0 and a[-1] == pytest.approx(1.0)
    def steps_of(alphas):
        s, _, _ = K.chord_projection(bent_va(K.patch_weights((5, 4), alphas, [0.0])[:, 0]))
        return np.diff(s)

    even, uniform = steps_of(a), steps_of(np.linspace(0, 1, 6))
    np.testing.assert_allclose(even, even.mean(), rtol=0.12)  # evenly spaced readings (first cell: r^0.6 slope)
    assert uniform.max() / uniform.min() > 2.5 and even.max() / even.min() < 1.25
    assert np.all(np.diff(a) > 0) and a[1] < 0.1  # small first steps where the reading changes fast


def test_tables_json_round_trip_and_bad_files(tables, tmp_path):
    path = tables.save(tmp_path / "calibration.json")
    back = K.CalibrationTables.load(path)
    np.testing.assert_allclose(back.va, tables.va, atol=1e-6)
    assert back.pairs == tables.pairs and back.meta == {"test": True}
    (tmp_path / "bad.json").write_text("{not json")
    with pytest.raises(K.CalibrationError, match="bad.json: not valid JSON"):
        K.CalibrationTables.load(tmp_path / "bad.json")
    d = tables.to_dict()
    d["va"] = d["va"][:2]
    (tmp_path / "short.json").write_text(json.dumps(d))
    with pytest.raises(K.CalibrationError, match="short.json: tables have shape"):
        K.CalibrationTables.load(tmp_path / "short.json")
    (tmp_path / "other.json").write_text(json.dumps({"format": "x"}))
    with pytest.raises(K.CalibrationError, match="other.json: not a caae_tf.calibration/1 file"):
        K.CalibrationTables.load(tmp_path / "other.json")


# ------------------------------------------------------------------------------ SavedModel round trip

tf = pytest.importorskip("tensorflow")

CHILD = textwrap.dedent(
    """
    import json, sys
    import numpy as np
    import tensorflow as tf

    d = sys.argv[1]
    res = {}
    for name in ("sm", "sm_added"):
        m = tf.saved_model.load(d + "/" + name)
        z = tf.constant(np.load(d + "/z.npy"))
        va = tf.constant(np.load(d + "/va.npy"))
        out = m.signatures["generate_va"](z=z, valence_arousal=va)
        np.savez(d + "/" + name + "_out.npz", **{k: v.numpy() for k, v in out.items()})
        ref = m.signatures["serving_default"](z=z, emotion_weights=out["emotion_weights"])["images"]
        np.save(d + "/" + name + "_ref.npy", ref.numpy())
        errs = {}
        for key, bad in (("high", va + 1.5), ("nan", va * np.nan)):
            try:
                m.signatures["generate_va"](z=z, valence_arousal=bad)
                errs[key] = None
            except Exception as exc:
                errs[key] = type(exc).__name__ + ": " + str(exc)
        res[name] = {"signatures": sorted(m.signatures.keys()), "errors": errs}
    res["caae_tf_imported"] = any(k.startswith("caae_tf") for k in sys.modules)
    print("RESULT" + json.dumps(res))
    """
)


@pytest.fixture(scope="module")
def exported(tables, tmp_path_factory):
    from caae_tf.export.cgan import add_calibration_to_saved_model, export_cgan

    from _train_helpers import tiny_cgan_model

    model = tiny_cgan_model(0, z_dim=8)
    d = tmp_path_factory.mktemp("cal_export")
    export_cgan(model, d / "sm", calibration=tables)  # tables given at export
    export_cgan(model, d / "sm_added")  # tables added to an existing SavedModel (`caae-tf calibrate`)
    add_calibration_to_saved_model(d / "sm_added", tables)
    rng = np.random.default_rng(0)
    va = np.array([[0.3, 0.1], [-0.5, 0.3], [-0.2, 0.45], [0.0, -0.9], [-0.12, -0.08]], np.float32)
    np.save(d / "z.npy", rng.standard_normal((len(va), 8)).astype(np.float32))
    np.save(d / "va.npy", va)
    proc = subprocess.run([sys.executable, "-c", CHILD, str(d)], capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stderr[-3000:]
    res = json.loads([ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT")][-1][len("RESULT"):])
    return {"dir": d, "model": model, "va": va, "child": res}


def test_generate_va_round_trips_through_the_saved_model(exported, tables):
    from caae_tf.images import to_uint8

    d, va, res = exported["dir"], exported["va"], exported["child"]
    assert res["caae_tf_imported"] is False
    py = K.invert(tables, va)
    assert py["clamped"].tolist() == [False, False, False, True, False]
    for name in ("sm", "sm_added"):
        assert res[name]["signatures"] == ["generate_va", "interpolate", "serving_default", "va_to_weights"]
        out = np.load(d / f"{name}_out.npz")
        np.testing.assert_allclose(out["emotion_weights"], py["emotion_weights"], atol=1e-5)
        np.testing.assert_allclose(out["expected_valence_arousal"], py["expected_valence_arousal"], atol=1e-5)
        assert out["clamped"].tolist() == py["clamped"].tolist()
        # generate_va(z, va) == serving_default(z, the weights it chose) == G(z, w) of the in-process model
        np.testing.assert_array_equal(out["images"], np.load(d / f"{name}_ref.npy"))
        ref = to_uint8(exported["model"].generate(np.load(d / "z.npy"), out["emotion_weights"]).numpy())
        assert np.abs(out["images"].astype(int) - ref).max() <= 1
        # the tables travel as an asset and are summarised in the metadata
        assert K.CalibrationTables.load(d / name / "assets" / "calibration.json").pairs == tables.pairs
        meta = json.loads((d / name / "caae_tf_export.json").read_text())
        assert meta["calibration"]["out_of_reach"].startswith("clamped") and "generate_va" in meta["signatures"]
    # the target on the analytic Neutral is reached with e_Neutral
    np.testing.assert_allclose(np.load(d / "sm_out.npz")["emotion_weights"][-1], labels.one_hot(0), atol=1e-4)


def test_generate_va_rejects_targets_outside_the_square(exported):
    for name in ("sm", "sm_added"):
        errs = exported["child"][name]["errors"]
        for key in ("high", "nan"):
            assert errs[key] is not None and "InvalidArgumentError" in errs[key]
            assert "valence_arousal must be finite and lie in [-1, 1]^2" in errs[key]


def test_generator_uses_the_stored_tables(exported, tables, tmp_path):
    from caae_tf.generate import CGANSampler, GenerateError, calibrated_grid

    g = CGANSampler(str(exported["dir"] / "sm"))
    assert g.calibration is not None and g.calibration.pairs == tables.pairs
    out = g.va_to_weights(exported["va"])
    np.testing.assert_allclose(out["emotion_weights"], K.invert(tables, exported["va"])["emotion_weights"], atol=1e-5)
    with pytest.raises(GenerateError, match="outside"):
        g.va_to_weights([[1.2, 0.0]])
    grid, imgs, fractions, info = calibrated_grid(g, 0.3, 0.1, steps=4, num_z=2, seed=1)
    assert imgs.shape == (2, 4, 64, 64, 3) and fractions.tolist() == pytest.approx([0, 1 / 3, 2 / 3, 1])
    np.testing.assert_allclose(info["targets"][0], OFFSET, atol=1e-6)  # starts at the calibrated Neutral
    np.testing.assert_allclose(info["targets"][-1], [0.3, 0.1], atol=1e-6)
    np.testing.assert_allclose(bent_va(info["emotion_weights"]), info["targets"], atol=0.03)
    # an uncalibrated model says so
    plain = CGANSampler(model=exported["model"])
    with pytest.raises(GenerateError, match="not calibrated"):
        plain.va_to_weights([[0.1, 0.1]])


def _cli(argv):
    from caae_tf.cli import main

    return main(argv)


def test_cli_generate_calibrated_and_uncalibrated(exported, tmp_path, capsys):
    sm = str(exported["dir"] / "sm")
    out = tmp_path / "va"
    assert _cli(["generate", "--model", sm, "--valence", "0.3", "--arousal", "0.1", "--steps", "3", "--num-z", "1",
                 "--out", str(out), "--quiet"]) == 0
    with open(out / "weights.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert [float(r["target_valence"]) for r in rows] == pytest.approx([-0.12, 0.09, 0.3], abs=1e-5)
    assert rows[-1]["clamped"] == "0" and float(rows[-1]["expected_arousal"]) == pytest.approx(0.1, abs=1e-4)
    w = np.array([[float(r[e]) for e in labels.CGAN_EMOTIONS] for r in rows])
    np.testing.assert_allclose(bent_va(w)[-1], [0.3, 0.1], atol=0.03)
    # a target beyond the reachable region is clamped, with a note
    capsys.readouterr()
    assert _cli(["generate", "--model", sm, "--valence", "0.0", "--arousal", "-0.95", "--steps", "2", "--num-z", "1",
                 "--out", str(tmp_path / "far"), "--quiet"]) == 0
    assert "outside the calibrated reachable region; clamped to the nearest reachable point" in capsys.readouterr().out
    # --uncalibrated keeps the circumplex-mixture mapping
    assert _cli(["generate", "--model", sm, "--valence", "-0.5", "--arousal", "0.5", "--steps", "2", "--num-z", "1",
                 "--uncalibrated", "--out", str(tmp_path / "unc"), "--quiet"]) == 0
    with open(tmp_path / "unc" / "weights.csv", newline="") as fh:
        last = list(csv.DictReader(fh))[-1]
    np.testing.assert_allclose([float(last[e]) for e in labels.CGAN_EMOTIONS], labels.va_to_emotion_weights(-0.5, 0.5),
                               atol=1e-5)
    # --calibrated-steps: evenly spaced readings along Neutral → happiness
    assert _cli(["generate", "--model", sm, "--emotion", "happiness", "--steps", "6", "--calibrated-steps", "--num-z",
                 "1", "--out", str(tmp_path / "cs"), "--quiet"]) == 0
    with open(tmp_path / "cs" / "weights.csv", newline="") as fh:
        alphas = [float(r["alpha"]) for r in csv.DictReader(fh)]
    np.testing.assert_allclose(alphas, K.calibrated_alphas(exported_tables(exported), "happiness", 6), atol=1e-5)
    # out-of-range targets are refused by the CLI before anything is generated
    capsys.readouterr()
    with pytest.raises(SystemExit) as exc:
        _cli(["generate", "--model", sm, "--valence", "1.5", "--arousal", "0", "--out", str(tmp_path / "x")])
    assert exc.value.code == 2
    assert "--valence: expected a number in [-1, 1], got '1.5'" in capsys.readouterr().err
    assert not (tmp_path / "x").exists()


def exported_tables(exported):
    return K.CalibrationTables.load(exported["dir"] / "sm" / "assets" / "calibration.json")


def test_cli_calibrate_run_dir_then_export(tmp_path, capsys):
    """`caae-tf calibrate` on a run dir with a (random, untrained) regressor run dir: tables land in the run dir,
    the report beside them, and `export cgan` carries them into the SavedModel."""
    import keras

    from caae_tf.config import RegressorConfig, save_config
    from caae_tf.models.regressors import build_regressor
    from caae_tf.train import variable_map

    from _train_helpers import tiny_cgan_model

    model = tiny_cgan_model(3, z_dim=8)
    run = tmp_path / "run"
    os.makedirs(run / "checkpoints")
    save_config(model.cfg, run / "config.yaml")
    ckpt = tf.train.Checkpoint(model=variable_map(model.weights))
    tf.train.CheckpointManager(ckpt, str(run / "checkpoints"), 1).save()
    reg = tmp_path / "reg"
    os.makedirs(reg)
    cfg = RegressorConfig(arch="table2", image_size=32, width_multiplier=0.125)
    save_config(cfg, reg / "config.yaml")
    keras.utils.set_random_seed(0)
    net = build_regressor("table2", 32, 0.125)
    net.save_weights(str(reg / "regressor.weights.h5"))
    rc = _cli(["calibrate", "--model", str(run), "--regressor", str(reg), "--num-z", "3", "--alpha-steps", "3",
               "--beta-steps", "2", "--eval-step", "0.05", "--eval-num-z", "2", "--quiet"])
    text = capsys.readouterr().out
    assert rc == 0, text
    assert "calibration tables:" in text and "reach on" in text
    t = K.CalibrationTables.load(run / "calibration.json")
    assert t.is_monotone() and t.va.shape == (5, 3, 2, 2) and t.meta["num_z"] == 3
    rep = json.loads((run / "calibration" / "report.json").read_text())
    assert rep["tables"]["monotone"] is True and rep["regressor"]["arch"] == "table2"
    assert set(rep["evaluation"]) >= {"calibrated", "uncalibrated", "num_targets"}
    assert (run / "calibration" / "calibration.png").exists() and (run / "calibration" / "tables.csv").exists()
    from caae_tf.generate import CGANSampler

    g = CGANSampler(str(run))  # a run dir reads RUN/calibration.json and inverts eagerly
    target = t.va[0, -1, 0][None].astype(np.float32)  # the first pair's α = 1, β = 0 reading
    np.testing.assert_allclose(g.va_to_weights(target)["emotion_weights"], K.invert(t, target)["emotion_weights"])
    from caae_tf.export.cgan import export_cgan

    sm = export_cgan(str(run), tmp_path / "sm")
    loaded = tf.saved_model.load(sm)
    assert "generate_va" in loaded.signatures
    # missing regressor: one-line error
    assert _cli(["calibrate", "--model", str(run), "--regressor", str(tmp_path / "nope")]) == 2
    assert "regressor run directory not found" in capsys.readouterr().err


def test_identity_references_of_the_targets_script():
    """experiments/cgan_targets.py: same identity (Neutral vs each other expression) and different identities
    (Neutral vs Neutral) from known embeddings."""
    from conftest import experiment_module

    mod = experiment_module("cgan_targets")
    # two identities x (neutral, sadness, happiness); identity k's neutral embedding is e_k, its other
    # expressions are tilted by 60° (cosine distance 0.5); the two identities are orthogonal (distance 1)
    c, s = np.cos(np.pi / 3), np.sin(np.pi / 3)
    emb = np.array([[1, 0, 0], [c, 0, s], [c, 0, s], [0, 1, 0], [0, c, s], [0, c, s]], np.float64)
    arr = {"identity": np.array([0, 0, 0, 1, 1, 1]), "emotion": np.array([0, 1, 5, 0, 1, 5])}
    ref = mod.identity_references(arr, emb)
    assert ref["same_identity_different_expression"] == {"mean": pytest.approx(0.5), "n": 4}
    assert ref["different_identities"] == {"mean": pytest.approx(1.0), "n": 1}


def test_recalibrating_a_saved_model_replaces_the_tables(tmp_path):
    from caae_tf.export.cgan import add_calibration_to_saved_model, export_cgan

    from _train_helpers import tiny_cgan_model

    old = K.build_tables(measure_of(lambda w: 0.7 * np.asarray(w, np.float64) @ CIRCUMPLEX), alpha_steps=3,
                         beta_steps=2)
    new = K.build_tables(measure_of(bent_va), alpha_steps=4, beta_steps=3)
    export_cgan(tiny_cgan_model(0, z_dim=8), tmp_path / "sm", calibration=old)
    add_calibration_to_saved_model(tmp_path / "sm", new)
    assert os.listdir(tmp_path / "sm" / "assets") == ["calibration.json"]  # the old asset is gone
    assert K.CalibrationTables.load(tmp_path / "sm" / "assets" / "calibration.json").alphas == new.alphas
    loaded = tf.saved_model.load(str(tmp_path / "sm"))
    target = np.array([[0.1, 0.2]], np.float32)
    out = loaded.signatures["va_to_weights"](valence_arousal=tf.constant(target))
    np.testing.assert_allclose(out["emotion_weights"].numpy(), K.invert(new, target)["emotion_weights"], atol=1e-5)
