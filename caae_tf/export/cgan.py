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

With calibration tables (beyond the paper: ``caae-tf calibrate``, :mod:`caae_tf.calibration`; exported when
the run dir holds ``calibration.json``, or added to an existing SavedModel by ``calibrate``) two more:

``va_to_weights(valence_arousal: float32 [N, 2]) -> {"emotion_weights": float32 [N, 6], "expected_valence_arousal":
float32 [N, 2], "clamped": bool [N], "distance": float32 [N], "alpha": float32 [N]}``
    The path and step that reach each (valence, arousal) target according to the tables. A target outside the
    reachable region is clamped to the nearest reachable point (``clamped`` true, ``expected_valence_arousal``
    that point, ``distance`` how far it is); a target outside [-1, 1]² or non-finite fails with
    ``InvalidArgumentError`` "valence_arousal must be finite and lie in [-1, 1]²".

``generate_va(z: float32 [N, z_dim], valence_arousal: float32 [N, 2]) -> {"images": uint8 [N, S, S, 3], …}``
    G(z, va_to_weights(valence_arousal)), returning the ``va_to_weights`` outputs next to the images.

The tables themselves are ``assets/calibration.json``; the metadata file summarises them.

Wrong dtypes (e.g. int z) are rejected by the signatures' ``TensorSpec``s, wrong ranks/widths (e.g. [N, 5]
weights) by ``tf.ensure_shape`` before G. A third,
non-signature function ``generate_float(z, emotion_weights)`` returns the float32 images in [-1, 1]
(used by :class:`caae_tf.generate.CGANSampler` for lossless evaluation). ``caae_tf_export.json`` beside
``saved_model.pb`` records the model kind, image size, z size, emotion order, source run dir and versions.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from typing import Any

from caae_tf import labels as _labels
from caae_tf.calibration import CALIBRATION_FILE, load_for_model
from caae_tf.errors import ModelError
from caae_tf.images import to_uint8_tensor

# the metadata file, its writer and reader live in caae_tf.serving (one schema for both exporters)
from caae_tf.serving import METADATA_FILE as METADATA_FILE
from caae_tf.serving import read_export_metadata as read_export_metadata
from caae_tf.serving import load_saved_model, write_export_metadata

#: Tolerance on Σ v = 1 (paper 001 Eq. 2) accepted by the serving signature.
WEIGHT_SUM_TOLERANCE = 1e-3


def build_serving_module(generator, z_dim: int, num_emotions: int = len(_labels.CGAN_EMOTIONS), calibration=None,
                         asset_path: str | None = None):
    """A ``tf.Module`` holding G with ``serving_default``, ``interpolate`` and ``generate_float`` tf.functions,
    plus ``va_to_weights`` and ``generate_va`` when ``calibration`` (:class:`caae_tf.calibration.CalibrationTables`)
    is given (``asset_path``: its JSON file, saved as a SavedModel asset). ``generator`` is called as
    ``generator((z, v), training=False)``."""
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
                return {"images": to_uint8_tensor(generate_float(z, emotion_weights))}

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
                return {"images": to_uint8_tensor(generate_float(z, v))}

            self.generate_float = generate_float
            self.serving_default = serving_default
            self.interpolate = interpolate
            if calibration is not None:
                self._add_calibration()

        def _add_calibration(self):
            from caae_tf.calibration import invert_graph

            verts, wts = calibration.triangles()
            self.calibration_vertices = tf.Variable(verts, trainable=False, name="calibration_vertices")
            self.calibration_weights = tf.Variable(wts, trainable=False, name="calibration_weights")
            if asset_path is not None:
                self.calibration_asset = tf.saved_model.Asset(asset_path)
            va_spec = tf.TensorSpec([None, 2], tf.float32, name="valence_arousal")

            @tf.function(input_signature=[va_spec])
            def va_to_weights(valence_arousal):
                va = _shaped(valence_arousal, [None, 2])
                check = tf.debugging.Assert(
                    tf.reduce_all(tf.logical_and(tf.math.is_finite(va), tf.abs(va) <= 1.0)),
                    ["valence_arousal must be finite and lie in [-1, 1]^2 (one (valence, arousal) target per row); "
                     "got", va], summarize=8,
                )
                with tf.control_dependencies([check]):
                    va = tf.identity(va)
                return invert_graph(tf, self.calibration_vertices, self.calibration_weights, va)

            @tf.function(input_signature=[z_spec, va_spec])
            def generate_va(z, valence_arousal):
                info = va_to_weights(valence_arousal)
                images = to_uint8_tensor(self.generate_float(z, info["emotion_weights"]))
                return {"images": images, **info}

            self.va_to_weights = va_to_weights
            self.generate_va = generate_va

        def signatures(self) -> dict:
            sigs = {"serving_default": self.serving_default, "interpolate": self.interpolate}
            if calibration is not None:
                sigs.update(va_to_weights=self.va_to_weights, generate_va=self.generate_va)
            return sigs

    return CGANServing()


class _LoadedGenerator:
    """Adapter: a loaded cGAN SavedModel's ``generate_float`` called like G((z, v), training=False)."""

    def __init__(self, loaded):
        self.loaded = loaded

    def __call__(self, inputs, training=False):
        z, v = inputs
        return self.loaded.generate_float(z, v)


def _write_metadata(out_dir: str, model_like: dict, source: str | None, calibration, config=None) -> dict[str, Any]:
    """The cGAN's fields of the one export schema (:func:`caae_tf.serving.write_export_metadata`)."""
    meta = {
        "emotions": list(_labels.CGAN_EMOTIONS),
        "noise": "z ~ N(0, I)",
        "weight_sum_tolerance": WEIGHT_SUM_TOLERANCE,
        "signatures": {
            "serving_default": "z float32 [N, z_dim], emotion_weights float32 [N, 6] -> images uint8 [N, S, S, 3]",
            "interpolate": "z float32 [N, z_dim], emotion int32 [N], alpha float32 [N] -> images uint8 [N, S, S, 3]",
        },
    }
    if calibration is not None:
        meta["signatures"]["va_to_weights"] = (
            "valence_arousal float32 [N, 2] in [-1, 1] -> emotion_weights float32 [N, 6], expected_valence_arousal "
            "float32 [N, 2], clamped bool [N], distance float32 [N], alpha float32 [N]")
        meta["signatures"]["generate_va"] = (
            "z float32 [N, z_dim], valence_arousal float32 [N, 2] -> images uint8 [N, S, S, 3] + va_to_weights outputs")
        meta["calibration"] = {
            "asset": f"assets/{CALIBRATION_FILE}",
            "pairs": [[_labels.CGAN_EMOTIONS[i], _labels.CGAN_EMOTIONS[j]] for i, j in calibration.pairs],
            "neutral_va": [float(x) for x in calibration.neutral_va],
            "alpha_steps": len(calibration.alphas), "beta_steps": len(calibration.betas),
            "max_adjustment": calibration.max_adjustment,
            "out_of_reach": "clamped to the nearest reachable point (clamped = true)",
            **{k: v for k, v in calibration.meta.items() if k in ("regressor", "num_z", "seed", "evaluation")},
        }
    if config is not None:
        meta["config"] = config
    return write_export_metadata(out_dir, "cgan", image_size=model_like.get("image_size", 0),
                                 z_dim=model_like["z_dim"], source=source, **meta)


def _save_module(module, out_dir: str, calibration) -> None:
    """tf.saved_model.save with the module's signatures (the tables' asset file travels with the module)."""
    from caae_tf.tf_env import tf as _tf

    _tf().saved_model.save(module, out_dir, signatures=module.signatures())


def _load_run(run_dir: str):
    if not os.path.isdir(run_dir):
        raise ModelError(f"{run_dir}: run directory not found")
    from caae_tf.serving import load_model

    model, _config = load_model(run_dir)
    return model


def export_cgan(model_or_run_dir: Any, out_dir: str | os.PathLike, *, source: str | None = None,
                calibration=None) -> str:
    """Export a trained :class:`caae_tf.models.cgan.CGAN` (or a run dir holding one) as a SavedModel.

    Exports the sampling generator (G_ema when the run has one). ``calibration`` (tables) adds the
    ``va_to_weights`` / ``generate_va`` signatures; a run dir's ``calibration.json`` is picked up by itself.
    Returns ``out_dir``; the metadata is in ``out_dir/caae_tf_export.json`` (:func:`read_export_metadata`).
    """
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
    if calibration is None and isinstance(model_or_run_dir, (str, os.PathLike)):
        calibration = load_for_model(os.fspath(model_or_run_dir))
    out_dir = os.fspath(out_dir)
    os.makedirs(out_dir, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        asset = calibration.save(os.path.join(tmp, CALIBRATION_FILE)) if calibration is not None else None
        # the sampling generator: G_ema when the run trained one (g_ema_decay > 0), else G
        module = build_serving_module(model.sampler, model.z_dim, model.num_emotions, calibration, asset)
        _save_module(module, out_dir, calibration)
    _write_metadata(out_dir, {"image_size": int(model.image_size), "z_dim": int(model.z_dim)}, source, calibration,
                    model.get_config())
    return out_dir


def add_calibration_to_saved_model(saved_model_dir: str | os.PathLike, calibration) -> str:
    """Re-save a cGAN SavedModel (from :func:`export_cgan`) with ``calibration``'s ``va_to_weights`` /
    ``generate_va`` signatures and ``assets/calibration.json``; G's weights are carried over unchanged. The
    new SavedModel is written beside the old one and swapped in, so a failure leaves the old one intact."""
    from caae_tf.tf_env import tf as _tf

    tf = _tf()
    src = os.path.abspath(os.fspath(saved_model_dir))
    meta = read_export_metadata(src)
    if meta.get("model", "cgan") != "cgan":
        raise ModelError(f"{src}: SavedModel holds a {meta.get('model')!r} model, expected a cGAN")
    loaded = load_saved_model(src)  # a SavedModel TF cannot read is a ModelError naming src
    fn = getattr(loaded, "generate_float", None)
    if fn is None:
        raise ModelError(f"{src}: the SavedModel has no generate_float function; "
                         "re-export it with `caae-tf export cgan`")
    z_dim = int(meta.get("z_dim") or loaded.signatures["serving_default"].structured_input_signature[1]["z"].shape[-1])
    parent = os.path.dirname(src)
    new_dir = tempfile.mkdtemp(prefix=".calibrating_", dir=parent)
    old_dir = new_dir + "_old"
    try:
        with tempfile.TemporaryDirectory() as tmp:
            asset = calibration.save(os.path.join(tmp, CALIBRATION_FILE))
            module = build_serving_module(_LoadedGenerator(loaded), z_dim, len(_labels.CGAN_EMOTIONS), calibration,
                                          asset)
            # track G's variables only: tracking the whole loaded object would also carry a previous calibration
            # (its asset file and tables) into the new SavedModel
            module.generator_variables = [
                v for v in tf.train.TrackableView(loaded).descendants()
                if isinstance(v, tf.Variable) and not v.name.startswith("calibration_")
            ]
            _save_module(module, new_dir, calibration)
        _write_metadata(new_dir, {"z_dim": z_dim, **{k: meta[k] for k in ("image_size", "z_dim") if k in meta}},
                        meta.get("source_run_dir"), calibration, meta.get("config"))
        extra = os.path.join(src, "assets.extra")
        if os.path.isdir(extra):
            shutil.copytree(extra, os.path.join(new_dir, "assets.extra"))
        os.rename(src, old_dir)
        os.rename(new_dir, src)
    except BaseException:
        shutil.rmtree(new_dir, ignore_errors=True)
        if os.path.isdir(old_dir) and not os.path.exists(src):
            os.rename(old_dir, src)
        raise
    shutil.rmtree(old_dir, ignore_errors=True)
    return src
