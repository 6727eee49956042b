"""CAAE editing (Editor, edit CLI, grids) and the editor SavedModel (fresh-process round trip)."""

import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from caae_tf.cli import main
from caae_tf.edit import Editor
from caae_tf.images import read_image, write_image

from _train_helpers import TINY_CAAE, write_tiny_set


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    """A real (2-step) tiny CAAE run dir."""
    from caae_tf.train import train_command

    root = tmp_path_factory.mktemp("caae")
    csv = write_tiny_set(root / "data")
    train_command("caae", csv, str(root / "run"), overrides=TINY_CAAE + ["steps=2"], progress=False)
    return root / "run"


@pytest.fixture(scope="module")
def saved_model(run_dir, tmp_path_factory):
    from caae_tf.export.caae import export_caae

    out = tmp_path_factory.mktemp("export") / "editor"
    export_caae(str(run_dir), str(out))
    return out


def test_editor_edit_encode_any_count(run_dir):
    ed = Editor.load(str(run_dir))
    assert ed.image_size == 32
    x = np.random.default_rng(0).uniform(-1, 1, (5, 32, 32, 3)).astype(np.float32)
    ed.chunk = 2  # forces 3 chunks: no fixed batch
    out = ed.edit(x, np.tile([[0.5, -0.5]], (5, 1)))
    assert out.shape == x.shape and out.dtype == np.float32 and np.all(np.abs(out) <= 1)
    np.testing.assert_allclose(out[:1], ed.edit(x[:1], [0.5, -0.5]), atol=1e-5)  # one label broadcast
    z = ed.encode(x)
    assert z.shape == (5, 8) and np.all(np.abs(z) <= 1)
    # the label reaches G: different targets, different edits
    assert np.abs(ed.edit(x[:1], [1, 1]) - ed.edit(x[:1], [-1, -1])).max() > 0
    with pytest.raises(ValueError, match=r"\[-1, 1\]"):
        ed.edit(x[:1], [2.0, 0.0])


def _cell(grid, r, c, s=32, pad=2):
    """Cell (r, c) of an edit grid: the 7×7 edits start right of the input column (s + 3·pad wide)."""
    y, x = pad + r * (s + pad), s + 3 * pad + pad + c * (s + pad)
    return grid[y:y + s, x:x + s]


def test_grid_layout(run_dir):
    from caae_tf.images import to_uint8
    from caae_tf.labels import grid_labels

    ed = Editor.load(str(run_dir))
    s, pad = 32, 2
    img = np.random.default_rng(3).uniform(-1, 1, (s, s, 3)).astype(np.float32)
    grid = ed.edit_grid(img, 7)
    assert grid.shape == (7 * s + 8 * pad, 7 * s + 8 * pad + s + 3 * pad, 3) and grid.dtype == np.uint8
    # every cell is the model's edit of the input to that cell's label; the input sits left, mid-height
    edits = to_uint8(ed.edit(np.repeat(img[None], 49, axis=0), grid_labels(7)))
    for k in range(49):
        np.testing.assert_array_equal(_cell(grid, k // 7, k % 7), edits[k], err_msg=f"cell {divmod(k, 7)}")
    y0 = pad + 3 * (s + pad)
    np.testing.assert_array_equal(grid[y0:y0 + s, pad:pad + s], to_uint8(img))
    assert np.all(grid[:y0 - pad, :s + 2 * pad] == 255) and np.all(grid[y0 + s + pad:, :s + 2 * pad] == 255)

    class Painter:
        """An editor that paints its target label: red = valence, green = arousal."""
        image_size = s

        def edit(self, x, va):
            va = np.asarray(va, np.float32)
            return np.broadcast_to(np.concatenate([va, np.zeros_like(va[:, :1])], 1)[:, None, None, :],
                                   (len(va), s, s, 3)).copy()

    painted = Editor.edit_grid(Painter(), img, 7)
    # the paper's orientation: valence 0.75 → -0.75 down the rows, arousal 0.75 → -0.75 along the columns
    t = np.linspace(0.75, -0.75, 7)
    for r in range(7):
        for c in range(7):
            np.testing.assert_array_equal(_cell(painted, r, c)[0, 0], to_uint8(np.array([t[r], t[c], 0.0])))


def test_edit_cli_any_size_and_grid(run_dir, tmp_path):
    img = np.random.default_rng(1).integers(0, 255, (50, 70, 3), dtype=np.uint8)
    write_image(tmp_path / "in" / "face one.png", img)
    out = tmp_path / "out"
    assert main(["edit", "--model", str(run_dir), "--valence", "0.5", "--arousal", "-0.25", "--out", str(out),
                 "--quiet", str(tmp_path / "in" / "face one.png")]) == 0
    edited = read_image(out / "face one_v+0.50_a-0.25.png")
    assert edited.shape == (32, 32, 3)
    assert main(["edit", "--model", str(run_dir), "--grid", "7", "--out", str(out), "--quiet",
                 str(tmp_path / "in" / "face one.png")]) == 0
    assert read_image(out / "face one_grid7.png").shape[0] == 7 * 32 + 16


def test_edit_cli_rejects_out_of_range_unless_clip(run_dir, tmp_path, capsys):
    write_image(tmp_path / "a.png", np.zeros((32, 32, 3), np.uint8))
    args = ["edit", "--model", str(run_dir), "--valence", "1.5", "--arousal", "0", "--out", str(tmp_path / "o"),
            "--quiet", str(tmp_path / "a.png")]
    assert main(args) == 2
    assert "[-1, 1]" in capsys.readouterr().err
    assert main(args + ["--clip"]) == 0
    assert "clipped" in capsys.readouterr().err
    assert (tmp_path / "o" / "a_v+1.00_a+0.00.png").exists()


def test_edit_cli_bad_file_is_named_and_others_still_edited(run_dir, tmp_path, capsys):
    (tmp_path / "bad.jpg").write_text("not an image")
    write_image(tmp_path / "good.png", np.zeros((32, 32, 3), np.uint8))
    rc = main(["edit", "--model", str(run_dir), "--valence", "0", "--arousal", "0", "--out", str(tmp_path / "o"),
               "--quiet", str(tmp_path / "bad.jpg"), str(tmp_path / "good.png")])
    assert rc == 1
    err = capsys.readouterr().err
    assert "bad.jpg" in err and "Traceback" not in err
    assert (tmp_path / "o" / "good_v+0.00_a+0.00.png").exists()


def test_saved_model_round_trip_in_fresh_process(run_dir, saved_model, tmp_path):
    info = json.loads((saved_model / "caae_tf_export.json").read_text())
    assert info["model"] == "caae" and info["image_size"] == 32
    rng = np.random.default_rng(2)
    images = rng.integers(0, 255, (3, 32, 32, 3), dtype=np.uint8)
    va = np.array([[0.75, -0.75], [0, 0], [-1, 1]], np.float32)
    np.save(tmp_path / "images.npy", images)
    np.save(tmp_path / "va.npy", va)
    code = textwrap.dedent(f"""
        import sys, numpy as np, tensorflow as tf
        m = tf.saved_model.load({str(saved_model)!r})
        images = np.load({str(tmp_path / 'images.npy')!r}); va = np.load({str(tmp_path / 'va.npy')!r})
        out = m.signatures["serving_default"](images=tf.constant(images), valence_arousal=tf.constant(va))
        np.save({str(tmp_path / 'edited.npy')!r}, out["edited"].numpy())
        f = m.signatures["edit_float"](images=tf.constant(images.astype("float32") / 127.5 - 1),
                                       valence_arousal=tf.constant(va))
        np.save({str(tmp_path / 'edited_f.npy')!r}, f["edited"].numpy())
        z = m.signatures["encode"](images=tf.constant(images))["z"].numpy()
        np.save({str(tmp_path / 'z.npy')!r}, z)
        assert "caae_tf" not in sys.modules
    """)
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=900,
                          cwd=str(tmp_path))
    assert proc.returncode == 0, proc.stderr[-2000:]
    edited, edited_f = np.load(tmp_path / "edited.npy"), np.load(tmp_path / "edited_f.npy")
    assert edited.dtype == np.uint8 and edited.shape == (3, 32, 32, 3)
    ed = Editor.load(str(run_dir))
    ref = ed.edit(images.astype(np.float32) / 127.5 - 1, va)
    np.testing.assert_allclose(edited_f, ref, atol=1e-5)
    assert np.abs(edited.astype(int) - np.round((ref + 1) * 127.5).astype(int)).max() <= 1
    np.testing.assert_allclose(np.load(tmp_path / "z.npy"), ed.encode(images.astype(np.float32) / 127.5 - 1),
                               atol=1e-5)
    # the Editor also loads the SavedModel itself
    sm = Editor.load(str(saved_model))
    assert sm.image_size == 32
    np.testing.assert_allclose(sm.edit(images.astype(np.float32) / 127.5 - 1, va), ref, atol=1e-5)


def test_saved_model_rejects_bad_inputs(saved_model):
    import tensorflow as tf

    m = tf.saved_model.load(str(saved_model))
    sig = m.signatures["serving_default"]
    good = tf.zeros([1, 32, 32, 3], tf.uint8)
    msg = r"images must have shape \[N, 32, 32, 3\]"
    with pytest.raises(tf.errors.InvalidArgumentError, match=msg):
        sig(images=tf.zeros([1, 64, 64, 3], tf.uint8), valence_arousal=tf.zeros([1, 2]))  # wrong size
    with pytest.raises(tf.errors.InvalidArgumentError, match=msg):
        sig(images=tf.zeros([32, 32, 3], tf.uint8), valence_arousal=tf.zeros([1, 2]))  # wrong rank
    with pytest.raises(tf.errors.InvalidArgumentError, match=r"valence_arousal must have shape \[N, 2\]"):
        sig(images=good, valence_arousal=tf.zeros([1, 3]))
    with pytest.raises(tf.errors.InvalidArgumentError, match=msg):
        m.signatures["encode"](images=tf.zeros([2, 32, 3], tf.uint8))
    with pytest.raises((ValueError, TypeError, tf.errors.InvalidArgumentError), match="uint8"):
        sig(images=tf.zeros([1, 32, 32, 3], tf.float32), valence_arousal=tf.zeros([1, 2]))  # wrong dtype
    with pytest.raises(tf.errors.InvalidArgumentError, match=r"\[-1, 1\]"):
        sig(images=good, valence_arousal=tf.constant([[1.5, 0.0]]))
    with pytest.raises(tf.errors.InvalidArgumentError, match="same N"):
        sig(images=good, valence_arousal=tf.zeros([2, 2]))


def test_export_cli_and_wrong_model_kind(run_dir, tmp_path, capsys):
    assert main(["export", "caae", "--run-dir", str(run_dir), "--out", str(tmp_path / "sm")]) == 0
    assert (tmp_path / "sm" / "saved_model.pb").exists()
    assert main(["edit", "--model", str(tmp_path / "nope"), "--valence", "0", "--arousal", "0",
                 "--out", str(tmp_path), str(tmp_path / "x.png")]) == 2
    assert "no such model directory" in capsys.readouterr().err


def test_editor_load_sets_only_edit_time_keys(run_dir, saved_model):
    from caae_tf.config import ConfigError
    from caae_tf.errors import ModelError

    plain = Editor.load(str(run_dir))
    s = plain.image_size
    x = np.random.default_rng(0).uniform(-1, 1, (2, s, s, 3)).astype(np.float32)
    va = np.array([[0.5, -0.5], [0.0, 0.9]], np.float32)
    same = Editor.load(str(run_dir), overrides=["edit_source_grid=5"])  # no change mask: the edit is unchanged
    np.testing.assert_array_equal(same.edit(x, va), plain.edit(x, va))
    with pytest.raises(ModelError, match="only edit-time keys.*lambda_rec=3"):
        Editor.load(str(run_dir), overrides=["lambda_rec=3"])
    with pytest.raises(ModelError, match="fixed at export"):
        Editor.load(str(saved_model), overrides=["edit_change_tau=0"])
    with pytest.raises(ConfigError, match="edit_change_tau needs edit_region"):  # the paper-mode run has no region
        Editor.load(str(run_dir), overrides=["edit_change_tau=0.1"])
