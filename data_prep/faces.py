"""FACES (Ebner, Riediger & Lindenberger 2010) → TFRecords for the cGAN of paper 001.

File names follow ``ID_age_gender_emotion_set.ext``, e.g. ``004_o_m_a_a.jpg``:

==========  ======================================================================
field       codes
==========  ======================================================================
ID          digits (the person; mapped to identity classes 0..K-1 in sorted order)
age         ``y`` young, ``m`` middle-aged, ``o`` old
gender      ``m`` male, ``f`` female
emotion     ``a`` anger, ``d`` disgust, ``f`` fear, ``h`` happiness, ``n`` neutral, ``s`` sadness
set         ``a`` / ``b`` (two pictures per person and emotion)
==========  ======================================================================

The emotion becomes the cGAN class index in paper 001's order (Neutral, Sadness, Disgust, Fear, Anger,
Happiness = :data:`caae_tf.labels.CGAN_EMOTIONS`; v1 = Neutral), i.e. its one-hot conditioning vector.
Images are resized to ``size``×``size`` (256 as in paper 001 §4.1: "All images were resized to the
target size of 256x256 pixels"; ``square="stretch"`` does exactly that, ``square="crop"`` centre-crops to
a square first to keep the aspect ratio). Unparseable file names, unreadable images and duplicate
(ID, emotion, set) triples are counted skips.
"""

from __future__ import annotations

import os
import re
from collections import Counter

from caae_tf import labels as L
from caae_tf.data.records import skip_reason, write_records
from caae_tf.errors import DataError
from caae_tf.images import IMAGE_EXTENSIONS, ImageReadError, center_crop_resize, read_image

AGE = {"y": "young", "m": "middle", "o": "old"}
GENDER = {"m": "male", "f": "female"}
EMOTION = {"a": "anger", "d": "disgust", "f": "fear", "h": "happiness", "n": "neutral", "s": "sadness"}
_NAME = re.compile(r"^(\d+)_([a-z])_([a-z])_([a-z])_([a-z])$", re.IGNORECASE)


def parse_faces_name(filename: str) -> dict:
    """Parse a FACES file name; ``ValueError`` naming the bad field otherwise.

    Returns ``{"person": "004", "age": "old", "gender": "male", "emotion": "anger", "set": "a",
    "cgan_index": 4}``.
    """
    stem, ext = os.path.splitext(os.path.basename(filename))
    if ext.lower() not in IMAGE_EXTENSIONS:
        raise ValueError(f"{filename}: not an image file name")
    m = _NAME.match(stem)
    if not m:
        raise ValueError(f"{filename}: expected ID_age_gender_emotion_set (e.g. 004_o_m_a_a.jpg)")
    pid, age, gender, emo, st = (g.lower() for g in m.groups())
    if age not in AGE:
        raise ValueError(f"{filename}: unknown age group {age!r} (y, m, o)")
    if gender not in GENDER:
        raise ValueError(f"{filename}: unknown gender {gender!r} (m, f)")
    if emo not in EMOTION:
        raise ValueError(f"{filename}: unknown emotion code {emo!r} (a, d, f, h, n, s)")
    if st not in ("a", "b"):
        raise ValueError(f"{filename}: unknown picture set {st!r} (a, b)")
    emotion = EMOTION[emo]
    return {"person": pid, "age": AGE[age], "gender": GENDER[gender], "emotion": emotion, "set": st,
            "cgan_index": L.CGAN_EMOTIONS.index(emotion)}


def scan_faces(folder: str) -> tuple[list[dict], Counter]:
    """Parse every file under ``folder`` (recursively); returns (rows, skips)."""
    if not os.path.isdir(folder):
        raise DataError(f"{folder}: FACES folder not found")
    rows, skips, seen = [], Counter(), set()
    for root, _, files in os.walk(folder):
        for f in sorted(files):
            if f.startswith("."):
                continue
            try:
                info = parse_faces_name(f)
            except ValueError:
                skips["unparseable file name"] += 1
                continue
            key = (info["person"], info["emotion"], info["set"])
            if key in seen:
                skips["duplicate person/emotion/set"] += 1
                continue
            seen.add(key)
            rows.append({"path": os.path.join(root, f), **info})
    rows.sort(key=lambda r: r["path"])
    persons = sorted({r["person"] for r in rows})
    ids = {p: i for i, p in enumerate(persons)}
    for r in rows:
        r["identity"] = ids[r["person"]]
    return rows, skips


def prepare_faces(folder: str, out_dir: str, *, size: int = 256, square: str = "stretch", num_shards: int = 4,
                  image_format: str = "png", progress: bool = False) -> dict:
    """Write FACES records to ``out_dir``; returns the manifest."""
    import cv2

    if square not in ("stretch", "crop"):
        raise DataError(f"square must be 'stretch' or 'crop', got {square!r}")
    rows, skips = scan_faces(folder)
    if not rows:
        raise DataError(f"{folder}: no FACES images (names like 004_o_m_a_a.jpg) found")

    def gen():
        for r in rows:
            try:
                rgb = read_image(r["path"])
            except ImageReadError as exc:
                skips[skip_reason(exc)] += 1
                continue
            if square == "crop":
                img = center_crop_resize(rgb, size)
            else:
                interp = cv2.INTER_AREA if min(rgb.shape[:2]) > size else cv2.INTER_CUBIC
                img = cv2.resize(rgb, (size, size), interpolation=interp)
            yield {"image": img, "format": image_format, "path": r["path"], "emotion": r["emotion"],
                   "identity": r["identity"],
                   "attributes": {k: r[k] for k in ("person", "age", "gender", "set")}}

    return write_records(gen(), out_dir, num_shards, skipped=skips, source=folder, progress=progress,
                         total=len(rows), extra={"faces": {"size": size, "square": square,
                                                           "persons": len({r['person'] for r in rows})}})
