"""``train-caae`` / ``train-cgan``: images/s, step time and analytic FLOPs of a model's train step."""

from __future__ import annotations

import time
from typing import Any

import numpy as np

from caae_tf.bench.common import BenchError, _bar_close, _bar_update, _progress, build_bench_model, synthetic_batch
from caae_tf.config import TrainConfig
from caae_tf.tf_env import tf as _tf

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
