"""Paper experiments with small fake models whose outputs are known: Table IV, Fig. 2, Fig. 6, identity."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from caae_tf import cli
from caae_tf import labels as L
from caae_tf.evaluation import curves as C
from caae_tf.evaluation import heatmaps as H
from caae_tf.evaluation import identity as I
from caae_tf.evaluation import table4 as T
from caae_tf.images import write_image

S = 8


class LabelPaintingEditor:
    """Writes the target label into the image: channel 0 = valence, channel 1 = arousal; channel 2 kept."""

    image_size = S

    def __init__(self):
        self.calls = 0

    def edit(self, images, va):
        self.calls += 1
        out = np.array(images, np.float32, copy=True)
        va = np.asarray(va, np.float32)
        out[..., 0] = va[:, 0, None, None]
        out[..., 1] = va[:, 1, None, None]
        return out


class OnePixelEditor:
    """Adds the target valence to one pixel (row 2, column 5, red)."""

    image_size = S

    def edit(self, images, va):
        out = np.array(images, np.float32, copy=True)
        out[:, 2, 5, 0] += np.asarray(va, np.float32)[:, 0]
        return out


class PixelRegressor:
    """Reads (valence, arousal) back from channels 0/1 of pixel (0, 0)."""

    def predict_va(self, images):
        return np.asarray(images, np.float32)[:, 0, 0, :2]


class Channel2Identity:
    """Identity embedding that only sees channel 2 (which the fake editor never changes)."""

    def embed(self, images):
        x = np.asarray(images, np.float32)[..., 2].reshape(len(images), -1)
        return x + 2.0  # positive: cosine distance well defined


def _faces(n, seed=0):
    rng = np.random.default_rng(seed)
    imgs = rng.uniform(-1, 1, (n, S, S, 3)).astype(np.float32)
    return [f"face{i}.png" for i in range(n)], imgs


def _batches(names, imgs, b):
    for i in range(0, len(imgs), b):
        yield names[i:i + b], imgs[i:i + b]


# ---------------------------------------------------------------------------------------------- Table IV

def test_extreme_labels_are_the_four_corners():
    grid = L.grid_labels()
    mask = L.extreme_label_mask(grid)
    assert len(grid) == 49 and mask.sum() == 4
    assert {tuple(v) for v in grid[mask]} == {(0.75, 0.75), (0.75, -0.75), (-0.75, 0.75), (-0.75, -0.75)}
    # the paper's counts: 220,500 edits / 49 = 4,500 images; 18,000 extreme = 4,500 x 4
    assert T.PAPER_COUNTS["num_edits"] == 49 * T.PAPER_COUNTS["num_images"]
    assert T.PAPER_COUNTS["num_extreme"] == mask.sum() * T.PAPER_COUNTS["num_images"]


def test_table4_perfect_editor_and_regressor():
    names, imgs = _faces(5)
    res = T.run_table4(LabelPaintingEditor(), PixelRegressor(), _batches(names, imgs, 2), identity=Channel2Identity(),
                       chunk=20, progress=False)
    assert res.counts == {"num_images": 5, "num_labels": 49, "num_edits": 245, "num_extreme": 20,
                          "num_extreme_labels": 4}
    assert list(res.columns) == ["All Valence", "All Arousal", "Extreme Valence", "Extreme Arousal"]
    for col in res.columns.values():
        assert col["rmse"] == pytest.approx(0.0, abs=1e-7)
        assert col["ccc"] == pytest.approx(1.0)
        assert col["sagr"] == 1.0
    df = res.edits
    assert list(df.columns) == ["image", "target_v", "target_a", "pred_v", "pred_a", "extreme", "identity_distance"]
    assert df["image"].iloc[0] == "face0.png" and df["image"].iloc[49] == "face1.png"  # image-major
    np.testing.assert_allclose(df["identity_distance"], 0.0, atol=1e-6)
    assert res.identity["share_below_threshold"] == 1.0 and res.identity["baseline_between_inputs"] > 0


def test_table4_constant_regressor_and_outputs(tmp_path):
    class Constant:
        def predict_va(self, images):
            return np.full((len(images), 2), 0.1, np.float32)

    names, imgs = _faces(2)
    res = T.run_table4(LabelPaintingEditor(), Constant(), _batches(names, imgs, 2), progress=False)
    grid = L.grid_labels()
    expected_rmse = np.sqrt(np.mean((grid[:, 0] - 0.1) ** 2))
    assert res.columns["All Valence"]["rmse"] == pytest.approx(expected_rmse, rel=1e-5)
    assert res.columns["All Valence"]["ccc"] == pytest.approx(0.0, abs=1e-7)
    # 0.1 is positive: agrees with the 21 positive targets of 49, never with the 7 zeros (np.sign)
    assert res.columns["All Valence"]["sagr"] == pytest.approx(21 / 49)
    assert res.columns["Extreme Valence"]["sagr"] == pytest.approx(0.5)
    paths = T.write_table4(res, str(tmp_path))
    table = pd.read_csv(paths["table4.csv"], index_col=0)
    assert list(table.index) == ["RMSE", "SAGR", "CCC"]
    assert list(table.columns) == ["All Valence", "All Arousal", "Extreme Valence", "Extreme Arousal"]
    js = json.loads(open(paths["table4.json"]).read())
    assert js["counts"]["num_edits"] == 98 and js["identity"] is None
    assert len(pd.read_csv(paths["edits.csv"])) == 98
    assert len(pd.read_csv(paths["table4_per_label.csv"])) == 49


def test_cosine_distance_and_summary():
    a = np.array([[1.0, 0.0], [1.0, 0.0], [1.0, 1.0], [0.0, 0.0]])
    b = np.array([[2.0, 0.0], [0.0, 1.0], [-1.0, -1.0], [1.0, 0.0]])
    np.testing.assert_allclose(I.cosine_distance(a, b), [0.0, 1.0, 2.0, 1.0])
    s = I.identity_summary(np.array([0.1, 0.3, 0.5, 0.7]), threshold=0.4)
    assert s["mean"] == pytest.approx(0.4) and s["share_below_threshold"] == 0.5
    assert I.between_image_baseline(np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 0.0]])) == pytest.approx(2 / 3)


# ---------------------------------------------------------------------------------------------- Fig. 2

def test_heatmaps_localise_the_edited_pixel(tmp_path):
    names, imgs = _faces(3)
    res = H.compute_heatmaps(OnePixelEditor(), _batches(names, imgs, 2), progress=False)
    assert res.sums.shape == (48, S, S) and res.num_faces == 3
    assert not np.any(np.all(np.isclose(res.labels, 0), axis=1))  # neutral excluded
    # |v − 0| / 2 per face at (2, 5) only; summed over 3 faces
    for k, (v, _a) in enumerate(res.labels):
        expected = np.zeros((S, S))
        expected[2, 5] = 3 * abs(v) / 2
        np.testing.assert_allclose(res.sums[k], expected, atol=1e-5)
    norm = res.normalised
    assert norm.max() == pytest.approx(1.0)
    np.testing.assert_allclose(norm[:, 2, 5], np.abs(res.labels[:, 0]) / 0.75, atol=1e-5)
    paths = H.write_heatmaps(res, str(tmp_path))
    assert np.load(paths["heatmaps.npy"]).shape == (48, S, S)
    summary = pd.read_csv(paths["heatmaps_summary.csv"])
    assert len(summary) == 48
    np.testing.assert_allclose(summary["mean_abs_change"], np.abs(summary["valence"]) / 2 / (S * S), atol=1e-6)
    import matplotlib.image as mpimg

    png = mpimg.imread(paths["heatmaps.png"])
    assert png.ndim == 3 and png.shape[0] > 100


def test_pixel_heatmap_is_max_over_channels_in_unit_range():
    a = np.zeros((1, 2, 2, 3), np.float32)
    b = a.copy()
    b[0, 0, 0] = [0.2, -1.0, 0.4]  # largest |Δ| = 1.0 in [-1,1] units = 0.5 in [0,1] units
    h = H.pixel_heatmap(a, b)
    assert h.shape == (1, 2, 2) and h[0, 0, 0] == pytest.approx(0.5) and h.sum() == pytest.approx(0.5)


# ---------------------------------------------------------------------------------------------- Fig. 6

CIRC = np.array([L.circumplex_va(e) for e in L.CGAN_EMOTIONS], np.float32)  # [6, 2]


class VAGenerator:
    """Image channel 0/1 = the circumplex VA implied by the conditioning weights (+ small z noise)."""

    z_dim = 4
    image_size = S

    def sample_z(self, n, seed=0):
        return np.random.default_rng(seed).standard_normal((n, self.z_dim)).astype(np.float32)

    def generate(self, z, weights):
        va = np.asarray(weights, np.float32) @ CIRC + 0.01 * z[:, :2]
        out = np.zeros((len(z), S, S, 3), np.float32)
        out[..., 0] = va[:, 0, None, None]
        out[..., 1] = va[:, 1, None, None]
        out[..., 2] = np.asarray(weights).argmax(-1)[:, None, None] / 10.0  # dominant class, for the classifier
        return out


class ClassFromImage(PixelRegressor):
    """8-class 'classifier' that recognises the dominant conditioning class written into channel 2."""

    def predict_emotion8(self, images):
        cgan = np.rint(np.asarray(images)[:, 0, 0, 2] * 10).astype(int)
        idx = [L.AFFECTNET_EMOTIONS.index(L.CGAN_EMOTIONS[c]) for c in cgan]
        return np.eye(8, dtype=np.float32)[idx]


def test_interpolation_curves_monotone_by_construction(tmp_path):
    res = C.interpolation_curves(VAGenerator(), PixelRegressor(), num_z=20, batch_size=8, progress=False)
    v = res.values
    assert len(v) == 5 * 11 * 20
    assert list(v.columns[:6]) == ["emotion", "z_index", "step", "alpha", "pred_valence", "pred_arousal"]
    s = res.summary
    assert len(s) == 55 and set(s["n"]) == {20}
    # band = 1.96 sd / sqrt(n)
    g = v[(v.emotion == "sadness") & (v.step == 5)]
    row = s[(s.emotion == "sadness") & (s.step == 5)].iloc[0]
    assert row["mean_valence"] == pytest.approx(g["pred_valence"].mean(), abs=1e-6)
    assert row["ci95_valence"] == pytest.approx(1.96 * g["pred_valence"].std(ddof=1) / np.sqrt(20), rel=1e-5)
    assert row["mean_valence"] == pytest.approx(0.5 * L.circumplex_va("sadness")[0], abs=0.01)
    for emotion, r in res.monotonicity.items():
        assert r["rho_valence"] == pytest.approx(np.sign(L.circumplex_va(emotion)[0]))
        assert r["rho_arousal"] == pytest.approx(np.sign(L.circumplex_va(emotion)[1]))
        assert r["monotone"] and r["direction_ok"]
    assert res.monotonicity["happiness"]["monotone_dim"] == "valence"
    assert res.monotonicity["fear"]["monotone_dim"] == "arousal"
    assert res.recognition is None  # PixelRegressor has no class head
    paths = C.write_curves(res, str(tmp_path))
    assert (tmp_path / "fig6.png").is_file() and (tmp_path / "fig6_anger.png").is_file()
    rep = json.loads(open(paths["report"]).read())
    assert set(rep["monotonicity"]) == set(L.EXTREME_EMOTIONS)


def test_non_monotone_curve_is_flagged():
    class Bumpy(PixelRegressor):
        def predict_va(self, images):
            va = super().predict_va(images).copy()
            va[:, 1] = np.sin(va[:, 1] * 20)  # arousal goes up and down
            return va

    res = C.interpolation_curves(VAGenerator(), Bumpy(), num_z=4, emotions=("anger",), progress=False)
    assert not res.monotonicity["anger"]["monotone"]


def test_recognition_from_class_head():
    res = C.interpolation_curves(VAGenerator(), ClassFromImage(), num_z=6, emotions=("sadness", "fear"),
                                 progress=False)
    rec = res.recognition
    assert set(rec["per_class"]) == {"neutral", "sadness", "fear"}
    assert rec["per_class"]["neutral"]["n"] == 12 and rec["mean_rate"] == 1.0
    assert "pred_class" in res.values.columns
    full = C.recognition_check(VAGenerator(), ClassFromImage(), num_z=3)
    assert set(full["per_class"]) == set(L.CGAN_EMOTIONS) and full["mean_rate"] == 1.0


# ---------------------------------------------------------------------------------------------- CLI wiring

@pytest.fixture
def fake_models(monkeypatch):
    from caae_tf.commands import experiment as E

    monkeypatch.setattr(E, "_load_editor", lambda path: LabelPaintingEditor())
    monkeypatch.setattr(E, "_load_generator", lambda path: VAGenerator())
    monkeypatch.setattr(E, "_load_regressor", lambda path: ClassFromImage())
    monkeypatch.setattr(E, "_load_identity", lambda path, model: Channel2Identity())


@pytest.fixture
def face_dir(tmp_path):
    d = tmp_path / "faces"
    rng = np.random.default_rng(0)
    for i in range(3):
        write_image(d / f"{i:06d}.jpg", rng.integers(0, 255, (20, 16, 3), dtype=np.uint8))
    (d / "broken.jpg").write_bytes(b"not an image")
    return d


def test_experiment_table4_command(fake_models, face_dir, tmp_path, capsys):
    out = tmp_path / "t4"
    rc = cli.main(["experiment", "table4", "--model", "m", "--regressor", "r", "--data", str(face_dir),
                   "--limit", "2", "--identity", "vgg", "--out", str(out), "--quiet"])
    assert rc == 0
    text = capsys.readouterr().out
    assert "98 edits of 2 images" in text and "identity" in text
    js = json.loads((out / "table4.json").read_text())
    assert js["table4"]["All Valence"]["rmse"] == pytest.approx(0.0, abs=1e-7)
    assert js["identity"]["share_below_threshold"] == 1.0


def test_experiment_heatmaps_command(fake_models, face_dir, tmp_path, capsys):
    out = tmp_path / "hm"
    assert cli.main(["experiment", "heatmaps", "--model", "m", "--images", str(face_dir), "--out", str(out),
                     "--quiet"]) == 0
    cap = capsys.readouterr()
    assert "3 faces" in cap.out and "broken" not in cap.out
    assert "not a decodable image" in cap.err
    assert np.load(out / "heatmaps.npy").shape == (48, S, S)
    assert (out / "heatmaps.png").is_file()


def test_experiment_curves_and_recognition_commands(fake_models, tmp_path, capsys):
    out = tmp_path / "c"
    assert cli.main(["experiment", "interpolation-curves", "--model", "g", "--regressor", "r", "--num-z", "3",
                     "--out", str(out), "--quiet"]) == 0
    text = capsys.readouterr().out
    assert "sadness" in text and "recognition" in text
    vals = pd.read_csv(out / "curves_values.csv")
    assert len(vals) == 5 * 11 * 3
    assert cli.main(["experiment", "recognition", "--model", "g", "--classifier", "r", "--num-z", "2",
                     "--out", str(out)]) == 0
    assert json.loads((out / "recognition.json").read_text())["mean_rate"] == 1.0


def test_experiment_argument_errors(fake_models, tmp_path, capsys):
    assert cli.main(["experiment", "interpolation-curves", "--model", "g", "--regressor", "r", "--num-z", "0",
                     "--out", str(tmp_path)]) == 2
    assert "--num-z must be >= 1" in capsys.readouterr().err
    assert cli.main(["experiment", "heatmaps", "--model", "m", "--images", str(tmp_path / "nope"),
                     "--out", str(tmp_path)]) == 2
    assert "no such file or folder" in capsys.readouterr().err
