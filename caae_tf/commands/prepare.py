"""``caae-tf prepare SOURCE ... --out RECORDS_DIR``: turn a data set into TFRecord shards + manifest.json."""

from __future__ import annotations

HELP = "prepare TFRecords from AffectNet, FACES, CelebA, a labelled CSV or class folders"
DESCRIPTION = (
    "Validate a data set and write sharded TFRecords plus manifest.json (counts, label statistics, "
    "skipped rows by reason, the command). Sources: affectnet (official training.csv/validation.csv + "
    "--images), faces (FACES folder, names like 004_o_m_a_a.jpg), celeba (img_align_celeba + landmarks: "
    "first N frontal faces for the heatmap experiment), csv (path,identity,valence,arousal,emotion) and "
    "folders (class sub-folders named after emotions). Bad rows are skipped and counted, never fatal."
)


def add_arguments(p) -> None:
    sub = p.add_subparsers(dest="source", metavar="SOURCE", required=True)

    def common(q, shards):
        q.add_argument("--out", required=True, help="output records directory")
        q.add_argument("--shards", type=int, default=shards, help=f"number of .tfrecord shards (default {shards})")
        q.add_argument("--quiet", action="store_true", help="no progress bar")

    a = sub.add_parser("affectnet", help="AffectNet training.csv / validation.csv → OUT/{train,eval,val}")
    a.add_argument("--train-csv", help="official training.csv")
    a.add_argument("--val-csv", help="official validation.csv (the paper's test split)")
    a.add_argument("--images", required=True, help="image root holding the subDirectory_filePath paths")
    a.add_argument("--margin", type=float, default=0.2, help="face-box margin per side, fraction of box size")
    a.add_argument("--size", type=int, default=128, help="crop size in px (0 = native crop size)")
    a.add_argument("--eval-size", type=int, default=4500, help="held-out eval rows drawn from training.csv")
    a.add_argument("--balance", action="store_true", help="oversample training rows to balance expressions")
    a.add_argument("--keep-other-expressions", action="store_true",
                   help="keep expressions 8-10 (None/Uncertain/Non-Face) as unknown class, for valence/arousal-only "
                        "training (paper 000 and the authors' code drop them)")
    a.add_argument("--seed", type=int, default=0)
    a.add_argument("--format", choices=("jpeg", "png"), default="jpeg", help="crop encoding")
    a.add_argument("--workers", type=int, default=None, help="image reading threads")
    common(a, 16)

    f = sub.add_parser("faces", help="FACES (Ebner et al. 2010) folder → records for the cGAN")
    f.add_argument("folder")
    f.add_argument("--size", type=int, default=256, help="output size (paper 001: 256)")
    f.add_argument("--square", choices=("stretch", "crop"), default="stretch",
                   help="stretch = plain resize as in the paper; crop = centre square first")
    f.add_argument("--format", choices=("jpeg", "png"), default="png")
    common(f, 4)

    c = sub.add_parser("celeba", help="first N frontal CelebA faces, cut square (paper 000 heatmaps)")
    c.add_argument("folder", help="img_align_celeba folder")
    c.add_argument("--landmarks", default=None, help="list_landmarks_align_celeba.txt (default: looked up "
                                                     "next to the folder; else face detection)")
    c.add_argument("--count", type=int, default=200)
    c.add_argument("--size", type=int, default=128, help="crop size (0 = native 178)")
    c.add_argument("--crops-dir", default=None, help="also write the crops as PNG files here")
    c.add_argument("--max-yaw", type=float, default=0.12)
    c.add_argument("--max-roll", type=float, default=0.10)
    c.add_argument("--max-mouth", type=float, default=0.15)
    c.add_argument("--crop", choices=("template", "center"), default="template",
                   help="template = align the 5 landmarks to the shared face template (as edit --align); "
                        "center = the paper's centred square")
    c.add_argument("--margin", type=float, default=None, help="template margin per side (default 0.2)")
    common(c, 1)

    for name, help_ in (("csv", "generic labelled CSV (path,identity,valence,arousal,emotion) or DIR/labels.csv"),
                        ("folders", "folder of class sub-folders named after emotions")):
        g = sub.add_parser(name, help=help_)
        g.add_argument("path")
        g.add_argument("--size", type=int, default=0, help="centre-crop + resize to this size (0 = keep)")
        g.add_argument("--require", default="",
                       help="comma list of labels rows must have: va,emotion,emotion8,identity")
        g.add_argument("--align", action="store_true",
                       help="find the largest face (MTCNN) and align it to the shared template (needs --size); "
                            "images without a face are skipped and counted")
        g.add_argument("--margin", type=float, default=None, help="with --align: template margin (default 0.2)")
        g.add_argument("--min-face", type=float, default=20, help="with --align: smallest face box in px")
        common(g, 4)


def _summary(split: str, m: dict) -> None:
    import json

    skipped = ", ".join(f"{k}: {v}" for k, v in m.get("skipped", {}).items()) or "none"
    print(f"{split}: {m['num_examples']} examples written, {m.get('num_skipped', 0)} skipped ({skipped})")
    print(json.dumps({"split": split, "num_examples": m["num_examples"], "skipped": m.get("skipped", {})}))


def run(args) -> int:
    import os

    progress = not args.quiet
    if args.source == "affectnet":
        from data_prep.affectnet import prepare_affectnet

        out = prepare_affectnet(args.train_csv, args.images, args.out, val_csv=args.val_csv, margin=args.margin,
                                size=args.size, eval_size=args.eval_size, balance=args.balance, seed=args.seed,
                                keep_other_expressions=args.keep_other_expressions,
                                num_shards=args.shards, image_format=args.format, workers=args.workers,
                                progress=progress)
        for split, m in out.items():
            _summary(os.path.join(args.out, split), m)
        return 0
    if args.source == "faces":
        from data_prep.faces import prepare_faces

        m = prepare_faces(args.folder, args.out, size=args.size, square=args.square, num_shards=args.shards,
                          image_format=args.format, progress=progress)
    elif args.source == "celeba":
        from data_prep.celeba import prepare_celeba

        m = prepare_celeba(args.folder, args.out, landmarks=args.landmarks, count=args.count, size=args.size,
                           crops_dir=args.crops_dir, max_yaw=args.max_yaw, max_roll=args.max_roll,
                           max_mouth=args.max_mouth, num_shards=args.shards, progress=progress, crop=args.crop,
                           margin=args.margin)
        if m.get("warning"):
            print(f"warning: {m['warning']}")
    else:
        from data_prep.folders import prepare_table

        req = tuple(r.strip() for r in args.require.split(",") if r.strip())
        m = prepare_table(args.path, args.out, size=args.size, num_shards=args.shards, require=req,
                          progress=progress, align=args.align, margin=args.margin, min_face=args.min_face)
    _summary(args.out, m)
    return 0
