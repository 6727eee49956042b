"""Presets live inside the package (caae_tf/presets/*.yaml, package data): one source for the CLI, the demo,
``bench`` and the tests, found by an installed (non-editable) package from any working directory."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import pytest

from caae_tf import presets
from caae_tf.config import CONFIG_CLASSES, ConfigError, apply_overrides, load_config

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
EXPECTED = {"caae_paper", "caae_demo", "caae_demo_paper", "cgan_paper", "cgan_demo", "identity_demo",
            "regressor_mobilenetv2_paper", "caae_tiny", "cgan_tiny"}


def test_presets_are_package_data_and_the_only_copies():
    assert set(presets.names()) == EXPECTED
    pkg_dir = os.path.join(REPO, "caae_tf", "presets")
    for name in presets.names():
        path = presets.path(name)
        assert os.path.dirname(path) == pkg_dir and path.endswith(f"{name}.yaml")
        cfg = presets.load(name)
        cfg.validate(path)
        assert cfg == load_config(path)
    # no second, drifting copy in the source tree
    legacy = os.path.join(REPO, "experiments", "configs")
    assert not (os.path.isdir(legacy) and [f for f in os.listdir(legacy) if f.endswith((".yaml", ".yml"))])
    # declared as package data, so `pip install .` ships them
    with open(os.path.join(REPO, "setup.cfg"), encoding="utf-8") as fh:
        assert "caae_tf.presets = *.yaml" in fh.read()


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_overrides_reproduce_the_preset(name):
    cfg = presets.load(name)
    assert apply_overrides(CONFIG_CLASSES[cfg.model](), presets.overrides(name)) == cfg
    assert not any(o.startswith("model=") for o in presets.overrides(name))


def test_resolve_file_name_and_old_location(tmp_path, monkeypatch):
    demo = presets.path("caae_demo")
    assert presets.resolve("caae_demo") == demo
    assert presets.resolve("caae_demo.yaml") == demo
    assert presets.resolve("experiments/configs/caae_demo.yaml") == demo  # where old commands point
    assert presets.resolve(os.path.join(REPO, "experiments", "configs", "caae_demo.yaml")) == demo
    own = tmp_path / "caae_demo.yaml"  # a real file wins over a preset of the same name
    own.write_text("model: caae\nsteps: 3\n")
    monkeypatch.chdir(tmp_path)
    assert presets.resolve("caae_demo.yaml") == "caae_demo.yaml"
    for bad in ("no_such_preset", "elsewhere/caae_demo.yaml"):
        with pytest.raises(ConfigError, match="not a preset name .*caae_demo, "):
            presets.resolve(bad)
    with pytest.raises(ConfigError, match="unknown preset 'nope'; presets: caae_demo"):
        presets.path("nope")


def test_one_source_for_cli_demo_bench_and_tests(tmp_path):
    from _train_helpers import TINY_CAAE, TINY_CGAN

    from caae_tf import bench, demo
    from caae_tf.config import CAAEConfig, CGANConfig
    from caae_tf.train import resolve_run_config

    # bench --preset: the packaged presets ("demo" is the demo's own preset)
    for preset, kinds in bench.PRESET_NAMES.items():
        for kind, name in kinds.items():
            assert bench.resolve_bench_config(kind, preset) == presets.load(name), (preset, kind)
    assert bench.PRESET_NAMES["demo"]["caae"] == "caae_demo"
    # the demo reads the package's files
    assert demo.DEMO_PRESET == demo.resolve_preset("edit") == demo.resolve_preset(None) == presets.path("caae_demo")
    assert demo.resolve_preset("paper") == presets.path("caae_demo_paper")
    assert demo.IDENTITY_PRESET == presets.path("identity_demo")
    assert demo.resolve_preset("caae_tiny") == presets.path("caae_tiny")
    # tests: the tiny presets plus the tests' cadence
    tiny = presets.load("caae_tiny")
    assert apply_overrides(CAAEConfig(), TINY_CAAE) == apply_overrides(
        tiny, TINY_CAAE[len(presets.overrides("caae_tiny")):])
    assert TINY_CAAE[: len(presets.overrides("caae_tiny"))] == presets.overrides("caae_tiny")
    assert TINY_CGAN[: len(presets.overrides("cgan_tiny"))] == presets.overrides("cgan_tiny")
    assert apply_overrides(CGANConfig(), presets.overrides("cgan_tiny")) == presets.load("cgan_tiny")
    # `caae-tf train --config NAME`
    cfg = resolve_run_config("cgan", str(tmp_path / "run"), config_file="cgan_demo", overrides=["steps=7"],
                             resume=False)
    assert cfg == apply_overrides(presets.load("cgan_demo"), ["steps=7"])


def test_cli_config_takes_a_preset_name_and_rejects_unknown_ones(tmp_path, capsys):
    from caae_tf.cli import main

    rc = main(["train-identity", "--data", str(tmp_path / "none.csv"), "--run-dir", str(tmp_path / "r"),
               "--config", "no_such_preset", "--quiet"])
    err = capsys.readouterr().err
    assert rc == 2 and "no_such_preset: cannot read config: no such file, and not a preset name" in err, err
    assert len(err.strip().splitlines()) == 1


def test_celeba_default_is_not_tied_to_the_source_tree(tmp_path, monkeypatch):
    from caae_tf import demo

    monkeypatch.delenv("CAAE_CELEBA_DIR", raising=False)
    work = tmp_path / "work" / "here"
    celeba = tmp_path / "work" / "shared" / "data" / "celeba_aligned_220"
    work.mkdir(parents=True)
    celeba.mkdir(parents=True)
    monkeypatch.chdir(work)
    assert os.path.samefile(demo.find_celeba_dir(), celeba)  # ../shared/... of the working directory
    explicit = tmp_path / "mine"
    explicit.mkdir()
    assert demo.find_celeba_dir(str(explicit)) == str(explicit)
    monkeypatch.setenv("CAAE_CELEBA_DIR", str(explicit))
    assert demo.find_celeba_dir() == str(explicit)
    monkeypatch.delenv("CAAE_CELEBA_DIR")
    monkeypatch.setattr(demo, "REPO_ROOT", None)  # installed: no checkout to look beside
    monkeypatch.chdir(tmp_path)
    assert demo.find_celeba_dir() is None


@pytest.mark.slow
def test_installed_package_demo_from_filesystem_root(tmp_path):
    """`python -m venv v && v/bin/pip install .` (not editable), then `v/bin/caae-tf demo` run from `/`."""
    from test_demo import TINY

    src = tmp_path / "src"  # build from a copy: pip's in-tree build would write build/ and *.egg-info here
    src.mkdir()
    for name in ("setup.cfg", "pyproject.toml", "README.md"):
        shutil.copy2(os.path.join(REPO, name), src / name)
    for pkg in ("caae_tf", "data_prep"):
        shutil.copytree(os.path.join(REPO, pkg), src / pkg,
                        ignore=shutil.ignore_patterns("__pycache__", "*.pyc", "*.egg-info"))
    venv = tmp_path / "v"
    # the system site-packages provide TensorFlow & co. (nothing is downloaded); the venv's own
    # site-packages, searched first, get the non-editable caae_tf
    subprocess.run([sys.executable, "-m", "venv", "--system-site-packages", str(venv)], check=True, timeout=600)
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "CAAE_CELEBA_DIR", "PYTHONHOME")}
    env.update(TF_CPP_MIN_LOG_LEVEL="3", CUDA_VISIBLE_DEVICES="", PIP_DISABLE_PIP_VERSION_CHECK="1")
    pip = subprocess.run([str(venv / "bin" / "pip"), "install", "--no-deps", "--no-build-isolation", "--no-index",
                          str(src)], cwd="/", env=env, capture_output=True, text=True, timeout=900)
    assert pip.returncode == 0, pip.stdout[-2000:] + pip.stderr[-2000:]
    shutil.rmtree(src)  # nothing left to fall back on
    site = subprocess.run([str(venv / "bin" / "python"), "-c", "import caae_tf.presets as p, json; "
                           "print(json.dumps([p.__file__, p.checkout_root(), p.names()]))"],
                          cwd="/", env=env, capture_output=True, text=True, timeout=600, check=True)
    file, root, names = json.loads(site.stdout)
    assert file.startswith(str(venv)) and root is None and set(names) == EXPECTED
    out = tmp_path / "demo_out"
    cmd = [str(venv / "bin" / "caae-tf"), "demo", "--steps", "2", "--identity-steps", "2", "--identities", "3",
           "--per-identity", "4", "--heldout", "1", "--quiet", "--out", str(out)]
    for item in TINY:
        cmd += ["--set", item]
    proc = subprocess.run(cmd, cwd="/", env=env, capture_output=True, text=True, timeout=1800)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    summary = json.loads((out / "summary.json").read_text())
    assert summary["caae_steps"] == 2
    assert summary["preset"] == os.path.join(os.path.dirname(file), "caae_demo.yaml")
    assert (out / "saved_model_caae" / "saved_model.pb").exists()
    assert (out / "identity" / "checkpoints" / "checkpoint").exists()  # the identity_demo preset was found too
    # the CelebA default is looked up from the working directory (/), not beside a source tree
    assert "CelebA crops not found" in proc.stdout and summary["celeba_edits"] == []
