"""FACES file-name parsing and record preparation."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from caae_tf import labels as L
from caae_tf.data import records as R
from data_prep.faces import AGE, EMOTION, GENDER, parse_faces_name, prepare_faces
from _data_helpers import write_jpeg


def test_every_code_parses():
    for (a, age), (g, gender), (e, emo), st in itertools.product(AGE.items(), GENDER.items(), EMOTION.items(), "ab"):
        info = parse_faces_name(f"017_{a}_{g}_{e}_{st}.jpg")
        assert info == {"person": "017", "age": age, "gender": gender, "emotion": emo, "set": st,
                        "cgan_index": L.CGAN_EMOTIONS.index(emo)}
    assert parse_faces_name("004_o_m_a_a.jpg")["cgan_index"] == 4  # anger
    assert parse_faces_name("004_O_M_N_B.JPG")["cgan_index"] == 0  # neutral = v1
    # the paper-001 order
    assert [parse_faces_name(f"1_y_f_{c}_a.jpg")["cgan_index"] for c in "nsdfah"] == [0, 1, 2, 3, 4, 5]


@pytest.mark.parametrize("bad", ["004_x_m_a_a.jpg", "004_o_q_a_a.jpg", "004_o_m_z_a.jpg", "004_o_m_a_c.jpg",
                                 "abc_o_m_a_a.jpg", "004_o_m_a.jpg", "004_o_m_a_a.txt"])
def test_bad_names(bad):
    with pytest.raises(ValueError):
        parse_faces_name(bad)


def test_prepare_faces(tmp_path):
    rng = np.random.default_rng(0)
    src = tmp_path / "faces"
    names = ["004_o_m_a_a.jpg", "004_o_m_h_b.jpg", "010_y_f_n_a.jpg", "010_y_f_s_a.jpg", "002_m_m_d_a.jpg"]
    for n in names:
        write_jpeg(src / n, rng.integers(0, 255, (50, 40, 3), dtype=np.uint8))
    write_jpeg(src / "sub" / "notes_final.jpg", np.zeros((20, 20, 3), np.uint8))
    (src / "010_y_f_f_b.jpg").write_bytes(b"broken")
    m = prepare_faces(str(src), str(tmp_path / "rec"), size=32, num_shards=2)
    assert m["num_examples"] == 5
    assert m["skipped"] == {"corrupt or non-image file": 1, "unparseable file name": 1}
    assert m["identities"]["count"] == 3
    import tensorflow as tf

    got = {e["path"].decode().rsplit("/", 1)[1]: e for e in tf.data.TFRecordDataset(R.shard_files(tmp_path / "rec"))
           .map(lambda x: R.parse_example(x, True)).as_numpy_iterator()}
    assert set(got) == set(names)
    for n, e in got.items():
        info = parse_faces_name(n)
        assert e["emotion"] == info["cgan_index"] and e["image"].shape == (32, 32, 3)
        assert e["identity"] == sorted(["002", "004", "010"]).index(info["person"])
