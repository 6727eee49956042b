"""``data``: ``tf.data`` images/s of the training pipeline against what the CAAE train step consumes."""

from __future__ import annotations

import os
import tempfile
import time
from typing import Any

from caae_tf.bench.common import BenchError, _bar_close, _bar_update, _progress
from caae_tf.bench.training import bench_train
from caae_tf.config import CAAEConfig

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
