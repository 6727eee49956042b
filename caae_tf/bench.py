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
"""

from __future__ import annotations

import contextlib
import datetime
import os
import platform
import resource
import shlex
import sys
import tempfile
import time
from typing import Any, Callable

import numpy as np

from caae_tf import __version__
from caae_tf.config import CAAEConfig, CGANConfig, ConfigError, TrainConfig, apply_overrides
from caae_tf.errors import UserError
from caae_tf.tf_env import tf as _tf

SUBJECTS = ("train-caae", "train-cgan", "data", "edit", "generate")

#: ``--preset`` → model kind → the packaged preset (:mod:`caae_tf.presets`) whose keys override the config
#: defaults: the same files ``caae-tf train --config``, ``caae-tf demo`` and the tests use, so ``demo`` here
#: is exactly what the demo trains.
PRESET_NAMES: dict[str, dict[str, str]] = {
    "paper": {"caae": "caae_paper", "cgan": "cgan_paper"},
    "demo": {"caae": "caae_demo", "cgan": "cgan_demo"},
    "tiny": {"caae": "caae_tiny", "cgan": "cgan_tiny"},  # test-sized models (seconds per run)
}


def preset_overrides(preset: str, kind: str) -> list[str]:
    """``key=value`` overrides of ``--preset`` for model ``kind`` (read from the packaged preset file)."""
    from caae_tf import presets

    if preset not in PRESET_NAMES:
        raise BenchError(f"unknown preset {preset!r}; choose one of {', '.join(PRESET_NAMES)}")
    return presets.overrides(PRESET_NAMES[preset][kind])


SUBJECT_KIND = {"train-caae": "caae", "data": "caae", "edit": "caae", "train-cgan": "cgan", "generate": "cgan"}
KIND_CLASSES: dict[str, type[TrainConfig]] = {"caae": CAAEConfig, "cgan": CGANConfig}


class BenchError(UserError):
    """A benchmark option or input that cannot be used (bad subject/preset, unusable --model/--records)."""


# ------------------------------------------------------------------------------------------ config

def resolve_bench_config(
    kind: str,
    preset: str = "paper",
    config_file: str | None = None,
    overrides: list[str] | None = None,
    *,
    image_size: int | None = None,
    batch_size: int | None = None,
    precision: str | None = None,
    jit: bool | None = None,
) -> TrainConfig:
    """Config defaults → preset → ``--config`` file keys → ``--set`` → explicit size/batch/precision/jit."""
    import yaml

    cls = KIND_CLASSES[kind]
    cfg = apply_overrides(cls(), preset_overrides(preset, kind))
    if config_file:
        from caae_tf.presets import resolve

        config_file = resolve(config_file)
        try:
            with open(config_file, encoding="utf-8") as fh:
                data = yaml.safe_load(fh) or {}
        except OSError as exc:
            raise ConfigError(f"{config_file}: cannot read config: {exc.strerror}") from None
        except yaml.YAMLError as exc:
            raise ConfigError(f"{config_file}: not valid YAML/JSON: {exc}") from None
        if not isinstance(data, dict):
            raise ConfigError(f"{config_file}: expected a mapping of key: value")
        model = data.pop("model", kind)
        if model != kind:
            raise ConfigError(f"{config_file}: config is for model {model!r}, this benchmark needs {kind!r}")
        for key, value in data.items():
            cfg = cfg.replace(key, value, source=config_file)
    cfg = apply_overrides(cfg, overrides)
    for key, value in (("image_size", image_size), ("batch_size", batch_size), ("mixed_precision", precision),
                       ("jit_compile", jit)):
        if value is not None:
            cfg = cfg.replace(key, value, source=f"--{key.replace('_', '-')}")
    cfg.validate()
    return cfg


# ------------------------------------------------------------------------------------------ environment

def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="ignore") as fh:
            for line in fh:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def peak_rss_mb() -> float:
    """Peak resident set size of this process in MiB (``ru_maxrss`` is KiB on Linux, bytes on macOS)."""
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return round(rss / (1024 * 1024 if sys.platform == "darwin" else 1024), 1)


def environment(policy: str | None = None, jit: bool | None = None) -> dict[str, Any]:
    """Versions, device, CPU, threads and load of this run."""
    tf = _tf()
    import keras

    from caae_tf.precision import cpu_has_bf16

    gpus = tf.config.list_physical_devices("GPU")
    gpu_names = []
    for g in gpus:
        try:
            gpu_names.append(tf.config.experimental.get_device_details(g).get("device_name", g.name))
        except Exception:
            gpu_names.append(g.name)
    try:
        affinity = len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover
        affinity = os.cpu_count()
    env = {
        "caae_tf": __version__,
        "tensorflow": tf.__version__,
        "keras": keras.__version__,
        "python": platform.python_version(),
        "device": gpu_names[0] if gpu_names else "CPU",
        "gpus": gpu_names,
        "cpu_model": cpu_model(),
        "cpu_count": os.cpu_count(),
        "cpu_affinity": affinity,
        "cpu_bf16": cpu_has_bf16(),
        "intra_op_threads": tf.config.threading.get_intra_op_parallelism_threads(),
        "inter_op_threads": tf.config.threading.get_inter_op_parallelism_threads(),
        "omp_num_threads": os.environ.get("OMP_NUM_THREADS"),
        "onednn": os.environ.get("TF_ENABLE_ONEDNN_OPTS", "default (on)"),
        "load_avg_start": [round(x, 2) for x in os.getloadavg()],
        "timestamp": datetime.datetime.now().isoformat(timespec="seconds"),
        "command": _command_line(),
    }
    if policy is not None:
        env["policy"] = policy
        env["compute_dtype"] = keras.mixed_precision.Policy(policy).compute_dtype
    if jit is not None:
        env["xla"] = bool(jit)
    return env


def _command_line() -> str:
    """``caae-tf bench ...`` as typed, when this process is the CLI (else empty: a library call)."""
    argv = list(sys.argv[1:])
    if "bench" not in argv:
        return ""
    return " ".join(shlex.quote(a) for a in ["caae-tf", *argv[argv.index("bench"):]])


def compute_dtype(policy: str) -> str:
    _tf()
    import keras

    return keras.mixed_precision.Policy(policy).compute_dtype


def measure_peak_flops(dtype: str = "float32", sizes: tuple[int, ...] = (1024, 2048, 4096), repeats: int = 5,
                       device: str | None = None) -> dict[str, Any]:
    """Best achieved FLOP/s of an n×n @ n×n matmul in ``dtype`` (a ``tf.function``; best of ``repeats``
    timed calls after one warm-up, for each n in ``sizes``; the best over sizes is the peak).

    Several sizes because on this CPU the bf16 (AMX) matmul is fastest around n = 1024 (~2× the n = 4096
    rate, which the cache hierarchy limits) while fp32 peaks at large n; the model's convolutions reach the
    higher figure, so a single 4096 matmul would understate the peak and overstate the MFU."""
    tf = _tf()
    dt = tf.as_dtype(dtype)
    best: dict[str, Any] = {"peak_flops": 0.0, "peak_matmul_size": None, "peak_dtype": dt.name}
    ctx = tf.device(device) if device else contextlib.nullcontext()
    with ctx:
        @tf.function
        def mm(a, b):
            return tf.reduce_sum(tf.cast(tf.matmul(a, b), tf.float32))

        for n in sizes:
            g = tf.random.Generator.from_seed(n)
            a = tf.cast(g.normal([n, n]), dt)
            b = tf.cast(g.normal([n, n]), dt)
            mm(a, b).numpy()
            t_best = float("inf")
            for _ in range(max(1, repeats)):
                t0 = time.perf_counter()
                mm(a, b).numpy()
                t_best = min(t_best, time.perf_counter() - t0)
            flops = 2.0 * n ** 3 / t_best
            if flops > best["peak_flops"]:
                best.update(peak_flops=flops, peak_matmul_size=n)
    return best


def _ratio(a: float | None, b: float | None) -> float | None:
    return (a / b) if a and b else None


# ------------------------------------------------------------------------------------------ models

def make_identity_net(config: CAAEConfig):
    """A randomly initialised full-width VGG-Face feature extractor at ``identity_input_size`` (built)."""
    tf = _tf()
    from caae_tf.models.vgg_face import IdentityFeatures, VGGFace

    s = int(config.identity_input_size)
    vgg = VGGFace(width_multiplier=1.0, input_size=s, include_top=False)
    net = IdentityFeatures(vgg, list(config.identity_layers), input_size=s,
                           description="random-init full-width VGG-Face (benchmark)")
    net(tf.zeros([1, s, s, 3]))  # build every used layer at its input resolution
    return net


def build_bench_model(config: TrainConfig, *, for_training: bool = True):
    """The driver's model (:func:`caae_tf.serving.build_model`), with a random identity network when needed."""
    from caae_tf.serving import build_model

    if isinstance(config, CAAEConfig) and for_training and config.identity_weight > 0:
        from caae_tf.models.caae import CAAE

        return CAAE(config, identity_net=make_identity_net(config))
    return build_model(config, for_training=for_training)


def synthetic_batch(config: TrainConfig, batch_size: int | None = None, seed: int = 0) -> dict:
    """A random training batch in the pipeline's format (images in [-1,1], labels valid for both models)."""
    tf = _tf()
    n = int(batch_size or config.batch_size)
    s = int(config.image_size)
    rng = np.random.default_rng(seed)
    return {
        "image": tf.constant(rng.uniform(-1, 1, (n, s, s, 3)).astype(np.float32)),
        "va": tf.constant(rng.uniform(-1, 1, (n, 2)).astype(np.float32)),
        "emotion": tf.constant(rng.integers(0, 6, n).astype(np.int32)),
        "emotion8": tf.constant(rng.integers(0, 8, n).astype(np.int32)),
        "identity": tf.constant(np.zeros(n, np.int32)),
    }


def _progress(total: int, desc: str, enabled: bool):
    from caae_tf.progress import Progress

    with contextlib.redirect_stdout(sys.stderr):  # stdout carries the JSON result only
        return Progress(total, desc, enabled)


def _bar_update(bar, **values) -> None:
    with contextlib.redirect_stdout(sys.stderr):
        bar.update(1, **values)


def _bar_close(bar) -> None:
    with contextlib.redirect_stdout(sys.stderr):
        bar.close()


# ------------------------------------------------------------------------------------------ train

def bench_train(config: TrainConfig, *, steps: int = 10, warmup: int = 2, progress: bool = False) -> dict[str, Any]:
    """Images/s, step time and analytic FLOPs of ``config``'s model train step (module docstring).

    The global precision policy must already be set (:func:`caae_tf.precision.set_policy`).
    """
    tf = _tf()
    from caae_tf import flops as F
    from caae_tf.serving import to_float_dict
    from caae_tf.step_fn import make_train_fn

    if steps < 1 or warmup < 1:
        raise BenchError(f"need steps >= 1 and warmup >= 1 (the first call traces), got {steps}, {warmup}")
    import keras

    keras.utils.set_random_seed(config.seed)
    strategy = tf.distribute.get_strategy()
    t_build = time.perf_counter()
    model = build_bench_model(config)
    with strategy.scope():
        model.build_optimizers()
    batch = synthetic_batch(config)
    model.build_all(batch)

    train_fn = make_train_fn(model, strategy, jit_compile=bool(config.jit_compile))  # the driver's wrapper

    build_s = time.perf_counter() - t_build
    bar = _progress(warmup + steps, f"bench train {config.model}: {warmup} warm-up + {steps} timed steps", progress)
    times = []
    first_step_s = None
    for i in range(warmup + steps):
        t0 = time.perf_counter()
        losses = to_float_dict(train_fn(batch))
        dt = time.perf_counter() - t0
        if i == 0:
            first_step_s = dt
        if i >= warmup:
            times.append(dt)
        _bar_update(bar, step_s=dt)
    _bar_close(bar)

    if config.model == "caae":
        fl = F.caae_train_step_flops(model, config.batch_size)
    else:
        fl = F.cgan_train_step_flops(model, config.batch_size)
    total = float(np.sum(times))
    B = config.batch_size
    return {
        "images_per_s": B * len(times) / total,
        "step_time_s_mean": total / len(times),
        "step_time_s_median": float(np.median(times)),
        "step_time_s_min": float(np.min(times)),
        "step_times_s": [round(t, 4) for t in times],
        "first_step_s": first_step_s,
        "build_s": build_s,
        "flops_per_step": fl["total"],
        "flops_per_image": fl["per_image"],
        "forward_flops_per_image": fl["networks"],
        "flops_terms": fl["terms"],
        "achieved_flops": fl["total"] / (total / len(times)),
        "identity_network": (
            f"random full-width VGG-Face at {config.identity_input_size} px, {fl.get('identity_images', 0)} images"
            if config.model == "caae" and config.identity_weight > 0 else "none"
        ),
        "final_losses": {k: round(v, 5) for k, v in losses.items()},
    }


# ------------------------------------------------------------------------------------------ data

def make_synthetic_records(out_dir: str, n: int = 192, size: int = 128, seed: int = 0) -> str:
    """Render ``n`` synthetic faces at ``size`` px and write them as TFRecords into ``out_dir/records``."""
    from caae_tf.data.records import write_records
    from data_prep.synthetic import generate_dataset

    synth = os.path.join(out_dir, "synth")
    ids = max(1, n // 16)
    df = generate_dataset(synth, ids, max(1, -(-n // ids)), size=size, seed=seed, progress=False)
    df["path"] = [os.path.join(synth, p) for p in df["path"]]
    records = os.path.join(out_dir, "records")
    write_records(df, records, num_shards=4, source=synth, command="caae-tf bench data")
    return records


def bench_data(config: CAAEConfig, *, records: str | None = None, batches: int = 30, warmup: int = 3,
               consumer_ips: float | None = None, consumer_steps: int = 2, synth_images: int = 192,
               synth_size: int = 128, progress: bool = False) -> dict[str, Any]:
    """tf.data images/s of the training pipeline vs the train step's consumption → ``headroom``."""
    from caae_tf.data.pipeline import make_training_dataset

    with tempfile.TemporaryDirectory(prefix="caae_bench_data_") as tmp:
        source = records
        t0 = time.perf_counter()
        if source is None:
            source = make_synthetic_records(tmp, synth_images, synth_size, seed=config.seed)
        elif not os.path.exists(source):
            raise BenchError(f"--records {source}: no such records dir")
        prep_s = time.perf_counter() - t0
        ds = make_training_dataset(source, config)
        it = iter(ds)
        bar = _progress(warmup + batches, f"bench data: {warmup} warm-up + {batches} timed batches", progress)
        for _ in range(warmup):
            next(it)["image"].numpy()
            _bar_update(bar)
        t0 = time.perf_counter()
        for _ in range(batches):
            next(it)["image"].numpy()
            _bar_update(bar)
        dt = time.perf_counter() - t0
        _bar_close(bar)
        del it, ds
    data_ips = batches * config.batch_size / dt
    out: dict[str, Any] = {
        "data_images_per_s": data_ips,
        "images_per_s": data_ips,
        "batches": batches,
        "records": records or f"temporary: {synth_images} synthetic faces at {synth_size} px, 4 shards",
        "records_prep_s": prep_s,
        "pipeline": "caae_tf.data.pipeline.make_training_dataset (decode, crop, resize, flip, batch, prefetch)",
    }
    if consumer_ips is None:
        train = bench_train(config, steps=consumer_steps, warmup=1, progress=progress)
        consumer_ips = train["images_per_s"]
        out["consumer"] = f"train-caae measured here ({consumer_steps} steps after 1 warm-up)"
        out["consumer_flops_per_step"] = train["flops_per_step"]
    else:
        out["consumer"] = "--consumer-ips"
    out["consumer_images_per_s"] = float(consumer_ips)
    out["headroom"] = data_ips / float(consumer_ips)
    return out


# ------------------------------------------------------------------------------------------ inference

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


# ------------------------------------------------------------------------------------------ entry

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
