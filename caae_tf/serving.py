"""Inference apart from training: restore a trained model, and the one export-metadata schema.

Everything that uses a trained model without training it — ``edit`` (:mod:`caae_tf.edit`), ``generate``
(:mod:`caae_tf.generate`), the exporters (:mod:`caae_tf.export`), the study and the bench — comes here,
never to the training driver :mod:`caae_tf.train` (which builds on this module instead).

Restoring:

* a training **run dir** (``config.yaml`` + ``checkpoints/``): :func:`load_model` rebuilds the GAN of the
  config (:func:`build_model`) and restores the latest (or a given) checkpoint; :func:`restore_weights` is
  the restore step alone, which the regressor and identity-network loaders use too (one run-dir layout for
  every model, written by the training loop :mod:`caae_tf.loop`);
* an exported **SavedModel** (``saved_model.pb``, :func:`is_saved_model`): :func:`load_saved_model`, with its
  metadata (:func:`read_export_metadata`).

Export metadata: ``caae_tf_export.json`` (:data:`METADATA_FILE`) beside ``saved_model.pb``, written by
:func:`write_export_metadata` for both models. Keys common to both: ``format`` (``caae_tf.export``),
``model`` (``caae`` or ``cgan``), ``image_size``, ``z_dim``, ``signatures`` (name → one-line description),
``source_run_dir`` (absolute, or null for an in-memory model), ``caae_tf_version``, ``tensorflow_version``;
then the model's own keys — CAAE: ``label_repeat``, ``alignment`` (template and margin of the training crops,
used by ``edit --align``); cGAN: ``emotions``, ``noise``, ``weight_sum_tolerance``, ``config``.
:func:`read_export_metadata` also reads the older CAAE files (``source``, ``caae_tf``, ``tensorflow``).

No TensorFlow at import time.
"""

from __future__ import annotations

import dataclasses
import json
import os
from typing import Any

import numpy as np

from caae_tf import __version__
from caae_tf.config import CAAEConfig, CGANConfig, TrainConfig, load_config
from caae_tf.errors import ModelError, TrainingError
from caae_tf.tf_env import tf as _tf

#: run dir layout that restoring reads (the training loop writes it: :mod:`caae_tf.loop`)
CONFIG_FILE = "config.yaml"
CKPT_DIR = "checkpoints"

MODEL_KINDS = {"caae": CAAEConfig, "cgan": CGANConfig}

#: name of the metadata file written next to ``saved_model.pb``
METADATA_FILE = "caae_tf_export.json"
METADATA_FORMAT = "caae_tf.export"
#: older key → current key (CAAE exports before the one schema)
_LEGACY_KEYS = {"source": "source_run_dir", "caae_tf": "caae_tf_version", "tensorflow": "tensorflow_version"}


# --------------------------------------------------------------------------- model construction

def build_model(config: TrainConfig, *, for_training: bool = True):
    """Instantiate the model for ``config`` (its identity network too, for a training CAAE)."""
    if isinstance(config, CAAEConfig):
        from caae_tf.models.caae import CAAE

        identity_net = None
        if for_training and config.identity_weight > 0:
            if not config.identity_network:
                raise TrainingError(
                    "the CAAE identity loss (λ2 = identity_weight = "
                    f"{config.identity_weight:g}) needs an identity network: pass --set identity_network=PATH "
                    "(VGG-Face .mat/.h5 or a `caae-tf train-identity` run dir), or --set identity_weight=0 "
                    "to train without L_iden"
                )
            from caae_tf.models.vgg_face import load_identity_network

            identity_net = load_identity_network(
                config.identity_network, config.identity_input_size, list(config.identity_layers)
            )
        if not for_training:
            config = dataclasses.replace(config, identity_weight=0.0)
        return CAAE(config, identity_net=identity_net)
    if isinstance(config, CGANConfig):
        from caae_tf.models.cgan import CGAN

        if for_training and config.lambda_va_match > 0:  # the frozen regressor R of the VA matching term
            from caae_tf.regressor_train import load_regressor

            if not config.va_network:
                raise TrainingError(
                    f"the cGAN's VA matching term (lambda_va_match = {config.lambda_va_match:g}) needs a frozen "
                    "regressor: train one on the cGAN's training data (caae-tf train-regressor --data DATA "
                    "--run-dir R ...; not the regressor that will judge the model) and pass --set va_network=R, "
                    "or --set lambda_va_match=0")

            reader = load_regressor(config.va_network)
            return CGAN(config, va_net=reader.model, va_input_size=reader.image_size)
        return CGAN(config)
    raise TrainingError(f"no trainable GAN for config model {config.model!r}")


def dummy_batch(config: TrainConfig, n: int = 1) -> dict:
    """An all-zero batch of ``n`` examples with every label the models read (builds their variables)."""
    tf = _tf()
    s = config.image_size
    return {
        "image": tf.zeros([n, s, s, 3], tf.float32),
        "va": tf.zeros([n, 2], tf.float32),
        "emotion": tf.zeros([n], tf.int32),
        "emotion8": tf.zeros([n], tf.int32),
        "identity": tf.zeros([n], tf.int32),
    }


def variable_map(variables) -> dict:
    """``{"v0000": tf.Variable, ...}`` in the (deterministic) order Keras lists them.

    Keras 3 models do not expose every sub-layer's variables to TF's object-graph checkpointing (layers
    kept in Python lists are missed), so checkpoints hold the flat, ordered variable lists of the model
    (weights, BN statistics, SeedGenerator states) and of each optimizer instead. Shapes are checked on
    restore, so a config/architecture mismatch fails loudly.
    """
    out = {}
    for i, v in enumerate(variables):
        out[f"v{i:04d}"] = v.value if hasattr(v, "value") and hasattr(v.value, "assign") else v
    return out


def to_float_dict(values: dict) -> dict[str, float]:
    """``{name: scalar tensor}`` (a step's losses, a function's outputs) → ``{name: float}``."""
    return {k: float(np.asarray(v)) for k, v in values.items()}


# --------------------------------------------------------------------------- restoring

def load_model(run_dir: str, *, checkpoint: str | None = None, precision: str = "float32"):
    """Rebuild the model of a run dir and restore its latest (or a given) checkpoint → ``(model, config)``.

    Optimizer slots and the data iterator are not restored (``expect_partial``). The CAAE is built without
    its identity network (inference does not need it).
    """
    from caae_tf.precision import set_policy

    cfg_path = os.path.join(run_dir, CONFIG_FILE)
    if not os.path.exists(cfg_path):
        raise ModelError(f"{run_dir}: not a caae-tf run dir (no {CONFIG_FILE})")
    config = load_config(cfg_path)
    if config.model not in MODEL_KINDS:
        raise ModelError(f"{run_dir}: run dir holds a {config.model!r} model, not a CAAE/cGAN")
    path = checkpoint or latest_checkpoint(run_dir)
    if not path:
        raise ModelError(f"{run_dir}: no checkpoint in {os.path.join(run_dir, CKPT_DIR)}")
    set_policy(precision)
    model = build_model(config, for_training=False)
    model.build_all(dummy_batch(config, 1))
    restore_weights(model, path, f"the model in {cfg_path}")
    return model, config


def latest_checkpoint(run_dir: str | os.PathLike) -> str | None:
    """The newest checkpoint of ``run_dir/checkpoints`` (``None`` when there is none)."""
    return _tf().train.latest_checkpoint(os.path.join(os.fspath(run_dir), CKPT_DIR))


def restore_weights(model, path: str, description: str = "the model") -> None:
    """Restore the ``model`` entry of the training loop's checkpoint ``path`` (:func:`variable_map` of the
    weights) into the built ``model``; optimizer slots and the data iterator are skipped. Any model the loop
    trains restores this way — a GAN, or the bare network a :class:`caae_tf.models.supervised.SupervisedTrainer`
    wrapped (it has the same weights in the same order). A mismatch is a :class:`ModelError` naming
    ``description``."""
    tf = _tf()
    try:
        tf.train.Checkpoint(model=variable_map(model.weights)).restore(path).expect_partial().assert_existing_objects_matched()
    except (AssertionError, ValueError) as exc:
        raise ModelError(f"{path}: checkpoint does not match {description}: {exc}") from None


def save_weights_as_run(model, source_run: str, out: str, step: int, record: dict, record_file: str) -> str:
    """Write ``model``'s current weights as the only checkpoint (``OUT/checkpoints/ckpt-<step>``, weights only,
    no optimizer) of a new run dir ``out`` that gets ``source_run``'s ``config.yaml`` / ``status.json`` and
    ``OUT/<record_file>`` = ``record`` (JSON: how the weights were made). Every reader of a run dir (sampling,
    evaluation, ``caae-tf export``) then reads ``out`` like a training run. ``out`` must not exist yet."""
    import shutil

    if os.path.exists(out):
        raise ModelError(f"{out} exists; choose a new directory")
    tf = _tf()
    os.makedirs(os.path.join(out, CKPT_DIR))
    for name in (CONFIG_FILE, "status.json"):
        if os.path.isfile(os.path.join(source_run, name)):
            shutil.copy(os.path.join(source_run, name), os.path.join(out, name))
    manager = tf.train.CheckpointManager(tf.train.Checkpoint(model=variable_map(model.weights)),
                                         os.path.join(out, CKPT_DIR), max_to_keep=1)
    saved = manager.save(checkpoint_number=int(step))
    with open(os.path.join(out, record_file), "w", encoding="utf-8") as fh:
        json.dump(record, fh, indent=1, default=float)
    return saved


def is_saved_model(path: str | os.PathLike) -> bool:
    return os.path.isfile(os.path.join(os.fspath(path), "saved_model.pb"))


def load_saved_model(path: str | os.PathLike):
    """``tf.saved_model.load(path)``; a SavedModel TensorFlow cannot read is a :class:`ModelError`."""
    tf = _tf()
    path = os.fspath(path)
    try:
        return tf.saved_model.load(path)
    except Exception as exc:  # TF raises many types for corrupt SavedModels
        raise ModelError(f"{path}: cannot load SavedModel: {str(exc).splitlines()[0]}") from None


# --------------------------------------------------------------------------- export metadata

def write_export_metadata(out_dir: str | os.PathLike, model: str, *, image_size: int, z_dim: int,
                          signatures: dict[str, str], source: str | os.PathLike | None,
                          **fields: Any) -> dict[str, Any]:
    """Write ``out_dir/caae_tf_export.json`` (module docstring: the schema) and return what was written.

    ``fields`` are the model's own keys; ``source`` is the run dir the model came from (None: in memory).
    """
    tf = _tf()
    meta = {
        "format": METADATA_FORMAT,
        "model": model,
        "image_size": int(image_size),
        "z_dim": int(z_dim),
        **fields,
        "signatures": dict(signatures),
        "source_run_dir": os.path.abspath(os.fspath(source)) if source else None,
        "caae_tf_version": __version__,
        "tensorflow_version": tf.__version__,
    }
    with open(os.path.join(os.fspath(out_dir), METADATA_FILE), "w", encoding="utf-8") as fh:
        json.dump(meta, fh, indent=2)
    return meta


def read_export_metadata(path: str | os.PathLike) -> dict[str, Any]:
    """The ``caae_tf_export.json`` of an exported SavedModel dir ({} when absent).

    Older CAAE exports' keys are renamed to the current ones. An unreadable or malformed file raises
    ``OSError`` / ``ValueError``.
    """
    file = os.path.join(os.fspath(path), METADATA_FILE)
    if not os.path.isfile(file):
        return {}
    with open(file, encoding="utf-8") as fh:
        meta = json.load(fh)
    if isinstance(meta, dict):
        for old, new in _LEGACY_KEYS.items():
            if old in meta and new not in meta:
                meta[new] = meta.pop(old)
    return meta
