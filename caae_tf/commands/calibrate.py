"""``caae-tf calibrate``: measure a cGAN's interpolation paths with a VA regressor and store lookup tables."""

from __future__ import annotations

HELP = "calibrate a cGAN's label interpolation with a valence/arousal regressor (beyond paper 001)"
DESCRIPTION = (
    "Beyond paper 001 (whose discussion notes that the judged valence/arousal bend along the interpolation and "
    "that step sizes could be adapted): generates --num-z faces for every conditioning vector on the "
    "Neutral->emotion and emotion->emotion paths (patches between emotions adjacent in the judged circumplex), "
    "reads their (valence, arousal) with --regressor, makes the tables monotone along every path and stores "
    "them with the model: RUN/calibration.json for a run dir (picked up by `caae-tf export cgan`), or inside a "
    "SavedModel (assets/calibration.json and the signatures va_to_weights(valence_arousal) and "
    "generate_va(z, valence_arousal)). Then `caae-tf generate --valence V --arousal A` reaches the target. "
    "The regressor must not have been used to train the cGAN (no cGAN mode uses one). Unless --no-eval, "
    "the reach is measured on a grid of reachable targets with other noise vectors, beside the uncalibrated "
    "circumplex-mixture mapping. Report, tables CSV and figure go to --out (default RUN/calibration/ or "
    "SAVEDMODEL/assets.extra/calibration/)."
)


def add_arguments(p) -> None:
    p.add_argument("--model", required=True, metavar="RUN_OR_SAVEDMODEL", help="cGAN run dir or SavedModel dir")
    p.add_argument("--regressor", required=True, metavar="RUN_DIR",
                   help="train-regressor run dir used to judge (valence, arousal); never one used in cGAN training")
    p.add_argument("--num-z", type=int, default=100, help="noise vectors per conditioning vector (default 100)")
    p.add_argument("--seed", type=int, default=12345, help="seed of the calibration noise vectors")
    p.add_argument("--alpha-steps", type=int, default=11, help="grid steps along Neutral->mixture (default 11)")
    p.add_argument("--beta-steps", type=int, default=6, help="grid steps along emotion->emotion (default 6)")
    p.add_argument("--eval-step", type=float, default=0.1, help="target grid spacing of the evaluation")
    p.add_argument("--eval-num-z", type=int, default=50, help="noise vectors per evaluation target")
    p.add_argument("--eval-seed", type=int, default=777, help="seed of the evaluation noise vectors")
    p.add_argument("--no-eval", action="store_true", help="skip the evaluation")
    p.add_argument("--data", metavar="SRC", default=None,
                   help="optional: the cGAN's labelled training images; the regressor's mean reading per class "
                        "is added to the report and figure (what the classes look like to this regressor)")
    p.add_argument("--batch-size", type=int, default=256, help="images per forward pass")
    p.add_argument("--out", default=None, metavar="DIR", help="report folder (see above)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")


def run(args) -> int:
    import json
    import os
    import time

    from caae_tf import calibration as K
    from caae_tf.errors import UserError
    from caae_tf.generate import CGANSampler
    from caae_tf.progress import Progress
    from caae_tf.regressor_train import load_regressor

    for name, least in (("num_z", 2), ("eval_num_z", 2), ("alpha_steps", 2), ("beta_steps", 2), ("batch_size", 1)):
        if getattr(args, name) < least:
            raise UserError(f"--{name.replace('_', '-')} must be >= {least}, got {getattr(args, name)}")
    if not 0 < args.eval_step <= 1:
        raise UserError(f"--eval-step must be in (0, 1], got {args.eval_step}")
    generator = CGANSampler(args.model)
    regressor = load_regressor(args.regressor)
    saved = generator.kind == "savedmodel"
    out = args.out or (os.path.join(args.model, "assets.extra", "calibration") if saved
                       else os.path.join(args.model, "calibration"))
    os.makedirs(out, exist_ok=True)
    reg_info = {"run_dir": os.path.abspath(args.regressor), "arch": regressor.arch, "image_size": regressor.image_size}
    reg_cfg = os.path.join(args.regressor, "config.yaml")
    if os.path.isfile(reg_cfg):
        with open(reg_cfg, encoding="utf-8") as fh:
            for line in fh:
                if line.startswith("#   data:"):
                    reg_info["trained_on"] = line.split(":", 1)[1].strip()

    n_cond = 6 + 5 * (args.alpha_steps - 1) * args.beta_steps
    bar = Progress(n_cond * args.num_z, f"calibrating: <= {n_cond} conditioning vectors x {args.num_z} z",
                   enabled=not args.quiet, unit="image")
    t0 = time.time()
    tables = K.calibrate(generator, regressor, num_z=args.num_z, seed=args.seed, alpha_steps=args.alpha_steps,
                         beta_steps=args.beta_steps, batch_size=args.batch_size,
                         meta={"regressor": reg_info, "model": os.path.abspath(args.model)}, progress=bar.update)
    bar.close()
    tables.meta["seconds"] = round(time.time() - t0, 1)
    report = {"tables": {"pairs": tables.to_dict()["pairs"], "neutral_va": tables.to_dict()["neutral_va"],
                         "max_adjustment": tables.max_adjustment, "monotone": tables.is_monotone()},
              "regressor": reg_info, "command": "caae-tf " + " ".join(_argv())}
    if args.data:
        report["real"] = real_readings(args.data, regressor, generator.image_size)
    if not args.no_eval:
        n_eval = len(K.target_grid(args.eval_step)) * 2 * args.eval_num_z
        bar = Progress(n_eval, "evaluating reach (calibrated vs uncalibrated)", enabled=not args.quiet, unit="image")
        ev = K.evaluate(generator, regressor, tables, step=args.eval_step, num_z=args.eval_num_z,
                        seed=args.eval_seed, batch_size=args.batch_size, progress=bar.update)
        bar.close()
        rows = ev.pop("rows")
        report["evaluation"] = ev
        tables.meta["evaluation"] = {k: ev[k] for k in ("calibrated", "uncalibrated", "num_targets", "step")}
        _write_csv(os.path.join(out, "evaluation.csv"), rows)
    else:
        rows = []
    if saved:
        from caae_tf.export.cgan import add_calibration_to_saved_model

        add_calibration_to_saved_model(args.model, tables)
        where = f"{args.model} (assets/{K.CALIBRATION_FILE}, signatures va_to_weights, generate_va)"
    else:
        tables.save(os.path.join(args.model, K.CALIBRATION_FILE))
        where = f"{os.path.join(args.model, K.CALIBRATION_FILE)} (exported by `caae-tf export cgan`)"
    _write_csv(os.path.join(out, "tables.csv"), table_rows(tables))
    with open(os.path.join(out, "report.json"), "w", encoding="utf-8") as fh:
        json.dump(report, fh, indent=2, default=float)
    fig = plot_calibration(tables, rows, os.path.join(out, "calibration.png"), real=report.get("real"))
    print(f"calibration tables: {where}")
    print("pairs (adjacent in the judged circumplex): "
          + ", ".join(f"{a}-{b}" for a, b in report["tables"]["pairs"])
          + f"; Neutral reads ({tables.neutral_va[0]:.3f}, {tables.neutral_va[1]:.3f}); monotone adjustment "
          f"<= {tables.max_adjustment:.3f}")
    if "evaluation" in report:
        ev = report["evaluation"]
        print(f"reach on {ev['num_targets']} reachable grid targets (step {ev['step']}, {ev['num_z']} z each):")
        for name in ("calibrated", "uncalibrated"):
            r = {k: ("n/a" if v is None else f"{v:.3f}") for k, v in ev[name].items()}
            print(f"  {name:<12} RMSE of the mean (v, a) {r['rmse_mean']} (valence {r['rmse_mean_valence']}, "
                  f"arousal {r['rmse_mean_arousal']}; max {r['max_error_mean']}); per image {r['rmse_images']}")
    print(f"report: {out}/report.json, tables.csv, evaluation.csv, {os.path.basename(fig)}")
    return 0


def _argv() -> list[str]:
    import shlex
    import sys

    args = sys.argv[1:]
    if args and args[0] != "calibrate" and "calibrate" in args:
        args = args[args.index("calibrate"):]
    return [shlex.quote(a) for a in args]


def _write_csv(path: str, rows: list[dict]) -> None:
    import pandas as pd

    pd.DataFrame(rows).to_csv(path, index=False, float_format="%.5f")


def table_rows(tables) -> list[dict]:
    from caae_tf import labels as L

    rows = []
    for p, (i, j) in enumerate(tables.pairs):
        for ia, a in enumerate(tables.alphas):
            for ib, b in enumerate(tables.betas):
                rows.append({"from": L.CGAN_EMOTIONS[i], "to": L.CGAN_EMOTIONS[j], "alpha": a, "beta": b,
                             "valence_raw": tables.va_raw[p, ia, ib, 0], "arousal_raw": tables.va_raw[p, ia, ib, 1],
                             "valence": tables.va[p, ia, ib, 0], "arousal": tables.va[p, ia, ib, 1],
                             **({"sd_valence": tables.sd[p, ia, ib, 0], "sd_arousal": tables.sd[p, ia, ib, 1]}
                                if tables.sd is not None else {})})
    return rows


def real_readings(source: str, regressor, image_size: int, batch: int = 256) -> dict:
    """The regressor's mean (v, a) of the real images of ``source`` per cGAN class (+ the labels' mean)."""
    import numpy as np

    from caae_tf import images as _images
    from caae_tf import labels as L
    from caae_tf.data.table import label_arrays, load_table

    df, _ = load_table(source, require=("emotion",))
    arrays = label_arrays(df)
    out = {}
    for c, name in enumerate(L.CGAN_EMOTIONS):
        idx = np.flatnonzero(arrays["emotion"] == c)
        if not len(idx):
            continue
        preds = []
        for s in range(0, len(idx), batch):
            imgs = np.stack([_images.to_float(_images.center_crop_resize(
                _images.decode_image(df["image_bytes"].iloc[k]), image_size)) for k in idx[s:s + batch]])
            preds.append(regressor.predict_va(imgs))
        p = np.concatenate(preds)
        out[name] = {"n": int(len(idx)), "judged": p.mean(0).round(4).tolist(),
                     "labels": np.nanmean(arrays["va"][idx], 0).round(4).tolist(),
                     "circumplex": list(L.circumplex_va(name))}
    return out


def plot_calibration(tables, eval_rows: list[dict], path: str, real: dict | None = None) -> str:
    """Left: the tables in the (valence, arousal) plane (raw dashed, monotone solid, mesh faint); right: reach
    of the calibrated and uncalibrated mappings (arrow from each target to the mean judged reading)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    from caae_tf import labels as L

    n_panels = 3 if eval_rows else 1
    fig, axes = plt.subplots(1, n_panels, figsize=(4.6 * n_panels, 4.6), squeeze=False)
    ax = axes[0][0]
    colors = dict(zip(L.EXTREME_EMOTIONS, ("tab:blue", "tab:olive", "tab:purple", "tab:red", "tab:orange")))
    for p, (i, j) in enumerate(tables.pairs):
        g, raw = tables.va[p], tables.va_raw[p]
        for ia in range(1, g.shape[0]):
            ax.plot(g[ia, :, 0], g[ia, :, 1], color="0.85", lw=0.6)
        for ib in range(g.shape[1]):
            ax.plot(g[:, ib, 0], g[:, ib, 1], color="0.85", lw=0.6)
        ax.plot(raw[-1, :, 0], raw[-1, :, 1], "k--", lw=0.8)
        ax.plot(g[-1, :, 0], g[-1, :, 1], "k-", lw=1.2)
        for col, e in ((0, i), (-1, j)):
            name = L.CGAN_EMOTIONS[e]
            ax.plot(raw[:, col, 0], raw[:, col, 1], "--", color=colors[name], lw=0.8)
            ax.plot(g[:, col, 0], g[:, col, 1], "-o", color=colors[name], ms=2, lw=1.4,
                    label=name if col == 0 else None)
    ax.plot(*tables.neutral_va, "ks", ms=5, label="neutral (α=0)")
    if real:
        for name, r in real.items():
            ax.plot(*r["judged"], "x", color=colors.get(name, "k"), ms=8, mew=2)
            ax.plot(*r["circumplex"], "o", mfc="none", color=colors.get(name, "k"), ms=8)
    ax.set_title("calibration tables (solid: monotone, dashed: raw)\nx: real images of the class, o: drawn at",
                 fontsize=8)
    for a in axes[0]:
        a.set_xlim(-1, 1)
        a.set_ylim(-1, 1)
        a.set_aspect("equal")
        a.axhline(0, color="0.7", lw=0.5)
        a.axvline(0, color="0.7", lw=0.5)
        a.set_xlabel("valence")
    ax.set_ylabel("arousal")
    ax.legend(fontsize=6, loc="lower left")
    for k, name in enumerate(("calibrated", "uncalibrated")):
        if not eval_rows:
            break
        a = axes[0][k + 1]
        rows = [r for r in eval_rows if r["mapping"] == name]
        t = np.array([[r["target_valence"], r["target_arousal"]] for r in rows]).reshape(-1, 2)
        m = np.array([[r["judged_valence"], r["judged_arousal"]] for r in rows]).reshape(-1, 2)
        a.plot(t[:, 0], t[:, 1], "k.", ms=3)
        for tt, mm in zip(t, m):
            a.annotate("", xy=mm, xytext=tt, arrowprops={"arrowstyle": "->", "color": "tab:green" if k == 0 else
                                                         "tab:red", "lw": 0.7})
        rmse = float(np.sqrt(np.mean(np.sum((m - t) ** 2, 1)))) if len(t) else float("nan")
        a.set_title(f"{name}: target (dot) → mean judged (arrow tip)\nRMSE {rmse:.3f} over {len(t)} targets",
                    fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path
