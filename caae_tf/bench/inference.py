"""``edit`` / ``generate``: exported SavedModel latency and throughput per device, with FLOPs and MFU."""

from __future__ import annotations

import os
import tempfile
import time
from typing import Any, Callable

import numpy as np

from caae_tf.bench.common import (
    KIND_CLASSES, BenchError, _bar_close, _bar_update, _progress, build_bench_model,
)
from caae_tf.bench.environment import _ratio, compute_dtype, measure_peak_flops
from caae_tf.config import CGANConfig, TrainConfig
from caae_tf.tf_env import tf as _tf

def _devices() -> list[str]:
    tf = _tf()
    out = ["/CPU:0"]
    if tf.config.list_physical_devices("GPU"):
        out.append("/GPU:0")
    return out


def _time_signature(call: Callable[[int], Any], *, calls: int, big_batch: int, big_calls: int,
                    progress: bool, desc: str) -> dict[str, Any]:
    """Latency p50/p95 of ``call(1)`` and images/s of ``call(big_batch)``."""
    call(1)
    call(1)  # warm-up (first call runs the function's one-off initialisation)
    bar = _progress(calls + big_calls + 1, desc, progress)
    lat = []
    for _ in range(calls):
        t0 = time.perf_counter()
        call(1)
        lat.append(time.perf_counter() - t0)
        _bar_update(bar)
    call(big_batch)
    _bar_update(bar)
    big = []
    for _ in range(big_calls):
        t0 = time.perf_counter()
        call(big_batch)
        big.append(time.perf_counter() - t0)
        _bar_update(bar)
    _bar_close(bar)
    lat_ms = np.asarray(lat) * 1e3
    return {
        "latency_ms_p50": float(np.percentile(lat_ms, 50)),
        "latency_ms_p95": float(np.percentile(lat_ms, 95)),
        "latency_ms_mean": float(lat_ms.mean()),
        "latency_calls": calls,
        "batch": big_batch,
        "batch_time_s_median": float(np.median(big)),
        "images_per_s": big_batch / float(np.median(big)),
        "batch_calls": big_calls,
    }


def _config_for_saved_model(kind: str, path: str, fallback: TrainConfig) -> tuple[TrainConfig | None, str]:
    """The model config behind an exported SavedModel (for FLOPs), or None when it cannot be known."""
    from caae_tf.config import load_config
    from caae_tf.serving import read_export_metadata

    info = read_export_metadata(path)
    if kind == "cgan" and isinstance(info.get("config"), dict):
        return CGANConfig.from_dict(info["config"], source=path), "export metadata"
    src = info.get("source_run_dir")
    if src and os.path.isfile(os.path.join(src, "config.yaml")):
        return load_config(os.path.join(src, "config.yaml"), KIND_CLASSES[kind]), f"{src}/config.yaml"
    return None, "unknown (no config beside the SavedModel)"


def bench_inference(kind: str, config: TrainConfig, *, model_path: str | None = None, calls: int = 30,
                    big_batch: int = 64, big_calls: int = 3, peak_sizes=(1024, 2048, 4096), peak_repeats: int = 5,
                    policy: str = "float32", progress: bool = False) -> dict[str, Any]:
    """``edit`` (kind ``caae``) or ``generate`` (kind ``cgan``) SavedModel throughput per device."""
    tf = _tf()
    from caae_tf import flops as F
    from caae_tf.serving import dummy_batch, is_saved_model, load_saved_model, read_export_metadata

    with tempfile.TemporaryDirectory(prefix=f"caae_bench_{kind}_") as tmp:
        flops_source = "random-init model exported here"
        if model_path is None:
            model = build_bench_model(config, for_training=False)
            model.build_all(dummy_batch(config, 1))
            flops_cfg_model = model
            path = os.path.join(tmp, "saved_model")
            t0 = time.perf_counter()
            if kind == "caae":
                from caae_tf.export.caae import export_caae

                export_caae(model, path)
            else:
                from caae_tf.export.cgan import export_cgan

                export_cgan(model, path)
            export_s = time.perf_counter() - t0
        else:
            path, export_s = model_path, None
            if not is_saved_model(path):
                raise BenchError(f"--model {path}: not a SavedModel dir (no saved_model.pb)")
            cfg, flops_source = _config_for_saved_model(kind, path, config)
            flops_cfg_model = None
            if cfg is not None:
                flops_cfg_model = build_bench_model(cfg, for_training=False)
                flops_cfg_model.build_all(dummy_batch(cfg, 1))
                config = cfg
            else:
                info = read_export_metadata(path)
                if info.get("image_size"):
                    config = config.replace("image_size", int(info["image_size"]), source=path)
        if flops_cfg_model is None:
            flops_per_image = None
        elif kind == "caae":
            flops_per_image = F.caae_edit_flops(flops_cfg_model)
        else:
            flops_per_image = F.cgan_generate_flops(flops_cfg_model)

        t0 = time.perf_counter()
        loaded = load_saved_model(path)
        load_s = time.perf_counter() - t0
        sig = loaded.signatures["serving_default"]
        s = int(config.image_size)
        rng = np.random.default_rng(0)
        if kind == "caae":
            inputs = {n: (tf.constant(rng.integers(0, 256, (n, s, s, 3), dtype=np.uint8)),
                          tf.constant(rng.uniform(-1, 1, (n, 2)).astype(np.float32))) for n in (1, big_batch)}

            def call(n):
                return sig(images=inputs[n][0], valence_arousal=inputs[n][1])["edited"].numpy()
        else:
            z_dim = int(sig.structured_input_signature[1]["z"].shape[-1])
            inputs = {}
            for n in (1, big_batch):
                w = np.eye(6, dtype=np.float32)[rng.integers(0, 6, n)]
                inputs[n] = (tf.constant(rng.standard_normal((n, z_dim)).astype(np.float32)), tf.constant(w))

            def call(n):
                return sig(z=inputs[n][0], emotion_weights=inputs[n][1])["images"].numpy()

        dtype = compute_dtype(policy)
        per_device = {}
        for dev in _devices():
            with tf.device(dev):
                r = _time_signature(call, calls=calls, big_batch=big_batch, big_calls=big_calls, progress=progress,
                                    desc=f"bench {'edit' if kind == 'caae' else 'generate'} on {dev}")
            peak = measure_peak_flops(dtype, tuple(peak_sizes), peak_repeats, device=dev)
            r.update(peak)
            r["flops_per_image"] = flops_per_image
            r["achieved_flops"] = flops_per_image * r["images_per_s"] if flops_per_image else None
            r["mfu"] = _ratio(r["achieved_flops"], peak["peak_flops"])
            per_device["gpu" if "GPU" in dev else "cpu"] = r
        del loaded
    out = dict(per_device["cpu"])
    if "gpu" in per_device:
        out["gpu"] = per_device["gpu"]
    out.update(model=model_path or "random-init, exported to a temp dir", export_s=export_s, load_s=load_s,
               signature="serving_default (uint8 at the edges)", flops_source=flops_source,
               devices=list(per_device))
    return out
