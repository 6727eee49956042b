"""Expression editing with a trained CAAE (paper 000 §III-C): x_gen = G(E(x), y).

:class:`Editor` wraps either a training run dir (latest checkpoint) or an exported SavedModel behind one
interface used by the ``edit`` command and the experiments:

* ``editor.image_size`` — the model's square resolution;
* ``editor.edit(images, va)`` — float32 [-1,1] images [N,S,S,3] and labels [N,2] → edited float32 images;
* ``editor.encode(images)`` — z = E(x).

Any number of images is processed in chunks (no fixed batch of 49); any input size is centre-cropped and
resized to the model's resolution (:func:`caae_tf.images.center_crop_resize`), or — with ``align=True`` —
the face is detected and aligned, edited, and pasted back into the full photo with a feathered mask.
"""

from __future__ import annotations

import json
import os
import sys
from dataclasses import dataclass

import numpy as np

from caae_tf.errors import ModelError, UserError
from caae_tf.images import center_crop_resize, make_grid, read_image, to_float, to_uint8, write_image
from caae_tf.labels import grid_labels, validate_va
from caae_tf.tf_env import tf as _tf

EXPORT_INFO = "caae_tf_export.json"


def is_saved_model(path: str) -> bool:
    return os.path.isfile(os.path.join(path, "saved_model.pb"))


class Editor:
    """A CAAE editor loaded from a run dir or a SavedModel (see module docstring)."""

    def __init__(self, edit_fn, encode_fn, image_size: int, source: str, chunk: int = 64):
        self._edit_fn = edit_fn
        self._encode_fn = encode_fn
        self.image_size = int(image_size)
        self.source = source
        self.chunk = chunk

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
    def load(cls, path: str, chunk: int = 64) -> "Editor":
        """Load from a ``caae-tf train caae`` run dir or a ``caae-tf export caae`` SavedModel dir."""
        if not os.path.isdir(path):
            raise ModelError(f"{path}: no such model directory (expected a run dir or a SavedModel)")
        if is_saved_model(path):
            return cls._from_saved_model(path, chunk)
        from caae_tf.train import load_model  # noqa: PLC0415

        model, config = load_model(path)
        if config.model != "caae":
            raise ModelError(f"{path}: holds a {config.model!r} model, `edit` needs a CAAE")
        return cls.from_model(model, source=path, chunk=chunk)

    @classmethod
    def _from_saved_model(cls, path: str, chunk: int) -> "Editor":
        tf = _tf()
        loaded = tf.saved_model.load(path)
        sigs = loaded.signatures
        if "edit_float" not in sigs or "encode_float" not in sigs:
            raise ModelError(f"{path}: SavedModel lacks the caae-tf editor signatures (edit_float/encode_float)")
        info_path = os.path.join(path, EXPORT_INFO)
        if os.path.exists(info_path):
            with open(info_path, encoding="utf-8") as fh:
                size = json.load(fh)["image_size"]
        else:
            size = sigs["edit_float"].structured_input_signature[1]["images"].shape[1]
        edit_sig, enc_sig = sigs["edit_float"], sigs["encode_float"]

        def edit_fn(images, va):
            return edit_sig(images=images, valence_arousal=va)["edited"]

        def encode_fn(images):
            return enc_sig(images=images)["z"]

        editor = cls(edit_fn, encode_fn, size, path, chunk)
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
            [np.asarray(self._encode_fn(tf.constant(images[i : i + self.chunk]))) for i in range(0, len(images), self.chunk)]
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


# ---------------------------------------------------------------------- file-level editing (the CLI)

@dataclass
class EditReport:
    written: list[str]
    failed: list[tuple[str, str]]


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
) -> EditReport:
    """Edit image files; each bad file is reported (and skipped), never a crash mid-run."""
    from caae_tf.progress import Progress  # noqa: PLC0415

    os.makedirs(out_dir, exist_ok=True)
    written: list[str] = []
    failed: list[tuple[str, str]] = []
    used: set[str] = set()
    bar = Progress(len(paths), f"editing {len(paths)} image(s) with {editor.source}", progress, unit="image")
    for path in paths:
        try:
            photo = read_image(path)
            aligned = None
            if align:
                from data_prep.align import align_face  # noqa: PLC0415

                aligned = align_face(photo, editor.image_size, path=path)
                x = to_float(aligned.crop)
            else:
                x = editor.prepare(photo)
            stem = _stem(path)
            if grid:
                out = editor.edit_grid(x, grid)
                target = os.path.join(out_dir, f"{stem}_grid{grid}.png")
            else:
                edited = editor.edit(x[None], np.array([[valence, arousal]], np.float32))[0]
                if aligned is not None:
                    from data_prep.align import paste_back  # noqa: PLC0415

                    out = paste_back(photo, to_uint8(edited), aligned)
                else:
                    out = to_uint8(edited)
                target = os.path.join(out_dir, f"{stem}_v{_fmt(valence)}_a{_fmt(arousal)}.png")
            target = _unique(target, used)
            write_image(target, out)
            written.append(target)
        except UserError as exc:
            failed.append((path, str(exc)))
            print(f"skipped: {exc}", file=sys.stderr)
        bar.update(1)
    bar.close()
    return EditReport(written, failed)
