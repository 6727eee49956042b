"""One trainer per run dir: an OS-level lock on ``RUN_DIR/.lock`` (no TensorFlow).

A trainer holds an exclusive ``fcntl.flock`` on ``RUN_DIR/.lock`` for as long as it may write the run dir
(``config.yaml``, ``checkpoints/``, ``logs/``, ``samples/``, ``status.json``). A second trainer started on
the same run dir fails at once with :class:`RunDirLocked`, a one-line message naming the holder (pid, host,
start time and command, which the holder writes into the lock file).

The lock belongs to the open file, not to the file's existence: the kernel releases it when the holder's
process ends in any way, ``kill -9`` included, so a lock file left behind never blocks the next
``--resume`` (the file itself is never deleted — deleting it would let two processes lock two different
files of the same name). ``flock`` locks work between processes on one host and on most network file
systems that support them (NFSv4, Lustre, GPFS); a file system without lock support makes the trainer
fail with a clear message rather than run unlocked.

Multi-worker training (``--strategy multiworker``): only the chief writes the run dir and takes the lock;
the other workers write their checkpoints/logs into their own temporary directories (TensorFlow's
multi-worker guide: every worker saves, non-chief workers to a temporary ``write_filepath`` that is
removed afterwards) and read the run dir only (``--resume``), so they do not take it. See
:func:`is_chief_from_tf_config`.

Within one process the lock is re-entrant (``train_command`` takes it before building the model, ``fit``
again around the loop): ``flock`` on a second open file of the same process would conflict with the first.
"""

from __future__ import annotations

import datetime
import errno
import fcntl
import json
import os
import socket
import sys
import threading

from caae_tf.errors import TrainingError

LOCK_FILE = ".lock"


class RunDirLocked(TrainingError):
    """Another live process holds the run dir's lock."""


_HELD: dict[str, "RunLock"] = {}
_GUARD = threading.Lock()


def _key(run_dir: str) -> str:
    return os.path.realpath(run_dir)


def describe_holder(info: dict) -> str:
    """``pid 123 on host, started 2026-01-01T10:00:00 (caae-tf train ...)`` from the lock file's JSON."""
    if not info:
        return "another process (no holder details in the lock file)"
    text = f"pid {info.get('pid', '?')} on {info.get('host', '?')}"
    if info.get("started"):
        text += f", started {info['started']}"
    if info.get("command"):
        command = str(info["command"])
        text += f" ({command if len(command) <= 120 else command[:117] + '...'})"
    return text


def read_holder(run_dir: str) -> dict:
    """The holder details last written into ``RUN_DIR/.lock`` (``{}`` when absent or unreadable)."""
    try:
        with open(os.path.join(run_dir, LOCK_FILE), encoding="utf-8") as fh:
            data = json.loads(fh.read() or "{}")
        return data if isinstance(data, dict) else {}
    except (OSError, ValueError):
        return {}


class RunLock:
    """Exclusive, non-blocking, re-entrant (per process) lock on a run dir; use :func:`acquire`."""

    def __init__(self, run_dir: str, fd: int):
        self.run_dir = run_dir
        self.path = os.path.join(run_dir, LOCK_FILE)
        self._fd: int | None = fd
        self._count = 1

    @property
    def held(self) -> bool:
        return self._fd is not None

    def release(self) -> None:
        """Drop one reference; the last one unlocks (the lock file stays, see the module docstring)."""
        with _GUARD:
            if self._fd is None:
                return
            self._count -= 1
            if self._count > 0:
                return
            fd, self._fd = self._fd, None
            _HELD.pop(_key(self.run_dir), None)
        try:
            fcntl.flock(fd, fcntl.LOCK_UN)
        finally:
            os.close(fd)

    def __enter__(self) -> "RunLock":
        return self

    def __exit__(self, *exc) -> bool:
        self.release()
        return False


def acquire(run_dir: str, *, purpose: str = "trainer") -> RunLock:
    """Lock ``run_dir`` (created if missing) or raise :class:`RunDirLocked` naming the holder.

    Re-entrant within a process: a second call for the same directory returns the held lock with one more
    reference (release it as often as it was acquired, or use it as a context manager).
    """
    key = _key(run_dir)
    with _GUARD:
        held = _HELD.get(key)
        if held is not None and held.held:
            held._count += 1
            return held
        try:
            os.makedirs(run_dir, exist_ok=True)
            fd = os.open(os.path.join(run_dir, LOCK_FILE), os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        except OSError as exc:
            raise TrainingError(f"run dir {run_dir} is not writable: {exc.strerror}") from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            os.close(fd)
            if exc.errno in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                raise RunDirLocked(
                    f"run dir {run_dir} is in use by another {purpose}: {describe_holder(read_holder(run_dir))}; "
                    "wait for it to finish (or stop it), or choose another --run-dir"
                ) from None
            raise TrainingError(
                f"run dir {run_dir}: cannot lock {LOCK_FILE} ({exc.strerror}); the file system must support "
                "flock so that two trainers cannot write one run dir"
            ) from None
        info = {
            "pid": os.getpid(),
            "host": socket.gethostname(),
            "started": datetime.datetime.now().isoformat(timespec="seconds"),
            "command": " ".join(sys.argv) if sys.argv and sys.argv[0] else "",
            "purpose": purpose,
        }
        try:  # the details are for the message of a refused trainer; the flock is what excludes it
            os.ftruncate(fd, 0)
            os.pwrite(fd, (json.dumps(info) + "\n").encode("utf-8"), 0)
        except OSError:
            pass
        lock = RunLock(run_dir, fd)
        _HELD[key] = lock
        return lock


def is_locked(run_dir: str) -> bool:
    """Whether some process (this one included) holds ``run_dir``'s lock right now."""
    if _HELD.get(_key(run_dir)) is not None:
        return True
    try:
        fd = os.open(os.path.join(run_dir, LOCK_FILE), os.O_RDONLY | os.O_CLOEXEC)
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        return True
    finally:
        os.close(fd)  # closing drops a lock we just took
    return False


# --------------------------------------------------------------------------- multi-worker roles

def tf_config() -> dict:
    """``$TF_CONFIG`` as a dict (``{}`` when unset); a malformed value is a :class:`TrainingError`."""
    raw = os.environ.get("TF_CONFIG", "").strip()
    if not raw:
        return {}
    try:
        data = json.loads(raw)
    except ValueError as exc:
        raise TrainingError(f"TF_CONFIG is not valid JSON: {exc}") from None
    if not isinstance(data, dict):
        raise TrainingError("TF_CONFIG must be a JSON object with 'cluster' and 'task'")
    return data


def is_chief_from_tf_config(config: dict | None = None) -> bool:
    """TensorFlow's chief rule (``multi_worker_util.is_chief``): the ``chief`` task when the cluster has one,
    else worker 0; a process without a cluster (no ``TF_CONFIG``) is its own chief."""
    config = tf_config() if config is None else config
    cluster = config.get("cluster") or {}
    task = config.get("task") or {}
    task_type, task_id = task.get("type"), int(task.get("index", 0) or 0)
    if not cluster or task_type is None:
        return True
    if "chief" in cluster:
        return task_type == "chief"
    return task_type == "worker" and task_id == 0
