"""Config presets shipped inside the package: the one source for the CLI, the demo, ``bench`` and the tests.

Each preset is a YAML file next to this module (package data, so a plain ``pip install .`` carries it):

============================== ==========================================================================
``caae_paper``                 paper 000's CAAE (the ``CAAEConfig`` defaults, spelled out; 96 px)
``caae_demo``                  ``caae-tf demo``'s CAAE (64 px, beyond-the-paper edit mode)
``caae_demo_paper``            the paper's CAAE method at the demo budget (``caae-tf demo --preset paper``)
``identity_demo``              the demo's identity network (VGG-Face architecture at 1/8 width)
``cgan_paper``                 paper 001's cGAN (256 px)
``cgan_demo``                  the cGAN demo (64 px, ``experiments/cgan_demo.sh``)
``regressor_mobilenetv2_paper`` paper 001's MobileNetV2 valence/arousal regressor
``caae_tiny`` / ``cgan_tiny``  test-sized models (seconds per run; ``bench --preset tiny`` and the tests)
============================== ==========================================================================

``--config`` of ``train``, ``train-identity``, ``train-regressor`` and ``bench`` takes a file or a preset
name (:func:`resolve`); ``experiments/configs/NAME.yaml``, where the presets used to live, still resolves.
No TensorFlow here.
"""

from __future__ import annotations

import os
from typing import Any

PRESET_DIR = os.path.dirname(os.path.abspath(__file__))
_SUFFIXES = (".yaml", ".yml")
#: where the presets lived before they moved into the package (old commands and notes keep working)
LEGACY_DIR = os.path.join("experiments", "configs")


def names() -> list[str]:
    """Every preset name, sorted."""
    return sorted(os.path.splitext(f)[0] for f in os.listdir(PRESET_DIR) if f.endswith(_SUFFIXES))


def _error(message: str):
    from caae_tf.config import ConfigError

    return ConfigError(message)


def path(name: str) -> str:
    """Absolute path of preset ``name`` (``caae_demo`` or ``caae_demo.yaml``); unknown names list the presets."""
    stem = name[: -len(s)] if (s := next((s for s in _SUFFIXES if name.endswith(s)), "")) else name
    candidate = os.path.join(PRESET_DIR, stem + ".yaml")
    if os.sep in stem or "/" in stem or not os.path.isfile(candidate):
        raise _error(f"unknown preset {name!r}; presets: {', '.join(names())}")
    return candidate


def is_preset(name: str) -> bool:
    try:
        path(name)
    except Exception:  # ConfigError
        return False
    return True


def resolve(name_or_file: str | os.PathLike) -> str:
    """``--config`` value → a file path: an existing file as given, else a preset name (with or without
    ``.yaml``), else ``experiments/configs/NAME.yaml`` of a preset (the old location). Anything else is a
    ``ConfigError`` naming the value and the presets."""
    value = os.fspath(name_or_file)
    if os.path.isfile(value):
        return value
    base = os.path.basename(value)
    parent = os.path.normpath(os.path.dirname(value)) if os.path.dirname(value) else ""
    if (not parent or parent == LEGACY_DIR or parent.endswith(os.sep + LEGACY_DIR)) and is_preset(base):
        return path(base)
    raise _error(f"{value}: cannot read config: no such file, and not a preset name (presets: {', '.join(names())})")


def load(name: str, cls=None):
    """The preset as a config object (:func:`caae_tf.config.load_config`)."""
    from caae_tf.config import load_config

    return load_config(path(name), cls)


def read(name: str) -> dict[str, Any]:
    """The preset's keys as written in its YAML file (including ``model``)."""
    import yaml

    with open(path(name), encoding="utf-8") as fh:
        return dict(yaml.safe_load(fh) or {})


def _format(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return value  # string keys are taken verbatim by --set (not YAML-parsed)
    if isinstance(value, (list, tuple)):
        return "[" + ",".join(_format(v) for v in value) + "]"
    if isinstance(value, float):
        import yaml

        # YAML 1.1 (what --set parses with) reads "1e-05" as a string; yaml's own dump is "1.0e-05"
        return yaml.safe_dump(value).splitlines()[0]
    return str(value)


def overrides(name: str) -> list[str]:
    """The preset as ``key=value`` strings (``--set`` syntax; ``model`` left out): applying them to the
    config class's defaults gives exactly :func:`load` (tested)."""
    return [f"{k}={_format(v)}" for k, v in read(name).items() if k != "model"]


def checkout_root() -> str | None:
    """The source checkout this package is imported from (the folder holding ``setup.cfg``), or ``None``
    when it is installed (site-packages): nothing may depend on the source tree then."""
    root = os.path.dirname(os.path.dirname(PRESET_DIR))
    if os.path.isfile(os.path.join(root, "setup.cfg")) and os.path.isdir(os.path.join(root, "caae_tf")):
        return root
    return None
