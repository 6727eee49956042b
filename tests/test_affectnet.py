"""AffectNet preparation on a generated mini tree in the official CSV layout."""

from __future__ import annotations

import os
import shlex
import sys

import numpy as np
import pytest

from caae_tf import labels as L
from caae_tf.cli import main
from caae_tf.data import records as R
from caae_tf.errors import DataError
from data_prep.affectnet import balanced_indices, crop_square, read_affectnet_csv
from _data_helpers import write_csv, write_jpeg

HEADER = ["subDirectory_filePath", "face_x", "face_y", "face_width", "face_height", "facial_landmarks",
          "expression", "valence", "arousal"]
COLOURS = [(200, 30, 30), (30, 200, 30), (30, 30, 200), (200, 200, 30), (30, 200, 200), (200, 30, 200),
           (120, 120, 120), (240, 240, 240), (60, 60, 60), (150, 90, 30)]


@pytest.fixture()
def tree(tmp_path):
    root = tmp_path / "Manually_Annotated_Images"
    rows, good = [], {}
    for i in range(10):  # good rows: the face box holds a flat colour, the rest is black
        img = np.zeros((80, 100, 3), np.uint8)
        img[20:60, 30:70] = COLOURS[i]
        rel = f"{i % 3 + 1}/img{i}.jpg"
        write_jpeg(root / rel, img, quality=100)
        expr, v, a = i % 8, round(-0.9 + 0.2 * i, 2), round(0.9 - 0.15 * i, 2)
        rows.append((rel, 30, 20, 40, 40, "1;2;3", expr, v, a))
        good[rel] = (expr, v, a, COLOURS[i])
    write_jpeg(root / "1/extra.jpg", np.zeros((50, 50, 3), np.uint8))
    rows += [
        ("1/extra.jpg", 5, 5, 30, 30, "", 1, -2, 0.3),       # valence -2
        ("1/extra.jpg", 5, 5, 30, 30, "", 1, 0.3, -2),       # arousal -2
        ("1/extra.jpg", 5, 5, 30, 30, "", 8, 0.1, 0.1),      # none
        ("1/extra.jpg", 5, 5, 30, 30, "", 9, 0.1, 0.1),      # uncertain
        ("1/extra.jpg", 5, 5, 30, 30, "", 10, -2, -2),       # non-face
        ("1/img0.jpg", 30, 20, 40, 40, "", 3, 0.5, 0.5),     # duplicate path
        ("2/extra.jpg", 5, 5, 30, 30, "", 2, 1.5, 0.0),      # out of range
        ("2/missing.jpg", 5, 5, 30, 30, "", 2, 0.5, 0.0),    # missing file
        ("2/corrupt.jpg", 5, 5, 30, 30, "", 2, 0.5, 0.0),    # corrupt file
        ("1/extra.jpg", 500, 500, 30, 30, "", 2, 0.5, 0.0),  # box outside the image
    ]
    (root / "2").mkdir(exist_ok=True)
    (root / "2" / "corrupt.jpg").write_bytes(b"\xff\xd8\xff\xe0\x00\x10JFIF" + b"\x00" * 40)
    write_csv(tmp_path / "training.csv", HEADER, rows)
    write_csv(tmp_path / "validation.csv", HEADER, rows[:4])
    return tmp_path, root, good


def test_label_filter_counts(tree):
    tmp, root, good = tree
    table, skips = read_affectnet_csv(str(tmp / "training.csv"))
    assert len(table) == 13  # 10 good + missing + corrupt + box outside
    assert dict(skips) == {"valence/arousal -2 (uncertain/no face)": 2, "expression 8 (none)": 1,
                           "expression 9 (uncertain)": 1, "expression 10 (non-face)": 1,
                           "duplicate path": 1, "valence/arousal out of range": 1}


def test_prepare_splits_and_labels(tree, tmp_path, monkeypatch):
    tmp, root, good = tree
    out = tmp_path / "rec"
    argv = ["prepare", "affectnet", "--train-csv", str(tmp / "training.csv"), "--val-csv",
            str(tmp / "validation.csv"), "--images", str(root), "--out", str(out), "--eval-size", "3",
            "--margin", "0", "--size", "16", "--shards", "2", "--quiet"]
    # the manifest records the command line the process was started with: make it the CLI's
    monkeypatch.setattr(sys, "argv", [os.path.join("somewhere", "bin", "caae-tf"), *argv])
    rc = main(argv)
    assert rc == 0
    tr, ev, va = (R.read_manifest(out / s) for s in ("train", "eval", "val"))
    assert tr["num_examples"] + ev["num_examples"] == 10
    image_skips = {k: tr["skipped"].get(k, 0) + ev["skipped"].get(k, 0)
                   for k in ("missing file", "corrupt or non-image file", "face box outside image")}
    assert image_skips == {"missing file": 1, "corrupt or non-image file": 1, "face box outside image": 1}
    assert tr["skipped"]["expression 8 (none)"] == 1 and tr["num_skipped"] >= 7
    assert va["num_examples"] == 4 and va["split"] == "val"
    assert tr["command"] == shlex.join(["caae-tf", *argv])  # the exact command, argv[0] shortened
    assert ev["command"] == va["command"] == tr["command"]

    import tensorflow as tf

    seen = set()
    for split in ("train", "eval"):
        for e in tf.data.TFRecordDataset(R.shard_files(out / split)).map(lambda x: R.parse_example(x, True)) \
                .as_numpy_iterator():
            rel = e["path"].decode().split("Manually_Annotated_Images/")[1]
            expr, v, a, colour = good[rel]
            assert rel not in seen
            seen.add(rel)
            np.testing.assert_allclose(e["va"], [v, a], atol=1e-6)
            assert e["emotion8"] == expr
            name = L.AFFECTNET_EMOTIONS[expr]
            assert e["emotion"] == (L.CGAN_EMOTIONS.index(name) if name in L.CGAN_EMOTIONS else -1)
            assert e["image"].shape == (16, 16, 3)
            # margin 0: the crop is exactly the flat-coloured face box (JPEG tolerance)
            assert np.abs(e["image"].astype(int) - colour).max() < 20
    assert seen == set(good)


def test_eval_is_deterministic_and_disjoint(tree, tmp_path):
    tmp, root, good = tree
    from data_prep.affectnet import prepare_affectnet

    def paths(o, split):
        import tensorflow as tf

        return sorted(e["path"] for e in tf.data.TFRecordDataset(R.shard_files(o / split))
                      .map(R.parse_example).as_numpy_iterator())

    a = prepare_affectnet(str(tmp / "training.csv"), str(root), str(tmp_path / "a"), eval_size=4, workers=1)
    prepare_affectnet(str(tmp / "training.csv"), str(root), str(tmp_path / "b"), eval_size=4, workers=2)
    assert paths(tmp_path / "a", "eval") == paths(tmp_path / "b", "eval")
    assert not set(paths(tmp_path / "a", "eval")) & set(paths(tmp_path / "a", "train"))
    assert "val" not in a


def test_balance_and_crop_and_missing_column(tmp_path):
    expr = np.array([0] * 6 + [1] * 2 + [7] * 3)
    idx, factors = balanced_indices(expr, np.random.default_rng(0))
    counts = np.bincount(expr[idx], minlength=8)
    assert counts[0] == counts[1] == counts[7] == 6 and factors["happiness"] == 3.0
    assert len(set(idx[expr[idx] == 7])) == 3
    img = np.zeros((10, 10, 3), np.uint8)
    img[2:6, 4:8] = 255
    c = crop_square(img, (4, 2, 4, 4), 0.0, 0)
    assert c.shape == (4, 4, 3) and c.min() == 255
    c = crop_square(img, (0, 0, 4, 4), 0.5, 8)  # leaves the image: edge-padded, right size
    assert c.shape == (8, 8, 3)
    write_csv(tmp_path / "t.csv", HEADER[:-1], [("a.jpg", 0, 0, 1, 1, "", 1, 0.5)])
    with pytest.raises(DataError, match=r"t\.csv: missing required column 'arousal'"):
        read_affectnet_csv(str(tmp_path / "t.csv"))
