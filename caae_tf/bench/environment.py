"""The machine a benchmark runs on: versions, device, CPU, threads and load (:func:`environment`), peak RSS,
and the peak FLOP/s probe that MFU figures are relative to (:func:`measure_peak_flops`)."""

from __future__ import annotations

import contextlib
import datetime
import os
import platform
import resource
import shlex
import sys
import time
from typing import Any

from caae_tf import __version__
from caae_tf.tf_env import tf as _tf

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
