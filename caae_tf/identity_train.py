"""Train a VGG-Face-architecture identity classifier (``caae-tf train-identity``).

Paper 000's identity loss (Eq. 2) needs the pre-trained VGG-Face model (Parkhi et al. 2015). Where those
weights are not available (they cannot be downloaded here), this trains the *same architecture*
(:class:`caae_tf.models.vgg_face.VGGFace`, optionally narrower via ``width_multiplier`` and at a smaller
``image_size``) as an identity classifier on any identity-labelled image set, with Keras ``compile``/``fit``
(progress bar, TensorBoard logs in ``run_dir/logs``, weights saved after every "epoch" of
``checkpoint_every`` steps). The resulting run dir is accepted by
:func:`caae_tf.models.vgg_face.load_identity_network` and thus by ``identity_network=RUN_DIR`` of a CAAE run.

Run directory::

    run_dir/config.yaml             resolved IdentityConfig (+ provenance)
    run_dir/identity.weights.h5     VGGFace weights (Keras 3 save_weights)
    run_dir/identity.json           architecture (width, fc_units, num_classes, image_size), data, results
    run_dir/train.csv, heldout.csv  the split (absolute paths, contiguous identity indices)
    run_dir/logs/                   TensorBoard

Data: a generic CSV ``path,identity,...``, a folder with ``labels.csv`` (anything
:func:`caae_tf.data.table.load_table` reads). Identities are remapped to 0..K-1 (K = ``num_classes``).
Of every identity with at least 5 images, 10 % (at least one, seeded) are held out; the held-out accuracy
is the share of those images classified as their identity (a closed-set check that the features are
identity-specific).

``IdentityConfig.embedding_dim`` is the fc6/fc7 width at ``width_multiplier`` 1 (4096 = VGG-Face); like
every other width it is scaled by ``width_multiplier``.
"""

from __future__ import annotations

import json
import math
import os
import time
from typing import Any

import numpy as np

from caae_tf.config import IdentityConfig, save_config
from caae_tf.errors import DataError, TrainingError

HELDOUT_FRACTION = 0.1
MIN_IMAGES_FOR_HELDOUT = 5


def _tf():
    from caae_tf.tf_env import tf

    return tf()


def split_heldout(identity: np.ndarray, fraction: float = HELDOUT_FRACTION, seed: int = 0) -> np.ndarray:
    """Boolean mask of held-out rows: ``round(fraction·n)`` (≥ 1) images of each identity with n ≥ 5 images."""
    identity = np.asarray(identity)
    rng = np.random.default_rng(seed)
    mask = np.zeros(identity.size, dtype=bool)
    for ident in np.unique(identity):
        rows = np.flatnonzero(identity == ident)
        if rows.size < MIN_IMAGES_FOR_HELDOUT:
            continue
        k = max(1, int(round(fraction * rows.size)))
        mask[rng.permutation(rows)[:k]] = True
    return mask


def prepare_split(source: str, run_dir: str, seed: int = 0, progress: bool = False) -> dict[str, Any]:
    """Read ``source``, remap identities to 0..K-1, split, write ``train.csv``/``heldout.csv`` into ``run_dir``."""
    from caae_tf.data.pipeline import source_kind
    from caae_tf.data.table import load_table

    if source_kind(source) == "records":
        raise DataError(f"{source}: train-identity reads a CSV or a folder with labels.csv (it splits images per "
                        "identity); pass the CSV the records were prepared from")
    df, skips = load_table(source, require=("identity",), progress=progress)
    if len(df) == 0:
        raise DataError(f"{source}: no usable image with an identity label (skipped: {skips or 'none'})")
    original = df["identity"].to_numpy()
    uniq, remapped = np.unique(original, return_inverse=True)
    if uniq.size < 2:
        raise DataError(f"{source}: needs at least 2 identities to train an identity classifier, found {uniq.size}")
    held = split_heldout(remapped, HELDOUT_FRACTION, seed)
    import pandas as pd

    table = pd.DataFrame({"path": df["path"].to_numpy(), "identity": remapped.astype(np.int64)})
    os.makedirs(run_dir, exist_ok=True)
    train_csv = os.path.join(run_dir, "train.csv")
    held_csv = os.path.join(run_dir, "heldout.csv")
    table[~held].to_csv(train_csv, index=False)
    table[held].to_csv(held_csv, index=False)
    return {"train_csv": train_csv, "heldout_csv": held_csv, "num_classes": int(uniq.size),
            "num_train": int((~held).sum()), "num_heldout": int(held.sum()), "skipped": skips}


def _xy(ds):
    return ds.map(lambda b: (b["image"], b["identity"]))


def train_identity(source: str, run_dir: str, config: IdentityConfig | None = None, *, verbose: int = 1,
                   extra_callbacks: list | None = None) -> dict[str, Any]:
    """Train the identity classifier; returns a dict of results (also written to ``identity.json``)."""
    config = config or IdentityConfig()
    config.validate()
    _tf()  # TensorFlow first, with its start-up logs quietened, then Keras
    import keras

    from caae_tf.data.pipeline import make_dataset
    from caae_tf.models.vgg_face import RUN_META, RUN_WEIGHTS, VGGFace, _scaled
    from caae_tf.precision import set_policy

    source = os.path.abspath(os.fspath(source))
    run_dir = os.path.abspath(os.fspath(run_dir))
    try:
        os.makedirs(os.path.join(run_dir, "logs"), exist_ok=True)
    except OSError as exc:
        raise TrainingError(f"{run_dir}: cannot create run dir ({exc.strerror})") from None
    split = prepare_split(source, run_dir, config.seed, progress=verbose > 0)
    if split["num_train"] < 1:
        raise DataError(f"{source}: nothing left to train on after the held-out split")

    policy = set_policy(config.mixed_precision)
    keras.utils.set_random_seed(config.seed)
    fc_units = _scaled(config.embedding_dim, config.width_multiplier)
    model = VGGFace(config.width_multiplier, split["num_classes"], config.image_size, fc_units=fc_units,
                    name="vgg_face")
    model.build_weights()
    optimizer = keras.optimizers.Adam(config.learning_rate, beta_1=config.beta_1, beta_2=config.beta_2)
    if policy == "mixed_float16":
        optimizer = keras.optimizers.LossScaleOptimizer(optimizer)
    model.compile(optimizer=optimizer,
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                  metrics=[keras.metrics.SparseCategoricalAccuracy(name="accuracy")],
                  jit_compile=bool(config.jit_compile))

    common = dict(image_size=config.image_size, require=("identity",))
    train_ds = _xy(make_dataset(split["train_csv"], batch_size=config.batch_size, training=True, seed=config.seed,
                                augment_flip=config.augment_flip, color_jitter=config.color_jitter,
                                shuffle_buffer=config.shuffle_buffer, repeat=True, drop_remainder=True, **common))
    held_ds = None
    if split["num_heldout"]:
        held_ds = _xy(make_dataset(split["heldout_csv"], batch_size=config.batch_size, training=False,
                                   repeat=False, drop_remainder=False, **common))

    steps_per_epoch = max(1, min(config.steps, config.checkpoint_every))
    epochs = math.ceil(config.steps / steps_per_epoch)
    weights_path = os.path.join(run_dir, RUN_WEIGHTS)
    callbacks = [
        keras.callbacks.TensorBoard(log_dir=os.path.join(run_dir, "logs"), update_freq=config.log_every),
        keras.callbacks.ModelCheckpoint(weights_path, save_weights_only=True),
        keras.callbacks.TerminateOnNaN(),
    ] + list(extra_callbacks or [])

    meta = {"width_multiplier": config.width_multiplier, "fc_units": fc_units, "num_classes": split["num_classes"],
            "image_size": config.image_size, "data": source, "policy": policy,
            "num_train": split["num_train"], "num_heldout": split["num_heldout"], "skipped": split["skipped"]}
    save_config(config, os.path.join(run_dir, "config.yaml"),
                extra={"data": source, "num_classes": split["num_classes"], "policy": policy})
    t0 = time.time()
    history = model.fit(train_ds, epochs=epochs, steps_per_epoch=steps_per_epoch, validation_data=held_ds,
                        callbacks=callbacks, verbose=verbose)
    seconds = time.time() - t0
    model.save_weights(weights_path)
    hist = {k: [float(v) for v in vals] for k, vals in history.history.items()}
    results = {
        "steps": epochs * steps_per_epoch,
        "seconds": round(seconds, 2),
        "train_loss": hist.get("loss", [float("nan")])[-1],
        "train_accuracy": hist.get("accuracy", [float("nan")])[-1],
        "heldout_loss": hist["val_loss"][-1] if "val_loss" in hist else None,
        "heldout_accuracy": hist["val_accuracy"][-1] if "val_accuracy" in hist else None,
        "chance_accuracy": 1.0 / split["num_classes"],
    }
    if not np.isfinite(results["train_loss"]):
        raise TrainingError(f"{run_dir}: identity training diverged (loss {results['train_loss']}); "
                            "lower learning_rate")
    meta["results"] = results
    with open(os.path.join(run_dir, RUN_META), "w", encoding="utf-8") as fh:
        json.dump(meta, fh, indent=1)
    return {**meta, "run_dir": run_dir, "weights": weights_path}
