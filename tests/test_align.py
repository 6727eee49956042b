"""Face detection/alignment on real CelebA crops, paste-back invariants, no-face errors."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from caae_tf.errors import DataError
from caae_tf.images import list_images, read_image
from data_prep.align import AlignedFace, NoFaceError, align_face, feather_mask, paste_back


def test_alignment_finds_faces_on_celeba(celeba_dir):
    files = list_images(celeba_dir)
    found = 0
    for f in files:
        try:
            a = align_face(read_image(f), 48, path=f)
        except NoFaceError:
            continue
        found += 1
        assert a.crop.shape == (48, 48, 3) and a.crop.dtype == np.uint8
    assert found >= 0.95 * len(files), f"{found}/{len(files)}"


def test_rotated_face_is_levelled(celeba_dir):
    img = read_image(list_images(celeba_dir)[1])
    big = cv2.copyMakeBorder(cv2.resize(img, (240, 250)), 60, 60, 80, 80, cv2.BORDER_CONSTANT, value=(30, 120, 200))
    base = align_face(big, 96)
    R = cv2.getRotationMatrix2D((200.0, 185.0), 15.0, 1.0)
    rot = cv2.warpAffine(big, R, (400, 370), borderMode=cv2.BORDER_REFLECT)
    a = align_face(rot, 96)
    assert base.eyes_found and a.eyes_found
    # the extra 15° CCW rotation appears as an eye-line angle 15° more negative, within a few degrees
    assert abs((a.angle - base.angle) + 15.0) < 5.0
    # the detected eyes land on a level line in the crop (least-squares fit of 5 landmarks to the
    # template: level within one pixel, not exactly)
    eyes_crop = np.c_[a.eyes, np.ones(2)] @ a.matrix.T
    assert abs(eyes_crop[0, 1] - eyes_crop[1, 1]) < 1.0


def synthetic_photo() -> np.ndarray:
    """A face the repository renders itself (data_prep.synthetic), inside a larger photo: always available."""
    from data_prep.synthetic import render_face, sample_identity

    face = render_face(sample_identity(0, 0), 0.3, 0.2, size=256, rng_or_seed=0)
    return cv2.copyMakeBorder(face, 44, 40, 24, 20, cv2.BORDER_CONSTANT, value=(40, 90, 160))


def test_paste_back_keeps_outside_exact_on_a_rendered_face():
    _check_paste_back(synthetic_photo())


def test_paste_back_keeps_outside_exact(celeba_dir):
    img = read_image(list_images(celeba_dir)[2])
    _check_paste_back(cv2.copyMakeBorder(cv2.resize(img, (200, 210)), 50, 40, 70, 30, cv2.BORDER_REFLECT))


def _check_paste_back(photo):
    a = align_face(photo, 64)
    for edited in (255 - a.crop, cv2.resize(255 - a.crop, (96, 96))):
        out = paste_back(photo, edited, a, feather=0.1)
        S = edited.shape[0]
        M = a.matrix * (S / 64) if S != 64 else a.matrix.copy()
        if S != 64:
            M[:, 2] += (S / 64 - 1) / 2
        support = cv2.warpAffine(feather_mask(S, 0.1), cv2.invertAffineTransform(M), photo.shape[1::-1]) > 0
        assert support.any() and not support.all()
        np.testing.assert_array_equal(out[~support], photo[~support])
        # inside, the centre of the face took the edited (inverted) pixels
        cy, cx = np.argwhere(support).mean(0).astype(int)
        assert abs(int(out[cy, cx, 0]) - (255 - int(photo[cy, cx, 0]))) < 40
    # identity edit changes (almost) nothing
    same = paste_back(photo, a.crop, a)
    assert np.abs(same.astype(int) - photo).mean() < 2.0


def test_no_face_raises():
    flat = np.tile(np.linspace(0, 255, 160, dtype=np.uint8)[None, :, None], (120, 1, 3))
    with pytest.raises(NoFaceError, match=r"wall\.png: no face found"):
        align_face(flat, 64, path="wall.png")
    assert issubclass(NoFaceError, DataError)
    a = AlignedFace(crop=np.zeros((8, 8, 3), np.uint8), matrix=np.eye(2, 3), box=(0, 0, 8, 8), photo_shape=(10, 10))
    with pytest.raises(DataError, match="aligned on"):
        paste_back(np.zeros((20, 20, 3), np.uint8), a.crop, a)
