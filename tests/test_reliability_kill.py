"""Reliability of the training driver under kills, signals, NaNs and failing disks (through the CLI).

What the checkpoint format guarantees (verified against TF 2.21's ``checkpoint_management.py`` /
``checkpoint.py``, and exercised below): ``CheckpointManager.save`` first writes the new checkpoint's
``ckpt-N.data-*`` (into ``ckpt-N_temp/`` and merged by rename) and ``ckpt-N.index`` under their own names,
and only afterwards — in a write callback — rewrites the ``checkpoints/checkpoint`` state file with
``file_io.atomic_write_string_to_file`` (temp file + rename). A process killed at any moment therefore
leaves the state file naming the last *complete* checkpoint; a half-written ``ckpt-N`` is unlisted and
overwritten when the resumed run reaches step N again. The one transient inconsistency TF allows is inside
``_sweep``: old checkpoints are deleted (``.index`` first) after the state file already lists the new
one, so a kill there can leave the *oldest* listed checkpoint without its ``.index`` — TF's manager ignores
such entries (``checkpoint_exists`` looks for the ``.index``) and never restores from them; the tests
allow exactly that case and nothing else. ``config.yaml`` (read back on ``--resume``) is written
atomically too (caae_tf.atomic).

The runs use ``deterministic=true`` (op determinism): without it even two uninterrupted runs differ on a
busy CPU, so "resumed == uninterrupted" could not be checked exactly.

Test hooks in caae_tf/train.py: ``CAAE_TF_TEST_SLOW_CHECKPOINT=S`` pauses each save between "files
written" and "state file updated" (so a kill can be aimed into that window) and
``CAAE_TF_INJECT_NAN_AT_STEP=N[:TERM]`` makes the reported loss TERM NaN at step N.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from _train_helpers import TINY_CAAE, TINY_CGAN, write_tiny_set

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ENV = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", CUDA_VISIBLE_DEVICES="", PYTHONUNBUFFERED="1")
ENV.pop("CAAE_TF_TEST_SLOW_CHECKPOINT", None)
ENV.pop("CAAE_TF_INJECT_NAN_AT_STEP", None)
TINY = {"caae": TINY_CAAE, "cgan": TINY_CGAN}
STEP_KEY = "step/.ATTRIBUTES/VARIABLE_VALUE"


#: Generous bound on every wait for a child process: a loaded 2-core machine (load average 8) runs these
#: tiny trainings 5-10x slower than a quiet one; a hang still fails the test, just later.
TIMEOUT = 900.0


@pytest.fixture(scope="module")
def tiny_csv(tmp_path_factory):
    # 64 images = 16 batches per epoch: the driver's throw-away first-batch iterator never prefetches across an
    # epoch boundary (with 16 images it sometimes did under load, which shifted that run's data order)
    return write_tiny_set(tmp_path_factory.mktemp("tiny_kill"), n=64)


def _cmd(kind: str, data: str, run: str, sets: list[str], resume: bool) -> list[str]:
    cmd = [sys.executable, "-m", "caae_tf", "train", kind, "--data", data, "--run-dir", run, "--quiet"]
    for s in sets:
        cmd += ["--set", s]
    return cmd + (["--resume"] if resume else [])


def _launch(cmd, **env) -> subprocess.Popen:
    return subprocess.Popen(cmd, cwd=REPO, env=dict(ENV, **env), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)


def _ckpt_state(run: str) -> tuple[int | None, list[int]]:
    """(latest step, listed steps) from checkpoints/checkpoint (a plain-text proto; atomically replaced)."""
    path = os.path.join(run, "checkpoints", "checkpoint")
    try:
        with open(path, encoding="utf-8") as fh:
            text = fh.read()
    except FileNotFoundError:
        return None, []
    latest = re.search(r'^model_checkpoint_path: "ckpt-(\d+)"', text, re.M)
    listed = [int(n) for n in re.findall(r'^all_model_checkpoint_paths: "ckpt-(\d+)"', text, re.M)]
    assert latest, f"state file without model_checkpoint_path: {text!r}"
    return int(latest.group(1)), listed


def _wait(pred, proc: subprocess.Popen, timeout: float = TIMEOUT, poll: float = 0.003) -> bool:
    """Poll ``pred`` until true (→ True) or the process exits first (→ False)."""
    t0 = time.monotonic()
    while not pred():
        if proc.poll() is not None:
            return bool(pred())
        if time.monotonic() - t0 > timeout:
            proc.kill()
            raise AssertionError(f"timed out after {timeout}s waiting on {proc.args}")
        time.sleep(poll)
    return True


def _resumed_from(run: str) -> int | None:
    try:
        with open(os.path.join(run, "config.yaml"), encoding="utf-8") as fh:
            m = re.search(r"^#\s+resumed_from_step: (\d+)", fh.read(), re.M)
    except FileNotFoundError:
        return None
    return int(m.group(1)) if m else None


def _check_checkpoints(run: str) -> tuple[int | None, list[int]]:
    """Every listed checkpoint is readable and holds its own step; config.yaml parses."""
    import tensorflow as tf

    from caae_tf.config import load_config

    latest, listed = _ckpt_state(run)
    ckdir = os.path.join(run, "checkpoints")
    if latest is not None:
        assert latest in listed
        for n in listed:
            prefix = os.path.join(ckdir, f"ckpt-{n}")
            if not os.path.exists(prefix + ".index"):
                # only allowed mid-_sweep (see module docstring): an old entry, never the latest
                assert n < latest and n == min(listed), (n, latest, listed)
                continue
            reader = tf.train.load_checkpoint(prefix)
            assert int(reader.get_tensor(STEP_KEY)) == n
            for name, dtype in reader.get_variable_to_dtype_map().items():
                if dtype != tf.variant:  # the tf.data iterator state is a variant (not readable as numpy)
                    reader.get_tensor(name)  # every tensor readable (data file complete)
    if os.path.exists(os.path.join(run, "config.yaml")):
        load_config(os.path.join(run, "config.yaml"))  # never truncated
    return latest, listed


def _moving_stat_keys(run: str) -> set[str]:
    from caae_tf.train import load_model

    model, _ = load_model(run)
    return {f"model/v{i:04d}/.ATTRIBUTES/VARIABLE_VALUE" for i, w in enumerate(model.weights) if "moving_" in w.path}


def _same_checkpoint(a: str, b: str, what: str, moving: set[str]) -> None:
    """Every number in checkpoint ``b`` equals ``a`` exactly: weights, optimizer slots, step, seed states and
    the BatchNorm moving statistics (``moving``: their keys, named in the message). deterministic=true makes
    runs bit-identical; a statistic that was not restored on resume, or updated in another order, differs."""
    import tensorflow as tf

    ra, rb = tf.train.load_checkpoint(a), tf.train.load_checkpoint(b)
    dtypes = ra.get_variable_to_dtype_map()
    assert dtypes.keys() == rb.get_variable_to_dtype_map().keys()
    assert moving and moving <= dtypes.keys()  # both GANs have BatchNorm layers
    for name, dtype in dtypes.items():
        if dtype.is_floating or dtype.is_integer:
            kind = "BN moving statistic" if name in moving else "value"
            np.testing.assert_array_equal(rb.get_tensor(name), ra.get_tensor(name),
                                          err_msg=f"{b} != {a} at {name} ({kind}; {what})")


def _weights(run: str) -> list[np.ndarray]:
    from caae_tf.train import load_model

    model, _ = load_model(run)
    return [np.array(v.numpy()) for v in model.weights]


def _kill_and_resume(kind, data, tmp_path, *, steps, seed, modes):
    """Train ``kind`` with SIGKILLs at the moments ``modes`` pick, resuming each time; returns (run, log)."""
    rng = np.random.default_rng(seed)
    # deterministic=true: without op determinism, multi-threaded CPU kernels round differently under load and
    # even two uninterrupted runs can differ (measured: max |Δw| 0.036 after 40 steps, 3 concurrent runs)
    sets = TINY[kind] + [f"steps={steps}", "checkpoint_every=2", "log_every=5", "deterministic=true"]
    ref_dir, run = str(tmp_path / "reference"), str(tmp_path / "killed")
    # the uninterrupted reference run, in parallel with the first killed one
    ref = _launch(_cmd(kind, data, ref_dir, sets + ["keep_checkpoints=1000"], resume=False))
    ref_done = []

    def same_as_reference(step: int, what: str) -> None:
        """The killed run's ckpt-STEP equals the uninterrupted run's (model weights and optimizer slots)."""
        if not ref_done:
            rout, rerr = ref.communicate(timeout=TIMEOUT)
            assert ref.returncode == 0, rerr
            ref_done.append(_moving_stat_keys(ref_dir))
        _same_checkpoint(os.path.join(ref_dir, "checkpoints", f"ckpt-{step}"),
                         os.path.join(run, "checkpoints", f"ckpt-{step}"), f"{what}; kills so far: {log}",
                         moving=ref_done[0])
    log, last, starts = [], 0, []
    for i, mode in enumerate(modes):
        at_launch, _ = _ckpt_state(run)
        at_launch = at_launch or 0
        t_launch = time.time()
        extra = {"CAAE_TF_TEST_SLOW_CHECKPOINT": "5"} if mode == "ckpt-write" else {}  # a 5 s window (loaded machines)
        proc = _launch(_cmd(kind, data, run, sets, resume=i > 0), **extra)
        killed_in_window = None
        if mode == "startup":  # during TF import / restore / config write / tracing
            delay = float(rng.uniform(1.0, 9.0))
            # ...but never later than the first new checkpoint: a quiet machine finishes a tiny run in seconds
            _wait(lambda t0=t_launch, delay=delay, at=at_launch: time.time() - t0 > delay
                  or (_ckpt_state(run)[0] or 0) > at, proc)
        elif mode == "train":  # between steps or inside one, a random number of checkpoints later
            target = min(at_launch + 2 * int(rng.integers(1, 6)), steps - 10)
            assert _wait(lambda target=target: (_ckpt_state(run)[0] or 0) >= target, proc), proc.communicate()
            time.sleep(float(rng.uniform(0.0, 0.08)))
        elif mode == "ckpt-write":  # inside the save: files written, state file not yet updated
            k = int(rng.integers(1, 3))  # the k-th save of this process (the final save at `steps` at the latest)
            target = min(at_launch + 2 * k, steps)
            assert target > at_launch, f"nothing left to save after step {at_launch}"

            def new_index(target=target, t_launch=t_launch):
                p = os.path.join(run, "checkpoints", f"ckpt-{target}.index")
                return os.path.exists(p) and os.path.getmtime(p) > t_launch  # not a stale one from an earlier kill
            assert _wait(new_index, proc), proc.communicate()
            killed_in_window = target
        else:  # pragma: no cover
            raise ValueError(mode)
        proc.kill()
        out, err = proc.communicate(timeout=TIMEOUT)
        assert proc.returncode == -signal.SIGKILL, (mode, proc.returncode, out, err)
        assert "Traceback" not in err, err
        latest, listed = _check_checkpoints(run)
        latest = latest or 0
        assert latest >= last, f"step counter went backwards: {last} -> {latest}"
        if killed_in_window is not None:
            # the kill landed after ckpt-N's files but before the state update: N is not listed
            assert latest < killed_in_window and killed_in_window not in listed, (latest, listed)
        if latest > at_launch:  # this process trained: it must have resumed from the last complete checkpoint
            starts.append(_resumed_from(run))
            assert starts[-1] == at_launch, (starts[-1], at_launch)
        log.append((mode, at_launch, latest, round(time.time() - t_launch, 1)))
        if latest > at_launch:
            same_as_reference(latest, f"after kill {i + 1} ({mode})")
        last = latest
    # resume to the end
    at_launch = _ckpt_state(run)[0] or 0
    proc = _launch(_cmd(kind, data, run, sets, resume=True))
    out, err = proc.communicate(timeout=TIMEOUT)
    assert proc.returncode == 0, err
    assert "Traceback" not in err
    assert f"completed at step {steps}" in out
    assert _resumed_from(run) == at_launch
    assert json.loads(open(os.path.join(run, "status.json")).read())["step"] == steps
    _check_checkpoints(run)
    same_as_reference(steps, "final")  # every model weight and optimizer slot of the checkpoints
    from caae_tf.train import load_model

    (m_ref, _), (m_run, _) = load_model(ref_dir), load_model(run)
    for a, b in zip(m_ref.weights, m_run.weights):  # and what inference loads
        np.testing.assert_array_equal(np.asarray(b.numpy()), np.asarray(a.numpy()), err_msg=a.path)
    return run, log


@pytest.mark.slow
@pytest.mark.parametrize("kind, seed", [("caae", 1), ("cgan", 2)])
def test_sigkill_anywhere_resumes_to_identical_weights(tmp_path, tiny_csv, kind, seed):
    rng = np.random.default_rng(seed)
    # 5 kills: one into a checkpoint write, one while training, two in start-up (import, restore, config
    # write, tracing) and one more of a random kind; in a seeded random order
    modes = ["ckpt-write", "train", "startup", "startup", str(rng.choice(["train", "ckpt-write", "startup"]))]
    modes = [str(m) for m in rng.permutation(modes)]
    run, log = _kill_and_resume(kind, tiny_csv, tmp_path, steps=60, seed=seed, modes=modes)
    print(f"{kind} kills (mode, resumed from, last complete step, seconds):", log)
    assert sum(1 for m, *_ in log if m == "ckpt-write") >= 1 and len(log) == 5


# ------------------------------------------------------------------------------------------ signals

@pytest.mark.slow
def test_sigterm_and_sigint_checkpoint_and_exit_zero(tmp_path, tiny_csv):
    run = str(tmp_path / "run")
    # no periodic checkpoint at all: every checkpoint in this run is one a signal made. sample_every=1 writes
    # samples/va_sweep_<step>.png after every step, which is how the test sees the run's progress.
    sets = TINY_CAAE + ["steps=100000", "checkpoint_every=100000", "log_every=5", "sample_every=1"]

    def reached(step: int):
        return lambda: os.path.exists(os.path.join(run, "samples", f"va_sweep_{step:07d}.png"))

    last = 0
    for i, sig in enumerate((signal.SIGTERM, signal.SIGINT)):
        proc = _launch(_cmd("caae", tiny_csv, run, sets, resume=i > 0))
        assert _wait(reached(last + 3), proc), proc.communicate()  # this process trained 3 steps
        t0 = time.monotonic()
        proc.send_signal(sig)
        out, err = proc.communicate(timeout=TIMEOUT)  # a stop that hangs fails here
        assert proc.returncode == 0, (sig, proc.returncode, err)
        print(f"{sig!r}: checkpoint + exit took {time.monotonic() - t0:.2f}s")
        m = re.search(r"interrupted at step (\d+); checkpoint (\S+)", out)
        assert m, out
        step = int(m.group(1))
        assert step >= last + 3 and m.group(2).endswith(f"ckpt-{step}")
        assert os.path.exists(os.path.join(run, "samples", f"va_sweep_{step:07d}.png"))  # it finished that step
        assert not os.path.exists(os.path.join(run, "samples", f"va_sweep_{step + 1:07d}.png"))  # and stopped
        latest, _ = _check_checkpoints(run)
        assert latest == step  # the stop wrote its own checkpoint at the current step
        status = json.loads(open(os.path.join(run, "status.json")).read())
        assert status["status"] == "interrupted" and status["step"] == step
        if i:
            assert _resumed_from(run) == last
        last = step


# ------------------------------------------------------------------------------------------ NaN guard

@pytest.mark.slow
def test_nan_through_cli_keeps_last_good_checkpoint(tmp_path, tiny_csv):
    run = str(tmp_path / "run")
    sets = TINY_CAAE + ["steps=20", "checkpoint_every=2", "log_every=5"]
    proc = subprocess.run(_cmd("caae", tiny_csv, run, sets, resume=False), cwd=REPO, capture_output=True,
                          text=True, timeout=TIMEOUT, env=dict(ENV, CAAE_TF_INJECT_NAN_AT_STEP="7:loss_rec"))
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr
    lines = [ln for ln in proc.stderr.splitlines() if ln.startswith("caae-tf train: error:")]
    assert len(lines) == 1, proc.stderr
    assert "non-finite loss at step 7: loss_rec=nan" in lines[0]
    assert lines[0].endswith(os.path.join(run, "checkpoints", "ckpt-6"))
    latest, _ = _check_checkpoints(run)
    assert latest == 6
    ckdir = os.path.join(run, "checkpoints")
    assert not [f for f in os.listdir(ckdir) if f.startswith("ckpt-7")], os.listdir(ckdir)  # nothing saved at 7
    import tensorflow as tf

    reader = tf.train.load_checkpoint(os.path.join(ckdir, "ckpt-6"))  # what inference loads is step 6, as saved
    for i, w in enumerate(_weights(run)):
        np.testing.assert_array_equal(w, reader.get_tensor(f"model/v{i:04d}/.ATTRIBUTES/VARIABLE_VALUE"))
    status = json.loads(open(os.path.join(run, "status.json")).read())
    assert status["status"] == "non-finite" and status["step"] == 7 and status["losses"]["loss_rec"] == "nan"


# ------------------------------------------------------------------------------------------ run dir / disk

def _cli(argv, capsys):
    from caae_tf import cli

    rc = cli.main(argv)
    out, err = capsys.readouterr()
    assert "Traceback" not in err
    return rc, out, err


@pytest.mark.parametrize("make", ["parent_is_file", "is_file"])
def test_unusable_run_dir_fails_before_training(tmp_path, tiny_csv, capsys, make):
    f = tmp_path / "a_file"
    f.write_text("x")
    run = f / "run" if make == "parent_is_file" else f  # works as root too (permissions would not)
    rc, out, err = _cli(["train", "caae", "--data", tiny_csv, "--run-dir", str(run), "--quiet"]
                        + [a for s in TINY_CAAE for a in ("--set", s)], capsys)
    assert rc == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("caae-tf train: error:") and str(run) in lines[0]
    assert ("not writable" if make == "parent_is_file" else "not a directory") in lines[0]
    assert not out.strip()


def _train_inprocess(tiny_csv, run, steps, **kw):
    from caae_tf.train import train_command

    return train_command("caae", tiny_csv, str(run), overrides=TINY_CAAE + [f"steps={steps}", "checkpoint_every=2",
                                                                          "log_every=1000"],
                         progress=False, **kw)


@pytest.mark.slow
def test_failed_checkpoint_write_keeps_previous(tmp_path, tiny_csv):
    """A save that fails half-way (data written, index not) is a clear error and leaves ckpt-2 intact."""
    from caae_tf.errors import TrainingError
    from caae_tf.train import load_model

    run = tmp_path / "run"
    (run / "checkpoints").mkdir(parents=True)
    (run / "checkpoints" / "ckpt-4.index").mkdir()  # the index of step 4 cannot be written
    with pytest.raises(TrainingError) as exc:
        _train_inprocess(tiny_csv, run, 8)
    msg = str(exc.value)
    assert "could not write the checkpoint of step 4" in msg and "{{" not in msg and "\n" not in msg
    assert msg.split("the last complete checkpoint is ")[1].startswith(str(run / "checkpoints" / "ckpt-2"))
    assert list((run / "checkpoints").glob("ckpt-4.data-*")), "the failure should come after the data write"
    assert _check_checkpoints(str(run))[0] == 2
    load_model(str(run))
    assert json.loads((run / "status.json").read_text())["status"] == "checkpoint-failed"
    # (resuming after the failure, over the partial files, is exercised by test_disk_full_on_real_tmpfs
    # and by the kill tests)


@pytest.fixture
def tiny_tmpfs(tmp_path):
    """A 900 kB tmpfs (room for config + one tiny checkpoint of ~0.57 MB, not two); skips when mounting is
    not permitted (non-root CI)."""
    mnt = tmp_path / "tmpfs"
    mnt.mkdir()
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=900k", "tmpfs", str(mnt)], capture_output=True)
    if r.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {r.stderr.decode().strip()}")
    try:
        yield mnt
    finally:
        subprocess.run(["umount", "-l", str(mnt)], capture_output=True)


@pytest.mark.slow
def test_disk_full_on_real_tmpfs(tiny_tmpfs, tiny_csv):
    from caae_tf.errors import TrainingError

    run = tiny_tmpfs / "run"
    with pytest.raises(TrainingError, match=r"could not write the checkpoint of step 4 \(.*No space left on device"):
        _train_inprocess(tiny_csv, run, 8)
    assert _check_checkpoints(str(run))[0] == 2
    # free space (grow the tmpfs) and resume from the intact checkpoint
    subprocess.run(["mount", "-o", "remount,size=8m", str(tiny_tmpfs)], check=True)
    res = _train_inprocess(tiny_csv, run, 8, resume=True)
    assert res.step == 8 and _resumed_from(str(run)) == 2
