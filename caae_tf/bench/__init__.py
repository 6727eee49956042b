"""Throughput, FLOP/s and MFU measurements (``caae-tf bench SUBJECT``).

Subjects (each returns one flat-ish JSON-able dict, see :func:`run_bench`):

``train-caae`` / ``train-cgan``
    Images/s of the real :meth:`train_step` after warm-up, wrapped in ``tf.function`` as the training driver
    wraps it (:func:`caae_tf.step_fn.make_train_fn`: ``strategy.run`` + ``strategy.reduce``, ``jit_compile``
    from the config or ``--jit``), losses fetched to Python every step as the driver does. The batch is a fixed,
    random, device-resident batch, so the input pipeline is *not* part of this figure (see ``data``). The
    model comes from :func:`caae_tf.serving.build_model`; a CAAE with the identity loss (λ2 > 0) gets a
    **randomly initialised, full-width** VGG-Face :class:`~caae_tf.models.vgg_face.IdentityFeatures` at
    ``identity_input_size`` (weights do not change the speed, and no weight file is needed).
    FLOPs per step are analytic (:mod:`caae_tf.flops`), ``achieved_flops = flops_per_step / step_time``
    and ``mfu = achieved_flops / peak_flops``, where ``peak_flops`` is measured **in the same process**
    by a large dense matmul in the policy's compute dtype (:func:`measure_peak_flops`) — so the MFU is
    relative to what this machine, under its current load, actually reaches, not to a data-sheet peak.

``data``
    ``tf.data`` images/s of the training pipeline (:func:`caae_tf.data.pipeline.make_training_dataset` on
    TFRecords: decode, crop, resize, flip, batch) — from ``--records DIR`` or a temporary records dir of
    synthetic faces (:func:`data_prep.synthetic.generate_dataset` → :func:`caae_tf.data.records.write_records`)
    — against what the CAAE train step consumes at the same batch/resolution (``--consumer-ips`` or a
    short ``train-caae`` measurement): ``headroom = data_ips / consumer_ips`` (> 1: the input pipeline
    keeps up). Both are measured alone; in training they share the CPU.

``edit`` / ``generate``
    Exported SavedModel throughput through the uint8 ``serving_default`` signature (a randomly
    initialised model exported with :func:`caae_tf.export.caae.export_caae` /
    :func:`caae_tf.export.cgan.export_cgan` into a temp dir, or ``--model PATH``): batch-1 latency
    p50/p95 over ``calls`` calls and batch-64 images/s, on the CPU and on the GPU when there is one,
    with FLOPs per image (E+G, or G) and MFU.

Every result records TF/Keras versions, device, CPU model, thread settings, load average, dtype policy,
XLA on/off, batch, resolution and peak RSS. The machine may be shared: compare results taken at similar
load averages.

Modules: :mod:`~caae_tf.bench.common` (subjects, presets, config resolution, models, batches, progress),
:mod:`~caae_tf.bench.environment` (machine description, peak FLOP/s probe), :mod:`~caae_tf.bench.training`,
:mod:`~caae_tf.bench.data` and :mod:`~caae_tf.bench.inference` (one per kind of subject); this package runs
them (:func:`run_bench`) and re-exports their public names.
"""

from __future__ import annotations

import os
from typing import Any

from caae_tf.bench.common import (
    KIND_CLASSES, PRESET_NAMES, SUBJECT_KIND, SUBJECTS, BenchError, build_bench_model, make_identity_net,
    preset_overrides, resolve_bench_config, synthetic_batch,
)
from caae_tf.bench.data import bench_data, make_synthetic_records
from caae_tf.bench.environment import (
    _ratio, compute_dtype, cpu_model, environment, measure_peak_flops, peak_rss_mb,
)
from caae_tf.bench.inference import bench_inference
from caae_tf.bench.training import bench_train

__all__ = [
    "SUBJECTS", "PRESET_NAMES", "SUBJECT_KIND", "KIND_CLASSES", "BenchError", "preset_overrides",
    "resolve_bench_config", "make_identity_net", "build_bench_model", "synthetic_batch", "cpu_model", "peak_rss_mb",
    "environment", "compute_dtype", "measure_peak_flops", "bench_train", "make_synthetic_records", "bench_data",
    "bench_inference", "run_bench",
]


def run_bench(
    subject: str,
    *,
    preset: str = "paper",
    config_file: str | None = None,
    overrides: list[str] | None = None,
    batch_size: int | None = None,
    image_size: int | None = None,
    steps: int = 10,
    warmup: int = 2,
    precision: str | None = None,
    jit: bool | None = None,
    records: str | None = None,
    consumer_ips: float | None = None,
    model_path: str | None = None,
    calls: int = 30,
    inference_batch: int = 64,
    peak_sizes: tuple[int, ...] = (1024, 2048, 4096),
    peak_repeats: int = 5,
    progress: bool = False,
) -> dict[str, Any]:
    """Run one benchmark and return its result dict (what ``caae-tf bench`` prints as JSON)."""
    if subject not in SUBJECTS:
        raise BenchError(f"unknown subject {subject!r}; choose one of {', '.join(SUBJECTS)}")
    from caae_tf.precision import set_policy

    kind = SUBJECT_KIND[subject]
    config = resolve_bench_config(kind, preset, config_file, overrides, image_size=image_size,
                                  batch_size=batch_size, precision=precision, jit=jit)
    policy = set_policy(config.mixed_precision)
    result: dict[str, Any] = {"subject": subject, "preset": preset, "options": {
        "config": config_file, "overrides": list(overrides or []), "batch_size": batch_size,
        "image_size": image_size, "steps": steps, "warmup": warmup, "precision": precision, "jit": jit,
        "records": records, "consumer_ips": consumer_ips, "model": model_path, "calls": calls,
        "inference_batch": inference_batch, "peak_sizes": list(peak_sizes), "peak_repeats": peak_repeats}}
    result.update(environment(policy, bool(config.jit_compile)))
    result.update(batch_size=config.batch_size, image_size=config.image_size,
                  config_overrides=preset_overrides(preset, kind) + list(overrides or []))
    if subject in ("train-caae", "train-cgan"):
        result.update(steps=steps, warmup=warmup)
        result.update(bench_train(config, steps=steps, warmup=warmup, progress=progress))
        result.update(measure_peak_flops(compute_dtype(policy), tuple(peak_sizes), peak_repeats))
        result["mfu"] = _ratio(result["achieved_flops"], result["peak_flops"])
    elif subject == "data":
        result.update(bench_data(config, records=records, batches=max(steps, 1), warmup=max(warmup, 1),
                                 consumer_ips=consumer_ips, progress=progress))
        result["xla"] = bool(config.jit_compile)
    else:
        result.update(bench_inference(kind, config, model_path=model_path, calls=calls, big_batch=inference_batch,
                                      peak_sizes=peak_sizes, peak_repeats=peak_repeats, policy=policy,
                                      progress=progress))
        result["batch_size"] = inference_batch
        result["xla"] = False  # SavedModel signatures run as exported (no jit_compile)
    result["load_avg_end"] = [round(x, 2) for x in os.getloadavg()]
    result["peak_rss_mb"] = peak_rss_mb()
    return result
