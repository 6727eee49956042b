"""``caae-tf experiment NAME``: the papers' evaluation experiments.

* ``table4`` — paper 000 Table IV (+ identity preservation);
* ``heatmaps`` — paper 000 Fig. 2;
* ``interpolation-curves`` — paper 001 Fig. 6 (+ monotonicity report, + recognition when the regressor
  has the 8-class head);
* ``recognition`` — paper 001 Fig. 4-style recognition rate of one-hot-conditioned cGAN images;
* ``synthetic-truth`` — CAAE edits of held-out synthetic faces against the renderer's ground truth.
"""

from __future__ import annotations

import argparse
import json
import os
import sys

HELP = "run a paper experiment: table4, heatmaps, interpolation-curves, recognition, synthetic-truth"
DESCRIPTION = (HELP + ". table4 and heatmaps are paper 000 (Table IV, Fig. 2); interpolation-curves and "
               "recognition are paper 001 (Fig. 6, Fig. 4-style check). Run `caae-tf experiment NAME --help`.")


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--out", required=True, metavar="DIR", help="output directory")
    p.add_argument("--quiet", action="store_true", help="no progress bar")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="experiment", metavar="NAME", required=True)

    p = sub.add_parser("table4", help="paper 000 Table IV: edit to the 49 grid labels, regress VA, RMSE/SAGR/CCC",
                       description="Edit every image to the 49 labels of the 7x7 grid, predict valence/arousal "
                                   "of every edit and report RMSE/SAGR/CCC for all edits and for the four corner "
                                   "('extreme') labels; optionally the identity distance of every edit.")
    p.add_argument("--model", required=True, metavar="EDITOR", help="CAAE run dir or exported SavedModel")
    p.add_argument("--regressor", required=True, metavar="RUN_DIR", help="train-regressor run dir (valence "
                   "and arousal, or only valence with --regressor-arousal)")
    p.add_argument("--regressor-arousal", metavar="RUN_DIR", help="separate run dir whose arousal output is used")
    p.add_argument("--data", required=True, metavar="SRC",
                   help="evaluation images: folder of images, labelled CSV/folder, or TFRecord dir")
    p.add_argument("--limit", type=int, default=None, metavar="N", help="use the first N images (paper: 4500)")
    p.add_argument("--identity", metavar="PATH",
                   help="identity network (VGG-Face .mat/.h5 or train-identity run dir; 'auto' = the CAAE run's "
                        "identity_network) for the identity-preservation distance")
    p.add_argument("--identity-threshold", type=float, default=0.4,
                   help="cosine-distance threshold for 'same identity' (default 0.4, the usual VGG-Face value)")
    p.add_argument("--batch-size", type=int, default=8, help="input images per step (x 49 edits)")
    p.add_argument("--chunk", type=int, default=64, help="edits per editor/regressor call")
    p.add_argument("--sagr-zero", choices=("exact", "positive"), default="exact",
                   help="sign(0) in SAGR: exact (np.sign, paper formula) or positive")
    p.add_argument("--extent", type=float, default=0.75, metavar="E",
                   help="grid of 7x7 labels from -E to E; the four corners (+-E, +-E) are the extreme ones. "
                        "Default 0.75 as in the authors' released code (editFaces.py); 1.0 = the paper's "
                        "'extreme values -1 and 1'")
    _common(p)

    p = sub.add_parser("heatmaps", help="paper 000 Fig. 2: difference heatmaps for the 48 non-neutral labels")
    p.add_argument("--model", required=True, metavar="EDITOR", help="CAAE run dir or exported SavedModel")
    p.add_argument("--images", required=True, metavar="DIR",
                   help="aligned faces (e.g. ../shared/data/celeba_aligned_220)")
    p.add_argument("--limit", type=int, default=200, metavar="N", help="first N images (default 200, as the paper)")
    p.add_argument("--batch-size", type=int, default=16, help="faces per editor call")
    _common(p)

    p = sub.add_parser("interpolation-curves", help="paper 001 Fig. 6: VA along Neutral→emotion interpolation")
    p.add_argument("--model", required=True, metavar="GENERATOR", help="cGAN run dir or exported SavedModel")
    p.add_argument("--regressor", required=True, metavar="RUN_DIR", help="train-regressor run dir")
    p.add_argument("--classifier", metavar="RUN_DIR",
                   help="mobilenetv2 run dir for the recognition check (default: the regressor if it has the head)")
    p.add_argument("--num-z", type=int, default=1000, help="noise vectors per emotion (paper: 1000)")
    p.add_argument("--steps", type=int, default=11, help="interpolation steps incl. both ends (paper: 11)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--batch-size", type=int, default=100)
    _common(p)

    p = sub.add_parser("recognition", help="paper 001 Fig. 4-style check: 8-class recognition of one-hot images")
    p.add_argument("--model", required=True, metavar="GENERATOR", help="cGAN run dir or exported SavedModel")
    p.add_argument("--classifier", required=True, metavar="RUN_DIR", help="mobilenetv2 train-regressor run dir")
    p.add_argument("--num-z", type=int, default=100, help="images per class")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--batch-size", type=int, default=100)
    _common(p)


    p = sub.add_parser("synthetic-truth", help="CAAE edits of held-out synthetic identities vs the renderer's "
                                               "ground truth (MAE by region beside doing nothing, oracle VA)",
                       description="Render held-out synthetic identities without jitter at a random (v0, a0), edit "
                                   "each to the 49 grid labels and compare with the renderer's own drawing at each "
                                   "label: MAE on the whole image, face box, expression pixels and identity pixels "
                                   "beside the do-nothing editor, and RMSE/SAGR/CCC of the analysis-by-synthesis "
                                   "oracle. No trained network judges. Writes CSV, JSON and a PNG.")
    p.add_argument("--model", required=True, metavar="EDITOR", help="CAAE run dir or exported SavedModel")
    p.add_argument("--identities", type=int, default=6, help="held-out identities (default 6)")
    p.add_argument("--seed", type=int, default=0, help="renderer seed of the synthetic set (default 0)")
    p.add_argument("--grid-extent", type=float, default=0.75, help="the 7x7 grid spans ±EXTENT (default 0.75)")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="edit-time key of a run dir's config (repeatable): edit_change_tau, edit_source_grid, "
                        "edit_source_levels; e.g. --set edit_change_tau=0 for the editor without its change mask")
    _common(p)


# ------------------------------------------------------------------ model loaders (patched in tests)

def _load_editor(path: str, overrides: list[str] | None = None):
    from caae_tf.edit import Editor

    return Editor.load(path, overrides=overrides)


def _load_generator(path: str):
    from caae_tf.generate import CGANSampler

    return CGANSampler(path)


def _load_regressor(path: str):
    from caae_tf.regressor_train import load_regressor

    return load_regressor(path)


def _load_identity(path: str, model_dir: str):
    from caae_tf.errors import ModelError

    if path == "auto":
        from caae_tf.config import CAAEConfig, load_config

        cfg_path = os.path.join(model_dir, "config.yaml")
        if not os.path.isfile(cfg_path):
            raise ModelError(f"{model_dir}: --identity auto needs a CAAE run dir with config.yaml")
        path = load_config(cfg_path, CAAEConfig).identity_network
        if not path:
            raise ModelError(f"{cfg_path}: identity_network is empty; pass --identity PATH")
    from caae_tf.models.vgg_face import load_identity_network

    return load_identity_network(path)


# ------------------------------------------------------------------ runners

def _table4(args) -> int:
    from caae_tf.evaluation.inputs import open_faces
    from caae_tf.evaluation.table4 import run_table4, write_table4
    from caae_tf.regressor_train import CombinedRegressor

    faces = open_faces(args.data, args.limit)
    editor = _load_editor(args.model)
    regressor = _load_regressor(args.regressor)
    if args.regressor_arousal:
        regressor = CombinedRegressor(regressor, _load_regressor(args.regressor_arousal))
    identity = _load_identity(args.identity, args.model) if args.identity else None
    result = run_table4(editor, regressor, faces.batches(editor.image_size, args.batch_size), identity=identity,
                        identity_threshold=args.identity_threshold, chunk=args.chunk, total_images=len(faces),
                        progress=not args.quiet, sagr_zero=args.sagr_zero, extent=args.extent)
    result.extras.update({"model": args.model, "regressor": args.regressor,
                          "regressor_arousal": args.regressor_arousal, "data": args.data,
                          "skipped_images": faces.skipped})
    paths = write_table4(result, args.out)
    print(result.format())
    print("wrote " + ", ".join(paths.values()))
    return 0


def _heatmaps(args) -> int:
    from caae_tf.evaluation.heatmaps import compute_heatmaps, write_heatmaps
    from caae_tf.evaluation.inputs import open_faces

    faces = open_faces(args.images, args.limit)
    editor = _load_editor(args.model)
    result = compute_heatmaps(editor, faces.batches(editor.image_size, args.batch_size), total_images=len(faces),
                              progress=not args.quiet)
    paths = write_heatmaps(result, args.out)
    if faces.skipped:
        print(f"skipped unreadable images: {faces.skipped}", file=sys.stderr)
    print(f"{result.num_faces} faces, 48 labels; wrote " + ", ".join(paths.values()))
    return 0


def _curves(args) -> int:
    from caae_tf.evaluation.curves import format_monotonicity, interpolation_curves, write_curves

    generator = _load_generator(args.model)
    regressor = _load_regressor(args.regressor)
    classifier = _load_regressor(args.classifier) if args.classifier else None
    result = interpolation_curves(generator, regressor, args.num_z, steps=args.steps, seed=args.seed,
                                  batch_size=args.batch_size, classifier=classifier, progress=not args.quiet)
    result.extras.update({"model": args.model, "regressor": args.regressor})
    paths = write_curves(result, args.out)
    print(format_monotonicity(result.monotonicity))
    if result.recognition:
        print("recognition (one-hot images, 8-class head): "
              + ", ".join(f"{k} {v['rate']:.2f}" for k, v in result.recognition["per_class"].items()))
    print("wrote " + ", ".join(paths.values()))
    return 0


def _recognition(args) -> int:
    from caae_tf.evaluation.curves import recognition_check

    generator = _load_generator(args.model)
    classifier = _load_regressor(args.classifier)
    rec = recognition_check(generator, classifier, args.num_z, seed=args.seed, batch_size=args.batch_size)
    os.makedirs(args.out, exist_ok=True)
    path = os.path.join(args.out, "recognition.json")
    with open(path, "w", encoding="utf-8") as fh:
        json.dump(rec, fh, indent=2)
    for name, v in rec["per_class"].items():
        top = max(v["predicted"], key=v["predicted"].get)
        print(f"{name:<10} rate {v['rate']:.3f}  (most often: {top} {v['predicted'][top]:.2f}, n={v['n']})")
    print(f"mean recognition rate {rec['mean_rate']:.3f}; wrote {path}")
    return 0


def _synthetic_truth(args) -> int:
    from caae_tf.evaluation.synthetic_truth import format_summary, run_synthetic_truth

    editor = _load_editor(args.model, args.set)
    summary = run_synthetic_truth(editor, args.out, identities=args.identities, seed=args.seed,
                                  extent=args.grid_extent)
    print(format_summary(summary))
    print("wrote " + ", ".join(os.path.join(args.out, f"synthetic_truth.{e}") for e in ("csv", "json", "png")))
    return 0


def run(args: argparse.Namespace) -> int:
    from caae_tf.errors import UserError

    for name in ("limit", "num_z", "batch_size", "chunk", "steps"):
        v = getattr(args, name, None)
        if v is not None and v < 1:
            raise UserError(f"--{name.replace('_', '-')} must be >= 1, got {v}")
    extent = getattr(args, "extent", None)
    if extent is not None and not 0 < extent <= 1:
        raise UserError(f"--extent must be in (0, 1], got {extent}")
    return {"table4": _table4, "heatmaps": _heatmaps, "interpolation-curves": _curves,
            "recognition": _recognition, "synthetic-truth": _synthetic_truth}[args.experiment](args)
