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
