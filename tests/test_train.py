"""The shared training driver: run dir, checkpoint/resume equivalence, NaN guard, config errors."""

import json
import os

import numpy as np
import pytest
import yaml

from caae_tf.errors import TrainingError
from caae_tf.train import load_model, train_command

from _train_helpers import TINY_CAAE, TINY_CGAN, write_tiny_set


@pytest.fixture(scope="module")
def tiny_csv(tmp_path_factory):
    # 64 images = 16 batches per epoch: the driver's throw-away first-batch iterator cannot prefetch across an
    # epoch boundary (with 16 images it sometimes does, under load, and then shifts the training data order)
    return write_tiny_set(tmp_path_factory.mktemp("tiny"), n=64)


def _weights(model):
    return [np.array(v.numpy()) for v in model.weights]


@pytest.mark.parametrize("kind, tiny", [("caae", TINY_CAAE), ("cgan", TINY_CGAN)])
def test_resume_matches_uninterrupted_run(tmp_path, tiny_csv, kind, tiny, op_determinism):
    tiny = tiny + ["steps=6", "deterministic=true"]  # op determinism: bit-identical runs whatever the load
    full = train_command(kind, tiny_csv, str(tmp_path / "full"), overrides=tiny, progress=False)
    assert full.status == "completed" and full.step == 6
    part = train_command(kind, tiny_csv, str(tmp_path / "part"), overrides=tiny, progress=False,
                         max_steps_this_run=3)
    assert part.step == 3
    with pytest.raises(TrainingError, match="--resume"):
        train_command(kind, tiny_csv, str(tmp_path / "part"), overrides=tiny, progress=False)
    resumed = train_command(kind, tiny_csv, str(tmp_path / "part"), resume=True, progress=False)
    assert resumed.step == 6
    # same seed, same data position, same optimizer slots, same BN moving statistics ⇒ identical losses
    # and weights, bit for bit
    assert resumed.last_losses.keys() == full.last_losses.keys()
    assert resumed.last_losses == full.last_losses
    m_full, _ = load_model(str(tmp_path / "full"))
    m_part, cfg = load_model(str(tmp_path / "part"))
    assert [v.path for v in m_full.weights] == [v.path for v in m_part.weights]
    assert any("moving_mean" in v.path for v in m_full.weights)
    for v, a, b in zip(m_full.weights, _weights(m_full), _weights(m_part)):
        np.testing.assert_array_equal(b, a, err_msg=v.path)
    # run dir layout and provenance
    run = tmp_path / "part"
    assert (run / "config.yaml").exists() and (run / "logs").is_dir() and (run / "checkpoints" / "checkpoint").exists()
    saved = yaml.safe_load((run / "config.yaml").read_text())
    assert saved["model"] == kind and saved["steps"] == 6 and saved["image_size"] == 32
    assert "resumed_from_step: 3" in (run / "config.yaml").read_text()
    assert json.loads((run / "status.json").read_text())["step"] == 6
    assert any(f.startswith("events") for f in os.listdir(run / "logs"))


def test_caae_needs_identity_network_or_zero_weight(tmp_path, tiny_csv):
    overrides = [o for o in TINY_CAAE if not o.startswith("identity_weight")]
    with pytest.raises(TrainingError, match="identity_weight=0"):
        train_command("caae", tiny_csv, str(tmp_path / "r"), overrides=overrides + ["steps=1"], progress=False)


def test_non_finite_loss_stops_with_step_and_term(tmp_path, tiny_csv, monkeypatch):
    from caae_tf.models.caae import CAAE

    original = CAAE.train_step

    def poisoned(self, batch):
        out = original(self, batch)
        bad = self.optimizers_step_for_test >= 4
        out["loss_rec"] = out["loss_rec"] + (float("nan") if bad else 0.0)
        return out

    CAAE.optimizers_step_for_test = 0
    monkeypatch.setattr(CAAE, "train_step", lambda self, b: poisoned(self, b))
    # poison from the first step on: guard must name step 1 and the term; no checkpoint is written
    CAAE.optimizers_step_for_test = 5
    run = tmp_path / "nan"
    with pytest.raises(TrainingError, match=r"non-finite loss at step 1: loss_rec=nan"):
        train_command("caae", tiny_csv, str(run), overrides=TINY_CAAE + ["steps=5"], progress=False)
    assert not (run / "checkpoints" / "checkpoint").exists()
    assert json.loads((run / "status.json").read_text())["status"] == "non-finite"


def test_unwritable_run_dir_is_clear_error(tmp_path, tiny_csv):
    f = tmp_path / "file"
    f.write_text("x")
    with pytest.raises(TrainingError, match="not a directory"):
        train_command("caae", tiny_csv, str(f), overrides=TINY_CAAE, progress=False)
