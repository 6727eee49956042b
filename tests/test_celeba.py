"""CelebA frontal selection from a generated landmark file, and the square centre crop."""

from __future__ import annotations

import numpy as np
import pytest

from caae_tf.data import records as R
from caae_tf.errors import DataError
from caae_tf.images import read_image
from data_prep.celeba import frontal_scores, is_frontal, prepare_celeba, read_landmarks, select_frontal
from _data_helpers import write_jpeg

HEADER = "lefteye_x lefteye_y righteye_x righteye_y nose_x nose_y leftmouth_x leftmouth_y rightmouth_x rightmouth_y"
FRONTAL = "69 109 106 109 87 135 72 152 104 152"       # nose and mouth centred, eyes level
TURNED = "69 109 106 113 100 142 85 152 118 154"       # nose 0.35·d off the eye midpoint
TILTED = "69 100 106 115 87 135 72 152 104 152"        # roll 15 px over 37 px


def _tree(tmp_path, kinds):
    d = tmp_path / "img_align_celeba"
    lines = [str(len(kinds)), HEADER]
    for i, kind in enumerate(kinds):
        name = f"{i + 1:06d}.jpg"
        img = np.full((218, 178, 3), 40, np.uint8)
        img[20:198, :] = (i * 20 % 255, 100, 150)
        write_jpeg(d / name, img, quality=100)
        lines.append(f"{name} {kind}")
    lines.append("bad_line.jpg 1 2 3")
    (tmp_path / "list_landmarks_align_celeba.txt").write_text("\n".join(lines) + "\n")
    return d


def test_scores_and_thresholds():
    lm = np.array(FRONTAL.split(), float)
    s = frontal_scores(lm)
    assert s["roll"] == 0 and abs(s["yaw"] - (87 - 87.5) / 37 * -1) < 1e-9 and is_frontal(lm)
    assert not is_frontal(np.array(TURNED.split(), float))
    assert not is_frontal(np.array(TILTED.split(), float))
    assert not is_frontal(np.array("106 109 69 109 87 135 72 152 104 152".split(), float))  # swapped eyes


def test_select_first_n_frontal(tmp_path):
    kinds = [TURNED, FRONTAL, TILTED, FRONTAL, FRONTAL, TURNED, FRONTAL]
    d = _tree(tmp_path, kinds)
    lms, skips = read_landmarks(str(tmp_path / "list_landmarks_align_celeba.txt"))
    assert len(lms) == 7 and skips["malformed landmark line"] == 1
    chosen, skips = select_frontal(str(d), count=3)  # landmark file found next to the folder
    assert [p.rsplit("/", 1)[1] for p in chosen] == ["000002.jpg", "000004.jpg", "000005.jpg"]
    assert skips["not frontal"] == 2
    m = prepare_celeba(str(d), str(tmp_path / "rec"), count=10, size=64, crops_dir=str(tmp_path / "crops"),
                       crop="center")  # the paper's centred square (the default aligns to the face template)
    assert m["num_examples"] == 4 and m["celeba"]["selected"] == ["000002.jpg", "000004.jpg", "000005.jpg",
                                                                    "000007.jpg"]
    crop = read_image(tmp_path / "crops" / "000002.png")
    assert crop.shape == (64, 64, 3)
    # centre square of 178x218 is rows 20..198: exactly the coloured band, no dark border
    assert crop[..., 1].min() >= 90 and crop[..., 2].min() >= 140
    assert len(R.shard_files(tmp_path / "rec")) == 1


def test_bad_landmark_header(tmp_path):
    (tmp_path / "lm.txt").write_text("1\nfoo bar\n000001.jpg 1 2\n")
    with pytest.raises(DataError, match="header"):
        read_landmarks(str(tmp_path / "lm.txt"))


def test_detection_fallback_on_real_faces(celeba_dir, tmp_path):
    chosen, skips = select_frontal(str(celeba_dir), landmarks=None, count=5)
    assert len(chosen) == 5
