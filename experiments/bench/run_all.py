#!/usr/bin/env python
"""Run the whole benchmark set and write ``experiments/bench/results.jsonl`` + ``RESULTS.md``.

    python experiments/bench/run_all.py            # ~10-15 min on a 2-core CPU
    python experiments/bench/run_all.py --render   # only re-render RESULTS.md from results.jsonl
    python experiments/bench/run_all.py --quick    # tiny shapes (a smoke test of this script, ~2 min)

Every measurement is one ``caae-tf bench`` process (so peak RSS is per run) appending one JSON line.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import shlex
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
JSONL = os.path.join(HERE, "results.jsonl")
MD = os.path.join(HERE, "RESULTS.md")

FP32, BF16 = "float32", "mixed_bfloat16"


def plan(quick: bool) -> list[tuple[str, list[str]]]:
    """(label, caae-tf bench arguments) for every run, in order."""
    if quick:
        t = ["--preset", "tiny", "--peak-size", "512", "--peak-repeats", "2"]
        return [
            ("train-caae tiny fp32", ["train-caae", *t, "--precision", FP32, "--warmup", "1", "--steps", "2"]),
            ("train-caae tiny bf16", ["train-caae", *t, "--precision", BF16, "--warmup", "1", "--steps", "2"]),
            ("xla off", ["train-caae", *t, "--precision", BF16, "--warmup", "1", "--steps", "3", "--no-jit"]),
            ("xla on", ["train-caae", *t, "--precision", BF16, "--warmup", "1", "--steps", "3", "--jit"]),
            ("train-cgan tiny", ["train-cgan", *t, "--warmup", "1", "--steps", "2"]),
            ("data tiny", ["data", *t, "--steps", "5", "--warmup", "1", "--consumer-ips", "{consumer}"]),
            ("edit tiny", ["edit", *t, "--calls", "5", "--inference-batch", "8"]),
            ("generate tiny", ["generate", *t, "--calls", "5", "--inference-batch", "8"]),
        ]
    return [
        # paper 000 CAAE, 96 px, batch 49, identity loss through a full-width VGG-Face at 224 px
        ("train-caae paper fp32", ["train-caae", "--preset", "paper", "--precision", FP32, "--warmup", "2",
                                   "--steps", "3"]),
        ("train-caae paper bf16", ["train-caae", "--preset", "paper", "--precision", BF16, "--warmup", "2",
                                   "--steps", "4"]),
        # XLA on vs off at the CPU demo size (64 px, half widths, no identity net)
        ("train-caae demo bf16 XLA off", ["train-caae", "--preset", "demo", "--precision", BF16, "--warmup", "2",
                                          "--steps", "5", "--no-jit"]),
        ("train-caae demo bf16 XLA on", ["train-caae", "--preset", "demo", "--precision", BF16, "--warmup", "2",
                                         "--steps", "5", "--jit"]),
        ("train-caae demo fp32 XLA off", ["train-caae", "--preset", "demo", "--precision", FP32, "--warmup", "2",
                                          "--steps", "4", "--no-jit"]),
        # (fp32 with --jit was dropped: on 2026-11-21 one such run was still in its first XLA steps after
        # 11 min at load 16, while bf16 with --jit took 4 min; XLA is a large slow-down on this CPU either way)
        # paper 001 cGAN, paper widths, batch 64
        ("train-cgan 128 px bf16", ["train-cgan", "--preset", "paper", "--image-size", "128", "--precision", BF16,
                                    "--warmup", "2", "--steps", "5"]),
        ("train-cgan 256 px bf16", ["train-cgan", "--preset", "paper", "--image-size", "256", "--precision", BF16,
                                    "--warmup", "2", "--steps", "3"]),
        # input pipeline at 96 px / batch 49 vs the bf16 paper CAAE step
        ("data 96 px", ["data", "--preset", "paper", "--image-size", "96", "--steps", "40", "--warmup", "3",
                        "--consumer-ips", "{consumer}"]),
        # exported SavedModels (random init)
        ("edit fp32", ["edit", "--preset", "paper", "--precision", FP32, "--calls", "30"]),
        ("edit bf16", ["edit", "--preset", "paper", "--precision", BF16, "--calls", "30"]),
        ("generate 256 px fp32", ["generate", "--preset", "paper", "--precision", FP32, "--calls", "20"]),
        ("generate 256 px bf16", ["generate", "--preset", "paper", "--precision", BF16, "--calls", "20"]),
    ]


def run_all(quick: bool, resume: bool = False) -> list[dict]:
    results: list[dict] = []
    steps = plan(quick)
    if resume and os.path.exists(JSONL):  # keep finished runs (labelled in plan order when unlabelled)
        with open(JSONL, encoding="utf-8") as fh:
            results = [json.loads(ln) for ln in fh if ln.strip()]
        for r, (label, _) in zip(results, steps):
            r.setdefault("label", label)
    elif os.path.exists(JSONL):
        os.remove(JSONL)
    done = {r["label"] for r in results}
    consumer = None
    for r in results:
        if (consumer is None and r["subject"] == "train-caae" and r["preset"] in ("paper", "tiny")
                and r["policy"] == BF16 and not r["xla"]):
            consumer = r["images_per_s"]
    for label, args in steps:
        if label in done:
            continue
        if "{consumer}" in args:
            if consumer is None:  # no train-caae result: let the data bench measure its consumer itself
                i = args.index("{consumer}")
                args = args[: i - 1] + args[i + 1:]
            else:
                args = [str(round(consumer, 3)) if a == "{consumer}" else a for a in args]
        cmd = [sys.executable, "-m", "caae_tf", "bench", *args, "--quiet", "--out", os.path.relpath(JSONL, REPO)]
        t0 = time.time()
        print(f"[{datetime.datetime.now():%H:%M:%S}] {label}: {' '.join(shlex.quote(c) for c in cmd[2:])}",
              flush=True)
        proc = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True)
        if proc.returncode != 0:
            print(proc.stdout[-2000:], proc.stderr[-4000:], file=sys.stderr)
            raise SystemExit(f"{label} failed (exit {proc.returncode})")
        r = json.loads(proc.stdout.strip().splitlines()[-1])
        r["label"] = label
        r["wall_s"] = round(time.time() - t0, 1)
        results.append(r)
        if (consumer is None and r["subject"] == "train-caae" and r["preset"] in ("paper", "tiny")
                and r["policy"] == BF16 and not r["xla"]):
            consumer = r["images_per_s"]
        print(f"    {summary(r)}  ({r['wall_s']} s)", flush=True)
    with open(JSONL, "w", encoding="utf-8") as fh:  # rewrite with labels and wall times
        for r in results:
            fh.write(json.dumps(r) + "\n")
    return results


def summary(r: dict) -> str:
    if r["subject"].startswith("train"):
        return f"{r['images_per_s']:.2f} img/s, mfu {r['mfu']:.3f}"
    if r["subject"] == "data":
        return f"{r['data_images_per_s']:.0f} img/s, headroom {r['headroom']:.1f}x"
    return (f"p50 {r['latency_ms_p50']:.1f} ms, p95 {r['latency_ms_p95']:.1f} ms, "
            f"{r['images_per_s']:.1f} img/s @ {r['batch']}, mfu {r['mfu']:.3f}")


# ------------------------------------------------------------------------------------------ rendering

def _g(x, digits=1):
    return "–" if x is None else f"{x / 1e9:.{digits}f}"


def _prec(r):
    return {"float32": "fp32", "mixed_bfloat16": "bf16", "mixed_float16": "fp16"}.get(r["policy"], r["policy"])


def render(results: list[dict]) -> str:
    if not results:
        return "# Benchmarks\n\nNo results.\n"
    r0 = results[0]
    loads = [x for r in results for x in (r["load_avg_start"][0], r["load_avg_end"][0])]
    lines = [
        "# Benchmarks (`caae-tf bench`)",
        "",
        f"Generated by `python experiments/bench/run_all.py` on {r0['timestamp'][:10]}; raw data: "
        "[`results.jsonl`](results.jsonl) (one `caae-tf bench` JSON object per run, with the exact command).",
        "",
        "## Machine",
        "",
        f"- CPU: {r0['cpu_model']}, {r0['cpu_count']} logical cores visible (affinity {r0['cpu_affinity']}), "
        f"AVX512-BF16/AMX: {'yes' if r0['cpu_bf16'] else 'no'}; GPU: {', '.join(r0['gpus']) or 'none'}",
        f"- TensorFlow {r0['tensorflow']}, Keras {r0['keras']}, Python {r0['python']}, oneDNN {r0['onednn']}, "
        f"intra/inter-op threads {r0['intra_op_threads']}/{r0['inter_op_threads']} (0 = all cores)",
        f"- **Shared machine**: other jobs were running; the 1-min load average was "
        f"{min(loads):.1f}–{max(loads):.1f} during these runs (2 cores ⇒ this process got roughly "
        f"{2 / max(1.0, max(loads)):.0%}–{2 / max(1.0, min(loads)):.0%} of the CPU). Per-run load averages are in "
        "the tables; absolute numbers on an idle machine are higher, the MFU column is more stable because the "
        "peak is measured in the same process under the same load.",
        "",
        "## How the numbers are defined",
        "",
        "- **images/s**: batch × timed steps / their wall time, after the warm-up steps (the first traces the "
        "`tf.function`), losses fetched every step as `caae-tf train` does; a fixed random batch, so the input "
        "pipeline is excluded (see *Input pipeline*).",
        "- **FLOPs** are analytic (`caae_tf/flops.py`): 2 × Conv/Dense MACs from the layer shapes; backward = 2 × "
        "forward for trained nets, 1 × forward (input gradients only) through the frozen identity network; the "
        "CAAE step counts E, G, D_img × 2 (real + fake), D_z × 2, the E+G loss's extra pass through D_img/D_z, "
        "and φ on 16 real (forward) + 16 generated (forward + input-gradient) images; the cGAN step is "
        "B·(4·F_G + 8·F_D). BatchNorm, activations, resizes and optimizer updates are not counted.",
        "- **peak** = the best FLOP/s of n×n matmuls (n = 1024, 2048, 4096, best of 5) in the run's compute dtype, "
        "measured in the same process right after the model; **MFU** = achieved FLOP/s ÷ that peak.",
        "",
    ]

    train = [r for r in results if r["subject"].startswith("train")]
    if train:
        lines += [
            "## Training step",
            "",
            "| run | px | batch | dtype | XLA | images/s | s/step | GFLOP/step | achieved GFLOP/s | peak GFLOP/s | "
            "MFU | peak RSS MiB | load |",
            "|---|---|---|---|---|---|---|---|---|---|---|---|---|",
        ]
        for r in train:
            lines.append(
                f"| {r.get('label', r['subject'])} | {r['image_size']} | {r['batch_size']} | {_prec(r)} | "
                f"{'on' if r['xla'] else 'off'} | {r['images_per_s']:.2f} | {r['step_time_s_mean']:.2f} | "
                f"{_g(r['flops_per_step'], 0)} | {_g(r['achieved_flops'])} | {_g(r['peak_flops'])} | "
                f"{r['mfu']:.2f} | {r['peak_rss_mb']:.0f} | {r['load_avg_start'][0]:.1f} |"
            )
        lines.append("")
        caae = [r for r in train if r["subject"] == "train-caae" and r["preset"] == "paper"]
        if caae:
            f = caae[0]["flops_terms"]
            tot = caae[0]["flops_per_step"]
            lines += ["Paper CAAE step, FLOPs by term (batch 49; φ = VGG-Face at "
                      "224 px up to conv5_2, 29.8 GFLOP per image):", ""]
            lines += [f"- {k}: {v / 1e9:.0f} GFLOP ({v / tot:.0%})" for k, v in f.items() if v]
            lines.append("")
        by = {(r["subject"], r["preset"], _prec(r), r["xla"]): r for r in train}
        notes = []
        for preset in ("paper", "demo", "tiny"):
            a, b = by.get(("train-caae", preset, "fp32", False)), by.get(("train-caae", preset, "bf16", False))
            if a and b:
                notes.append(f"- bf16 vs fp32, CAAE {preset}: {b['images_per_s'] / a['images_per_s']:.2f}× the "
                             f"images/s (MFU {a['mfu']:.2f} → {b['mfu']:.2f}).")
            for p in ("bf16", "fp32"):
                off, on = by.get(("train-caae", preset, p, False)), by.get(("train-caae", preset, p, True))
                if off and on:
                    notes.append(f"- XLA on vs off, CAAE {preset} {p}: {on['images_per_s']:.2f} vs "
                                 f"{off['images_per_s']:.2f} images/s "
                                 f"({on['images_per_s'] / off['images_per_s']:.2f}×); first (tracing/compiling) "
                                 f"step {on['first_step_s']:.1f} s vs {off['first_step_s']:.1f} s.")
        if any(r["xla"] for r in train):
            notes.append("- fp32 with XLA is not in the set: one such demo run had not finished its warm-up steps "
                         "after 11 min (load average 16) and was stopped; XLA-compiled train steps are much slower "
                         "than the oneDNN graph on this CPU, which is why `jit_compile` defaults to false.")
        if notes:
            lines += ["Comparisons:", "", *notes, ""]

    data = [r for r in results if r["subject"] == "data"]
    if data:
        lines += ["## Input pipeline (tf.data from TFRecords) vs the train step", "",
                  "| px | batch | pipeline images/s | train step consumes images/s | headroom | records | load |",
                  "|---|---|---|---|---|---|---|"]
        for r in data:
            lines.append(f"| {r['image_size']} | {r['batch_size']} | {r['data_images_per_s']:.0f} | "
                         f"{r['consumer_images_per_s']:.2f} ({r['consumer']}) | {r['headroom']:.0f}× | "
                         f"{r['records']} | {r['load_avg_start'][0]:.1f} |")
        lines += ["", "Both sides measured alone; in training they share the same cores, so the pipeline's share "
                  "of the CPU is roughly 1 / headroom.", ""]

    inf = [r for r in results if r["subject"] in ("edit", "generate")]
    if inf:
        lines += ["## Exported SavedModels (`serving_default`, uint8 in/out, random weights)", "",
                  "| run | device | px | dtype | batch-1 p50 ms | batch-1 p95 ms | batch | images/s | GFLOP/image | "
                  "achieved GFLOP/s | peak GFLOP/s | MFU | load |",
                  "|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
        for r in inf:
            for dev, d in [("CPU", r)] + ([("GPU", r["gpu"])] if "gpu" in r else []):
                lines.append(
                    f"| {r.get('label', r['subject'])} | {dev} | {r['image_size']} | {_prec(r)} | "
                    f"{d['latency_ms_p50']:.1f} | {d['latency_ms_p95']:.1f} | {d['batch']} | "
                    f"{d['images_per_s']:.1f} | {_g(d['flops_per_image'], 2)} | {_g(d['achieved_flops'])} | "
                    f"{_g(d['peak_flops'])} | {d['mfu']:.2f} | {r['load_avg_start'][0]:.1f} |")
        lines += ["", "edit = E + G (paper 000 §III-C); generate = cGAN G (paper 001) at 256 px.", ""]

    lines += ["## Commands", "", "```"]
    lines += [r["command"] for r in results]
    lines += ["```", "", f"Host: {platform.node() or 'n/a'}; total wall time of the set: "
              f"{sum(r.get('wall_s', 0) for r in results) / 60:.1f} min (CPU time was shared with other jobs).", ""]
    return "\n".join(lines)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--render", action="store_true", help="only re-render RESULTS.md from results.jsonl")
    ap.add_argument("--quick", action="store_true", help="tiny shapes (smoke test)")
    ap.add_argument("--continue", dest="resume", action="store_true",
                    help="keep the runs already in results.jsonl and run only the missing ones")
    args = ap.parse_args(argv)
    if args.render:
        with open(JSONL, encoding="utf-8") as fh:
            results = [json.loads(ln) for ln in fh if ln.strip()]
    else:
        results = run_all(args.quick, args.resume)
    with open(MD, "w", encoding="utf-8") as fh:
        fh.write(render(results))
    print(f"wrote {MD}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
