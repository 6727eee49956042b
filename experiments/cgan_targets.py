"""Issue 13's targets for a trained cGAN, measured with networks the cGAN never used in training.

    python experiments/cgan_targets.py --model runs/cgan_demo/run --regressor runs/cgan_demo/regressor \
        --data runs/cgan_demo/data --identity runs/cgan_demo/identity --heldout runs/cgan_demo/heldout \
        --num-z 200 --out runs/cgan_demo/targets

Prints (and writes ``OUT/targets.json`` / ``OUT/targets.md``), with the command line that made them:

1. per emotion, the regressor's mean (v, a) of generated faces at α = 1 (and Neutral at α = 0), ``--num-z``
   noise vectors each, next to its mean reading of the real training images of that class and the (v, a)
   the class was drawn at; Spearman ρ of the Fig. 6 curve (11 steps) on the emotion's dominant axis
   (:func:`caae_tf.evaluation.curves.interpolation_curves`);
2. identity along rows: cosine distance (:mod:`caae_tf.evaluation.identity`) between G(z, Neutral) and
   G(z, emotion) for the same z, between two real images of one held-out synthetic identity with different
   expressions (Neutral vs each emotion), and between Neutral images of different held-out identities.

``--raw-g`` evaluates G instead of G_ema for a run trained with ``g_ema_decay`` (same checkpoint).
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import sys

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from caae_tf.evaluation.selection import TOL_ALPHA0, TOL_ALPHA1  # noqa: E402  (issue 13's tolerances, one home)

RHO = 0.95


def labelled_images(data: str, size: int = 64):
    """``(label arrays, images)`` of a labelled set (``labels.csv`` with ``emotion``): the table's
    :func:`~caae_tf.data.table.label_arrays` and its images as float [-1, 1], centre-cropped to ``size``."""
    from caae_tf import images as I
    from caae_tf.data.table import label_arrays, load_table

    df, _ = load_table(data, require=("emotion",))
    imgs = np.stack([I.to_float(I.center_crop_resize(I.decode_image(b), size)) for b in df["image_bytes"]])
    return label_arrays(df), imgs


def real_reading(data: str, regressor, identity=None, size: int = 64):
    """Per class: regressor's mean (v, a) on the real images, the labels' mean; plus the embeddings."""
    from caae_tf import labels as L

    arr, imgs = labelled_images(data, size)
    pred = regressor.predict_va(imgs)
    out = {}
    for c, name in enumerate(L.CGAN_EMOTIONS):
        m = arr["emotion"] == c
        out[name] = {"n": int(m.sum()), "judged": pred[m].mean(0).tolist(), "labels": arr["va"][m].mean(0).tolist(),
                     "circumplex": list(L.circumplex_va(name))}
    emb = np.asarray(identity.embed(imgs)) if identity is not None else None
    return out, arr, emb


def identity_references(arr, emb) -> dict:
    """Same identity, Neutral vs each other expression; different identities, Neutral vs Neutral."""
    from caae_tf.evaluation.identity import cosine_distance

    ident, emo = arr["identity"], arr["emotion"]
    same, diff = [], []
    neutral_rows = {}
    for i in np.unique(ident):
        rows = np.flatnonzero(ident == i)
        n = rows[emo[rows] == 0]
        if not len(n):
            continue
        neutral_rows[i] = n[0]
        others = rows[emo[rows] > 0]
        same.extend(cosine_distance(emb[np.full(len(others), n[0])], emb[others]).tolist())
    ids = sorted(neutral_rows)
    for a in range(len(ids)):
        for b in range(a + 1, len(ids)):
            diff.append(float(cosine_distance(emb[[neutral_rows[ids[a]]]], emb[[neutral_rows[ids[b]]]])[0]))
    return {"same_identity_different_expression": {"mean": float(np.mean(same)), "n": len(same)},
            "different_identities": {"mean": float(np.mean(diff)), "n": len(diff)}}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--model", required=True)
    p.add_argument("--regressor", required=True)
    p.add_argument("--data", required=True, help="the cGAN's training set (labels.csv with emotion)")
    p.add_argument("--identity", default=None, help="train-identity run dir (omit to skip identity)")
    p.add_argument("--heldout", default=None, help="held-out discrete set for the identity references")
    p.add_argument("--num-z", type=int, default=200)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--raw-g", action="store_true", help="evaluate G, not G_ema")
    p.add_argument("--checkpoint", default=None,
                   help="a checkpoint of the run dir --model (e.g. RUN/checkpoints/ckpt-5000; default: the latest)")
    p.add_argument("--truncation", type=float, default=None,
                   help="redraw z components with |z| > TAU (BigGAN's truncation trick; default: plain N(0, I))")
    p.add_argument("--out", default=None)
    args = p.parse_args(argv)
    command = "python " + " ".join(shlex.quote(a) for a in [os.path.relpath(__file__, ROOT), *sys.argv[1:]])

    from caae_tf import labels as L
    from caae_tf.evaluation.curves import interpolation_curves
    from caae_tf.generate import CGANSampler
    from caae_tf.regressor_train import load_regressor

    gen = CGANSampler(args.model, checkpoint=args.checkpoint)
    if args.raw_g:
        if gen.kind == "savedmodel" or getattr(gen._model, "G_ema", None) is None:
            raise SystemExit("--raw-g needs a run dir trained with g_ema_decay > 0")
        gen._model.G_ema = None
    gen.truncation = args.truncation
    reg = load_regressor(args.regressor)
    identity = None
    if args.identity:
        from caae_tf.models.vgg_face import load_identity_network

        identity = load_identity_network(args.identity)
    real, _, _ = real_reading(args.data, reg, None, gen.image_size)
    curves = interpolation_curves(gen, reg, args.num_z, seed=args.seed, progress=False)
    s = curves.summary
    res = {"command": command, "model": os.path.abspath(args.model), "regressor": os.path.abspath(args.regressor),
           "num_z": args.num_z, "ema": not args.raw_g,
           "checkpoint": args.checkpoint, "truncation": args.truncation, "emotions": {}}
    alpha0 = s[s["step"] == 0][["mean_valence", "mean_arousal"]].to_numpy().mean(0)  # same G(z, e_N) law, 5 z sets
    res["neutral"] = {"generated": alpha0.tolist(), "real": real["neutral"]["judged"],
                      "drawn": real["neutral"]["circumplex"],
                      "error": np.abs(alpha0 - real["neutral"]["judged"]).tolist()}
    for e in L.EXTREME_EMOTIONS:
        g = s[(s["emotion"] == e)].sort_values("step")
        last = g.iloc[-1][["mean_valence", "mean_arousal"]].to_numpy(np.float64)
        mono = curves.monotonicity[e]
        res["emotions"][e] = {"generated": last.tolist(), "real": real[e]["judged"], "drawn": real[e]["circumplex"],
                              "error": np.abs(last - np.array(real[e]["judged"])).tolist(),
                              "rho": mono["rho_expected_dim"], "dim": mono["monotone_dim"],
                              "rho_valence": mono["rho_valence"], "rho_arousal": mono["rho_arousal"]}
    ok1 = all(max(r["error"]) <= TOL_ALPHA1 for r in res["emotions"].values())
    ok0 = max(res["neutral"]["error"]) <= TOL_ALPHA0
    okr = all(abs(r["rho"]) >= RHO for r in res["emotions"].values())
    res["targets_met"] = {"alpha1_within_0.15": ok1, "alpha0_within_0.1": ok0, "spearman_0.95": okr}

    if identity is not None:
        from caae_tf.evaluation.identity import cosine_distance

        z = gen.sample_z(args.num_z, args.seed + 99)
        eye = np.eye(len(L.CGAN_EMOTIONS), dtype=np.float32)
        e0 = np.asarray(identity.embed(gen.generate(z, np.repeat(eye[:1], len(z), 0))))
        rows = {}
        for k, e in enumerate(L.EXTREME_EMOTIONS, start=1):
            ek = np.asarray(identity.embed(gen.generate(z, np.repeat(eye[k:k + 1], len(z), 0))))
            rows[e] = float(cosine_distance(e0, ek).mean())
        diff_z = float(cosine_distance(e0[:-1], e0[1:]).mean())
        ident = {"row_alpha0_vs_alpha1": rows, "row_mean": float(np.mean(list(rows.values()))),
                 "generated_different_z_neutral": diff_z}
        if args.heldout:
            _, harr, hemb = real_reading(args.heldout, reg, identity, gen.image_size)
            ident.update(identity_references(harr, hemb))
        res["identity"] = ident
        if "same_identity_different_expression" in ident:
            res["targets_met"]["identity_row_le_same_identity"] = (
                ident["row_mean"] <= ident["same_identity_different_expression"]["mean"])

    lines = [f"`{command}`", "", f"{args.num_z} noise vectors per emotion; {'G_ema' if res['ema'] else 'G'}; "
             f"regressor {args.regressor}", "",
             "| emotion | generated (v, a) | real images, regressor (v, a) | drawn at (v, a) | max abs error "
             "| Spearman ρ (axis) |",
             "|---|---|---|---|---|---|"]
    n = res["neutral"]
    lines.append(f"| neutral (α = 0) | ({n['generated'][0]:.2f}, {n['generated'][1]:.2f}) | ({n['real'][0]:.2f}, "
                 f"{n['real'][1]:.2f}) | ({n['drawn'][0]:.2f}, {n['drawn'][1]:.2f}) | {max(n['error']):.2f} | |")
    for e, r in res["emotions"].items():
        lines.append(f"| {e} | ({r['generated'][0]:.2f}, {r['generated'][1]:.2f}) | ({r['real'][0]:.2f}, "
                     f"{r['real'][1]:.2f}) | ({r['drawn'][0]:.2f}, {r['drawn'][1]:.2f}) | {max(r['error']):.2f} | "
                     f"{r['rho']:.3f} ({r['dim']}) |")
    if "identity" in res:
        i = res["identity"]
        lines += ["", "| identity distance (cosine) | mean |", "|---|---|"]
        for e, d in i["row_alpha0_vs_alpha1"].items():
            lines.append(f"| same z, α = 0 vs α = 1 ({e}) | {d:.3f} |")
        lines.append(f"| same z, α = 0 vs α = 1 (all five) | {i['row_mean']:.3f} |")
        if "same_identity_different_expression" in i:
            lines.append(f"| real, same identity, Neutral vs other expression (held-out) | "
                         f"{i['same_identity_different_expression']['mean']:.3f} |")
            lines.append(f"| real, different identities, Neutral vs Neutral (held-out) | "
                         f"{i['different_identities']['mean']:.3f} |")
        lines.append(f"| generated, different z, both Neutral | {i['generated_different_z_neutral']:.3f} |")
    lines += ["", "targets met: " + ", ".join(f"{k}={v}" for k, v in res["targets_met"].items())]
    text = "\n".join(lines)
    print(text)
    if args.out:
        os.makedirs(args.out, exist_ok=True)
        with open(os.path.join(args.out, "targets.json"), "w", encoding="utf-8") as fh:
            json.dump(res, fh, indent=2, default=float)
        with open(os.path.join(args.out, "targets.md"), "w", encoding="utf-8") as fh:
            fh.write(text + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
