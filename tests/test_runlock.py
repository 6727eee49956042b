"""One trainer per run dir (caae_tf.runlock), kill -9 never leaves a blocking lock, and multi-worker training
where only the chief writes the run dir (issue "One house")."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import textwrap
import time

import pytest

from _train_helpers import TINY_CAAE, write_tiny_set

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ENV = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", CUDA_VISIBLE_DEVICES="", PYTHONUNBUFFERED="1")
for _k in ("CAAE_TF_TEST_SLOW_CHECKPOINT", "CAAE_TF_INJECT_NAN_AT_STEP", "TF_CONFIG", "CAAE_TF_CPU_REPLICAS"):
    ENV.pop(_k, None)
TIMEOUT = 900  # a loaded 2-core machine runs these 5-10x slower than a quiet one


def _holder(tmp_path, run_dir):
    """A plain Python process (no TensorFlow) holding run_dir's lock until killed."""
    ready = tmp_path / "ready"
    code = textwrap.dedent(f"""
        import time
        from caae_tf import runlock
        lock = runlock.acquire({str(run_dir)!r})
        open({str(ready)!r}, "w").close()
        time.sleep(600)
    """)
    proc = subprocess.Popen([sys.executable, "-c", code], env=ENV)
    t0 = time.monotonic()
    while not ready.exists():
        assert proc.poll() is None, "holder process died"
        assert time.monotonic() - t0 < 120
        time.sleep(0.02)
    return proc


def test_lock_names_holder_and_dies_with_it(tmp_path):
    from caae_tf import runlock

    run = tmp_path / "run"
    proc = _holder(tmp_path, run)
    try:
        assert runlock.is_locked(str(run))
        with pytest.raises(runlock.RunDirLocked) as info:
            runlock.acquire(str(run))
        msg = str(info.value)
        assert "\n" not in msg
        assert f"pid {proc.pid} on {socket.gethostname()}" in msg and "started 20" in msg, msg
        assert str(run) in msg and "--run-dir" in msg
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=60)
    # the kernel released the lock with the killed process: the stale file does not block
    assert (run / runlock.LOCK_FILE).exists() and not runlock.is_locked(str(run))
    with runlock.acquire(str(run)) as lock:
        assert json.loads((run / runlock.LOCK_FILE).read_text())["pid"] == os.getpid()
        # re-entrant within one process (train_command and fit both take it)
        again = runlock.acquire(str(run))
        assert again is lock
        again.release()
        assert lock.held and runlock.is_locked(str(run))
    assert not lock.held and not runlock.is_locked(str(run))


def test_chief_rule_matches_tensorflow():
    from caae_tf.runlock import is_chief_from_tf_config as chief

    two = {"worker": ["127.0.0.1:1", "127.0.0.1:2"]}
    assert chief({}) is True
    assert chief({"cluster": two, "task": {"type": "worker", "index": 0}}) is True
    assert chief({"cluster": two, "task": {"type": "worker", "index": 1}}) is False
    with_chief = dict(two, chief=["127.0.0.1:3"])
    assert chief({"cluster": with_chief, "task": {"type": "chief", "index": 0}}) is True
    assert chief({"cluster": with_chief, "task": {"type": "worker", "index": 0}}) is False


@pytest.fixture(scope="module")
def tiny_csv(tmp_path_factory):
    return write_tiny_set(tmp_path_factory.mktemp("tiny_lock"), n=64)


def _train_cmd(data, run, sets, *extra):
    cmd = [sys.executable, "-m", "caae_tf", "train", "caae", "--data", data, "--run-dir", str(run), "--quiet"]
    for s in sets:
        cmd += ["--set", s]
    return cmd + list(extra)


def _latest(run) -> int | None:
    try:
        text = (run / "checkpoints" / "checkpoint").read_text()
    except FileNotFoundError:
        return None
    m = re.search(r'^model_checkpoint_path: "ckpt-(\d+)"', text, re.M)
    return int(m.group(1)) if m else None


@pytest.mark.slow
def test_second_trainer_refused_and_sigkilled_lock_does_not_block_resume(tmp_path, tiny_csv):
    run = tmp_path / "run"
    first = subprocess.Popen(_train_cmd(tiny_csv, run, TINY_CAAE + ["steps=100000"]), cwd=REPO, env=ENV,
                             stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        t0 = time.monotonic()
        while (_latest(run) or 0) < 3:  # training, with a checkpoint
            assert first.poll() is None, first.communicate()[1]
            assert time.monotonic() - t0 < TIMEOUT
            time.sleep(0.1)
        config_before = (run / "config.yaml").read_text()
        # --resume, so that the lock (not "already holds checkpoints") is what refuses it
        second = subprocess.run(_train_cmd(tiny_csv, run, TINY_CAAE + ["steps=100000"], "--resume"), cwd=REPO,
                                env=ENV, capture_output=True, text=True, timeout=TIMEOUT)
        assert second.returncode == 2, second.stderr
        lines = second.stderr.strip().splitlines()
        assert len(lines) == 1, second.stderr
        assert lines[0].startswith(f"caae-tf train: error: run dir {run} is in use by another trainer: "
                                   f"pid {first.pid} on {socket.gethostname()}, started "), lines[0]
        assert "Traceback" not in second.stderr and second.stdout == ""
        # the refused trainer wrote nothing into the run dir
        assert (run / "config.yaml").read_text() == config_before
        assert json.loads((run / ".lock").read_text())["pid"] == first.pid
    finally:
        first.send_signal(signal.SIGKILL)
        first.communicate(timeout=TIMEOUT)
    assert first.returncode == -signal.SIGKILL
    # kill -9 leaves the lock file, not the lock: --resume continues at once
    at = _latest(run)
    resumed = subprocess.run(_train_cmd(tiny_csv, run, TINY_CAAE + [f"steps={at + 2}"], "--resume"), cwd=REPO,
                             env=ENV, capture_output=True, text=True, timeout=TIMEOUT)
    assert resumed.returncode == 0, resumed.stderr
    assert f"completed at step {at + 2}" in resumed.stdout
    assert json.loads((run / ".lock").read_text())["pid"] != first.pid


def _free_ports(n: int) -> list[int]:
    socks = [socket.socket() for _ in range(n)]
    try:
        for s in socks:
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


COORDINATION_ERRORS = ("have crashed", "CoordinationServiceError", "unhealthy", "Shutdown barrier has failed",
                       "UNAVAILABLE", "Traceback")


@pytest.mark.slow
def test_two_workers_only_chief_writes_the_run_dir(tmp_path, tiny_csv):
    run = tmp_path / "run"
    ports = _free_ports(2)
    cluster = {"worker": [f"127.0.0.1:{p}" for p in ports]}
    tmp = tmp_path / "tmp"  # the workers' temporary dirs (TMPDIR): a non-chief writes there, and cleans up
    tmp.mkdir()
    sets = TINY_CAAE + ["steps=4", "checkpoint_every=2"]
    procs = []
    for index in (0, 1):
        env = dict(ENV, TF_CONFIG=json.dumps({"cluster": cluster, "task": {"type": "worker", "index": index}}),
                   TMPDIR=str(tmp), TF_CPP_MIN_LOG_LEVEL="0")
        if index == 0:
            # the chief finishes long after worker 1 (longer than the coordination service's 10 s heartbeat
            # timeout): before the end-of-training barrier, worker 1 left first and worker 0 logged
            # "The tasks have crashed"
            env["CAAE_TF_TEST_SLOW_CHECKPOINT"] = "15"
        procs.append(subprocess.Popen(_train_cmd(tiny_csv, run, sets, "--strategy", "multiworker", "--verbose"),
                                      cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True))
    outs = [p.communicate(timeout=TIMEOUT) for p in procs]
    for p, (out, err) in zip(procs, outs):
        assert p.returncode == 0, err[-4000:]
        assert "completed at step 4" in out and f"checkpoint {run}/checkpoints/ckpt-4" in out
        bad = [line for line in err.splitlines() if any(e in line for e in COORDINATION_ERRORS)]
        assert not bad, bad
    # one writer: one TensorBoard event file, each checkpoint once, no worker temp dir left behind
    events = list((run / "logs").iterdir())
    assert len(events) == 1 and events[0].name.startswith("events.out.tfevents"), events
    assert sorted(p.name for p in (run / "checkpoints").iterdir()) == [
        "checkpoint", "ckpt-2.data-00000-of-00001", "ckpt-2.index", "ckpt-4.data-00000-of-00001", "ckpt-4.index"]
    assert sorted(p.name for p in run.iterdir()) == [".lock", "checkpoints", "config.yaml", "logs", "samples",
                                                      "status.json"]
    assert list(tmp.iterdir()) == []
    cfg = (run / "config.yaml").read_text()
    assert "strategy: multiworker" in cfg and "replicas: 2" in cfg
    assert json.loads((run / "status.json").read_text())["step"] == 4
    # the checkpoints load
    import tensorflow as tf

    from caae_tf.train import load_model

    for n in (2, 4):
        reader = tf.train.load_checkpoint(str(run / "checkpoints" / f"ckpt-{n}"))
        assert int(reader.get_tensor("step/.ATTRIBUTES/VARIABLE_VALUE")) == n
    model, config = load_model(str(run))
    assert config.steps == 4 and len(model.weights) > 0
