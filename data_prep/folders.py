"""Generic sources → TFRecords: a labelled CSV (``path,identity,valence,arousal,emotion``; what
``caae-tf synth`` writes as ``DIR/labels.csv``) or a folder of emotion-named class sub-folders.

Validation and skip reasons are those of :func:`caae_tf.data.table.load_table`; images are stored with
their original (pipeline-safe) bytes, optionally centre-cropped and resized to ``size`` first.
"""

from __future__ import annotations

from caae_tf.data.records import write_records
from caae_tf.data.table import load_table
from caae_tf.errors import DataError
from caae_tf.images import center_crop_resize, decode_image


def prepare_table(source: str, out_dir: str, *, size: int = 0, num_shards: int = 4, require=(),
                  image_format: str = "auto", progress: bool = False) -> dict:
    """Validate ``source`` (CSV / folder with labels.csv / class folders) and write records."""
    df, skips = load_table(source, require=require, progress=progress)
    if len(df) == 0:
        raise DataError(f"{source}: no usable rows (skipped: {skips})")

    def gen():
        for r in df.to_dict("records"):
            row = {"path": r["path"], "valence": r["valence"], "arousal": r["arousal"],
                   "emotion": r["emotion"], "identity": r["identity"]}
            if size and size > 0 and (r["height"] != size or r["width"] != size):
                row["image"] = center_crop_resize(decode_image(r["image_bytes"], r["path"]), size)
                row["format"] = image_format if image_format != "auto" else (
                    "jpeg" if r["format"] == "jpeg" else "png")
            else:
                row["image_bytes"] = r["image_bytes"]
            yield row

    return write_records(gen(), out_dir, num_shards, skipped=skips, source=str(source), progress=progress,
                         total=len(df), extra={"identity_names": df.attrs.get("identity_names")}
                         if df.attrs.get("identity_names") else None)
