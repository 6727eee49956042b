"""Markdown table of the cGAN training modes measured with experiments/cgan_targets.py (one targets.json each).

    python experiments/cgan_modes_table.py runs/c13/targets_base runs/c13/targets_ac1 ...
    python experiments/cgan_modes_table.py --relative-to cgan_demo runs/c14/targets_base runs/c14/targets_cbn ...
    python experiments/cgan_modes_table.py --relative-to experiments/results/cgan/cgan_demo_4000_steps.yaml ...

Columns: the mode's config overrides (from the run's config.yaml, beyond-paper keys and d_mismatch_weight),
max |generated − real reading| at α = 1 over the five emotions and both axes, the same for Neutral at α = 0,
happiness at α = 1, min Spearman |ρ| on the dominant axes, identity distance along rows (α = 0 vs 1, same z)
and the images' high-frequency energy (mean |Laplacian|, real training images ≈ 0.145).
"""

from __future__ import annotations

import json
import os
import sys

import numpy as np
import yaml

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
KEYS = ("d_mismatch_weight", "lambda_ac", "d_projection", "spectral_norm", "d_joint_batch", "g_upsample", "lambda_r1",
        "g_conditional_bn", "g_label_every_scale", "lr_decay", "batch_size", "d_filters", "seed",
        "g_ema_decay", "g_filters", "steps", "g_skip_rgb", "d_augment", "g_output_block", "ac_fake_class",
        "ac_mismatch", "ac_separate_trunk", "lambda_spectral", "lambda_fm", "d_blur_negative", "d_blur_sigma",
        "d_local_contrast", "lambda_va_match", "va_match_features", "va_network", "d_minibatch_std", "lambda_ms",
        "ac_twin", "lambda_pixel_match", "pixel_match_size", "mixed_precision")


def hf_energy(model: str, raw_g: bool, n: int = 60, checkpoint: str | None = None) -> float:
    from judge_blur import hf_energy as mean_abs_laplacian

    from caae_tf.generate import CGANSampler

    g = CGANSampler(model, checkpoint=checkpoint)
    if raw_g:
        g._model.G_ema = None
    x = g.generate(g.sample_z(n, 0), np.eye(6, dtype=np.float32)[np.arange(n) % 6])
    return mean_abs_laplacian(x)


def main(argv) -> int:
    import argparse

    p = argparse.ArgumentParser(description="Markdown table of cGAN training modes (cgan_targets.py outputs).")
    p.add_argument("targets", nargs="+", help="directories holding a targets.json of experiments/cgan_targets.py")
    p.add_argument("--per-emotion", action="store_true", help="add each emotion's max |error| at alpha = 1")
    p.add_argument("--show-steps", action="store_true",
                   help="with --relative-to: name steps too when they differ from the preset")
    p.add_argument("--relative-to", default=None,
                   help="name only the keys that differ from this preset (a name such as cgan_demo, or a .yaml)")
    args = p.parse_args(argv)
    per_emotion = args.per_emotion
    for d in args.targets:
        if not os.path.isfile(os.path.join(d, "targets.json")):
            p.error(f"{d}: no targets.json (write one with experiments/cgan_targets.py --out {d})")
    base = None
    if args.relative_to:
        from caae_tf.config import load_config

        rel = args.relative_to
        path = rel if rel.endswith(".yaml") else os.path.join(ROOT, "caae_tf", "presets", f"{rel}.yaml")
        base = load_config(path).to_dict()
        # keys a config leaves out are at their default (beyond-paper keys at default are not written)
        import dataclasses

        from caae_tf.config import CGANConfig

        default_cfg = CGANConfig()
        defaults = {f.name: getattr(default_cfg, f.name) for f in dataclasses.fields(default_cfg)}
        base = {**defaults, **base}
    emo = ("sadness", "disgust", "fear", "anger", "happiness")
    extra = "".join(f" {e} |" for e in emo) if per_emotion else ""
    print(r"| mode | max err. α = 1 |" + extra + r" err. Neutral α = 0 | happiness α = 1 | min Spearman \|ρ\| "
          r"| identity row | HF energy |")
    print("|---|---|---|---|---|---|---|" + ("---|" * len(emo) if per_emotion else ""))
    for d in args.targets:
        with open(os.path.join(d, "targets.json"), encoding="utf-8") as fh:
            r = json.load(fh)
        with open(os.path.join(r["model"], "config.yaml"), encoding="utf-8") as fh:
            cfg = yaml.safe_load(fh)
        if base is not None:
            cfg = {**defaults, **cfg}
            mode = ", ".join(f"{k}={cfg.get(k)}" for k in KEYS
                             if (k != "steps" or args.show_steps) and cfg.get(k) != base.get(k)
                             and not (k == "seed" and cfg.get(k) in (None, 0)))
            mode = mode or "(the preset)"
        else:
            mode = ", ".join(f"{k}={cfg[k]}" for k in KEYS if k in cfg and cfg[k] not in (0, 0.0, False, "transposed")
                             and k not in ("lr_decay", "batch_size", "d_filters", "seed")
                             and not (k == "g_filters" and cfg[k] == [128, 64, 32, 16]))
        mode += "" if r["ema"] else " (G, not G_ema)"
        mode += f" (z truncated at {r['truncation']})" if r.get("truncation") else ""
        mode += f" (read at {os.path.basename(r['checkpoint'])})" if r.get("checkpoint") else ""
        err1 = max(max(e["error"]) for e in r["emotions"].values())
        h = r["emotions"]["happiness"]["generated"]
        rho = min(abs(e["rho"]) for e in r["emotions"].values())
        ident = r.get("identity", {}).get("row_mean")
        hf = hf_energy(r["model"], not r["ema"], checkpoint=r.get("checkpoint"))
        cols = "".join(f" {max(r['emotions'][e]['error']):.2f} |" for e in emo) if per_emotion else ""
        print(f"| {mode} | {err1:.2f} |{cols} {max(r['neutral']['error']):.2f} | ({h[0]:.2f}, {h[1]:.2f}) "
              f"| {rho:.2f} | "
              f"{'' if ident is None else f'{ident:.3f}'} | {hf:.3f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
