"""caae_tf.evaluation.selection: the validator score that picks a cGAN checkpoint (numpy only, no model)."""

from __future__ import annotations

import numpy as np
import pytest

from caae_tf.evaluation.selection import real_class_readings, run_checkpoints, selection_score


def test_score_divides_neutral_by_its_own_tolerance_and_takes_the_worst_class():
    real = np.zeros((6, 2))
    gen = real.copy()
    gen[0] = [0.05, -0.08]  # Neutral off by 0.08 -> 0.8 of its 0.10 tolerance
    gen[3] = [0.0, 0.12]  # fear off by 0.12 -> 0.8 of the 0.15 tolerance
    gen[5] = [-0.135, 0.0]  # happiness off by 0.135 -> 0.9: the worst
    score, err = selection_score(gen, real)
    np.testing.assert_allclose(err, [0.08, 0, 0, 0.12, 0, 0.135])
    assert score == pytest.approx(0.9)
    gen[0] = [0.0, 0.11]  # now Neutral is beyond its tolerance while 0.11 would pass an alpha-1 class
    assert selection_score(gen, real)[0] == pytest.approx(1.1)
    assert selection_score(real, real)[0] == 0.0


def test_score_rejects_readings_of_the_wrong_shape():
    with pytest.raises(ValueError, match=r"\[6, 2\]"):
        selection_score(np.zeros((5, 2)), np.zeros((5, 2)))


class _Red:
    def predict_va(self, images):
        return np.stack([images[:, 0, 0, 0], -images[:, 0, 0, 0]], axis=1)


def test_real_readings_are_per_class_means_and_a_missing_class_is_named():
    emotions = np.array([0, 1, 2, 3, 4, 5, 5])
    images = np.zeros((7, 2, 2, 3))
    images[:, 0, 0, 0] = [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.8]
    out = real_class_readings(_Red(), images, emotions)
    np.testing.assert_allclose(out[:, 0], [0.1, 0.2, 0.3, 0.4, 0.5, 0.7])
    np.testing.assert_allclose(out[:, 1], -out[:, 0])
    with pytest.raises(ValueError, match="'happiness'"):
        real_class_readings(_Red(), images[:5], emotions[:5])


def test_run_checkpoints_lists_by_step_and_filters(tmp_path):
    d = tmp_path / "checkpoints"
    d.mkdir()
    for s in (500, 4000, 10000, 4500):
        (d / f"ckpt-{s}.index").write_text("")
        (d / f"ckpt-{s}.data-00000-of-00001").write_text("")
    (d / "checkpoint").write_text("")
    assert [s for s, _ in run_checkpoints(tmp_path)] == [500, 4000, 4500, 10000]
    got = run_checkpoints(tmp_path, min_step=4000)
    assert [s for s, _ in got] == [4000, 4500, 10000] and got[0][1] == str(d / "ckpt-4000")
    from caae_tf.errors import ModelError

    with pytest.raises(ModelError, match="no checkpoints/"):
        run_checkpoints(tmp_path / "nope")


def _targets(alpha1_err: float, neutral_err: float) -> dict:
    emotions = {e: {"error": [0.0, 0.0]} for e in ("sadness", "disgust", "fear", "anger", "happiness")}
    emotions["fear"]["error"] = [alpha1_err, 0.01]
    return {"emotions": emotions, "neutral": {"error": [0.0, neutral_err]}}


def test_selection_vs_judge_scores_the_judge_like_the_validator_and_names_a_missing_step(tmp_path, capsys):
    import json

    from conftest import experiment_module

    mod = experiment_module("cgan_selection_vs_judge")
    assert mod.judged_score(_targets(0.12, 0.05)) == pytest.approx(0.8)
    assert mod.judged_score(_targets(0.03, 0.15)) == pytest.approx(1.5)
    sel = {"steps": [1000, 2000, 3000], "scores": [0.9, 0.5, 0.7], "best_step": 2000}
    judged = {1000: _targets(0.3, 0.0), 2000: _targets(0.15, 0.0), 3000: _targets(0.075, 0.0)}
    res = mod.agreement(sel, judged)
    np.testing.assert_allclose(res["judge"], [2.0, 1.0, 0.5])
    assert (res["selected"], res["judge_at_selected"], res["judge_best"], res["judge_last"]) == (2000, 1.0, 3000, 0.5)
    assert res["spearman"] == pytest.approx(0.5)
    with pytest.raises(ValueError, match=r"\[3000\]"):
        mod.agreement(sel, {k: judged[k] for k in (1000, 2000)})
    (tmp_path / "sel.json").write_text(json.dumps(sel))
    for s, t in judged.items():
        (tmp_path / f"t_{s}").mkdir()
        (tmp_path / f"t_{s}" / "targets.json").write_text(json.dumps(t))
    out = tmp_path / "agree.json"
    assert mod.main(["--selection", str(tmp_path / "sel.json"), "--judged", str(tmp_path / "t_{step}"),
                     "--out", str(out)]) == 0
    assert json.loads(out.read_text())["judge_best"] == 3000 and "spearman 0.50" in capsys.readouterr().out
    with pytest.raises(SystemExit):
        mod.main(["--selection", str(tmp_path / "sel.json"), "--judged", str(tmp_path / "nope_{step}")])


def test_background_noise_is_zero_on_gradients_and_grows_with_blotches():
    from conftest import experiment_module

    mod = experiment_module("cgan_background_noise")
    y, x = np.mgrid[0:16, 0:16] / 16.0
    smooth = np.stack([0.3 * y - 0.2 * x, 0.1 + 0.5 * x, -0.4 * y], -1)[None].repeat(3, 0)
    assert mod.corner_residual_std(smooth) == pytest.approx(0.0, abs=1e-12)
    rng = np.random.default_rng(0)
    noisy = smooth + rng.normal(0, 0.05, smooth.shape)
    assert mod.corner_residual_std(noisy) == pytest.approx(0.05, rel=0.15)
    assert mod.corner_residual_std(smooth + rng.normal(0, 0.1, smooth.shape)) > mod.corner_residual_std(noisy)
    with pytest.raises(ValueError, match="at least 12 px"):
        mod.corner_residual_std(np.zeros((1, 8, 8, 3)))
