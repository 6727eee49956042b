"""Tiny datasets and configs shared by the training/editing/export tests."""

from __future__ import annotations

import os

import numpy as np

from caae_tf import presets

#: the test-sized models are the packaged tiny presets (caae_tf/presets/caae_tiny.yaml, cgan_tiny.yaml — also
#: ``caae-tf bench --preset tiny``) plus the tests' own logging/checkpoint cadence and float32
TEST_CADENCE = ["log_every=1", "sample_every=0", "checkpoint_every=3", "mixed_precision=float32"]
TINY_CAAE = presets.overrides("caae_tiny") + TEST_CADENCE
TINY_CGAN = presets.overrides("cgan_tiny") + TEST_CADENCE


def write_tiny_set(folder, n: int = 16, size: int = 40, seed: int = 0) -> str:
    """``n`` smooth random RGB images + a generic labels.csv with va, emotion and identity; returns the CSV."""
    import cv2

    from caae_tf.labels import CGAN_EMOTIONS

    rng = np.random.default_rng(seed)
    os.makedirs(os.path.join(folder, "images"), exist_ok=True)
    rows = ["path,identity,valence,arousal,emotion"]
    for i in range(n):
        small = rng.integers(0, 255, (5, 5, 3), dtype=np.uint8)
        img = cv2.resize(small, (size, size), interpolation=cv2.INTER_CUBIC)
        rel = f"images/{i:03d}.png"
        cv2.imwrite(os.path.join(folder, rel), img)
        v, a = rng.uniform(-1, 1, 2)
        rows.append(f"{rel},{i % 4},{v:.3f},{a:.3f},{CGAN_EMOTIONS[i % 6]}")
    path = os.path.join(folder, "labels.csv")
    with open(path, "w", encoding="utf-8") as fh:
        fh.write("\n".join(rows) + "\n")
    return path


def tiny_cgan_model(seed: int = 0, z_dim: int = 8, **config):
    """A tiny untrained 64 px cGAN whose G kernels are re-drawn He-normal, so the uint8 outputs are visible
    images spanning many levels (used by the generate and export tests); ``config``: further CGANConfig keys."""
    import keras

    from caae_tf.config import CGANConfig
    from caae_tf.models.cgan import CGAN

    keras.mixed_precision.set_global_policy("float32")
    keras.utils.set_random_seed(seed)
    cfg = CGANConfig(image_size=64, z_dim=z_dim, g_filters=[32, 16, 8, 8], d_filters=[8, 8, 16, 16], batch_size=4,
                     **config)
    m = CGAN(cfg)
    m.build_all()
    rng = np.random.default_rng(seed)
    for var in m.G.trainable_variables:
        if "kernel" in var.path:
            shape = var.shape
            fan_in = int(np.prod(shape[:-2])) * int(shape[-1]) if len(shape) == 4 else int(shape[0])
            var.assign(rng.normal(0, np.sqrt(2.0 / fan_in), shape).astype(np.float32))
    return m


def tiny_caae_config(**kw):
    """A tiny CAAEConfig (32 px, a few channels per layer) for in-process model tests; ``kw`` overrides."""
    from caae_tf.config import CAAEConfig

    base = dict(image_size=32, batch_size=4, z_dim=8, label_repeat=3, e_filters=[4, 8, 8, 8], g_fc_channels=8,
                g_filters=[8, 8, 8, 4, 4], d_img_filters=[4, 4, 8, 8], d_img_fc=16, d_z_units=[8, 8, 4],
                identity_weight=0.0, identity_images=2)
    base.update(kw)
    cfg = CAAEConfig(**base)
    cfg.validate()
    return cfg


def caae_batch(cfg, n: int = 4, seed: int = 0) -> dict:
    """A seeded batch like ``make_dataset``'s: images uniform in [-1, 1], labels uniform in [-1, 1]², identity 0."""
    import tensorflow as tf

    rng = np.random.default_rng(seed)
    s = cfg.image_size
    return {"image": tf.constant(rng.uniform(-1, 1, (n, s, s, 3)).astype(np.float32)),
            "va": tf.constant(rng.uniform(-1, 1, (n, 2)).astype(np.float32)),
            "identity": tf.zeros([n], tf.int32)}
