"""Generic sources → TFRecords: a labelled CSV (``path,identity,valence,arousal,emotion``; what
``caae-tf synth`` writes as ``DIR/labels.csv``) or a folder of emotion-named class sub-folders.

Validation and skip reasons are those of :func:`caae_tf.data.table.load_table`; images are stored with
their original (pipeline-safe) bytes, optionally centre-cropped and resized to ``size`` first — or, with
``align=True`` (for photos that are not already aligned face crops), the largest face is found (MTCNN) and
aligned to the shared template of :mod:`data_prep.align` at ``size`` and ``margin``, exactly as
``caae-tf edit --align`` does; images without a face (of at least ``min_face`` px) are counted skips, and
the template is recorded in the manifest.
"""

from __future__ import annotations

from caae_tf.data.records import write_records
from caae_tf.data.table import load_table
from caae_tf.errors import DataError
from caae_tf.images import center_crop_resize, decode_image


def prepare_table(source: str, out_dir: str, *, size: int = 0, num_shards: int = 4, require=(),
                  image_format: str = "auto", progress: bool = False, align: bool = False,
                  margin: float | None = None, min_face: float = 20) -> dict:
    """Validate ``source`` (CSV / folder with labels.csv / class folders) and write records."""
    from collections import Counter

    df, skips = load_table(source, require=require, progress=progress)
    if len(df) == 0:
        raise DataError(f"{source}: no usable rows (skipped: {skips})")
    alignment = None
    if align:
        from data_prep.align import DEFAULT_MARGIN, align_faces, alignment_info
        from data_prep.detect import get_detector

        if not size or size <= 0:
            raise DataError("--align needs --size (the crop size, e.g. the model's image_size)")
        margin = DEFAULT_MARGIN if margin is None else float(margin)
        det = get_detector("mtcnn", min_face=min_face)
        methods: Counter = Counter()
        alignment = alignment_info(size, margin, method_counts=methods)

    def gen():
        for r in df.to_dict("records"):
            row = {"path": r["path"], "valence": r["valence"], "arousal": r["arousal"],
                   "emotion": r["emotion"], "identity": r["identity"]}
            if align:
                aligned, small = align_faces(decode_image(r["image_bytes"], r["path"]), size, margin, detector=det,
                                             min_face=min_face, path=r["path"])
                if not aligned:
                    skips["face too small" if small else "no face found"] += 1
                    continue
                methods["detected"] += 1
                row["image"] = aligned[0].crop
                row["format"] = image_format if image_format != "auto" else (
                    "jpeg" if r["format"] == "jpeg" else "png")
            elif size and size > 0 and (r["height"] != size or r["width"] != size):
                row["image"] = center_crop_resize(decode_image(r["image_bytes"], r["path"]), size)
                row["format"] = image_format if image_format != "auto" else (
                    "jpeg" if r["format"] == "jpeg" else "png")
            else:
                row["image_bytes"] = r["image_bytes"]
            yield row

    return write_records(gen(), out_dir, num_shards, skipped=skips, source=str(source), progress=progress,
                         total=len(df), extra={"identity_names": df.attrs.get("identity_names")}
                         if df.attrs.get("identity_names") else None, alignment=alignment)
