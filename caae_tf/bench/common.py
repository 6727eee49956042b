"""What every benchmark uses: subjects and presets, the config resolution (defaults → preset → ``--config`` →
``--set`` → explicit size/batch/precision/jit), the benchmark's models and batches, and a progress bar on
stderr (stdout carries the JSON result only)."""

from __future__ import annotations

import contextlib
import sys

import numpy as np

from caae_tf.config import CAAEConfig, CGANConfig, ConfigError, TrainConfig, apply_overrides
from caae_tf.errors import UserError
from caae_tf.tf_env import tf as _tf

SUBJECTS = ("train-caae", "train-cgan", "data", "edit", "generate")

#: ``--preset`` → model kind → the packaged preset (:mod:`caae_tf.presets`) whose keys override the config
#: defaults: the same files ``caae-tf train --config``, ``caae-tf demo`` and the tests use, so ``demo`` here
#: is exactly what the demo trains.
PRESET_NAMES: dict[str, dict[str, str]] = {
    "paper": {"caae": "caae_paper", "cgan": "cgan_paper"},
    "demo": {"caae": "caae_demo", "cgan": "cgan_demo"},
    "tiny": {"caae": "caae_tiny", "cgan": "cgan_tiny"},  # test-sized models (seconds per run)
}


def preset_overrides(preset: str, kind: str) -> list[str]:
    """``key=value`` overrides of ``--preset`` for model ``kind`` (read from the packaged preset file)."""
    from caae_tf import presets

    if preset not in PRESET_NAMES:
        raise BenchError(f"unknown preset {preset!r}; choose one of {', '.join(PRESET_NAMES)}")
    return presets.overrides(PRESET_NAMES[preset][kind])


SUBJECT_KIND = {"train-caae": "caae", "data": "caae", "edit": "caae", "train-cgan": "cgan", "generate": "cgan"}
KIND_CLASSES: dict[str, type[TrainConfig]] = {"caae": CAAEConfig, "cgan": CGANConfig}


class BenchError(UserError):
    """A benchmark option or input that cannot be used (bad subject/preset, unusable --model/--records)."""


# ------------------------------------------------------------------------------------------ config

def resolve_bench_config(
    kind: str,
    preset: str = "paper",
    config_file: str | None = None,
    overrides: list[str] | None = None,
    *,
    image_size: int | None = None,
    batch_size: int | None = None,
    precision: str | None = None,
    jit: bool | None = None,
) -> TrainConfig:
    """Config defaults → preset → ``--config`` file keys → ``--set`` → explicit size/batch/precision/jit."""
    import yaml

    cls = KIND_CLASSES[kind]
    cfg = apply_overrides(cls(), preset_overrides(preset, kind))
    if config_file:
        from caae_tf.presets import resolve

        config_file = resolve(config_file)
        try:
            with open(config_file, encoding="utf-8") as fh:
                data = yaml.safe_load(fh) or {}
        except OSError as exc:
            raise ConfigError(f"{config_file}: cannot read config: {exc.strerror}") from None
        except yaml.YAMLError as exc:
            raise ConfigError(f"{config_file}: not valid YAML/JSON: {exc}") from None
        if not isinstance(data, dict):
            raise ConfigError(f"{config_file}: expected a mapping of key: value")
        model = data.pop("model", kind)
        if model != kind:
            raise ConfigError(f"{config_file}: config is for model {model!r}, this benchmark needs {kind!r}")
        for key, value in data.items():
            cfg = cfg.replace(key, value, source=config_file)
    cfg = apply_overrides(cfg, overrides)
    for key, value in (("image_size", image_size), ("batch_size", batch_size), ("mixed_precision", precision),
                       ("jit_compile", jit)):
        if value is not None:
            cfg = cfg.replace(key, value, source=f"--{key.replace('_', '-')}")
    cfg.validate()
    return cfg


# ------------------------------------------------------------------------------------------ models

def make_identity_net(config: CAAEConfig):
    """A randomly initialised full-width VGG-Face feature extractor at ``identity_input_size`` (built)."""
    tf = _tf()
    from caae_tf.models.vgg_face import IdentityFeatures, VGGFace

    s = int(config.identity_input_size)
    vgg = VGGFace(width_multiplier=1.0, input_size=s, include_top=False)
    net = IdentityFeatures(vgg, list(config.identity_layers), input_size=s,
                           description="random-init full-width VGG-Face (benchmark)")
    net(tf.zeros([1, s, s, 3]))  # build every used layer at its input resolution
    return net


def build_bench_model(config: TrainConfig, *, for_training: bool = True):
    """The driver's model (:func:`caae_tf.serving.build_model`), with a random identity network when needed."""
    from caae_tf.serving import build_model

    if isinstance(config, CAAEConfig) and for_training and config.identity_weight > 0:
        from caae_tf.models.caae import CAAE

        return CAAE(config, identity_net=make_identity_net(config))
    return build_model(config, for_training=for_training)


def synthetic_batch(config: TrainConfig, batch_size: int | None = None, seed: int = 0) -> dict:
    """A random training batch in the pipeline's format (images in [-1,1], labels valid for both models)."""
    tf = _tf()
    n = int(batch_size or config.batch_size)
    s = int(config.image_size)
    rng = np.random.default_rng(seed)
    return {
        "image": tf.constant(rng.uniform(-1, 1, (n, s, s, 3)).astype(np.float32)),
        "va": tf.constant(rng.uniform(-1, 1, (n, 2)).astype(np.float32)),
        "emotion": tf.constant(rng.integers(0, 6, n).astype(np.int32)),
        "emotion8": tf.constant(rng.integers(0, 8, n).astype(np.int32)),
        "identity": tf.constant(np.zeros(n, np.int32)),
    }


def _progress(total: int, desc: str, enabled: bool):
    from caae_tf.progress import Progress

    with contextlib.redirect_stdout(sys.stderr):  # stdout carries the JSON result only
        return Progress(total, desc, enabled)


def _bar_update(bar, **values) -> None:
    with contextlib.redirect_stdout(sys.stderr):
        bar.update(1, **values)


def _bar_close(bar) -> None:
    with contextlib.redirect_stdout(sys.stderr):
        bar.close()
