"""``caae-tf train caae|cgan``: resolve the config, build the data and the GAN, run the one training loop.

The loop itself — run dir, checkpoints with the data position, logging, NaN guard, signals, distribution,
run-dir lock — is :mod:`caae_tf.loop` (every model of the project trains there, the regressors and the
identity network too); strategies by name are :mod:`caae_tf.strategy`; building a model from its config
and restoring a run dir for inference are :mod:`caae_tf.serving`'s.
"""

from __future__ import annotations

import os
import sys

import numpy as np

from caae_tf.config import CAAEConfig, TrainConfig, load_config
from caae_tf.data.pipeline import make_training_dataset
from caae_tf.errors import TrainingError

# the loop, strategies and restoring stay importable from here for older callers
from caae_tf.loop import INJECT_NAN_ENV as INJECT_NAN_ENV
from caae_tf.loop import LOG_DIR as LOG_DIR
from caae_tf.loop import SAMPLE_DIR
from caae_tf.loop import SLOW_CHECKPOINT_ENV as SLOW_CHECKPOINT_ENV
from caae_tf.loop import STATUS_FILE as STATUS_FILE
from caae_tf.loop import FitResult, check_run_dir, fit, lock_run_dir
from caae_tf.loop import is_chief as is_chief
from caae_tf.serving import CKPT_DIR, CONFIG_FILE, MODEL_KINDS, build_model
from caae_tf.serving import dummy_batch as dummy_batch
from caae_tf.serving import load_model as load_model
from caae_tf.serving import variable_map as variable_map
from caae_tf.strategy import STRATEGIES as STRATEGIES
from caae_tf.strategy import configure_cpu_replicas as configure_cpu_replicas
from caae_tf.strategy import make_strategy
from caae_tf.tf_env import tf as _tf


def resolve_run_config(
    kind: str, run_dir: str, *, config_file: str | None, overrides: list[str] | None, resume: bool
) -> TrainConfig:
    """Config for a run: on ``--resume`` the saved ``config.yaml`` (plus ``--set``), else defaults/file/``--set``.

    ``config_file`` is a YAML/JSON file or a preset name (:func:`caae_tf.presets.resolve`)."""
    from caae_tf import presets
    from caae_tf.config import apply_overrides, resolve_config

    cls = MODEL_KINDS[kind]
    saved = os.path.join(run_dir, CONFIG_FILE)
    if resume and os.path.exists(saved):
        cfg = load_config(saved, cls)
        cfg = apply_overrides(cfg, overrides)
        cfg.validate()
        return cfg
    return resolve_config(cls, presets.resolve(config_file) if config_file else None, overrides)


# --------------------------------------------------------------------------- CLI entry

def train_command(
    kind: str,
    data: str,
    run_dir: str,
    *,
    config_file: str | None = None,
    overrides: list[str] | None = None,
    resume: bool = False,
    progress: bool = True,
    max_steps_this_run: int | None = None,
    strategy: str = "default",
) -> FitResult:
    """``caae-tf train caae|cgan``: resolve config, build data + model, fit.

    ``strategy``: ``default`` (one device), ``mirrored`` (all local GPUs, else all logical CPUs — see
    :func:`make_strategy`) or ``multiworker`` (``MultiWorkerMirroredStrategy`` configured by ``TF_CONFIG``).
    ``batch_size`` is the global batch; per-replica losses are scaled by it (``tf.nn.compute_average_loss``).
    ``config_file``: a YAML/JSON file or the name of a packaged preset (:mod:`caae_tf.presets`).
    """
    if kind not in MODEL_KINDS:
        raise TrainingError(f"unknown model {kind!r}; choose one of {', '.join(MODEL_KINDS)}")
    # Lock the run dir before anything slow, so that a second trainer on it exits at once. A non-chief
    # multi-worker task never writes the run dir and does not lock it (see fit and caae_tf.runlock).
    from caae_tf.runlock import is_chief_from_tf_config

    chief = strategy != "multiworker" or is_chief_from_tf_config()
    lock = lock_run_dir(run_dir) if chief else None
    try:
        return _train_command(kind, data, run_dir, config_file=config_file, overrides=overrides, resume=resume,
                              progress=progress, max_steps_this_run=max_steps_this_run, strategy=strategy,
                              chief=chief)
    finally:
        if lock is not None:
            lock.release()


def init_edit_region(model, data: str, config: CAAEConfig, run_dir: str | None) -> float:
    """``edit_region_prior=label_variance``: estimate the editing region from ``edit_region_prior_images``
    training images (:mod:`caae_tf.region_prior`), set it on ``model`` and (with ``run_dir``) write the η²
    map and the region to ``samples/edit_region_prior.png``. Returns the region's share of the image."""
    from caae_tf import region_prior

    batches = make_training_dataset(data, config, training=False, repeat=False)
    images, labels = region_prior.collect(batches.as_numpy_iterator(), config.edit_region_prior_images)
    # 5x5 label bins from 200 images on; fewer bins for smaller sets (a smoke run), none below 8 images
    bins = max(2, min(5, int(np.sqrt(len(images) / 8))))
    if len(images) < 2 * bins * bins:
        raise TrainingError(f"{data}: {len(images)} images are too few to estimate the editing region "
                            "(edit_region_prior=label_variance needs at least 8); set edit_region_prior=''")
    eta2 = region_prior.label_variance_map(images, labels, bins=bins)
    region = region_prior.region_from_map(eta2, config.edit_region_prior_threshold, config.edit_region_prior_dilate,
                                          symmetric=config.augment_flip)
    if not region.any():
        raise TrainingError(
            f"{data}: the labels explain no pixel (label-variance η² at most {float(eta2.max()):.3f}, threshold "
            f"{config.edit_region_prior_threshold}) — are the valence/arousal labels (nearly) constant? Check the "
            "labels, lower edit_region_prior_threshold, or set edit_region_prior=''")
    fraction = float(region.mean())
    chance = (bins * bins - 1) / max(1, len(images) - 1)  # E[η²] of a pixel the labels do not explain
    if fraction > 0.6 and chance > 0.5 * config.edit_region_prior_threshold:
        print(f"warning: {data}: the editing region covers {100 * fraction:.0f} % of the image: with "
              f"{len(images)} images in {bins}x{bins} label bins a pixel the labels do not explain already has "
              f"η² ≈ {chance:.3f} by chance (threshold {config.edit_region_prior_threshold}); use more images or "
              f"raise edit_region_prior_threshold above about {2 * chance:.2f}", file=sys.stderr)
    model.set_edit_region(region)
    print(f"editing region (label_variance prior from {len(images)} images): {100 * fraction:.1f} % of the image",
          file=sys.stderr)
    if run_dir is not None:
        from caae_tf.images import write_image

        heat = np.clip(eta2 / max(float(eta2.max()), 1e-6), 0, 1)
        mean_face = (images.mean(axis=0) + 1.0) / 2.0
        shown = mean_face * (1.0 - 0.6 * region[..., None])
        tiles = np.concatenate([np.repeat(heat[..., None], 3, axis=-1), shown], axis=1)  # [0, 1]
        write_image(os.path.join(run_dir, SAMPLE_DIR, "edit_region_prior.png"), tiles * 2.0 - 1.0)
    return fraction


def _train_command(kind, data, run_dir, *, config_file, overrides, resume, progress, max_steps_this_run,
                   strategy, chief) -> FitResult:
    import keras

    from caae_tf.precision import set_policy

    check_run_dir(run_dir, resume, writable=chief)
    config = resolve_run_config(kind, run_dir, config_file=config_file, overrides=overrides, resume=resume)
    keras.utils.set_random_seed(config.seed)
    if config.deterministic:
        _tf().config.experimental.enable_op_determinism()
    policy = set_policy(config.mixed_precision)
    dist = make_strategy(strategy)
    dataset = make_training_dataset(data, config)
    with dist.scope():
        model = build_model(config)
    provenance = {"data": os.path.abspath(data), "policy": policy, "strategy": strategy,
                  "replicas": dist.num_replicas_in_sync}
    # on --resume from a checkpoint the region comes back with the model's weights
    resuming = resume and _tf().train.latest_checkpoint(os.path.join(run_dir, CKPT_DIR))
    if isinstance(config, CAAEConfig) and config.edit_region_prior and not resuming:
        provenance["edit_region_fraction"] = init_edit_region(model, data, config, run_dir if chief else None)
    ident = getattr(getattr(model, "identity_net", None), "description", None)
    if isinstance(config, CAAEConfig):
        provenance["identity_network"] = ident or "none (identity_weight = 0)"
    return fit(
        model, dataset, config, run_dir, resume=resume, progress=progress, provenance=provenance,
        max_steps_this_run=max_steps_this_run, strategy=dist,
    )
