"""Per-step cost of cgan_demo train steps with config overrides, relative to the preset, measured interleaved in
one process (10-step blocks, 8 per variant, medians) so that the load of a shared machine hits every variant alike.

    python experiments/cgan_step_cost.py "g_conditional_bn=true" "d_filters=[32,64,128,256]" \
        "g_conditional_bn=true;d_filters=[32,64,128,256]"

Each argument is one variant: KEY=VALUE pairs separated by ';' (values parsed as YAML). Random batch of 64
images at the preset's size; the preset's dtype policy (mixed_bfloat16 on a bf16 CPU).
"""
import os
import sys
import time

import numpy as np
import tensorflow as tf
import yaml

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
from caae_tf.config import load_config  # noqa: E402
from caae_tf.models.cgan import CGAN  # noqa: E402
from caae_tf.precision import set_policy  # noqa: E402

variants = {"base": {}, **{a: dict(kv.split("=", 1) for kv in a.split(";")) for a in sys.argv[1:]}}
models, fns = {}, {}
rng = np.random.default_rng(0)
b = {"image": tf.constant(rng.uniform(-1, 1, (64, 64, 64, 3)).astype(np.float32)),
     "emotion": tf.constant(rng.integers(0, 6, 64).astype(np.int32))}
for name, over in variants.items():
    cfg = load_config(os.path.join(ROOT, "caae_tf", "presets", "cgan_demo.yaml"))
    for k, v in over.items():
        cfg = cfg.replace(k, yaml.safe_load(v))
    pol = set_policy(cfg.mixed_precision)
    m = CGAN(cfg)
    m.build_optimizers()
    m.build_all(b)
    fns[name] = tf.function(m.train_step, jit_compile=False)
    for _ in range(3):  # traces + warm-up
        fns[name](b)
    models[name] = m
times = {n: [] for n in fns}
for _block in range(8):
    for n, f in fns.items():
        t = time.perf_counter()
        for _ in range(10):
            out = f(b)
        float(out["g_loss"])
        times[n].append((time.perf_counter() - t) / 10)
base = np.median(times["base"])
for n, t in times.items():
    print(f"{n:40s} median {np.median(t)*1000:.0f} ms/step  ratio {np.median(t)/base:.3f}  (min {min(t)*1000:.0f})")
print("policy", pol, "load", open("/proc/loadavg").read().split()[:3])
