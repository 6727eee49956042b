"""make_dataset: batch contract, determinism, iterator checkpoints, require filtering, dataset_info."""

from __future__ import annotations

import numpy as np
import pytest

from caae_tf.data import dataset_info, make_dataset, write_records
from caae_tf.data.table import load_table
from caae_tf.errors import DataError
from _data_helpers import smooth_image, write_csv, write_png

EMOS = ["neutral", "sadness", "happiness", "surprise", ""]


@pytest.fixture(scope="module")
def small_set(tmp_path_factory):
    root = tmp_path_factory.mktemp("set")
    rng = np.random.default_rng(0)
    rows = []
    for i in range(30):
        write_png(root / f"{i:02d}.png", smooth_image(rng, 18 + i % 3 * 4, 22))
        v = "" if i % 6 == 5 else round(float(rng.uniform(-1, 1)), 3)
        a = "" if v == "" else round(float(rng.uniform(-1, 1)), 3)
        rows.append((f"{i:02d}.png", i % 5, v, a, EMOS[i % 5]))
    write_csv(root / "labels.csv", ["path", "identity", "valence", "arousal", "emotion"], rows)
    df, skips = load_table(root)
    write_records(df, root / "rec", num_shards=3, command="test")
    return root


def _batches(ds, n):
    it = iter(ds)
    return [{k: v.numpy() for k, v in next(it).items()} for _ in range(n)]


@pytest.mark.parametrize("kind", ["csv", "records"])
def test_contract_and_determinism(small_set, kind):
    src = small_set / "labels.csv" if kind == "csv" else small_set / "rec"
    kw = dict(image_size=16, batch_size=7, color_jitter=0.5)
    a = _batches(make_dataset(src, seed=3, **kw), 6)
    b = _batches(make_dataset(src, seed=3, **kw), 6)
    c = _batches(make_dataset(src, seed=4, **kw), 6)
    x = a[0]
    assert x["image"].shape == (7, 16, 16, 3) and x["image"].dtype == np.float32
    assert x["va"].shape == (7, 2) and x["va"].dtype == np.float32
    for k in ("emotion", "emotion8", "identity"):
        assert x[k].shape == (7,) and x[k].dtype == np.int32
    assert -1.0 <= x["image"].min() and x["image"].max() <= 1.0
    for p, q in zip(a, b):
        for k in p:
            np.testing.assert_array_equal(p[k], q[k])
    assert not all(np.array_equal(p["image"], q["image"]) for p, q in zip(a, c))
    # labels stay attached to their images: emotion8 of 'surprise' never has a cGAN index
    allb = {k: np.concatenate([p[k] for p in a]) for k in x}
    assert np.all(allb["emotion"][allb["emotion8"] == 3] == -1)
    assert set(allb["identity"]) <= set(range(5))


def test_require_and_eval_order(small_set):
    ds = make_dataset(small_set / "rec", image_size=8, batch_size=4, training=False, repeat=False,
                      drop_remainder=False, require=("va", "emotion"))
    got = _batches(ds, 1)[0]
    assert np.all(np.isfinite(got["va"])) and np.all(got["emotion"] >= 0)
    total = sum(int(b["image"].shape[0]) for b in ds)
    info = dataset_info(small_set / "rec", require=("va", "emotion"))
    assert total == info["num_examples"]
    df, _ = load_table(small_set / "labels.csv", require=("va", "emotion"))
    assert total == len(df)
    info_csv = dataset_info(small_set)
    assert info_csv["num_examples"] == 30 and info_csv["num_identities"] == 5
    assert dataset_info(small_set / "rec")["num_identities"] == 5


@pytest.mark.parametrize("kind", ["csv", "records"])
def test_iterator_checkpoint_restore(small_set, tmp_path, kind):
    import tensorflow as tf

    src = small_set / "labels.csv" if kind == "csv" else small_set / "rec"
    ds = make_dataset(src, image_size=8, batch_size=4, seed=1, shuffle_buffer=8)
    it = iter(ds)
    for _ in range(5):  # mid-epoch (30 examples / 4)
        next(it)
    path = tf.train.Checkpoint(iterator=it).save(str(tmp_path / "ck"))
    want = [next(it) for _ in range(6)]
    it2 = iter(make_dataset(src, image_size=8, batch_size=4, seed=1, shuffle_buffer=8))
    tf.train.Checkpoint(iterator=it2).restore(path).assert_consumed()
    for w in want:
        g = next(it2)
        for k in w:
            np.testing.assert_array_equal(w[k].numpy(), g[k].numpy())


def test_class_folder_and_missing_column(tmp_path):
    rng = np.random.default_rng(5)
    for name in ("anger", "fear"):
        for k in range(3):
            write_png(tmp_path / "f" / name / f"{k}.png", smooth_image(rng, 10, 14))
    b = _batches(make_dataset(tmp_path / "f", image_size=8, batch_size=6, require=("emotion",)), 1)[0]
    assert sorted(b["emotion"].tolist()) == [3, 3, 3, 4, 4, 4]
    write_csv(tmp_path / "e.csv", ["path", "emotion"], [("f/anger/0.png", "anger")])
    with pytest.raises(DataError, match="missing required column 'valence'.*e.csv|e.csv.*'valence'"):
        make_dataset(tmp_path / "e.csv", image_size=8, batch_size=1, require=("va",))
    with pytest.raises(DataError, match="no such file"):
        make_dataset(tmp_path / "nope", image_size=8, batch_size=1)


def test_resize_is_center_crop(tmp_path):
    """A wide image: only the centred square survives; uniform colours map to the exact [-1,1] value."""
    img = np.zeros((10, 30, 3), np.uint8)
    img[:, 10:20] = (255, 0, 51)
    write_png(tmp_path / "w.png", img)
    write_csv(tmp_path / "l.csv", ["path"], [("w.png",)])
    b = _batches(make_dataset(tmp_path / "l.csv", image_size=5, batch_size=1, training=False), 1)[0]
    np.testing.assert_allclose(b["image"][0], np.broadcast_to([1.0, -1.0, 51 / 127.5 - 1], (5, 5, 3)), atol=1e-5)
