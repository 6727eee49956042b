"""The regressors and the identity network train in the one training loop (caae_tf.loop) as the GANs do:
run-dir layout, exact resume (data position included), the run-dir lock, the NaN guard, and the loaders
reading both the checkpoint layout and the ``*.weights.h5`` of older run dirs."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest

tf = pytest.importorskip("tensorflow")

from caae_tf.config import RegressorConfig
from caae_tf.errors import TrainingError
from caae_tf.images import write_image


@pytest.fixture(scope="module")
def va_set(tmp_path_factory):
    """24 tiny images whose colour encodes (valence, arousal), 6 identities."""
    root = tmp_path_factory.mktemp("va")
    rng = np.random.default_rng(1)
    rows = ["path,identity,valence,arousal"]
    for i in range(24):
        v, a = rng.uniform(-1, 1, 2)
        img = np.zeros((32, 32, 3), np.uint8)
        img[..., 0] = int((v + 1) * 127)
        img[..., 1] = int((a + 1) * 127)
        img[8:16, 8:16, 2] = rng.integers(0, 255)
        write_image(root / f"img{i}.png", img)
        rows.append(f"img{i}.png,{i % 6},{v:.3f},{a:.3f}")
    (root / "labels.csv").write_text("\n".join(rows) + "\n")
    return str(root)


def _cfg(**kw):
    base = dict(arch="table2", image_size=32, width_multiplier=0.05, batch_size=4, checkpoint_every=2,
                log_every=1, mixed_precision="float32", deterministic=True, steps=6)
    base.update(kw)
    return RegressorConfig(**base)


def _net_weights(run_dir):
    from caae_tf.regressor_train import load_regressor

    return [np.array(v.numpy()) for v in load_regressor(str(run_dir)).model.weights]


def test_regressor_run_dir_and_exact_resume(va_set, tmp_path, op_determinism):
    from caae_tf.regressor_train import train_regressor

    full = train_regressor(va_set, str(tmp_path / "full"), _cfg(), verbose=0)
    assert full["steps"] == 6 and full["status"] == "completed"
    run = tmp_path / "part"
    part = train_regressor(va_set, str(run), _cfg(steps=3), verbose=0)
    assert part["steps"] == 3
    with pytest.raises(TrainingError, match="--resume"):  # a second fresh run into a trained run dir
        train_regressor(va_set, str(run), _cfg(), verbose=0)
    resumed = train_regressor(va_set, str(run), _cfg(), verbose=0, resume=True)
    assert resumed["steps"] == 6
    # the data position, the optimizer's momentum and the dropout seed came back: the same weights, bit for bit
    assert resumed["final_loss"] == full["final_loss"]
    for a, b in zip(_net_weights(tmp_path / "full"), _net_weights(run)):
        np.testing.assert_array_equal(b, a)
    assert sorted(p.name for p in run.iterdir()) == [
        ".lock", "checkpoints", "config.yaml", "logs", "status.json", "table3.csv", "table3.json",
        "val_predictions.csv"]
    assert json.loads((run / "status.json").read_text())["status"] == "completed"
    assert "resumed_from_step: 3" in (run / "config.yaml").read_text()


def test_regressor_run_dir_is_locked(va_set, tmp_path):
    from caae_tf import runlock

    run = tmp_path / "run"
    os.makedirs(run)
    held = runlock.acquire(str(run))
    try:
        # another process's lock is what a second trainer meets; within this process the lock is re-entrant,
        # so hold it through a child process
        import subprocess
        import sys

        code = ("import sys; from caae_tf.config import RegressorConfig; "
                "from caae_tf.regressor_train import train_regressor; from caae_tf.errors import TrainingError\n"
                f"try:\n    train_regressor({va_set!r}, {str(run)!r}, RegressorConfig(steps=1), verbose=0)\n"
                "except TrainingError as e:\n    print(type(e).__name__, e); sys.exit(2)\n")
        env = dict(os.environ, PYTHONPATH=os.pathsep.join([os.getcwd(), os.environ.get("PYTHONPATH", "")]))
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=300)
        assert out.returncode == 2 and "RunDirLocked" in out.stdout and "in use" in out.stdout, out.stdout + out.stderr
    finally:
        held.release()
    assert not (run / "checkpoints").exists()


def test_regressor_non_finite_loss_stops(va_set, tmp_path, monkeypatch):
    from caae_tf.loop import INJECT_NAN_ENV
    from caae_tf.regressor_train import train_regressor

    monkeypatch.setenv(INJECT_NAN_ENV, "2")
    with pytest.raises(TrainingError, match="non-finite loss at step 2: loss=nan"):
        train_regressor(va_set, str(tmp_path / "run"), _cfg(deterministic=False), verbose=0)
    assert json.loads((tmp_path / "run" / "status.json").read_text())["status"] == "non-finite"


def test_load_regressor_reads_old_weights_file(tmp_path):
    """Run dirs written before the one loop hold ``regressor.weights.h5``; they still load."""
    import keras

    from caae_tf.config import save_config
    from caae_tf.errors import ModelError
    from caae_tf.models.regressors import build_regressor
    from caae_tf.regressor_train import LEGACY_WEIGHTS_FILE, load_regressor

    cfg = _cfg()
    save_config(cfg, tmp_path / "config.yaml")
    with pytest.raises(ModelError, match="no checkpoint"):
        load_regressor(str(tmp_path))
    keras.utils.set_random_seed(3)
    net = build_regressor("table2", 32, 0.05)
    net.save_weights(str(tmp_path / LEGACY_WEIGHTS_FILE))
    x = np.random.default_rng(0).uniform(-1, 1, (2, 32, 32, 3)).astype(np.float32)
    want = np.concatenate([v.numpy() for v in net(x, training=False).values()], axis=1)
    np.testing.assert_allclose(load_regressor(str(tmp_path)).predict_va(x), want, atol=1e-6)


def test_identity_network_reads_old_weights_file(tmp_path):
    from caae_tf.models.vgg_face import RUN_META, RUN_WEIGHTS, VGGFace, load_identity_network

    vgg = VGGFace(0.0625, 3, 32, fc_units=16)
    vgg.build_weights()
    vgg.save_weights(str(tmp_path / RUN_WEIGHTS))
    (tmp_path / RUN_META).write_text(json.dumps({"width_multiplier": 0.0625, "num_classes": 3, "image_size": 32,
                                                 "fc_units": 16, "data": "x"}))
    ident = load_identity_network(str(tmp_path), input_size=32)
    assert len(ident.vgg.weights) == len(vgg.weights)
    for a, b in zip(vgg.weights, ident.vgg.weights):
        np.testing.assert_array_equal(b.numpy(), a.numpy())
    os.remove(tmp_path / RUN_WEIGHTS)
    from caae_tf.errors import ModelError

    with pytest.raises(ModelError, match="checkpoint"):
        load_identity_network(str(tmp_path))


@pytest.mark.slow
def test_regressor_mirrored_on_two_logical_cpus(va_set, tmp_path):
    """The supervised path under MirroredStrategy (2 logical CPUs): trains, logs the global-batch loss (not
    1/replicas of it), resumes, and its checkpoint loads."""
    import subprocess
    import sys
    import textwrap

    code = textwrap.dedent(f"""
        import json
        from caae_tf.strategy import configure_cpu_replicas, make_strategy
        configure_cpu_replicas(2)
        from caae_tf.config import RegressorConfig
        from caae_tf.regressor_train import load_regressor, train_regressor
        cfg = dict(arch="table2", image_size=32, width_multiplier=0.05, batch_size=4, checkpoint_every=2,
                   mixed_precision="float32", steps=1)
        single = train_regressor({va_set!r}, {str(tmp_path / 'single')!r}, RegressorConfig(**cfg), verbose=0)
        dist = make_strategy("mirrored")
        mirrored = train_regressor({va_set!r}, {str(tmp_path / 'mirrored')!r}, RegressorConfig(**cfg), verbose=0,
                                   strategy=dist)
        cfg["steps"] = 2
        resumed = train_regressor({va_set!r}, {str(tmp_path / 'mirrored')!r}, RegressorConfig(**cfg), verbose=0,
                                  strategy=dist, resume=True)
        pred = load_regressor({str(tmp_path / 'mirrored')!r}).predict_va(__import__("numpy").zeros((1, 32, 32, 3)))
        json.dump({{"replicas": dist.num_replicas_in_sync, "single": single["final_loss"],
                    "mirrored": mirrored["final_loss"], "resumed": resumed["steps"], "pred": pred.tolist()}},
                  open({str(tmp_path / 'out.json')!r}, "w"))
    """)
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=900)
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = json.loads((tmp_path / "out.json").read_text())
    assert out["replicas"] == 2 and out["resumed"] == 2
    # at initialisation the outputs are ~0, so the loss is ~mean |target| whatever the dropout masks
    assert out["mirrored"] == pytest.approx(out["single"], rel=0.05)
    assert np.all(np.isfinite(out["pred"]))
    assert "replicas: 2" in (tmp_path / "mirrored" / "config.yaml").read_text()


def test_train_commands_take_resume_like_train(va_set, tmp_path, capsys):
    """train-regressor (like train and train-identity, one set of run arguments) refuses a run dir with
    checkpoints unless --resume, and --resume continues that run to its steps."""
    from caae_tf import cli

    run = tmp_path / "r"
    args = ["train-regressor", "--data", va_set, "--run-dir", str(run), "--set", "image_size=32",
            "--set", "width_multiplier=0.05", "--set", "batch_size=4", "--set", "checkpoint_every=2",
            "--set", "mixed_precision=float32", "--quiet"]
    assert cli.main(args + ["--set", "steps=2"]) == 0
    assert cli.main(args + ["--set", "steps=4"]) != 0
    assert "--resume" in capsys.readouterr().err
    assert cli.main(args + ["--set", "steps=4", "--resume"]) == 0
    assert json.loads((run / "table3.json").read_text())["steps"] == 4
