"""Tests for data_prep.synthetic and ``caae-tf synth``: geometry measured on the rendered pixels,
determinism, labels, identity factors, CSV schema, discrete/continuous modes, CLI."""

from __future__ import annotations

import dataclasses
import itertools
import math
import pathlib

import numpy as np
import pandas as pd
import pytest

from caae_tf import labels
from caae_tf.cli import main
from data_prep import synthetic as S

SWEEP = np.linspace(-1.0, 1.0, 7)


def _plain_identities(n: int, seed: int = 0) -> list[S.IdentityFactors]:
    """The first ``n`` identities without glasses (glasses frames would overlap the eye region)."""
    out = []
    for i in itertools.count():
        f = S.sample_identity(seed, i)
        if not f.glasses:
            out.append(f)
        if len(out) == n:
            return out


# ------------------------------------------------------------------------------------------ pixel measurements

def _mouth_curvature(f: S.IdentityFactors, valence: float, arousal: float, size: int = 128) -> float:
    """Corner height minus centre height of the lips (pixels, image rows grow downwards), measured on the
    image: lip pixels are thresholded by redness (R−G) half-way between skin and lip colour in a box around
    the mouth; a parabola row = c + b·x² (x ∈ [−1, 1] across the lips) is fitted to the per-column lip
    centroids and b is returned (> 0: corners lower = frown, < 0: corners higher = smile)."""
    img = S.render_face(f, valence, arousal, size, None, jitter=False).astype(np.float32)
    my = S.EYE_Y + f.nose_length + f.mouth_gap
    mw = f.mouth_width * 1.25
    (x0, y0), (x1, y1) = S.layout_to_image([[S.CX - mw, my - 0.09], [S.CX + mw, my + 0.08]]) * size
    roi = img[int(y0) : int(y1), int(x0) : int(x1)]
    skin, lip = np.asarray(f.skin), np.asarray(f.lip_color)
    mask = (roi[..., 0] - roi[..., 1]) > ((skin[0] - skin[1]) + (lip[0] - lip[1])) / 2
    counts = mask.sum(0)
    cols = np.nonzero(counts)[0]
    assert cols.size > 0.06 * size, "no lips found in the mouth region"
    rows = np.arange(roi.shape[0])[:, None]
    centroid = (mask * rows).sum(0)[cols] / counts[cols]
    x = (cols - cols.mean()) / (cols.max() - cols.min()) * 2
    b, _ = np.polyfit(x ** 2, centroid, 1, w=np.sqrt(counts[cols]))
    return float(b)


def _eye_opening(f: S.IdentityFactors, valence: float, arousal: float, size: int = 256) -> tuple[int, float]:
    """(rows containing eye pixels, eye pixels per column) averaged over both eyes, measured on the image.

    Eye pixels in a box of ±0.5 eye half-widths around each eye centre: low-saturation bright (sclera) or
    much darker than the skin just below the eye (iris, pupil, lashes)."""
    img = S.render_face(f, valence, arousal, size, None, jitter=False).astype(np.float32)
    ew = f.eye_size
    rows, area = [], []
    for side in (-1, 1):
        ex = S.CX + side * f.eye_spacing
        (x0, y0), (x1, y1) = S.layout_to_image([[ex - 0.5 * ew, S.EYE_Y - 0.9 * ew],
                                                [ex + 0.5 * ew, S.EYE_Y + 0.6 * ew]]) * size
        roi = img[int(y0) : int(math.ceil(y1)), int(x0) : int(math.ceil(x1))]
        (_, c0), (_, c1) = S.layout_to_image([[ex, S.EYE_Y + 0.65 * ew], [ex, S.EYE_Y + 0.95 * ew]]) * size
        cheek = np.median(img[int(c0) : int(math.ceil(c1)), int(x0) : int(math.ceil(x1))].mean(-1))
        lum = roi.mean(-1)
        sclera = ((roi.max(-1) - roi.min(-1)) < 30) & (lum > 150)
        m = sclera | (lum < 0.62 * cheek)
        rows.append(int((m.sum(1) >= 2).sum()))
        area.append(m.sum() / roi.shape[1])
    return int(round(np.mean(rows))), float(np.mean(area))


def _mouth_opening(f: S.IdentityFactors, valence: float, arousal: float, size: int = 256) -> float:
    """Height in pixels of the dark mouth interior (and lip line) in the three central columns, with
    fractional darkness so that anti-aliased edges count partially."""
    img = S.render_face(f, valence, arousal, size, None, jitter=False).astype(np.float32)
    my = S.EYE_Y + f.nose_length + f.mouth_gap
    (x0, y0), (x1, y1) = S.layout_to_image([[S.CX, my - 0.05], [S.CX, my + 0.09]]) * size
    lum = img[int(y0) : int(y1), int(x0) - 1 : int(x0) + 2].mean(-1)
    skin = np.median(img[int(y0) : int(y1), int(x0) - 12 : int(x0) - 9].mean(-1))  # beside the nose/chin
    hi, lo = 0.55 * skin, 0.35 * skin
    return float(np.clip((hi - lum) / (hi - lo), 0, 1).sum(0).mean())


# ------------------------------------------------------------------------------------------ rendering

@pytest.mark.parametrize("size", [64, 96, 128, 256])
def test_render_shape_dtype_and_content(size):
    f = S.sample_identity(0, 3)
    img = S.render_face(f, 0.2, -0.4, size, 5)
    assert img.shape == (size, size, 3) and img.dtype == np.uint8
    assert img.std() > 20  # a picture, not a flat colour
    # the face's skin colour is present around the face centre
    c = S.layout_to_image([[S.CX, S.EYE_Y + 0.08]])[0] * size
    patch = img[int(c[1]) - 1 : int(c[1]) + 2, int(c[0]) + int(0.12 * size) - 1 : int(c[0]) + int(0.12 * size) + 2]
    assert np.abs(patch.reshape(-1, 3).mean(0) - np.asarray(f.skin)).max() < 70


def test_render_deterministic_and_jitter():
    f = S.sample_identity(1, 0)
    a = S.render_face(f, 0.5, 0.5, 96, 7)
    b = S.render_face(f, 0.5, 0.5, 96, np.random.default_rng(7))
    assert np.array_equal(a, b)
    c = S.render_face(f, 0.5, 0.5, 96, 8)
    assert not np.array_equal(a, c)
    # jitter=False ignores the seed
    assert np.array_equal(S.render_face(f, 0.5, 0.5, 96, 1, jitter=False),
                          S.render_face(f, 0.5, 0.5, 96, 2, jitter=False))
    # jitter is small: the jittered image stays close to the canonical one on average
    canon = S.render_face(f, 0.5, 0.5, 96, None, jitter=False).astype(np.float32)
    assert 0.5 < np.abs(a.astype(np.float32) - canon).mean() < 25


def test_expression_is_continuous():
    f = _plain_identities(1)[0]
    base = S.render_face(f, 0.3, 0.1, 96, None, jitter=False).astype(np.float32)
    near = S.render_face(f, 0.31, 0.11, 96, None, jitter=False).astype(np.float32)
    far = S.render_face(f, 0.9, 0.9, 96, None, jitter=False).astype(np.float32)
    d_near, d_far = np.abs(near - base).mean(), np.abs(far - base).mean()
    assert 0 < d_near < 0.1 * d_far


def test_valence_moves_mouth_corners_monotonically():
    for f in _plain_identities(3):
        for arousal in (-1.0, -0.5):
            b = [_mouth_curvature(f, v, arousal) for v in SWEEP]
            assert all(x > y for x, y in zip(b, b[1:])), (f.identity, arousal, b)  # corners rise with valence
            assert b[0] > 2.0 and b[-1] < -3.0, b  # frown at −1, smile at +1 (pixels at 128 px)


def test_arousal_opens_eyes_and_mouth_monotonically():
    for f in _plain_identities(3):
        measures = [_eye_opening(f, 0.0, a) for a in SWEEP]
        rows = [r for r, _ in measures]
        area = [x for _, x in measures]
        assert all(x <= y for x, y in zip(rows, rows[1:])), (f.identity, rows)
        assert all(x < y for x, y in zip(area, area[1:])), (f.identity, area)
        assert rows[-1] >= 2 * rows[0], rows
        mouth = [_mouth_opening(f, 0.0, a) for a in SWEEP]
        assert all(x <= y + 0.3 for x, y in zip(mouth, mouth[1:])), (f.identity, mouth)
        assert mouth[-1] > mouth[0] + 4, mouth


# ------------------------------------------------------------------------------------------ identities

#: per-field threshold for "visibly different" (colours: RGB distance; lengths: absolute)
_VISIBLE = {
    "face_width": 0.006, "face_length": 0.008, "cranium": 0.006, "squareness": 0.15, "jaw_taper": 0.05,
    "skin": 20.0, "hair_color": 30.0, "hair_style": None, "hair_volume": 0.15, "hairline": 0.04,
    "eye_color": 30.0, "eye_spacing": 0.004, "eye_size": 0.002, "eye_tilt": 0.03, "nose_length": 0.006,
    "nose_width": 0.003, "mouth_gap": 0.003, "mouth_width": 0.003, "lip_thickness": 0.0015,
    "brow_thickness": 0.002, "brow_arch": 0.05, "glasses": None, "shirt_color": 30.0,
    "background": 30.0, "light_angle": 0.3, "light_strength": 0.03,
}


def _differs(name, x, y) -> bool:
    tol = _VISIBLE[name]
    if tol is None:
        return x != y
    if name == "background":
        return np.linalg.norm(np.subtract(x, y)) > tol
    if isinstance(x, tuple):
        return float(np.linalg.norm(np.subtract(x, y))) > tol
    if name == "light_angle":
        return abs((x - y + math.pi) % (2 * math.pi) - math.pi) > tol
    return abs(x - y) > tol


def test_identity_factors_fixed_within_identity_and_distinct_across():
    assert S.sample_identity(3, 11) == S.sample_identity(3, 11)
    assert S.sample_identity(3, 11) != S.sample_identity(4, 11)
    ids = [S.sample_identity(0, i) for i in range(12)]
    counts = []
    for f, g in itertools.combinations(ids, 2):
        counts.append(sum(_differs(k, getattr(f, k), getattr(g, k)) for k in _VISIBLE))
    counts = np.array(counts)
    assert (counts >= 5).mean() >= 0.95, counts
    assert np.median(counts) >= 15
    # all hair styles / glasses both ways occur among a few dozen identities
    many = [S.sample_identity(0, i) for i in range(60)]
    assert {f.hair_style for f in many} == set(S.HAIR_STYLES)
    assert {f.glasses for f in many} == {True, False}
    assert {f.name for f in dataclasses.fields(S.IdentityFactors)} >= set(_VISIBLE)


def test_identity_visible_in_pixels():
    """Same identity: background corners identical across expressions; different identity: different."""
    f, g = S.sample_identity(0, 0), S.sample_identity(0, 1)
    a = S.render_face(f, -0.8, 0.9, 64, None, jitter=False)
    b = S.render_face(f, 0.8, -0.9, 64, None, jitter=False)
    c = S.render_face(g, -0.8, 0.9, 64, None, jitter=False)
    assert np.array_equal(a[:6, :6], b[:6, :6])
    assert np.abs(a[:6, :6].astype(int) - c[:6, :6].astype(int)).mean() > 5
    assert np.abs(a.astype(int) - c.astype(int)).mean() > 3 * np.abs(a.astype(int) - b.astype(int)).mean()


# ------------------------------------------------------------------------------------------ data sets

def _read_all(folder: pathlib.Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def test_generate_dataset_deterministic_bytes(tmp_path):
    kw = dict(identities=3, per_identity=4, size=64, seed=11, progress=False)
    S.generate_dataset(tmp_path / "a", **kw)
    S.generate_dataset(tmp_path / "b", **kw)
    a, b = _read_all(tmp_path / "a"), _read_all(tmp_path / "b")
    assert len(a) == 3 * 4 + 1 and a == b
    S.generate_dataset(tmp_path / "c", **{**kw, "seed": 12})
    c = _read_all(tmp_path / "c")
    assert set(c) == set(a) and all(c[k] != a[k] for k in a)


def test_csv_schema_labels_and_exact_rerender(tmp_path):
    df = S.generate_dataset(tmp_path, 2, 5, size=64, seed=3, progress=False)
    csv = pd.read_csv(tmp_path / "labels.csv")
    assert list(csv.columns) == ["path", "identity", "valence", "arousal", "emotion"]
    assert len(csv) == 10 and csv["identity"].dtype.kind == "i"
    assert sorted(csv["identity"].unique().tolist()) == [0, 1]
    assert csv["path"].tolist() == [f"images/id{i:04d}_{k:04d}.png" for i in range(2) for k in range(5)]
    for col in ("valence", "arousal"):
        assert csv[col].between(-1, 1).all()
        assert np.allclose(csv[col], csv[col].round(4), atol=0, rtol=0)
    pd.testing.assert_frame_equal(df.reset_index(drop=True), csv, check_dtype=False)
    assert set(csv["emotion"]) <= set(labels.ALL_EMOTIONS)
    # every image is exactly the rendering of its CSV (rounded) labels with its per-image generator
    import cv2

    for row in csv.itertuples():
        k = int(row.path[-8:-4])
        img = cv2.cvtColor(cv2.imread(str(tmp_path / row.path)), cv2.COLOR_BGR2RGB)
        ref = S.render_face(S.sample_identity(3, row.identity), row.valence, row.arousal, 64,
                            S.image_rng(3, row.identity, k))
        assert np.array_equal(img, ref), row.path


def test_continuous_mode_uniform_and_nearest_emotion(tmp_path):
    df = S.generate_dataset(tmp_path, 2, 40, size=32, seed=0, progress=False)
    va = df[["valence", "arousal"]].to_numpy()
    assert va.min() >= -1 and va.max() <= 1
    assert (va < -0.5).mean(0).min() > 0.1 and (va > 0.5).mean(0).min() > 0.1  # spread over the square
    for v, a, e in df[["valence", "arousal", "emotion"]].itertuples(index=False):
        dists = {n: math.dist((v, a), labels.circumplex_va(n)) for n in labels.ALL_EMOTIONS}
        assert dists[e] == min(dists.values())


def test_discrete_mode_default_cgan_emotions_at_circumplex_points(tmp_path):
    df = S.generate_dataset(tmp_path, 2, 12, size=32, seed=5, mode="discrete", progress=False)
    assert set(df["emotion"]) == set(labels.CGAN_EMOTIONS)
    assert (df["emotion"].value_counts() == 4).all()  # balanced: 2 identities × 12 / 6 emotions
    for e, grp in df.groupby("emotion"):
        centre = np.array(labels.circumplex_va(e))
        err = grp[["valence", "arousal"]].to_numpy() - centre
        assert np.abs(err).max() < 5 * S.DISCRETE_LABEL_NOISE, (e, err)
    err = np.concatenate([df[["valence", "arousal"]].to_numpy()[i:i + 1] - labels.circumplex_va(e)
                          for i, e in enumerate(df["emotion"])])
    assert 0.01 < err.std() < 0.06


def test_discrete_mode_restricted_emotions_and_first_identity(tmp_path):
    df = S.generate_dataset(tmp_path, 2, 4, size=32, seed=0, mode="discrete", emotions="surprise,contempt",
                            first_identity=100, progress=False)
    assert set(df["emotion"]) == {"surprise", "contempt"}
    assert sorted(df["identity"].unique().tolist()) == [100, 101]
    assert (tmp_path / "images" / "id0100_0003.png").is_file()
    # held-out identities are the same people whichever range they are rendered in
    assert S.sample_identity(0, 100) == S.sample_identity(0, 100)
    with pytest.raises(ValueError, match="unknown emotion"):
        S.generate_dataset(tmp_path / "x", 1, 1, size=32, mode="discrete", emotions="joyful", progress=False)
    with pytest.raises(ValueError, match="discrete"):
        S.generate_dataset(tmp_path / "y", 1, 1, size=32, emotions="anger", progress=False)


def test_contact_sheet(tmp_path):
    path = tmp_path / "sheet.png"
    sheet = S.contact_sheet(path, identities=2, sweep=3, size=64, seed=0)
    assert path.is_file() and sheet.dtype == np.uint8
    assert sheet.shape[0] > 2 * 64 and sheet.shape[1] > 6 * 64
    import cv2

    assert np.array_equal(cv2.cvtColor(cv2.imread(str(path)), cv2.COLOR_BGR2RGB), sheet)


# ------------------------------------------------------------------------------------------ CLI

def test_cli_end_to_end(tmp_path, capsys):
    out = tmp_path / "ds"
    sheet = tmp_path / "sheet.png"
    rc = main(["synth", "--out", str(out), "--identities", "2", "--per-identity", "3", "--size", "64",
               "--seed", "1", "--mode", "discrete", "--emotions", "happiness,sadness,anger",
               "--first-identity", "7", "--sheet", str(sheet), "--sheet-identities", "2", "--sheet-sweep", "3",
               "--quiet"])
    assert rc == 0
    text = capsys.readouterr().out
    assert str(out / "labels.csv") in text and str(sheet) in text
    csv = pd.read_csv(out / "labels.csv")
    assert len(csv) == 6 and set(csv["identity"]) == {7, 8}
    assert csv["emotion"].tolist()[:3] == ["happiness", "sadness", "anger"]
    assert all((out / p).is_file() for p in csv["path"])
    assert sheet.is_file()
    # same command, same bytes
    rc = main(["synth", "--out", str(tmp_path / "ds2"), "--identities", "2", "--per-identity", "3", "--size", "64",
               "--seed", "1", "--mode", "discrete", "--emotions", "happiness,sadness,anger", "--first-identity",
               "7", "--quiet"])
    assert rc == 0 and _read_all(out) == _read_all(tmp_path / "ds2")


def test_cli_sheet_only_and_errors(tmp_path, capsys):
    sheet = tmp_path / "s.png"
    assert main(["synth", "--sheet", str(sheet), "--size", "32", "--sheet-identities", "1", "--sheet-sweep", "2"]) == 0
    assert sheet.is_file()
    capsys.readouterr()
    assert main(["synth"]) == 2
    assert "--out" in capsys.readouterr().err
    assert main(["synth", "--out", str(tmp_path / "x"), "--mode", "discrete", "--emotions", "bliss", "--quiet"]) == 2
    assert "bliss" in capsys.readouterr().err
    assert main(["synth", "--out", str(tmp_path / "x"), "--emotions", "anger", "--quiet"]) == 2
    assert "--mode discrete" in capsys.readouterr().err
    assert main(["synth", "--out", str(tmp_path / "x"), "--identities", "0", "--quiet"]) == 2
    assert not (tmp_path / "x").exists()
