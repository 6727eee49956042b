"""CSV/folder tables: validation, counted skips, DataError for missing columns, odd image formats."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from caae_tf.data.table import label_arrays, load_table
from caae_tf.errors import DataError
from _data_helpers import smooth_image, write_csv, write_png


@pytest.fixture()
def mixed_csv(tmp_path):
    rng = np.random.default_rng(0)
    for i in range(8):
        write_png(tmp_path / "img" / f"{i}.png", smooth_image(rng, 20, 20))
    (tmp_path / "img" / "corrupt.png").write_bytes(b"\x89PNG\r\n\x1a\nnot really")
    (tmp_path / "img" / "notes.png").write_text("hello")
    rows = [
        ("img/0.png", 0, 0.5, -0.5, "happy"),
        ("img/1.png", 1, "", "", "sad"),                  # va unknown
        ("img/2.png", "", 0.1, 0.2, ""),                   # identity/emotion unknown
        ("img/0.png", 2, 0.0, 0.0, "neutral"),             # duplicate path
        ("img/3.png", 0, 1.5, 0.0, "fear"),                # out of range
        ("img/4.png", 0, "abc", 0.0, "fear"),              # not a number
        ("img/5.png", 0, 0.3, "", "fear"),                 # incomplete
        ("img/6.png", 0, 0.3, 0.3, "bored"),               # unknown emotion
        ("img/missing.png", 0, 0.3, 0.3, "anger"),         # missing file
        ("img/corrupt.png", 0, 0.3, 0.3, "anger"),         # corrupt
        ("img/notes.png", 0, 0.3, 0.3, "anger"),           # not an image
        (str(tmp_path / "img" / "7.png"), 3, "nan", "NaN", "Surprised"),  # absolute path, NaN labels
    ]
    write_csv(tmp_path / "labels.csv", ["path", "identity", "valence", "arousal", "emotion"], rows)
    return tmp_path


def test_counts_and_labels(mixed_csv):
    df, skips = load_table(mixed_csv / "labels.csv")
    assert skips == {
        "duplicate path": 1, "valence/arousal out of range": 1, "valence/arousal not a number": 1,
        "incomplete valence/arousal": 1, "unknown emotion": 1, "missing file": 1,
        "corrupt or non-image file": 2,
    }
    assert [p.rsplit("/", 1)[1] for p in df["path"]] == ["0.png", "1.png", "2.png", "7.png"]
    lab = label_arrays(df)
    np.testing.assert_allclose(lab["va"][0], [0.5, -0.5])
    assert np.isnan(lab["va"][1]).all() and np.isnan(lab["va"][3]).all()
    assert lab["emotion"].tolist() == [5, 1, -1, -1]        # happiness, sadness, unknown, surprise ∉ cGAN
    assert lab["emotion8"].tolist() == [1, 2, -1, 3]
    assert lab["identity"].tolist() == [0, 1, -1, 3]
    # the same through the folder (labels.csv inside) and with a requirement
    df2, skips2 = load_table(mixed_csv, require=("va",))
    assert len(df2) == 2 and skips2["missing va"] == 2


def test_missing_required_column_names_it(tmp_path):
    write_png(tmp_path / "a.png", np.zeros((10, 10, 3), np.uint8))
    write_csv(tmp_path / "x.csv", ["path", "emotion"], [("a.png", "happy")])
    with pytest.raises(DataError, match=r"x\.csv: missing required column 'valence'"):
        load_table(tmp_path / "x.csv", require=("va",))
    write_csv(tmp_path / "y.csv", ["file", "emotion"], [("a.png", "happy")])
    with pytest.raises(DataError, match=r"y\.csv: missing required column 'path'"):
        load_table(tmp_path / "y.csv")
    df, _ = load_table(tmp_path / "x.csv", require=("emotion",))
    assert len(df) == 1


def test_identity_names_are_indexed(tmp_path):
    for i in range(3):
        write_png(tmp_path / f"{i}.png", np.full((10, 10, 3), i * 40, np.uint8))
    write_csv(tmp_path / "l.csv", ["path", "identity"], [("0.png", "bob"), ("1.png", "alice"), ("2.png", "bob")])
    df, _ = load_table(tmp_path / "l.csv")
    assert df["identity"].tolist() == [1, 0, 1] and df.attrs["identity_names"] == ["alice", "bob"]


def test_class_folders(tmp_path):
    rng = np.random.default_rng(3)
    for name in ("happy", "Sadness", "misc"):
        for k in range(2):
            write_png(tmp_path / name / f"{k}.png", smooth_image(rng, 12, 12))
    (tmp_path / "happy" / "readme.txt").write_text("x")
    df, skips = load_table(tmp_path)
    assert sorted(df["emotion"]) == ["happiness", "happiness", "sadness", "sadness"]
    assert skips == {"not an image file": 1, "unknown emotion folder 'misc'": 2}


def test_odd_formats_become_correct_rgb(tmp_path):
    """Grey, RGBA and 16-bit files: the stored bytes decode in TF to the same RGB as OpenCV's reader."""
    import tensorflow as tf

    rng = np.random.default_rng(4)
    rgb = smooth_image(rng, 16, 16)
    grey = rgb[..., 0]
    cv2.imwrite(str(tmp_path / "grey.png"), grey)
    cv2.imwrite(str(tmp_path / "rgba.png"), np.dstack([rgb[..., ::-1], np.full((16, 16), 77, np.uint8)]))
    cv2.imwrite(str(tmp_path / "deep.png"), rgb[..., ::-1].astype(np.uint16) * 257)
    cv2.imwrite(str(tmp_path / "grey16.png"), grey.astype(np.uint16) * 257)
    write_csv(tmp_path / "l.csv", ["path"], [("grey.png",), ("rgba.png",), ("deep.png",), ("grey16.png",)])
    df, skips = load_table(tmp_path / "l.csv")
    assert skips == {} and len(df) == 4
    want = [np.repeat(grey[..., None], 3, 2), rgb, rgb, np.repeat(grey[..., None], 3, 2)]
    for data, w in zip(df["image_bytes"], want):
        got = tf.io.decode_image(data, channels=3, expand_animations=False).numpy()
        np.testing.assert_array_equal(got, w)
