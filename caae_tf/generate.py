"""Sampling and label interpolation with a trained cGAN (paper 001 §3.3, Fig. 5).

:class:`CGANSampler` wraps either a training run dir (restored through ``caae_tf.serving.load_model``) or a
SavedModel written by :func:`caae_tf.export.cgan.export_cgan` (detected by its ``saved_model.pb``).

Conditioning paths (all keep Σ v = 1, paper 001 Eq. 2):

* paper scheme: v(α) = (1-α)·e_Neutral + α·e_i with α = 0, 0.1, …, 1 (Eq. 4: v1 + v_i = 1);
* beyond the paper, between two extreme emotions: v(α) = (1-α)·e_i + α·e_j (``to=``);
* beyond the paper, toward a (valence, arousal) target: v(α) = (1-α)·e_Neutral + α·w(V, A) with
  w = :func:`caae_tf.labels.va_to_emotion_weights` (a mixture of the two circumplex neighbours of the
  target and Neutral);
* any step schedule α ∈ [0, 1]^K (``schedule=``) instead of the uniform ``steps``;
* beyond the paper, **calibrated** (``caae-tf calibrate``, :mod:`caae_tf.calibration`): a (valence, arousal)
  target is turned into the path and α that reach it according to tables measured with a regressor
  (:meth:`CGANSampler.va_to_weights`, :func:`calibrated_grid`), and Neutral → emotion steps can be spaced
  evenly in the measured reading (:func:`caae_tf.calibration.calibrated_alphas`).

:func:`interpolation_grid` lays the results out like Fig. 5: one row per noise vector, one column per step.
"""

from __future__ import annotations

import os
from typing import Callable, Iterable, Sequence

import numpy as np

from caae_tf import images as _images
from caae_tf import labels as _labels
from caae_tf.errors import ModelError, UserError

NUM_EMOTIONS = len(_labels.CGAN_EMOTIONS)


class GenerateError(UserError, ValueError):
    """Invalid generation request (unknown emotion, bad schedule, weights off the simplex)."""


# ------------------------------------------------------------------------------------ label helpers

def emotion_index(name: str | int) -> int:
    """Index of a cGAN emotion (name, alias such as ``happy``, or index 0..5) in CGAN_EMOTIONS."""
    valid = ", ".join(_labels.CGAN_EMOTIONS)
    if isinstance(name, (int, np.integer)) and not isinstance(name, bool):
        if 0 <= int(name) < NUM_EMOTIONS:
            return int(name)
        raise GenerateError(f"emotion index {name} out of range 0..{NUM_EMOTIONS - 1}; valid: {valid}")
    key = str(name).strip().lower()
    key = _labels.EMOTION_ALIASES.get(key, key)
    if key not in _labels.CGAN_EMOTIONS:
        raise GenerateError(f"unknown emotion {name!r}; valid: {valid}")
    return _labels.CGAN_EMOTIONS.index(key)


def resolve_alphas(steps: int | None = 11, schedule: Sequence[float] | str | None = None) -> np.ndarray:
    """The α schedule: ``schedule`` (list or ``"0,0.05,0.2,1"``) if given, else ``steps`` uniform in [0, 1]."""
    if schedule is not None:
        if isinstance(schedule, str):
            try:
                values = [float(s) for s in schedule.replace(" ", "").split(",") if s != ""]
            except ValueError:
                raise GenerateError(f"schedule {schedule!r}: expected comma-separated numbers in [0, 1]") from None
        else:
            values = [float(s) for s in schedule]
        a = np.asarray(values, dtype=np.float64)
        if a.size == 0 or not np.all(np.isfinite(a)) or np.any(a < 0) or np.any(a > 1):
            raise GenerateError(f"schedule must be a non-empty list of numbers in [0, 1], got {values}")
        return a.astype(np.float32)
    if steps is None or int(steps) < 2:
        raise GenerateError(f"steps must be >= 2 (α from 0 to 1), got {steps}")
    return np.linspace(0.0, 1.0, int(steps)).astype(np.float32)


def interpolation_path(
    emotion: str | int | None = None,
    alphas: Iterable[float] | None = None,
    *,
    to: str | int | None = None,
    valence: float | None = None,
    arousal: float | None = None,
) -> np.ndarray:
    """Conditioning vectors v(α) [K, 6] for one path (module docstring).

    ``emotion`` alone: Neutral → emotion (the paper). ``emotion`` and ``to``: emotion → to.
    ``valence``/``arousal`` (no ``emotion``): Neutral → :func:`caae_tf.labels.va_to_emotion_weights`.
    """
    a = resolve_alphas(11, None) if alphas is None else np.asarray(list(alphas), dtype=np.float64)
    if (valence is None) != (arousal is None):
        raise GenerateError("give both valence and arousal (or neither)")
    if valence is not None:
        if emotion is not None or to is not None:
            raise GenerateError("use either an emotion (optionally with `to`) or a valence/arousal target, not both")
        try:
            target = _labels.va_to_emotion_weights(float(valence), float(arousal))
        except ValueError as exc:
            raise GenerateError(str(exc)) from None
        a64 = a[:, None].astype(np.float64)
        v = (1.0 - a64) * np.eye(NUM_EMOTIONS)[0] + a64 * target.astype(np.float64)[None, :]
        return v.astype(np.float32)
    if emotion is None:
        raise GenerateError("give an emotion or a valence/arousal target")
    i = emotion_index(emotion)
    if to is None:
        if i == 0:
            raise GenerateError(
                "emotion 'neutral' interpolates Neutral to itself; pick one of "
                + ", ".join(_labels.EXTREME_EMOTIONS) + " (or use `to` for a second emotion)"
            )
        return _labels.interpolation_weights(i, a, source=0)
    j = emotion_index(to)
    if j == i:
        raise GenerateError(f"`to` must differ from the emotion ({_labels.CGAN_EMOTIONS[i]})")
    return _labels.interpolation_weights(j, a, source=i)


# -------------------------------------------------------------------------------------- CGANSampler

class CGANSampler:
    """A trained cGAN generator from a run dir or a SavedModel dir (``CGANSampler(path)``).

    ``generate(z, weights)`` returns float32 images in [-1, 1]; weights are checked against Eq. 2–3 (rows
    in [0,1]^6 summing to 1 within 1e-3) and never renormalised.
    """

    def __init__(self, path: str | os.PathLike | None = None, *, model=None, checkpoint: str | None = None):
        self._model = None
        self._saved = None
        self._va_fn = None
        self._calibration = None
        self._calibration_loaded = False
        self.meta: dict = {}
        self.truncation: float | None = None
        """``sample_z`` redraws components with |z| > this (BigGAN's truncation trick); None = plain N(0, I)."""
        if model is not None:
            self._set_model(model, source="model")
            self.source = None
        elif path is not None:
            self.source = os.fspath(path)
            self._load(self.source, checkpoint)
        else:
            raise ValueError("CGANSampler needs a path or a model")

    @classmethod
    def from_model(cls, model) -> "CGANSampler":
        """Wrap an in-memory :class:`caae_tf.models.cgan.CGAN`."""
        return cls(model=model)

    # ------------------------------------------------------------------ loading
    def _set_model(self, model, source: str) -> None:
        from caae_tf.models.cgan import CGAN

        if not isinstance(model, CGAN):
            raise ModelError(f"{source}: not a cGAN model ({type(model).__name__}); use `caae-tf edit` for CAAE")
        self._model = model
        self.image_size = int(model.image_size)
        self.z_dim = int(model.z_dim)
        self.kind = "model"

    def _load(self, path: str, checkpoint: str | None = None) -> None:
        """Load ``path``; ``checkpoint`` (a run dir's, e.g. ``RUN/checkpoints/ckpt-5000``) instead of its latest."""
        if not os.path.exists(path):
            raise ModelError(
                f"{path}: not found (expected a cGAN run dir or a SavedModel dir from `caae-tf export cgan`)"
            )
        if checkpoint and not os.path.isfile(os.path.join(path, "config.yaml")):
            raise ModelError(f"--checkpoint needs a run dir as --model (no config.yaml in {path})")
        if os.path.isfile(os.path.join(path, "saved_model.pb")):
            self._load_saved_model(path)
        elif os.path.isdir(path):
            model = load_run_dir(path, checkpoint)
            self._set_model(model, source=path)
            self.kind = "run"
        else:
            raise ModelError(f"{path}: expected a directory (run dir or SavedModel), got a file")

    def _load_saved_model(self, path: str) -> None:
        from caae_tf.serving import load_saved_model, read_export_metadata
        from caae_tf.tf_env import tf as _tf

        tf = _tf()
        self.meta = read_export_metadata(path)
        if self.meta.get("model", "cgan") != "cgan":
            raise ModelError(f"{path}: SavedModel holds a {self.meta.get('model')!r} model, expected a cGAN")
        loaded = load_saved_model(path)
        sig = loaded.signatures.get("serving_default")
        inputs = sig.structured_input_signature[1] if sig is not None else {}
        if sig is None or set(inputs) != {"z", "emotion_weights"}:
            raise ModelError(
                f"{path}: not a cGAN SavedModel (serving_default must take z and emotion_weights)"
            )
        self._saved = loaded
        self._serve = sig
        self._float_fn = getattr(loaded, "generate_float", None)
        self._va_fn = loaded.signatures.get("va_to_weights")
        self.z_dim = int(self.meta.get("z_dim") or inputs["z"].shape[-1])
        size = self.meta.get("image_size") or sig.structured_outputs["images"].shape[1]
        if size is None:
            out = self._serve(z=tf.zeros([1, self.z_dim]), emotion_weights=tf.one_hot([0], NUM_EMOTIONS))
            size = int(out["images"].shape[1])
        self.image_size = int(size)
        self.kind = "savedmodel"

    # ------------------------------------------------------------------ sampling
    def sample_z(self, n: int, seed: int = 0) -> np.ndarray:
        """Deterministic z ~ N(0, I) [n, z_dim] float32 (numpy PCG64 seeded with ``seed``).

        With ``self.truncation`` = τ > 0 (beyond paper 001, measured in README "Sixth round") every component
        with |z_i| > τ is redrawn until none is left: the truncation trick of Brock, Donahue & Simonyan (2019,
        "Large scale GAN training for high fidelity natural image synthesis", §3.1). τ = None: the plain draw."""
        rng = np.random.default_rng(int(seed))
        z = rng.standard_normal((int(n), self.z_dim))
        tau = self.truncation
        if tau is not None:
            if not tau > 0:
                raise GenerateError(f"truncation must be > 0 (or None = off), got {tau}")
            bad = np.abs(z) > tau
            while bad.any():
                z[bad] = rng.standard_normal(int(bad.sum()))
                bad = np.abs(z) > tau
        return z.astype(np.float32)

    def generate(
        self,
        z: np.ndarray,
        weights: np.ndarray,
        *,
        batch_size: int = 64,
        callback: Callable[[int], None] | None = None,
    ) -> np.ndarray:
        """G(z, v) float32 [N, S, S, 3] in [-1, 1] for z [N, z_dim] and conditioning v = ``weights`` [N, 6].

        From a SavedModel without the ``generate_float`` function the output is the uint8 signature's
        (quantised to 256 levels). ``callback(n_done)`` is called after each batch (progress bars).
        """
        from caae_tf.tf_env import tf as _tf

        tf = _tf()
        z = np.asarray(z, dtype=np.float32)
        if z.ndim != 2 or z.shape[1] != self.z_dim:
            raise GenerateError(f"z must have shape [N, {self.z_dim}], got {list(z.shape)}")
        try:
            w = _labels.validate_emotion_weights(weights, atol=1e-3)
        except ValueError as exc:
            raise GenerateError(str(exc)) from None
        if np.any(w < 0):  # the SavedModel signature rejects any negative entry too
            raise GenerateError("emotion weights must be non-negative (v in [0,1]^6, paper 001 Eq. 3)")
        if w.shape[0] != z.shape[0]:
            raise GenerateError(f"z has {z.shape[0]} rows but weights have {w.shape[0]}")
        outs = []
        for start in range(0, z.shape[0], int(batch_size)):
            zb = tf.constant(z[start : start + batch_size])
            wb = tf.constant(w[start : start + batch_size])
            if self._model is not None:
                out = self._model.generate(zb, wb).numpy()
            elif self._float_fn is not None:
                out = self._float_fn(zb, wb).numpy()
            else:
                out = _images.to_float(self._serve(z=zb, emotion_weights=wb)["images"].numpy())
            outs.append(out.astype(np.float32))
            if callback is not None:
                callback(min(start + batch_size, z.shape[0]))
        if not outs:
            return np.zeros((0, self.image_size, self.image_size, 3), np.float32)
        return np.concatenate(outs, axis=0)

    # ------------------------------------------------------------------ calibration (beyond the paper)
    @property
    def calibration(self):
        """:class:`caae_tf.calibration.CalibrationTables` stored with the model (``RUN/calibration.json`` or the
        SavedModel's ``assets/calibration.json``), or None (not calibrated)."""
        if not self._calibration_loaded:
            from caae_tf.calibration import load_for_model

            self._calibration = load_for_model(self.source) if self.source else None
            self._calibration_loaded = True
        return self._calibration

    def set_calibration(self, tables) -> None:
        """Use ``tables`` (e.g. freshly measured) instead of the stored ones."""
        self._calibration, self._calibration_loaded, self._va_fn = tables, True, None

    def va_to_weights(self, targets) -> dict[str, np.ndarray]:
        """Conditioning vectors that reach (valence, arousal) ``targets`` [N, 2] according to the calibration
        (:func:`caae_tf.calibration.invert`; in a calibrated SavedModel its ``va_to_weights`` signature).
        Returns ``emotion_weights`` [N, 6], ``expected_valence_arousal`` [N, 2], ``clamped`` [N] (target outside
        the reachable region, moved to the nearest reachable point), ``distance`` [N], ``alpha`` [N]."""
        from caae_tf import calibration as _cal

        try:
            t = _cal.check_targets(targets)
        except _cal.CalibrationError as exc:
            raise GenerateError(str(exc)) from None
        if self._va_fn is not None:
            from caae_tf.tf_env import tf as _tf

            out = self._va_fn(valence_arousal=_tf().constant(t))
            return {k: v.numpy() for k, v in out.items()}
        if self.calibration is None:
            raise GenerateError(
                f"{self.source or 'model'}: not calibrated; run `caae-tf calibrate --model {self.source or 'MODEL'} "
                "--regressor REGRESSOR_RUN` first (or use the uncalibrated mapping)"
            )
        return _cal.invert(self.calibration, t)

    def generate_va(self, z: np.ndarray, targets, **kwargs) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        """G(z, v) with v = :meth:`va_to_weights` (``targets`` [N, 2], one per row of z) → (images, info)."""
        info = self.va_to_weights(targets)
        return self.generate(z, info["emotion_weights"], **kwargs), info

    def interpolate(self, z: np.ndarray, emotion_idx, alpha, **kwargs) -> np.ndarray:
        """Paper 001 §3.3: G(z, v) with v = (1-α)·e_Neutral + α·e_emotion; ``emotion_idx`` and ``alpha``
        are scalars or [N] arrays (broadcast against z's N rows). float32 [N, S, S, 3]."""
        z = np.asarray(z, dtype=np.float32)
        n = z.shape[0]
        idx = np.broadcast_to(np.asarray(emotion_idx, dtype=np.int64), (n,))
        a = np.broadcast_to(np.asarray(alpha, dtype=np.float64), (n,))
        if np.any(idx < 0) or np.any(idx >= NUM_EMOTIONS):
            raise GenerateError(f"emotion_idx must be in 0..{NUM_EMOTIONS - 1}, got {np.unique(idx).tolist()}")
        if not np.all(np.isfinite(a)) or np.any(a < 0) or np.any(a > 1):
            raise GenerateError("alpha must lie in [0, 1]")
        eye = np.eye(NUM_EMOTIONS)
        w = (1.0 - a)[:, None] * eye[0] + a[:, None] * eye[idx]
        return self.generate(z, w.astype(np.float32), **kwargs)


def load_run_dir(run_dir: str, checkpoint: str | None = None):
    """Restore the cGAN of a training run dir, its latest checkpoint or ``checkpoint``
    (:func:`caae_tf.serving.load_model`)."""
    from caae_tf.serving import load_model

    model, _config = load_model(run_dir, checkpoint=checkpoint)
    return model


# ---------------------------------------------------------------------------------------------- grids

def interpolation_grid(
    generator: CGANSampler,
    emotion: str | int | None = None,
    to: str | int | None = None,
    steps: int = 11,
    schedule: Sequence[float] | str | None = None,
    num_z: int = 8,
    seed: int = 0,
    *,
    valence: float | None = None,
    arousal: float | None = None,
    batch_size: int = 64,
    callback: Callable[[int], None] | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Fig. 5-style grid: rows = ``num_z`` noise vectors (``generator.sample_z(num_z, seed)``), columns =
    interpolation steps along :func:`interpolation_path`.

    Returns ``(grid uint8 [H', W', 3], images uint8 [num_z, K, S, S, 3], alphas float32 [K])``.
    """
    alphas = resolve_alphas(steps, schedule)
    weights = interpolation_path(emotion, alphas, to=to, valence=valence, arousal=arousal)
    if int(num_z) < 1:
        raise GenerateError(f"num_z must be >= 1, got {num_z}")
    k = len(alphas)
    z = generator.sample_z(num_z, seed)
    z_all = np.repeat(z, k, axis=0)  # row-major: noise vector, then step
    w_all = np.tile(weights, (int(num_z), 1))
    out = generator.generate(z_all, w_all, batch_size=batch_size, callback=callback)
    imgs = _images.to_uint8(out)
    s = imgs.shape[1]
    grid = _images.make_grid(imgs, cols=k)
    return grid, imgs.reshape(int(num_z), k, s, s, 3), alphas


def calibrated_grid(
    generator: CGANSampler,
    valence: float,
    arousal: float,
    steps: int = 11,
    num_z: int = 8,
    seed: int = 0,
    *,
    batch_size: int = 64,
    callback: Callable[[int], None] | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, dict[str, np.ndarray]]:
    """Beyond the paper: a Fig. 5-style grid toward a (valence, arousal) target with a calibrated generator.

    Column k aims at t_k = n + (k / (steps − 1))·(t − n), n the calibrated Neutral reading: steps evenly spaced
    in the judged (valence, arousal) along the straight line to the target, each reached through
    :meth:`CGANSampler.va_to_weights` (the last column is the target itself, or its nearest reachable point).
    Returns ``(grid, images [num_z, K, S, S, 3], fractions [K], info)`` with ``info`` the ``va_to_weights``
    outputs per column plus ``targets`` [K, 2].
    """
    from caae_tf import calibration as _cal

    if int(steps) < 2:
        raise GenerateError(f"steps must be >= 2 (from Neutral to the target), got {steps}")
    if int(num_z) < 1:
        raise GenerateError(f"num_z must be >= 1, got {num_z}")
    try:
        target = _cal.check_targets([[valence, arousal]])[0]
    except _cal.CalibrationError as exc:
        raise GenerateError(str(exc)) from None
    tables = generator.calibration
    neutral = np.asarray(tables.neutral_va if tables is not None else generator.va_to_weights([[0.0, 0.0]])
                         ["expected_valence_arousal"][0], np.float64)
    fractions = np.linspace(0.0, 1.0, int(steps))
    targets = np.clip(neutral[None] + fractions[:, None] * (target.astype(np.float64) - neutral)[None], -1, 1)
    info = generator.va_to_weights(targets.astype(np.float32))
    info["targets"] = targets.astype(np.float32)
    k = len(fractions)
    z = generator.sample_z(num_z, seed)
    out = generator.generate(np.repeat(z, k, axis=0), np.tile(info["emotion_weights"], (int(num_z), 1)),
                             batch_size=batch_size, callback=callback)
    imgs = _images.to_uint8(out)
    s = imgs.shape[1]
    return _images.make_grid(imgs, cols=k), imgs.reshape(int(num_z), k, s, s, 3), fractions.astype(np.float32), info
