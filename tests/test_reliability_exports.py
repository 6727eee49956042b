"""Exported SavedModels and ``caae-tf edit`` refuse bad inputs with readable errors (never a crash).

Two ways to call a SavedModel are checked: the restored ``tf.function`` attributes (``loaded.serve(...)``)
validate arguments against their ``input_signature`` in Python and raise ``TypeError`` naming the expected
``TensorSpec``; the ``loaded.signatures[...]`` concrete functions (what TF Serving calls) do not check
static shapes, so the export adds runtime checks that must run *before* the model (a wrong rank used to
abort the whole process inside a oneDNN conv kernel). Wrong-rank calls are therefore made in a child
process, so that a regression fails this test instead of killing the test session.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from caae_tf import cli
from caae_tf.images import read_image, write_image

from _train_helpers import TINY_CAAE, TINY_CGAN

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SPEC = "TensorSpec(shape=(None, 32, 32, 3), dtype=tf.uint8, name='images')"


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    """(CAAE SavedModel dir, CAAE model, run dir) for a tiny untrained CAAE, and a tiny cGAN SavedModel."""
    import tensorflow as tf

    from caae_tf.config import CAAEConfig, CGANConfig, apply_overrides, save_config
    from caae_tf.export.caae import export_caae
    from caae_tf.export.cgan import export_cgan
    from caae_tf.models.caae import CAAE
    from caae_tf.models.cgan import CGAN
    from caae_tf.train import dummy_batch, variable_map

    root = tmp_path_factory.mktemp("exports")
    cfg = apply_overrides(CAAEConfig(), TINY_CAAE)
    model = CAAE(cfg)
    model.build_all(dummy_batch(cfg, 1))
    export_caae(model, str(root / "caae_sm"))
    run = root / "caae_run"
    run.mkdir()
    save_config(cfg, run / "config.yaml")
    tf.train.CheckpointManager(tf.train.Checkpoint(model=variable_map(model.weights)), str(run / "checkpoints"),
                               1).save()
    gcfg = apply_overrides(CGANConfig(), TINY_CGAN)
    g = CGAN(gcfg)
    g.build_all(dummy_batch(gcfg, 1))
    export_cgan(g, str(root / "cgan_sm"))
    return {"caae": root / "caae_sm", "model": model, "run": run, "cgan": root / "cgan_sm"}


def test_restored_functions_name_the_expected_tensorspec(exported):
    import tensorflow as tf

    m = tf.saved_model.load(str(exported["caae"]))
    good_x, good_va = tf.zeros([1, 32, 32, 3], tf.uint8), tf.zeros([1, 2])
    cases = [
        ((tf.zeros([32, 32, 3], tf.uint8), good_va), SPEC),  # rank 3
        ((tf.zeros([1, 16, 16, 3], tf.uint8), good_va), SPEC),  # size
        ((tf.zeros([1, 32, 32, 3], tf.float32), good_va), SPEC),  # dtype
        ((good_x, tf.zeros([1, 3])), "TensorSpec(shape=(None, 2), dtype=tf.float32, name='valence_arousal')"),
        ((good_x, tf.zeros([1, 2], tf.float64)), "dtype=tf.float32, name='valence_arousal'"),
    ]
    for args, spec in cases:
        with pytest.raises((TypeError, ValueError)) as info:
            m.serve(*args)
        assert spec in str(info.value), str(info.value)[:400]
    with pytest.raises((TypeError, ValueError), match=r"TensorSpec\(shape=\(None, 32, 32, 3\), dtype=tf.float32"):
        m.encode_float(tf.zeros([1, 32, 32], tf.float32))
    assert m.serve(good_x, good_va)["edited"].shape == (1, 32, 32, 3)


def test_labels_outside_range_are_readable_errors(exported):
    import tensorflow as tf

    m = tf.saved_model.load(str(exported["caae"]))
    x = tf.zeros([1, 32, 32, 3], tf.uint8)
    for sig in ("serving_default", "edit_float"):
        f = m.signatures[sig]
        img = x if sig == "serving_default" else tf.zeros([1, 32, 32, 3])
        for va, msg in (([[1.5, 0.0]], r"valence_arousal must lie in \[-1, 1\]"),
                        ([[0.0, -1.0001]], r"valence_arousal must lie in \[-1, 1\]"),
                        ([[float("nan"), 0.0]], "valence_arousal must be finite"),
                        ([[0.0, float("inf")]], "valence_arousal must be finite")):
            with pytest.raises(tf.errors.InvalidArgumentError, match=msg):
                f(images=img, valence_arousal=tf.constant(va, tf.float32))
        out = f(images=img, valence_arousal=tf.constant([[1.0, -1.0]]))  # the bounds themselves are fine
        assert out["edited"].shape == (1, 32, 32, 3)


def test_editor_rejects_out_of_range_before_tensorflow(exported):
    from caae_tf.edit import Editor
    from caae_tf.errors import UserError

    ed = Editor.load(str(exported["caae"]))
    x = np.zeros((2, 32, 32, 3), np.float32)
    with pytest.raises(ValueError, match=r"must lie in \[-1, 1\]"):
        ed.edit(x, np.array([0.0, 2.0]))
    with pytest.raises(ValueError, match="must be finite"):
        ed.edit(x, np.array([np.nan, 0.0]))
    with pytest.raises(UserError, match=r"editor expects images \[N,32,32,3\]"):
        ed.edit(np.zeros((2, 16, 16, 3), np.float32), np.array([0.0, 0.0]))
    np.testing.assert_allclose(ed.edit(x, np.array([0.5, -0.5])),
                               np.asarray(exported["model"].edit(x, np.array([[0.5, -0.5]] * 2, np.float32))),
                               atol=1e-5)


_CHILD = textwrap.dedent("""
    import json, sys
    import numpy as np
    import tensorflow as tf
    caae = tf.saved_model.load(sys.argv[1]).signatures
    cgan = tf.saved_model.load(sys.argv[2]).signatures
    u8, f32 = tf.uint8, tf.float32
    Z = lambda *s: tf.zeros(s, f32)
    U = lambda *s: tf.zeros(s, u8)
    w = tf.one_hot([0], 6)
    cases = {
        "caae rank3": lambda: caae["serving_default"](images=U(32, 32, 3), valence_arousal=Z(1, 2)),
        "caae rank5": lambda: caae["serving_default"](images=U(1, 1, 32, 32, 3), valence_arousal=Z(1, 2)),
        "caae rank2": lambda: caae["edit_float"](images=Z(32, 96), valence_arousal=Z(1, 2)),
        "caae size": lambda: caae["serving_default"](images=U(1, 64, 64, 3), valence_arousal=Z(1, 2)),
        "caae channels": lambda: caae["encode"](images=U(1, 32, 32, 4)),
        "caae encode_float rank3": lambda: caae["encode_float"](images=Z(2, 32, 3)),
        "caae va rank1": lambda: caae["serving_default"](images=U(1, 32, 32, 3), valence_arousal=Z(2)),
        "caae va width": lambda: caae["serving_default"](images=U(1, 32, 32, 3), valence_arousal=Z(1, 3)),
        "caae dtype": lambda: caae["serving_default"](images=Z(1, 32, 32, 3), valence_arousal=Z(1, 2)),
        "caae ok": lambda: caae["serving_default"](images=U(2, 32, 32, 3), valence_arousal=Z(2, 2)),
        "cgan z width": lambda: cgan["serving_default"](z=Z(1, 5), emotion_weights=w),
        "cgan z rank3": lambda: cgan["serving_default"](z=Z(1, 8, 1), emotion_weights=w),
        "cgan weights width": lambda: cgan["serving_default"](z=Z(1, 8), emotion_weights=Z(1, 5)),
        "cgan weights sum": lambda: cgan["serving_default"](z=Z(1, 8), emotion_weights=tf.fill([1, 6], 0.5)),
        "cgan dtype": lambda: cgan["serving_default"](z=tf.zeros([1, 8], tf.float64), emotion_weights=w),
        "cgan emotion index": lambda: cgan["interpolate"](z=Z(1, 8), emotion=tf.constant([6]), alpha=Z(1)),
        "cgan ok": lambda: cgan["serving_default"](z=Z(1, 8), emotion_weights=w),
    }
    out = {}
    for name, call in cases.items():
        try:
            res = call()
            out[name] = ["ok", str({k: v.shape.as_list() for k, v in res.items()})]
        except Exception as e:
            msg = getattr(e, "message", None) or str(e)
            out[name] = [type(e).__name__, " ".join(msg.split())[:1500]]
    print("RESULT " + json.dumps(out))
""")


def test_signatures_reject_bad_shapes_without_crashing(exported, tmp_path):
    script = tmp_path / "child.py"
    script.write_text(_CHILD)
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", CUDA_VISIBLE_DEVICES="")
    p = subprocess.run([sys.executable, str(script), str(exported["caae"]), str(exported["cgan"])], cwd=REPO,
                       env=env, capture_output=True, text=True, timeout=900)
    assert p.returncode == 0, f"the SavedModel process died (rc {p.returncode}):\n{p.stderr[-3000:]}"
    res = json.loads(next(ln for ln in p.stdout.splitlines() if ln.startswith("RESULT "))[7:])
    assert res.pop("caae ok") == ["ok", "{'edited': [2, 32, 32, 3]}"]
    assert res.pop("cgan ok")[0] == "ok"
    for name, (kind, msg) in res.items():
        assert kind == "InvalidArgumentError", (name, kind, msg)
    for name in ("caae rank3", "caae rank5", "caae rank2", "caae size", "caae channels", "caae encode_float rank3"):
        assert "images must have shape [N, 32, 32, 3]" in res[name][1], (name, res[name])
    for name in ("caae va rank1", "caae va width"):
        assert "valence_arousal must have shape [N, 2]" in res[name][1], (name, res[name])
    assert "expected to be a uint8 tensor but is a float tensor" in res["caae dtype"][1]
    assert "expected to be a float tensor but is a double tensor" in res["cgan dtype"][1]
    assert "Shape of tensor z [1,5] is not compatible with expected shape [?,8]" in res["cgan z width"][1]
    assert "Shape of tensor z [1,8,1] is not compatible with expected shape [?,8]" in res["cgan z rank3"][1]
    assert ("Shape of tensor emotion_weights [1,5] is not compatible with expected shape [?,6]"
            in res["cgan weights width"][1])
    assert "sum to 1" in res["cgan weights sum"][1]
    assert "emotion must be an index" in res["cgan emotion index"][1]
    print(json.dumps({k: v[1][:160] for k, v in res.items()}, indent=1))


# ------------------------------------------------------------------------------------------ edit CLI

def _edit(model, img, out, capsys, *extra):
    rc = cli.main(["edit", str(img), "--model", str(model), "--out", str(out), "--quiet", *map(str, extra)])
    o, e = capsys.readouterr()
    assert "Traceback" not in e
    return rc, o, e


@pytest.mark.parametrize("which", ["caae", "run"])
def test_edit_cli_range_checks_and_clip(exported, tmp_path, capsys, which):
    img = tmp_path / "face.png"
    write_image(img, np.random.default_rng(0).integers(0, 255, (50, 40, 3), dtype=np.uint8))
    model = exported[which]
    for v, a in ((1.5, 0.0), (0.0, -3.0)):
        rc, out, err = _edit(model, img, tmp_path / "o1", capsys, "--valence", v, "--arousal", a)
        assert rc == 2 and not out.strip()
        (line,) = [ln for ln in err.splitlines() if ln.strip()]
        assert line.startswith("caae-tf edit: error: --valence/--arousal must lie in [-1, 1]") and "--clip" in line
        assert not (tmp_path / "o1").exists() or not os.listdir(tmp_path / "o1")
    rc, out, err = _edit(model, img, tmp_path / "o2", capsys, "--valence", 1.5, "--arousal", -3, "--clip")
    assert rc == 0
    assert "warning: --valence/--arousal clipped to (+1.00, -1.00)" in err
    (written,) = out.strip().splitlines()
    assert written.endswith("face_v+1.00_a-1.00.png") and read_image(written).shape == (32, 32, 3)
    rc, out, err = _edit(model, img, tmp_path / "o3", capsys, "--valence", "nan", "--arousal", 0, "--clip")
    assert rc == 2 and "must be finite" in err


def test_edit_cli_bad_grid_and_missing_labels(exported, tmp_path, capsys):
    img = tmp_path / "face.png"
    write_image(img, np.zeros((40, 40, 3), np.uint8))
    rc, _, err = _edit(exported["caae"], img, tmp_path / "o", capsys, "--grid", 1)
    assert rc == 2 and "--grid needs N >= 2" in err
    rc, _, err = _edit(exported["caae"], img, tmp_path / "o", capsys, "--valence", 0.2)
    assert rc == 2 and "give --valence and --arousal" in err
    rc, _, err = _edit(exported["cgan"], img, tmp_path / "o", capsys, "--valence", 0, "--arousal", 0)
    assert rc == 2 and "caae-tf edit: error:" in err and str(exported["cgan"]) in err
