"""``caae-tf generate``: label-interpolation grids from a trained cGAN (paper 001 §3.3, Fig. 5)."""

from __future__ import annotations

HELP = "generate faces with a cGAN, interpolating the emotion label (paper 001 Fig. 5 grids)"
DESCRIPTION = (
    "Generate a grid of faces (rows = noise vectors, columns = interpolation steps) with a cGAN run dir or "
    "exported SavedModel. Paper scheme: --emotion E interpolates v = (1-a)*Neutral + a*E, a = 0, 0.1, ..., 1. "
    "Beyond the paper: --emotion E --to F interpolates between two emotions, --valence V --arousal A moves "
    "from Neutral toward the mixture of emotions at that circumplex point, and --schedule 0,0.05,0.2,1 sets "
    "arbitrary steps. Writes OUT/grid.png, OUT/z{k}_step{j}.png, OUT/weights.csv (the conditioning vectors) "
    "and OUT/z.npy (the noise vectors). Emotions: neutral, sadness, disgust, fear, anger, happiness."
)


def _float_in_unit_range(text: str) -> float:
    import argparse

    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number in [-1, 1], got {text!r}") from None
    if not -1.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"expected a number in [-1, 1], got {text!r}")
    return value


def add_arguments(p) -> None:
    p.add_argument("--model", required=True, help="cGAN run dir or SavedModel dir (caae-tf export cgan)")
    p.add_argument("--emotion", default=None,
                   help="extreme emotion to interpolate toward from Neutral (or from which to go --to another)")
    p.add_argument("--to", default=None, help="second emotion: interpolate --emotion -> --to (beyond the paper)")
    steps = p.add_mutually_exclusive_group()
    steps.add_argument("--steps", type=int, default=11, help="uniform steps from a=0 to a=1 (paper: 11)")
    steps.add_argument("--schedule", default=None, metavar="LIST",
                       help="comma-separated alphas in [0, 1], e.g. 0,0.05,0.2,0.5,1")
    p.add_argument("--valence", type=_float_in_unit_range, default=None,
                   help="target valence in [-1, 1] (with --arousal; replaces --emotion)")
    p.add_argument("--arousal", type=_float_in_unit_range, default=None, help="target arousal in [-1, 1]")
    p.add_argument("--num-z", type=int, default=8, help="noise vectors = grid rows (default 8)")
    p.add_argument("--seed", type=int, default=0, help="seed of the noise vectors")
    p.add_argument("--batch-size", type=int, default=64, help="images per forward pass")
    p.add_argument("--out", required=True, help="output folder")
    p.add_argument("--quiet", action="store_true", help="no progress bar")


def run(args) -> int:
    import csv
    import os

    import numpy as np

    from caae_tf import images as _images
    from caae_tf import labels as _labels
    from caae_tf.errors import UserError
    from caae_tf.generate import CGANSampler, interpolation_grid, interpolation_path, resolve_alphas
    from caae_tf.progress import Progress

    if (args.valence is None) != (args.arousal is None):
        raise UserError("give both --valence and --arousal")
    if args.valence is not None and (args.emotion or args.to):
        raise UserError("use either --emotion [--to] or --valence/--arousal, not both")
    if args.valence is None and not args.emotion:
        raise UserError("give --emotion NAME (one of " + ", ".join(_labels.CGAN_EMOTIONS)
                        + ") or --valence V --arousal A")
    if args.to and not args.emotion:
        raise UserError("--to needs --emotion (the starting emotion)")
    if args.num_z < 1:
        raise UserError(f"--num-z must be >= 1, got {args.num_z}")
    if args.batch_size < 1:
        raise UserError(f"--batch-size must be >= 1, got {args.batch_size}")
    # Validate the labels before loading the model (fast failure for typos).
    alphas = resolve_alphas(args.steps, args.schedule)
    weights = interpolation_path(args.emotion, alphas, to=args.to, valence=args.valence, arousal=args.arousal)

    generator = CGANSampler(args.model)
    total = args.num_z * len(alphas)
    bar = Progress(total, desc=f"generating {total} images ({args.num_z} z x {len(alphas)} steps)",
                   enabled=not args.quiet, unit="image")
    grid, images, alphas = interpolation_grid(
        generator, args.emotion, to=args.to, schedule=alphas, num_z=args.num_z, seed=args.seed,
        valence=args.valence, arousal=args.arousal, batch_size=args.batch_size, callback=bar.set,
    )
    bar.close()

    os.makedirs(args.out, exist_ok=True)
    _images.write_image(os.path.join(args.out, "grid.png"), grid)
    for k in range(images.shape[0]):
        for j in range(images.shape[1]):
            _images.write_image(os.path.join(args.out, f"z{k}_step{j}.png"), images[k, j])
    with open(os.path.join(args.out, "weights.csv"), "w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(["step", "alpha", *_labels.CGAN_EMOTIONS])
        for j, (a, w) in enumerate(zip(alphas, weights)):
            writer.writerow([j, f"{float(a):.6g}", *(f"{float(x):.6g}" for x in w)])
    np.save(os.path.join(args.out, "z.npy"), generator.sample_z(args.num_z, args.seed))
    print(f"wrote {args.out}/grid.png ({images.shape[0]} rows x {images.shape[1]} steps), "
          f"{images.shape[0] * images.shape[1]} images, weights.csv, z.npy")
    return 0
