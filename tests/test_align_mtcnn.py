"""MTCNN detection (weights from the wheel, no download), the 5-landmark template alignment and its inverse,
the template shared by prepare / records manifest, and the Haar fallback."""

from __future__ import annotations

import json
import os
import socket

import cv2
import numpy as np
import pytest

from caae_tf.data import records as R
from data_prep import detect as D
from data_prep.align import (DEFAULT_MARGIN, NoFaceError, align_faces, align_landmarks, alignment_info,
                             apply_matrix, get_template, invert_matrix, paste_back, pasted_mask,
                             similarity_transform, template_points)

skimage_data = pytest.importorskip("skimage.data", reason="scikit-image (dev extra) ships the astronaut photo")


@pytest.fixture(scope="module")
def detector():
    """The MTCNN detector, loaded while every socket connection raises: nothing is downloaded."""
    real = socket.socket.connect

    def refuse(*a, **k):
        raise AssertionError("network access while loading MTCNN")

    socket.socket.connect = refuse
    try:
        D._MTCNN = None
        det = D.MTCNNDetector()
        det.detect_all(np.zeros((32, 32, 3), np.uint8))
    finally:
        socket.socket.connect = real
    return det


def test_weights_ship_inside_the_wheel():
    import mtcnn

    w = D.mtcnn_weights()
    root = os.path.dirname(mtcnn.__file__)
    for name in ("pnet", "rnet", "onet"):
        assert w[name].startswith(root) and os.path.getsize(w[name]) > 10_000


def test_astronaut_landmarks(detector):
    photo = skimage_data.astronaut()
    (face,) = detector.detect(photo)
    lm = face.landmarks
    assert face.score > 0.95 and 60 < face.side < 140
    assert lm[0, 0] < lm[2, 0] < lm[1, 0] and lm[3, 0] < lm[4, 0]  # image-left first
    assert lm[0, 1] < lm[2, 1] < lm[3, 1]                          # eyes above nose above mouth
    # huge photo: searched downscaled, coordinates scaled back to full resolution
    big = cv2.resize(photo, (2400, 2400), interpolation=cv2.INTER_CUBIC)
    (fb,) = detector.detect(big)
    assert fb.extra["detect_scale"] < 0.5
    assert np.abs(fb.landmarks / (2400 / 512) - lm).max() < 3.0


def test_similarity_fit_exact_and_round_trip():
    rng = np.random.default_rng(0)
    tpl = template_points(96, DEFAULT_MARGIN)
    for _ in range(5):
        ang, s = rng.uniform(-0.6, 0.6), rng.uniform(0.3, 4)
        A = s * np.array([[np.cos(ang), -np.sin(ang)], [np.sin(ang), np.cos(ang)]])
        photo_pts = (tpl - rng.uniform(-50, 50, 2)) @ np.linalg.inv(A).T  # an exact similarity copy
        M = similarity_transform(photo_pts, tpl)
        np.testing.assert_allclose(apply_matrix(M, photo_pts), tpl, atol=1e-9)
        np.testing.assert_allclose(apply_matrix(invert_matrix(M), tpl), photo_pts, atol=1e-9)
    with pytest.raises(Exception, match="coincide"):
        similarity_transform(np.ones((5, 2)), tpl)


def test_image_round_trip_within_one_pixel():
    """Dots drawn at five landmark positions land on the template after alignment, and pasting the
    crop back puts them where they were — each within one pixel."""
    rng = np.random.default_rng(1)
    H, W = 300, 400
    photo = np.full((H, W, 3), 60, np.uint8)
    tpl = template_points(128, DEFAULT_MARGIN)
    ang = np.deg2rad(20)
    A = 1.3 * np.array([[np.cos(ang), -np.sin(ang)], [np.sin(ang), np.cos(ang)]])
    lm = (tpl - 64) @ A.T + (210, 140) + rng.normal(0, 0.3, (5, 2))
    big = np.zeros((H * 8, W * 8), np.uint8)
    for x, y in lm:  # anti-aliased dots: draw at 8x, area-downsample
        cv2.circle(big, (int(round((x + 0.5) * 8 - 0.5)), int(round((y + 0.5) * 8 - 0.5))), 20, 255, -1)
    photo[..., 1] = np.maximum(photo[..., 1], cv2.resize(big, (W, H), interpolation=cv2.INTER_AREA))
    a = align_landmarks(photo, lm, 128)

    def centroids(img, pts):
        out = []
        for x, y in pts:
            x0, y0 = int(x) - 6, int(y) - 6
            win = img[y0 : y0 + 13, x0 : x0 + 13, 1].astype(float) - 60
            win[win < 0] = 0
            yy, xx = np.mgrid[y0 : y0 + 13, x0 : x0 + 13]
            out.append([(win * xx).sum() / win.sum(), (win * yy).sum() / win.sum()])
        return np.array(out)

    in_crop = centroids(a.crop, apply_matrix(a.matrix, lm))
    fit = apply_matrix(a.matrix, lm)
    assert np.abs(in_crop - fit).max() < 1.0
    assert np.abs(fit - tpl).max() < 2.0  # least squares of slightly noisy points
    back = paste_back(np.full_like(photo, 60), a.crop, a)
    assert np.abs(centroids(back, lm) - lm).max() < 1.0


def test_synthetic_training_faces_match_the_template():
    """The default template at the default margin is where data_prep.synthetic draws the face, so
    aligned photos look like the synthetic training crops (eyes within 2 %, all points within 6 %)."""
    from data_prep.synthetic import face_geometry, layout_to_image, sample_identity

    tpl = template_points(1, DEFAULT_MARGIN) + 0.5
    errs = []
    for i in range(20):
        g = face_geometry(sample_identity(i, 0), 0.0, 0.0)
        m = g["mouth"]
        pts = layout_to_image([g["eyes"][0]["centre"], g["eyes"][1]["centre"], g["nose_tip"], *m["corners"]])
        errs.append(np.abs(pts - tpl))
    e = np.mean(errs, 0)
    assert e[:2].max() < 0.02 and e.max() < 0.06, e


def test_face_mask_and_outside_invariance(detector):
    photo = skimage_data.astronaut()
    aligned, skipped = align_faces(photo, 64, detector=detector)
    assert len(aligned) == 1 and not skipped
    a = aligned[0]
    # residual paste of an unchanged crop is the photo itself, byte for byte (no 64-px blur of the face)
    np.testing.assert_array_equal(paste_back(photo, a.crop, a, blend="residual"), photo)
    # a change confined to a few crop pixels changes only the photo pixels around their footprint
    bump = a.crop.copy()
    bump[40:44, 28:36] = 255 - bump[40:44, 28:36]
    moved = np.abs(paste_back(photo, bump, a, blend="residual").astype(int) - photo).sum(-1) > 0
    assert 0 < moved.sum() < 0.1 * (pasted_mask(photo.shape, a) > 0).sum()  # the bump is 0.8 % of the crop
    for blend in ("residual", "feather", "seamless"):
        out = paste_back(photo, 255 - a.crop, a, blend=blend)
        m = pasted_mask(photo.shape, a)
        assert (m > 0).sum() > 3000
        np.testing.assert_array_equal(out[m == 0], photo[m == 0])
        assert np.abs(out[m > 0.99].astype(int) - photo[m > 0.99]).mean() > 40
    # the mask lies inside the crop's footprint, clear of the crop border
    cm = pasted_mask(photo.shape, a)
    x, y, w, h = a.box
    ys, xs = np.nonzero(cm)
    assert xs.min() > x - w and xs.max() < x + 2 * w and ys.min() > y - h and ys.max() < y + 2 * h


def test_min_face_and_no_face(detector):
    photo = skimage_data.astronaut()
    aligned, skipped = align_faces(photo, 64, detector=detector, min_face=300)
    assert not aligned and "< minimum 300 px" in skipped[0]["reason"]
    with pytest.raises(NoFaceError, match="no face found"):
        from data_prep.align import align_face

        align_face(np.full((80, 90, 3), 128, np.uint8), 64, path="grey.png")


def test_as_rgb8_conversions():
    g = np.arange(64, dtype=np.uint8).reshape(8, 8)
    assert D.as_rgb8(g).shape == (8, 8, 3)
    assert D.as_rgb8(np.dstack([g, g, g, g])).shape == (8, 8, 3)
    assert D.as_rgb8((g.astype(np.uint16) * 257)).max() == 63
    assert D.as_rgb8(np.full((4, 4, 3), -1.0, np.float32)).max() == 0
    with pytest.raises(Exception, match="expected an image"):
        D.as_rgb8(np.zeros((4, 4, 5)))


def test_haar_fallback_gives_five_points():
    photo = skimage_data.astronaut()
    faces = D.get_detector("haar").detect(photo)
    assert faces and faces[0].landmarks.shape == (5, 2)
    a = align_landmarks(photo, faces[0].landmarks, 64)
    assert a.crop.shape == (64, 64, 3)


def test_template_in_manifest_and_celeba_prepare(tmp_path):
    """prepare celeba with a landmark file aligns by the landmarks and records the template."""
    from data_prep.celeba import prepare_celeba

    d = tmp_path / "img_align_celeba"
    d.mkdir()
    lm = np.array([[69, 109], [106, 109], [87, 132], [72, 152], [104, 152]], float)
    lines = ["2", "lefteye_x lefteye_y righteye_x righteye_y nose_x nose_y leftmouth_x leftmouth_y rightmouth_x "
             "rightmouth_y"]
    for i in range(2):
        img = np.full((218, 178, 3), 90, np.uint8)
        for x, y in lm:
            cv2.circle(img, (int(x), int(y)), 3, (255, 0, 0), -1)
        cv2.imwrite(str(d / f"00000{i + 1}.png"), img[..., ::-1])
        lines.append(f"00000{i + 1}.png " + " ".join(str(int(v)) for v in lm.ravel()))
    (tmp_path / "list_landmarks_align_celeba.txt").write_text("\n".join(lines) + "\n")
    m = prepare_celeba(str(d), str(tmp_path / "rec"), count=2, size=64, crops_dir=str(tmp_path / "crops"))
    al = m["alignment"]
    assert al["template"] == get_template().to_dict() and al["margin"] == DEFAULT_MARGIN and al["size"] == 64
    assert al["method_counts"] == {"landmarks": 2}
    assert json.load(open(tmp_path / "rec" / "manifest.json"))["alignment"]["template"]["name"] == "face5"
    assert R.alignment_of(tmp_path / "rec")["margin"] == DEFAULT_MARGIN
    crop = cv2.imread(str(tmp_path / "crops" / "000001.png"))[..., ::-1]
    red = (crop[..., 0] > 180) & (crop[..., 1] < 120)
    ys, xs = np.nonzero(red)
    left_eye = template_points(64)[0]
    near = (np.abs(xs - left_eye[0]) < 4) & (np.abs(ys - left_eye[1]) < 4)
    assert near.any()  # the marked eye landed on the template's eye
    assert R.alignment_of(tmp_path) is None


def test_alignment_info_roundtrip_custom_template():
    custom = {"name": "mine", "points": [[0.3, 0.4], [0.7, 0.4], [0.5, 0.6], [0.35, 0.8], [0.65, 0.8]]}
    info = alignment_info(48, 0.1, custom)
    assert get_template(info["template"]).points[0] == (0.3, 0.4)
    with pytest.raises(Exception, match="invalid face template"):
        get_template({"points": [[0, 0]]})


def test_affectnet_prefers_its_landmarks(tmp_path):
    """Rows with AffectNet's 68 landmarks are aligned to the template; the others use the face box."""
    from data_prep.affectnet import landmarks5_from_68, prepare_affectnet
    from _data_helpers import write_csv, write_jpeg

    tpl = template_points(100, 0.0) + 0.5  # 5 points of a face filling a 100 px box at (40, 30)
    pts = np.zeros((68, 2))
    pts[36:42], pts[42:48], pts[30], pts[48], pts[54] = tpl[0], tpl[1], tpl[2], tpl[3], tpl[4]
    pts += (40, 30)
    text = ";".join(f"{v:.2f}" for v in pts.ravel())
    np.testing.assert_allclose(landmarks5_from_68(text), tpl + (40, 30))
    assert landmarks5_from_68("1;2;3") is None and landmarks5_from_68("") is None
    root = tmp_path / "imgs"
    img = np.full((180, 180, 3), 50, np.uint8)
    for x, y in tpl + (40, 30):
        cv2.circle(img, (int(x), int(y)), 3, (255, 255, 255), -1)
    write_jpeg(root / "1" / "a.jpg", img, quality=100)
    write_jpeg(root / "1" / "b.jpg", img, quality=100)
    header = ["subDirectory_filePath", "face_x", "face_y", "face_width", "face_height", "facial_landmarks",
              "expression", "valence", "arousal"]
    rows = [("1/a.jpg", 40, 30, 100, 100, text, 1, 0.5, 0.5), ("1/b.jpg", 40, 30, 100, 100, "", 2, -0.5, 0.1)]
    write_csv(tmp_path / "validation.csv", header, rows)
    out = prepare_affectnet(None, str(root), str(tmp_path / "rec"), val_csv=str(tmp_path / "validation.csv"),
                            size=64, margin=0.2, image_format="png", workers=1)
    al = out["val"]["alignment"]
    assert al["method_counts"] == {"landmarks": 1, "box": 1} and al["margin"] == 0.2 and al["size"] == 64
    assert R.alignment_of(tmp_path / "rec" / "val")["template"]["name"] == "face5"
