"""``caae-tf bench``: JSON schema of the train/edit/data benchmarks at tiny shapes; config precedence."""

from __future__ import annotations

import json

import pytest

from caae_tf.cli import main

ENV_KEYS = ("subject", "preset", "tensorflow", "keras", "device", "cpu_model", "cpu_count", "intra_op_threads",
            "inter_op_threads", "load_avg_start", "load_avg_end", "policy", "compute_dtype", "xla", "batch_size",
            "image_size", "peak_rss_mb", "timestamp")


@pytest.fixture(autouse=True)
def _restore_policy():
    """The bench sets the global Keras dtype policy (auto → bf16 on AMX CPUs); restore it for other tests."""
    import keras

    before = keras.mixed_precision.global_policy().name
    yield
    keras.mixed_precision.set_global_policy(before)


def _run(capsys, argv) -> dict:
    assert main(argv) == 0
    lines = [ln for ln in capsys.readouterr().out.splitlines() if ln.strip()]
    assert len(lines) == 1, "bench must print exactly one JSON line on stdout"
    return json.loads(lines[0])


def _positive(result: dict, keys) -> None:
    for k in keys:
        assert isinstance(result[k], (int, float)) and result[k] > 0, (k, result[k])


def test_train_caae_tiny_schema(capsys, tmp_path):
    out = tmp_path / "r.jsonl"
    r = _run(capsys, ["bench", "train-caae", "--preset", "tiny", "--steps", "2", "--warmup", "1",
                      "--peak-size", "256", "--peak-repeats", "2", "--quiet", "--out", str(out)])
    for k in ENV_KEYS + ("images_per_s", "flops_per_step", "flops_per_image", "achieved_flops", "peak_flops", "mfu",
                         "step_times_s", "steps", "warmup"):
        assert k in r, k
    assert r["subject"] == "train-caae" and r["preset"] == "tiny"
    assert (r["batch_size"], r["image_size"], r["steps"], r["warmup"]) == (4, 32, 2, 1)
    assert len(r["step_times_s"]) == 2
    _positive(r, ("images_per_s", "flops_per_step", "flops_per_image", "achieved_flops", "peak_flops",
                  "peak_rss_mb", "step_time_s_mean"))
    assert 0 < r["mfu"] < 1.5
    assert r["images_per_s"] == pytest.approx(4 / r["step_time_s_mean"])
    assert r["achieved_flops"] == pytest.approx(r["flops_per_step"] / r["step_time_s_mean"])
    assert r["flops_per_step"] == sum(r["flops_terms"].values())
    assert r["xla"] is False
    assert all(v == v for v in r["final_losses"].values())  # finite-ish (not NaN)
    # --out appends the same JSON line
    assert json.loads(out.read_text().strip()) == r


def test_edit_tiny_schema(capsys):
    r = _run(capsys, ["bench", "edit", "--preset", "tiny", "--calls", "5", "--inference-batch", "8",
                      "--precision", "float32", "--peak-size", "256", "--peak-repeats", "2", "--quiet"])
    for k in ENV_KEYS + ("latency_ms_p50", "latency_ms_p95", "images_per_s", "flops_per_image", "achieved_flops",
                         "peak_flops", "mfu", "devices"):
        assert k in r, k
    assert r["policy"] == "float32" and r["peak_dtype"] == "float32"
    assert r["batch_size"] == 8 and r["devices"][0] == "cpu"
    _positive(r, ("latency_ms_p50", "latency_ms_p95", "images_per_s", "flops_per_image", "achieved_flops",
                  "peak_flops"))
    assert r["latency_ms_p95"] >= r["latency_ms_p50"]
    assert 0 < r["mfu"] < 1.5
    # tiny E + G forward, hand-computed from the tiny preset's layer shapes (32 px)
    e = 16 * 16 * 4 * 25 * 3 + 8 * 8 * 8 * 25 * 4 + 4 * 4 * 8 * 25 * 8 + 2 * 2 * 16 * 25 * 8 + 2 * 2 * 16 * 8
    g = 16 * 4 * 16 + (2 * 2 * 16 * 16 + 4 * 4 * 16 * 8 + 8 * 8 * 8 * 8 + 16 * 16 * 8 * 4 + 32 * 32 * 4 * 4
                       + 32 * 32 * 4 * 3) * 25
    assert r["flops_per_image"] == 2 * (e + g)


def test_data_headroom_with_given_consumer(tmp_path):
    from caae_tf.bench import bench_data, make_synthetic_records, resolve_bench_config

    records = make_synthetic_records(str(tmp_path), n=24, size=40)
    cfg = resolve_bench_config("caae", "tiny")
    r = bench_data(cfg, records=records, batches=3, warmup=1, consumer_ips=10.0)
    assert r["data_images_per_s"] > 0
    assert r["consumer_images_per_s"] == 10.0
    assert r["headroom"] == pytest.approx(r["data_images_per_s"] / 10.0)


def test_config_precedence_and_errors(tmp_path):
    from caae_tf.bench import BenchError, resolve_bench_config
    from caae_tf.config import ConfigError

    demo = resolve_bench_config("caae", "demo")  # the demo's own preset (caae_tf/presets/caae_demo.yaml)
    from caae_tf import presets

    assert demo == presets.load("caae_demo") and demo.image_size == 64
    paper = resolve_bench_config("cgan", "paper", image_size=128, precision="float32", jit=True)
    assert (paper.image_size, paper.batch_size, paper.mixed_precision, paper.jit_compile) == (128, 64, "float32", True)
    f = tmp_path / "c.yaml"
    f.write_text("model: caae\nbatch_size: 7\nz_dim: 5\n")
    c = resolve_bench_config("caae", "tiny", str(f), ["z_dim=6"], batch_size=3)
    assert (c.image_size, c.z_dim, c.batch_size) == (32, 6, 3)  # preset < file < --set < --batch-size
    with pytest.raises(BenchError, match="preset"):
        resolve_bench_config("caae", "huge")
    with pytest.raises(ConfigError, match="cgan"):
        resolve_bench_config("cgan", "paper", str(f))


def test_bad_subject_is_a_usage_error(capsys):
    with pytest.raises(SystemExit):
        main(["bench", "train-everything"])
