"""``caae-tf data-bench``: input-pipeline throughput (decoded, resized, augmented images per second)."""

from __future__ import annotations

HELP = "measure make_dataset throughput in images/s on a records dir, CSV or folder"


def add_arguments(p) -> None:
    p.add_argument("--records", required=True, help="records dir (or any make_dataset source)")
    p.add_argument("--image-size", type=int, default=96)
    p.add_argument("--batch-size", type=int, default=49)
    p.add_argument("--batches", type=int, default=50, help="timed batches (after 3 warm-up batches)")
    p.add_argument("--color-jitter", type=float, default=0.0)
    p.add_argument("--no-flip", action="store_true")
    p.add_argument("--seed", type=int, default=0)


def run(args) -> int:
    import json
    import os
    import time

    from caae_tf.data import make_dataset

    ds = make_dataset(args.records, image_size=args.image_size, batch_size=args.batch_size, seed=args.seed,
                      augment_flip=not args.no_flip, color_jitter=args.color_jitter)
    it = iter(ds)
    for _ in range(3):
        next(it)
    t0 = time.perf_counter()
    for _ in range(args.batches):
        b = next(it)
    b["image"].numpy()
    dt = time.perf_counter() - t0
    n = args.batches * args.batch_size
    print(json.dumps({"images_per_s": round(n / dt, 1), "batches_per_s": round(args.batches / dt, 2),
                      "image_size": args.image_size, "batch_size": args.batch_size, "batches": args.batches,
                      "seconds": round(dt, 3), "cpu_count": os.cpu_count(), "source": str(args.records)}))
    return 0
