"""Read a generic labelled CSV or an image folder into a validated pandas table.

Sources
-------
- a CSV file ``path,identity,valence,arousal,emotion`` (any subset of the label columns; ``path`` relative
  to the CSV's folder or absolute);
- a folder containing ``labels.csv`` (the same CSV);
- a folder of class sub-folders, the sub-folder name being an emotion name (``happy/``, ``sadness/``,
  ...; aliases of :data:`caae_tf.labels.EMOTION_ALIASES` accepted). Images directly inside the folder are
  kept with an unknown emotion.

Validation (every row is either kept with correct labels or skipped and counted by reason)
-----------------------------------------------------------------------------------------
- a missing ``path`` column, or a missing column that ``require`` needs, is a :class:`DataError` naming
  the column and the file;
- duplicated paths: the first row is kept, later ones counted as ``duplicate path``;
- ``valence``/``arousal``: empty/NaN = unknown; non-numbers, values outside [-1, 1], or only one of the
  two given are skipped (``valence/arousal not a number``, ``valence/arousal out of range``,
  ``incomplete valence/arousal``);
- ``emotion``: empty = unknown; a name that is not an emotion is skipped (``unknown emotion``);
- ``identity``: integers ≥ 0 are kept as class indices (-1/empty = unknown); non-integer identities
  (names) are mapped to 0..K-1 in sorted order (``df.attrs["identity_names"]``);
- images: every file is read and decoded in Python (:func:`caae_tf.data.records.safe_image_bytes`);
  missing, empty, corrupt or non-image files are skipped by reason. Grayscale, RGBA, 16-bit, CMYK and
  EXIF-rotated files are accepted: their bytes are re-encoded to 8-bit RGB PNG so the graph decoder
  sees exactly what OpenCV decoded.
- rows lacking a required label (``require``) are skipped as ``missing <label>``.
"""

from __future__ import annotations

import os
from collections import Counter
from typing import Iterable

import numpy as np

from caae_tf import labels as L
from caae_tf.errors import DataError
from caae_tf.images import IMAGE_EXTENSIONS, ImageReadError

LABELS_CSV = "labels.csv"
#: ``require`` keys and the CSV columns each one needs.
REQUIRED_COLUMNS: dict[str, tuple[str, ...]] = {
    "va": ("valence", "arousal"),
    "emotion": ("emotion",),
    "emotion8": ("emotion",),
    "identity": ("identity",),
}
COLUMNS = ("path", "identity", "valence", "arousal", "emotion")

_CACHE: dict[tuple, tuple] = {}


def check_require(require: Iterable[str]) -> tuple[str, ...]:
    req = tuple(require or ())
    bad = [r for r in req if r not in REQUIRED_COLUMNS]
    if bad:
        raise DataError(f"unknown required label(s) {bad}; valid: {', '.join(REQUIRED_COLUMNS)}")
    return req


def _read_csv(csv_path: str):
    import pandas as pd

    try:
        df = pd.read_csv(csv_path, dtype=str, keep_default_na=False, skipinitialspace=True)
    except FileNotFoundError:
        raise DataError(f"{csv_path}: file not found") from None
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError, OSError) as exc:
        raise DataError(f"{csv_path}: not a readable CSV ({str(exc).splitlines()[0]})") from None
    df.columns = [str(c).strip().lower() for c in df.columns]
    if "path" not in df.columns:
        raise DataError(f"{csv_path}: missing required column 'path' (columns: {', '.join(df.columns)})")
    base = os.path.dirname(os.path.abspath(csv_path))
    df["path"] = [p if os.path.isabs(p) else os.path.normpath(os.path.join(base, p)) for p in df["path"].str.strip()]
    return df


def _scan_folder(folder: str):
    import pandas as pd

    rows, skips = [], Counter()
    for f in sorted(os.listdir(folder)):
        p = os.path.join(folder, f)
        if os.path.isfile(p) and f.lower().endswith(IMAGE_EXTENSIONS):
            rows.append({"path": p, "emotion": ""})
    known = 0
    for d in sorted(os.listdir(folder)):
        sub = os.path.join(folder, d)
        if not os.path.isdir(sub) or d.startswith("."):
            continue
        files = [os.path.join(sub, f) for f in sorted(os.listdir(sub)) if not f.startswith(".")]
        files = [f for f in files if os.path.isfile(f)]
        try:
            emotion = L.canonical_emotion(d)
        except ValueError:
            skips[f"unknown emotion folder {d!r}"] += len(files)
            continue
        known += 1
        for f in files:
            if f.lower().endswith(IMAGE_EXTENSIONS):
                rows.append({"path": f, "emotion": emotion})
            else:
                skips["not an image file"] += 1
    if not rows:
        raise DataError(f"{folder}: no images found (expected {LABELS_CSV}, class sub-folders named after "
                        f"emotions such as happiness/ or sadness/, or image files)")
    return pd.DataFrame(rows, columns=["path", "emotion"]), skips


def _source_csv(source: str) -> str | None:
    if os.path.isfile(source):
        return source
    if os.path.isdir(source) and os.path.isfile(os.path.join(source, LABELS_CSV)):
        return os.path.join(source, LABELS_CSV)
    return None


def load_table(source, *, require: Iterable[str] = (), validate: bool = True, keep_bytes: bool = True,
               progress: bool = False):
    """Read ``source`` (CSV file / folder with ``labels.csv`` / class-folder tree) into ``(df, skips)``.

    ``df`` has columns ``path`` (absolute), ``identity`` (int64, -1 unknown), ``valence``, ``arousal``
    (float64, NaN unknown), ``emotion`` (canonical name or ""), and with ``validate`` also
    ``image_bytes`` (pipeline-safe encoded bytes, when ``keep_bytes``), ``format``, ``height``, ``width``.
    ``skips`` is a dict ``reason -> count``. Results are cached per (source, mtime, options).
    """
    import pandas as pd

    source = os.path.abspath(os.fspath(source))
    req = check_require(require)
    if not os.path.exists(source):
        raise DataError(f"{source}: no such file or folder")
    csv_path = _source_csv(source)
    stamp = os.path.getmtime(csv_path or source)
    key = (source, stamp, req, validate, keep_bytes)
    if key in _CACHE:
        df, skips = _CACHE[key]
        return df.copy(), dict(skips)

    if csv_path is not None:
        df = _read_csv(csv_path)
        skips: Counter = Counter()
        where = csv_path
    elif os.path.isdir(source):
        df, skips = _scan_folder(source)
        where = source
    else:  # pragma: no cover
        raise DataError(f"{source}: not a CSV file or folder")
    for r in req:
        for col in REQUIRED_COLUMNS[r]:
            if col not in df.columns:
                raise DataError(f"{where}: missing required column {col!r} (needed for {r!r} labels; "
                                f"columns: {', '.join(df.columns)})")

    n = len(df)
    keep = np.ones(n, dtype=bool)

    def drop(mask, reason):
        mask = np.asarray(mask, dtype=bool) & keep
        c = int(mask.sum())
        if c:
            skips[reason] += c
            keep[mask] = False

    empty_path = (df["path"].astype(str).str.strip() == "").to_numpy()
    drop(empty_path, "empty path")
    drop(df["path"].duplicated(keep="first").to_numpy(), "duplicate path")

    # valence / arousal
    val = np.full(n, np.nan)
    aro = np.full(n, np.nan)
    if "valence" in df.columns or "arousal" in df.columns:
        def num(col):
            if col not in df.columns:
                return np.full(n, np.nan), np.zeros(n, bool)
            s = df[col].astype(str).str.strip()
            blank = s.str.lower().isin(["", "nan", "na", "none", "null"]).to_numpy()
            x = np.array(pd.to_numeric(s.where(~blank, None), errors="coerce"), dtype=np.float64)
            bad = ~blank & ~np.isfinite(x)
            x[blank] = np.nan
            return x, bad
        val, bad_v = num("valence")
        aro, bad_a = num("arousal")
        drop(bad_v | bad_a, "valence/arousal not a number")
        fin_v, fin_a = np.isfinite(val), np.isfinite(aro)
        drop(fin_v ^ fin_a, "incomplete valence/arousal")
        with np.errstate(invalid="ignore"):
            drop((np.abs(val) > 1) | (np.abs(aro) > 1), "valence/arousal out of range")
    # emotion
    emo = np.array([""] * n, dtype=object)
    if "emotion" in df.columns:
        for i, e in enumerate(df["emotion"].astype(str)):
            e = e.strip()
            if e.lower() in ("", "nan", "none", "unknown"):
                continue
            try:
                emo[i] = L.canonical_emotion(e)
            except ValueError:
                if keep[i]:
                    skips["unknown emotion"] += 1
                    keep[i] = False
    # identity
    ident = np.full(n, -1, dtype=np.int64)
    attrs = {}
    if "identity" in df.columns:
        s = df["identity"].astype(str).str.strip()
        blank = s.str.lower().isin(["", "nan", "none", "-1"]).to_numpy()
        as_num = np.array(pd.to_numeric(s.where(~blank, None), errors="coerce"), dtype=np.float64)
        numeric_ok = np.isfinite(as_num) & (np.mod(as_num, 1) == 0) & (as_num >= 0)
        if np.all(numeric_ok | blank):
            ident[~blank] = as_num[~blank].astype(np.int64)
        else:  # identity names → 0..K-1 in sorted order
            names = sorted(set(s[~blank & keep]))
            lut = {nm: i for i, nm in enumerate(names)}
            for i, (nm, b) in enumerate(zip(s, blank)):
                if not b and nm in lut:
                    ident[i] = lut[nm]
            attrs["identity_names"] = names

    out = pd.DataFrame({
        "path": df["path"].astype(str).to_numpy(dtype=object),
        "identity": ident,
        "valence": val,
        "arousal": aro,
        "emotion": emo,
    })
    out = out[keep].reset_index(drop=True)

    # required labels
    if req:
        ok = np.ones(len(out), dtype=bool)
        for r in req:
            if r == "va":
                has = np.isfinite(out["valence"].to_numpy()) & np.isfinite(out["arousal"].to_numpy())
            elif r == "emotion":
                has = np.array([e in L.CGAN_EMOTIONS for e in out["emotion"]], dtype=bool)
            elif r == "emotion8":
                has = np.array([e in L.AFFECTNET_EMOTIONS for e in out["emotion"]], dtype=bool)
            else:
                has = out["identity"].to_numpy() >= 0
            miss = ok & ~has
            if miss.any():
                skips[f"missing {r}"] += int(miss.sum())
            ok &= has
        out = out[ok].reset_index(drop=True)

    if validate:
        from caae_tf.data.records import read_safe_image, skip_reason

        good = np.ones(len(out), dtype=bool)
        data, fmts, hs, ws = [], [], [], []
        paths = out["path"].tolist()
        bar = None
        if progress:
            from caae_tf.progress import Progress

            bar = Progress(len(paths), f"checking {len(paths)} images", unit="image")
        for i, p in enumerate(paths):
            if bar is not None:
                bar.update(1)
            try:
                b, fmt, rgb = read_safe_image(p)
            except ImageReadError as exc:
                skips[skip_reason(exc)] += 1
                good[i] = False
                b, fmt, rgb = None, "", np.zeros((0, 0, 3), np.uint8)
            data.append(b if keep_bytes else None)
            fmts.append(fmt)
            hs.append(rgb.shape[0])
            ws.append(rgb.shape[1])
        if bar is not None:
            bar.close()
        if keep_bytes:
            out["image_bytes"] = pd.Series(data, dtype=object)
        out["format"] = fmts
        out["height"] = np.asarray(hs, dtype=np.int64)
        out["width"] = np.asarray(ws, dtype=np.int64)
        out = out[good].reset_index(drop=True)
    out.attrs.update(attrs)
    out.attrs["source"] = source
    skips_d = {k: int(v) for k, v in sorted(skips.items()) if v}
    _CACHE[key] = (out, skips_d)
    return out.copy(), dict(skips_d)


def label_arrays(df) -> dict[str, np.ndarray]:
    """The pipeline's label arrays from a table: ``va`` f32[N,2] (NaN unknown), ``emotion``,
    ``emotion8``, ``identity`` int32[N] (-1 unknown)."""
    emo = list(df["emotion"])
    return {
        "va": np.stack([df["valence"].to_numpy(np.float32), df["arousal"].to_numpy(np.float32)], axis=1).reshape(-1, 2),
        "emotion": np.array([L.CGAN_EMOTIONS.index(e) if e in L.CGAN_EMOTIONS else -1 for e in emo], np.int32),
        "emotion8": np.array([L.AFFECTNET_EMOTIONS.index(e) if e in L.AFFECTNET_EMOTIONS else -1 for e in emo],
                             np.int32),
        "identity": df["identity"].to_numpy(np.int64).astype(np.int32),
    }
