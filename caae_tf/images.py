"""Image I/O at the edges of the library (OpenCV, numpy; TensorFlow only inside the ``*_tensor`` functions).

Inside the library images are float32 in [-1, 1]; files and SavedModels use uint8 RGB. The conversions are
written once here: :func:`to_float` / :func:`to_uint8` (numpy) and :func:`to_float_tensor` /
:func:`to_uint8_tensor` (the same arithmetic as TensorFlow ops, for the exported SavedModels). Every reader
returns RGB uint8 [H, W, 3] whatever the file holds (grayscale, RGBA, 16-bit, CMYK JPEG, EXIF-rotated)
or raises :class:`ImageReadError` whose message names the file and the reason.
"""

from __future__ import annotations

import os
from typing import Sequence

import numpy as np

from caae_tf.errors import UserError

#: Images larger than this many pixels are refused (8000×8000 = 64 Mpx is accepted).
MAX_PIXELS = 100_000_000
#: Images smaller than this on either side cannot hold a face and are refused.
MIN_SIDE = 8


class ImageReadError(UserError, ValueError):
    """An image file could not be read; ``str()`` is a one-line message naming the file."""

    def __init__(self, path: str | os.PathLike, reason: str):
        self.path = os.fspath(path)
        self.reason = reason
        super().__init__(f"{self.path}: {reason}")


def _cv2():
    import cv2

    return cv2


def decode_image(data: bytes, path: str | os.PathLike = "<bytes>") -> np.ndarray:
    """Decode encoded image bytes to RGB uint8 [H, W, 3] (EXIF orientation applied)."""
    cv2 = _cv2()
    if not data:
        raise ImageReadError(path, "empty file (0 bytes)")
    buf = np.frombuffer(data, dtype=np.uint8)
    # IMREAD_COLOR: grey/alpha/16-bit are converted to 8-bit BGR, EXIF orientation is applied.
    img = cv2.imdecode(buf, cv2.IMREAD_COLOR)
    if img is None:
        raise ImageReadError(path, "not a decodable image (corrupt, truncated or not an image file)")
    h, w = img.shape[:2]
    if h < MIN_SIDE or w < MIN_SIDE:
        raise ImageReadError(path, f"image too small ({w}x{h} px, need at least {MIN_SIDE}x{MIN_SIDE})")
    return cv2.cvtColor(img, cv2.COLOR_BGR2RGB)


def read_image_bytes(path: str | os.PathLike) -> bytes:
    """Read a file's bytes, raising :class:`ImageReadError` for missing paths, directories, size limits."""
    path = os.fspath(path)
    if not os.path.exists(path):
        raise ImageReadError(path, "file not found")
    if os.path.isdir(path):
        raise ImageReadError(path, "is a directory, expected an image file")
    try:
        with open(path, "rb") as fh:
            data = fh.read()
    except OSError as exc:
        raise ImageReadError(path, f"cannot read: {exc.strerror}") from None
    _check_header_size(data, path)
    return data


def _check_header_size(data: bytes, path: str) -> None:
    """Refuse huge images before decoding them (PNG/JPEG headers)."""
    w = h = None
    if data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) >= 24:
        w, h = int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")
    elif data[:2] == b"\xff\xd8":
        i = 2
        while i + 9 < len(data):
            if data[i] != 0xFF:
                break
            marker = data[i + 1]
            seg = int.from_bytes(data[i + 2 : i + 4], "big")
            if marker in (0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF):
                h, w = int.from_bytes(data[i + 5 : i + 7], "big"), int.from_bytes(data[i + 7 : i + 9], "big")
                break
            i += 2 + seg
    if w and h and w * h > MAX_PIXELS:
        raise ImageReadError(path, f"image too large ({w}x{h} px > {MAX_PIXELS} px)")


def read_image(path: str | os.PathLike) -> np.ndarray:
    """Read any supported image file as RGB uint8 [H, W, 3]; :class:`ImageReadError` otherwise."""
    return decode_image(read_image_bytes(path), path)


def write_image(path: str | os.PathLike, rgb: np.ndarray) -> None:
    """Write RGB uint8 (or float in [-1,1]) to PNG/JPEG, creating parent folders."""
    cv2 = _cv2()
    arr = np.asarray(rgb)
    if arr.dtype != np.uint8:
        arr = to_uint8(arr)
    parent = os.path.dirname(os.fspath(path))
    if parent:
        os.makedirs(parent, exist_ok=True)
    ext = os.path.splitext(os.fspath(path))[1] or ".png"
    ok, enc = cv2.imencode(ext, cv2.cvtColor(arr, cv2.COLOR_RGB2BGR))
    if not ok:
        raise OSError(f"{path}: could not encode image")
    with open(path, "wb") as fh:
        fh.write(enc.tobytes())


def to_float(rgb_uint8: np.ndarray) -> np.ndarray:
    """uint8 [0,255] → float32 [-1, 1]."""
    return np.asarray(rgb_uint8, dtype=np.float32) / 127.5 - 1.0


def to_uint8(x: np.ndarray) -> np.ndarray:
    """float in [-1, 1] → uint8 [0,255] (rounded half to even, clipped)."""
    return np.clip(np.round((np.asarray(x, dtype=np.float32) + 1.0) * 127.5), 0, 255).astype(np.uint8)


def unit_to_uint8(x: np.ndarray) -> np.ndarray:
    """float in [0, 1] (a mask, a heat map) → uint8 [0,255] (rounded half to even, clipped)."""
    return np.clip(np.round(np.asarray(x, dtype=np.float32) * 255.0), 0, 255).astype(np.uint8)


def to_float_tensor(images):
    """:func:`to_float` as TensorFlow ops: uint8 (or any real) tensor [0,255] → float32 [-1, 1]."""
    import tensorflow as tf

    return tf.cast(images, tf.float32) / 127.5 - 1.0


def to_uint8_tensor(x):
    """:func:`to_uint8` as TensorFlow ops: float tensor in [-1, 1] → uint8 (``tf.round`` rounds half to even
    like ``np.round``, so both give the same bytes)."""
    import tensorflow as tf

    return tf.cast(tf.clip_by_value(tf.round((tf.cast(x, tf.float32) + 1.0) * 127.5), 0.0, 255.0), tf.uint8)


def center_crop_resize(rgb: np.ndarray, size: int) -> np.ndarray:
    """Crop the largest centred square and resize it to ``size``×``size`` (area interpolation when shrinking)."""
    cv2 = _cv2()
    h, w = rgb.shape[:2]
    s = min(h, w)
    y0, x0 = (h - s) // 2, (w - s) // 2
    sq = rgb[y0 : y0 + s, x0 : x0 + s]
    if s == size:
        return np.ascontiguousarray(sq)
    interp = cv2.INTER_AREA if s > size else cv2.INTER_CUBIC
    return cv2.resize(sq, (size, size), interpolation=interp)


def make_grid(images: Sequence[np.ndarray] | np.ndarray, cols: int, pad: int = 2, pad_value: int = 255) -> np.ndarray:
    """Tile equally sized uint8 images row-major into one uint8 image with ``pad`` px gaps."""
    imgs = [np.asarray(i) for i in images]
    if not imgs:
        raise ValueError("make_grid needs at least one image")
    imgs = [to_uint8(i) if i.dtype != np.uint8 else i for i in imgs]
    h, w = imgs[0].shape[:2]
    rows = (len(imgs) + cols - 1) // cols
    grid = np.full((rows * h + (rows + 1) * pad, cols * w + (cols + 1) * pad, 3), pad_value, np.uint8)
    for k, im in enumerate(imgs):
        r, c = divmod(k, cols)
        y, x = pad + r * (h + pad), pad + c * (w + pad)
        grid[y : y + h, x : x + w] = im if im.ndim == 3 else im[..., None]
    return grid


IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff")


def list_images(folder: str | os.PathLike) -> list[str]:
    """Sorted image files (by extension) directly inside ``folder``."""
    folder = os.fspath(folder)
    return sorted(
        os.path.join(folder, f) for f in os.listdir(folder) if f.lower().endswith(IMAGE_EXTENSIONS)
    )
