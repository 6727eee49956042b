import math

import numpy as np
import pytest

from caae_tf import labels as L


def test_orders():
    assert L.CGAN_EMOTIONS == ("neutral", "sadness", "disgust", "fear", "anger", "happiness")
    assert L.AFFECTNET_EMOTIONS[:3] == ("neutral", "happiness", "sadness") and len(L.AFFECTNET_EMOTIONS) == 8


def test_circumplex_points_inside_square_and_on_circle():
    assert L.circumplex_va("neutral") == (0.0, 0.0)
    for e in L.ALL_EMOTIONS[1:]:
        v, a = L.circumplex_va(e)
        assert math.hypot(v, a) == pytest.approx(L.CIRCUMPLEX_RADIUS)
    assert L.circumplex_va("happy")[0] > 0.7 and L.circumplex_va("sad")[0] < -0.5
    with pytest.raises(ValueError, match="unknown emotion"):
        L.circumplex_va("bored")


def test_tile_labels_layout():
    t = L.tile_labels(np.array([[0.5, -0.25]]), 3)
    np.testing.assert_allclose(t, [[0.5, 0.5, 0.5, -0.25, -0.25, -0.25]])


def test_grid_and_extremes():
    g = L.grid_labels(7)
    assert g.shape == (49, 2)
    np.testing.assert_allclose(g[0], [0.75, 0.75])
    np.testing.assert_allclose(g[-1], [-0.75, -0.75])
    # row-major: valence falls down the rows, arousal across the columns, in steps of 0.25
    np.testing.assert_allclose(g.reshape(7, 7, 2)[:, 0, 0], np.linspace(0.75, -0.75, 7), atol=1e-7)
    np.testing.assert_allclose(g.reshape(7, 7, 2)[0, :, 1], np.linspace(0.75, -0.75, 7), atol=1e-7)
    np.testing.assert_allclose(g.reshape(7, 7, 2)[:, :, 0], np.repeat(g.reshape(7, 7, 2)[:, :1, 0], 7, 1))
    np.testing.assert_allclose(g[24], [0, 0], atol=1e-7)
    m = L.extreme_label_mask(g)
    assert m.sum() == 4 and set(np.where(m)[0]) == {0, 6, 42, 48}
    # the paper's counts: 4,500 test images edited to every grid label, and to the 4 extreme ones
    assert 4500 * len(g) == 220_500 and 4500 * int(m.sum()) == 18_000


@pytest.mark.parametrize("emotion", L.EXTREME_EMOTIONS)
def test_paper_interpolation_constraints(emotion):
    w = L.interpolation_weights(emotion)
    i = L.cgan_index(emotion)
    assert w.shape == (11, 6)
    np.testing.assert_allclose(w.sum(1), 1, atol=1e-6)                  # Eq. (2)
    np.testing.assert_allclose(w[:, 0] + w[:, i], 1, atol=1e-6)         # Eq. (4)
    assert np.all(w >= 0) and np.all(w <= 1)                            # Eq. (3)
    np.testing.assert_allclose(w[:, i], np.linspace(0, 1, 11), atol=1e-6)
    np.testing.assert_allclose(w[0], L.one_hot(0))
    np.testing.assert_allclose(w[-1], L.one_hot(i))


def test_two_emotion_and_custom_schedule():
    w = L.interpolation_weights("happiness", [0, 0.05, 0.5, 1], source="sadness")
    np.testing.assert_allclose(w[:, 5], [0, 0.05, 0.5, 1], atol=1e-6)
    np.testing.assert_allclose(w[:, 1], [1, 0.95, 0.5, 0], atol=1e-6)
    with pytest.raises(ValueError):
        L.interpolation_weights("happiness", [0, 1.5])
    with pytest.raises(ValueError, match="not one of the cGAN"):
        L.interpolation_weights("surprise")


def test_validate_weights():
    ok = L.validate_emotion_weights(np.eye(6))
    assert ok.shape == (6, 6)
    with pytest.raises(ValueError, match="sum to 1"):
        L.validate_emotion_weights(np.full((1, 6), 0.5))
    with pytest.raises(ValueError, match="non-negative"):
        L.validate_emotion_weights(np.array([[1.5, -0.5, 0, 0, 0, 0]]))
    np.testing.assert_allclose(L.validate_emotion_weights(np.full((1, 6), 0.5), renormalise=True).sum(), 1)


@pytest.mark.parametrize("emotion", L.EXTREME_EMOTIONS)
def test_va_target_reaches_circumplex_points(emotion):
    v, a = L.circumplex_va(emotion)
    w = L.va_to_emotion_weights(v, a)
    assert w[L.cgan_index(emotion)] == pytest.approx(1, abs=1e-5)
    half = L.va_to_emotion_weights(v / 2, a / 2)
    assert half[0] == pytest.approx(0.5, abs=1e-5) and half[L.cgan_index(emotion)] == pytest.approx(0.5, abs=1e-5)


def test_va_target_weights_reconstruct_target():
    pts = {e: np.array(L.circumplex_va(e)) for e in L.CGAN_EMOTIONS}
    for v, a in [(0.2, 0.25), (-0.3, 0.3), (-0.2, -0.1), (0.0, 0.0)]:
        w = L.va_to_emotion_weights(v, a)
        assert w.sum() == pytest.approx(1, abs=1e-5) and np.all(w >= 0)
        recon = sum(w[k] * pts[e] for k, e in enumerate(L.CGAN_EMOTIONS))
        np.testing.assert_allclose(recon, [v, a], atol=1e-4)


def test_validate_va():
    with pytest.raises(ValueError, match=r"\[-1, 1\]"):
        L.validate_va([1.5, 0])
    np.testing.assert_allclose(L.validate_va([1.5, -2], clip=True), [1, -1])
    with pytest.raises(ValueError, match="finite"):
        L.validate_va([np.nan, 0], clip=True)


def test_unreachable_target_scaled_along_direction():
    w = L.va_to_emotion_weights(0.3, 0.5)  # outside the (neutral, happiness, anger) triangle
    assert w[0] == pytest.approx(0, abs=1e-6) and w.sum() == pytest.approx(1, abs=1e-5)
    pts = np.array([L.circumplex_va(e) for e in L.CGAN_EMOTIONS])
    recon = w @ pts
    cos = recon @ np.array([0.3, 0.5]) / np.linalg.norm(recon) / np.linalg.norm([0.3, 0.5])
    assert cos == pytest.approx(1, abs=1e-6)
