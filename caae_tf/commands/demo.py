"""``caae-tf demo``: the main job on the embedded synthetic data (see :mod:`caae_tf.demo`)."""

from __future__ import annotations

HELP = "run the main job: synthetic faces -> CAAE editor -> edits judged against ground truth -> SavedModel"
DESCRIPTION = (
    "Generate synthetic affect faces, train the identity network and the CAAE (demo preset "
    "caae_tf/presets/caae_demo.yaml), edit held-out identities to the paper's 7x7 grid and score the edits "
    "against the known ground truth, edit a few real CelebA faces when ../shared/data/celeba_aligned_220 (or "
    "$CAAE_CELEBA_DIR) exists, export the editor SavedModel, and print where everything is. Re-running with the "
    "same --out resumes the CAAE from its checkpoint."
)


def add_arguments(p) -> None:
    p.add_argument("--out", default="runs/demo", help="output folder (default runs/demo)")
    p.add_argument("--identities", type=int, default=1000,
                   help="training identities (many identities with few images each generalise to unseen faces)")
    p.add_argument("--per-identity", type=int, default=4, help="images per training identity")
    p.add_argument("--heldout", type=int, default=6, help="held-out identities to edit and score")
    p.add_argument("--steps", type=int, default=None, help="CAAE steps (default: the demo preset's)")
    p.add_argument("--identity-steps", type=int, default=None, help="identity-network steps")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="override a CAAE config key of the demo preset")
    p.add_argument("--celeba-dir", default=None, help="aligned CelebA crops to edit (default: ../shared/...)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--preset", default="edit", metavar="edit|paper|PRESET|FILE",
                   help="CAAE preset: edit (default; the beyond-the-paper edit mode: caae_demo), paper (the "
                        "paper's method at the same budget: caae_demo_paper), another preset name or a config file")
    p.add_argument("--quiet", action="store_true", help="no progress bars")


def run(args) -> int:
    from caae_tf.demo import run_demo

    run_demo(
        args.out, identities=args.identities, per_identity=args.per_identity, heldout_identities=args.heldout,
        steps=args.steps, identity_steps=args.identity_steps, overrides=args.overrides,
        celeba_dir=args.celeba_dir, seed=args.seed, progress=not args.quiet, preset=args.preset,
    )
    return 0
