"""The suite runs the same way however it is started: ``pytest`` or ``python -m pytest``, from the repository
root or elsewhere, with or without an editable install pointing at another checkout."""

from __future__ import annotations

import os
import pathlib
import subprocess
import sys

import caae_tf

REPO = pathlib.Path(__file__).resolve().parents[1]


def test_tests_import_this_checkout():
    assert pathlib.Path(caae_tf.__file__).resolve().parent == REPO / "caae_tf"
    import _data_helpers
    import _train_helpers

    assert pathlib.Path(_data_helpers.__file__).resolve().parent == REPO / "tests"
    assert pathlib.Path(_train_helpers.__file__).resolve().parent == REPO / "tests"


def test_child_processes_import_this_checkout(tmp_path):
    code = "import caae_tf, data_prep; print(caae_tf.__file__); print(data_prep.__file__)"
    p = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, timeout=600)
    assert p.returncode == 0, p.stderr
    lines = p.stdout.split()
    assert [pathlib.Path(line).resolve().parent for line in lines] == [REPO / "caae_tf", REPO / "data_prep"]
    assert str(REPO) in os.environ["PYTHONPATH"].split(os.pathsep)


def test_entry_points_are_equivalent(tmp_path):
    """``pytest`` (the console script) and ``python -m pytest`` from the repository root, with a decoy caae_tf
    first on PYTHONPATH (as an editable install of another checkout would be): both import this checkout's
    caae_tf and helpers, in the test process and in its children, and collect the helper-importing files."""
    decoy = tmp_path / "decoy" / "caae_tf"
    decoy.mkdir(parents=True)
    (decoy / "__init__.py").write_text("raise ImportError('imported the decoy caae_tf, not the checkout under test')\n")
    env = dict(os.environ, PYTHONPATH=str(decoy.parent))
    script = pathlib.Path(sys.executable).with_name("pytest")
    starts = [[sys.executable, "-m", "pytest"]] + ([[str(script)]] if script.exists() else [])
    results = []
    for start in starts:
        p = subprocess.run(start + ["-q", "-p", "no:cacheprovider", "tests/test_suite_setup.py",
                                    "tests/test_records.py", "tests/test_pipeline.py", "-k", "import_this_checkout"],
                           cwd=REPO, env=env, capture_output=True, text=True, timeout=900)
        assert p.returncode == 0, p.stdout[-3000:] + p.stderr[-3000:]
        results.append(p.stdout.strip().splitlines()[-1].split(" in ")[0])
    assert len(set(results)) == 1 and results[0].startswith("2 passed"), results
