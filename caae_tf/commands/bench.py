"""``caae-tf bench SUBJECT``: throughput, analytic FLOPs and MFU (see :mod:`caae_tf.bench`)."""

from __future__ import annotations

import argparse

HELP = "benchmark a train step, the input pipeline or an exported model (images/s, FLOP/s, MFU) as JSON"
DESCRIPTION = (
    "Measure images/s after warm-up and print ONE JSON object (also appended to --out FILE.jsonl). "
    "train-caae / train-cgan: the real train step wrapped like `caae-tf train` (random batch; the CAAE "
    "identity loss uses a random full-width VGG-Face), analytic FLOPs per step, achieved FLOP/s and "
    "mfu = achieved / peak, the peak measured in the same run by a large matmul in the same dtype. "
    "data: tf.data images/s from TFRecords vs what the CAAE train step consumes (headroom). "
    "edit / generate: exported SavedModel batch-1 latency p50/p95 and batch-64 images/s."
)

SUBJECTS = ("train-caae", "train-cgan", "data", "edit", "generate")


def add_arguments(p) -> None:
    p.add_argument("subject", choices=SUBJECTS, help="what to measure")
    p.add_argument("--preset", choices=["paper", "demo", "tiny"], default="paper",
                   help="model size: paper (caae_paper / cgan_paper), demo (caae_demo / cgan_demo: what "
                        "`caae-tf demo` and experiments/cgan_demo.sh train) or tiny (caae_tiny / cgan_tiny: tests)")
    p.add_argument("--config", default=None, metavar="FILE|PRESET",
                   help="YAML/JSON config file (or a packaged preset name) applied over the preset")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="override a config key (repeatable), e.g. --set identity_input_size=112")
    p.add_argument("--batch-size", type=int, default=None, help="batch size (default: the preset's)")
    p.add_argument("--image-size", type=int, default=None, help="resolution in px (default: the preset's)")
    p.add_argument("--steps", type=int, default=10, help="timed steps (train) or batches (data)")
    p.add_argument("--warmup", type=int, default=2, help="untimed warm-up steps/batches (>= 1: the first traces)")
    p.add_argument("--precision", choices=["float32", "mixed_bfloat16", "mixed_float16", "auto"], default=None,
                   help="dtype policy (default: the config's, i.e. auto)")
    p.add_argument("--jit", action=argparse.BooleanOptionalAction, default=None,
                   help="XLA-compile the train step (default: the config's jit_compile)")
    p.add_argument("--records", default=None, help="data: records dir to read (default: temporary synthetic faces)")
    p.add_argument("--consumer-ips", type=float, default=None,
                   help="data: images/s the train step consumes (default: measured with a short train-caae run)")
    p.add_argument("--model", default=None,
                   help="edit/generate: an exported SavedModel dir (default: export a random-init model)")
    p.add_argument("--calls", type=int, default=30, help="edit/generate: batch-1 calls for the latency percentiles")
    p.add_argument("--inference-batch", type=int, default=64, help="edit/generate: batch for the images/s figure")
    p.add_argument("--peak-size", type=int, action="append", default=None, metavar="N",
                   help="matrix size of the peak-FLOP/s matmul (repeatable; best wins; default 1024, 2048 and 4096)")
    p.add_argument("--peak-repeats", type=int, default=5, help="timed matmuls per size (best of N)")
    p.add_argument("--out", default=None, help="also append the JSON line to this .jsonl file")
    p.add_argument("--quiet", action="store_true", help="no progress bar")


def run(args) -> int:
    import json
    import os

    from caae_tf.bench import run_bench

    result = run_bench(
        args.subject, preset=args.preset, config_file=args.config, overrides=args.overrides,
        batch_size=args.batch_size, image_size=args.image_size, steps=args.steps, warmup=args.warmup,
        precision=args.precision, jit=args.jit, records=args.records, consumer_ips=args.consumer_ips,
        model_path=args.model, calls=args.calls, inference_batch=args.inference_batch,
        peak_sizes=tuple(args.peak_size or (1024, 2048, 4096)), peak_repeats=args.peak_repeats,
        progress=not args.quiet,
    )
    line = json.dumps(result, default=float)
    print(line, flush=True)
    if args.out:
        os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
        with open(args.out, "a", encoding="utf-8") as fh:
            fh.write(line + "\n")
    return 0
