"""Paper 001 §4.3 / Fig. 6: valence and arousal along the Neutral → emotion interpolation, plus checks.

For each of the five extreme emotions (Sadness, Disgust, Fear, Anger, Happiness) ``num_z`` noise vectors
(1,000 in the paper; a separate seeded set per emotion, "1,000 for each emotion") are generated at the 11
conditioning vectors v = (1−α)·e_Neutral + α·e_emotion, α = 0, 0.1, …, 1
(:func:`caae_tf.labels.interpolation_weights`), and a regressor predicts (valence, arousal) of every image.

Per (emotion, step) we report the mean and a **95 % confidence band of the mean**,
mean ± 1.96·sd/√n (normal approximation, sd with ddof = 1), drawn like the paper: valence red, arousal
green, x = interpolation step.

Monotonicity (beyond the paper, which notes non-monotone curves for Sadness, Disgust and Anger): Spearman ρ
between the step and the mean valence / mean arousal (``scipy.stats.spearmanr``). ``monotone_dim`` is the
dimension whose circumplex target (:func:`caae_tf.labels.circumplex_va`, relative to Neutral at (0, 0))
moves most, ``expected_sign`` its direction, and ``monotone`` is ρ·expected_sign ≥ 0.95 on that dimension.

Fig. 4-style recognition check without humans: with a classifier exposing ``predict_emotion8(images) ->
[N, 8]`` (the MobileNetV2 regressor's class head) the one-hot-conditioned images (α = 0 → Neutral, α = 1 →
the emotion) are classified; the recognition rate is the share whose arg-max AffectNet class has the same
name as the cGAN class (neutral/sadness/disgust/fear/anger/happiness are all AffectNet classes).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any, Sequence

import numpy as np

from caae_tf import labels as L

Z95 = 1.96
MONOTONE_RHO = 0.95


@dataclass
class CurvesResult:
    values: Any  # DataFrame: emotion, z_index, step, alpha, pred_valence, pred_arousal[, pred_class]
    summary: Any  # DataFrame per (emotion, step)
    monotonicity: dict[str, dict]
    recognition: dict | None = None
    extras: dict = field(default_factory=dict)


def summarise(values) -> Any:
    """Mean, sd, n and 95 % CI half-width (1.96·sd/√n) of valence and arousal per (emotion, step)."""
    import pandas as pd

    rows = []
    for (emotion, step), g in values.groupby(["emotion", "step"], sort=False):
        row = {"emotion": emotion, "step": int(step), "alpha": float(g["alpha"].iloc[0]), "n": int(len(g))}
        for dim in ("valence", "arousal"):
            x = g[f"pred_{dim}"].to_numpy(np.float64)
            sd = float(x.std(ddof=1)) if len(x) > 1 else 0.0
            row[f"mean_{dim}"] = float(x.mean())
            row[f"sd_{dim}"] = sd
            row[f"ci95_{dim}"] = Z95 * sd / np.sqrt(len(x))
        rows.append(row)
    return pd.DataFrame(rows)


def _spearman(x, y) -> float:
    from scipy.stats import spearmanr

    y = np.asarray(y, np.float64)
    if np.allclose(y, y[0]):
        return float("nan")  # constant curve: ρ undefined
    return float(spearmanr(x, y).statistic)


def monotonicity(summary) -> dict[str, dict]:
    """Spearman ρ(step, mean) per dimension and the expected-direction check (module docstring)."""
    out = {}
    n0 = np.array(L.circumplex_va("neutral"))
    for emotion, g in summary.groupby("emotion", sort=False):
        g = g.sort_values("step")
        rho = {dim: _spearman(g["step"], g[f"mean_{dim}"]) for dim in ("valence", "arousal")}
        target = np.array(L.circumplex_va(emotion)) - n0
        k = int(np.argmax(np.abs(target)))
        dim = ("valence", "arousal")[k]
        sign = int(np.sign(target[k]))
        r = rho[dim]
        first, last = g.iloc[0], g.iloc[-1]
        out[emotion] = {
            "rho_valence": rho["valence"], "rho_arousal": rho["arousal"],
            "circumplex_target": [float(target[0]), float(target[1])],
            "monotone_dim": dim, "expected_sign": sign,
            "rho_expected_dim": r,
            "monotone": bool(np.isfinite(r) and r * sign >= MONOTONE_RHO),
            "delta_valence": float(last["mean_valence"] - first["mean_valence"]),
            "delta_arousal": float(last["mean_arousal"] - first["mean_arousal"]),
            "direction_ok": bool(np.sign(last[f"mean_{dim}"] - first[f"mean_{dim}"]) == sign),
        }
    return out


def recognition_rates(cgan_classes: np.ndarray, probs8: np.ndarray) -> dict:
    """Recognition rate per cGAN class from 8-class probabilities; classes mapped to AffectNet by name.

    Returns ``{"per_class": {name: {"n", "rate", "predicted": {affectnet name: share}}}, "mean_rate"}``.
    """
    cgan_classes = np.asarray(cgan_classes, np.int64)
    pred = np.asarray(probs8).argmax(axis=-1)
    per = {}
    for c in np.unique(cgan_classes):
        name = L.CGAN_EMOTIONS[int(c)]
        target = L.AFFECTNET_EMOTIONS.index(name)
        p = pred[cgan_classes == c]
        counts = np.bincount(p, minlength=len(L.AFFECTNET_EMOTIONS)) / max(1, len(p))
        per[name] = {"n": int(len(p)), "rate": float(np.mean(p == target)),
                     "predicted": {L.AFFECTNET_EMOTIONS[i]: float(counts[i]) for i in range(len(counts))}}
    rates = [v["rate"] for v in per.values()]
    return {"per_class": per, "mean_rate": float(np.mean(rates)) if rates else None}


def interpolation_curves(generator, regressor, num_z: int = 1000, *, emotions: Sequence[str] = L.EXTREME_EMOTIONS,
                         steps: int = 11, seed: int = 0, batch_size: int = 100, classifier=None,
                         progress: bool = True) -> CurvesResult:
    """Run the Fig. 6 experiment (module docstring). ``classifier`` defaults to ``regressor`` when it has a
    ``predict_emotion8`` method; then the recognition check is filled in too."""
    import pandas as pd

    if classifier is None and callable(getattr(regressor, "predict_emotion8", None)) and getattr(
            regressor, "has_emotion_head", True):
        classifier = regressor
    alphas = np.linspace(0.0, 1.0, steps)
    bar = None
    if progress:
        from caae_tf.progress import Progress

        bar = Progress(len(emotions) * steps * num_z, f"Fig. 6: {len(emotions)} emotions x {steps} steps x {num_z} z",
                       unit="image")
    cols: dict[str, list] = {k: [] for k in ("emotion", "z_index", "step", "alpha", "pred_valence", "pred_arousal")}
    rec_cls, rec_probs = [], []
    if classifier is not None:
        cols["pred_class"] = []
    for e_i, emotion in enumerate(emotions):
        emotion = L.canonical_emotion(emotion)
        weights = L.interpolation_weights(emotion, alphas)
        z = np.asarray(generator.sample_z(num_z, seed + 1000 * (e_i + 1)), np.float32)
        for step in range(steps):
            for s in range(0, num_z, batch_size):
                zb = z[s:s + batch_size]
                w = np.repeat(weights[step][None], len(zb), axis=0)
                imgs = np.asarray(generator.generate(zb, w), np.float32)
                va = np.asarray(regressor.predict_va(imgs), np.float32).reshape(len(zb), 2)
                cols["emotion"] += [emotion] * len(zb)
                cols["z_index"] += list(range(s, s + len(zb)))
                cols["step"] += [step] * len(zb)
                cols["alpha"] += [float(alphas[step])] * len(zb)
                cols["pred_valence"] += va[:, 0].tolist()
                cols["pred_arousal"] += va[:, 1].tolist()
                if classifier is not None:
                    probs = np.asarray(classifier.predict_emotion8(imgs), np.float32)
                    cols["pred_class"] += [L.AFFECTNET_EMOTIONS[i] for i in probs.argmax(-1)]
                    if step == 0 or step == steps - 1:  # one-hot conditionings
                        c = 0 if step == 0 else L.cgan_index(emotion)
                        rec_cls.append(np.full(len(zb), c))
                        rec_probs.append(probs)
                if bar is not None:
                    bar.update(len(zb))
    if bar is not None:
        bar.close()
    values = pd.DataFrame(cols)
    summary = summarise(values)
    rec = recognition_rates(np.concatenate(rec_cls), np.concatenate(rec_probs)) if rec_cls else None
    return CurvesResult(values, summary, monotonicity(summary), rec,
                        {"num_z": num_z, "steps": steps, "seed": seed, "band": "mean ± 1.96·sd/√n"})


def plot_curves(summary, out_dir: str, prefix: str = "fig6") -> list[str]:
    """One PNG with a subplot per emotion (+ one PNG per emotion): valence red, arousal green, 95 % band."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    os.makedirs(out_dir, exist_ok=True)
    emotions = list(dict.fromkeys(summary["emotion"]))

    def draw(ax, g, emotion):
        g = g.sort_values("step")
        x = g["step"].to_numpy()
        for dim, color in (("valence", "red"), ("arousal", "green")):
            m = g[f"mean_{dim}"].to_numpy()
            ci = g[f"ci95_{dim}"].to_numpy()
            ax.plot(x, m, color=color, marker="o", markersize=3, label=dim)
            ax.fill_between(x, m - ci, m + ci, color=color, alpha=0.2, linewidth=0)
        ax.axhline(0.0, color="gray", linewidth=0.5)
        ax.set_title(f"Neutral → {emotion.capitalize()}", fontsize=9)
        ax.set_xlabel("interpolation step")
        ax.set_xticks(x)

    paths = []
    fig, axes = plt.subplots(1, len(emotions), figsize=(3.2 * len(emotions), 3.0), squeeze=False, sharey=True)
    for ax, emotion in zip(axes[0], emotions):
        draw(ax, summary[summary["emotion"] == emotion], emotion)
    axes[0][0].set_ylabel("predicted value")
    axes[0][0].legend(fontsize=8)
    fig.tight_layout()
    p = os.path.join(out_dir, f"{prefix}.png")
    fig.savefig(p, dpi=120)
    plt.close(fig)
    paths.append(p)
    for emotion in emotions:
        fig, ax = plt.subplots(figsize=(4, 3))
        draw(ax, summary[summary["emotion"] == emotion], emotion)
        ax.set_ylabel("predicted value")
        ax.legend(fontsize=8)
        fig.tight_layout()
        p = os.path.join(out_dir, f"{prefix}_{emotion}.png")
        fig.savefig(p, dpi=120)
        plt.close(fig)
        paths.append(p)
    return paths


def write_curves(result: CurvesResult, out_dir: str) -> dict[str, str]:
    """curves_values.csv, curves_summary.csv, monotonicity.json (+ recognition), fig6*.png."""
    import json

    os.makedirs(out_dir, exist_ok=True)
    paths = {"values": os.path.join(out_dir, "curves_values.csv"),
             "summary": os.path.join(out_dir, "curves_summary.csv"),
             "report": os.path.join(out_dir, "monotonicity.json")}
    result.values.to_csv(paths["values"], index=False, float_format="%.5f")
    result.summary.to_csv(paths["summary"], index=False, float_format="%.5f")
    with open(paths["report"], "w", encoding="utf-8") as fh:
        json.dump({"monotonicity": result.monotonicity, "recognition": result.recognition, **result.extras},
                  fh, indent=2, default=float)
    for i, p in enumerate(plot_curves(result.summary, out_dir)):
        paths[f"plot{i}"] = p
    return paths


def format_monotonicity(report: dict[str, dict]) -> str:
    lines = [f"{'emotion':<10} {'rho_v':>7} {'rho_a':>7}  dim      sign  monotone  direction_ok"]
    for e, r in report.items():
        lines.append(f"{e:<10} {r['rho_valence']:>7.3f} {r['rho_arousal']:>7.3f}  {r['monotone_dim']:<8} "
                     f"{r['expected_sign']:>+4d}  {str(r['monotone']):<8}  {r['direction_ok']}")
    return "\n".join(lines)


def recognition_check(generator, classifier, num_z: int = 100, *, seed: int = 0, batch_size: int = 100) -> dict:
    """Standalone Fig. 4-style check: ``num_z`` one-hot-conditioned images per cGAN class, classified."""
    cls_all, probs_all = [], []
    for c in range(len(L.CGAN_EMOTIONS)):
        z = np.asarray(generator.sample_z(num_z, seed + 7919 * (c + 1)), np.float32)
        for s in range(0, num_z, batch_size):
            zb = z[s:s + batch_size]
            imgs = generator.generate(zb, L.one_hot(np.full(len(zb), c)))
            probs_all.append(np.asarray(classifier.predict_emotion8(imgs), np.float32))
            cls_all.append(np.full(len(zb), c))
    return recognition_rates(np.concatenate(cls_all), np.concatenate(probs_all))
