"""edit --align on full photos: every face, --face-index, outside-mask invariance, JSON report, folders,
the model's own template (records manifest → run dir → export metadata), and bad inputs."""

from __future__ import annotations

import json
import os

import cv2
import numpy as np
import pytest

from caae_tf.cli import main
from caae_tf.edit import Editor, edit_files, edit_photo, model_alignment
from caae_tf.images import read_image, write_image
from data_prep.align import NoFaceError, pasted_mask

from _train_helpers import TINY_CAAE

skimage_data = pytest.importorskip("skimage.data", reason="scikit-image (dev extra) ships the astronaut photo")


def _invert(images, va):
    """A stand-in CAAE: colour-inverted face (plus the label, so different labels differ)."""
    x = np.asarray(images, np.float32)
    return np.clip(-x + 0.1 * np.asarray(va, np.float32)[:, :1, None, None], -1, 1)


@pytest.fixture(scope="module")
def fake():
    return Editor(_invert, lambda x: np.zeros((len(x), 4), np.float32), 64, "fake")


@pytest.fixture(scope="module")
def astronaut():
    return skimage_data.astronaut()


@pytest.fixture(scope="module")
def two_faces(astronaut):
    """A 900×420 'group photo': the astronaut's head twice (second mirrored, 0.8×) on a grey wall."""
    head = astronaut[20:260, 130:330]
    canvas = np.full((420, 900, 3), 150, np.uint8)
    canvas[40:280, 60:260] = head
    small = cv2.resize(head[:, ::-1], (160, 192), interpolation=cv2.INTER_AREA)
    canvas[150:342, 600:760] = small
    return canvas


def test_every_face_is_edited_and_outside_stays(fake, two_faces):
    res = edit_photo(fake, two_faces, [0.5, -0.5])
    assert len(res.faces) == 2 and all("valence" in f for f in res.faces)
    assert res.faces[0]["box"][0] < 300 < 600 < res.faces[1]["box"][0]  # largest (left) first
    union = np.zeros(two_faces.shape[:2], bool)
    for a in res.aligned:
        m = pasted_mask(two_faces.shape, a)
        union |= m > 0
        assert np.abs(res.image[m > 0.99].astype(int) - two_faces[m > 0.99]).mean() > 40  # face inverted
    np.testing.assert_array_equal(res.image[~union], two_faces[~union])
    # only face 1
    res1 = edit_photo(fake, two_faces, [0.5, -0.5], face_index=[1])
    assert "skipped" in res1.faces[0] and "valence" in res1.faces[1]
    m0 = pasted_mask(two_faces.shape, res.aligned[0]) > 0
    np.testing.assert_array_equal(res1.image[m0], two_faces[m0])
    with pytest.raises(NoFaceError, match="--face-index 5 not found"):
        edit_photo(fake, two_faces, [0, 0], face_index=[5])


def test_seamless_blend_also_keeps_outside(fake, astronaut):
    res = edit_photo(fake, astronaut, [0, 0], blend="seamless")
    m = pasted_mask(astronaut.shape, res.aligned[0])
    np.testing.assert_array_equal(res.image[m == 0], astronaut[m == 0])
    assert not np.array_equal(res.image, astronaut)


def test_min_face_and_huge_photo(fake, astronaut):
    with pytest.raises(NoFaceError, match="no face found of at least 500 px"):
        edit_photo(fake, astronaut, [0, 0], min_face=500)
    huge = cv2.resize(astronaut, (3000, 3000), interpolation=cv2.INTER_CUBIC)
    res = edit_photo(fake, huge, [0, 0])
    assert res.image.shape == huge.shape and res.aligned[0].extra["detect_scale"] < 0.4
    m = pasted_mask(huge.shape, res.aligned[0])
    np.testing.assert_array_equal(res.image[m == 0], huge[m == 0])
    assert (m > 0).sum() > 100_000  # pasted at full resolution


def test_files_folders_json_and_bad_inputs(fake, astronaut, two_faces, tmp_path):
    from PIL import Image

    src = tmp_path / "in"
    (src / "sub").mkdir(parents=True)
    write_image(src / "astro.png", astronaut)
    write_image(src / "sub" / "group.jpg", two_faces)
    cv2.imwrite(str(src / "sub" / "grey.png"), cv2.cvtColor(astronaut, cv2.COLOR_RGB2GRAY))
    rgba = np.dstack([astronaut[..., ::-1], np.full(astronaut.shape[:2], 200, np.uint8)])
    cv2.imwrite(str(src / "rgba.png"), rgba)
    cv2.imwrite(str(src / "deep16.png"), astronaut[..., ::-1].astype(np.uint16) * 257)
    exif = Image.Exif()
    exif[0x0112] = 6  # stored rotated 90° counter-clockwise; displayed upright
    Image.fromarray(np.ascontiguousarray(np.rot90(astronaut, 1))).save(src / "exif6.jpg", quality=95,
                                                                        exif=exif.tobytes())
    write_image(src / "wall.png", np.full((100, 120, 3), 128, np.uint8))
    (src / "notes.txt").write_text("not an image")
    rep = edit_files(fake, [str(src)], str(tmp_path / "out"), valence=0.5, arousal=0.25, align=True,
                     progress=False)
    names = sorted(os.path.relpath(p, tmp_path / "out") for p in rep.written)
    assert names == ["astro_v+0.50_a+0.25.png", "deep16_v+0.50_a+0.25.png", "exif6_v+0.50_a+0.25.png",
                     "rgba_v+0.50_a+0.25.png", "sub/grey_v+0.50_a+0.25.png", "sub/group_v+0.50_a+0.25.png"]
    assert [(os.path.basename(p), m) for p, m in rep.failed] == [("wall.png", f"{src / 'wall.png'}: no face found")]
    data = rep.to_json()
    assert data["faces_edited"] == 7 and data["failed"] == 1
    group = next(r for r in data["images"] if r["input"].endswith("group.jpg"))
    for f in group["faces"]:
        assert set(f) >= {"box", "landmarks", "score", "valence", "arousal"} and f["valence"] == 0.5
        assert set(f["landmarks"]) == {"left_eye", "right_eye", "nose", "mouth_left", "mouth_right"}
    assert set(data["seconds"]) == {"read", "detect", "warp", "model", "paste", "write"}
    ex = read_image(tmp_path / "out" / "exif6_v+0.50_a+0.25.png")
    assert ex.shape == astronaut.shape  # EXIF rotation applied before detection


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    """An untrained tiny CAAE run dir whose provenance points at a records dir aligned at margin 0.3."""
    import tensorflow as tf

    from caae_tf.config import CAAEConfig, apply_overrides, save_config
    from caae_tf.data.records import write_records
    from caae_tf.models.caae import CAAE
    from caae_tf.train import dummy_batch, variable_map
    from data_prep.align import alignment_info

    root = tmp_path_factory.mktemp("tiny")
    rec = root / "records"
    write_records([{"image": np.zeros((32, 32, 3), np.uint8), "valence": 0.1, "arousal": 0.2}], str(rec), 1,
                  alignment=alignment_info(32, 0.3))
    cfg = apply_overrides(CAAEConfig(), TINY_CAAE)
    model = CAAE(cfg)
    model.build_all(dummy_batch(cfg, 1))
    run = root / "run"
    run.mkdir()
    save_config(cfg, run / "config.yaml", extra={"data": str(rec)})
    tf.train.CheckpointManager(tf.train.Checkpoint(model=variable_map(model.weights)), str(run / "checkpoints"),
                               1).save()
    return run


def test_model_template_flows_to_export_and_cli(tiny_run, astronaut, tmp_path, capsys):
    from caae_tf.export.caae import export_caae

    assert model_alignment(str(tiny_run), 32)["margin"] == 0.3
    out = tmp_path / "editor"
    export_caae(str(tiny_run), str(out))
    info = json.load(open(out / "caae_tf_export.json"))
    assert info["alignment"]["margin"] == 0.3 and info["alignment"]["template"]["name"] == "face5"
    assert Editor.load(str(out)).alignment["margin"] == 0.3
    # end to end: a real photo from a registry package, the exported model, --align, pasted back
    photo = tmp_path / "astronaut.png"
    write_image(photo, astronaut)
    rc = main(["edit", str(photo), "--align", "--model", str(out), "--valence", "0.4", "--arousal", "-0.2",
               "--out", str(tmp_path / "o"), "--json", str(tmp_path / "o" / "report.json"), "--quiet"])
    assert rc == 0
    (written,) = capsys.readouterr().out.split()
    edited = read_image(written)
    assert edited.shape == astronaut.shape
    rep = json.load(open(tmp_path / "o" / "report.json"))
    assert rep["alignment"]["margin"] == 0.3 and rep["faces_edited"] == 1
    f = rep["images"][0]["faces"][0]
    assert f["valence"] == 0.4 and f["arousal"] == -0.2 and f["score"] > 0.9
    res = edit_photo(Editor.load(str(out)), astronaut, [0.4, -0.2])
    m = pasted_mask(astronaut.shape, res.aligned[0])
    np.testing.assert_array_equal(edited[m == 0], astronaut[m == 0])
    assert np.abs(edited[m > 0.99].astype(int) - astronaut[m > 0.99]).mean() > 5
    np.testing.assert_array_equal(edited, res.image)


def test_cli_messages(tiny_run, tmp_path, capsys):
    rc = main(["edit", "--model", str(tiny_run), "--valence", "0", "--arousal", "0", "--out", str(tmp_path)])
    err = capsys.readouterr().err
    assert rc == 2 and "give IMAGE files/folders" in err and "Traceback" not in err
    rc = main(["edit", str(tmp_path), "--model", str(tiny_run), "--valence", "0", "--arousal", "0",
               "--face-index", "x", "--out", str(tmp_path / "o")])
    assert rc == 2 and "--face-index 'x'" in capsys.readouterr().err
