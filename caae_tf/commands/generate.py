"""``caae-tf generate``: label-interpolation grids from a trained cGAN (paper 001 §3.3, Fig. 5)."""

from __future__ import annotations

HELP = "generate faces with a cGAN, interpolating the emotion label (paper 001 Fig. 5 grids)"
DESCRIPTION = (
    "Generate a grid of faces (rows = noise vectors, columns = interpolation steps) with a cGAN run dir or "
    "exported SavedModel. Paper scheme: --emotion E interpolates v = (1-a)*Neutral + a*E, a = 0, 0.1, ..., 1. "
    "Beyond the paper: --emotion E --to F interpolates between two emotions, --valence V --arousal A moves "
    "from Neutral toward the mixture of emotions at that circumplex point, and --schedule 0,0.05,0.2,1 sets "
    "arbitrary steps. With a calibrated model (`caae-tf calibrate`), --valence V --arousal A goes from Neutral to "
    "the target in steps evenly spaced in the judged (valence, arousal), each reached through the calibration "
    "tables (a target outside the reachable region is clamped to the nearest reachable point, with a note); "
    "--uncalibrated keeps the mixture mapping, and --calibrated-steps spaces --emotion steps evenly in the "
    "judged reading. Writes OUT/grid.png, OUT/z{k}_step{j}.png, OUT/weights.csv (the conditioning vectors) "
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
    p.add_argument("--uncalibrated", action="store_true",
                   help="--valence/--arousal: ignore the model's calibration and use the circumplex mixture mapping")
    p.add_argument("--calibrated-steps", action="store_true",
                   help="--emotion: alphas spaced evenly in the calibrated reading (needs `caae-tf calibrate`)")
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
    from caae_tf.generate import CGANSampler, calibrated_grid, interpolation_grid, interpolation_path, resolve_alphas
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
    if args.calibrated_steps and (args.valence is not None or args.to or args.schedule):
        raise UserError("--calibrated-steps goes with --emotion E [--steps K] (Neutral -> E) only")
    # Validate the labels before loading the model (fast failure for typos).
    alphas = resolve_alphas(args.steps, args.schedule)
    weights = interpolation_path(args.emotion, alphas, to=args.to, valence=args.valence, arousal=args.arousal)

    generator = CGANSampler(args.model)
    calibrated = args.valence is not None and not args.uncalibrated and generator.calibration is not None
    extra_cols: dict[str, list] = {}
    if args.calibrated_steps:
        from caae_tf.calibration import calibrated_alphas

        if generator.calibration is None:
            raise UserError(f"{args.model}: --calibrated-steps needs a calibrated model (run `caae-tf calibrate`)")
        alphas = calibrated_alphas(generator.calibration, args.emotion, len(alphas))
        weights = interpolation_path(args.emotion, alphas)
    total = args.num_z * len(alphas)
    bar = Progress(total, desc=f"generating {total} images ({args.num_z} z x {len(alphas)} steps)",
                   enabled=not args.quiet, unit="image")
    if calibrated:
        grid, images, alphas, info = calibrated_grid(
            generator, args.valence, args.arousal, steps=len(alphas), num_z=args.num_z, seed=args.seed,
            batch_size=args.batch_size, callback=bar.set,
        )
        weights = info["emotion_weights"]
        extra_cols = {
            "target_valence": info["targets"][:, 0], "target_arousal": info["targets"][:, 1],
            "expected_valence": info["expected_valence_arousal"][:, 0],
            "expected_arousal": info["expected_valence_arousal"][:, 1],
            "clamped": info["clamped"].astype(int),
        }
    else:
        grid, images, alphas = interpolation_grid(
            generator, args.emotion, to=args.to, schedule=alphas, num_z=args.num_z, seed=args.seed,
            valence=args.valence, arousal=args.arousal, batch_size=args.batch_size, callback=bar.set,
        )
    bar.close()
    if calibrated and bool(info["clamped"][-1]):
        ev, ea = info["expected_valence_arousal"][-1]
        print(f"note: target ({args.valence:g}, {args.arousal:g}) is outside the calibrated reachable region; "
              f"clamped to the nearest reachable point ({ev:.3f}, {ea:.3f}), {float(info['distance'][-1]):.3f} away")
    elif args.valence is not None and not calibrated:
        why = "--uncalibrated" if args.uncalibrated else "the model has no calibration (caae-tf calibrate)"
        print(f"note: uncalibrated circumplex-mixture mapping ({why})")

    os.makedirs(args.out, exist_ok=True)
    _images.write_image(os.path.join(args.out, "grid.png"), grid)
    for k in range(images.shape[0]):
        for j in range(images.shape[1]):
            _images.write_image(os.path.join(args.out, f"z{k}_step{j}.png"), images[k, j])
    with open(os.path.join(args.out, "weights.csv"), "w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        # calibrated --valence/--arousal: "alpha" is the fraction of the way from Neutral to the target
        writer.writerow(["step", "alpha", *_labels.CGAN_EMOTIONS, *extra_cols])
        for j, (a, w) in enumerate(zip(alphas, weights)):
            writer.writerow([j, f"{float(a):.6g}", *(f"{float(x):.6g}" for x in w),
                             *(f"{float(col[j]):.6g}" for col in extra_cols.values())])
    np.save(os.path.join(args.out, "z.npy"), generator.sample_z(args.num_z, args.seed))
    print(f"wrote {args.out}/grid.png ({images.shape[0]} rows x {images.shape[1]} steps), "
          f"{images.shape[0] * images.shape[1]} images, weights.csv, z.npy")
    return 0
