"""Train a VGG-Face-architecture identity classifier (``caae-tf train-identity``).

Paper 000's identity loss (Eq. 2) needs the pre-trained VGG-Face model (Parkhi et al. 2015). Where those
weights are not available (they cannot be downloaded here), this trains the *same architecture*
(:class:`caae_tf.models.vgg_face.VGGFace`, optionally narrower via ``width_multiplier`` and at a smaller
``image_size``) as an identity classifier on any identity-labelled image set, in the project's one
training loop (:func:`caae_tf.loop.fit`, like every model): the network is wrapped in a
:class:`caae_tf.models.supervised.SupervisedTrainer` compiled with Adam and sparse categorical
cross-entropy on the logits, so the run has the common run-dir layout, lock, NaN guard, signal handling
and exact resume. The resulting run dir is accepted by :func:`caae_tf.models.vgg_face.load_identity_network`
and thus by ``identity_network=RUN_DIR`` of a CAAE run.

Run directory::

    run_dir/config.yaml             resolved IdentityConfig (+ provenance)
    run_dir/checkpoints/            tf.train checkpoints (weights, optimizer, data position), every
                                    checkpoint_every steps and at the end
    run_dir/identity.json           architecture (width, fc_units, num_classes, image_size), data, results
    run_dir/train.csv, heldout.csv  the split (absolute paths, contiguous identity indices)
    run_dir/logs/                   TensorBoard (loss and accuracy every log_every steps)
    run_dir/status.json             completed / interrupted / non-finite, step, last losses

Run dirs of earlier versions kept the weights in ``identity.weights.h5``; the loader still reads them.

Data: a generic CSV ``path,identity,...``, a folder with ``labels.csv`` (anything
:func:`caae_tf.data.table.load_table` reads). Identities are remapped to 0..K-1 (K = ``num_classes``).
Of every identity with at least 5 images, 10 % (at least one, seeded) are held out; the held-out accuracy
is the share of those images classified as their identity (a closed-set check that the features are
identity-specific), computed with the final weights after training; ``train_loss``/``train_accuracy`` are
those of the last training step.

``IdentityConfig.embedding_dim`` is the fc6/fc7 width at ``width_multiplier`` 1 (4096 = VGG-Face); like
every other width it is scaled by ``width_multiplier``.
"""

from __future__ import annotations

import json
import os
import tempfile
import time
from typing import Any

import numpy as np

from caae_tf.config import IdentityConfig
from caae_tf.errors import DataError

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


def train_identity(source: str, run_dir: str, config: IdentityConfig | None = None, *, verbose: int = 1,
                   resume: bool = False, strategy=None) -> dict[str, Any]:
    """Train the identity classifier; returns a dict of results (also written to ``identity.json``).

    The run dir is locked for the whole call; ``resume`` continues its newest checkpoint, else a run dir
    that already holds checkpoints is an error. ``strategy``: a ``tf.distribute`` strategy (default: the
    default strategy); only the chief writes the run dir.
    """
    from caae_tf.loop import is_chief, lock_run_dir

    config = config or IdentityConfig()
    config.validate()
    strategy = strategy or _tf().distribute.get_strategy()  # TensorFlow first (quiet start-up logs), then Keras
    source = os.path.abspath(os.fspath(source))
    run_dir = os.path.abspath(os.fspath(run_dir))
    chief = is_chief(strategy)
    lock = lock_run_dir(run_dir) if chief else None
    try:
        return _train_identity(source, run_dir, config, verbose, resume=resume, strategy=strategy, chief=chief)
    finally:
        if lock is not None:
            lock.release()


def _train_identity(source, run_dir, config, verbose, *, resume, strategy, chief) -> dict[str, Any]:
    import keras

    from caae_tf.data.pipeline import make_dataset
    from caae_tf.loop import check_run_dir, fit
    from caae_tf.models.supervised import SupervisedTrainer
    from caae_tf.models.vgg_face import RUN_META, VGGFace, _scaled
    from caae_tf.precision import set_policy

    check_run_dir(run_dir, resume, writable=chief)
    # a non-chief multi-worker task writes its (identical) split into a directory of its own
    split = prepare_split(source, run_dir if chief else tempfile.mkdtemp(prefix="caae_tf_identity_"), config.seed,
                          progress=verbose > 0)
    if split["num_train"] < 1:
        raise DataError(f"{source}: nothing left to train on after the held-out split")

    policy = set_policy(config.mixed_precision)
    keras.utils.set_random_seed(config.seed)
    if config.deterministic:
        _tf().config.experimental.enable_op_determinism()
    fc_units = _scaled(config.embedding_dim, config.width_multiplier)
    with strategy.scope():
        net = VGGFace(config.width_multiplier, split["num_classes"], config.image_size, fc_units=fc_units,
                      name="vgg_face")
        net.build_weights()
        trainer = SupervisedTrainer(net, lambda b: b["identity"], step_metrics=_accuracy)
        optimizer = keras.optimizers.Adam(config.learning_rate, beta_1=config.beta_1, beta_2=config.beta_2)
        if policy == "mixed_float16":
            optimizer = keras.optimizers.LossScaleOptimizer(optimizer)
        trainer.compile(optimizer=optimizer, loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))

    common = dict(image_size=config.image_size, require=("identity",))
    train_ds = make_dataset(split["train_csv"], batch_size=config.batch_size, training=True, seed=config.seed,
                            augment_flip=config.augment_flip, color_jitter=config.color_jitter,
                            shuffle_buffer=config.shuffle_buffer, repeat=True, drop_remainder=True, **common)
    train_ds = train_ds.map(lambda b: {"image": b["image"], "identity": b["identity"]})

    meta = {"width_multiplier": config.width_multiplier, "fc_units": fc_units, "num_classes": split["num_classes"],
            "image_size": config.image_size, "data": source, "policy": policy,
            "num_train": split["num_train"], "num_heldout": split["num_heldout"], "skipped": split["skipped"]}
    t0 = time.time()
    done = fit(trainer, train_ds, config, run_dir, resume=resume, progress=verbose > 0, strategy=strategy,
               provenance={"data": source, "num_classes": split["num_classes"], "policy": policy,
                           "replicas": strategy.num_replicas_in_sync})
    seconds = time.time() - t0
    heldout_loss = heldout_accuracy = None
    if split["num_heldout"]:
        held_ds = make_dataset(split["heldout_csv"], batch_size=config.batch_size, training=False, repeat=False,
                               drop_remainder=False, **common)
        heldout_loss, heldout_accuracy = _evaluate(net, held_ds)
    results = {
        "steps": done.step,
        "seconds": round(seconds, 2),
        "train_loss": done.last_losses.get("loss", float("nan")),
        "train_accuracy": done.last_losses.get("accuracy", float("nan")),
        "heldout_loss": heldout_loss,
        "heldout_accuracy": heldout_accuracy,
        "chance_accuracy": 1.0 / split["num_classes"],
        "status": done.status,
    }
    meta["results"] = results
    if chief:
        with open(os.path.join(run_dir, RUN_META), "w", encoding="utf-8") as fh:
            json.dump(meta, fh, indent=1)
    return {**meta, "run_dir": run_dir, "checkpoint": done.checkpoint}


def _accuracy(labels, logits):
    """Share of the batch whose arg-max logit is the label (logged per step next to the loss)."""
    tf = _tf()
    hit = tf.equal(tf.argmax(logits, axis=-1, output_type=tf.int32), tf.cast(tf.reshape(labels, [-1]), tf.int32))
    return {"accuracy": tf.reduce_mean(tf.cast(hit, tf.float32))}


def _evaluate(net, dataset) -> tuple[float, float]:
    """(mean cross-entropy, accuracy) of ``net`` over every example of a finite ``dataset``."""
    import keras

    losses, hits = [], []
    for batch in dataset:
        logits = np.asarray(net(batch["image"], training=False), np.float32)
        labels = batch["identity"].numpy()
        losses.append(np.asarray(keras.losses.sparse_categorical_crossentropy(labels, logits, from_logits=True)))
        hits.append(np.argmax(logits, axis=-1) == labels)
    return float(np.mean(np.concatenate(losses))), float(np.mean(np.concatenate(hits)))
