"""Multi-replica training with tf.distribute, exercised on CPU with 2 logical devices (runs in CI)."""

import json
import os
import subprocess
import sys
import textwrap

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))


#: the CAAE edit mode (learned editing region + latent adversary), tiny sizes
EDIT_REGION = ["g_filters=[16,8,8,4]", "g_unet=true", "edit_region=true", "edit_region_resolution=8",
               "edit_region_full_z=true", "lambda_z_label=1", "lambda_region=0.1", "lambda_region_adv=1",
               "d_va_filters=[4,4,8,8]", "lambda_cond=0.01"]


@pytest.mark.slow
@pytest.mark.parametrize("mode", [[], EDIT_REGION], ids=["paper", "edit_region"])
def test_mirrored_strategy_on_two_logical_cpus(tmp_path, mode):
    code = textwrap.dedent(f"""
        import json, sys
        sys.path.insert(0, {HERE!r})
        from caae_tf.train import configure_cpu_replicas, train_command
        configure_cpu_replicas(2)
        from _train_helpers import TINY_CAAE, write_tiny_set
        csv = write_tiny_set({str(tmp_path / 'data')!r}, n=64)  # 64: see tests/test_train.py::tiny_csv
        mode = {mode!r}
        over = [o for o in TINY_CAAE if not (mode and o.startswith("g_filters"))] + mode + ["steps=1"]
        single = train_command("caae", csv, {str(tmp_path / 'single')!r}, overrides=over, progress=False)
        mirrored = train_command("caae", csv, {str(tmp_path / 'mirrored')!r}, overrides=over, progress=False,
                                 strategy="mirrored")
        resumed = train_command("caae", csv, {str(tmp_path / 'mirrored')!r}, overrides=["steps=2"],
                                progress=False, strategy="mirrored", resume=True)
        json.dump({{"single": single.last_losses, "mirrored": mirrored.last_losses,
                    "resumed_step": resumed.step, "resumed": resumed.last_losses}},
                  open({str(tmp_path / 'out.json')!r}, "w"))
    """)
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=900)
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = json.loads((tmp_path / "out.json").read_text())
    # E and G have no batch norm: the step-1 reconstruction loss over the global batch is identical
    assert out["mirrored"]["loss_rec"] == pytest.approx(out["single"]["loss_rec"], rel=1e-5)
    # logged values are means over the global batch, not 1/replicas of it
    for k in ("d_z_real", "d_z_fake", "d_img_real", "d_img_fake"):  # D(.) ~ 0.5 at the start; half would be ~0.25
        assert 0.4 < out["mirrored"][k] < 0.6 and 0.4 < out["single"][k] < 0.6, (k, out)
    assert out["resumed_step"] == 2 and all(v == v for v in out["resumed"].values())
    if mode:  # a batch-independent term (the region's size) counts once, not once per replica
        assert out["mirrored"]["loss_region"] == pytest.approx(out["single"]["loss_region"], rel=1e-6)
    cfg = (tmp_path / "mirrored" / "config.yaml").read_text()
    assert "replicas: 2" in cfg and "strategy: mirrored" in cfg
