"""AffectNet (Mollahosseini et al. 2017) → TFRecords.

Input: the official ``training.csv`` / ``validation.csv`` (columns ``subDirectory_filePath, face_x,
face_y, face_width, face_height, facial_landmarks, expression, valence, arousal``) and the image root
(``--images``, the folder that holds the ``subDirectory_filePath`` paths, i.e. ``Manually_Annotated_Images``).

Per row
-------
1. ``expression`` must be an integer 0-10. Codes 8 (None), 9 (Uncertain) and 10 (Non-Face) are dropped
   and counted separately (``expression 8 (none)`` ...), as the authors' code of paper 000 does (its
   ``fill_up_equally`` keeps classes 0-7) — although paper 000 says it trains on "the hand-annotated
   AffectNet images". ``keep_other_expressions=True`` keeps them (for valence/arousal-only training: their
   class labels are unknown, ``emotion8 = -1``; Non-Face rows mostly carry valence/arousal -2 and are
   dropped by rule 2). Codes 0-7 map to :data:`labels.AFFECTNET_EMOTIONS` (0 Neutral, 1 Happy, 2 Sad,
   3 Surprise, 4 Fear, 5 Disgust, 6 Anger, 7 Contempt); the cGAN index is set for the six classes of paper
   001 and -1 for Surprise/Contempt.
2. ``valence``/``arousal`` equal to -2 (AffectNet's "uncertain / no face") are dropped (counted); other
   values must be finite and in [-1, 1] (else counted as out of range / not a number).
3. duplicated ``subDirectory_filePath``: first kept.
4. the image is read (missing/corrupt files counted), the face box (``face_x, face_y, face_width,
   face_height``; must lie at least partly inside the image and have positive size) is checked, and the
   crop is made with the shared face-alignment convention of :mod:`data_prep.align` whenever the row has
   AffectNet's 68 ``facial_landmarks`` (``x1;y1;...;x68;y68``, iBUG order): the eye centres (mean of
   points 37-42 and 43-48), the nose tip (31) and the mouth corners (49, 55) go through the similarity
   transform to the ``face5`` template at ``margin`` and ``size`` — the same crops ``caae-tf edit --align``
   makes at inference. Rows without usable landmarks fall back to the box: grown by ``margin`` × its size
   on every side, made square around its centre (side = max(w, h)·(1 + 2·margin)), padded by edge
   replication where it leaves the photo, and resized to ``size`` (INTER_AREA). Each manifest records the
   template, margin and ``method_counts`` (``landmarks`` / ``box``).

Splits
------
``training.csv`` → ``OUT/train``; ``validation.csv`` → ``OUT/val`` (the paper's split: AffectNet's
validation set is its test set). A held-out **evaluation subset** of ``eval_size`` (default 4,500) rows is
drawn from the label-valid training rows with ``numpy.random.default_rng(seed).permutation`` (before any
image is read), written to ``OUT/eval`` and excluded from ``OUT/train``; images of that subset that then
fail to read are counted in ``OUT/eval``'s manifest, so it can hold slightly fewer than ``eval_size``.

``balance=True`` oversamples the *training* rows (after removing the eval subset) so every expression
class has as many rows as the largest one (each class is repeated whole, the remainder drawn without
replacement with the same seeded generator), as the AffectNet authors did for their baselines. Each
record is the same image repeated; the manifest records the per-class factors.
"""

from __future__ import annotations

import math
import os
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from typing import Iterator

import numpy as np

from caae_tf import labels as L
from caae_tf.data.records import skip_reason, write_records
from caae_tf.errors import DataError
from caae_tf.images import ImageReadError, read_image

COLUMNS = ("subDirectory_filePath", "face_x", "face_y", "face_width", "face_height", "expression",
           "valence", "arousal")
EXPRESSION_NAMES = {0: "neutral", 1: "happiness", 2: "sadness", 3: "surprise", 4: "fear", 5: "disgust",
                    6: "anger", 7: "contempt", 8: "none", 9: "uncertain", 10: "non-face"}


def crop_square(rgb: np.ndarray, box: tuple[float, float, float, float], margin: float, size: int) -> np.ndarray:
    """Square crop around box ``(x, y, w, h)`` grown by ``margin``·size per side, edge-padded, resized to
    ``size`` (``size <= 0`` keeps the crop's own resolution)."""
    import cv2

    x, y, w, h = (float(v) for v in box)
    cx, cy = x + w / 2.0, y + h / 2.0
    side = max(1, int(round(max(w, h) * (1.0 + 2.0 * margin))))
    x0, y0 = int(round(cx - side / 2.0)), int(round(cy - side / 2.0))
    x1, y1 = x0 + side, y0 + side
    H, W = rgb.shape[:2]
    pad = max(0, -x0, -y0, x1 - W, y1 - H)
    if pad:
        rgb = cv2.copyMakeBorder(rgb, pad, pad, pad, pad, cv2.BORDER_REPLICATE)
        x0, y0, x1, y1 = x0 + pad, y0 + pad, x1 + pad, y1 + pad
    crop = rgb[y0:y1, x0:x1]
    if size and size > 0 and side != size:
        crop = cv2.resize(crop, (size, size), interpolation=cv2.INTER_AREA if side > size else cv2.INTER_CUBIC)
    return np.ascontiguousarray(crop)


def read_affectnet_csv(csv_path: str, keep_other_expressions: bool = False):
    """Parse and validate the label columns; returns ``(rows DataFrame, skips Counter)``.

    The DataFrame has ``rel_path, box (x,y,w,h), expression (0-7; 0-10 with keep_other_expressions),
    valence, arousal, emotion`` (``emotion`` None for codes 8-10).
    """
    import pandas as pd

    try:
        df = pd.read_csv(csv_path, dtype=str, keep_default_na=False)
    except FileNotFoundError:
        raise DataError(f"{csv_path}: file not found") from None
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise DataError(f"{csv_path}: not a readable CSV ({str(exc).splitlines()[0]})") from None
    df.columns = [c.strip() for c in df.columns]
    for col in COLUMNS:
        if col not in df.columns:
            raise DataError(f"{csv_path}: missing required column {col!r} (AffectNet CSV needs "
                            f"{', '.join(COLUMNS)})")
    skips: Counter = Counter()
    keep = []
    seen = set()
    for r in df.itertuples(index=False):
        rel = str(r.subDirectory_filePath).strip()
        try:
            code = float(r.expression)
        except ValueError:
            skips["expression not a number"] += 1
            continue
        if not (math.isfinite(code) and code == int(code) and 0 <= code <= 10):
            skips["expression out of range"] += 1
            continue
        code = int(code)
        if code >= 8 and not keep_other_expressions:
            skips[f"expression {code} ({EXPRESSION_NAMES[code]})"] += 1
            continue
        try:
            v, a = float(r.valence), float(r.arousal)
        except ValueError:
            skips["valence/arousal not a number"] += 1
            continue
        if v == -2 or a == -2:
            skips["valence/arousal -2 (uncertain/no face)"] += 1
            continue
        if not (math.isfinite(v) and math.isfinite(a)):
            skips["valence/arousal not a number"] += 1
            continue
        if abs(v) > 1 or abs(a) > 1:
            skips["valence/arousal out of range"] += 1
            continue
        try:
            box = tuple(float(getattr(r, c)) for c in ("face_x", "face_y", "face_width", "face_height"))
        except ValueError:
            skips["face box not a number"] += 1
            continue
        if not all(math.isfinite(b) for b in box) or box[2] <= 0 or box[3] <= 0:
            skips["invalid face box"] += 1
            continue
        if not rel:
            skips["empty path"] += 1
            continue
        if rel in seen:
            skips["duplicate path"] += 1
            continue
        seen.add(rel)
        keep.append({"rel_path": rel, "box": box, "expression": code, "valence": v, "arousal": a,
                     "emotion": L.AFFECTNET_EMOTIONS[code] if code < len(L.AFFECTNET_EMOTIONS) else None})
    out = pd.DataFrame(keep, columns=["rel_path", "box", "expression", "valence", "arousal", "emotion"])
    return out, skips


def balanced_indices(expressions: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, dict]:
    """Oversample every class to the size of the largest (whole repeats + a seeded remainder)."""
    expressions = np.asarray(expressions)
    classes, counts = np.unique(expressions, return_counts=True)
    target = int(counts.max()) if counts.size else 0
    out, factors = [], {}
    for c in classes:
        idx = np.flatnonzero(expressions == c)
        reps, rem = divmod(target, idx.size)
        out.append(np.concatenate([np.tile(idx, reps), rng.choice(idx, rem, replace=False)]))
        name = L.AFFECTNET_EMOTIONS[int(c)] if int(c) < len(L.AFFECTNET_EMOTIONS) else EXPRESSION_NAMES[int(c)]
        factors[name] = round(target / idx.size, 3)
    allidx = np.concatenate(out) if out else np.zeros(0, np.int64)
    return rng.permutation(allidx), factors


def landmarks5_from_68(text) -> np.ndarray | None:
    """AffectNet's ``facial_landmarks`` (68 iBUG points as ``x1;y1;...``) → the five template points
    [left eye, right eye, nose tip, left mouth corner, right mouth corner] (image-left first), or None."""
    try:
        v = np.array([float(t) for t in str(text).replace(",", ";").split(";") if t.strip()], np.float64)
    except ValueError:
        return None
    if v.size != 136 or not np.all(np.isfinite(v)):
        return None
    p = v.reshape(68, 2)
    lm = np.array([p[36:42].mean(0), p[42:48].mean(0), p[30], p[48], p[54]])
    if lm[1, 0] < lm[0, 0]:  # mirrored annotation: keep the image-left-first order
        lm = lm[[1, 0, 2, 4, 3]]
    return lm if lm[1, 0] - lm[0, 0] > 1.0 else None


def read_landmarks5(csv_path: str) -> dict[str, np.ndarray]:
    """``{subDirectory_filePath: [5, 2]}`` for the rows of an AffectNet CSV with usable landmarks."""
    import pandas as pd

    try:
        df = pd.read_csv(csv_path, dtype=str, keep_default_na=False)
    except (OSError, pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError):
        return {}
    df.columns = [c.strip() for c in df.columns]
    if "facial_landmarks" not in df.columns or "subDirectory_filePath" not in df.columns:
        return {}
    out = {}
    for rel, text in zip(df["subDirectory_filePath"], df["facial_landmarks"]):
        lm = landmarks5_from_68(text)
        if lm is not None:
            out[str(rel).strip()] = lm
    return out


def _alignment(size: int, margin: float, methods: Counter) -> dict:
    from data_prep.align import alignment_info

    return alignment_info(size, margin, method_counts=methods)


def _rows(table, images_root: str, margin: float, size: int, fmt: str, skips: Counter,
          workers: int, landmarks: dict | None = None, methods: Counter | None = None) -> Iterator[dict]:
    from data_prep.align import align_landmarks

    def load(rec):
        path = os.path.join(images_root, rec["rel_path"])
        try:
            rgb = read_image(path)
        except ImageReadError as exc:
            return path, None, skip_reason(exc)
        H, W = rgb.shape[:2]
        x, y, w, h = rec["box"]
        if x >= W or y >= H or x + w <= 0 or y + h <= 0:
            return path, None, "face box outside image"
        lm = (landmarks or {}).get(rec["rel_path"])
        if lm is not None:
            s = size if size and size > 0 else max(1, int(round(max(w, h) * (1.0 + 2.0 * margin))))
            if methods is not None:
                methods["landmarks"] += 1
            return path, align_landmarks(rgb, lm, s, margin).crop, None
        if methods is not None:
            methods["box"] += 1
        return path, crop_square(rgb, rec["box"], margin, size), None

    recs = table.to_dict("records")
    with ThreadPoolExecutor(max(1, workers)) as pool:
        for rec, (path, crop, why) in zip(recs, pool.map(load, recs, chunksize=1) if workers > 1 else map(load, recs)):
            if crop is None:
                skips[why] += 1
                continue
            yield {"image": crop, "format": fmt, "path": path, "valence": rec["valence"],
                   "arousal": rec["arousal"], "emotion": rec["emotion"],
                   "attributes": {"expression": rec["expression"]}}


def prepare_affectnet(
    train_csv: str | None,
    images_root: str,
    out_dir: str,
    *,
    val_csv: str | None = None,
    margin: float = 0.2,
    size: int = 128,
    eval_size: int = 4500,
    balance: bool = False,
    seed: int = 0,
    num_shards: int = 16,
    image_format: str = "jpeg",
    workers: int | None = None,
    progress: bool = False,
    keep_other_expressions: bool = False,
) -> dict[str, dict]:
    """Write ``out_dir/{train,eval,val}`` records (module docstring); returns ``{split: manifest}``.

    ``keep_other_expressions`` keeps expression codes 8-10 (None, Uncertain, Non-Face) with an unknown
    class label instead of dropping them (paper 000's authors drop them)."""
    if not os.path.isdir(images_root):
        raise DataError(f"{images_root}: image root not found (--images)")
    if train_csv is None and val_csv is None:
        raise DataError("give the AffectNet training.csv and/or validation.csv")
    workers = workers or min(8, os.cpu_count() or 1)
    out: dict[str, dict] = {}
    common = dict(margin=margin, size=size, balance=balance, seed=seed, eval_size=eval_size,
                  keep_other_expressions=bool(keep_other_expressions))
    if train_csv is not None:
        table, skips = read_affectnet_csv(train_csv, keep_other_expressions)
        rng = np.random.default_rng(seed)
        perm = rng.permutation(len(table))
        n_eval = min(int(eval_size), len(table))
        eval_idx = np.sort(perm[:n_eval])
        train_idx = np.sort(perm[n_eval:])
        ev, tr = table.iloc[eval_idx].reset_index(drop=True), table.iloc[train_idx].reset_index(drop=True)
        factors = None
        if balance and len(tr):
            order, factors = balanced_indices(tr["expression"].to_numpy(), np.random.default_rng(seed + 1))
            tr = tr.iloc[order].reset_index(drop=True)
        split_skips = Counter(skips)
        lms_train, m_train, m_eval = read_landmarks5(train_csv), Counter(), Counter()
        out["train"] = write_records(
            _rows(tr, images_root, margin, size, image_format, split_skips, workers, lms_train, m_train),
            os.path.join(out_dir, "train"), num_shards, skipped=split_skips, source=train_csv,
            extra={"split": "train", "affectnet": {**common, "eval_rows_excluded": int(n_eval),
                                                   "balance_factors": factors}},
            progress=progress, total=len(tr), alignment=_alignment(size, margin, m_train))
        if n_eval:
            eval_skips: Counter = Counter()
            out["eval"] = write_records(
                _rows(ev, images_root, margin, size, image_format, eval_skips, workers, lms_train, m_eval),
                os.path.join(out_dir, "eval"), max(1, min(num_shards, 4)), skipped=eval_skips, source=train_csv,
                extra={"split": "eval", "affectnet": {**common, "drawn_from": "training rows",
                                                      "requested": int(eval_size)}},
                progress=progress, total=len(ev), alignment=_alignment(size, margin, m_eval))
    if val_csv is not None:
        table, skips = read_affectnet_csv(val_csv, keep_other_expressions)
        vskips, m_val = Counter(skips), Counter()
        out["val"] = write_records(
            _rows(table, images_root, margin, size, image_format, vskips, workers, read_landmarks5(val_csv), m_val),
            os.path.join(out_dir, "val"), max(1, min(num_shards, 4)), skipped=vskips, source=val_csv,
            extra={"split": "val", "affectnet": common}, progress=progress, total=len(table),
            alignment=_alignment(size, margin, m_val))
    return out
