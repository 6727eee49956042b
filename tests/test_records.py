"""TFRecord schema: round trip of pixels and labels, manifest statistics, skipped rows."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from caae_tf import labels as L
from caae_tf.data import records as R
from _data_helpers import smooth_image, write_jpeg, write_png


def _read_all(out_dir):
    import tensorflow as tf

    ds = tf.data.TFRecordDataset(R.shard_files(out_dir)).map(lambda x: R.parse_example(x, decode=True))
    return list(ds.as_numpy_iterator())


def test_round_trip_pixels_and_labels(tmp_path):
    rng = np.random.default_rng(0)
    imgs = [rng.integers(0, 256, (20 + i, 24, 3), dtype=np.uint8) for i in range(5)]
    rows = [
        {"image": imgs[0], "valence": 0.5, "arousal": -0.25, "emotion": "happy", "identity": 3, "path": "a.png"},
        {"image": imgs[1], "valence": None, "arousal": None, "emotion": "surprise", "identity": -1},
        {"image": imgs[2], "valence": -1.0, "arousal": 1.0, "emotion": "", "identity": 0,
         "attributes": {"age": "o"}},
        {"image": imgs[3], "emotion": "contempt"},
        {"image": imgs[4], "emotion": "neutral", "identity": 7},
    ]
    m = R.write_records(rows, tmp_path / "rec", num_shards=2, command="test")
    assert m["num_examples"] == 5 and m["command"] == "test"
    assert sum(m["shards"].values()) == 5 and len(R.shard_files(tmp_path / "rec")) == 2
    got = sorted(_read_all(tmp_path / "rec"), key=lambda e: e["height"])
    for img, row, e in zip(imgs, rows, got):
        np.testing.assert_array_equal(e["image"], img)  # PNG: lossless
        assert (e["height"], e["width"]) == img.shape[:2]
        v, a = row.get("valence"), row.get("arousal")
        if v is None:
            assert np.all(np.isnan(e["va"]))
        else:
            np.testing.assert_allclose(e["va"], [v, a])
        name = L.canonical_emotion(row["emotion"]) if row.get("emotion") else ""
        assert e["emotion_name"].decode() == name
        assert e["emotion"] == (L.CGAN_EMOTIONS.index(name) if name in L.CGAN_EMOTIONS else -1)
        assert e["emotion8"] == (L.AFFECTNET_EMOTIONS.index(name) if name else -1)
        assert e["identity"] == row.get("identity", -1)
    assert json.loads(got[2]["attributes"]) == {"age": "o"}
    assert m["valence"]["min"] == -1.0 and m["valence"]["max"] == 0.5
    assert m["emotion_histogram"] == {"contempt": 1, "happiness": 1, "neutral": 1, "surprise": 1}
    assert m["identities"] == {"count": 3, "num_classes": 8, "min_images_per_identity": 1,
                               "max_images_per_identity": 1}
    assert m["label_counts"] == {"va": 2, "emotion": 2, "emotion8": 4, "identity": 3}
    on_disk = R.read_manifest(tmp_path / "rec")
    assert on_disk["num_examples"] == 5


def test_paths_bytes_and_bad_files(tmp_path):
    rng = np.random.default_rng(1)
    png = smooth_image(rng, 30, 30)
    write_png(tmp_path / "ok.png", png)
    write_jpeg(tmp_path / "ok.jpg", smooth_image(rng, 30, 40))
    (tmp_path / "bad.jpg").write_bytes(b"\xff\xd8\xff\xe0garbage")
    (tmp_path / "empty.png").write_bytes(b"")
    rows = [
        {"path": str(tmp_path / "ok.png"), "emotion": "fear"},
        {"path": str(tmp_path / "ok.jpg")},
        {"path": str(tmp_path / "bad.jpg")},
        {"path": str(tmp_path / "missing.png")},
        {"path": str(tmp_path / "empty.png")},
        {"image_bytes": (tmp_path / "ok.png").read_bytes(), "path": "mem"},
    ]
    m = R.write_records(rows, tmp_path / "rec", num_shards=1, skipped={"duplicate path": 2})
    assert m["num_examples"] == 3
    assert m["skipped"] == {"corrupt or non-image file": 1, "duplicate path": 2, "empty file": 1,
                            "missing file": 1}
    assert m["num_skipped"] == 5
    assert m["image_formats"] == {"png": 2, "jpeg": 1}
    got = _read_all(tmp_path / "rec")
    np.testing.assert_array_equal(got[0]["image"], png)
    # the JPEG is stored as-is: in-graph decode equals the original file bytes' OpenCV decode
    assert got[1]["image_bytes"] == (tmp_path / "ok.jpg").read_bytes()


def test_safe_bytes_reencodes_16bit_and_keeps_8bit():
    import cv2

    rgb = np.random.default_rng(2).integers(0, 256, (16, 16, 3), dtype=np.uint8)
    ok8, enc8 = cv2.imencode(".png", rgb[..., ::-1])
    data, fmt, out = R.safe_image_bytes(enc8.tobytes())
    assert data == enc8.tobytes() and fmt == "png"
    ok16, enc16 = cv2.imencode(".png", (rgb[..., ::-1].astype(np.uint16) * 257))
    data16, fmt16, out16 = R.safe_image_bytes(enc16.tobytes())
    assert data16 != enc16.tobytes() and data16[24] == 8
    np.testing.assert_array_equal(out16, rgb)


def test_empty_dir_errors(tmp_path):
    from caae_tf.errors import DataError

    with pytest.raises(DataError, match="manifest.json"):
        R.read_manifest(tmp_path)
    with pytest.raises(DataError, match="shards"):
        R.shard_files(tmp_path)
    assert not math.isnan(R._f("0.5"))
