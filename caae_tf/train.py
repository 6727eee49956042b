"""One training driver for every GAN in the project (CAAE of paper 000, cGAN of paper 001).

The driver owns everything that is not model maths (see docs/ARCHITECTURE.md, "Trainable model
protocol"): the run directory (``config.yaml``, ``checkpoints/``, ``logs/``, ``samples/``), a
``tf.train.Checkpoint`` of the step counter, the model, every optimizer and the tf.data iterator (so
``--resume`` restores weights, optimizer slots *and* the data position), ``CheckpointManager``,
TensorBoard scalars and image grids, a progress bar with the losses and img/s, a non-finite-loss guard,
SIGINT/SIGTERM handling (checkpoint, then exit 0), the mixed-precision policy and the run-dir lock (one
trainer per run dir, :mod:`caae_tf.runlock`; under ``MultiWorkerMirroredStrategy`` only the chief writes the
run dir). The model supplies ``build_optimizers``, ``build_all``, ``train_step`` and ``sample_images``.
Building a model from its config and restoring a run dir for inference are :mod:`caae_tf.serving`'s.
"""

from __future__ import annotations

import dataclasses
import datetime
import json
import math
import os
import re
import shlex
import signal
import sys
import time
from typing import Any

import numpy as np

from caae_tf import __version__
from caae_tf.config import CAAEConfig, TrainConfig, load_config, save_config
from caae_tf.data.pipeline import make_training_dataset
from caae_tf.errors import TrainingError
from caae_tf.serving import CKPT_DIR, CONFIG_FILE, MODEL_KINDS, build_model, to_float_dict, variable_map

# restoring a run dir lives in caae_tf.serving; these names stay importable from here for older callers
from caae_tf.serving import dummy_batch as dummy_batch
from caae_tf.serving import load_model as load_model
from caae_tf.tf_env import tf as _tf

LOG_DIR = "logs"
SAMPLE_DIR = "samples"
STATUS_FILE = "status.json"

#: Test hooks read from the environment (used by tests/test_reliability_kill.py; unset = no effect).
#: ``CAAE_TF_TEST_SLOW_CHECKPOINT=SECONDS`` pauses every checkpoint save after its ``.data``/``.index`` files
#: are written and before ``CheckpointManager`` updates the ``checkpoints/checkpoint`` state file — the
#: window a kill test aims at. ``CAAE_TF_INJECT_NAN_AT_STEP=N[:TERM]`` reports loss TERM (default: the
#: first one) as NaN at step N, to exercise the non-finite guard through the CLI.
SLOW_CHECKPOINT_ENV = "CAAE_TF_TEST_SLOW_CHECKPOINT"
INJECT_NAN_ENV = "CAAE_TF_INJECT_NAN_AT_STEP"


# --------------------------------------------------------------------------- run directory

def check_run_dir(run_dir: str, resume: bool, *, writable: bool = True) -> None:
    """Fail early (before any training) when the run dir is unusable.

    ``writable=False`` (a non-chief multi-worker task, which only reads the run dir) skips creating the
    directory and the write probe.
    """
    if os.path.exists(run_dir) and not os.path.isdir(run_dir):
        raise TrainingError(f"run dir {run_dir} exists and is not a directory")
    if writable:
        try:
            os.makedirs(run_dir, exist_ok=True)
            probe = os.path.join(run_dir, ".write_test")
            with open(probe, "w", encoding="utf-8") as fh:
                fh.write("ok")
            os.remove(probe)
        except OSError as exc:
            raise TrainingError(f"run dir {run_dir} is not writable: {exc.strerror}") from None
    has_ckpt = os.path.exists(os.path.join(run_dir, CKPT_DIR, "checkpoint"))
    if has_ckpt and not resume:
        raise TrainingError(
            f"run dir {run_dir} already holds checkpoints; pass --resume to continue it or choose a new --run-dir"
        )


def lock_run_dir(run_dir: str):
    """Take the run dir's trainer lock (:mod:`caae_tf.runlock`; re-entrant within this process).

    Raises :class:`caae_tf.runlock.RunDirLocked` (a ``TrainingError``: exit 2, one line naming the holder)
    when another live trainer writes ``run_dir``.
    """
    from caae_tf import runlock

    if os.path.exists(run_dir) and not os.path.isdir(run_dir):
        raise TrainingError(f"run dir {run_dir} exists and is not a directory")
    return runlock.acquire(run_dir)


def is_chief(strategy) -> bool:
    """Whether this task may write the run dir: always, except a non-chief ``MultiWorkerMirroredStrategy``
    worker (``strategy.extended.should_checkpoint`` is TensorFlow's chief test)."""
    return bool(getattr(strategy.extended, "should_checkpoint", True))


def _task_label(strategy) -> str:
    resolver = getattr(strategy, "cluster_resolver", None)
    task_type = getattr(resolver, "task_type", None) or "task"
    task_id = getattr(resolver, "task_id", None)
    return f"{task_type}{task_id if task_id is not None else ''}"


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


# --------------------------------------------------------------------------- the driver

class _StopFlag:
    """Turns SIGINT/SIGTERM into a flag checked between steps (checkpoint, then exit 0)."""

    def __init__(self):
        self.signum: int | None = None
        self._previous: dict[int, Any] = {}

    def __enter__(self):
        for sig in (signal.SIGINT, signal.SIGTERM):
            try:
                self._previous[sig] = signal.signal(sig, self._handle)
            except ValueError:  # not in the main thread
                pass
        return self

    def _handle(self, signum, frame):
        if self.signum is not None:  # second signal: stop now
            raise KeyboardInterrupt
        self.signum = signum

    def __exit__(self, *exc):
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)
        return False


@dataclasses.dataclass
class FitResult:
    status: str  # "completed" | "interrupted"
    step: int
    last_losses: dict[str, float]
    images_per_second: float
    run_dir: str
    checkpoint: str | None


def fit(
    model,
    dataset,
    config: TrainConfig,
    run_dir: str,
    *,
    resume: bool = False,
    progress: bool = True,
    provenance: dict[str, Any] | None = None,
    strategy=None,
    max_steps_this_run: int | None = None,
) -> FitResult:
    """Train ``model`` on ``dataset`` until ``config.steps`` (see module docstring).

    ``max_steps_this_run`` stops early (after a checkpoint) — used by tests and benchmarks.

    The run dir is locked for the whole call (:mod:`caae_tf.runlock`: a second trainer on it fails at
    once). Under ``MultiWorkerMirroredStrategy`` only the chief writes (and locks) ``run_dir``; every
    other worker runs the very same saves — checkpointing can need all workers (collective reads of
    synchronised variables) — into its own temporary directory, removed at the end, and reads ``run_dir``
    only to resume (TensorFlow's multi-worker guide: ``write_filepath`` of non-chief workers). All workers
    then meet at a coordination-service barrier, so none exits while another still works.
    """
    tf = _tf()
    strategy = strategy or tf.distribute.get_strategy()
    chief = is_chief(strategy)
    lock = lock_run_dir(run_dir) if chief else None
    write_dir = run_dir
    try:
        if not chief:
            import tempfile

            write_dir = tempfile.mkdtemp(prefix=f"caae_tf_{_task_label(strategy)}_")
        result = _fit(model, dataset, config, run_dir, write_dir, resume=resume, progress=progress,
                      provenance=provenance, strategy=strategy, max_steps_this_run=max_steps_this_run)
        _multi_worker_barrier(strategy, "fit-end")
        return result
    finally:
        if write_dir != run_dir:
            import shutil

            shutil.rmtree(write_dir, ignore_errors=True)
        if lock is not None:
            lock.release()


_BARRIERS = {"count": 0}


def _multi_worker_barrier(strategy, name: str, timeout_s: float | None = None) -> None:
    """Block until every worker of a ``MultiWorkerMirroredStrategy`` cluster reaches this point (no-op for
    other strategies). Workers that leave at different times make the coordination service report the
    early leaver as crashed (``The tasks have crashed``) to the ones still running."""
    extended = strategy.extended
    if not getattr(extended, "_in_multi_worker_mode", lambda: False)():
        return
    from tensorflow.python.eager import context

    if context.context().coordination_service is None:
        return
    _BARRIERS["count"] += 1  # every worker calls fit the same number of times: the ids match
    timeout_s = timeout_s or float(os.environ.get("CAAE_TF_BARRIER_TIMEOUT", "600"))
    context.context().wait_at_barrier(f"caae_tf/{name}/{_BARRIERS['count']}", int(timeout_s * 1000))


def _fit(model, dataset, config, run_dir, write_dir, *, resume, progress, provenance, strategy,
         max_steps_this_run) -> FitResult:
    """:func:`fit` with the run dir locked (or, on a non-chief worker, writing into ``write_dir``)."""
    tf = _tf()
    from caae_tf.progress import Progress

    check_run_dir(run_dir, resume, writable=write_dir == run_dir)
    for sub in (CKPT_DIR, LOG_DIR, SAMPLE_DIR):
        os.makedirs(os.path.join(write_dir, sub), exist_ok=True)

    replicas = strategy.num_replicas_in_sync
    if config.batch_size % replicas:
        raise TrainingError(
            f"batch_size {config.batch_size} is not divisible by the {replicas} replicas of the distribution strategy"
        )
    # Variables are built from a zero batch of the dataset's spec: a throwaway iterator (dataset.take(1))
    # would share the shuffle's seed generator with the training iterator, and when its prefetch crossed an
    # epoch boundary it shifted the training data order (a timing-dependent race).
    first_batch = _zero_batch(dataset.element_spec, config.batch_size)
    with strategy.scope():
        optimizers = model.build_optimizers()
        step_var = tf.Variable(0, dtype=tf.int64, trainable=False, name="global_step")
        model.build_all(first_batch)
    # One checkpointable iterator yields the *global* batch; under several replicas each replica takes its
    # slice inside the step (DistributedIterators cannot be checkpointed, and this keeps the data order of a
    # single-device run). Losses are means over the global batch (see caae_tf.losses).
    iterator = iter(dataset)

    ckpt = tf.train.Checkpoint(
        step=step_var, iterator=iterator, model=variable_map(model.weights),
        **{name: variable_map(opt.variables) for name, opt in optimizers.items()},
    )
    manager = tf.train.CheckpointManager(
        ckpt, os.path.join(write_dir, CKPT_DIR), max_to_keep=config.keep_checkpoints
    )
    # every worker resumes from the run dir's checkpoint (the chief's; a non-chief's manager points at its
    # empty temporary directory)
    latest = manager.latest_checkpoint if write_dir == run_dir else tf.train.latest_checkpoint(
        os.path.join(run_dir, CKPT_DIR))
    saved_step = None  # the step of the newest checkpoint of this run: same on every worker
    if resume and latest:
        try:
            ckpt.restore(latest).assert_existing_objects_matched()
        except (AssertionError, ValueError) as exc:
            raise TrainingError(
                f"{latest}: cannot resume, checkpoint does not match this model/config: {exc}"
            ) from None
        saved_step = int(step_var.numpy())
    elif resume:
        print(f"--resume: no checkpoint in {run_dir}/{CKPT_DIR}; starting from step 0", file=sys.stderr)

    import keras

    meta = dict(provenance or {})
    meta.update(
        caae_tf=__version__,
        tensorflow=tf.__version__,
        keras=keras.__version__,
        precision=keras.mixed_precision.global_policy().name,
        command=" ".join(shlex.quote(a) for a in sys.argv),
        started=datetime.datetime.now().isoformat(timespec="seconds"),
        resumed_from_step=int(step_var.numpy()),
    )
    save_config(config, os.path.join(write_dir, CONFIG_FILE), extra=meta)

    @tf.function(jit_compile=bool(config.jit_compile))
    def train_fn(batch):
        if replicas > 1:
            batch = strategy.experimental_distribute_values_from_function(
                lambda ctx: {k: tf.split(v, replicas)[ctx.replica_id_in_sync_group] for k, v in batch.items()}
            )
        out = strategy.run(model.train_step, args=(batch,))
        return {k: strategy.reduce(tf.distribute.ReduceOp.MEAN, v, axis=None) for k, v in out.items()}

    writer = tf.summary.create_file_writer(os.path.join(write_dir, LOG_DIR))
    sample_batch = None  # the first batch this run trains on (image grids for TensorBoard/samples/)
    start_step = int(step_var.numpy())
    target = config.steps
    if max_steps_this_run is not None:
        target = min(target, start_step + max_steps_this_run)
    bar = Progress(config.steps, f"training {config.model} in {run_dir} (step {start_step} → {target})", progress)
    if start_step:
        bar.set(start_step)
    losses: dict[str, float] = {}
    status = "completed"
    t_window, n_window, ips = time.perf_counter(), 0, 0.0
    saved_path = latest if saved_step is not None else None
    nan_step, nan_term = _nan_injection()

    def save(step: int) -> str:
        path = _save_checkpoint(manager, step, write_dir, losses)
        # a non-chief worker reports where the chief wrote the same checkpoint (its own copy is temporary)
        return path if write_dir == run_dir else os.path.join(run_dir, CKPT_DIR, os.path.basename(path))

    with _StopFlag() as stop:
        while int(step_var.numpy()) < target:
            batch = next(iterator)
            if sample_batch is None:
                sample_batch = batch
            out = train_fn(batch)
            losses = to_float_dict(out)
            step = int(step_var.assign_add(1).numpy())
            if step == nan_step:  # test hook, see INJECT_NAN_ENV
                losses[nan_term or next(iter(losses))] = float("nan")
            bad = [k for k, v in losses.items() if not math.isfinite(v)]
            if bad:
                _write_status(write_dir, "non-finite", step, losses)
                raise TrainingError(
                    f"non-finite loss at step {step}: {', '.join(f'{k}={losses[k]}' for k in bad)}; "
                    f"stopped without saving — the last good checkpoint is {saved_path or 'none'}"
                )
            n_window += config.batch_size
            now = time.perf_counter()
            if now - t_window > 1.0:
                ips, t_window, n_window = n_window / (now - t_window), now, 0
            if step % config.log_every == 0 or step == target:
                with writer.as_default(step=step):
                    for k, v in losses.items():
                        tf.summary.scalar(k, v)
                    tf.summary.scalar("images_per_second", ips)
            if config.sample_every and (step % config.sample_every == 0 or step == target):
                _write_samples(model, sample_batch, writer, write_dir, step)
            if step % config.checkpoint_every == 0:
                saved_path, saved_step = save(step), step
            bar.set(step, **{k: v for k, v in losses.items() if k.startswith(("loss", "d_", "g_"))}, img_s=ips)
            if stop.signum is not None:
                status = "interrupted"
                break
        step = int(step_var.numpy())
        if saved_step != step:
            saved_path, saved_step = save(step), step
    writer.flush()
    writer.close()
    bar.close()
    _write_status(write_dir, status, step, losses)
    return FitResult(status, step, losses, ips, run_dir, saved_path)


def _zero_batch(spec, batch_size: int) -> dict:
    """A batch of zeros matching a dataset's ``element_spec`` (unknown batch dims become ``batch_size``)."""
    tf = _tf()
    return tf.nest.map_structure(
        lambda s: tf.zeros([batch_size if d is None else d for d in s.shape.as_list()], s.dtype), spec)


def _nan_injection() -> tuple[int | None, str | None]:
    value = os.environ.get(INJECT_NAN_ENV, "").strip()
    if not value:
        return None, None
    step, _, term = value.partition(":")
    try:
        return int(step), (term.strip() or None)
    except ValueError:
        raise TrainingError(f"{INJECT_NAN_ENV}={value!r}: expected STEP or STEP:TERM") from None


def _save_checkpoint(manager, step: int, run_dir: str, losses: dict[str, float]) -> str:
    """``manager.save`` with a clear error when the write fails (disk full, permissions, I/O error).

    A failed save never damages earlier checkpoints: TensorFlow writes the new ``.data``/``.index`` files
    first (under their own names) and rewrites the ``checkpoint`` state file atomically afterwards, so the
    state file still names the last complete checkpoint.
    """
    tf = _tf()
    options = None
    delay = float(os.environ.get(SLOW_CHECKPOINT_ENV) or 0)
    if delay > 0:  # test hook: files written, state file not yet updated (a fresh options object per save,
        # because CheckpointManager appends its own callback to the list it is given)
        options = tf.train.CheckpointOptions(experimental_write_callbacks=[lambda _path: time.sleep(delay)])
    previous = manager.latest_checkpoint
    try:
        return manager.save(checkpoint_number=step, options=options)
    except (OSError, tf.errors.OpError) as exc:
        reason = getattr(exc, "message", None) or getattr(exc, "strerror", None) or str(exc)
        reason = re.sub(r"\{\{[^}]*\}\}|\[Op:[^\]]*\]", "", reason).strip()  # drop TF's node/op decorations
        reason = reason.splitlines()[0] if reason else type(exc).__name__
        try:
            _write_status(run_dir, "checkpoint-failed", step, losses)
        except OSError:
            pass
        raise TrainingError(
            f"{manager.directory}: could not write the checkpoint of step {step} ({reason}); the last complete "
            f"checkpoint is {previous or 'none'} — free disk space or fix permissions, then resume with --resume"
        ) from None


def _write_samples(model, batch, writer, run_dir: str, step: int) -> None:
    tf = _tf()
    from caae_tf.images import write_image

    grids = model.sample_images(batch)
    with writer.as_default(step=step):
        for name, grid in grids.items():
            tf.summary.image(name, np.asarray(grid)[None], step=step)
    for name, grid in grids.items():
        write_image(os.path.join(run_dir, SAMPLE_DIR, f"{name}_{step:07d}.png"), grid)


def _write_status(run_dir: str, status: str, step: int, losses: dict[str, float]) -> None:
    data = {"status": status, "step": step,
            "losses": {k: (v if math.isfinite(v) else str(v)) for k, v in losses.items()}}
    tmp = os.path.join(run_dir, STATUS_FILE + ".tmp")
    with open(tmp, "w", encoding="utf-8") as fh:
        json.dump(data, fh, indent=1)
    os.replace(tmp, os.path.join(run_dir, STATUS_FILE))


# --------------------------------------------------------------------------- distribution

STRATEGIES = ("default", "mirrored", "multiworker")


def make_strategy(name: str = "default"):
    """A ``tf.distribute`` strategy by name.

    * ``default``: the default (single-device) strategy;
    * ``mirrored``: ``MirroredStrategy`` over all local GPUs, or — without GPUs — over all logical CPU
      devices (create several with ``tf.config.set_logical_device_configuration`` before TF initialises,
      e.g. via ``CAAE_TF_CPU_REPLICAS=2``; this is how the CI test exercises multi-replica training);
    * ``multiworker``: ``MultiWorkerMirroredStrategy`` (each host runs the same command with its own
      ``TF_CONFIG``; the global batch is split across all replicas of all workers).
    """
    tf = _tf()
    if name not in STRATEGIES:
        raise TrainingError(f"unknown strategy {name!r}; choose one of {', '.join(STRATEGIES)}")
    if name == "default":
        return tf.distribute.get_strategy()
    if name == "multiworker":
        return tf.distribute.MultiWorkerMirroredStrategy()
    gpus = tf.config.list_logical_devices("GPU")
    devices = [d.name for d in (gpus or tf.config.list_logical_devices("CPU"))]
    return tf.distribute.MirroredStrategy(devices=devices)


def configure_cpu_replicas(n: int | None = None) -> None:
    """Split the CPU into ``n`` logical devices (``$CAAE_TF_CPU_REPLICAS``); must run before TF initialises."""
    n = n or int(os.environ.get("CAAE_TF_CPU_REPLICAS", "0") or 0)
    if n > 1:
        tf = _tf()
        cpu = tf.config.list_physical_devices("CPU")[0]
        tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * n)


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
    model.set_edit_region(region)
    fraction = float(region.mean())
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
