"""Training, evaluation and loading of the valence/arousal regressors (paper 000 Table II/III, paper 001 §4.3).

Regressors train in the project's one training loop (:func:`caae_tf.loop.fit`, like the GANs): the network
is wrapped in a :class:`caae_tf.models.supervised.SupervisedTrainer` compiled with
:func:`caae_tf.models.regressors.compile_regressor`'s optimiser and losses. So a regressor run has the
run-dir layout, lock, NaN guard, signal handling and exact resume (data position included) of every run.

Run directory::

    run_dir/config.yaml              resolved RegressorConfig (+ provenance)
    run_dir/checkpoints/             tf.train checkpoints (weights, optimizer, data position), every
                                     checkpoint_every steps and at the end
    run_dir/logs/                    TensorBoard (loss every log_every steps)
    run_dir/status.json              completed / interrupted / non-finite, step, last losses
    run_dir/table3.csv / table3.json validation RMSE/SAGR/CCC in the layout of paper 000 Table III
    run_dir/val_predictions.csv      valence, arousal, pred_valence, pred_arousal per validation image

:func:`load_regressor` restores the newest checkpoint; it also reads the run dirs of earlier versions,
whose weights were ``run_dir/regressor.weights.h5`` (Keras ``save_weights``).

With ``epochs: 0`` training runs ``steps`` steps. With ``epochs: E > 0`` (paper 001: 100) it runs E
passes of ``ceil(n_train / batch_size)`` steps, ``n_train`` being counted before training. Validation
(Table III) runs once, after training. ``mixed_precision: auto``
trains in float32 (the regressors are small next to the GANs); ``mixed_bfloat16`` / ``mixed_float16`` set
the Keras global policy (the output heads stay float32). The optimiser uses the recorded ``learning_rate``,
``momentum`` (Table II, SGD) or ``beta_1``/``beta_2`` (MobileNetV2, Adam).

Data: the training and validation sets, and their split by identity, are :mod:`caae_tf.data.va_sets`'s.
"""

from __future__ import annotations

import json
import math
import os
import time
from typing import Any

import numpy as np

from caae_tf.config import RegressorConfig, load_config

# the data sets live in caae_tf.data.va_sets; these names stay importable from here
from caae_tf.data.va_sets import check_split, is_records_source, load_va_table, records_count, records_datasets
from caae_tf.data.va_sets import records_split_counts as records_split_counts
from caae_tf.data.va_sets import split_by_identity, table_dataset
from caae_tf.errors import DataError, ModelError

CONFIG_FILE = "config.yaml"
#: weights of a run dir written before the one training loop (read by :func:`load_regressor`, no longer written)
LEGACY_WEIGHTS_FILE = "regressor.weights.h5"
_records_datasets = records_datasets  # its name before the data sets moved to caae_tf.data.va_sets


def _tf():
    from caae_tf.tf_env import tf

    return tf()


def _targets(arch: str):
    """The labels of a dict batch in the structure of the regressor's outputs."""
    if arch == "table2":
        return lambda ex: {"valence": ex["va"][:, 0:1], "arousal": ex["va"][:, 1:2]}
    return lambda ex: {"va": ex["va"], "emotion8": ex["emotion8"]}


# ----------------------------------------------------------------------------------------------- prediction

class RegressorPredictor:
    """A trained regressor: ``predict_va(images) -> [N, 2]`` (and ``predict_emotion8`` for MobileNetV2).

    ``images`` are float32 [N, H, W, 3] in [-1, 1] of any size; they are resized (area/antialiased bilinear)
    to the regressor's ``image_size`` when needed.
    """

    def __init__(self, model, arch: str, image_size: int, batch_size: int = 64, run_dir: str | None = None):
        self.model = model
        self.arch = arch
        self.image_size = int(image_size)
        self.batch_size = int(batch_size)
        self.run_dir = run_dir
        self._fn = None

    def _forward(self, images: np.ndarray) -> dict[str, np.ndarray]:
        tf = _tf()
        if self._fn is None:
            @tf.function(reduce_retracing=True)
            def fn(x):
                if x.shape[1] != self.image_size or x.shape[2] != self.image_size:
                    x = tf.image.resize(x, (self.image_size, self.image_size), antialias=True)
                return self.model(x, training=False)

            self._fn = fn
        x = np.asarray(images, dtype=np.float32)
        if x.ndim != 4 or x.shape[-1] != 3:
            raise ValueError(f"images must be [N, H, W, 3], got {list(x.shape)}")
        outs: dict[str, list] = {}
        for i in range(0, len(x), self.batch_size):
            res = self._fn(tf.constant(x[i:i + self.batch_size]))
            for k, v in res.items():
                outs.setdefault(k, []).append(np.asarray(v, dtype=np.float32))
        if not outs:
            return {}
        return {k: np.concatenate(v, axis=0) for k, v in outs.items()}

    def predict_va(self, images: np.ndarray) -> np.ndarray:
        if len(images) == 0:
            return np.zeros((0, 2), np.float32)
        out = self._forward(images)
        if self.arch == "table2":
            return np.concatenate([out["valence"], out["arousal"]], axis=1)
        return out["va"]

    def predict_emotion8(self, images: np.ndarray) -> np.ndarray:
        """Probabilities over :data:`caae_tf.labels.AFFECTNET_EMOTIONS` ([N, 8]); MobileNetV2 only."""
        if self.arch != "mobilenetv2":
            raise ModelError(f"{self.run_dir or 'regressor'}: the {self.arch} regressor has no emotion head")
        if len(images) == 0:
            return np.zeros((0, 8), np.float32)
        return self._forward(images)["emotion8"]

    @property
    def has_emotion_head(self) -> bool:
        return self.arch == "mobilenetv2"


class CombinedRegressor:
    """Valence from one regressor and arousal from another (paper 000 uses two separate networks)."""

    def __init__(self, valence_regressor, arousal_regressor):
        self.valence_regressor = valence_regressor
        self.arousal_regressor = arousal_regressor

    def predict_va(self, images: np.ndarray) -> np.ndarray:
        v = self.valence_regressor.predict_va(images)[:, 0]
        a = self.arousal_regressor.predict_va(images)[:, 1]
        return np.stack([v, a], axis=1).astype(np.float32)


def build_from_config(cfg: RegressorConfig):
    from caae_tf.models.regressors import build_regressor

    return build_regressor(cfg.arch, cfg.image_size, cfg.width_multiplier, bn_momentum=cfg.bn_momentum)


def load_regressor(run_dir: str, batch_size: int = 64) -> RegressorPredictor:
    """Rebuild the regressor of ``run_dir`` from its ``config.yaml`` and restore its newest checkpoint
    (``checkpoints/``), or the ``regressor.weights.h5`` of a run dir from before the one training loop."""
    from caae_tf.serving import CKPT_DIR, latest_checkpoint, restore_weights

    run_dir = os.fspath(run_dir)
    cfg_path = os.path.join(run_dir, CONFIG_FILE)
    legacy = os.path.join(run_dir, LEGACY_WEIGHTS_FILE)
    if not os.path.isdir(run_dir):
        raise ModelError(f"{run_dir}: regressor run directory not found")
    if not os.path.isfile(cfg_path):
        raise ModelError(f"{run_dir}: no {CONFIG_FILE}; not a train-regressor run directory")
    cfg = load_config(cfg_path, RegressorConfig)
    _tf()
    ckpt = latest_checkpoint(run_dir)
    if not ckpt and not os.path.isfile(legacy):
        raise ModelError(f"{run_dir}: no checkpoint in {os.path.join(run_dir, CKPT_DIR)} (nor a {LEGACY_WEIGHTS_FILE} "
                         "of an older run); was training finished?")
    model = build_from_config(cfg)
    if ckpt:
        restore_weights(model, ckpt, f"the {cfg.arch} regressor of {cfg_path}")
    else:
        try:
            model.load_weights(legacy)
        except (ValueError, OSError) as exc:
            raise ModelError(f"{legacy}: cannot load weights ({str(exc).splitlines()[0]})") from None
    return RegressorPredictor(model, cfg.arch, cfg.image_size, batch_size, run_dir)


def predict_dataset(predictor: RegressorPredictor, dataset) -> dict[str, np.ndarray]:
    """Run over a finite dict dataset: returns true ``va``, ``pred`` [N, 2] (+ ``emotion8``, ``pred_emotion8``)."""
    true, pred, emo, pemo, paths = [], [], [], [], []
    for ex in dataset:
        x = ex["image"].numpy()
        out = predictor._forward(x)
        true.append(ex["va"].numpy())
        if "path" in ex:
            paths.extend(p.decode("utf-8", "replace") for p in ex["path"].numpy())
        if predictor.arch == "table2":
            pred.append(np.concatenate([out["valence"], out["arousal"]], axis=1))
        else:
            pred.append(out["va"])
            pemo.append(out["emotion8"])
            emo.append(ex["emotion8"].numpy())
    res = {"va": np.concatenate(true) if true else np.zeros((0, 2), np.float32),
           "pred": np.concatenate(pred) if pred else np.zeros((0, 2), np.float32)}
    if pemo:
        res["emotion8"] = np.concatenate(emo)
        res["pred_emotion8"] = np.concatenate(pemo)
    if paths and len(paths) == len(res["va"]):
        res["paths"] = paths
    return res


# ----------------------------------------------------------------------------------------------- training

def _write_table3(run_dir: str, result: dict[str, Any]) -> None:
    from caae_tf.evaluation.metrics import metrics_table

    table = metrics_table({"valence": result["metrics"]["valence"], "arousal": result["metrics"]["arousal"]})
    table.to_csv(os.path.join(run_dir, "table3.csv"), float_format="%.4f")
    with open(os.path.join(run_dir, "table3.json"), "w", encoding="utf-8") as fh:
        json.dump(result, fh, indent=2)


def evaluate_validation(predictor: RegressorPredictor, val_ds, run_dir: str | None = None,
                        paths: list[str] | None = None) -> dict[str, Any]:
    """Table III: RMSE/SAGR/CCC of the validation split (+ 8-class accuracy for MobileNetV2)."""
    from caae_tf.evaluation.metrics import va_metrics

    res = predict_dataset(predictor, val_ds)
    if len(res["va"]) == 0:
        raise DataError("the validation split is empty")
    out: dict[str, Any] = {"arch": predictor.arch, "num_images": int(len(res["va"])),
                           "metrics": va_metrics(res["va"], res["pred"])}
    if "pred_emotion8" in res:
        known = res["emotion8"] >= 0
        out["emotion8_known"] = int(known.sum())
        out["emotion8_accuracy"] = (float(np.mean(res["pred_emotion8"][known].argmax(-1) == res["emotion8"][known]))
                                    if known.any() else None)
    if run_dir:
        import pandas as pd

        df = pd.DataFrame({
            "image": (paths if paths is not None and len(paths) == len(res["va"])
                      else res.get("paths", np.arange(len(res["va"])))),
            "valence": res["va"][:, 0], "arousal": res["va"][:, 1],
            "pred_valence": res["pred"][:, 0], "pred_arousal": res["pred"][:, 1],
        })
        df.to_csv(os.path.join(run_dir, "val_predictions.csv"), index=False, float_format="%.5f")
        _write_table3(run_dir, out)
    return out


def train_regressor(data: str, run_dir: str, cfg: RegressorConfig, val_data: str | None = None,
                    verbose: int = 1, *, resume: bool = False, strategy=None) -> dict[str, Any]:
    """Train ``cfg.arch`` on ``data`` in the one training loop (:func:`caae_tf.loop.fit`), then evaluate the
    validation split; ``run_dir`` gets the layout of the module docstring.

    Both splits are counted first; an empty one is a :class:`DataError` before anything is trained. The run
    dir is locked for the whole call (a second trainer on it fails at once); ``resume`` continues its newest
    checkpoint (weights, optimizer and data position) to the step count, else a run dir that already holds
    checkpoints is an error. ``strategy``: a ``tf.distribute`` strategy (default: the default strategy); the
    model and optimizer are built under its scope, and only the chief writes the run dir.
    Returns the Table III result dict (also written to ``run_dir/table3.{csv,json}``).
    """
    from caae_tf.loop import is_chief, lock_run_dir

    strategy = strategy or _tf().distribute.get_strategy()
    chief = is_chief(strategy)
    lock = lock_run_dir(run_dir) if chief else None
    try:
        return _train_regressor(data, run_dir, cfg, val_data, verbose, resume=resume, strategy=strategy,
                                chief=chief)
    finally:
        if lock is not None:
            lock.release()


def _train_regressor(data, run_dir, cfg, val_data, verbose, *, resume, strategy, chief) -> dict[str, Any]:
    import keras

    from caae_tf.loop import check_run_dir, fit
    from caae_tf.models.regressors import compile_regressor

    check_run_dir(run_dir, resume, writable=chief)
    keras.utils.set_random_seed(cfg.seed)
    if cfg.deterministic:
        _tf().config.experimental.enable_op_determinism()
    if cfg.mixed_precision in ("mixed_bfloat16", "mixed_float16"):
        keras.mixed_precision.set_global_policy(cfg.mixed_precision)

    val_paths = None
    train_batch = cfg.batch_size
    train_ds = val_ds = None
    records = is_records_source(data)
    if records:  # count first (no decoding); the datasets are built once the splits are known to be usable
        if val_data:
            n_train, n_val = records_count(data, cfg), 0
        else:
            n_train, n_val = records_split_counts(data, cfg)
    else:
        df, arrays, skips = load_va_table(data, progress=verbose > 0)
        if val_data:
            train_mask = np.ones(len(df), bool)
        else:
            train_mask = ~split_by_identity(arrays["identity"], cfg.val_fraction, cfg.seed)
        n_train, n_val = int(train_mask.sum()), int((~train_mask).sum())
        if verbose and skips:
            print(f"skipped rows of {data}: {skips}")
    if val_data:
        if is_records_source(val_data):
            n_val = records_count(val_data, cfg)
        else:
            vdf, varrays, _ = load_va_table(val_data, progress=verbose > 0)
            n_val = len(vdf)
    check_split(data, n_train, n_val, val_data, cfg)

    if records:
        train_ds = records_datasets(data, cfg, True, None if val_data else "train")
        if not val_data:
            val_ds = records_datasets(data, cfg, False, "val")
    else:
        sel = {k: v[train_mask] for k, v in arrays.items()}
        train_bytes = [b for b, m in zip(df["image_bytes"], train_mask) if m]
        train_batch = min(cfg.batch_size, n_train)
        train_ds = table_dataset(train_bytes, sel, image_size=cfg.image_size, batch_size=train_batch,
                                 training=True, seed=cfg.seed, augment_flip=cfg.augment_flip)
        if not val_data:
            vsel = {k: v[~train_mask] for k, v in arrays.items()}
            vbytes = [b for b, m in zip(df["image_bytes"], train_mask) if not m]
            val_paths = [p for p, m in zip(df["path"], train_mask) if not m]
            val_ds = table_dataset(vbytes, vsel, image_size=cfg.image_size, batch_size=cfg.batch_size, training=False)
    if val_data:
        if is_records_source(val_data):
            val_ds = records_datasets(val_data, cfg, False)
        else:
            val_paths = list(vdf["path"])
            val_ds = table_dataset(list(vdf["image_bytes"]), varrays, image_size=cfg.image_size,
                                   batch_size=cfg.batch_size, training=False)
    # the loop checkpoints the iterator of the training batches: numbers only (no file names)
    train_ds = train_ds.map(lambda ex: {k: ex[k] for k in ("image", "va", "emotion8")})

    epochs = int(cfg.epochs)
    steps = epochs * math.ceil(n_train / train_batch) if epochs > 0 else int(cfg.steps)
    if verbose:
        per = f"{epochs} epochs of {math.ceil(n_train / train_batch)} steps" if epochs else f"{steps} steps"
        print(f"training on {n_train} images, validating on {n_val} images ({cfg.arch}): {per}")

    with strategy.scope():
        trainer = _build_and_compile(cfg, compile_regressor)
    provenance = {"data": os.path.abspath(data), "val_data": os.path.abspath(val_data) if val_data else None,
                  "num_train": int(n_train), "num_val": int(n_val), "epochs": epochs, "steps": int(steps),
                  "replicas": strategy.num_replicas_in_sync, "created": time.strftime("%Y-%m-%d %H:%M:%S")}
    done = fit(trainer, train_ds, cfg, run_dir, resume=resume, progress=verbose > 0, provenance=provenance,
               strategy=strategy, steps=steps)
    predictor = RegressorPredictor(trainer.net, cfg.arch, cfg.image_size, cfg.batch_size, run_dir)
    result = evaluate_validation(predictor, val_ds, run_dir if chief else None, val_paths)
    result["steps"] = int(done.step)
    result["epochs"] = epochs
    result["num_train"] = int(n_train)
    result["final_loss"] = done.last_losses.get("loss")
    result["status"] = done.status
    if chief:
        _write_table3(run_dir, result)
    return result


def _build_and_compile(cfg: RegressorConfig, compile_regressor):
    """The regressor of ``cfg`` as a :class:`~caae_tf.models.supervised.SupervisedTrainer`, compiled by
    ``compile_regressor`` (the papers' optimiser and losses); ``.net`` is the bare regressor."""
    from caae_tf.models.supervised import SupervisedTrainer

    trainer = SupervisedTrainer(build_from_config(cfg), _targets(cfg.arch))
    compile_regressor(trainer, cfg.arch, learning_rate=cfg.learning_rate, momentum=cfg.momentum,
                      va_loss=cfg.va_loss, emotion_weight=cfg.emotion_weight, beta_1=cfg.beta_1, beta_2=cfg.beta_2)
    return trainer
