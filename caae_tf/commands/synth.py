"""``caae-tf synth``: render a labelled synthetic affect-face data set and/or a contact sheet."""

from __future__ import annotations

import argparse
import os
import time

from caae_tf.errors import UserError

HELP = "render synthetic faces with continuous valence/arousal labels (and/or a contact sheet)"
DESCRIPTION = (
    "Render procedural frontal faces whose expression follows continuous (valence, arousal) into "
    "DIR/images/*.png and DIR/labels.csv (path,identity,valence,arousal,emotion), and/or a contact "
    "sheet (rows = identities, columns = a valence sweep then an arousal sweep). Same seed, same bytes. "
    "Identities are integer indices: --first-identity K renders identities K..K+N-1 (held-out sets)."
)


class SynthArgumentError(UserError, ValueError):
    """Invalid ``synth`` arguments."""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", metavar="DIR", help="output folder for images/ and labels.csv")
    parser.add_argument("--identities", type=int, default=20, metavar="N", help="number of identities (default 20)")
    parser.add_argument("--per-identity", type=int, default=50, metavar="K",
                        help="images per identity (default 50)")
    parser.add_argument("--size", type=int, default=96, metavar="S", help="square image size in px (default 96)")
    parser.add_argument("--seed", type=int, default=0, help="random seed (identities, labels, jitter; default 0)")
    parser.add_argument("--mode", choices=("continuous", "discrete"), default="continuous",
                        help="continuous: (v,a) ~ U[-1,1]^2; discrete: circumplex points of --emotions "
                             "+ N(0, 0.03) label noise (default continuous)")
    parser.add_argument("--emotions", metavar="LIST",
                        help="comma-separated emotions for --mode discrete (default: the cGAN's six, "
                             "neutral,sadness,disgust,fear,anger,happiness)")
    parser.add_argument("--first-identity", type=int, default=0, metavar="K",
                        help="index of the first identity (held-out sets: use indices beyond the training ones)")
    parser.add_argument("--no-jitter", action="store_true",
                        help="canonical faces without position/scale jitter and pixel noise")
    parser.add_argument("--sheet", metavar="FILE", help="also (or only) write a contact sheet PNG")
    parser.add_argument("--sheet-identities", type=int, default=6, metavar="N", help="rows of the sheet (default 6)")
    parser.add_argument("--sheet-sweep", type=int, default=7, metavar="N", help="steps per sweep (default 7)")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")


def _check(args: argparse.Namespace) -> None:
    if not args.out and not args.sheet:
        raise SynthArgumentError("nothing to do: give --out DIR and/or --sheet FILE")
    for name in ("identities", "per_identity", "sheet_identities"):
        if getattr(args, name) < 1:
            raise SynthArgumentError(f"--{name.replace('_', '-')} must be >= 1, got {getattr(args, name)}")
    if args.sheet_sweep < 2:
        raise SynthArgumentError(f"--sheet-sweep must be >= 2, got {args.sheet_sweep}")
    if args.size < 16 or args.size > 2048:
        raise SynthArgumentError(f"--size must be between 16 and 2048 px, got {args.size}")
    if args.first_identity < 0:
        raise SynthArgumentError(f"--first-identity must be >= 0, got {args.first_identity}")
    if args.emotions is not None and args.mode != "discrete":
        raise SynthArgumentError("--emotions needs --mode discrete")
    if args.out and os.path.exists(args.out) and not os.path.isdir(args.out):
        raise SynthArgumentError(f"--out {args.out}: exists and is not a folder")


def run(args: argparse.Namespace) -> int:
    _check(args)
    from data_prep import synthetic

    emotions = None
    if args.emotions is not None:
        try:
            emotions = synthetic.parse_emotions(args.emotions)
        except ValueError as exc:
            raise SynthArgumentError(f"--emotions {args.emotions!r}: {exc}") from None

    if args.out:
        t0 = time.perf_counter()
        try:
            df = synthetic.generate_dataset(
                args.out, args.identities, args.per_identity, size=args.size, seed=args.seed, mode=args.mode,
                emotions=emotions, progress=not args.quiet, first_identity=args.first_identity,
                jitter=not args.no_jitter,
            )
        except OSError as exc:
            raise SynthArgumentError(f"--out {args.out}: cannot write ({exc})") from None
        dt = time.perf_counter() - t0
        last = args.first_identity + args.identities - 1
        print(f"wrote {len(df)} images ({args.size}x{args.size}, identities {args.first_identity}..{last}, "
              f"{args.mode}) to {os.path.join(args.out, 'images')} in {dt:.1f} s")
        print(f"wrote labels to {os.path.join(args.out, 'labels.csv')}")
    if args.sheet:
        try:
            synthetic.contact_sheet(args.sheet, identities=args.sheet_identities, sweep=args.sheet_sweep,
                                    size=args.size, seed=args.seed, first_identity=args.first_identity)
        except OSError as exc:
            raise SynthArgumentError(f"--sheet {args.sheet}: cannot write ({exc})") from None
        print(f"wrote contact sheet to {args.sheet}")
    return 0
