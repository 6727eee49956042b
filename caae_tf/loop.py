"""The one training loop of the project: every model — CAAE, cGAN, regressors, identity network — trains here.

:func:`fit` is a thin loop that calls only Keras/TensorFlow API. It owns everything that is not model maths
(see docs/ARCHITECTURE.md, "Trainable model protocol"): the run directory (``config.yaml``, ``checkpoints/``,
``logs/``, ``status.json``, and ``samples/`` for models that draw samples), a ``tf.train.Checkpoint`` of the
step counter, the model, every optimizer *and the tf.data iterator* (so ``--resume`` restores weights,
optimizer slots and the data position), ``CheckpointManager``, TensorBoard scalars and image grids, a
progress bar with the losses and img/s, a non-finite-loss guard, SIGINT/SIGTERM handling (checkpoint, then
exit 0), distribution (``strategy.run`` + ``strategy.reduce``) and the run-dir lock (one trainer per run
dir, :mod:`caae_tf.runlock`; under ``MultiWorkerMirroredStrategy`` only the chief writes the run dir).

Trainable model protocol — what :func:`fit` calls on ``model`` (a ``keras.Model``):

* ``build_optimizers() -> {name: keras.optimizers.Optimizer}`` (each one's variables are checkpointed
  under ``name``);
* ``build_all(batch)``: create every variable (networks and optimizer slots) from a zero batch;
* ``train_step(batch) -> {name: scalar}``: one update, run under ``strategy.run``; the values are averaged
  over replicas, logged, and checked for NaN/Inf;
* ``weights``: the variables checkpointed under ``model`` (:func:`caae_tf.serving.variable_map`);
* optionally ``sample_images(batch) -> {name: uint8 grid}`` (TensorBoard images and ``samples/*.png``
  every ``sample_every`` steps);
* optionally ``checkpoint_state() -> {name: [variables]}``: more state for exact resume, checkpointed under
  ``name`` (the supervised models' dropout seed generators, which Keras keeps out of ``weights``).

The GANs (:class:`caae_tf.models.caae.CAAE`, :class:`caae_tf.models.cgan.CGAN`) implement it themselves;
supervised models go through :class:`caae_tf.models.supervised.SupervisedTrainer`.

Why a thin loop rather than ``Model.fit``: exact resume needs the tf.data iterator position in the
checkpoint. Keras 3's ``Model.fit`` creates its own (distributed) iterator inside each ``fit`` call, out
of a callback's reach, and ``keras.callbacks.BackupAndRestore`` (Keras 3.15 source,
``keras/src/callbacks/backup_and_restore.py``) backs up only ``model.save_weights`` plus a JSON file of
``{epoch, batch}``; on restore it reloads the weights and sets the initial *epoch* (the saved batch is not
read back), so a resumed ``fit`` restarts that epoch with a fresh iterator from the start of the data.
With ``steps_per_epoch``-sized "epochs" on a repeated, shuffled stream that replays or skips data, and
the shuffle/augmentation state is lost. Hence one thin loop for every model.

Building a model from its config and restoring a run dir for inference are :mod:`caae_tf.serving`'s; the
``caae-tf train`` glue (config resolution, data, model) is :mod:`caae_tf.train`'s.
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
from caae_tf.config import TrainConfig, save_config
from caae_tf.errors import TrainingError
from caae_tf.serving import CKPT_DIR, CONFIG_FILE, to_float_dict, variable_map
from caae_tf.step_fn import make_train_fn
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
    steps: int | None = None,
) -> FitResult:
    """Train ``model`` on ``dataset`` until ``config.steps`` (or ``steps``, when given: a step count the
    caller derived, such as ``RegressorConfig.epochs`` passes over the data) — see the module docstring.

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
                      provenance=provenance, strategy=strategy, max_steps_this_run=max_steps_this_run,
                      steps=steps)
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
         max_steps_this_run, steps) -> FitResult:
    """:func:`fit` with the run dir locked (or, on a non-chief worker, writing into ``write_dir``)."""
    tf = _tf()
    from caae_tf.progress import Progress

    check_run_dir(run_dir, resume, writable=write_dir == run_dir)
    draws = hasattr(model, "sample_images")  # optional: the supervised models draw no samples
    sampling = draws and bool(config.sample_every)
    for sub in (CKPT_DIR, LOG_DIR) + ((SAMPLE_DIR,) if draws else ()):
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

    extra = model.checkpoint_state() if hasattr(model, "checkpoint_state") else {}
    ckpt = tf.train.Checkpoint(
        step=step_var, iterator=iterator, model=variable_map(model.weights),
        **{name: variable_map(opt.variables) for name, opt in optimizers.items()},
        **{name: variable_map(variables) for name, variables in extra.items()},
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

    train_fn = make_train_fn(model, strategy, jit_compile=bool(config.jit_compile))

    writer = tf.summary.create_file_writer(os.path.join(write_dir, LOG_DIR))
    sample_batch = None  # the first batch this run trains on (image grids for TensorBoard/samples/)
    start_step = int(step_var.numpy())
    total = int(steps if steps is not None else config.steps)
    target = total
    if max_steps_this_run is not None:
        target = min(target, start_step + max_steps_this_run)
    bar = Progress(total, f"training {config.model} in {run_dir} (step {start_step} → {target})", progress)
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
            if sampling and (step % config.sample_every == 0 or step == target):
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


