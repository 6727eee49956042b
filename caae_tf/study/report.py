"""``caae-tf study report``: paper 001's Fig. 4, every rating as CSV, and a JSON summary.

Outputs (default folder ``STUDY_DIR/report``):

* ``ratings.csv`` — one row per stored rating: participant, age, gender, completed, position, answered_at,
  item_id, source (real | generated), true_emotion, rated_emotion, likert (1 = strongly agree … 5 =
  strongly disagree), included (whether the summary and figure use it);
* ``summary.json`` — participants (count, age, gender) and, per true emotion and source, the mean rating
  of each of the rated emotions, the *mean agreement* (mean rating of the true emotion), the *recognition
  rate* (share of ratings of the true emotion that are 1 or 2) and real vs generated compared with a
  two-sided Mann–Whitney U test (:func:`scipy.stats.mannwhitneyu`) on the true emotion's ratings (and,
  under ``by_rated_emotion``, on each rated emotion's);
* ``fig4.png`` — one panel per true emotion; x = the rated emotions, y = mean rating (axis inverted so
  that up = agree) ± 95 % CI; real images blue, generated orange (paper 001 Fig. 4).

By default only participants who rated every image are included (``include_incomplete`` adds the rest).
The ratings of one participant are not independent; like the paper, the tests pool them. Nothing here
imports TensorFlow.
"""

from __future__ import annotations

import json
import math
import os

import numpy as np

from caae_tf.study import AGREE_MAX, DB_FILE, LIKERT_LABELS, SOURCES
from caae_tf.study.db import StudyDB
from caae_tf.study.files import StudyError, load_study

COLORS = {"real": "tab:blue", "generated": "tab:orange"}
CSV_COLUMNS = ["participant", "age", "gender", "completed", "position", "answered_at", "item_id", "source",
               "true_emotion", "rated_emotion", "likert", "included"]


def _num(x):
    """JSON-safe float (NaN/inf → None)."""
    if x is None:
        return None
    x = float(x)
    return x if math.isfinite(x) else None


def load_ratings(study_dir: str, *, include_incomplete: bool = False):
    """(study, DataFrame of every stored rating with the manifest's source/true emotion and ``included``)."""
    import pandas as pd

    study = load_study(study_dir, verify_images=False)
    path = os.path.join(study.root, DB_FILE)
    if not os.path.exists(path):
        raise StudyError(f"{path}: no responses yet (run `caae-tf study serve` first)")
    rows = StudyDB(path, study.emotions, study_id=study.study_id).ratings()
    df = pd.DataFrame(rows, columns=["participant", "age", "gender", "completed", "item_id", "position",
                                     "answered_at", "emotion", "likert"])
    df = df.rename(columns={"emotion": "rated_emotion"})
    df["source"] = [study.items.get(i, {}).get("source", "") for i in df["item_id"]]
    df["true_emotion"] = [study.items.get(i, {}).get("emotion", "") for i in df["item_id"]]
    df["included"] = df["completed"].astype(bool) | bool(include_incomplete)
    df["likert"] = df["likert"].astype(int)
    return study, df[CSV_COLUMNS]


def _mwu(a, b) -> dict:
    from scipy.stats import mannwhitneyu

    a, b = np.asarray(a, float), np.asarray(b, float)
    out = {"n_real": int(a.size), "n_generated": int(b.size), "U": None, "p": None}
    if a.size and b.size:
        res = mannwhitneyu(a, b, alternative="two-sided")
        out["U"], out["p"] = _num(res.statistic), _num(res.pvalue)
    return out


def _group(sub, emotions, true_emotion) -> dict:
    own = sub[sub["rated_emotion"] == true_emotion]["likert"].to_numpy()
    means = {e: _num(sub[sub["rated_emotion"] == e]["likert"].mean()) if len(sub) else None for e in emotions}
    sds = {e: _num(sub[sub["rated_emotion"] == e]["likert"].std(ddof=1)) if len(sub) > 1 else None
           for e in emotions}
    return {
        "n_images": int(sub["item_id"].nunique()),
        "n_ratings": int(own.size),
        "mean_likert": means,
        "sd_likert": sds,
        "mean_agreement": _num(own.mean()) if own.size else None,
        "recognition_rate": _num((own <= AGREE_MAX).mean()) if own.size else None,
    }


def summarize(study, df) -> dict:
    """The JSON summary (module docstring) of the ``included`` ratings of ``df``."""
    emotions = study.emotions
    inc = df[df["included"]]
    people = inc.drop_duplicates("participant")
    ages = people["age"].to_numpy(float)
    out = {
        "study_id": study.study_id,
        "n_images": len(study.items),
        "images": {s: sum(1 for it in study.items.values() if it["source"] == s) for s in SOURCES},
        "scale": "Likert 1 = " + LIKERT_LABELS[0] + " ... 5 = " + LIKERT_LABELS[-1],
        "recognised": f"true emotion rated {AGREE_MAX} or lower (agree)",
        "test": "two-sided Mann-Whitney U, real vs generated ratings pooled over participants and images",
        "participants": {
            "stored": int(df["participant"].nunique()),
            "completed": int(df[df["completed"]]["participant"].nunique()),
            "included": int(len(people)),
            "age": {"mean": _num(ages.mean()) if ages.size else None,
                    "sd": _num(ages.std(ddof=1)) if ages.size > 1 else None,
                    "min": _num(ages.min()) if ages.size else None, "max": _num(ages.max()) if ages.size else None},
            "gender": {str(k): int(v) for k, v in people["gender"].value_counts().sort_index().items()},
        },
        "n_ratings": int(len(inc)),
        "emotions": {},
    }
    for t in emotions:
        sub = inc[inc["true_emotion"] == t]
        entry = {s: _group(sub[sub["source"] == s], emotions, t) for s in SOURCES}
        own = sub[sub["rated_emotion"] == t]
        entry["mann_whitney"] = _mwu(own[own["source"] == "real"]["likert"],
                                     own[own["source"] == "generated"]["likert"])
        entry["by_rated_emotion"] = {
            e: _mwu(sub[(sub["rated_emotion"] == e) & (sub["source"] == "real")]["likert"],
                    sub[(sub["rated_emotion"] == e) & (sub["source"] == "generated")]["likert"])
            for e in emotions}
        out["emotions"][t] = entry
    own_all = inc[inc["rated_emotion"] == inc["true_emotion"]]
    out["overall"] = {}
    for s in SOURCES:
        v = own_all[own_all["source"] == s]["likert"].to_numpy()
        out["overall"][s] = {"n_ratings": int(v.size), "mean_agreement": _num(v.mean()) if v.size else None,
                             "recognition_rate": _num((v <= AGREE_MAX).mean()) if v.size else None}
    out["overall"]["mann_whitney"] = _mwu(own_all[own_all["source"] == "real"]["likert"],
                                          own_all[own_all["source"] == "generated"]["likert"])
    return out


def plot_fig4(study, df, path: str, *, note: str | None = None) -> str:
    """Paper 001 Fig. 4 from the ``included`` ratings (module docstring)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    emotions = study.emotions
    inc = df[df["included"]]
    n = len(emotions)
    cols = 3 if n > 4 else n
    rows = int(math.ceil(n / cols))
    fig, axes = plt.subplots(rows, cols, figsize=(4.2 * cols, 3.3 * rows), sharey=True, squeeze=False)
    x = np.arange(n)
    handles = {}
    for k, t in enumerate(emotions):
        ax = axes[k // cols][k % cols]
        sub = inc[inc["true_emotion"] == t]
        recs = []
        for j, s in enumerate(SOURCES):
            g = sub[sub["source"] == s]
            if g.empty:
                continue
            stats = [g[g["rated_emotion"] == e]["likert"].to_numpy(float) for e in emotions]
            mean = np.array([v.mean() if v.size else np.nan for v in stats])
            ci = np.array([1.96 * v.std(ddof=1) / math.sqrt(v.size) if v.size > 1 else 0.0 for v in stats])
            own = g[g["rated_emotion"] == t]["likert"].to_numpy()
            recs.append(f"{s} {(own <= AGREE_MAX).mean():.0%}" if own.size else f"{s} n/a")
            handles[s] = ax.errorbar(x + (j - 0.5) * 0.12, mean, yerr=ci, color=COLORS[s], marker="o", ms=4,
                                     lw=1.6, capsize=2)
        ax.axvline(emotions.index(t), color="0.88", lw=8, zorder=0)
        ax.set_title(f"{t.capitalize()} images\nrecognised: " + ", ".join(recs), fontsize=9.5)
        ax.set_xticks(x)
        ax.set_xticklabels([e[:3].capitalize() for e in emotions], fontsize=8.5)
        ax.set_ylim(5.2, 0.8)
        ax.set_yticks([1, 2, 3, 4, 5])
        ax.grid(axis="y", color="0.92")
        if k % cols == 0:
            ax.set_ylabel("rating (1 = strongly agree,\n5 = strongly disagree)", fontsize=8.5)
    for k in range(n, rows * cols):
        axes[k // cols][k % cols].axis("off")
    n_people = inc["participant"].nunique()
    title = (f"Agreement with each emotion (x) per true emotion (panel), mean ± 95 % CI; "
             f"{n_people} participants" + (f"; {note}" if note else ""))
    fig.suptitle(title, fontsize=10)
    if handles:
        fig.legend([handles[s] for s in SOURCES if s in handles], [s for s in SOURCES if s in handles],
                   loc="upper center", bbox_to_anchor=(0.5, 0.965), ncol=2, fontsize=9, frameon=False)
    fig.tight_layout(rect=(0, 0, 1, 0.93))
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def write_report(study_dir: str, out_dir: str | None = None, *, include_incomplete: bool = False,
                 note: str | None = None) -> dict:
    """Write ratings.csv, summary.json and fig4.png; returns ``{"csv", "json", "figure", "summary"}``."""
    study, df = load_ratings(study_dir, include_incomplete=include_incomplete)
    out_dir = os.path.abspath(out_dir or os.path.join(study.root, "report"))
    os.makedirs(out_dir, exist_ok=True)
    if not df["included"].any():
        raise StudyError(f"{study.root}: no {'' if include_incomplete else 'completed '}participants yet"
                         + ("" if include_incomplete else " (--include-incomplete uses partial ones)"))
    paths = {"csv": os.path.join(out_dir, "ratings.csv"), "json": os.path.join(out_dir, "summary.json"),
             "figure": os.path.join(out_dir, "fig4.png")}
    df.to_csv(paths["csv"], index=False)
    summary = summarize(study, df)
    with open(paths["json"], "w", encoding="utf-8") as fh:
        json.dump(summary, fh, indent=2)
        fh.write("\n")
    plot_fig4(study, df, paths["figure"], note=note)
    return {**paths, "summary": summary}
