"""``caae-tf edit``: edit face photos to a (valence, arousal) with a trained CAAE."""

from __future__ import annotations

HELP = "edit face photos to a target valence/arousal (or the paper's 7x7 grid) with a CAAE"
DESCRIPTION = (
    "Edit any number of images of any size with a CAAE run dir or exported SavedModel. Images are centre-"
    "cropped and resized to the model's resolution, or with --align the face is detected, aligned, edited "
    "and pasted back into the full photo. --grid 7 writes the paper's 7x7 grid (valence and arousal from "
    "0.75 to -0.75) with the input beside it. Valence/arousal outside [-1, 1] are an error unless --clip."
)


def add_arguments(p) -> None:
    p.add_argument("images", nargs="+", metavar="IMAGE", help="input image files")
    p.add_argument("--model", required=True, help="CAAE run dir or SavedModel dir (caae-tf export caae)")
    p.add_argument("--valence", type=float, default=None, help="target valence in [-1, 1]")
    p.add_argument("--arousal", type=float, default=None, help="target arousal in [-1, 1]")
    p.add_argument("--grid", type=int, default=None, metavar="N",
                   help="write the N x N label grid instead (paper: 7)")
    p.add_argument("--align", action="store_true",
                   help="detect + align the face, edit the crop, paste it back into the full photo")
    p.add_argument("--clip", action="store_true",
                   help="clip valence/arousal outside [-1, 1] to the range (with a warning) instead of failing")
    p.add_argument("--out", required=True, help="output folder")
    p.add_argument("--quiet", action="store_true", help="no progress bar")


def run(args) -> int:
    import sys

    import numpy as np

    from caae_tf.edit import Editor, edit_files
    from caae_tf.errors import UserError
    from caae_tf.labels import validate_va

    if args.grid is None:
        if args.valence is None or args.arousal is None:
            raise UserError("give --valence and --arousal (or --grid N)")
        va = np.array([args.valence, args.arousal], np.float32)
        try:
            validate_va(va, what="--valence/--arousal")
        except ValueError as exc:
            if not args.clip or not np.all(np.isfinite(va)):
                raise UserError(f"{exc} (use --clip to clip to the range)") from None
            va = validate_va(va, clip=True)
            print(f"warning: --valence/--arousal clipped to ({va[0]:+.2f}, {va[1]:+.2f})", file=sys.stderr)
        args.valence, args.arousal = float(va[0]), float(va[1])
    elif args.grid < 2:
        raise UserError("--grid needs N >= 2")
    editor = Editor.load(args.model)
    report = edit_files(
        editor, args.images, args.out, valence=args.valence, arousal=args.arousal, grid=args.grid,
        align=args.align, progress=not args.quiet,
    )
    for path in report.written:
        print(path)
    if report.failed:
        print(f"{len(report.failed)} of {len(args.images)} image(s) failed (see messages above)", file=sys.stderr)
        return 2 if not report.written else 1
    return 0
