"""``caae-tf metrics``: RMSE / SAGR / CCC (paper 000 §IV-A) of predicted vs. true valence/arousal in a CSV."""

from __future__ import annotations

import argparse
import json
import os
import sys

HELP = "RMSE/SAGR/CCC of predicted vs. true valence/arousal columns of a CSV (paper 000 §IV-A)"
DESCRIPTION = (
    HELP + ". Prints a JSON object {\"valence\": {\"rmse\", \"sagr\", \"ccc\"}, \"arousal\": {...}}. "
    "Rows with a missing or non-numeric value in one of the four columns are skipped and counted on stderr."
)


def _cols(text: str) -> list[str]:
    cols = [c.strip() for c in text.split(",") if c.strip()]
    if len(cols) != 2:
        raise argparse.ArgumentTypeError(f"expected two comma-separated column names, got {text!r}")
    return cols


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--csv", required=True, metavar="FILE", help="CSV with true and predicted columns")
    p.add_argument("--true-cols", type=_cols, default=["valence", "arousal"], metavar="V,A",
                   help="true valence,arousal columns (default: valence,arousal)")
    p.add_argument("--pred-cols", type=_cols, default=["pred_valence", "pred_arousal"], metavar="V,A",
                   help="predicted valence,arousal columns (default: pred_valence,pred_arousal)")
    p.add_argument("--sagr-zero", choices=("exact", "positive"), default="exact",
                   help="sign(0) handling in SAGR: 'exact' = np.sign, 0 matches only 0 (paper formula); "
                        "'positive' = 0 counts as positive")
    p.add_argument("--format", choices=("json", "table"), default="json", help="output format")
    p.add_argument("--out", metavar="FILE", help="also write the JSON object to FILE")


def load_va_columns(path: str, true_cols: list[str], pred_cols: list[str]):
    """Read ``path`` and return (true [N,2], pred [N,2], skipped rows (1-based data row numbers), total)."""
    import numpy as np
    import pandas as pd

    from caae_tf.errors import DataError

    if os.path.isdir(path):
        raise DataError(f"{path}: is a directory, expected a CSV file")
    if not os.path.isfile(path):
        raise DataError(f"{path}: file not found")
    try:
        df = pd.read_csv(path, dtype=str, keep_default_na=False)
    except (pd.errors.ParserError, UnicodeDecodeError, pd.errors.EmptyDataError) as exc:
        raise DataError(f"{path}: not a readable CSV: {str(exc).splitlines()[0] if str(exc) else exc}") from None
    for col in list(true_cols) + list(pred_cols):
        if col not in df.columns:
            raise DataError(f"{path}: missing column {col!r} (columns: {', '.join(map(str, df.columns))})")
    values = df[list(true_cols) + list(pred_cols)].apply(lambda s: pd.to_numeric(s.str.strip(), errors="coerce"))
    arr = values.to_numpy(dtype=np.float64)
    ok = np.all(np.isfinite(arr), axis=1)
    skipped = [int(i) + 1 for i in np.flatnonzero(~ok)]
    return arr[ok, :2], arr[ok, 2:], skipped, len(df)


def run(args: argparse.Namespace) -> int:
    from caae_tf.errors import DataError
    from caae_tf.evaluation.metrics import format_table, va_metrics

    true, pred, skipped, total = load_va_columns(args.csv, args.true_cols, args.pred_cols)
    if skipped:
        head = ", ".join(map(str, skipped[:5])) + (" ..." if len(skipped) > 5 else "")
        print(f"caae-tf metrics: skipped {len(skipped)} of {total} rows of {args.csv} with a missing or "
              f"non-numeric value (data rows {head})", file=sys.stderr)
    if len(true) == 0:
        raise DataError(f"{args.csv}: no row has numeric values in all of "
                        f"{', '.join(args.true_cols + args.pred_cols)}")
    result = va_metrics(true, pred, zero=args.sagr_zero)
    text = json.dumps(result, indent=2)
    if args.out:
        parent = os.path.dirname(args.out)
        if parent:
            os.makedirs(parent, exist_ok=True)
        with open(args.out, "w", encoding="utf-8") as fh:
            fh.write(text + "\n")
    if args.format == "table":
        print(format_table(result, title=f"{args.csv}: {len(true)} rows"))
    else:
        print(text)
    return 0
