"""Every CLI that reads images, labels or configs, fed the bad-input corpus of tests/data/make_bad_inputs.py.

Each input must give a correct result, a counted skip, or a one-line ``caae-tf CMD: error: ...`` naming the
file — never a traceback and never a hang. Image decoding is checked concretely (CMYK → RGB colours,
EXIF orientation → rotated size, 16-bit → 8-bit, RGBA → RGB, grey → RGB), also after the TFRecord round
trip through TensorFlow's graph decoder.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys

import numpy as np
import pytest

from caae_tf import cli
from caae_tf.images import ImageReadError, read_image

from _train_helpers import TINY_CAAE, TINY_CGAN

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
_spec = importlib.util.spec_from_file_location("make_bad_inputs", os.path.join(HERE, "data", "make_bad_inputs.py"))
mbi = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(mbi)

OK = sorted(f for f, e in mbi.EXPECTED.items() if e.get("ok"))
BAD = sorted(f for f, e in mbi.EXPECTED.items() if "skip" in e)


@pytest.fixture(scope="session")
def corpus(tmp_path_factory):
    return mbi.make_bad_inputs(str(tmp_path_factory.mktemp("corpus") / "bad_inputs"))


@pytest.fixture(scope="session")
def huge_png(corpus):
    return mbi.make_huge(corpus)


def run_cli(argv, capsys):
    """In-process ``caae-tf ARGV`` → (rc, stdout, stderr); never a traceback on stderr."""
    rc = cli.main([str(a) for a in argv])
    out, err = capsys.readouterr()
    assert "Traceback" not in err and "Traceback" not in out
    return rc, out, err


def one_error_line(err: str, cmd: str) -> str:
    lines = [ln for ln in err.splitlines() if ln.strip()]
    errors = [ln for ln in lines if ln.startswith(f"caae-tf {cmd}: error: ")]
    assert len(errors) == 1, err
    return errors[0]


def _sets(values):
    return [a for s in values for a in ("--set", s)]


# ------------------------------------------------------------------------------------------ decoding

def test_generator_is_reproducible(corpus, tmp_path):
    again = mbi.make_bad_inputs(str(tmp_path / "again"))
    for root, _, files in os.walk(corpus):
        for f in files:
            a = os.path.join(root, f)
            b = os.path.join(again, os.path.relpath(a, corpus))
            with open(a, "rb") as fa, open(b, "rb") as fb:
                assert fa.read() == fb.read(), a


@pytest.mark.parametrize("name", sorted(mbi.EXPECTED))
def test_each_file_decodes_correctly_or_names_itself(corpus, name):
    from caae_tf.data.records import read_safe_image, skip_reason

    exp = mbi.EXPECTED[name]
    path = os.path.join(corpus, name)
    if exp.get("ok"):
        rgb = read_image(path)
        assert rgb.dtype == np.uint8 and rgb.shape == tuple(exp["shape"])
        for (y, x), want in exp.get("pixels", {}).items():
            assert np.all(np.abs(rgb[y, x].astype(int) - want) <= exp["tol"]), (name, rgb[y, x], want)
        _, _, safe = read_safe_image(path)  # what the data pipeline stores
        np.testing.assert_array_equal(safe, rgb)
    else:
        with pytest.raises(ImageReadError) as info:
            read_image(path)
        msg = str(info.value)
        assert msg.startswith(path) and exp["error"] in msg and "\n" not in msg
        assert skip_reason(info.value) == exp["skip"]


def test_concrete_conversions(corpus):
    """The decoded pixels of the special formats, spelled out."""
    img = {n: read_image(os.path.join(corpus, "images", n)) for n in
           ("cmyk.jpg", "exif_rot6.jpg", "deep16.png", "rgba.png", "gray.png")}
    c = img["cmyk.jpg"]  # CMYK JPEG → plausible RGB: red half, blue half
    assert c[:, :20, 0].mean() > 180 and c[:, :20, 2].mean() < 70
    assert c[:, 28:, 2].mean() > 180 and c[:, 28:, 0].mean() < 70
    e = img["exif_rot6.jpg"]  # stored 60x40 landscape, orientation 6 → 40 wide, 60 high; top band → right
    assert e.shape == (60, 40, 3) and e[:, -6:].mean() > 230 and e[:, :30].mean() < 20
    assert img["deep16.png"][0, 0].tolist() == [40000 >> 8, 20000 >> 8, 60000 >> 8]
    assert img["rgba.png"].shape[-1] == 3 and img["rgba.png"][0, 0].tolist() == [10, 200, 30]  # alpha dropped
    assert img["gray.png"][0, 0].tolist() == [100, 100, 100]


def test_huge_image_is_read(huge_png):
    rgb = read_image(huge_png)
    assert rgb.shape == (8000, 8000, 3) and rgb[4000, 4000].tolist() == [90, 140, 200]


# ------------------------------------------------------------------------------------------ prepare

def _expected_skips(names):
    out = {}
    for n in names:
        r = mbi.EXPECTED[n].get("skip")
        if r:
            out[r] = out.get(r, 0) + 1
    return out


def test_prepare_csv_counts_every_bad_file_and_round_trips_pixels(corpus, tmp_path, capsys):
    import tensorflow as tf

    from caae_tf.data.records import parse_example, read_manifest, shard_files

    out_dir = tmp_path / "records"
    rc, out, err = run_cli(["prepare", "csv", os.path.join(corpus, "labels.csv"), "--out", out_dir, "--quiet"],
                           capsys)
    assert rc == 0, err
    m = read_manifest(out_dir)
    assert m["num_examples"] == len(OK)
    assert m["skipped"] == _expected_skips(BAD)
    summary = json.loads(out.strip().splitlines()[-1])
    assert summary["skipped"] == m["skipped"]
    # what TensorFlow's graph decoder reads back equals what OpenCV decoded (CMYK/EXIF/16-bit re-encoded)
    seen = {}
    for rec in tf.data.TFRecordDataset(shard_files(out_dir)):
        ex = parse_example(rec, decode=True)
        seen[ex["path"].numpy().decode()] = ex["image"].numpy()
    assert len(seen) == len(OK)
    for name in OK:
        path = os.path.normpath(os.path.join(corpus, name))
        want = read_image(path)
        got = seen[path]
        assert got.shape == want.shape, name
        tol = 2 if name.endswith(".jpg") else 0  # libjpeg in TF vs OpenCV: ±1 rounding on kept JPEGs
        assert np.abs(got.astype(int) - want).max() <= tol, name


def test_prepare_csv_label_problems_are_counted(corpus, tmp_path, capsys):
    from caae_tf.data.records import read_manifest

    rc, out, err = run_cli(["prepare", "csv", os.path.join(corpus, "labels_bad_values.csv"), "--require", "va",
                            "--out", tmp_path / "r", "--quiet"], capsys)
    assert rc == 0, err
    want = {}
    for *_, reason in mbi.BAD_VALUE_ROWS:
        if reason:
            want[reason] = want.get(reason, 0) + 1
    m = read_manifest(tmp_path / "r")
    assert m["skipped"] == want
    assert m["num_examples"] == sum(1 for *_, r in mbi.BAD_VALUE_ROWS if r is None)


def test_prepare_folders_counts_skips(corpus, tmp_path, capsys):
    from caae_tf.data.records import read_manifest

    rc, out, err = run_cli(["prepare", "folders", os.path.join(corpus, "class_folders"), "--out", tmp_path / "r",
                            "--quiet"], capsys)
    assert rc == 0, err
    m = read_manifest(tmp_path / "r")
    assert m["num_examples"] == mbi.CLASS_FOLDER_KEPT and m["skipped"] == mbi.CLASS_FOLDER_SKIPS


@pytest.mark.parametrize("source, extra, words", [
    ("missing_columns.csv", ["--require", "va"], ["missing required column 'valence'"]),
    ("no_path_column.csv", [], ["missing required column 'path'"]),
    ("empty.csv", [], ["not a readable CSV"]),
    ("header_only.csv", [], ["no usable rows"]),
    ("all_bad.csv", [], ["no usable rows"]),
    ("images/a_directory.jpg", [], ["no images found"]),
    ("does_not_exist.csv", [], ["no such file"]),
])
def test_prepare_unusable_sources_are_one_line(corpus, tmp_path, capsys, source, extra, words):
    path = os.path.join(corpus, source)
    rc, out, err = run_cli(["prepare", "csv", path, *extra, "--out", tmp_path / "r", "--quiet"], capsys)
    assert rc == 2
    line = one_error_line(err, "prepare")
    assert os.path.basename(source) in line and all(w in line for w in words), line


# ------------------------------------------------------------------------------------------ train

@pytest.mark.parametrize("source, words", [
    ("missing_columns.csv", ["missing required column 'valence'"]),
    ("all_bad.csv", ["no usable images"]),
    ("header_only.csv", ["no usable images"]),
    ("empty.csv", ["not a readable CSV"]),
    ("class_folders", ["missing required column 'valence'"]),  # class folders carry no valence/arousal
])
def test_train_unusable_data_is_one_line(corpus, tmp_path, capsys, source, words):
    rc, out, err = run_cli(["train", "caae", "--data", os.path.join(corpus, source), "--run-dir", tmp_path / "run",
                            "--quiet", *_sets(TINY_CAAE + ["steps=2"])], capsys)
    assert rc == 2
    line = one_error_line(err, "train")
    assert os.path.basename(source) in line and all(w in line for w in words), line


@pytest.mark.slow
def test_train_on_corpus_uses_good_images_only(corpus, tmp_path, capsys):
    """``train caae`` from the corpus folder (labels.csv with every bad file) and ``train cgan`` from class
    folders with bad files: training runs on the usable images."""
    from caae_tf.data.table import load_table

    df, skips = load_table(corpus, require=("va",))
    assert len(df) == len(OK) and skips == _expected_skips(BAD)
    rc, out, err = run_cli(["train", "caae", "--data", corpus, "--run-dir", tmp_path / "caae", "--quiet",
                            *_sets(TINY_CAAE + ["steps=2"])], capsys)
    assert rc == 0 and "completed at step 2" in out, err
    rc, out, err = run_cli(["train", "cgan", "--data", os.path.join(corpus, "class_folders"), "--run-dir",
                            tmp_path / "cgan", "--quiet", *_sets(TINY_CGAN + ["steps=2"])], capsys)
    assert rc == 0 and "completed at step 2" in out, err


# ------------------------------------------------------------------------------------------ edit

@pytest.fixture(scope="module")
def caae_run(tmp_path_factory):
    """A tiny untrained CAAE run dir (config.yaml + one checkpoint), loadable by ``caae-tf edit``."""
    import tensorflow as tf

    from caae_tf.config import CAAEConfig, apply_overrides, save_config
    from caae_tf.models.caae import CAAE
    from caae_tf.train import dummy_batch, variable_map

    cfg = apply_overrides(CAAEConfig(), TINY_CAAE)
    model = CAAE(cfg)
    model.build_all(dummy_batch(cfg, 1))
    run = tmp_path_factory.mktemp("caae_run")
    save_config(cfg, run / "config.yaml")
    tf.train.CheckpointManager(tf.train.Checkpoint(model=variable_map(model.weights)), str(run / "checkpoints"),
                               1).save()
    return run


def test_edit_every_corpus_file(corpus, caae_run, tmp_path, capsys):
    from caae_tf.images import read_image as rd

    paths = [os.path.join(corpus, n) for n in sorted(mbi.EXPECTED)]
    rc, out, err = run_cli(["edit", *paths, "--model", caae_run, "--valence", "0.5", "--arousal", "-0.5",
                            "--out", tmp_path / "out", "--quiet"], capsys)
    assert rc == 1, err  # some written, some failed
    written = out.strip().splitlines()
    assert len(written) == len(OK) == len(set(written)), written  # one distinct output per usable input
    for w in written:
        assert rd(w).shape == (32, 32, 3)
    skipped = [ln for ln in err.splitlines() if ln.startswith("skipped: ")]
    assert len(skipped) == len(BAD), err
    for name in BAD:
        path = os.path.join(corpus, name)
        line = next(ln for ln in skipped if ln.startswith(f"skipped: {path}: "))
        assert mbi.EXPECTED[name]["error"] in line
    assert f"{len(BAD)} of {len(paths)} image(s) failed" in err
    assert any("ümlaut face_v+0.50_a-0.50.png" in w for w in written)
    names = {os.path.basename(w) for w in written}  # gray.png and gray.jpg: two results, none overwritten
    assert {"gray_v+0.50_a-0.50.png", "gray_v+0.50_a-0.50_2.png"} <= names


def test_edit_align_face_and_no_face(corpus, caae_run, tmp_path, capsys):
    from caae_tf.images import read_image as rd

    face = os.path.join(corpus, "face", "face_photo.png")
    no_face = os.path.join(corpus, "images", "no_face.png")
    text = os.path.join(corpus, "images", "text.jpg")
    rc, out, err = run_cli(["edit", face, no_face, text, "--align", "--model", caae_run, "--valence", "0.3",
                            "--arousal", "0.3", "--out", tmp_path / "out", "--quiet"], capsys)
    assert rc == 1, err
    (written,) = out.strip().splitlines()
    assert rd(written).shape == mbi.EXPECTED["face/face_photo.png"]["shape"]  # pasted back into the full photo
    assert f"skipped: {no_face}: no face found" in err
    assert f"skipped: {text}: not a decodable image" in err


def test_edit_only_bad_files_exit_2(corpus, caae_run, tmp_path, capsys):
    paths = [os.path.join(corpus, "images", n) for n in ("empty.jpg", "text.jpg", "a_directory.jpg")]
    rc, out, err = run_cli(["edit", *paths, "--model", caae_run, "--valence", "0", "--arousal", "0",
                            "--out", tmp_path / "out", "--quiet"], capsys)
    assert rc == 2 and not out.strip()
    assert sum(ln.startswith("skipped: ") for ln in err.splitlines()) == 3


def test_edit_huge_image(huge_png, caae_run, tmp_path, capsys):
    rc, out, err = run_cli(["edit", huge_png, "--model", caae_run, "--valence", "0", "--arousal", "0",
                            "--out", tmp_path / "out", "--quiet"], capsys)
    assert rc == 0, err
    assert read_image(out.strip()).shape == (32, 32, 3)


def test_edit_missing_model_is_one_line(corpus, tmp_path, capsys):
    rc, out, err = run_cli(["edit", os.path.join(corpus, "images", "good_00.png"), "--model", tmp_path / "nope",
                            "--valence", "0", "--arousal", "0", "--out", tmp_path / "o"], capsys)
    assert rc == 2 and "nope" in one_error_line(err, "edit")


# ------------------------------------------------------------------------------------------ metrics

def test_metrics_skips_and_counts_unusable_rows(corpus, capsys):
    import pandas as pd

    from caae_tf.evaluation.metrics import va_metrics

    path = os.path.join(corpus, "predictions.csv")
    rc, out, err = run_cli(["metrics", "--csv", path], capsys)
    assert rc == 0, err
    got = json.loads(out)
    df = pd.read_csv(path).apply(pd.to_numeric, errors="coerce").dropna()
    assert len(df) == 10  # the ±5 rows are numbers and are used
    want = va_metrics(df[["valence", "arousal"]].to_numpy(), df[["pred_valence", "pred_arousal"]].to_numpy())
    for dim in ("valence", "arousal"):
        for k in ("rmse", "sagr", "ccc"):
            assert got[dim][k] == pytest.approx(want[dim][k], rel=1e-9, abs=1e-12)
    line = [ln for ln in err.splitlines() if ln.strip()]
    assert len(line) == 1 and "skipped 3 of 13 rows" in line[0] and "11, 12, 13" in line[0]


@pytest.mark.parametrize("source, words", [
    ("predictions_missing_col.csv", ["missing column 'pred_arousal'"]),
    ("empty.csv", ["not a readable CSV"]),
    ("does_not_exist.csv", ["not found"]),
    ("images/a_directory.jpg", ["a_directory.jpg: is a directory"]),
    ("labels_bad_values.csv", ["missing column 'pred_valence'"]),
])
def test_metrics_unusable_csv_is_one_line(corpus, capsys, source, words):
    rc, out, err = run_cli(["metrics", "--csv", os.path.join(corpus, source)], capsys)
    assert rc == 2
    line = one_error_line(err, "metrics")
    assert all(w in line for w in words), line


# ------------------------------------------------------------------------------------------ regressor

@pytest.mark.parametrize("source, words", [
    ("missing_columns.csv", ["valence"]),
    ("all_bad.csv", ["all_bad.csv"]),
])
def test_train_regressor_unusable_data_is_one_line(corpus, tmp_path, capsys, source, words):
    rc, out, err = run_cli(["train-regressor", "--data", os.path.join(corpus, source), "--run-dir", tmp_path / "r",
                            "--quiet", "--set", "steps=2", "--set", "image_size=32", "--set", "batch_size=4",
                            "--set", "width_multiplier=0.05"], capsys)
    assert rc == 2
    line = one_error_line(err, "train-regressor")
    assert all(w in line for w in words), line


@pytest.mark.slow
def test_train_regressor_on_corpus(corpus, tmp_path, capsys):
    rc, out, err = run_cli(["train-regressor", "--data", os.path.join(corpus, "labels.csv"), "--run-dir",
                            tmp_path / "r", "--quiet", "--set", "steps=2", "--set", "image_size=32",
                            "--set", "batch_size=4", "--set", "width_multiplier=0.05"], capsys)
    assert rc == 0, err
    assert "RMSE" in out


# ------------------------------------------------------------------------------------------ config

@pytest.mark.parametrize("extra, words", [
    (["--set", "bogus_key=1"], ["unknown key 'bogus_key'", "valid keys:", "batch_size", "z_dim"]),
    (["--set", "steps=abc"], ["key 'steps'", "expected an integer"]),
    (["--set", "learning_rate=fast"], ["key 'learning_rate'", "expected a number"]),
    (["--set", "augment_flip=maybe"], ["key 'augment_flip'", "expected true/false"]),
    (["--set", "steps"], ["expected key=value"]),
    (["--set", "image_size=-3"], ["image_size must be >= 1"]),
    (["--set", "mixed_precision=float8"], ["mixed_precision must be one of"]),
])
def test_bad_set_overrides_are_one_line(corpus, tmp_path, capsys, extra, words):
    rc, out, err = run_cli(["train", "caae", "--data", os.path.join(corpus, "labels.csv"), "--run-dir",
                            tmp_path / "run", "--quiet", *extra], capsys)
    assert rc == 2
    line = one_error_line(err, "train")
    assert all(w in line for w in words), line


@pytest.mark.parametrize("text, words", [
    ("steps: 10\nbogus_key: 3\n", ["unknown key 'bogus_key'", "valid keys:"]),
    ("image_size: big\n", ["key 'image_size'", "expected an integer"]),
    ("- a\n- list\n", ["expected a mapping"]),
    ("steps: [1, 2\n", ["not valid YAML"]),
    ("model: cgan\n", ["config is for model 'cgan'"]),
    (None, ["cannot read config"]),
])
def test_bad_config_files_are_one_line(corpus, tmp_path, capsys, text, words):
    cfg = tmp_path / "cfg.yaml"
    if text is not None:
        cfg.write_text(text)
    rc, out, err = run_cli(["train", "caae", "--data", os.path.join(corpus, "labels.csv"), "--run-dir",
                            tmp_path / "run", "--config", cfg, "--quiet"], capsys)
    assert rc == 2
    line = one_error_line(err, "train")
    assert str(cfg) in line and all(w in line for w in words), line


def test_bad_regressor_config_is_one_line(corpus, tmp_path, capsys):
    rc, out, err = run_cli(["train-regressor", "--data", os.path.join(corpus, "labels.csv"), "--run-dir",
                            tmp_path / "r", "--set", "bogus=1"], capsys)
    assert rc == 2
    assert "valid keys:" in one_error_line(err, "train-regressor")


# ------------------------------------------------------------------------------------------ real processes

@pytest.mark.slow
def test_subprocesses_exit_cleanly_without_traceback(corpus, caae_run, tmp_path):
    """The same failures in real processes (exit codes, stderr, a timeout against hangs)."""
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", CUDA_VISIBLE_DEVICES="")
    runs = [
        (["prepare", "csv", os.path.join(corpus, "all_bad.csv"), "--out", str(tmp_path / "r"), "--quiet"], 2),
        (["edit", os.path.join(corpus, "images", "text.jpg"), os.path.join(corpus, "images", "good_00.png"),
          "--model", str(caae_run), "--valence", "2", "--arousal", "0", "--clip", "--out", str(tmp_path / "e"),
          "--quiet"], 1),
        (["metrics", "--csv", os.path.join(corpus, "predictions.csv")], 0),
    ]
    for argv, want in runs:
        p = subprocess.run([sys.executable, "-m", "caae_tf", *argv], cwd=REPO, env=env, capture_output=True,
                           text=True, timeout=900)
        assert p.returncode == want, (argv, p.returncode, p.stderr)
        assert "Traceback" not in p.stderr, p.stderr
