"""SavedModel export of the cGAN generator (caae_tf.export.cgan), checked from a fresh TF-only process."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

tf = pytest.importorskip("tensorflow")
import keras

from caae_tf import __version__, labels
from caae_tf.config import save_config
from caae_tf.errors import ModelError
from caae_tf.export.cgan import METADATA_FILE, export_cgan, read_export_metadata
from caae_tf.images import to_uint8
from caae_tf.models.cgan import CGAN

from _train_helpers import tiny_cgan_model

Z_DIM = 8


def make_model(seed: int = 0) -> CGAN:
    return tiny_cgan_model(seed, z_dim=Z_DIM)


# The child process imports TensorFlow only: the SavedModel must be self-contained.
CHILD = textwrap.dedent(
    """
    import json, sys
    import numpy as np
    import tensorflow as tf

    d = sys.argv[1]
    m = tf.saved_model.load(d + "/sm")
    res = {"signatures": sorted(m.signatures.keys()), "errors": {}}
    z = tf.constant(np.load(d + "/z.npy"))
    w = tf.constant(np.load(d + "/w.npy"))
    e = tf.constant(np.load(d + "/e.npy"))
    a = tf.constant(np.load(d + "/a.npy"))
    serve, interp = m.signatures["serving_default"], m.signatures["interpolate"]
    out = serve(z=z, emotion_weights=w)["images"]
    res["serve_dtype"] = out.dtype.name
    np.save(d + "/out_serve.npy", out.numpy())
    np.save(d + "/out_interp.npy", interp(z=z, emotion=e, alpha=a)["images"].numpy())

    def attempt(name, fn):
        try:
            fn()
            res["errors"][name] = None
        except Exception as exc:  # record type + message
            res["errors"][name] = type(exc).__name__ + ": " + str(exc)

    n = int(z.shape[0])
    attempt("negative", lambda: serve(z=z, emotion_weights=tf.constant([[1.2, -0.2, 0, 0, 0, 0]] * n, tf.float32)))
    attempt("sum", lambda: serve(z=z, emotion_weights=w * 0.9))
    attempt("sum_ok_within_tol", lambda: serve(z=z, emotion_weights=w * (1 + 5e-4)))
    attempt("rows", lambda: serve(z=z[:1], emotion_weights=w))
    attempt("emotion", lambda: interp(z=z, emotion=tf.fill([n], 6), alpha=a))
    attempt("emotion_neg", lambda: interp(z=z, emotion=tf.fill([n], -1), alpha=a))
    attempt("alpha", lambda: interp(z=z, emotion=e, alpha=a + 1.5))
    attempt("dtype", lambda: serve(z=tf.cast(z, tf.int32), emotion_weights=w))
    attempt("width", lambda: serve(z=z, emotion_weights=w[:, :5]))
    res["caae_tf_imported"] = any(k.startswith("caae_tf") for k in sys.modules)
    res["keras_imported"] = "keras" in sys.modules
    print("RESULT" + json.dumps(res))
    """
)


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    model = make_model()
    d = tmp_path_factory.mktemp("cgan_export")
    out = export_cgan(model, d / "sm")
    assert out == str(d / "sm")
    rng = np.random.default_rng(0)
    n = 7
    z = rng.standard_normal((n, Z_DIM)).astype(np.float32)
    e = np.array([0, 1, 2, 3, 4, 5, 5], np.int32)
    a = np.array([0.0, 0.1, 0.5, 0.7, 1.0, 0.3, 0.95], np.float32)
    eye = np.eye(6, dtype=np.float32)
    w = ((1 - a)[:, None] * eye[0] + a[:, None] * eye[e]).astype(np.float32)
    for name, arr in {"z": z, "w": w, "e": e, "a": a}.items():
        np.save(d / f"{name}.npy", arr)
    proc = subprocess.run([sys.executable, "-c", CHILD, str(d)], capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stderr[-3000:]
    line = [ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT")][-1]
    res = json.loads(line[len("RESULT"):])
    return {"model": model, "dir": d, "z": z, "w": w, "e": e, "a": a, "child": res}


def test_child_process_is_tensorflow_only(exported):
    res = exported["child"]
    assert res["caae_tf_imported"] is False
    assert res["signatures"] == ["interpolate", "serving_default"]
    assert res["serve_dtype"] == "uint8"


def test_signatures_match_in_process_model(exported):
    d, model = exported["dir"], exported["model"]
    ref = to_uint8(model.generate(exported["z"], exported["w"]).numpy())
    out = np.load(d / "out_serve.npy")
    assert out.shape == (7, 64, 64, 3) and out.dtype == np.uint8
    assert np.abs(out.astype(int) - ref).max() <= 1
    assert np.mean(out == ref) > 0.99
    assert len(np.unique(out)) > 50  # a real image, not a constant grey
    # interpolate(z, e, α) == serving_default(z, (1-α)e_0 + α e_e)
    interp = np.load(d / "out_interp.npy")
    assert np.abs(interp.astype(int) - out).max() <= 1
    # rows with different labels differ (the label reaches the exported G)
    assert np.abs(out[4].astype(int) - out[0]).max() > 2


def test_bad_inputs_raise_readable_errors(exported):
    errs = exported["child"]["errors"]
    assert errs["sum_ok_within_tol"] is None
    assert "InvalidArgumentError" in errs["negative"] and ">= 0" in errs["negative"]
    assert "sum to 1" in errs["sum"] and "not renormalised" in errs["sum"]
    assert "same number of rows" in errs["rows"]
    assert "emotion must be an index in 0..5" in errs["emotion"]
    assert "emotion must be an index in 0..5" in errs["emotion_neg"]
    assert "alpha must lie in [0, 1]" in errs["alpha"]
    # rank/dtype/width errors come from the signature's TensorSpec
    assert errs["dtype"] is not None and errs["width"] is not None


def test_metadata_file(exported):
    meta = read_export_metadata(exported["dir"] / "sm")
    with open(exported["dir"] / "sm" / METADATA_FILE) as fh:
        assert json.load(fh) == meta
    assert meta["model"] == "cgan" and meta["image_size"] == 64 and meta["z_dim"] == Z_DIM
    assert meta["emotions"] == list(labels.CGAN_EMOTIONS)
    assert meta["caae_tf_version"] == __version__
    assert meta["source_run_dir"] is None
    assert meta["config"]["g_filters"] == [32, 16, 8, 8]


def test_export_from_run_dir_and_errors(tmp_path):
    from caae_tf.train import variable_map

    model = make_model(seed=1)
    run = tmp_path / "run"
    os.makedirs(run / "checkpoints")
    save_config(model.cfg, run / "config.yaml")
    ckpt = tf.train.Checkpoint(model=variable_map(model.weights))
    tf.train.CheckpointManager(ckpt, str(run / "checkpoints"), 1).save()
    out = export_cgan(str(run), tmp_path / "sm")
    meta = read_export_metadata(out)
    assert meta["source_run_dir"] == os.path.abspath(run)
    loaded = tf.saved_model.load(out)
    z = np.random.default_rng(1).standard_normal((2, Z_DIM)).astype(np.float32)
    got = loaded.interpolate(z=tf.constant(z), emotion=tf.constant([5, 1]), alpha=tf.constant([1.0, 0.4]))
    w = np.stack([np.eye(6)[5], 0.6 * np.eye(6)[0] + 0.4 * np.eye(6)[1]]).astype(np.float32)
    ref = to_uint8(model.generate(z, w).numpy())
    assert np.abs(got["images"].numpy().astype(int) - ref).max() <= 1

    with pytest.raises(ModelError, match="not found"):
        export_cgan(str(tmp_path / "missing"), tmp_path / "x")
    with pytest.raises(ModelError, match="expected a cGAN"):
        export_cgan(keras.Sequential([keras.layers.Dense(1)]), tmp_path / "y")
