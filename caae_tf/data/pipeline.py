"""The ``tf.data`` input pipeline used by every trainer.

:func:`make_dataset` turns a *source* into batches of dicts::

    {"image": f32[B,S,S,3] in [-1,1], "va": f32[B,2], "emotion": i32[B], "emotion8": i32[B], "identity": i32[B]}

``va`` is (valence, arousal), NaN where unknown (``require=("va",)`` drops such examples; NaN rather
than 0 so that a trainer that forgets to require labels fails loudly instead of learning from wrong
ones); ``emotion`` indexes :data:`caae_tf.labels.CGAN_EMOTIONS`, ``emotion8``
:data:`caae_tf.labels.AFFECTNET_EMOTIONS`, ``identity`` a class index; -1 = unknown.

Sources
-------
- a **records directory** (``manifest.json`` + ``*.tfrecord``, from ``caae-tf prepare``): the shard list
  is shuffled with the seed and read with a deterministic ``interleave`` (so examples from every shard
  mix), labels are parsed and filtered in the graph, the *encoded* bytes are shuffled, then decoded.
- a **CSV file**, a **folder with labels.csv** or a **folder of class sub-folders**: the table is read and
  every image validated up front in Python (:func:`caae_tf.data.table.load_table`; bad rows are counted,
  not fatal). The validated, pipeline-safe *encoded bytes* are then held in memory as one constant
  string tensor and the pipeline shuffles *indices* into it (``Dataset.range`` → shuffle → gather), so the
  shuffle buffer and iterator checkpoints stay tiny. This is the simple, robust choice for small and
  medium sets (synthetic sets, FACES, a few thousand photos); for large sets (AffectNet) prepare
  records first. (We chose in-memory bytes over in-graph ``read_file`` on paths so that a file that
  disappears or changes after validation cannot crash training.)

Both paths then run, with ``num_parallel_calls=AUTOTUNE`` and ``deterministic=True``:
decode (``tf.io.decode_image(channels=3)``: grey/RGBA → RGB) → centre crop to square → resize to
``image_size`` (bilinear with antialiasing) → augmentation (training only) → scale to [-1, 1] → batch →
prefetch.

Determinism and checkpoints
---------------------------
Shuffles use ``seed``; augmentation uses *stateless* random ops seeded by (seed, element counter) from
``Dataset.enumerate`` after ``repeat``, so results do not depend on thread scheduling. No
``py_function``/``numpy_function`` is used, so ``tf.train.Checkpoint(iterator=iter(ds))`` saves and
restores the exact position (including the shuffle buffer) mid-epoch.
"""

from __future__ import annotations

import os
from typing import Iterable

import numpy as np

from caae_tf import labels as L
from caae_tf.data import records as R
from caae_tf.data.table import check_require, label_arrays, load_table
from caae_tf.errors import DataError

__all__ = ["make_dataset", "make_training_dataset", "dataset_info", "load_table", "source_kind", "preprocess_image"]


def _tf():
    from caae_tf.tf_env import tf

    return tf()


def source_kind(source) -> str:
    """``records`` / ``csv`` / ``folder``; :class:`DataError` when the path does not exist."""
    source = os.fspath(source)
    if not os.path.exists(source):
        raise DataError(f"{source}: no such file or folder")
    if R.is_records_dir(source):
        return "records"
    if os.path.isfile(source):
        if source.lower().endswith(".tfrecord"):
            raise DataError(f"{source}: pass the records directory (with manifest.json), not one shard")
        return "csv"
    if glob_shards(source):
        raise DataError(f"{source}: has .tfrecord shards but no manifest.json (re-run `caae-tf prepare`)")
    return "folder"


def glob_shards(folder: str) -> list[str]:
    import glob

    return sorted(glob.glob(os.path.join(folder, R.SHARD_PATTERN)))


# ------------------------------------------------------------------------------ image ops (graph)

def preprocess_image(encoded, image_size: int):
    """Encoded bytes → uint8-valued float32 [S, S, 3] in [0, 255]: decode, centre square crop, resize."""
    tf = _tf()
    img = tf.io.decode_image(encoded, channels=3, dtype=tf.uint8, expand_animations=False)
    img.set_shape([None, None, 3])
    shape = tf.shape(img)
    h, w = shape[0], shape[1]
    s = tf.minimum(h, w)
    img = tf.image.crop_to_bounding_box(img, (h - s) // 2, (w - s) // 2, s, s)
    img = tf.cast(img, tf.float32)
    img = tf.cond(
        tf.equal(s, image_size),
        lambda: img,
        lambda: tf.image.resize(img, [image_size, image_size], method="bilinear", antialias=True),
    )
    img.set_shape([image_size, image_size, 3])
    return img


def _augment(img, seed_pair, augment_flip: bool, color_jitter: float):
    """Stateless flip / colour jitter on a [0,1] float image."""
    tf = _tf()
    if augment_flip:
        img = tf.image.stateless_random_flip_left_right(img, seed=seed_pair)
    if color_jitter > 0:
        j = float(color_jitter)
        s1 = seed_pair + tf.constant([0, 1], tf.int64)
        s2 = seed_pair + tf.constant([0, 2], tf.int64)
        s3 = seed_pair + tf.constant([0, 3], tf.int64)
        img = tf.image.stateless_random_brightness(img, 0.2 * j, seed=s1)
        img = tf.image.stateless_random_contrast(img, max(0.0, 1 - 0.5 * j), 1 + 0.5 * j, seed=s2)
        img = tf.image.stateless_random_saturation(img, max(0.0, 1 - 0.5 * j), 1 + 0.5 * j, seed=s3)
        img = tf.clip_by_value(img, 0.0, 1.0)
    return img


# ------------------------------------------------------------------------------ make_dataset

def _records_examples(source: str, training: bool, seed: int, require: tuple[str, ...]):
    """Dataset of parsed (not decoded) examples from a records dir, filtered by ``require``."""
    tf = _tf()
    R.read_manifest(source)
    files = R.shard_files(source)
    ds = tf.data.Dataset.from_tensor_slices(files)
    if training and len(files) > 1:
        ds = ds.shuffle(len(files), seed=seed, reshuffle_each_iteration=False)
    if len(files) > 1:
        ds = ds.interleave(
            lambda f: tf.data.TFRecordDataset(f),
            cycle_length=min(len(files), 16),
            block_length=1,
            num_parallel_calls=tf.data.AUTOTUNE,
            deterministic=True,
        )
    else:
        ds = tf.data.TFRecordDataset(files)

    def parse(x):
        p = R.parse_example(x)
        return {"image_bytes": p["image_bytes"], "va": p["va"], "emotion": p["emotion"],
                "emotion8": p["emotion8"], "identity": p["identity"]}

    ds = ds.map(parse, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    if require:
        def keep(e):
            ok = tf.constant(True)
            for r in require:
                if r == "va":
                    ok = tf.logical_and(ok, tf.reduce_all(tf.math.is_finite(e["va"])))
                else:
                    ok = tf.logical_and(ok, e[r] >= 0)
            return ok

        ds = ds.filter(keep)
    return ds


def _table_examples(source: str, require: tuple[str, ...]):
    """(Dataset of indices, lookup fn index → example dict, count) for CSV/folder sources."""
    tf = _tf()
    df, _ = load_table(source, require=require)
    if len(df) == 0:
        raise DataError(f"{source}: no usable images (every row was skipped; see `caae-tf prepare csv` "
                        f"for the reasons)")
    labels = label_arrays(df)
    images = tf.constant(np.asarray(df["image_bytes"].tolist(), dtype=object))
    tabs = {k: tf.constant(v) for k, v in labels.items()}

    def lookup(i):
        out = {"image_bytes": tf.gather(images, i)}
        out.update({k: tf.gather(v, i) for k, v in tabs.items()})
        return out

    return lookup, len(df)


def make_dataset(
    source,
    *,
    image_size: int,
    batch_size: int,
    training: bool = True,
    seed: int = 0,
    augment_flip: bool = True,
    color_jitter: float = 0.0,
    shuffle_buffer: int = 2048,
    repeat: bool = True,
    drop_remainder: bool = True,
    require: Iterable[str] = (),
):
    """Batches of ``{"image", "va", "emotion", "emotion8", "identity"}`` from ``source`` (module docstring).

    ``training`` enables shuffling and augmentation (``augment_flip``, ``color_jitter`` ∈ [0, 1]);
    evaluation (``training=False``) keeps file order and applies no augmentation. ``require`` ⊂
    {"va", "emotion", "emotion8", "identity"} drops examples lacking those labels; a CSV without the
    needed column is a :class:`DataError` naming column and file.
    """
    tf = _tf()
    source = os.fspath(source)
    require = check_require(require)
    image_size, batch_size = int(image_size), int(batch_size)
    if image_size < 4 or batch_size < 1:
        raise DataError(f"image_size must be >= 4 and batch_size >= 1, got {image_size}, {batch_size}")
    kind = source_kind(source)
    seed = int(seed)

    if kind == "records":
        ds = _records_examples(source, training, seed, require)
        if training:
            ds = ds.shuffle(max(1, int(shuffle_buffer)), seed=seed, reshuffle_each_iteration=True)
        if repeat:
            ds = ds.repeat()
    else:
        lookup, n = _table_examples(source, require)
        ds = tf.data.Dataset.range(n)
        if training:
            # indices are tiny, so shuffle the whole epoch (a full permutation) whatever shuffle_buffer is
            ds = ds.shuffle(n, seed=seed, reshuffle_each_iteration=True)
        if repeat:
            ds = ds.repeat()
        ds = ds.map(lookup, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)

    ds = ds.enumerate()
    aug = training and (augment_flip or color_jitter > 0)

    def prepare(k, e):
        img = preprocess_image(e["image_bytes"], image_size) / 255.0
        if aug:
            img = _augment(img, tf.stack([tf.constant(seed, tf.int64), k]), augment_flip, color_jitter)
        return {
            "image": img * 2.0 - 1.0,
            "va": tf.reshape(tf.cast(e["va"], tf.float32), [2]),
            "emotion": tf.cast(e["emotion"], tf.int32),
            "emotion8": tf.cast(e["emotion8"], tf.int32),
            "identity": tf.cast(e["identity"], tf.int32),
        }

    ds = ds.map(prepare, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    ds = ds.batch(batch_size, drop_remainder=drop_remainder, num_parallel_calls=tf.data.AUTOTUNE,
                  deterministic=True)
    ds = ds.prefetch(tf.data.AUTOTUNE)
    opts = tf.data.Options()
    opts.deterministic = True
    opts.experimental_optimization.map_parallelization = True
    return ds.with_options(opts)


# ------------------------------------------------------------------------------ dataset_info

def dataset_info(source, require: Iterable[str] = ()) -> dict:
    """Summary for logging: ``num_examples`` (after ``require``), ``kind``, ``label_counts`` (examples with
    each label), ``num_identities`` (classifier size = max identity + 1), ``identities`` (distinct
    identities present), ``emotion_histogram``, ``skipped`` (by reason)."""
    source = os.fspath(source)
    require = check_require(require)
    kind = source_kind(source)
    if kind == "records":
        m = R.read_manifest(source)
        avail = m.get("availability", {})
        n = sum(c for key, c in avail.items() if all(r in key.split("+") for r in require)) if require \
            else int(m.get("num_examples", 0))
        ids = m.get("identities", {})
        return {
            "kind": kind, "source": source, "num_examples": int(n),
            "num_examples_total": int(m.get("num_examples", 0)),
            "label_counts": m.get("label_counts", {}),
            "num_identities": int(ids.get("num_classes", 0)),
            "identities": int(ids.get("count", 0)),
            "emotion_histogram": m.get("emotion_histogram", {}),
            "valence": m.get("valence"), "arousal": m.get("arousal"),
            "skipped": m.get("skipped", {}),
        }
    df, skips = load_table(source, require=require)
    lab = label_arrays(df)
    ident = lab["identity"][lab["identity"] >= 0]
    hist: dict[str, int] = {}
    for e in df["emotion"]:
        if e:
            hist[e] = hist.get(e, 0) + 1
    return {
        "kind": kind, "source": source, "num_examples": int(len(df)),
        "num_examples_total": int(len(df)),
        "label_counts": {
            "va": int(np.all(np.isfinite(lab["va"]), axis=1).sum()),
            "emotion": int((lab["emotion"] >= 0).sum()),
            "emotion8": int((lab["emotion8"] >= 0).sum()),
            "identity": int(ident.size),
        },
        "num_identities": int(ident.max() + 1) if ident.size else 0,
        "identities": int(np.unique(ident).size),
        "emotion_histogram": dict(sorted(hist.items())),
        "skipped": skips,
        "cgan_emotions": list(L.CGAN_EMOTIONS),
    }


# ---------------------------------------------------------------------------------- training input

def data_requirements(config) -> tuple[str, ...]:
    """The labels a model's training batches must carry: ``va`` for the CAAE, ``emotion`` for the cGAN."""
    from caae_tf.config import CAAEConfig

    return ("va",) if isinstance(config, CAAEConfig) else ("emotion",)


def make_training_dataset(source: str, config, training: bool = True, repeat: bool = True):
    """:func:`make_dataset` with a GAN config's image size, batch, seed, augmentation and required labels
    (``repeat=False``: one pass, last partial batch kept)."""
    return make_dataset(
        source,
        image_size=config.image_size,
        batch_size=config.batch_size,
        training=training,
        seed=config.seed,
        augment_flip=config.augment_flip and training,
        color_jitter=config.color_jitter if training else 0.0,
        shuffle_buffer=config.shuffle_buffer,
        repeat=repeat,
        drop_remainder=repeat,
        require=data_requirements(config),
    )
