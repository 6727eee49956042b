#!/usr/bin/env python
"""Generate the bad-input corpus used by tests/test_reliability_inputs.py (reproducible, no downloads).

    python tests/data/make_bad_inputs.py [OUT_DIR] [--huge]

OUT_DIR defaults to ``tests/data/bad_inputs`` (not committed; the tests generate the corpus into a temp
dir through a session fixture). Everything is derived from fixed seeds, so two runs write byte-identical
files (JPEG/PNG encoders are deterministic). ``--huge`` also writes the lazily generated
``huge/huge_8000.png`` (8000×8000 flat colour, ~0.2 MB on disk, 192 MB decoded) and ``huge.csv``.

Layout (``EXPECTED`` below records the outcome every file must have):

* ``images/``: ``good_00..11.png`` (smooth random 40×40 RGB), ``truncated.jpg`` (first 60 % of a JPEG),
  ``empty.jpg`` (0 bytes), ``text.jpg`` (a text file), ``rgba.png`` (alpha gradient), ``deep16.png``
  (16-bit RGB), ``gray.png`` / ``gray.jpg`` (1 channel), ``one_pixel.png`` (1×1), ``cmyk.jpg`` (CMYK JPEG
  written by Pillow; OpenCV cannot write CMYK), ``exif_rot6.jpg`` (EXIF orientation 6: stored 60×40,
  displayed 40×60), ``no_face.png`` (a gradient; ``--align`` finds no face), ``bomb.png`` (a PNG header
  claiming 20000×20000 px) and ``a_directory.jpg/`` (a folder where a file is expected);
* ``bad inputs/ümlaut face.png``: a good image under a path with a space and a non-ASCII letter;
* ``face/face_photo.png``: a synthetic face (data_prep.synthetic) inside a larger photo, for ``--align``;
* CSVs: ``labels.csv`` (every image above + a missing file, valid labels), ``labels_bad_values.csv``
  (good images with NaN / ±5 / empty / non-numeric / one-sided / inf labels, an unknown emotion and a
  duplicate row), ``missing_columns.csv`` (no valence/arousal), ``no_path_column.csv``, ``empty.csv``
  (0 bytes), ``header_only.csv``, ``all_bad.csv`` (only unusable images), ``predictions.csv`` and
  ``predictions_missing_col.csv`` (for ``caae-tf metrics``);
* ``class_folders/``: ``happiness/`` and ``sadness/`` with good and bad files, ``notanemotion/``.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import shutil
import struct
import sys
import zlib

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
DEFAULT_OUT = os.path.join(HERE, "bad_inputs")

N_GOOD = 12
UMLAUT = os.path.join("bad inputs", "ümlaut face.png")

#: file (relative to the corpus root) → expected outcome. ``ok`` entries give the decoded shape and, where
#: the content is known, the expected RGB of a pixel ``(y, x) -> (r, g, b)`` with a tolerance; other
#: entries give the reason ``caae_tf.data.records.skip_reason`` counts them under and a substring of the
#: one-line :class:`caae_tf.images.ImageReadError` message.
EXPECTED: dict[str, dict] = {
    **{f"images/good_{i:02d}.png": {"ok": True, "shape": (40, 40, 3)} for i in range(N_GOOD)},
    "images/truncated.jpg": {"skip": "corrupt or non-image file", "error": "not a decodable image"},
    "images/empty.jpg": {"skip": "empty file", "error": "empty file (0 bytes)"},
    "images/text.jpg": {"skip": "corrupt or non-image file", "error": "not a decodable image"},
    "images/rgba.png": {"ok": True, "shape": (40, 40, 3), "pixels": {(20, 20): (10, 200, 30)}, "tol": 0},
    # 16-bit → 8-bit is value >> 8: (40000, 20000, 60000) → (156, 78, 234)
    "images/deep16.png": {"ok": True, "shape": (40, 40, 3), "pixels": {(5, 5): (156, 78, 234)}, "tol": 1},
    "images/gray.png": {"ok": True, "shape": (40, 40, 3), "pixels": {(7, 7): (100, 100, 100)}, "tol": 0},
    "images/gray.jpg": {"ok": True, "shape": (40, 40, 3), "pixels": {(20, 20): (100, 100, 100)}, "tol": 3},
    "images/one_pixel.png": {"skip": "image too small", "error": "image too small (1x1 px"},
    # CMYK: left half red, right half blue (stored 48 wide × 32 high)
    "images/cmyk.jpg": {"ok": True, "shape": (32, 48, 3),
                        "pixels": {(16, 6): (220, 30, 30), (16, 42): (30, 30, 220)}, "tol": 25},
    # stored 60 wide × 40 high with a white band on the top 8 rows; orientation 6 = rotate 90° clockwise
    # for display → 40 wide × 60 high with the band on the right
    "images/exif_rot6.jpg": {"ok": True, "shape": (60, 40, 3),
                             "pixels": {(30, 37): (255, 255, 255), (30, 2): (0, 0, 0)}, "tol": 20},
    "images/no_face.png": {"ok": True, "shape": (64, 64, 3), "no_face": True},
    "images/bomb.png": {"skip": "image too large", "error": "image too large (20000x20000 px"},
    "images/a_directory.jpg": {"skip": "not a file", "error": "is a directory"},
    "images/missing.png": {"skip": "missing file", "error": "file not found", "absent": True},
    UMLAUT: {"ok": True, "shape": (40, 40, 3)},
    "face/face_photo.png": {"ok": True, "shape": (340, 300, 3), "face": True},
}
HUGE = "huge/huge_8000.png"
HUGE_EXPECTED = {"ok": True, "shape": (8000, 8000, 3), "pixels": {(4000, 4000): (90, 140, 200)}, "tol": 0}

#: rows of labels_bad_values.csv: (image, valence, arousal, emotion, identity) and the skip reason
#: ``caae_tf.data.table.load_table(require=("va",))`` must count it under (None = kept).
BAD_VALUE_ROWS = [
    ("images/good_00.png", "0.5", "-0.2", "happiness", "0", None),
    ("images/good_01.png", "nan", "0.1", "sadness", "1", "incomplete valence/arousal"),
    ("images/good_02.png", "5", "0", "anger", "2", "valence/arousal out of range"),
    ("images/good_03.png", "-5", "-5", "fear", "3", "valence/arousal out of range"),
    ("images/good_04.png", "", "", "neutral", "0", "missing va"),
    ("images/good_05.png", "abc", "0.2", "disgust", "1", "valence/arousal not a number"),
    ("images/good_06.png", "0.1", "0.9", "notanemotion", "2", "unknown emotion"),
    ("images/good_07.png", "0.2", "0.3", "sadness", "3", None),
    ("images/good_00.png", "0.5", "-0.2", "happiness", "0", "duplicate path"),
    ("images/good_08.png", "0.3", "", "anger", "0", "incomplete valence/arousal"),
    ("images/good_09.png", "inf", "0.1", "fear", "1", "valence/arousal not a number"),
    ("images/good_10.png", "-0.7", "0.4", "", "2", None),
    ("images/good_11.png", "1", "-1", "happiness", "3", None),
]

#: class_folders/: sub-folder → [(file name, source corpus file or None for a text file)]
CLASS_FOLDERS = {
    "happiness": [("h0.png", "images/good_00.png"), ("h1.png", "images/good_01.png"),
                  ("h2.png", "images/good_02.png"), ("bad_text.jpg", "images/text.jpg"),
                  ("empty.png", "images/empty.jpg"), ("readme.txt", None)],
    "sadness": [("s0.png", "images/good_03.png"), ("s1.png", "images/good_04.png"),
                ("s2.png", "images/rgba.png"), ("tiny.png", "images/one_pixel.png")],
    "notanemotion": [("x0.png", "images/good_05.png")],
}
#: what ``caae-tf prepare folders class_folders`` must count
CLASS_FOLDER_SKIPS = {"unknown emotion folder 'notanemotion'": 1, "not an image file": 1,
                      "corrupt or non-image file": 1, "empty file": 1, "image too small": 1}
CLASS_FOLDER_KEPT = 6

#: predictions.csv: 10 numeric rows (two with |value| = 5, which are numbers and therefore used) and 3
#: unusable rows (NaN, empty, text) that ``caae-tf metrics`` skips and counts
PREDICTION_SKIPPED_ROWS = [11, 12, 13]


# ------------------------------------------------------------------------------------------ writers

def _cv2():
    import cv2

    return cv2


def _write_bytes(path: str, data: bytes) -> None:
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as fh:
        fh.write(data)


def _smooth(rng, size: int = 40) -> np.ndarray:
    small = rng.integers(0, 255, (5, 5, 3), dtype=np.uint8)
    return _cv2().resize(small, (size, size), interpolation=_cv2().INTER_CUBIC)


def _imwrite(path: str, arr: np.ndarray, params=()) -> None:
    """``cv2.imencode`` + our own write (cv2.imwrite cannot write non-ASCII paths on every platform)."""
    ok, enc = _cv2().imencode(os.path.splitext(path)[1], arr, list(params))
    assert ok, path
    _write_bytes(path, enc.tobytes())


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def flat_png(width: int, height: int, rgb: tuple[int, int, int], rows: int | None = None) -> bytes:
    """An 8-bit RGB PNG of one flat colour, assembled by hand and streamed through zlib (tiny on disk).

    ``rows`` < height writes only that many rows of pixel data (a header that promises more pixels than
    the file holds, as in a decompression bomb)."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    row = b"\x00" + bytes(rgb) * width
    comp = zlib.compressobj(9)
    parts = []
    block = row * 64
    n = height if rows is None else rows
    for start in range(0, n, 64):
        parts.append(comp.compress(block if start + 64 <= n else row * (n - start)))
    parts.append(comp.flush())
    return (b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", ihdr) + _png_chunk(b"IDAT", b"".join(parts))
            + _png_chunk(b"IEND", b""))


def _pil_jpeg(img, **kw) -> bytes:
    buf = io.BytesIO()
    img.save(buf, "JPEG", **kw)
    return buf.getvalue()


# ------------------------------------------------------------------------------------------ corpus

def make_bad_inputs(out_dir: str = DEFAULT_OUT, *, huge: bool = False) -> str:
    """Write the corpus into ``out_dir`` (replacing an earlier one) and return ``out_dir``."""
    from PIL import Image  # Pillow ships with TensorFlow's dependencies

    cv2 = _cv2()
    if os.path.isdir(out_dir):
        shutil.rmtree(out_dir)
    img_dir = os.path.join(out_dir, "images")
    os.makedirs(img_dir)
    rng = np.random.default_rng(1234)
    for i in range(N_GOOD):
        _imwrite(os.path.join(img_dir, f"good_{i:02d}.png"), _smooth(rng))

    ok, jpg = cv2.imencode(".jpg", _smooth(rng, 48), [cv2.IMWRITE_JPEG_QUALITY, 90])
    jpg = jpg.tobytes()
    _write_bytes(os.path.join(img_dir, "truncated.jpg"), jpg[: len(jpg) * 6 // 10])
    _write_bytes(os.path.join(img_dir, "empty.jpg"), b"")
    _write_bytes(os.path.join(img_dir, "text.jpg"), b"this is a text file named like a JPEG\n")

    rgba = np.zeros((40, 40, 4), np.uint8)
    rgba[..., :3] = (30, 200, 10)  # BGR of RGB (10, 200, 30)
    rgba[..., 3] = np.linspace(0, 255, 40, dtype=np.uint8)[None, :]  # alpha gradient, fully transparent at x=0
    _imwrite(os.path.join(img_dir, "rgba.png"), rgba)
    deep = np.empty((40, 40, 3), np.uint16)
    deep[...] = (60000, 20000, 40000)  # BGR of RGB (40000, 20000, 60000)
    _imwrite(os.path.join(img_dir, "deep16.png"), deep)
    gray = np.full((40, 40), 100, np.uint8)
    _imwrite(os.path.join(img_dir, "gray.png"), gray)
    _imwrite(os.path.join(img_dir, "gray.jpg"), gray, [cv2.IMWRITE_JPEG_QUALITY, 95])
    _imwrite(os.path.join(img_dir, "one_pixel.png"), np.full((1, 1, 3), 128, np.uint8))

    rgb = np.zeros((32, 48, 3), np.uint8)
    rgb[:, :24] = (220, 30, 30)
    rgb[:, 24:] = (30, 30, 220)
    _write_bytes(os.path.join(img_dir, "cmyk.jpg"), _pil_jpeg(Image.fromarray(rgb).convert("CMYK"), quality=95))

    stored = np.zeros((40, 60, 3), np.uint8)
    stored[:8] = 255
    exif = Image.Exif()
    exif[0x0112] = 6  # Orientation: rotate 90° CW to display
    _write_bytes(os.path.join(img_dir, "exif_rot6.jpg"), _pil_jpeg(Image.fromarray(stored), quality=95,
                                                                   exif=exif.tobytes()))

    yy, xx = np.mgrid[0:64, 0:64]
    grad = np.stack([xx * 4, yy * 4, np.full_like(xx, 128)], -1).astype(np.uint8)
    _imwrite(os.path.join(img_dir, "no_face.png"), grad)
    _write_bytes(os.path.join(img_dir, "bomb.png"), flat_png(20000, 20000, (0, 0, 0), rows=16))
    os.makedirs(os.path.join(img_dir, "a_directory.jpg"))
    _write_bytes(os.path.join(img_dir, "a_directory.jpg", "inside.txt"), b"a folder, not an image\n")

    _imwrite(os.path.join(out_dir, UMLAUT), _smooth(rng)[..., ::-1])

    sys.path.insert(0, REPO)
    from data_prep.synthetic import render_face, sample_identity

    face = render_face(sample_identity(0, 0), 0.3, 0.2, size=256, rng_or_seed=0)
    photo = cv2.copyMakeBorder(face, 44, 40, 24, 20, cv2.BORDER_CONSTANT, value=(40, 90, 160))
    _imwrite(os.path.join(out_dir, "face", "face_photo.png"), photo[..., ::-1])

    _write_csvs(out_dir)
    _write_class_folders(out_dir)
    if huge:
        make_huge(out_dir)
    with open(os.path.join(out_dir, "EXPECTED.json"), "w", encoding="utf-8") as fh:
        json.dump({k: {kk: (list(vv) if isinstance(vv, tuple) else vv) for kk, vv in v.items() if kk != "pixels"}
                   for k, v in EXPECTED.items()}, fh, indent=1, ensure_ascii=False)
    return out_dir


def make_huge(out_dir: str) -> str:
    """Write ``huge/huge_8000.png`` (8000×8000 flat colour) and ``huge.csv``; returns the PNG path."""
    path = os.path.join(out_dir, HUGE)
    if not os.path.exists(path):
        _write_bytes(path, flat_png(8000, 8000, (90, 140, 200)))
        with open(os.path.join(out_dir, "huge.csv"), "w", encoding="utf-8") as fh:
            fh.write(f"path,identity,valence,arousal,emotion\n{HUGE},0,0.1,0.2,happiness\n")
    return path


def _labels(i: int) -> str:
    from caae_tf.labels import CGAN_EMOTIONS

    r = np.random.default_rng(100 + i)
    v, a = r.uniform(-1, 1, 2)
    return f"{i % 4},{v:.3f},{a:.3f},{CGAN_EMOTIONS[i % 6]}"


def _write(out_dir: str, name: str, lines: list[str]) -> None:
    with open(os.path.join(out_dir, name), "w", encoding="utf-8") as fh:
        fh.write("\n".join(lines) + ("\n" if lines else ""))


def _write_csvs(out_dir: str) -> None:
    header = "path,identity,valence,arousal,emotion"
    files = list(EXPECTED)
    _write(out_dir, "labels.csv", [header] + [f"{f},{_labels(i)}" for i, f in enumerate(files)])
    _write(out_dir, "labels_bad_values.csv",
           [header] + [f"{p},{ident},{v},{a},{e}" for p, v, a, e, ident, _ in BAD_VALUE_ROWS])
    _write(out_dir, "missing_columns.csv", ["path,emotion"] + [f"images/good_{i:02d}.png,happiness" for i in range(6)])
    _write(out_dir, "no_path_column.csv",
           ["file,valence,arousal"] + [f"images/good_{i:02d}.png,0.1,0.2" for i in range(6)])
    _write_bytes(os.path.join(out_dir, "empty.csv"), b"")
    _write(out_dir, "header_only.csv", [header])
    bad = [f for f, e in EXPECTED.items() if "skip" in e]
    _write(out_dir, "all_bad.csv", [header] + [f"{f},{_labels(i)}" for i, f in enumerate(bad)])
    r = np.random.default_rng(7)
    rows = ["valence,arousal,pred_valence,pred_arousal"]
    for _ in range(8):
        t = r.uniform(-1, 1, 2)
        p = np.clip(t + r.normal(0, 0.2, 2), -1, 1)
        rows.append(f"{t[0]:.3f},{t[1]:.3f},{p[0]:.3f},{p[1]:.3f}")
    rows += ["0.5,0.5,5,-5", "-0.5,0.2,-5,5"]  # out of [-1, 1] but numeric: used
    rows += ["0.1,0.2,nan,0.3", "0.1,,0.2,0.3", "0.1,0.2,abc,0.3"]  # skipped: data rows 11, 12, 13
    _write(out_dir, "predictions.csv", rows)
    _write(out_dir, "predictions_missing_col.csv", ["valence,arousal,pred_valence", "0.1,0.2,0.3"])


def _write_class_folders(out_dir: str) -> None:
    root = os.path.join(out_dir, "class_folders")
    for folder, files in CLASS_FOLDERS.items():
        os.makedirs(os.path.join(root, folder), exist_ok=True)
        for name, src in files:
            dst = os.path.join(root, folder, name)
            if src is None:
                _write_bytes(dst, b"notes, not an image\n")
            else:
                shutil.copyfile(os.path.join(out_dir, src), dst)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("out", nargs="?", default=DEFAULT_OUT)
    p.add_argument("--huge", action="store_true", help="also write the 8000x8000 PNG")
    args = p.parse_args(argv)
    out = make_bad_inputs(args.out, huge=args.huge)
    n = sum(len(fs) for _, _, fs in os.walk(out))
    print(f"wrote {n} files under {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
