"""CelebA → the paper-000 heatmap test set: the first N frontal faces, cut square around the centre.

Paper 000 §IV-B: "We select the first 200 CelebA images that show a frontal face and cut them
quadratically around their center." Input: ``img_align_celeba/`` (178×218 JPEGs, the nose at the image
centre) and, when present, ``list_landmarks_align_celeba.txt`` (official format: the count, a header
``lefteye_x lefteye_y righteye_x righteye_y nose_x nose_y leftmouth_x leftmouth_y rightmouth_x
rightmouth_y``, then ``000001.jpg 69 109 106 113 77 142 73 152 108 154``).

Frontal (from landmarks), with ``d`` = inter-ocular distance ``righteye_x - lefteye_x`` (> 0):

- yaw:   ``|nose_x - eye_mid_x| / d <= max_yaw`` (default 0.12: the nose within 12 % of the eye distance
  of the eyes' midpoint; a 15-20° head turn moves it ~20-30 %);
- roll:  ``|righteye_y - lefteye_y| / d <= max_roll`` (default 0.10, ≈ 6°);
- mouth: ``|mouth_mid_x - eye_mid_x| / d <= max_mouth`` (default 0.15; rejects turned or twisted faces
  whose nose happens to be central).

Without a landmark file the same three tests are applied to the five landmarks MTCNN finds
(:mod:`data_prep.detect`; the largest face of the image).

Images are taken in file-name order. ``crop="template"`` (the default) aligns each selected image with
the shared convention of :mod:`data_prep.align` — the similarity transform from its five landmarks (from
the landmark file when given, else detected) to the ``face5`` template at ``margin`` — exactly as
``caae-tf edit --align`` does at inference; the template is recorded in the manifest (``"alignment"``).
``crop="center"`` is the paper's literal recipe: the largest centred square (178×178) resized to ``size``.
``size`` 0 keeps 178. Records carry no labels (the heatmap experiment edits them); ``crops_dir``
additionally receives the crops as PNG files with the original names.
"""

from __future__ import annotations

import os
from collections import Counter

import numpy as np

from caae_tf.data.records import skip_reason, write_records
from caae_tf.errors import DataError
from caae_tf.images import ImageReadError, center_crop_resize, list_images, read_image, write_image

LANDMARK_FILE = "list_landmarks_align_celeba.txt"
LANDMARK_COLUMNS = ("lefteye_x", "lefteye_y", "righteye_x", "righteye_y", "nose_x", "nose_y",
                    "leftmouth_x", "leftmouth_y", "rightmouth_x", "rightmouth_y")


def read_landmarks(path: str) -> tuple[dict[str, np.ndarray], Counter]:
    """Parse the official landmark file → ``({filename: float[10]}, skips)``; malformed lines are counted."""
    skips: Counter = Counter()
    out: dict[str, np.ndarray] = {}
    try:
        with open(path) as fh:
            lines = fh.read().splitlines()
    except OSError as exc:
        raise DataError(f"{path}: cannot read landmark file ({exc.strerror})") from None
    if len(lines) < 2:
        raise DataError(f"{path}: too short for a CelebA landmark file (count line, header line, rows)")
    header = lines[1].split()
    if tuple(header) != LANDMARK_COLUMNS:
        raise DataError(f"{path}: line 2 must be the header {' '.join(LANDMARK_COLUMNS)}")
    for line in lines[2:]:
        parts = line.split()
        if not parts:
            continue
        try:
            vals = np.array([float(v) for v in parts[1:]], dtype=np.float64)
        except ValueError:
            skips["malformed landmark line"] += 1
            continue
        if vals.size != 10 or not np.all(np.isfinite(vals)):
            skips["malformed landmark line"] += 1
            continue
        out[parts[0]] = vals
    return out, skips


def frontal_scores(lm: np.ndarray) -> dict[str, float]:
    lx, ly, rx, ry, nx, ny, mlx, mly, mrx, mry = (float(v) for v in lm)
    d = rx - lx
    if d <= 0:
        return {"yaw": float("inf"), "roll": float("inf"), "mouth": float("inf")}
    mid = (lx + rx) / 2.0
    return {"yaw": abs(nx - mid) / d, "roll": abs(ry - ly) / d, "mouth": abs((mlx + mrx) / 2.0 - mid) / d}


def is_frontal(lm: np.ndarray, max_yaw: float = 0.12, max_roll: float = 0.10, max_mouth: float = 0.15) -> bool:
    s = frontal_scores(lm)
    return s["yaw"] <= max_yaw and s["roll"] <= max_roll and s["mouth"] <= max_mouth


def detected_landmarks(rgb: np.ndarray) -> np.ndarray | None:
    """The largest face's five landmarks as CelebA's flat float[10] (x, y pairs), or None."""
    from data_prep.detect import get_detector

    faces = get_detector("mtcnn").detect(rgb)
    return faces[0].landmarks.reshape(-1).astype(np.float64) if faces else None


def _frontal_by_detection(rgb: np.ndarray, max_yaw: float, max_roll: float, max_mouth: float = 0.15) -> bool:
    lm = detected_landmarks(rgb)
    return lm is not None and is_frontal(lm, max_yaw, max_roll, max_mouth)


def _find_landmark_file(image_dir: str) -> str | None:
    for cand in (os.path.join(image_dir, LANDMARK_FILE),
                 os.path.join(os.path.dirname(image_dir.rstrip("/")), LANDMARK_FILE)):
        if os.path.isfile(cand):
            return cand
    return None


def select_frontal(image_dir: str, landmarks: str | None = None, *, count: int = 200, max_yaw: float = 0.12,
                   max_roll: float = 0.10, max_mouth: float = 0.15) -> tuple[list[str], Counter]:
    """The first ``count`` frontal images of ``image_dir`` in file-name order; returns (paths, skips).

    With ``landmarks`` (or ``LANDMARK_FILE`` found next to/inside ``image_dir``) the landmark test is
    used, else face/eye detection. Non-frontal images are counted as ``not frontal``.
    """
    if not os.path.isdir(image_dir):
        raise DataError(f"{image_dir}: CelebA image folder not found")
    if landmarks is None:
        landmarks = _find_landmark_file(image_dir)
    files = list_images(image_dir)
    skips: Counter = Counter()
    chosen: list[str] = []
    lms = None
    if landmarks is not None:
        lms, skips = read_landmarks(landmarks)
    for f in files:
        if len(chosen) >= count:
            break
        name = os.path.basename(f)
        if lms is not None:
            if name not in lms:
                skips["no landmarks"] += 1
                continue
            if not is_frontal(lms[name], max_yaw, max_roll, max_mouth):
                skips["not frontal"] += 1
                continue
        else:
            try:
                rgb = read_image(f)
            except ImageReadError as exc:
                skips[skip_reason(exc)] += 1
                continue
            if not _frontal_by_detection(rgb, max_yaw, max_roll, max_mouth):
                skips["not frontal"] += 1
                continue
        chosen.append(f)
    return chosen, skips


def prepare_celeba(image_dir: str, out_dir: str, *, landmarks: str | None = None, count: int = 200,
                   size: int = 128, crops_dir: str | None = None, max_yaw: float = 0.12, max_roll: float = 0.10,
                   max_mouth: float = 0.15, num_shards: int = 1, progress: bool = False, crop: str = "template",
                   margin: float | None = None) -> dict:
    """Select, crop and write the heatmap set (module docstring); returns the manifest."""
    from data_prep.align import DEFAULT_MARGIN, align_landmarks, alignment_info

    if crop not in ("template", "center"):
        raise DataError(f"crop must be 'template' or 'center', got {crop!r}")
    margin = DEFAULT_MARGIN if margin is None else float(margin)
    if landmarks is None:
        landmarks = _find_landmark_file(image_dir)
    chosen, skips = select_frontal(image_dir, landmarks, count=count, max_yaw=max_yaw, max_roll=max_roll,
                                   max_mouth=max_mouth)
    if not chosen:
        raise DataError(f"{image_dir}: no frontal faces found (skipped: {dict(skips)})")
    lms = read_landmarks(landmarks)[0] if (landmarks and crop == "template") else {}
    methods: Counter = Counter()

    def gen():
        for f in chosen:
            try:
                rgb = read_image(f)
            except ImageReadError as exc:
                skips[skip_reason(exc)] += 1
                continue
            s = size if size and size > 0 else min(rgb.shape[:2])
            if crop == "template":
                lm = lms.get(os.path.basename(f))
                method = "landmarks"
                if lm is None:
                    lm, method = detected_landmarks(rgb), "detected"
                if lm is None:
                    skips["no face found"] += 1
                    continue
                methods[method] += 1
                img = align_landmarks(rgb, lm.reshape(5, 2), s, margin).crop
            else:
                img = center_crop_resize(rgb, s)
            crop_img = img
            if crops_dir:
                write_image(os.path.join(crops_dir, os.path.splitext(os.path.basename(f))[0] + ".png"), crop_img)
            yield {"image": crop_img, "format": "png", "path": f}

    alignment = alignment_info(size, margin, method_counts=methods) if crop == "template" else None
    m = write_records(gen(), out_dir, num_shards, skipped=skips, source=image_dir, progress=progress,
                      total=len(chosen), alignment=alignment,
                      extra={"celeba": {"count_requested": count, "selected": [os.path.basename(c) for c in chosen],
                                        "landmarks": landmarks, "max_yaw": max_yaw, "max_roll": max_roll,
                                        "max_mouth": max_mouth, "size": size, "crop": crop}})
    if m["num_examples"] < count:
        m["warning"] = f"only {m['num_examples']} of {count} frontal faces found"
    return m
