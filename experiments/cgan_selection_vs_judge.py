"""How well a checkpoint-selection validator agrees with the judge over one run's checkpoints (README, "Fourteenth
round").

    python experiments/cgan_selection_vs_judge.py --selection runs/c26/sel_s4.json \
        --judged 'runs/c26/t_s4_{step}' --out runs/c26/agree_s4.json

``--selection`` is the JSON of ``experiments/cgan_select_checkpoint.py --report``; ``--judged`` a pattern of the
``experiments/cgan_targets.py --out`` folders of the same checkpoints (``{step}`` is replaced by each step). For
each checkpoint the judge's score is the validator's formula on the judge's readings, max(max α = 1 error / 0.15,
Neutral error / 0.10). Prints both scores, their Spearman ρ, the validator's pick, the judge's best checkpoint and
the last one. A missing judged folder is an error naming it.
"""

from __future__ import annotations

import argparse
import json
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def judged_score(targets: dict) -> float:
    """The validator's score (:func:`caae_tf.evaluation.selection.class_tolerances`: the largest error in units of its
    class's tolerance) on the judge's errors in a ``cgan_targets.py`` targets.json."""
    from caae_tf import labels as L
    from caae_tf.evaluation.selection import class_tolerances

    err = [max(targets["neutral"]["error"])] + [max(targets["emotions"][e]["error"]) for e in L.EXTREME_EMOTIONS]
    return float((np.asarray(err) / class_tolerances()).max())


def agreement(selection: dict, judged: dict[int, dict]) -> dict:
    from scipy.stats import spearmanr

    steps = [int(s) for s in selection["steps"]]
    missing = [s for s in steps if s not in judged]
    if missing:
        raise ValueError(f"no judged reading for step(s) {missing}")
    judge = [judged_score(judged[s]) for s in steps]
    pick = int(selection["best_step"])
    return {"steps": steps, "validator": [float(x) for x in selection["scores"]], "judge": judge,
            "spearman": float(spearmanr(selection["scores"], judge)[0]), "selected": pick,
            "judge_at_selected": judge[steps.index(pick)], "judge_best": steps[int(np.argmin(judge))],
            "judge_min": float(min(judge)), "judge_last": judge[-1]}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--selection", required=True, help="cgan_select_checkpoint.py --report JSON")
    p.add_argument("--judged", required=True, help="pattern of cgan_targets.py --out folders with {step}")
    p.add_argument("--out", default=None)
    args = p.parse_args(argv)
    if "{step}" not in args.judged:
        p.error("--judged must contain {step}")
    with open(args.selection, encoding="utf-8") as fh:
        sel = json.load(fh)
    judged = {}
    for s in sel["steps"]:
        path = os.path.join(args.judged.format(step=s), "targets.json")
        if not os.path.isfile(path):
            p.error(f"{path}: not found (judge checkpoint {s} with experiments/cgan_targets.py first)")
        with open(path, encoding="utf-8") as fh:
            judged[int(s)] = json.load(fh)
    res = agreement(sel, judged)
    print(f"steps     {res['steps']}\nvalidator {np.round(res['validator'], 2).tolist()}\n"
          f"judge     {np.round(res['judge'], 2).tolist()}\nspearman {res['spearman']:.2f}; selected {res['selected']} "
          f"(judge {res['judge_at_selected']:.2f}); judge-best {res['judge_best']} ({res['judge_min']:.2f}); "
          f"last {res['judge_last']:.2f}")
    if args.out:
        with open(args.out, "w", encoding="utf-8") as fh:
            json.dump(res, fh, indent=1)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
