"""caae_tf.serving: inference restores models and reads/writes export metadata without the training driver."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))

# A fresh interpreter: importing the inference modules, restoring run dirs and SavedModels of both GANs
# through them and exporting both must never import caae_tf.train.
CHILD = textwrap.dedent(
    """
    import json, os, sys

    import numpy as np

    from caae_tf import bench, edit, generate, serving
    from caae_tf.export import caae as export_caae, cgan as export_cgan
    from caae_tf.study import build

    assert "caae_tf.train" not in sys.modules, "importing the inference modules imported caae_tf.train"

    import tensorflow as tf

    from _train_helpers import tiny_caae_config, tiny_cgan_model
    from caae_tf.config import save_config
    from caae_tf.models.caae import CAAE

    def run_dir(model, config, root):
        os.makedirs(root)
        save_config(config, os.path.join(root, serving.CONFIG_FILE))
        ckpt = tf.train.Checkpoint(model=serving.variable_map(model.weights))
        tf.train.CheckpointManager(ckpt, os.path.join(root, serving.CKPT_DIR), 1).save()
        return root

    tmp = sys.argv[1]
    cgan = tiny_cgan_model(seed=0)
    cgan_run = run_dir(cgan, cgan.cfg, os.path.join(tmp, "cgan_run"))
    caae_cfg = tiny_caae_config()
    caae = CAAE(caae_cfg)
    caae.build_all(serving.dummy_batch(caae_cfg, 1))
    caae_run = run_dir(caae, caae_cfg, os.path.join(tmp, "caae_run"))

    z = np.random.default_rng(0).standard_normal((1, cgan.z_dim)).astype(np.float32)
    w = np.eye(6, dtype=np.float32)[[5]]
    from_run = generate.CGANSampler(cgan_run).generate(z, w)
    cgan_sm = export_cgan.export_cgan(cgan_run, os.path.join(tmp, "cgan_sm"))
    from_sm = generate.CGANSampler(cgan_sm).generate(z, w)
    assert np.abs(from_run - from_sm).max() < 1e-4

    x = np.zeros((1, 32, 32, 3), np.float32)
    va = np.array([[0.5, -0.5]], np.float32)
    edited_run = edit.Editor.load(caae_run).edit(x, va)
    caae_sm = export_caae.export_caae(caae_run, os.path.join(tmp, "caae_sm"))
    edited_sm = edit.Editor.load(caae_sm).edit(x, va)
    assert np.abs(edited_run - edited_sm).max() < 1e-4

    assert "caae_tf.train" not in sys.modules, "restoring or exporting a model imported caae_tf.train"
    print(json.dumps({"cgan": [cgan_run, cgan_sm], "caae": [caae_run, caae_sm]}))
    """
)


@pytest.mark.slow
def test_inference_never_imports_the_training_driver(tmp_path):
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([HERE, os.environ.get("PYTHONPATH", "")])}
    p = subprocess.run([sys.executable, "-c", CHILD, str(tmp_path)], capture_output=True, text=True, timeout=600,
                       env=env)
    assert p.returncode == 0, p.stdout[-2000:] + p.stderr[-4000:]
    paths = json.loads(p.stdout.strip().splitlines()[-1])
    from caae_tf.serving import METADATA_FORMAT, read_export_metadata

    for kind, (run, saved_model) in paths.items():  # one schema for both exporters
        meta = read_export_metadata(saved_model)
        assert meta["format"] == METADATA_FORMAT and meta["model"] == kind
        assert meta["source_run_dir"] == os.path.abspath(run)
        assert {"image_size", "z_dim", "signatures", "caae_tf_version", "tensorflow_version"} <= set(meta)


def test_importing_inference_modules_does_not_import_the_training_driver():
    code = ("import sys\n"
            "from caae_tf import bench, edit, generate, serving\n"
            "from caae_tf.export import caae, cgan\n"
            "from caae_tf.study import build\n"
            "print('caae_tf.train' in sys.modules)")
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert p.returncode == 0, p.stderr[-4000:]
    assert p.stdout.strip().splitlines()[-1] == "False"


def test_metadata_reader_reads_older_caae_exports(tmp_path):
    from caae_tf.serving import METADATA_FILE, read_export_metadata

    assert read_export_metadata(tmp_path) == {}
    old = {"model": "caae", "image_size": 32, "z_dim": 8, "source": "/runs/a", "caae_tf": "0.1",
           "tensorflow": "2.21.0", "alignment": {"margin": 0.2}}
    (tmp_path / METADATA_FILE).write_text(json.dumps(old))
    meta = read_export_metadata(tmp_path)
    assert meta["source_run_dir"] == "/runs/a" and meta["caae_tf_version"] == "0.1"
    assert meta["tensorflow_version"] == "2.21.0" and "source" not in meta
    assert meta["alignment"] == {"margin": 0.2} and meta["image_size"] == 32
