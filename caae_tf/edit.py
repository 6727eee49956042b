"""Expression editing with a trained CAAE (paper 000 §III-C): x_gen = G(E(x), y).

:class:`Editor` wraps either a training run dir (latest checkpoint) or an exported SavedModel behind one
interface used by the ``edit`` command and the experiments:

* ``editor.image_size`` — the model's square resolution;
* ``editor.edit(images, va)`` — float32 [-1,1] images [N,S,S,3] and labels [N,2] → edited float32 images;
* ``editor.encode(images)`` — z = E(x).

Any number of images is processed in chunks (no fixed batch of 49); any input size is centre-cropped and
resized to the model's resolution (:func:`caae_tf.images.center_crop_resize`), or — with ``align=True`` —
every face is detected (MTCNN, :mod:`data_prep.detect`), aligned to the model's own template and margin
(:func:`model_alignment`, the convention of :mod:`data_prep.align` that ``prepare`` used for its training
crops), edited in one batch, and pasted back into the full-resolution photo through a feathered face mask
(or a seamless clone): pixels outside the mask are byte-identical. :func:`edit_photo` is that per-photo
step (also used by :mod:`caae_tf.video`); :func:`edit_files` runs it over files and folders (outputs keep
the inputs' relative paths) and returns a per-face JSON-able report plus where the time went.
"""

from __future__ import annotations

import os
import sys
import time
from dataclasses import dataclass, field

import numpy as np

from caae_tf.errors import ModelError, UserError
from caae_tf.images import (IMAGE_EXTENSIONS, ImageReadError, center_crop_resize, make_grid, read_image, to_float,
                            to_uint8, write_image)
from caae_tf.labels import grid_labels, validate_va
from caae_tf.serving import METADATA_FILE, is_saved_model, load_model, load_saved_model, read_export_metadata
from caae_tf.tf_env import tf as _tf


def _run_provenance(run_dir: str) -> dict:
    """The ``_run`` provenance block that training writes (commented) at the end of ``config.yaml``."""
    import yaml

    try:
        with open(os.path.join(run_dir, "config.yaml"), encoding="utf-8") as fh:
            lines = fh.read().splitlines()
    except OSError:
        return {}
    body = [ln[2:] for ln in lines if ln.startswith("# ") and not ln.startswith("# run provenance")]
    try:
        data = yaml.safe_load("\n".join(body)) if body else None
    except yaml.YAMLError:
        return {}
    return data.get("_run", {}) if isinstance(data, dict) and isinstance(data.get("_run"), dict) else {}


def model_alignment(path: str | None, image_size: int) -> dict:
    """The face alignment (template, margin) a model's training crops were made with.

    A SavedModel: ``alignment`` in ``caae_tf_export.json``. A run dir: the ``alignment`` of the records
    manifest of the data it was trained on (``_run.data`` in its ``config.yaml``). Otherwise (synthetic
    faces, a CSV, older exports) the default template ``face5`` at margin 0.2, which matches the synthetic
    renderer's geometry (:mod:`data_prep.align`). ``source`` in the result says which one was used.
    """
    from data_prep.align import alignment_info

    found, where = None, "default"
    if path and os.path.isdir(path):
        if is_saved_model(path):
            try:
                found = read_export_metadata(path).get("alignment")
                where = f"{METADATA_FILE} of {path}"
            except (OSError, ValueError):
                found = None
        else:
            data = _run_provenance(path).get("data")
            if isinstance(data, str):
                from caae_tf.data.records import alignment_of

                found = alignment_of(data)
                where = f"manifest of {data}"
    if not found:
        return alignment_info(image_size, source="default")
    out = alignment_info(image_size, found.get("margin", 0.2), found.get("template"), source=where)
    return out


#: CAAE config keys that only change how a trained model edits (not its weights).
EDIT_TIME_KEYS: tuple[str, ...] = ("edit_change_tau", "edit_source_grid", "edit_source_levels", "edit_tune_steps",
                                   "edit_tune_lr", "edit_tune_code_lr", "edit_tune_source_lr")


class Editor:
    """A CAAE editor loaded from a run dir or a SavedModel (see module docstring)."""

    def __init__(self, edit_fn, encode_fn, image_size: int, source: str, chunk: int = 64,
                 alignment: dict | None = None):
        self._edit_fn = edit_fn
        self._encode_fn = encode_fn
        self.image_size = int(image_size)
        self.source = source
        self.chunk = chunk
        #: ``{"template", "margin", "size", "source"}`` used by ``align=True`` (:func:`model_alignment`).
        self.alignment = alignment or model_alignment(None, self.image_size)

    # ------------------------------------------------------------------ constructors
    @classmethod
    def from_model(cls, model, source: str = "<in-memory>", chunk: int = 64) -> "Editor":
        tf = _tf()

        @tf.function(reduce_retracing=True)
        def edit_fn(images, va):
            return tf.cast(model.edit(images, va), tf.float32)

        @tf.function(reduce_retracing=True)
        def encode_fn(images):
            return tf.cast(model.encode(images), tf.float32)

        return cls(edit_fn, encode_fn, model.config.image_size, source, chunk)

    @classmethod
    def load(cls, path: str, chunk: int = 64, overrides: list[str] | None = None) -> "Editor":
        """Load from a ``caae-tf train caae`` run dir or a ``caae-tf export caae`` SavedModel dir.

        ``overrides``: ``key=value`` strings for the edit-time keys (:data:`EDIT_TIME_KEYS`) of a run dir's
        config, e.g. ``["edit_change_tau=0"]`` to compare an editor with and without its change mask."""
        if not os.path.isdir(path):
            raise ModelError(f"{path}: no such model directory (expected a run dir or a SavedModel)")
        bad = [o for o in overrides or [] if o.split("=", 1)[0] not in EDIT_TIME_KEYS]
        if bad:
            raise ModelError(f"{path}: only edit-time keys can be set on a trained editor "
                             f"({', '.join(EDIT_TIME_KEYS)}), got {', '.join(bad)}")
        if is_saved_model(path):
            if overrides:
                raise ModelError(f"{path}: a SavedModel's edit is fixed at export; set keys on its run dir")
            return cls._from_saved_model(path, chunk)
        model, config = load_model(path)
        if config.model != "caae":
            raise ModelError(f"{path}: holds a {config.model!r} model, `edit` needs a CAAE")
        if overrides:
            from caae_tf.config import apply_overrides

            model.config = apply_overrides(model.config, overrides)
        editor = cls.from_model(model, source=path, chunk=chunk)
        editor.alignment = model_alignment(path, editor.image_size)
        return editor

    @classmethod
    def _from_saved_model(cls, path: str, chunk: int) -> "Editor":
        loaded = load_saved_model(path)
        sigs = loaded.signatures
        if "edit_float" not in sigs or "encode_float" not in sigs:
            raise ModelError(f"{path}: SavedModel lacks the caae-tf editor signatures (edit_float/encode_float)")
        meta = read_export_metadata(path)
        if meta:
            size = meta["image_size"]
        else:
            size = sigs["edit_float"].structured_input_signature[1]["images"].shape[1]
        edit_sig, enc_sig = sigs["edit_float"], sigs["encode_float"]

        def edit_fn(images, va):
            return edit_sig(images=images, valence_arousal=va)["edited"]

        def encode_fn(images):
            return enc_sig(images=images)["z"]

        editor = cls(edit_fn, encode_fn, size, path, chunk, alignment=model_alignment(path, size))
        editor._loaded = loaded  # keep the SavedModel's resources alive
        return editor

    # ------------------------------------------------------------------ inference
    def edit(self, images: np.ndarray, va: np.ndarray) -> np.ndarray:
        """Edit float32 [-1,1] images [N,S,S,3] to labels [N,2] (or one [2] label for all)."""
        tf = _tf()
        images = np.asarray(images, dtype=np.float32)
        va = np.asarray(va, dtype=np.float32)
        if va.ndim == 1:
            va = np.broadcast_to(va, (len(images), 2))
        validate_va(va)
        self._check(images)
        out = [
            np.asarray(self._edit_fn(tf.constant(images[i : i + self.chunk]), tf.constant(va[i : i + self.chunk])))
            for i in range(0, len(images), self.chunk)
        ]
        return np.concatenate(out) if out else np.zeros_like(images)

    def encode(self, images: np.ndarray) -> np.ndarray:
        tf = _tf()
        images = np.asarray(images, dtype=np.float32)
        self._check(images)
        return np.concatenate(
            [np.asarray(self._encode_fn(tf.constant(images[i : i + self.chunk])))
             for i in range(0, len(images), self.chunk)]
        )

    def _check(self, images: np.ndarray) -> None:
        s = self.image_size
        if images.ndim != 4 or images.shape[1:] != (s, s, 3):
            raise UserError(f"editor expects images [N,{s},{s},3], got {list(images.shape)}")

    def prepare(self, rgb: np.ndarray) -> np.ndarray:
        """Any-size RGB uint8 photo → float32 [S,S,3] centre crop at the model's resolution."""
        return to_float(center_crop_resize(rgb, self.image_size))

    def edit_grid(self, image: np.ndarray, n: int = 7, extent: float = 0.75) -> np.ndarray:
        """The paper's n×n grid (valence 0.75 → -0.75 top→bottom, arousal 0.75 → -0.75 left→right) with
        the input image beside it (left, vertically centred). Returns uint8."""
        labels = grid_labels(n, extent)
        edits = self.edit(np.repeat(image[None], len(labels), axis=0), labels)
        grid = make_grid(list(to_uint8(edits)), cols=n)
        s, pad = self.image_size, 2
        canvas = np.full((grid.shape[0], grid.shape[1] + s + 3 * pad, 3), 255, np.uint8)
        canvas[:, s + 3 * pad :] = grid
        y0 = pad + (n // 2) * (s + pad)
        canvas[y0 : y0 + s, pad : pad + s] = to_uint8(image)
        return canvas


# ---------------------------------------------------------------------- photos with faces (align=True)

STAGES = ("read", "detect", "warp", "model", "paste", "write")


@dataclass
class PhotoEdit:
    """Result of :func:`edit_photo`: the full photo with its faces edited, and what happened to each face."""

    image: np.ndarray
    faces: list[dict]
    """Per detected face: ``index, box, landmarks, score, angle`` and ``valence, arousal`` when edited,
    else ``skipped`` (the reason)."""
    aligned: list = field(default_factory=list)


class _Timer:
    def __init__(self, timings: dict | None):
        self.t = timings

    def add(self, key: str, t0: float) -> float:
        now = time.perf_counter()
        if self.t is not None:
            self.t[key] = self.t.get(key, 0.0) + (now - t0)
        return now


def edit_photo(
    editor: Editor,
    photo: np.ndarray,
    va,
    *,
    face_index=None,
    detector="mtcnn",
    min_face: float = 20,
    max_side: int = 1024,
    blend: str = "residual",
    faces=None,
    path: str = "<image>",
    timings: dict | None = None,
) -> PhotoEdit:
    """Detect every face of ``photo`` (RGB uint8, any size), align each to the editor's template, edit the
    chosen ones (all, or the detection indices in ``face_index``, largest face = 0) to ``va`` ([2], or
    [n_faces, 2] by detection index) in one batch, and paste them back into the full-resolution photo.

    ``faces`` (detections, e.g. smoothed video landmarks) skips detection. Raises
    :class:`data_prep.align.NoFaceError` when no face (of at least ``min_face`` px) is found, or none of
    ``face_index`` exists. ``timings`` (a dict) accumulates seconds per stage (detect/warp/model/paste).
    """
    from data_prep.align import NoFaceError, align_landmarks, paste_back
    from data_prep.detect import as_rgb8, get_detector

    clock = _Timer(timings)
    t = time.perf_counter()
    photo = as_rgb8(photo, path)
    if faces is None:
        det = get_detector(detector, min_face=min_face, max_side=max_side) if isinstance(detector, str) else detector
        faces = det.detect_all(photo)
    t = clock.add("detect", t)
    al = editor.alignment
    size, margin, template = editor.image_size, al["margin"], al["template"]
    wanted = None if face_index is None else {int(i) for i in np.atleast_1d(face_index)}
    report, aligned = [], []
    for i, f in enumerate(faces):
        entry = {"index": i, **f.to_json()}
        report.append(entry)
        if f.side < min_face:
            entry["skipped"] = f"smaller than the minimum face size ({f.side:.0f} px < {min_face:g} px)"
        elif wanted is not None and i not in wanted:
            entry["skipped"] = "not chosen by --face-index"
        else:
            est = f.extra.get("estimated", [])
            a = align_landmarks(photo, f.landmarks, size, margin, template, box=f.box, score=f.score, index=i,
                                eyes_found="left_eye" not in est)
            a.extra.update({k: v for k, v in f.extra.items() if k != "raw_landmarks"})
            aligned.append(a)
    t = clock.add("warp", t)
    if not aligned:
        if wanted is not None and faces and not any(i in wanted for i in range(len(faces))):
            raise NoFaceError(f"{path}: --face-index {','.join(map(str, sorted(wanted)))} not found "
                              f"({len(faces)} face(s) detected, numbered from 0 by size)")
        small = sum("smaller" in e.get("skipped", "") for e in report)
        if small:
            raise NoFaceError(f"{path}: no face found of at least {min_face:g} px ({small} smaller face(s) skipped)")
        raise NoFaceError(f"{path}: no face found")
    labels = np.asarray(va, np.float32)
    labels = np.broadcast_to(labels, (len(faces), 2)) if labels.ndim == 1 else labels
    if len(labels) != len(faces):
        raise UserError(f"{path}: got {len(labels)} labels for {len(faces)} faces")
    y = labels[[a.index for a in aligned]]
    edited = editor.edit(np.stack([to_float(a.crop) for a in aligned]), y)
    t = clock.add("model", t)
    out = photo
    for a, e, lab in zip(aligned, edited, y):
        out = paste_back(out, to_uint8(e), a, blend=blend)
        report[a.index].update(valence=round(float(lab[0]), 4), arousal=round(float(lab[1]), 4),
                               angle=round(float(a.angle), 2))
    clock.add("paste", t)
    return PhotoEdit(out, report, aligned)


# ---------------------------------------------------------------------- file-level editing (the CLI)

@dataclass
class EditReport:
    written: list[str]
    failed: list[tuple[str, str]]
    records: list[dict] = field(default_factory=list)
    """One entry per input: ``input``, ``output`` (or ``error``) and, with ``align``, ``faces``."""
    timings: dict = field(default_factory=dict)
    """Seconds per stage (``read``, ``detect``, ``warp``, ``model``, ``paste``, ``write``) over the run."""

    def to_json(self) -> dict:
        n = len(self.written)
        return {"written": n, "failed": len(self.failed), "images": self.records,
                "seconds": {k: round(v, 4) for k, v in self.timings.items()},
                "faces_edited": sum(1 for r in self.records for f in r.get("faces", []) if "valence" in f),
                "faces_skipped": sum(1 for r in self.records for f in r.get("faces", []) if "skipped" in f)}


def _stem(path: str) -> str:
    return os.path.splitext(os.path.basename(path))[0]


def _fmt(x: float) -> str:
    return f"{x:+.2f}"


def _unique(target: str, used: set[str]) -> str:
    """``target``, or ``target`` with ``_2``, ``_3``... when an earlier input of this run (same file stem,
    e.g. ``a.jpg`` and ``a.png``) already wrote it — never overwrite a result of the same run."""
    base, ext = os.path.splitext(target)
    k, out = 2, target
    while out in used:
        out, k = f"{base}_{k}{ext}", k + 1
    used.add(out)
    return out


def expand_inputs(paths: list[str]) -> list[tuple[str, str]]:
    """Files and folders → ``[(file, relative_dir), ...]``.

    A folder contributes every image file below it (recursively, sorted; hidden entries skipped) with
    its sub-folder relative to the folder, so outputs mirror the input tree. A file (or anything that is
    not a folder with images: it will be reported when read) contributes itself with ``""``.
    """
    out: list[tuple[str, str]] = []
    for p in paths:
        p = os.fspath(p)
        if os.path.isdir(p):
            found = []
            for root, dirs, files in os.walk(p):
                dirs[:] = sorted(d for d in dirs if not d.startswith("."))
                for f in sorted(files):
                    if not f.startswith(".") and f.lower().endswith(IMAGE_EXTENSIONS):
                        found.append((os.path.join(root, f), os.path.relpath(root, p)))
            if found:
                out.extend((f, "" if rel == "." else rel) for f, rel in found)
                continue
        out.append((p, ""))
    return out


def edit_files(
    editor: Editor,
    paths: list[str],
    out_dir: str,
    *,
    valence: float | None = None,
    arousal: float | None = None,
    grid: int | None = None,
    align: bool = False,
    progress: bool = True,
    face_index=None,
    min_face: float = 20,
    detector: str = "mtcnn",
    blend: str = "residual",
    max_side: int = 1024,
) -> EditReport:
    """Edit image files and folders (:func:`expand_inputs`); each bad file is reported and skipped, never a
    crash mid-run. Outputs: ``OUT/<relative dir>/<stem>_v<V>_a<A>.png`` (``<stem>_grid<N>.png``)."""
    from caae_tf.progress import Progress

    os.makedirs(out_dir, exist_ok=True)
    inputs = expand_inputs(paths)
    written: list[str] = []
    failed: list[tuple[str, str]] = []
    records: list[dict] = []
    timings: dict = {k: 0.0 for k in STAGES} if align else {}
    used: set[str] = set()
    det = None
    if align:
        from data_prep.detect import get_detector

        det = get_detector(detector, min_face=min_face, max_side=max_side)
    bar = Progress(len(inputs), f"editing {len(inputs)} image(s) with {editor.source}", progress, unit="image")
    for path, rel in inputs:
        rec: dict = {"input": path}
        records.append(rec)
        try:
            t0 = time.perf_counter()
            if os.path.isdir(path):
                raise ImageReadError(path, "is a directory, with no image files inside")
            photo = read_image(path)
            if align:
                timings["read"] += time.perf_counter() - t0
            stem = _stem(path)
            folder = os.path.join(out_dir, rel) if rel else out_dir
            if grid:
                if align:
                    from data_prep.align import NoFaceError, align_faces

                    al = editor.alignment
                    aligned, _ = align_faces(photo, editor.image_size, al["margin"], al["template"], detector=det,
                                             min_face=min_face, path=path)
                    if not aligned:
                        raise NoFaceError(f"{path}: no face found")
                    rec["faces"] = [aligned[0].to_json()]
                    x = to_float(aligned[0].crop)
                else:
                    x = editor.prepare(photo)
                out = editor.edit_grid(x, grid)
                target = os.path.join(folder, f"{stem}_grid{grid}.png")
            else:
                va = np.array([valence, arousal], np.float32)
                if align:
                    res = edit_photo(editor, photo, va, face_index=face_index, detector=det, min_face=min_face,
                                     max_side=max_side, blend=blend, path=path, timings=timings)
                    out = res.image
                    rec["faces"] = res.faces
                    for f in res.faces:
                        if "smaller" in f.get("skipped", ""):
                            print(f"note: {path}: face {f['index']} not edited: {f['skipped']}", file=sys.stderr)
                else:
                    out = to_uint8(editor.edit(editor.prepare(photo)[None], va[None])[0])
                target = os.path.join(folder, f"{stem}_v{_fmt(valence)}_a{_fmt(arousal)}.png")
            target = _unique(target, used)
            t0 = time.perf_counter()
            write_image(target, out)
            if align:
                timings["write"] += time.perf_counter() - t0
            written.append(target)
            rec["output"] = target
        except UserError as exc:
            failed.append((path, str(exc)))
            rec["error"] = str(exc)
            print(f"skipped: {exc}", file=sys.stderr)
        bar.update(1)
    bar.close()
    return EditReport(written, failed, records, timings)
