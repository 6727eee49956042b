"""``caae-tf edit``: edit face photos, folders of them, or a video to a (valence, arousal) with a CAAE."""

from __future__ import annotations

HELP = "edit face photos / folders / a video to a target valence/arousal (or the paper's 7x7 grid) with a CAAE"
DESCRIPTION = (
    "Edit any number of images of any size, or whole folders (outputs keep the inputs' relative paths), "
    "with a CAAE run dir or exported SavedModel. Images are centre-cropped and resized to the model's "
    "resolution, or with --align every face is found (MTCNN, 5 landmarks), aligned to the model's own "
    "template and margin, edited and pasted back into the full-resolution photo through a feathered face "
    "mask (pixels outside it are unchanged). --video IN --out OUT.mp4 edits every frame (landmarks "
    "smoothed over time; --schedule CSV gives (valence, arousal) over time). --grid 7 writes the paper's "
    "7x7 grid (valence and arousal from 0.75 to -0.75) with the input beside it. Valence/arousal outside "
    "[-1, 1] are an error unless --clip."
)


def _face_indices(text: str):
    from caae_tf.errors import UserError

    try:
        vals = [int(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise UserError(f"--face-index {text!r}: expected comma-separated integers, e.g. 0 or 0,2") from None
    if not vals or min(vals) < 0:
        raise UserError(f"--face-index {text!r}: expected non-negative integers (0 = largest face)")
    return vals


def add_arguments(p) -> None:
    p.add_argument("images", nargs="*", metavar="IMAGE_OR_DIR",
                   help="input image files and/or folders (searched recursively)")
    p.add_argument("--model", required=True, help="CAAE run dir or SavedModel dir (caae-tf export caae)")
    p.add_argument("--valence", type=float, default=None, help="target valence in [-1, 1]")
    p.add_argument("--arousal", type=float, default=None, help="target arousal in [-1, 1]")
    p.add_argument("--grid", type=int, default=None, metavar="N",
                   help="write the N x N label grid instead (paper: 7)")
    p.add_argument("--align", action="store_true",
                   help="detect + align every face, edit the crops, paste them back into the full photo")
    p.add_argument("--face-index", default=None, metavar="I[,J...]",
                   help="with --align/--video: edit only these faces (numbered by size, 0 = largest)")
    p.add_argument("--min-face", type=float, default=20, metavar="PX",
                   help="faces whose box is smaller than this (px, full resolution) are not edited (default 20)")
    p.add_argument("--detector", choices=("mtcnn", "haar"), default="mtcnn",
                   help="face detector: mtcnn (default; 5 landmarks) or haar (OpenCV cascades, fallback)")
    p.add_argument("--blend", choices=("residual", "feather", "seamless"), default="residual",
                   help="paste-back: add only the edit's change through the feathered face mask (default; "
                        "unchanged pixels keep the photo's resolution), paste the whole edited crop through the "
                        "mask (feather), or Poisson seamless clone inside it")
    p.add_argument("--max-detect-side", type=int, default=1024, metavar="PX",
                   help="larger photos are downscaled to this side for detection only (default 1024)")
    p.add_argument("--json", default=None, metavar="FILE",
                   help="write a JSON report (each face's box, landmarks, score and label; '-' = stdout)")
    p.add_argument("--video", default=None, metavar="IN",
                   help="edit every frame of this video; --out is then the output video file (.mp4/.avi/...)")
    p.add_argument("--schedule", default=None, metavar="CSV",
                   help="with --video: CSV with time (s) or frame, valence, arousal; linearly interpolated")
    p.add_argument("--no-smooth", action="store_true", help="with --video: do not smooth landmarks over time")
    p.add_argument("--clip", action="store_true",
                   help="clip valence/arousal outside [-1, 1] to the range (with a warning) instead of failing")
    p.add_argument("--out", required=True, help="output folder (with --video: output video file)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")


def _write_json(path: str, data: dict) -> None:
    import json
    import os

    text = json.dumps(data, indent=1)
    if path == "-":
        print(text)
        return
    if os.path.dirname(path):
        os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w", encoding="utf-8") as fh:
        fh.write(text + "\n")


def run(args) -> int:
    import sys

    import numpy as np

    from caae_tf.edit import Editor, edit_files
    from caae_tf.errors import UserError
    from caae_tf.labels import validate_va

    face_index = _face_indices(args.face_index) if args.face_index is not None else None
    if args.min_face < 0:
        raise UserError("--min-face must be >= 0")
    schedule = None
    if args.video is not None:
        if args.grid is not None or args.images:
            raise UserError("--video edits one video: give no IMAGE arguments and no --grid")
        if args.schedule is not None:
            from caae_tf.video import read_schedule

            schedule = read_schedule(args.schedule)
    elif args.schedule is not None:
        raise UserError("--schedule needs --video")
    elif not args.images:
        raise UserError("give IMAGE files/folders to edit (or --video IN)")
    if args.grid is None and schedule is None:
        if args.valence is None or args.arousal is None:
            raise UserError("give --valence and --arousal (or --grid N"
                            + (", or --schedule CSV)" if args.video else ")"))
        va = np.array([args.valence, args.arousal], np.float32)
        try:
            validate_va(va, what="--valence/--arousal")
        except ValueError as exc:
            if not args.clip or not np.all(np.isfinite(va)):
                raise UserError(f"{exc} (use --clip to clip to the range)") from None
            va = validate_va(va, clip=True)
            print(f"warning: --valence/--arousal clipped to ({va[0]:+.2f}, {va[1]:+.2f})", file=sys.stderr)
        args.valence, args.arousal = float(va[0]), float(va[1])
    elif args.grid is not None and args.grid < 2:
        raise UserError("--grid needs N >= 2")
    if args.video is not None:  # a bad video fails before the (slow) model load
        from caae_tf.video import open_video

        open_video(args.video).release()
    editor = Editor.load(args.model)

    if args.video is not None:
        from caae_tf.video import edit_video

        rep = edit_video(editor, args.video, args.out, valence=args.valence, arousal=args.arousal,
                         schedule=schedule, smooth=not args.no_smooth, min_face=args.min_face,
                         face_index=face_index, detector=args.detector, blend=args.blend,
                         max_side=args.max_detect_side, progress=not args.quiet)
        if args.json:
            _write_json(args.json, rep.to_json())
        if args.json != "-":
            print(args.out)
        print(f"{rep.frames_written} frame(s) written at {rep.fps:g} fps: {rep.frames_edited} edited, "
              f"{rep.frames_no_face} without a face passed through", file=sys.stderr)
        return 0 if rep.frames_edited else 1

    report = edit_files(
        editor, args.images, args.out, valence=args.valence, arousal=args.arousal, grid=args.grid,
        align=args.align, progress=not args.quiet, face_index=face_index, min_face=args.min_face,
        detector=args.detector, blend=args.blend, max_side=args.max_detect_side,
    )
    if args.json:
        data = report.to_json()
        data["alignment"] = editor.alignment if args.align else None
        _write_json(args.json, data)
    if args.json != "-":
        for path in report.written:
            print(path)
    n = len(report.records)
    if report.failed:
        print(f"{len(report.failed)} of {n} image(s) failed (see messages above)", file=sys.stderr)
        return 2 if not report.written else 1
    return 0
