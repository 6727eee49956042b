"""A plain (non-editable) ``pip install`` of the package runs ``caae-tf demo`` from anywhere: the presets and
everything else the demo reads are package data, nothing is looked up relative to a checkout."""

from __future__ import annotations

import json
import os
import pathlib
import shutil
import subprocess
import sys

import pytest

REPO = pathlib.Path(__file__).resolve().parents[1]
#: what ``pip install .`` builds from (setup.cfg: the caae_tf and data_prep packages, README as long description)
SOURCES = ("setup.cfg", "pyproject.toml", "README.md", "caae_tf", "data_prep")


@pytest.mark.slow
def test_non_editable_install_runs_the_demo_from_the_filesystem_root(tmp_path):
    # pip builds in the source tree (build/, *.egg-info): build from a copy so the checkout stays clean
    src = tmp_path / "src"
    src.mkdir()
    for name in SOURCES:
        path = REPO / name
        if path.is_dir():
            shutil.copytree(path, src / name, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        else:
            shutil.copy2(path, src / name)
    venv = tmp_path / "v"
    # TensorFlow and the other dependencies come from the interpreter's own site-packages (no download)
    subprocess.run([sys.executable, "-m", "venv", "--system-site-packages", str(venv)], check=True, timeout=300)
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}  # conftest points PYTHONPATH at the checkout
    env["CAAE_CELEBA_DIR"] = str(tmp_path / "no_celeba")
    pip = subprocess.run([str(venv / "bin" / "pip"), "install", "--no-deps", "--no-build-isolation", "--no-index",
                          str(src)], capture_output=True, text=True, env=env, timeout=600)
    assert pip.returncode == 0, pip.stdout[-2000:] + pip.stderr[-4000:]
    shutil.rmtree(src)  # nothing may be read from the source copy either

    where = subprocess.run([str(venv / "bin" / "python"), "-c", "import caae_tf; print(caae_tf.__file__)"],
                           cwd="/", capture_output=True, text=True, env=env, timeout=300)
    assert where.returncode == 0, where.stderr[-2000:]
    assert pathlib.Path(where.stdout.strip()).resolve().is_relative_to(venv.resolve()), where.stdout

    out = tmp_path / "demo_out"
    # `caae-tf demo --steps 20` with the demo's own small-size flags (the defaults render 4,000 faces)
    demo = subprocess.run(
        [str(venv / "bin" / "caae-tf"), "demo", "--steps", "20", "--out", str(out), "--identities", "8",
         "--per-identity", "4", "--heldout", "1", "--identity-steps", "5", "--quiet"],
        cwd="/", capture_output=True, text=True, env=env, timeout=1200,
    )
    assert demo.returncode == 0, demo.stdout[-3000:] + demo.stderr[-4000:]
    summary = json.loads((out / "summary.json").read_text())
    assert summary["caae_steps"] == 20
    assert (out / "saved_model_caae" / "saved_model.pb").exists()
    assert "caae-tf demo: done" in demo.stdout and str(out / "summary.json") in demo.stdout
