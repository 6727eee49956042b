"""TFRecord schema, writer and manifest for prepared datasets.

A *records directory* holds ``*.tfrecord`` shards of ``tf.train.Example`` protos plus ``manifest.json``.
Each example carries one face crop and every label the source provides:

====================  =======  =====================================================================
feature               type     meaning
====================  =======  =====================================================================
``image/encoded``     bytes    the crop, encoded as PNG (lossless; PNG/synthetic inputs) or JPEG
``image/format``      bytes    ``png`` or ``jpeg``
``image/height``      int64    pixel height of the encoded crop
``image/width``       int64    pixel width
``valence``           float    in [-1, 1]; NaN = unknown
``arousal``           float    in [-1, 1]; NaN = unknown
``emotion/name``      bytes    canonical emotion name (``labels.ALL_EMOTIONS``) or empty = unknown
``emotion/cgan``      int64    index into ``labels.CGAN_EMOTIONS``; -1 = unknown / not one of the six
``emotion/affectnet`` int64    index into ``labels.AFFECTNET_EMOTIONS``; -1 = unknown
``identity``          int64    identity class index; -1 = unknown
``source/path``       bytes    the original file (for provenance)
``attributes``        bytes    JSON object of extra source attributes (FACES age group, gender, ...)
====================  =======  =====================================================================

The encoded bytes are always *pipeline safe*: a JPEG with 1 or 3 components and no EXIF rotation, or an
8-bit PNG, so that ``tf.io.decode_image(channels=3)`` inside the graph yields exactly the RGB pixels that
:func:`caae_tf.images.decode_image` (OpenCV) yields in Python. Anything else (16-bit PNG, CMYK JPEG,
EXIF-rotated JPEG, BMP, WebP, TIFF) is re-encoded losslessly to PNG by :func:`safe_image_bytes`.

``manifest.json`` records counts, label statistics (mean/std/min/max of valence/arousal, emotion
histograms, identities), label availability (how many examples have each label and each combination),
the skipped rows by reason, and the exact command that produced the directory. When the crops were made
with the face-alignment convention of :mod:`data_prep.align`, ``"alignment"`` records it: the template
(name and five points), margin and crop size, plus how each crop was aligned (``method_counts``, e.g.
``{"landmarks": 950, "box": 50}``); :func:`alignment_of` reads it back (``caae-tf export`` and ``edit``
use it so inference crops match the training crops).
"""

from __future__ import annotations

import datetime
import glob
import json
import math
import os
import shlex
import sys
from collections import Counter
from typing import Any, Iterable, Mapping

import numpy as np

from caae_tf import labels as L
from caae_tf.errors import DataError
from caae_tf.images import ImageReadError, decode_image, read_image_bytes

MANIFEST = "manifest.json"
SHARD_PATTERN = "*.tfrecord"
SCHEMA_VERSION = 1
#: Label groups a consumer may ``require`` (see :func:`caae_tf.data.pipeline.make_dataset`).
LABEL_KEYS: tuple[str, ...] = ("va", "emotion", "emotion8", "identity")


# ------------------------------------------------------------------------------------------ encoding

def _png_ok(data: bytes) -> bool:
    # IHDR: bytes 24 = bit depth, 25 = colour type.
    return data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 26 and data[24] == 8


def _jpeg_components(data: bytes) -> int | None:
    """Number of colour components from the JPEG SOF segment (None when not found)."""
    i = 2
    while i + 9 < len(data):
        if data[i] != 0xFF:
            return None
        marker = data[i + 1]
        if marker == 0xFF:  # fill byte
            i += 1
            continue
        seg = int.from_bytes(data[i + 2 : i + 4], "big")
        if marker in (0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF):
            return data[i + 9]
        if marker == 0xDA:
            return None
        i += 2 + seg
    return None


def encode_image(rgb: np.ndarray, fmt: str = "png", quality: int = 95) -> bytes:
    """Encode RGB uint8 as PNG (lossless) or JPEG (``quality``)."""
    import cv2

    fmt = fmt.lower()
    bgr = cv2.cvtColor(np.ascontiguousarray(rgb, dtype=np.uint8), cv2.COLOR_RGB2BGR)
    if fmt in ("jpg", "jpeg"):
        ok, enc = cv2.imencode(".jpg", bgr, [cv2.IMWRITE_JPEG_QUALITY, int(quality)])
    elif fmt == "png":
        ok, enc = cv2.imencode(".png", bgr, [cv2.IMWRITE_PNG_COMPRESSION, 3])
    else:
        raise ValueError(f"unknown image format {fmt!r} (png or jpeg)")
    if not ok:  # pragma: no cover
        raise ValueError("could not encode image")
    return enc.tobytes()


def image_format(data: bytes) -> str:
    if data[:8] == b"\x89PNG\r\n\x1a\n":
        return "png"
    if data[:2] == b"\xff\xd8":
        return "jpeg"
    return "other"


def safe_image_bytes(data: bytes, path: str = "<bytes>") -> tuple[bytes, str, np.ndarray]:
    """Validate encoded image bytes and return ``(pipeline_safe_bytes, format, rgb_uint8)``.

    Decodes with OpenCV (raising :class:`~caae_tf.images.ImageReadError` for corrupt/non-image data), and
    keeps the original bytes when TensorFlow's in-graph decoder will produce the same RGB pixels (8-bit
    PNG; baseline/progressive JPEG with 1 or 3 components and no EXIF orientation change); otherwise
    re-encodes the decoded RGB as PNG.
    """
    import cv2

    rgb = decode_image(data, path)
    fmt = image_format(data)
    if fmt == "png" and _png_ok(data):
        return data, "png", rgb
    if fmt == "jpeg" and _jpeg_components(data) in (1, 3):
        if b"Exif" not in data[:65536]:
            return data, "jpeg", rgb
        raw = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR | cv2.IMREAD_IGNORE_ORIENTATION)
        if raw is not None and raw.shape == rgb.shape and np.array_equal(raw[..., ::-1], rgb):
            return data, "jpeg", rgb
    return encode_image(rgb, "png"), "png", rgb


def read_safe_image(path: str) -> tuple[bytes, str, np.ndarray]:
    """:func:`safe_image_bytes` of a file (``ImageReadError`` names the file)."""
    return safe_image_bytes(read_image_bytes(path), path)


def skip_reason(exc: ImageReadError) -> str:
    """Short, countable reason for an image that could not be used."""
    r = exc.reason
    for key, name in (
        ("not found", "missing file"),
        ("directory", "not a file"),
        ("empty", "empty file"),
        ("too small", "image too small"),
        ("too large", "image too large"),
        ("cannot read", "unreadable file"),
    ):
        if key in r:
            return name
    return "corrupt or non-image file"


# ------------------------------------------------------------------------------------------ examples

def _emotion_fields(name: str | None) -> tuple[str, int, int]:
    if name is None or (isinstance(name, float) and math.isnan(name)) or str(name).strip() == "":
        return "", -1, -1
    name = L.canonical_emotion(str(name))
    cg = L.CGAN_EMOTIONS.index(name) if name in L.CGAN_EMOTIONS else -1
    af = L.AFFECTNET_EMOTIONS.index(name) if name in L.AFFECTNET_EMOTIONS else -1
    return name, cg, af


def _f(v: Any) -> float:
    try:
        v = float(v)
    except (TypeError, ValueError):
        return float("nan")
    return v


def make_example(
    image_bytes: bytes,
    *,
    height: int,
    width: int,
    fmt: str,
    valence: float = float("nan"),
    arousal: float = float("nan"),
    emotion: str | None = None,
    identity: int = -1,
    path: str = "",
    attributes: Mapping[str, Any] | None = None,
):
    """Build one ``tf.train.Example`` (schema in the module docstring)."""
    from caae_tf.tf_env import tf as _tf

    tf = _tf()
    name, cg, af = _emotion_fields(emotion)

    def b(x: bytes):
        return tf.train.Feature(bytes_list=tf.train.BytesList(value=[x]))

    def i(x: int):
        return tf.train.Feature(int64_list=tf.train.Int64List(value=[int(x)]))

    def fl(x: float):
        return tf.train.Feature(float_list=tf.train.FloatList(value=[float(x)]))

    feats = {
        "image/encoded": b(image_bytes),
        "image/format": b(fmt.encode()),
        "image/height": i(height),
        "image/width": i(width),
        "valence": fl(_f(valence)),
        "arousal": fl(_f(arousal)),
        "emotion/name": b(name.encode()),
        "emotion/cgan": i(cg),
        "emotion/affectnet": i(af),
        "identity": i(identity),
        "source/path": b(os.fspath(path).encode("utf-8", "surrogateescape")),
        "attributes": b(json.dumps(dict(attributes or {}), sort_keys=True, default=str).encode()),
    }
    return tf.train.Example(features=tf.train.Features(feature=feats))


def feature_spec() -> dict:
    from caae_tf.tf_env import tf as _tf

    tf = _tf()
    nan = float("nan")
    return {
        "image/encoded": tf.io.FixedLenFeature([], tf.string),
        "image/format": tf.io.FixedLenFeature([], tf.string, default_value=b""),
        "image/height": tf.io.FixedLenFeature([], tf.int64, default_value=0),
        "image/width": tf.io.FixedLenFeature([], tf.int64, default_value=0),
        "valence": tf.io.FixedLenFeature([], tf.float32, default_value=nan),
        "arousal": tf.io.FixedLenFeature([], tf.float32, default_value=nan),
        "emotion/name": tf.io.FixedLenFeature([], tf.string, default_value=b""),
        "emotion/cgan": tf.io.FixedLenFeature([], tf.int64, default_value=-1),
        "emotion/affectnet": tf.io.FixedLenFeature([], tf.int64, default_value=-1),
        "identity": tf.io.FixedLenFeature([], tf.int64, default_value=-1),
        "source/path": tf.io.FixedLenFeature([], tf.string, default_value=b""),
        "attributes": tf.io.FixedLenFeature([], tf.string, default_value=b"{}"),
    }


def parse_example(serialized, decode: bool = False):
    """Parse one serialized example (graph-safe) into a flat dict.

    Returns ``{"image_bytes": string, "va": f32[2], "emotion": i32, "emotion8": i32, "identity": i32,
    "emotion_name": string, "path": string, "height": i64, "width": i64, "attributes": string}``, plus
    ``"image"``: uint8 [H, W, 3] when ``decode`` is True.
    """
    from caae_tf.tf_env import tf as _tf

    tf = _tf()
    f = tf.io.parse_single_example(serialized, feature_spec())
    out = {
        "image_bytes": f["image/encoded"],
        "va": tf.stack([f["valence"], f["arousal"]]),
        "emotion": tf.cast(f["emotion/cgan"], tf.int32),
        "emotion8": tf.cast(f["emotion/affectnet"], tf.int32),
        "identity": tf.cast(f["identity"], tf.int32),
        "emotion_name": f["emotion/name"],
        "path": f["source/path"],
        "height": f["image/height"],
        "width": f["image/width"],
        "attributes": f["attributes"],
    }
    if decode:
        img = tf.io.decode_image(f["image/encoded"], channels=3, dtype=tf.uint8, expand_animations=False)
        out["image"] = img
    return out


# ------------------------------------------------------------------------------------------ writer

def _availability_key(has: Mapping[str, bool]) -> str:
    keys = [k for k in LABEL_KEYS if has[k]]
    return "+".join(keys) if keys else "none"


class _Stats:
    def __init__(self) -> None:
        self.n = 0
        self.va: list[tuple[float, float]] = []
        self.emotion = Counter()
        self.identity = Counter()
        self.avail = Counter()
        self.formats = Counter()

    def add(self, va, name, cg, af, identity, fmt) -> None:
        self.n += 1
        has_va = bool(np.isfinite(va[0]) and np.isfinite(va[1]))
        if has_va:
            self.va.append(va)
        if name:
            self.emotion[name] += 1
        if identity >= 0:
            self.identity[int(identity)] += 1
        self.formats[fmt] += 1
        self.avail[_availability_key({"va": has_va, "emotion": cg >= 0, "emotion8": af >= 0,
                                      "identity": identity >= 0})] += 1

    def summary(self) -> dict:
        out: dict[str, Any] = {"num_examples": self.n}
        counts = {k: 0 for k in LABEL_KEYS}
        for key, n in self.avail.items():
            for k in key.split("+"):
                if k in counts:
                    counts[k] += n
        out["label_counts"] = counts
        out["availability"] = dict(sorted(self.avail.items()))
        if self.va:
            a = np.asarray(self.va, dtype=np.float64)
            out["valence"] = _stat(a[:, 0])
            out["arousal"] = _stat(a[:, 1])
        out["emotion_histogram"] = dict(sorted(self.emotion.items()))
        out["emotion_histogram_cgan"] = {e: self.emotion.get(e, 0) for e in L.CGAN_EMOTIONS}
        out["identities"] = {
            "count": len(self.identity),
            "num_classes": (max(self.identity) + 1) if self.identity else 0,
            "min_images_per_identity": min(self.identity.values()) if self.identity else 0,
            "max_images_per_identity": max(self.identity.values()) if self.identity else 0,
        }
        out["image_formats"] = dict(self.formats)
        return out


def _stat(x: np.ndarray) -> dict:
    return {"mean": float(x.mean()), "std": float(x.std()), "min": float(x.min()), "max": float(x.max())}


def command_line() -> str:
    """The command that is running, for manifests."""
    argv = list(sys.argv)
    if argv and argv[0].endswith(("caae-tf", "__main__.py")):
        argv[0] = "caae-tf"
    return " ".join(shlex.quote(a) for a in argv)


def write_records(
    rows: Iterable[Mapping[str, Any]] | Any,
    out_dir: str | os.PathLike,
    num_shards: int = 4,
    *,
    prefix: str = "data",
    image_format: str = "auto",
    jpeg_quality: int = 95,
    skipped: Mapping[str, int] | None = None,
    source: str = "",
    command: str | None = None,
    extra: Mapping[str, Any] | None = None,
    progress: bool = False,
    total: int | None = None,
    alignment: Mapping[str, Any] | None = None,
) -> dict:
    """Write examples to ``out_dir/{prefix}-KKKKK-of-NNNNN.tfrecord`` round-robin and ``manifest.json``.

    ``rows`` is an iterable of mappings (or a pandas DataFrame) with keys

    - one image source: ``image`` (RGB uint8 array), ``image_bytes`` (encoded bytes; validated and made
      pipeline-safe), or only ``path`` (the file is read and validated);
    - optional labels: ``valence``, ``arousal`` (NaN/None = unknown), ``emotion`` (name, empty = unknown),
      ``identity`` (int, -1 = unknown), ``attributes`` (dict), ``path`` (provenance), ``format``
      (``png``/``jpeg`` for ``image`` arrays; default from ``image_format``: ``auto`` = JPEG when the
      source path is a JPEG, else PNG).

    Rows whose image cannot be read are skipped and counted by reason (never raised); ``skipped`` adds
    counts from earlier stages (CSV validation, or a row generator's own skips: it is read after the
    last row) to the manifest. ``alignment`` (:func:`data_prep.align.alignment_info`) is stored as the
    manifest's ``"alignment"`` (read after the last row too, so a generator can fill in its counts).
    Returns the manifest dict.
    """
    from caae_tf.tf_env import tf as _tf

    tf = _tf()
    out_dir = os.fspath(out_dir)
    os.makedirs(out_dir, exist_ok=True)
    for old in glob.glob(os.path.join(out_dir, SHARD_PATTERN)):
        os.remove(old)
    if hasattr(rows, "to_dict") and hasattr(rows, "columns"):
        total = len(rows) if total is None else total
        rows = rows.to_dict("records")
    num_shards = max(1, int(num_shards))
    names = [os.path.join(out_dir, f"{prefix}-{k:05d}-of-{num_shards:05d}.tfrecord") for k in range(num_shards)]
    writers = [tf.io.TFRecordWriter(n) for n in names]
    skips: Counter = Counter()
    stats = _Stats()
    shard_counts = [0] * num_shards
    bar = None
    if progress:
        from caae_tf.progress import Progress

        bar = Progress(total, f"writing records to {out_dir}", unit="image")
    try:
        for row in rows:
            if bar is not None:
                bar.update(1)
            path = str(row.get("path", "") or "")
            try:
                if row.get("image") is not None:
                    rgb = np.asarray(row["image"])
                    if rgb.dtype != np.uint8 or rgb.ndim != 3 or rgb.shape[2] != 3:
                        raise DataError(f"{path or '<array>'}: image must be uint8 [H,W,3], got "
                                        f"{rgb.dtype} {list(rgb.shape)}")
                    fmt = row.get("format") or image_format
                    if fmt == "auto":
                        fmt = "jpeg" if path.lower().endswith((".jpg", ".jpeg")) else "png"
                    data = encode_image(rgb, fmt, jpeg_quality)
                    fmt = "jpeg" if fmt in ("jpg", "jpeg") else "png"
                elif row.get("image_bytes") is not None:
                    data, fmt, rgb = safe_image_bytes(bytes(row["image_bytes"]), path or "<bytes>")
                elif path:
                    data, fmt, rgb = read_safe_image(path)
                else:
                    raise DataError("row has neither image, image_bytes nor path")
            except ImageReadError as exc:
                skips[skip_reason(exc)] += 1
                continue
            name, cg, af = _emotion_fields(row.get("emotion"))
            identity = row.get("identity", -1)
            missing = identity is None or (isinstance(identity, float) and math.isnan(identity))
            identity = -1 if missing else int(identity)
            va = (_f(row.get("valence")), _f(row.get("arousal")))
            ex = make_example(
                data, height=rgb.shape[0], width=rgb.shape[1], fmt=fmt, valence=va[0], arousal=va[1],
                emotion=name, identity=identity, path=path, attributes=row.get("attributes"),
            )
            k = stats.n % num_shards
            writers[k].write(ex.SerializeToString())
            shard_counts[k] += 1
            stats.add(va, name, cg, af, identity, fmt)
    finally:
        for w in writers:
            w.close()
        if bar is not None:
            bar.close()
    for k, v in (skipped or {}).items():  # read at the end: a row generator may still be adding to it
        if v:
            skips[k] += int(v)
    manifest = {
        "schema_version": SCHEMA_VERSION,
        "source": os.fspath(source),
        "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "command": command if command is not None else command_line(),
        **stats.summary(),
        "skipped": dict(sorted(skips.items())),
        "num_skipped": int(sum(skips.values())),
        "shards": {os.path.basename(n): c for n, c in zip(names, shard_counts)},
    }
    if extra:
        manifest.update(extra)
    if alignment:
        manifest["alignment"] = dict(alignment)
    with open(os.path.join(out_dir, MANIFEST), "w") as fh:
        json.dump(manifest, fh, indent=2, sort_keys=False)
    return manifest


def is_records_dir(path: str | os.PathLike) -> bool:
    path = os.fspath(path)
    return os.path.isdir(path) and os.path.isfile(os.path.join(path, MANIFEST))


def read_manifest(records_dir: str | os.PathLike) -> dict:
    path = os.path.join(os.fspath(records_dir), MANIFEST)
    try:
        with open(path) as fh:
            return json.load(fh)
    except FileNotFoundError:
        raise DataError(f"{path}: not found (is {records_dir} a records directory from `caae-tf prepare`?)") from None
    except (OSError, json.JSONDecodeError) as exc:
        raise DataError(f"{path}: unreadable manifest ({exc})") from None


def alignment_of(source: str | os.PathLike) -> dict | None:
    """The ``"alignment"`` record of a records dir's manifest (None when absent or not a records dir)."""
    source = os.fspath(source)
    if not is_records_dir(source):
        return None
    try:
        m = read_manifest(source)
    except DataError:
        return None
    al = m.get("alignment")
    return dict(al) if isinstance(al, dict) and al.get("template") else None


def shard_files(records_dir: str | os.PathLike) -> list[str]:
    """Sorted shard paths; DataError when there are none."""
    files = sorted(glob.glob(os.path.join(os.fspath(records_dir), SHARD_PATTERN)))
    if not files:
        raise DataError(f"{records_dir}: no {SHARD_PATTERN} shards next to {MANIFEST}")
    return files
