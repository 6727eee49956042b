"""Shared pytest fixtures.

The real CelebA heatmap set is found via ``--celeba-dir``, the ``CAAE_CELEBA_DIR`` environment variable,
or ``../shared/data/celeba_aligned_220`` beside the repository; tests that need it skip with a reason
when it is absent.
"""

from __future__ import annotations

import os
import pathlib

import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("CUDA_VISIBLE_DEVICES", "")

REPO = pathlib.Path(__file__).resolve().parents[1]
DEFAULT_CELEBA = REPO.parent / "shared" / "data" / "celeba_aligned_220"

# Child processes (``python -m caae_tf ...``, ``python -c ...``) import caae_tf from this checkout too, like the
# test process itself (setup.cfg: ``pythonpath = . tests``), whatever their working directory and wherever an
# editable install points.
os.environ["PYTHONPATH"] = os.pathsep.join(
    dict.fromkeys([str(REPO)] + [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p])
)


def pytest_addoption(parser):
    parser.addoption("--celeba-dir", default=None, help="folder of aligned CelebA crops (celeba_aligned_220)")


@pytest.fixture(scope="session")
def celeba_dir(request) -> pathlib.Path:
    path = request.config.getoption("--celeba-dir") or os.environ.get("CAAE_CELEBA_DIR") or DEFAULT_CELEBA
    path = pathlib.Path(path)
    if not path.is_dir() or not any(path.glob("*.jpg")):
        pytest.skip(f"CelebA aligned crops not found at {path} (set CAAE_CELEBA_DIR or --celeba-dir)")
    return path


@pytest.fixture(autouse=True)
def _seed():
    """Seed numpy/python (and Keras when imported) so every test is reproducible."""
    import random

    import numpy as np

    random.seed(0)
    np.random.seed(0)
    yield


@pytest.fixture
def op_determinism():
    """``deterministic=true`` turns on TF op determinism for the whole process; turn it off afterwards."""
    from tensorflow.python.framework import config as tf_config

    was = tf_config.is_op_determinism_enabled()
    yield
    if not was:
        tf_config.disable_op_determinism()


def experiment_module(name: str):
    """The script ``experiments/{name}.py`` loaded as a module (the experiments are scripts, not a package)."""
    import importlib.util

    path = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "experiments", f"{name}.py")
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
