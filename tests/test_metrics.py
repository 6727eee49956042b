"""Metrics of paper 000 §IV-A against hand-computed values, and the `caae-tf metrics` command."""

from __future__ import annotations

import json

import numpy as np
import pytest

from caae_tf import cli
from caae_tf.evaluation.metrics import ccc, format_table, metrics_table, rmse, sagr, va_metrics


def test_perfect_prediction():
    x = np.array([-0.5, 0.1, 0.3, 0.9])
    assert rmse(x, x) == 0.0
    assert ccc(x, x) == pytest.approx(1.0)
    assert sagr(x, x) == 1.0


def test_anti_correlated():
    x = np.array([-1.0, 0.0, 1.0])
    y = -x
    assert ccc(x, y) == pytest.approx(-1.0)
    assert rmse(x, y) == pytest.approx(np.sqrt((4 + 0 + 4) / 3))
    # signs: (-,+), (0,0), (+,-) -> only the zero pair agrees with np.sign
    assert sagr(x, y) == pytest.approx(1 / 3)


def test_shifted_prediction_hand_computed():
    x = np.array([1.0, 2.0, 3.0])
    y = x + 1.0
    # population var = 2/3, cov = 2/3, (mu_x - mu_y)^2 = 1  ->  2*(2/3) / (2/3 + 2/3 + 1) = 4/7
    assert ccc(x, y) == pytest.approx(4 / 7)
    assert rmse(x, y) == pytest.approx(1.0)
    # scaled: y = 2x -> cov = 4/3, var_y = 8/3, diff^2 = 4 -> (8/3) / (2/3 + 8/3 + 4) = 8/22
    assert ccc(x, 2 * x) == pytest.approx(8 / 22)


def test_ccc_equals_rho_formula():
    rng = np.random.default_rng(1)
    x = rng.normal(size=50)
    y = 0.5 * x + rng.normal(size=50) * 0.3 + 0.2
    rho = np.corrcoef(x, y)[0, 1]
    expected = 2 * rho * x.std() * y.std() / (x.var() + y.var() + (x.mean() - y.mean()) ** 2)
    assert ccc(x, y) == pytest.approx(expected)


def test_constant_cases():
    assert ccc([0.3, 0.3, 0.3], [0.3, 0.3, 0.3]) == 1.0  # documented degenerate case
    assert ccc([0.3, 0.3], [0.5, 0.5]) == 0.0
    assert ccc([1.0, 2.0, 3.0], [0.5, 0.5, 0.5]) == 0.0
    assert rmse([0.3, 0.3], [0.5, 0.5]) == pytest.approx(0.2)


def test_sagr_sign_zero_handling():
    x = [0.0, 0.5, -0.5, 0.2]
    y = [0.0, 0.1, 0.3, 0.0]
    assert sagr(x, y) == pytest.approx(0.5)  # np.sign: 0 matches only 0
    assert sagr(x, y, zero="positive") == pytest.approx(0.75)  # 0 counts as positive
    with pytest.raises(ValueError):
        sagr(x, y, zero="bogus")


def test_input_validation():
    with pytest.raises(ValueError, match="same length"):
        rmse([1, 2], [1, 2, 3])
    with pytest.raises(ValueError, match="finite"):
        ccc([1, np.nan], [1, 2])
    with pytest.raises(ValueError):
        va_metrics(np.zeros((3, 2)), np.zeros((3, 3)))


def test_va_metrics_layout_and_table():
    t = np.array([[0.5, -0.5], [-0.5, 0.5], [0.2, 0.1]])
    p = np.array([[0.5, -0.4], [-0.5, 0.4], [0.2, 0.2]])
    m = va_metrics(t, p)
    assert set(m) == {"valence", "arousal"} and set(m["valence"]) == {"rmse", "sagr", "ccc"}
    assert m["valence"]["rmse"] == 0.0 and m["valence"]["ccc"] == pytest.approx(1.0)
    assert m["arousal"]["rmse"] == pytest.approx(0.1)
    df = metrics_table(m)
    assert list(df.index) == ["RMSE", "SAGR", "CCC"] and list(df.columns) == ["valence", "arousal"]
    assert "RMSE" in format_table(m)


def _write_csv(path, text):
    path.write_text(text)
    return str(path)


def test_metrics_cli_json(tmp_path, capsys):
    csv = _write_csv(tmp_path / "p.csv", "valence,arousal,pred_valence,pred_arousal\n"
                     "0.5,-0.5,0.5,-0.4\n-0.5,0.5,-0.5,0.4\n0.2,0.1,0.2,0.2\n")
    assert cli.main(["metrics", "--csv", csv]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["valence"]["rmse"] == 0.0
    assert out["arousal"]["rmse"] == pytest.approx(0.1)


def test_metrics_cli_bad_rows_and_custom_columns(tmp_path, capsys):
    csv = _write_csv(tmp_path / "p.csv", "v,a,pv,pa\n0.5,-0.5,0.5,-0.5\nx,0.1,0.1,0.1\n0.1,,0.1,0.1\n"
                     "-0.5,0.5,-0.5,0.5\n")
    assert cli.main(["metrics", "--csv", csv, "--true-cols", "v,a", "--pred-cols", "pv,pa",
                     "--out", str(tmp_path / "m.json")]) == 0
    cap = capsys.readouterr()
    assert "skipped 2 of 4 rows" in cap.err and "data rows 2, 3" in cap.err
    out = json.loads(cap.out)
    assert out["valence"]["rmse"] == 0.0 and out["arousal"]["ccc"] == pytest.approx(1.0)
    assert json.loads((tmp_path / "m.json").read_text()) == out


def test_metrics_cli_missing_column(tmp_path, capsys):
    csv = _write_csv(tmp_path / "p.csv", "valence,arousal,pred_valence\n0.1,0.2,0.3\n")
    assert cli.main(["metrics", "--csv", csv]) == 2
    err = capsys.readouterr().err
    assert "pred_arousal" in err and "p.csv" in err


def test_metrics_cli_no_valid_rows(tmp_path, capsys):
    csv = _write_csv(tmp_path / "p.csv", "valence,arousal,pred_valence,pred_arousal\nx,1,1,1\n")
    assert cli.main(["metrics", "--csv", csv]) == 2
    assert "no row has numeric values" in capsys.readouterr().err
