"""SavedModel export of the label-interpolating cGAN generator (paper 001).

``export_cgan(model_or_run_dir, out_dir)`` writes a TensorFlow SavedModel that needs neither caae_tf nor
Keras to run (``tf.saved_model.load(out_dir)``), with two signatures:

``serving_default(z: float32 [N, z_dim], emotion_weights: float32 [N, 6]) -> {"images": uint8 [N, S, S, 3]}``
    G(z, v) for arbitrary conditioning vectors v ∈ [0,1]^6 in :data:`caae_tf.labels.CGAN_EMOTIONS` order
    (Neutral, Sadness, Disgust, Fear, Anger, Happiness), paper 001 Eq. 3. Every row must be non-negative
    and sum to 1 within 1e-3 (Eq. 2) — anything else fails with ``InvalidArgumentError`` carrying a
    readable message; weights are **not** silently renormalised (the paper found that keeping Eq. 2 is what
    makes interpolated outputs look right, so a wrong sum is almost certainly a caller bug).

``interpolate(z: float32 [N, z_dim], emotion: int32 [N], alpha: float32 [N]) -> {"images": uint8 [N, S, S, 3]}``
    The paper's interpolation (§3.3, Eq. 4) built inside the graph: v = (1-α)·e_Neutral + α·e_emotion,
    ``emotion`` ∈ 0..5 (an index into CGAN_EMOTIONS), α ∈ [0, 1]; out-of-range values fail with a
    readable message.

Wrong dtypes (e.g. int z) are rejected by the signatures' ``TensorSpec``s, wrong ranks/widths (e.g. [N, 5]
weights) by ``tf.ensure_shape`` before G. A third,
non-signature function ``generate_float(z, emotion_weights)`` returns the float32 images in [-1, 1]
(used by :class:`caae_tf.generate.CGANSampler` for lossless evaluation). ``caae_tf_export.json`` beside
``saved_model.pb`` records the model kind, image size, z size, emotion order, source run dir and versions.
"""

from __future__ import annotations

import os
from typing import Any

from caae_tf import labels as _labels
from caae_tf.errors import ModelError

from caae_tf.serving import load_model, write_export_metadata

# the metadata file and its reader live in caae_tf.serving (one schema for both exporters); importable from here
from caae_tf.serving import METADATA_FILE as METADATA_FILE
from caae_tf.serving import read_export_metadata as read_export_metadata

#: Tolerance on Σ v = 1 (paper 001 Eq. 2) accepted by the serving signature.
WEIGHT_SUM_TOLERANCE = 1e-3


def _to_uint8(tf, images):
    """float [-1, 1] → uint8 [0, 255] exactly like :func:`caae_tf.images.to_uint8` (round half to even)."""
    return tf.cast(tf.clip_by_value(tf.round((images + 1.0) * 127.5), 0.0, 255.0), tf.uint8)


def build_serving_module(generator, z_dim: int, num_emotions: int = len(_labels.CGAN_EMOTIONS)):
    """A ``tf.Module`` holding G with ``serving_default``, ``interpolate`` and ``generate_float`` tf.functions."""
    from caae_tf.tf_env import tf as _tf

    tf = _tf()
    n_e = int(num_emotions)
    z_spec = tf.TensorSpec([None, int(z_dim)], tf.float32, name="z")

    def _shaped(t, shape):
        # ``signatures[...]`` concrete functions do not enforce their TensorSpec's rank/width; EnsureShape fails
        # readably ("Shape of tensor z [1,5] is not compatible with expected shape [?,8]") where G's MatMul or
        # concat would otherwise fail (also during shape inference, before any Assert op could run).
        return tf.ensure_shape(t, shape)

    class CGANServing(tf.Module):
        def __init__(self):
            super().__init__(name="cgan_generator")
            self.G = generator

            @tf.function(input_signature=[z_spec, tf.TensorSpec([None, n_e], tf.float32, name="emotion_weights")])
            def generate_float(z, emotion_weights):
                z, emotion_weights = _shaped(z, [None, int(z_dim)]), _shaped(emotion_weights, [None, n_e])
                checks = [
                    tf.debugging.assert_equal(
                        tf.shape(z)[0], tf.shape(emotion_weights)[0],
                        message="z and emotion_weights must have the same number of rows N",
                    ),
                    tf.debugging.assert_all_finite(z, message="z must be finite"),
                    tf.debugging.assert_non_negative(
                        emotion_weights,
                        message="emotion_weights must be finite and >= 0 (v in [0,1]^6, paper 001 Eq. 3)",
                    ),
                    tf.debugging.assert_less_equal(
                        tf.abs(tf.reduce_sum(emotion_weights, axis=-1) - 1.0),
                        tf.constant(WEIGHT_SUM_TOLERANCE, tf.float32),
                        message=(
                            "each row of emotion_weights must sum to 1 within 1e-3 (paper 001 Eq. 2); "
                            "weights are not renormalised"
                        ),
                    ),
                ]
                with tf.control_dependencies(checks):
                    out = self.G((tf.identity(z), tf.identity(emotion_weights)), training=False)
                return tf.cast(out, tf.float32)

            @tf.function(input_signature=[z_spec, tf.TensorSpec([None, n_e], tf.float32, name="emotion_weights")])
            def serving_default(z, emotion_weights):
                return {"images": _to_uint8(tf, generate_float(z, emotion_weights))}

            @tf.function(
                input_signature=[
                    z_spec,
                    tf.TensorSpec([None], tf.int32, name="emotion"),
                    tf.TensorSpec([None], tf.float32, name="alpha"),
                ]
            )
            def interpolate(z, emotion, alpha):
                z, emotion, alpha = _shaped(z, [None, int(z_dim)]), _shaped(emotion, [None]), _shaped(alpha, [None])
                checks = [
                    tf.debugging.assert_equal(
                        tf.shape(z)[0], tf.shape(emotion)[0], message="z and emotion must have the same length N"
                    ),
                    tf.debugging.assert_equal(
                        tf.shape(z)[0], tf.shape(alpha)[0], message="z and alpha must have the same length N"
                    ),
                    tf.debugging.assert_greater_equal(
                        emotion, 0, message=f"emotion must be an index in 0..{n_e - 1} of {_labels.CGAN_EMOTIONS}"
                    ),
                    tf.debugging.assert_less_equal(
                        emotion, n_e - 1,
                        message=f"emotion must be an index in 0..{n_e - 1} of {_labels.CGAN_EMOTIONS}",
                    ),
                    tf.debugging.assert_greater_equal(alpha, 0.0, message="alpha must lie in [0, 1]"),
                    tf.debugging.assert_less_equal(alpha, 1.0, message="alpha must lie in [0, 1]"),
                ]
                with tf.control_dependencies(checks):
                    a = tf.identity(alpha)[:, None]
                    # paper 001 Eq. 4: v = (1-α)·e_Neutral + α·e_i, so v1 + v_i = 1 and Σ v = 1.
                    v = (1.0 - a) * tf.one_hot(tf.zeros_like(emotion), n_e) + a * tf.one_hot(emotion, n_e)
                return {"images": _to_uint8(tf, generate_float(z, v))}

            self.generate_float = generate_float
            self.serving_default = serving_default
            self.interpolate = interpolate

    return CGANServing()


def _load_run(run_dir: str):
    if not os.path.isdir(run_dir):
        raise ModelError(f"{run_dir}: run directory not found")
    model, _config = load_model(run_dir)
    return model


def export_cgan(model_or_run_dir: Any, out_dir: str | os.PathLike, *, source: str | None = None) -> str:
    """Export a trained :class:`caae_tf.models.cgan.CGAN` (or a run dir holding one) as a SavedModel.

    Returns ``out_dir``; the metadata is in ``out_dir/caae_tf_export.json`` (:func:`read_export_metadata`).
    """
    from caae_tf.tf_env import tf as _tf

    tf = _tf()
    from caae_tf.models.cgan import CGAN

    model = model_or_run_dir
    if isinstance(model_or_run_dir, (str, os.PathLike)):
        source = source or os.path.abspath(os.fspath(model_or_run_dir))
        model = _load_run(os.fspath(model_or_run_dir))
    if not isinstance(model, CGAN):
        raise ModelError(
            f"{source or 'model'}: expected a cGAN model, got {type(model).__name__} "
            "(use `caae-tf export caae` for CAAE runs)"
        )
    if not model.G.built:
        model.build_all()
    out_dir = os.fspath(out_dir)
    os.makedirs(out_dir, exist_ok=True)
    module = build_serving_module(model.G, model.z_dim, model.num_emotions)
    tf.saved_model.save(
        module, out_dir,
        signatures={"serving_default": module.serving_default, "interpolate": module.interpolate},
    )
    write_export_metadata(
        out_dir, "cgan", image_size=model.image_size, z_dim=model.z_dim, source=source,
        emotions=list(_labels.CGAN_EMOTIONS),
        noise="z ~ N(0, I)",
        weight_sum_tolerance=WEIGHT_SUM_TOLERANCE,
        signatures={
            "serving_default": "z float32 [N, z_dim], emotion_weights float32 [N, 6] -> images uint8 [N, S, S, 3]",
            "interpolate": "z float32 [N, z_dim], emotion int32 [N], alpha float32 [N] -> images uint8 [N, S, S, 3]",
        },
        config=model.get_config(),
    )
    return out_dir
