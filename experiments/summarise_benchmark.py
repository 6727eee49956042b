"""Summarise the synthetic-ground-truth benchmark (experiments/synthetic_benchmark.sh) as markdown."""

from __future__ import annotations

import argparse
import json
import os
import platform

TARGETS = ("CAAE edits: valence and arousal CCC ≥ 0.9 and SAGR ≥ 0.95; "
           "cGAN curves: Spearman ≥ 0.95 for all five emotions")


def _table(columns: dict, digits: int = 3) -> str:
    titles = list(columns)
    out = ["| metric | " + " | ".join(titles) + " |", "|---|" + "---|" * len(titles)]
    for m in ("rmse", "sagr", "ccc"):
        out.append(f"| {m.upper()} | " + " | ".join(f"{columns[t][m]:.{digits}f}" for t in titles) + " |")
    return "\n".join(out)


def _load(path: str):
    if not os.path.exists(path):
        return None
    with open(path, encoding="utf-8") as fh:
        return json.load(fh)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--results", required=True)
    ap.add_argument("--regressor", required=True)
    ap.add_argument("--demo", required=True)
    ap.add_argument("--seconds", type=int, default=0)
    a = ap.parse_args()
    lines = ["# Synthetic-ground-truth benchmark", "",
             f"Machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores; "
             f"chain wall time after the two demos: {a.seconds} s. "
             "Reproduce: `bash experiments/synthetic_benchmark.sh`.",
             "", f"Targets (issue): {TARGETS}.", ""]
    demo = _load(a.demo)
    if demo:
        lines += ["## CAAE demo (held-out identities, analysis-by-synthesis read-back)", "",
                  _table({"valence": demo["heldout_edit_scores"]["valence"],
                          "arousal": demo["heldout_edit_scores"]["arousal"]}), "",
                  f"Label-ignoring baseline CCC: valence {demo['label_ignoring_baseline']['valence']['ccc']:.3f}, "
                  f"arousal {demo['label_ignoring_baseline']['arousal']['ccc']:.3f}. "
                  f"Demo wall time {demo['seconds']['total']:.0f} s, {demo['caae_steps']} CAAE steps.", ""]
    t3 = _load(os.path.join(a.regressor, "table3.json"))
    if t3:
        lines += ["## Regressor (Table II CNN, width 1/4, 64 px) on its validation identities (Table III layout)", "",
                  _table({"valence": t3["metrics"]["valence"], "arousal": t3["metrics"]["arousal"]}), ""]
    t4 = _load(os.path.join(a.results, "table4", "table4.json"))
    if t4:
        c = t4["counts"]
        lines += [f"## Table IV on held-out identities ({c.get('num_images')} images × 49 labels, regressor read-back)",
                  "", _table(t4["table4"]), ""]
        ident = t4.get("identity") or {}
        if ident.get("count"):
            lines += [f"Identity preservation ({ident['metric']}): mean {ident['mean']:.3f}, "
                      f"{100 * ident['share_below_threshold']:.1f}% below {ident['threshold']:g}"
                      + (f" (between different inputs: {ident['baseline_between_inputs']:.3f})"
                         if ident.get("baseline_between_inputs") is not None else "") + ".", ""]
        ok = all(t4["table4"][k]["ccc"] >= 0.9 and t4["table4"][k]["sagr"] >= 0.95
                 for k in t4["table4"] if k.lower().startswith("all"))
        lines += [f"CAAE target met: **{'yes' if ok else 'no'}**.", ""]
    mono = _load(os.path.join(a.results, "curves", "monotonicity.json"))
    if mono:
        lines += ["## cGAN interpolation curves (Fig. 6) — monotonicity", "",
                  "| emotion | ρ valence | ρ arousal | dimension | expected sign | ρ on it | monotone |",
                  "|---|---|---|---|---|---|---|"]
        all_ok = True
        for emotion, m in mono["monotonicity"].items():
            all_ok &= bool(m["monotone"])
            lines.append(f"| {emotion} | {m['rho_valence']:.3f} | {m['rho_arousal']:.3f} | {m['monotone_dim']} | "
                         f"{m['expected_sign']:+d} | {m['rho_expected_dim']:.3f} | "
                         f"{'yes' if m['monotone'] else 'no'} |")
        lines += ["", f"cGAN target met: **{'yes' if all_ok else 'no'}**.", ""]
    figs = [p for p in ("curves/fig6.png", "heatmaps_celeba/heatmaps.png")
            if os.path.exists(os.path.join(a.results, p))]
    if figs:
        lines += ["Figures: " + ", ".join(f"`experiments/results/synthetic/{p}`" for p in figs), ""]
    print("\n".join(lines))


if __name__ == "__main__":
    main()
