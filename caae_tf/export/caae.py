"""SavedModel export of the CAAE editor (E and G of paper 000).

Signatures (uint8 at the edges, float inside):

* ``serving_default(images: uint8 [N,S,S,3], valence_arousal: float32 [N,2]) -> {"edited": uint8 [N,S,S,3]}``
* ``encode(images: uint8 [N,S,S,3]) -> {"z": float32 [N,z_dim]}``
* ``edit_float(images: float32 [N,S,S,3] in [-1,1], valence_arousal) -> {"edited": float32}`` and
  ``encode_float(images: float32) -> {"z": float32}`` — the exact model outputs, used by
  :class:`caae_tf.edit.Editor` and the experiments.

S is the model's resolution, fixed in the TensorSpecs: wrong ranks and dtypes are rejected by the signature
itself, wrong sizes by an assertion naming the expected shape (concrete functions do not enforce H, W);
labels outside [-1, 1] (or non-finite) fail a ``tf.debugging`` assertion whose message says so. A
``caae_tf_export.json`` beside the SavedModel records the model kind, resolution, z_dim, the source run,
the caae_tf version and the face alignment (template + margin) of the training crops
(:func:`caae_tf.edit.model_alignment`), which ``caae-tf edit --align`` uses. The SavedModel loads with
plain TensorFlow (``tf.saved_model.load``) — no caae_tf import needed.
"""

from __future__ import annotations

import os

from caae_tf.edit import model_alignment
from caae_tf.errors import ModelError
from caae_tf.images import to_float_tensor, to_uint8_tensor
from caae_tf.serving import load_model, write_export_metadata
from caae_tf.tf_env import tf as _tf


def _module(model, image_size: int, z_dim: int):
    tf = _tf()
    s = image_size

    class CAAEEditorModule(tf.Module):
        def __init__(self):
            super().__init__()
            self.model = model

        @staticmethod
        def _checked(t, expected, what):
            """``t`` after a runtime check that its shape is ``expected`` (None = any); the check runs before
            anything else reads ``t`` (a rank mismatch would otherwise abort inside a conv kernel)."""
            shape = tf.shape(t)
            padded = tf.concat([shape, tf.zeros([len(expected)], tf.int32)], 0)[: len(expected)]
            dims = [i for i, d in enumerate(expected) if d is not None]
            ok = tf.equal(tf.size(shape), len(expected))
            if dims:
                want = tf.constant([expected[i] for i in dims], tf.int32)
                ok = tf.logical_and(ok, tf.reduce_all(tf.equal(tf.gather(padded, dims), want)))
            label = "[" + ", ".join("N" if d is None else str(d) for d in expected) + "]"
            check = tf.debugging.Assert(ok, [f"{what} must have shape {label}; got shape", shape])
            with tf.control_dependencies([check]):
                return tf.identity(t)

        def _edit(self, x, va):
            x = self._checked(x, (None, s, s, 3), "images")
            va = self._checked(va, (None, 2), "valence_arousal")
            tf.debugging.assert_all_finite(va, "valence_arousal must be finite")
            with tf.control_dependencies([
                tf.debugging.assert_less_equal(
                    tf.reduce_max(tf.abs(va)), 1.0, message="valence_arousal must lie in [-1, 1]"
                ),
                tf.debugging.assert_equal(
                    tf.shape(x)[0], tf.shape(va)[0], message="images and valence_arousal need the same N"
                ),
            ]):
                return tf.cast(self.model.edit(tf.identity(x), tf.identity(va)), tf.float32)

        @tf.function(input_signature=[
            tf.TensorSpec([None, s, s, 3], tf.uint8, name="images"),
            tf.TensorSpec([None, 2], tf.float32, name="valence_arousal"),
        ])
        def serve(self, images, valence_arousal):
            return {"edited": to_uint8_tensor(self._edit(to_float_tensor(images), valence_arousal))}

        @tf.function(input_signature=[
            tf.TensorSpec([None, s, s, 3], tf.float32, name="images"),
            tf.TensorSpec([None, 2], tf.float32, name="valence_arousal"),
        ])
        def edit_float(self, images, valence_arousal):
            return {"edited": self._edit(images, valence_arousal)}

        @tf.function(input_signature=[tf.TensorSpec([None, s, s, 3], tf.uint8, name="images")])
        def encode(self, images):
            x = to_float_tensor(self._checked(images, (None, s, s, 3), "images"))
            return {"z": tf.cast(self.model.encode(x), tf.float32)}

        @tf.function(input_signature=[tf.TensorSpec([None, s, s, 3], tf.float32, name="images")])
        def encode_float(self, images):
            x = self._checked(images, (None, s, s, 3), "images")
            return {"z": tf.cast(self.model.encode(x), tf.float32)}

    return CAAEEditorModule()


def export_caae(model_or_run_dir, out_dir: str, *, source: str | None = None) -> str:
    """Write the editor SavedModel for a CAAE (a run dir path or an in-memory ``CAAE``) to ``out_dir``."""
    tf = _tf()
    if isinstance(model_or_run_dir, (str, os.PathLike)):
        source = os.fspath(model_or_run_dir)
        model, config = load_model(source)
        if config.model != "caae":
            raise ModelError(f"{source}: holds a {config.model!r} model; use `caae-tf export {config.model}`")
    else:
        model, config = model_or_run_dir, model_or_run_dir.config
    module = _module(model, config.image_size, config.z_dim)
    signatures = {
        "serving_default": module.serve,
        "encode": module.encode,
        "edit_float": module.edit_float,
        "encode_float": module.encode_float,
    }
    os.makedirs(out_dir, exist_ok=True)
    tf.saved_model.save(module, out_dir, signatures=signatures)
    write_export_metadata(
        out_dir, "caae", image_size=config.image_size, z_dim=config.z_dim, source=source,
        signatures={
            "serving_default": "images uint8 [N,S,S,3], valence_arousal float32 [N,2] -> edited uint8",
            "encode": "images uint8 [N,S,S,3] -> z float32 [N,z_dim]",
            "edit_float": "images float32 [-1,1], valence_arousal -> edited float32 [-1,1]",
            "encode_float": "images float32 [-1,1] -> z",
        },
        label_repeat=config.label_repeat,
        alignment=model_alignment(source, config.image_size),
    )
    return out_dir
