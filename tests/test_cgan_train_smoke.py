"""Smoke test of the paper-001 cGAN pipeline end to end on real (tiny) synthetic data.

synthetic discrete faces (data_prep.synthetic, 32 px) → ``caae_tf.train.train_command("cgan")`` → checkpoint
→ ``--resume`` → ``caae_tf.generate.CGANSampler(run_dir)`` / ``interpolation_grid`` → ``caae-tf generate``.
The same sequence at demo size is experiments/cgan_demo.sh.
"""

from __future__ import annotations

import csv
import json
import math
import os

import numpy as np
import pytest

pytest.importorskip("tensorflow")

from caae_tf import cli, labels
from caae_tf.images import read_image
from caae_tf.train import load_model, train_command

from _train_helpers import TINY_CGAN

S = 32
FIRST_STEPS, TOTAL_STEPS = 4, 7
SAMPLE_EVERY = 4


@pytest.fixture(scope="module")
def discrete_set(tmp_path_factory):
    from data_prep.synthetic import generate_dataset

    out = tmp_path_factory.mktemp("synth_discrete")
    df = generate_dataset(out, identities=2, per_identity=6, size=S, seed=0, mode="discrete", progress=False)
    # discrete mode: every identity shows the six cGAN classes in turn (balanced one-hot labels, Eq. 1)
    assert sorted(df["emotion"].unique()) == sorted(labels.CGAN_EMOTIONS)
    return str(out)


@pytest.fixture(scope="module")
def trained_run(discrete_set, tmp_path_factory):
    """A tiny cGAN trained FIRST_STEPS steps, then resumed to TOTAL_STEPS; returns (run_dir, results)."""
    run_dir = str(tmp_path_factory.mktemp("cgan_run") / "run")
    overrides = [o for o in TINY_CGAN if not o.startswith(("sample_every", "checkpoint_every"))] + [
        f"steps={TOTAL_STEPS}", f"sample_every={SAMPLE_EVERY}", "checkpoint_every=100",
    ]
    first = train_command("cgan", discrete_set, run_dir, overrides=overrides, progress=False,
                          max_steps_this_run=FIRST_STEPS)
    ckpt_after_first = sorted(os.listdir(os.path.join(run_dir, "checkpoints")))
    resumed = train_command("cgan", discrete_set, run_dir, resume=True, progress=False)
    return run_dir, first, ckpt_after_first, resumed


@pytest.mark.slow
def test_train_resume_generate(trained_run):
    run_dir, first, ckpt_after_first, resumed = trained_run
    # first leg: stopped early with a checkpoint of its last step (checkpoint_every is larger than the run)
    assert first.status == "completed" and first.step == FIRST_STEPS
    assert first.checkpoint and first.checkpoint.endswith(f"ckpt-{FIRST_STEPS}")
    assert "checkpoint" in ckpt_after_first and f"ckpt-{FIRST_STEPS}.index" in ckpt_after_first
    expected_terms = {"g_loss", "d_loss", "d_loss_real", "d_loss_fake", "d_real", "d_fake"}
    for result in (first, resumed):
        assert set(result.last_losses) == expected_terms
        ll = result.last_losses
        assert all(math.isfinite(v) for v in ll.values()), ll
        # d_real / d_fake are D's mean probabilities on the rows the BCE terms average over. By Jensen
        # (-log is convex) mean(-log p) >= -log(mean p), with equality only if every p is the same: a
        # probability of other rows or logits, or a BCE with another target, breaks these bounds.
        assert ll["d_loss_real"] >= -math.log(ll["d_real"]) - 1e-6, ll
        assert ll["d_loss_fake"] >= -math.log(1.0 - ll["d_fake"]) - 1e-6, ll
        # d_loss is the sum of its two BCE terms
        assert result.last_losses["d_loss"] == pytest.approx(
            result.last_losses["d_loss_real"] + result.last_losses["d_loss_fake"], rel=1e-5
        )
    # --resume continued the step counter to the configured total, not from 0
    assert resumed.step == TOTAL_STEPS and resumed.checkpoint.endswith(f"ckpt-{TOTAL_STEPS}")
    status = json.loads(open(os.path.join(run_dir, "status.json"), encoding="utf-8").read())
    assert status["status"] == "completed" and status["step"] == TOTAL_STEPS
    assert "resumed_from_step: 4" in open(os.path.join(run_dir, "config.yaml"), encoding="utf-8").read()
    # sample grids at step 4 (first leg) and at the final step (second leg): 6 one-hot rows x 8 z,
    # and 5 extreme emotions x 11 interpolation steps
    samples = sorted(os.listdir(os.path.join(run_dir, "samples")))
    assert samples == [f"{n}_{s:07d}.png" for n in ("interpolation", "samples") for s in (FIRST_STEPS, TOTAL_STEPS)]
    grid = read_image(os.path.join(run_dir, "samples", f"samples_{TOTAL_STEPS:07d}.png"))
    assert grid.shape == (6 * S + 7 * 2, 8 * S + 9 * 2, 3)
    grid = read_image(os.path.join(run_dir, "samples", f"interpolation_{TOTAL_STEPS:07d}.png"))
    assert grid.shape == (5 * S + 6 * 2, 11 * S + 12 * 2, 3)
    # the restored model's noise counter continued too (one z draw per step over both legs)
    model, cfg = load_model(run_dir)
    assert int(model.noise_step.numpy()) == TOTAL_STEPS and cfg.image_size == S

    from caae_tf.generate import CGANSampler, interpolation_grid

    gen = CGANSampler(run_dir)
    assert (gen.image_size, gen.z_dim, gen.kind) == (S, 8, "run")
    grid, imgs, alphas = interpolation_grid(gen, "happiness", steps=11, num_z=2, seed=3)
    assert grid.dtype == np.uint8 and grid.shape == (2 * S + 3 * 2, 11 * S + 12 * 2, 3)
    assert imgs.shape == (2, 11, S, S, 3) and imgs.dtype == np.uint8
    np.testing.assert_allclose(alphas, np.linspace(0, 1, 11), atol=1e-6)
    # α=0 of every path is G(z, e_Neutral): identical for two different target emotions
    _, imgs_fear, _ = interpolation_grid(gen, "fear", steps=11, num_z=2, seed=3)
    np.testing.assert_array_equal(imgs_fear[:, 0], imgs[:, 0])
    # different noise vectors give different faces
    assert np.abs(imgs[0].astype(int) - imgs[1].astype(int)).mean() > 0


@pytest.mark.slow
def test_generate_cli_on_trained_run(trained_run, tmp_path):
    run_dir = trained_run[0]
    out = tmp_path / "grid_happiness"
    rc = cli.main(["generate", "--model", run_dir, "--emotion", "happiness", "--steps", "11", "--num-z", "2",
                   "--out", str(out), "--quiet"])
    assert rc == 0
    grid = read_image(str(out / "grid.png"))
    assert grid.shape == (2 * S + 3 * 2, 11 * S + 12 * 2, 3)
    assert (out / "z0_step0.png").exists() and (out / "z1_step10.png").exists()
    assert np.load(out / "z.npy").shape == (2, 8)
    with open(out / "weights.csv", newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == 11
    for j, row in enumerate(rows):
        a = float(row["alpha"])
        assert a == pytest.approx(j / 10, abs=1e-6)
        v = {e: float(row[e]) for e in labels.CGAN_EMOTIONS}
        # paper 001 Eq. 4: v1 + v_i = 1 (Neutral + Happiness), every other weight 0
        assert v["neutral"] + v["happiness"] == pytest.approx(1.0, abs=1e-6)
        assert v["neutral"] == pytest.approx(1 - a, abs=1e-6) and v["happiness"] == pytest.approx(a, abs=1e-6)
        assert all(v[e] == 0 for e in ("sadness", "disgust", "fear", "anger"))


@pytest.mark.slow
def test_modes_table_names_and_reads_the_judged_checkpoint(trained_run, tmp_path, monkeypatch, capsys):
    """experiments/cgan_modes_table.py on a targets.json judged at an earlier checkpoint (cgan_targets.py
    --checkpoint): the row says which checkpoint, and its HF energy is that checkpoint's, not the latest's."""
    import sys

    from conftest import experiment_module

    run_dir = trained_run[0]
    monkeypatch.syspath_prepend(os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                                             "experiments"))
    mod = experiment_module("cgan_modes_table")
    early = os.path.join(run_dir, "checkpoints", f"ckpt-{FIRST_STEPS}")
    emotion = {"generated": [0.5, 0.0], "real": [0.6, 0.0], "error": [0.1, 0.0], "rho": 1.0}
    for name, ckpt in (("latest", None), ("early", early)):
        os.makedirs(tmp_path / name)
        with open(tmp_path / name / "targets.json", "w", encoding="utf-8") as fh:
            json.dump({"model": run_dir, "ema": True, "checkpoint": ckpt, "truncation": None,
                       "emotions": {e: emotion for e in ("sadness", "disgust", "fear", "anger", "happiness")},
                       "neutral": {"error": [0.02, 0.03]}}, fh)
    assert mod.main([str(tmp_path / "latest"), str(tmp_path / "early")]) == 0
    rows = [r for r in capsys.readouterr().out.splitlines() if r.startswith("| ") and "---" not in r][1:]
    assert f"(read at ckpt-{FIRST_STEPS})" in rows[1] and "read at" not in rows[0]
    hf = [float(r.rstrip(" |").rsplit("|", 1)[1]) for r in rows]
    assert hf[1] == pytest.approx(mod.hf_energy(run_dir, False, checkpoint=early), abs=1e-3)
    assert hf[0] == pytest.approx(mod.hf_energy(run_dir, False), abs=1e-3) and hf[0] != hf[1]
    assert "judge_blur" in sys.modules


@pytest.mark.slow
def test_average_checkpoints_is_the_mean_of_the_weights_and_loads_as_a_run(trained_run, tmp_path):
    """experiments/cgan_average_checkpoints.py: every float weight of the new run dir's checkpoint is the mean
    of the two checkpoints' (G_ema's BN statistics included), and the result samples like any run dir."""
    from conftest import experiment_module

    from caae_tf.generate import CGANSampler

    run_dir = trained_run[0]
    mod = experiment_module("cgan_average_checkpoints")
    out = str(tmp_path / "avg")
    assert mod.main(["--run", run_dir, "--steps", str(FIRST_STEPS), str(TOTAL_STEPS), "--out", out]) == 0
    ckpts = [os.path.join(run_dir, "checkpoints", f"ckpt-{s}") for s in (FIRST_STEPS, TOTAL_STEPS)]
    early, late = (load_model(run_dir, checkpoint=c)[0] for c in ckpts)
    averaged, _ = load_model(out)
    floats = [(a, e, lt) for a, e, lt in zip(averaged.weights, early.weights, late.weights)
              if "float" in str(a.dtype)]
    assert len(floats) > 10
    moved = 0
    for a, e, lt in floats:
        np.testing.assert_allclose(a.numpy(), (e.numpy().astype(np.float64) + lt.numpy()) / 2, rtol=1e-5, atol=1e-6)
        moved += not np.array_equal(e.numpy(), lt.numpy())
    assert moved > 10  # the two checkpoints differ, so the mean is a third set of weights
    meta = json.loads(open(os.path.join(out, "averaged.json"), encoding="utf-8").read())
    assert meta["checkpoints"] == ckpts
    gen = CGANSampler(out)
    z = gen.sample_z(2, seed=0)
    images = gen.generate(z, np.eye(6, dtype=np.float32)[[0, 5]])
    assert images.shape == (2, S, S, 3) and np.all(np.abs(images) <= 1.0)
    with pytest.raises(SystemExit):  # out exists
        mod.main(["--run", run_dir, "--steps", str(FIRST_STEPS), str(TOTAL_STEPS), "--out", out])
    with pytest.raises(SystemExit):  # no such checkpoint
        mod.main(["--run", run_dir, "--steps", "3", str(TOTAL_STEPS), "--out", str(tmp_path / "x")])


class _MeanColourValidator:
    """A stand-in validator: "valence" = mean pixel, "arousal" = mean red channel (any fixed function of the
    image gives a valid selection score; the test checks the bookkeeping, not the regressor)."""

    def predict_va(self, images):
        images = np.asarray(images, np.float64)
        return np.stack([images.mean(axis=(1, 2, 3)), images[..., 0].mean(axis=(1, 2))], axis=1)


@pytest.mark.slow
def test_select_checkpoint_scores_every_checkpoint_and_writes_the_best_as_a_run(trained_run, discrete_set, tmp_path,
                                                                              monkeypatch):
    """experiments/cgan_select_checkpoint.py: each checkpoint's score is recomputed independently from its own
    weights, the lowest one is chosen, and --out holds exactly that checkpoint's weights as a run dir."""
    from conftest import experiment_module

    import caae_tf.regressor_train as rt
    from caae_tf.evaluation.selection import class_readings, real_class_readings, selection_score
    from caae_tf.generate import CGANSampler

    run_dir = trained_run[0]
    monkeypatch.setattr(rt, "load_regressor", lambda path: _MeanColourValidator())
    mod = experiment_module("cgan_select_checkpoint")
    out, report = str(tmp_path / "sel"), str(tmp_path / "sel.json")
    assert mod.main(["--run", run_dir, "--validator", "unused", "--data", discrete_set, "--num-z", "3",
                     "--out", out, "--report", report]) == 0
    rec = json.loads(open(report, encoding="utf-8").read())
    assert rec["steps"] == [FIRST_STEPS, TOTAL_STEPS] and len(rec["scores"]) == 2
    assert rec == json.loads(open(os.path.join(out, "selection.json"), encoding="utf-8").read())
    # the recorded scores are those of each checkpoint loaded on its own
    validator = _MeanColourValidator()
    arr, imgs = experiment_module("cgan_targets").labelled_images(discrete_set, S)
    real = real_class_readings(validator, imgs, arr["emotion"])
    np.testing.assert_allclose(rec["real"], real, atol=1e-6)
    for step, score in zip(rec["steps"], rec["scores"]):
        gen = CGANSampler(run_dir, checkpoint=os.path.join(run_dir, "checkpoints", f"ckpt-{step}"))
        assert selection_score(class_readings(gen, validator, 3, 0), real)[0] == pytest.approx(score, abs=1e-5)
    best = rec["steps"][int(np.argmin(rec["scores"]))]
    assert rec["best_step"] == best
    chosen, selected = load_model(run_dir, checkpoint=rec["best_checkpoint"])[0], load_model(out)[0]
    for a, b in zip(chosen.weights, selected.weights):
        np.testing.assert_array_equal(a.numpy(), b.numpy())
    with pytest.raises(SystemExit):  # out exists
        mod.main(["--run", run_dir, "--validator", "unused", "--data", discrete_set, "--out", out])
    with pytest.raises(SystemExit, match="no checkpoint"):
        mod.main(["--run", run_dir, "--validator", "unused", "--data", discrete_set, "--steps", "5"])
