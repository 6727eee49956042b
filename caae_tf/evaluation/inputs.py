"""Face images for the experiments: a folder of images, a labelled CSV / folder with ``labels.csv`` /
class-folder tree (:func:`caae_tf.data.table.load_table`), or a TFRecord directory.

Every image is centre-cropped to a square and resized to the model's resolution
(:func:`caae_tf.images.center_crop_resize`, the same preparation as ``caae-tf edit``), then scaled to
float32 [-1, 1]. Unreadable files are skipped and counted.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Iterator

import numpy as np

from caae_tf.errors import DataError
from caae_tf.images import ImageReadError, center_crop_resize, decode_image, list_images, read_image, to_float


@dataclass
class FaceSource:
    """A list of images to feed an experiment, read lazily in batches."""

    source: str
    names: list[str]
    _loader: object = field(repr=False, default=None)
    skipped: dict = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.names)

    def batches(self, image_size: int, batch_size: int) -> Iterator[tuple[list[str], np.ndarray]]:
        """Yield (names, float32 [B, image_size, image_size, 3] in [-1, 1])."""
        yield from self._loader(image_size, batch_size)  # type: ignore[misc]


def _plain_folder(folder: str) -> bool:
    return not os.path.isfile(os.path.join(folder, "labels.csv")) and not os.path.isfile(
        os.path.join(folder, "manifest.json")) and not any(
        os.path.isdir(os.path.join(folder, d)) for d in os.listdir(folder))


def open_faces(source: str, limit: int | None = None) -> FaceSource:
    """Open ``source`` (see module docstring); ``limit`` keeps the first N images (sorted file order)."""
    source = os.fspath(source)
    if not os.path.exists(source):
        raise DataError(f"{source}: no such file or folder")
    if os.path.isdir(source) and os.path.isfile(os.path.join(source, "manifest.json")):
        return _records(source, limit)
    if os.path.isdir(source) and _plain_folder(source):
        paths = list_images(source)
        if not paths:
            raise DataError(f"{source}: no image files (.jpg/.png/...) in this folder")
        paths = paths[:limit] if limit else paths
        skipped: dict[str, int] = {}
        fs = FaceSource(source, [os.path.basename(p) for p in paths], skipped=skipped)

        def load(image_size: int, batch_size: int):
            names, imgs = [], []
            for p in paths:
                try:
                    rgb = read_image(p)
                except ImageReadError as exc:
                    skipped[exc.reason] = skipped.get(exc.reason, 0) + 1
                    continue
                names.append(os.path.basename(p))
                imgs.append(to_float(center_crop_resize(rgb, image_size)))
                if len(imgs) == batch_size:
                    yield names, np.stack(imgs)
                    names, imgs = [], []
            if imgs:
                yield names, np.stack(imgs)

        fs._loader = load
        return fs
    from caae_tf.data.table import load_table

    df, skips = load_table(source)
    if len(df) == 0:
        raise DataError(f"{source}: no readable image (skipped: {skips or 'none'})")
    df = df.iloc[:limit] if limit else df
    fs = FaceSource(source, [str(p) for p in df["path"]], skipped=dict(skips))

    def load_table_batches(image_size: int, batch_size: int):
        for i in range(0, len(df), batch_size):
            part = df.iloc[i:i + batch_size]
            imgs = [to_float(center_crop_resize(decode_image(b, p), image_size))
                    for b, p in zip(part["image_bytes"], part["path"])]
            yield [str(p) for p in part["path"]], np.stack(imgs)

    fs._loader = load_table_batches
    return fs


def _records(source: str, limit: int | None) -> FaceSource:
    from caae_tf.data.records import read_manifest

    manifest = read_manifest(source)
    total = int(manifest.get("num_examples") or manifest.get("count") or 0)
    n = min(total, limit) if limit and total else (limit or total)
    fs = FaceSource(source, [f"record{i:06d}" for i in range(n)])

    def load(image_size: int, batch_size: int):
        from caae_tf.data.pipeline import make_dataset

        ds = make_dataset(source, image_size=image_size, batch_size=batch_size, training=False, repeat=False,
                          drop_remainder=False, augment_flip=False)
        k = 0
        for ex in ds:
            imgs = ex["image"].numpy()
            if limit:
                imgs = imgs[: max(0, limit - k)]
            if len(imgs) == 0:
                break
            yield [f"record{k + j:06d}" for j in range(len(imgs))], imgs.astype(np.float32)
            k += len(imgs)

    fs._loader = load
    return fs
