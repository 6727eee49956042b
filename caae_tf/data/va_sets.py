"""Valence/arousal training and validation sets of the regressors (``caae-tf train-regressor``).

``source`` is anything :func:`caae_tf.data.table.load_table` reads (a generic CSV, a folder with
``labels.csv``, a class-folder tree) or a TFRecord directory (``manifest.json``). Rows need
valence/arousal. Without ``val_data`` the rows are split by identity so that no person is in both splits:

* tables: ``val_fraction`` of the identities (seeded permutation; rows whose identity is unknown count as
  their own identity);
* TFRecord directories: a row goes to validation when its key hashes below ``1000·val_fraction`` of 1000
  buckets. The key is the identity when it is known (``(identity·2654435761 + seed) mod 1000``) and
  otherwise the row itself: the file name of its ``source/path`` (so the oversampled copies of an image in
  a balanced (``--balance``) AffectNet set stay on one side, and the split does not depend on where
  the images were when the records were made), or its encoded bytes when no path was recorded (SipHash
  keyed with the seed, ``tf.strings.to_hash_bucket_strong``). AffectNet has no identities, so this is the
  AffectNet case.

Both splits are counted before training; an empty one is a :class:`DataError` before anything is trained.
Paper 000 validates its Table II networks on 4,500 AffectNet *training* images held out from training:
``caae-tf prepare affectnet`` writes exactly such a subset to ``OUT/eval``; pass it as ``val_data``.

Augmentation: with ``augment_flip`` each training example is mirrored with probability 1/2, drawn from
(seed, position of the example in the repeated stream), so an image is flipped in some epochs and not in
others, and the same seed gives the same flips. Tables are decoded from the in-memory (pipeline-safe)
image bytes; use a TFRecord directory for data sets that do not fit in memory.
"""

from __future__ import annotations

import os

import numpy as np

from caae_tf.config import RegressorConfig
from caae_tf.errors import DataError


def _tf():
    from caae_tf.tf_env import tf

    return tf()


def is_records_source(source: str) -> bool:
    return os.path.isdir(source) and os.path.isfile(os.path.join(source, "manifest.json"))


def load_va_table(source: str, progress: bool = False):
    """``load_table(source, require=("va",))`` plus the label arrays; raises DataError when nothing is left."""
    from caae_tf.data.table import label_arrays, load_table

    df, skips = load_table(source, require=("va",), progress=progress)
    if len(df) == 0:
        raise DataError(f"{source}: no usable image with valence/arousal labels (skipped: {skips or 'none'})")
    return df, label_arrays(df), skips


def split_by_identity(identity: np.ndarray, val_fraction: float, seed: int = 0) -> np.ndarray:
    """Boolean validation mask holding out ``val_fraction`` of the identities (at least one, and at least one
    left for training). Unknown identities (-1) are treated as one identity per row."""
    identity = np.asarray(identity, dtype=np.int64)
    n = identity.size
    if n < 2:
        raise DataError(f"need at least 2 images to split into training and validation, got {n}")
    keys = np.where(identity >= 0, identity, -(np.arange(n) + 1))  # unknown → unique negative key per row
    uniq = np.unique(keys)
    if uniq.size < 2:
        raise DataError("all images have the same identity; cannot split by identity (pass --val-data)")
    rng = np.random.default_rng(seed)
    perm = rng.permutation(uniq)
    k = min(max(1, int(round(val_fraction * uniq.size))), uniq.size - 1)
    return np.isin(keys, perm[:k])


def _decode_resize(image_bytes, image_size: int):
    tf = _tf()
    img = tf.io.decode_image(image_bytes, channels=3, expand_animations=False)
    shape = tf.shape(img)
    h, w = shape[0], shape[1]
    s = tf.minimum(h, w)
    img = tf.image.crop_to_bounding_box(img, (h - s) // 2, (w - s) // 2, s, s)
    img = tf.image.resize(tf.cast(img, tf.float32), (image_size, image_size), antialias=True)
    return tf.clip_by_value(img / 127.5 - 1.0, -1.0, 1.0)


def _flip_by_position(ds, seed: int):
    """Mirror each element of ``ds`` (dicts with "image") with probability 1/2, seeded by (seed, its position
    in ``ds``): apply after ``repeat`` so the draw differs from epoch to epoch but is reproducible."""
    tf = _tf()

    def flip(k, ex):
        ex = dict(ex)
        ex["image"] = tf.image.stateless_random_flip_left_right(
            ex["image"], tf.stack([tf.constant(int(seed), tf.int64), tf.cast(k, tf.int64)]))
        return ex

    return ds.enumerate().map(flip, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)


def table_dataset(image_bytes: list[bytes], arrays: dict[str, np.ndarray], *, image_size: int, batch_size: int,
                  training: bool, seed: int = 0, augment_flip: bool = True):
    """tf.data of dict batches {"image", "va", "emotion8"} from encoded bytes (repeat + shuffle when training;
    flips per example and epoch, see the module docstring)."""
    tf = _tf()
    n = len(image_bytes)
    ds = tf.data.Dataset.from_tensor_slices({
        "image": tf.constant(image_bytes, dtype=tf.string),
        "va": arrays["va"].astype(np.float32),
        "emotion8": arrays["emotion8"].astype(np.int32),
    })
    if training:
        ds = ds.shuffle(min(n, 4096), seed=seed, reshuffle_each_iteration=True).repeat()

    def prep(ex):
        return {"image": _decode_resize(ex["image"], image_size), "va": ex["va"], "emotion8": ex["emotion8"]}

    ds = ds.map(prep, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    if training and augment_flip:
        ds = _flip_by_position(ds, seed)
    return ds.batch(batch_size, drop_remainder=training).prefetch(tf.data.AUTOTUNE)


def _records_is_val(ex, seed: int, val_fraction: float):
    """Graph-side split rule of the module docstring: True where the parsed record goes to validation."""
    tf = _tf()
    thr = int(round(1000 * val_fraction))
    ident = tf.cast(ex["identity"], tf.int64)
    h_identity = tf.math.floormod(ident * 2654435761 + int(seed), 1000)
    name = tf.strings.regex_replace(ex["path"], r"^.*[/\\]", "")
    key = tf.cond(tf.strings.length(name) > 0, lambda: name, lambda: ex["image_bytes"])
    h_row = tf.strings.to_hash_bucket_strong(key, 1000, [abs(int(seed)), 0])
    return tf.where(ident >= 0, h_identity, h_row) < thr


def _records_examples(source: str, cfg: RegressorConfig, training: bool, split: str | None = None):
    """Parsed, still encoded records of ``source`` with finite valence/arousal; ``split`` None (all rows) /
    "train" / "val" keeps one side of the split (decided before any image is decoded)."""
    tf = _tf()
    from caae_tf.data import records as R

    R.read_manifest(source)
    files = R.shard_files(source)
    ds = tf.data.Dataset.from_tensor_slices(files)
    if training and len(files) > 1:
        ds = ds.shuffle(len(files), seed=cfg.seed, reshuffle_each_iteration=False)
    if len(files) > 1:
        ds = ds.interleave(tf.data.TFRecordDataset, cycle_length=min(len(files), 16), block_length=1,
                           num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    else:
        ds = tf.data.TFRecordDataset(files)

    def parse(x):
        p = R.parse_example(x)
        return {k: p[k] for k in ("image_bytes", "va", "emotion8", "identity", "path")}

    ds = ds.map(parse, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    ds = ds.filter(lambda ex: tf.reduce_all(tf.math.is_finite(ex["va"])))
    if split == "val":
        ds = ds.filter(lambda ex: _records_is_val(ex, cfg.seed, cfg.val_fraction))
    elif split == "train":
        ds = ds.filter(lambda ex: tf.logical_not(_records_is_val(ex, cfg.seed, cfg.val_fraction)))
    elif split is not None:
        raise ValueError(f"split must be None, 'train' or 'val', got {split!r}")
    return ds


def records_split_counts(source: str, cfg: RegressorConfig) -> tuple[int, int]:
    """(training rows, validation rows) of the TFRecord split of ``source`` (one pass, no image decoding)."""
    tf = _tf()
    ds = _records_examples(source, cfg, False).map(
        lambda ex: tf.cast(_records_is_val(ex, cfg.seed, cfg.val_fraction), tf.int64),
        num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    n, n_val = ds.reduce((tf.constant(0, tf.int64), tf.constant(0, tf.int64)),
                         lambda acc, v: (acc[0] + 1, acc[1] + v))
    n, n_val = int(n), int(n_val)
    return n - n_val, n_val


def records_count(source: str, cfg: RegressorConfig) -> int:
    """Rows of a TFRecord directory with valence/arousal (from the manifest when it says)."""
    from caae_tf.data.pipeline import dataset_info

    info = dataset_info(source, require=("va",))
    return int(info["num_examples"])


def records_datasets(source: str, cfg: RegressorConfig, training: bool, split: str | None = None):
    """Batched datasets {"image", "va", "emotion8", "path"} from a TFRecord directory; ``split`` None (all
    rows) / "train" / "val" (module docstring). Training: shuffled, repeated, flipped per position."""
    tf = _tf()
    from caae_tf.data.pipeline import preprocess_image

    size = int(cfg.image_size)
    ds = _records_examples(source, cfg, training, split)
    if training:
        ds = ds.shuffle(max(1, int(cfg.shuffle_buffer)), seed=cfg.seed, reshuffle_each_iteration=True).repeat()

    def prep(ex):
        img = preprocess_image(ex["image_bytes"], size) / 127.5 - 1.0
        return {"image": img, "va": tf.reshape(ex["va"], [2]), "emotion8": ex["emotion8"], "path": ex["path"]}

    ds = ds.map(prep, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    if training and cfg.augment_flip:
        ds = _flip_by_position(ds, cfg.seed)
    return ds.batch(cfg.batch_size, drop_remainder=training).prefetch(tf.data.AUTOTUNE)


def check_split(data: str, n_train: int, n_val: int, val_data: str | None, cfg: RegressorConfig) -> None:
    """DataError (raised before training) when the training or the validation split is empty."""
    rule = (f"at val_fraction {cfg.val_fraction:g} and seed {cfg.seed}; pass --val-data or change "
            f"val_fraction/seed")
    if n_train == 0:
        why = "no usable image with valence/arousal" if val_data else f"all {n_val} rows fall in validation {rule}"
        raise DataError(f"{data}: the training split is empty ({why})")
    if n_val == 0:
        if val_data:
            raise DataError(f"{val_data}: the validation split is empty (no usable image with valence/arousal)")
        raise DataError(f"{data}: the validation split is empty (all {n_train} rows fall in training {rule})")


