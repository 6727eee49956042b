"""caae_tf.generate + `caae-tf generate`: interpolation paths (paper 001 §3.3), CGANSampler, Fig. 5 grids."""

from __future__ import annotations

import csv
import os

import numpy as np
import pytest

from caae_tf import labels
from caae_tf.generate import (
    GenerateError,
    emotion_index,
    interpolation_path,
    resolve_alphas,
)

tf = pytest.importorskip("tensorflow")

from caae_tf.config import save_config
from caae_tf.errors import ModelError
from caae_tf.generate import CGANSampler, interpolation_grid
from caae_tf.images import read_image, to_uint8
from caae_tf.models.cgan import CGAN

from _train_helpers import tiny_cgan_model

EXTREME = labels.EXTREME_EMOTIONS


def make_model(seed: int = 0) -> CGAN:
    return tiny_cgan_model(seed, z_dim=8)


@pytest.fixture(scope="module")
def model():
    return make_model()


@pytest.fixture(scope="module")
def saved_model_dir(model, tmp_path_factory):
    from caae_tf.export.cgan import export_cgan

    out = tmp_path_factory.mktemp("export") / "cgan_sm"
    export_cgan(model, out)
    return str(out)


@pytest.fixture(scope="module")
def run_dir(model, tmp_path_factory):
    """A run dir laid out like caae_tf.train's (config.yaml + checkpoints/), written without the driver."""
    from caae_tf.train import variable_map

    run = tmp_path_factory.mktemp("run") / "cgan_run"
    os.makedirs(run / "checkpoints")
    save_config(model.cfg, run / "config.yaml")
    ckpt = tf.train.Checkpoint(model=variable_map(model.weights))
    tf.train.CheckpointManager(ckpt, str(run / "checkpoints"), 1).save()
    return str(run)


# ------------------------------------------------------------------------ paths (no model needed)

def test_emotion_names_aliases_and_errors():
    assert emotion_index("Happiness") == 5 and emotion_index("happy") == 5 and emotion_index("sad") == 1
    assert emotion_index(0) == 0 and emotion_index("neutral") == 0
    for bad in ("surprise", "joyful", "", 6, -1):
        with pytest.raises(GenerateError) as err:
            emotion_index(bad)
        assert "neutral, sadness, disgust, fear, anger, happiness" in str(err.value)


def test_alpha_schedules():
    np.testing.assert_allclose(resolve_alphas(11), np.arange(11) / 10, atol=1e-7)
    np.testing.assert_allclose(resolve_alphas(3), [0, 0.5, 1])
    np.testing.assert_allclose(resolve_alphas(5, "0, 0.05,0.2,1"), [0, 0.05, 0.2, 1])
    np.testing.assert_allclose(resolve_alphas(None, [0.3, 0.1]), [0.3, 0.1])
    for bad in ("0,1.5", "a,b", "", "-0.1"):
        with pytest.raises(GenerateError, match="schedule"):
            resolve_alphas(11, bad)
    with pytest.raises(GenerateError, match="steps"):
        resolve_alphas(1)


@pytest.mark.parametrize("emotion", EXTREME)
def test_paper_interpolation_vectors_satisfy_eq2_and_eq4(emotion):
    i = labels.CGAN_EMOTIONS.index(emotion)
    a = resolve_alphas(11)
    v = interpolation_path(emotion, a)
    assert v.shape == (11, 6) and v.dtype == np.float32
    np.testing.assert_allclose(v.sum(1), 1.0, atol=1e-6)  # Eq. 2
    np.testing.assert_allclose(v[:, 0] + v[:, i], 1.0, atol=1e-6)  # Eq. 4
    assert np.all(v >= 0) and np.all(v <= 1)  # Eq. 3
    others = [k for k in range(6) if k not in (0, i)]
    assert np.all(v[:, others] == 0)
    assert np.all(np.diff(v[:, i]) > 0) and np.all(np.diff(v[:, 0]) < 0)  # monotone
    np.testing.assert_allclose(v[:, i], a, atol=1e-6)  # step of 0.1 in the emotion portion (Fig. 5)
    np.testing.assert_array_equal(v[0], np.eye(6)[0])
    np.testing.assert_array_equal(v[-1], np.eye(6)[i])


def test_two_emotion_and_valence_arousal_paths():
    v = interpolation_path("happiness", resolve_alphas(5), to="sadness")
    np.testing.assert_allclose(v[:, 5] + v[:, 1], 1.0, atol=1e-6)
    np.testing.assert_array_equal(v[0], np.eye(6)[5])
    np.testing.assert_array_equal(v[-1], np.eye(6)[1])

    a = resolve_alphas(6)
    w = interpolation_path(None, a, valence=0.6, arousal=0.2)
    target = labels.va_to_emotion_weights(0.6, 0.2)
    np.testing.assert_allclose(w.sum(1), 1.0, atol=1e-6)
    assert np.all(w >= 0)
    np.testing.assert_allclose(w[0], np.eye(6)[0], atol=1e-7)
    np.testing.assert_allclose(w[-1], target, atol=1e-6)
    assert np.all(np.diff(w[:, 0]) <= 1e-7)  # Neutral share shrinks along the path

    with pytest.raises(GenerateError, match="itself"):
        interpolation_path("neutral", a)
    with pytest.raises(GenerateError, match="differ"):
        interpolation_path("fear", a, to="fear")
    with pytest.raises(GenerateError, match="not both"):
        interpolation_path("fear", a, valence=0.1, arousal=0.1)
    with pytest.raises(GenerateError, match="both valence and arousal"):
        interpolation_path(None, a, valence=0.1)
    with pytest.raises(GenerateError, match=r"\[-1, 1\]"):
        interpolation_path(None, a, valence=1.5, arousal=0.0)


# -------------------------------------------------------------------------------- CGANSampler

def test_generator_from_model(model):
    g = CGANSampler.from_model(model)
    assert (g.image_size, g.z_dim, g.kind) == (64, 8, "model")
    z = g.sample_z(3, seed=7)
    np.testing.assert_array_equal(z, g.sample_z(3, seed=7))
    assert not np.array_equal(z, g.sample_z(3, seed=8))
    g.truncation = 0.5  # BigGAN truncation: every component within ±τ, still seeded, a proper redraw
    zt = g.sample_z(2000, seed=7)
    assert np.abs(zt).max() <= 0.5 and zt.std() > 0.2
    np.testing.assert_array_equal(zt, g.sample_z(2000, seed=7))
    assert abs(float(zt.mean())) < 0.01
    g.truncation = 0.0
    with pytest.raises(GenerateError, match="truncation"):
        g.sample_z(3)
    g.truncation = None
    np.testing.assert_array_equal(z, g.sample_z(3, seed=7))
    w = np.eye(6, dtype=np.float32)[[0, 2, 5]]
    out = g.generate(z, w, batch_size=2)  # two batches
    assert out.shape == (3, 64, 64, 3) and out.dtype == np.float32
    np.testing.assert_allclose(out, model.generate(z, w).numpy(), atol=1e-6)
    assert out.std() > 0.05  # visible image
    # interpolate == generate with (1-α)e_0 + α e_i
    alpha = np.array([0.0, 0.3, 1.0], np.float32)
    wi = (1 - alpha)[:, None] * np.eye(6)[0] + alpha[:, None] * np.eye(6)[[4, 4, 4]]
    np.testing.assert_allclose(g.interpolate(z, 4, alpha), g.generate(z, wi.astype(np.float32)), atol=1e-6)
    with pytest.raises(GenerateError, match="sum to 1"):
        g.generate(z, w * 0.5)
    with pytest.raises(GenerateError, match="non-negative"):
        g.generate(z, np.tile([[1.2, -0.2, 0, 0, 0, 0]], (3, 1)).astype(np.float32))
    with pytest.raises(GenerateError, match="shape"):
        g.generate(z[:, :4], w)
    with pytest.raises(GenerateError, match="alpha"):
        g.interpolate(z, 1, 1.5)


def test_generator_from_savedmodel_and_run_dir(model, saved_model_dir, run_dir):
    z = CGANSampler.from_model(model).sample_z(4, seed=1)
    w = np.stack([labels.interpolation_weights("anger", [0.0, 0.5, 0.9])[k % 3] for k in range(4)])
    ref = model.generate(z, w).numpy()
    gs = CGANSampler(saved_model_dir)
    assert (gs.kind, gs.image_size, gs.z_dim) == ("savedmodel", 64, 8)
    np.testing.assert_allclose(gs.generate(z, w), ref, atol=1e-5)
    gr = CGANSampler(run_dir)
    assert (gr.kind, gr.image_size, gr.z_dim) == ("run", 64, 8)
    np.testing.assert_allclose(gr.generate(z, w), ref, atol=1e-5)
    with pytest.raises(ModelError, match="not found"):
        CGANSampler(os.path.join(run_dir, "nope"))
    # an earlier checkpoint of a run dir (here its only one, named explicitly); a SavedModel has none
    latest = tf.train.latest_checkpoint(os.path.join(run_dir, "checkpoints"))
    np.testing.assert_allclose(CGANSampler(run_dir, checkpoint=latest).generate(z, w), ref, atol=1e-5)
    with pytest.raises(ModelError, match="--checkpoint needs a run dir"):
        CGANSampler(saved_model_dir, checkpoint=latest)


def test_interpolation_grid_layout(model):
    g = CGANSampler.from_model(model)
    grid, imgs, alphas = interpolation_grid(g, "disgust", steps=4, num_z=3, seed=2)
    assert imgs.shape == (3, 4, 64, 64, 3) and imgs.dtype == np.uint8
    np.testing.assert_allclose(alphas, [0, 1 / 3, 2 / 3, 1], atol=1e-6)
    assert grid.shape == (3 * 64 + 4 * 2, 4 * 64 + 5 * 2, 3)
    z = g.sample_z(3, seed=2)
    v = interpolation_path("disgust", alphas)
    for k in range(3):
        for j in range(4):
            ref = to_uint8(g.generate(z[k:k + 1], v[j:j + 1]))[0]
            assert np.abs(ref.astype(int) - imgs[k, j]).max() <= 1, (k, j)
    # the grid's cell (row k, column j) is image (k, j)
    np.testing.assert_array_equal(grid[2 + 64 + 2: 2 + 64 + 2 + 64, 2 + 2 * 66: 2 + 2 * 66 + 64], imgs[1, 2])
    # columns differ along a row (the label reaches G), rows differ (z reaches G)
    assert np.abs(imgs[0, 0].astype(int) - imgs[0, 3]).max() > 2
    assert np.abs(imgs[0, 0].astype(int) - imgs[1, 0]).max() > 2


# -------------------------------------------------------------------------------------------- CLI

def _cli(argv):
    from caae_tf.cli import main

    return main(argv)


def test_cli_generate_end_to_end(saved_model_dir, tmp_path, capsys):
    out = tmp_path / "gen"
    rc = _cli(["generate", "--model", saved_model_dir, "--emotion", "happiness", "--steps", "3",
               "--num-z", "2", "--seed", "4", "--out", str(out), "--quiet"])
    assert rc == 0
    names = sorted(os.listdir(out))
    assert names == sorted(["grid.png", "weights.csv", "z.npy"]
                           + [f"z{k}_step{j}.png" for k in range(2) for j in range(3)])
    with open(out / "weights.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert [float(r["alpha"]) for r in rows] == [0.0, 0.5, 1.0]
    assert [float(r["happiness"]) for r in rows] == [0.0, 0.5, 1.0]
    assert [float(r["neutral"]) for r in rows] == [1.0, 0.5, 0.0]
    g = CGANSampler(saved_model_dir)
    z = np.load(out / "z.npy")
    np.testing.assert_array_equal(z, g.sample_z(2, 4))
    ref = to_uint8(g.generate(z[1:2], labels.interpolation_weights("happiness", [0.5])))[0]
    assert np.abs(read_image(out / "z1_step1.png").astype(int) - ref).max() <= 1
    assert read_image(out / "grid.png").shape == (2 * 64 + 3 * 2, 3 * 64 + 4 * 2, 3)


def test_cli_generate_beyond_paper_modes(saved_model_dir, tmp_path):
    out = tmp_path / "to"
    assert _cli(["generate", "--model", saved_model_dir, "--emotion", "fear", "--to", "anger",
                 "--schedule", "0,0.25,1", "--num-z", "1", "--out", str(out), "--quiet"]) == 0
    with open(out / "weights.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert [(float(r["fear"]), float(r["anger"])) for r in rows] == [(1.0, 0.0), (0.75, 0.25), (0.0, 1.0)]
    out = tmp_path / "va"
    assert _cli(["generate", "--model", saved_model_dir, "--valence", "-0.5", "--arousal", "0.5",
                 "--steps", "2", "--num-z", "1", "--out", str(out), "--quiet"]) == 0
    with open(out / "weights.csv", newline="") as fh:
        last = list(csv.DictReader(fh))[-1]
    w = np.array([float(last[e]) for e in labels.CGAN_EMOTIONS])
    np.testing.assert_allclose(w, labels.va_to_emotion_weights(-0.5, 0.5), atol=1e-5)


@pytest.mark.parametrize(
    "args, message",
    [
        (["--emotion", "surprise"], "unknown emotion 'surprise'; valid: neutral, sadness"),
        (["--emotion", "happiness", "--to", "joyous"], "unknown emotion 'joyous'"),
        (["--emotion", "neutral"], "interpolates Neutral to itself"),
        (["--schedule", "0,2", "--emotion", "fear"], "schedule"),
        (["--valence", "0.2"], "both --valence and --arousal"),
        ([], "give --emotion NAME"),
    ],
)
def test_cli_generate_user_errors(saved_model_dir, tmp_path, capsys, args, message):
    rc = _cli(["generate", "--model", saved_model_dir, "--out", str(tmp_path / "x"), "--quiet", *args])
    assert rc == 2
    err = capsys.readouterr().err
    assert err.startswith("caae-tf generate: error:") and message in err
    assert not (tmp_path / "x").exists()


def test_cli_generate_missing_model(tmp_path, capsys):
    rc = _cli(["generate", "--model", str(tmp_path / "missing"), "--emotion", "fear", "--out", str(tmp_path / "o")])
    assert rc == 2 and "not found" in capsys.readouterr().err
