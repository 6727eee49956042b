import cv2
import numpy as np
import pytest

from caae_tf.images import (
    ImageReadError, center_crop_resize, make_grid, read_image, to_float, to_uint8, write_image,
)


def test_float_uint8_round_trip():
    x = np.arange(256, dtype=np.uint8).reshape(16, 16, 1).repeat(3, -1)
    f = to_float(x)
    assert f.min() == -1 and f.max() == 1 and f.dtype == np.float32
    np.testing.assert_array_equal(to_uint8(f), x)


def test_write_read_png_exact(tmp_path):
    rgb = np.random.default_rng(0).integers(0, 255, (20, 30, 3), dtype=np.uint8)
    write_image(tmp_path / "a" / "x.png", rgb)
    np.testing.assert_array_equal(read_image(tmp_path / "a" / "x.png"), rgb)


def test_grey_rgba_16bit_become_rgb(tmp_path):
    grey = np.full((16, 16), 100, np.uint8)
    cv2.imwrite(str(tmp_path / "g.png"), grey)
    rgba = np.zeros((16, 16, 4), np.uint8)
    rgba[..., 2] = 200  # BGR(A): red channel
    rgba[..., 3] = 255
    cv2.imwrite(str(tmp_path / "a.png"), rgba)
    deep = np.full((16, 16, 3), 65535, np.uint16)
    cv2.imwrite(str(tmp_path / "d.png"), deep)
    assert read_image(tmp_path / "g.png").shape == (16, 16, 3)
    assert read_image(tmp_path / "g.png")[0, 0].tolist() == [100, 100, 100]
    assert read_image(tmp_path / "a.png")[0, 0].tolist() == [200, 0, 0]
    assert read_image(tmp_path / "d.png")[0, 0].tolist() == [255, 255, 255]


@pytest.mark.parametrize("content, reason", [
    (b"", "empty file"),
    (b"hello, not an image", "not a decodable image"),
])
def test_bad_files_name_the_file(tmp_path, content, reason):
    p = tmp_path / "bad.jpg"
    p.write_bytes(content)
    with pytest.raises(ImageReadError, match=reason) as exc:
        read_image(p)
    assert str(p) in str(exc.value)


def test_missing_dir_tiny(tmp_path):
    with pytest.raises(ImageReadError, match="file not found"):
        read_image(tmp_path / "nope.png")
    with pytest.raises(ImageReadError, match="is a directory"):
        read_image(tmp_path)
    cv2.imwrite(str(tmp_path / "one.png"), np.zeros((1, 1, 3), np.uint8))
    with pytest.raises(ImageReadError, match="too small"):
        read_image(tmp_path / "one.png")


def test_center_crop_resize_and_grid():
    img = np.zeros((100, 60, 3), np.uint8)
    img[20:80] = 255
    out = center_crop_resize(img, 30)
    assert out.shape == (30, 30, 3) and out.mean() == 255
    g = make_grid([np.zeros((4, 4, 3), np.uint8)] * 5, cols=3, pad=1)
    assert g.shape == (2 * 4 + 3, 3 * 4 + 4, 3)
