#!/usr/bin/env bash
# Demo of the label-interpolating cGAN (paper 001, Mertes et al. 2021) on synthetic discrete faces, CPU.
# Preset and its deviations from the paper: caae_tf/presets/cgan_demo.yaml (--config cgan_demo).
# Writes everything under runs/cgan_demo/ (gitignored); the committed figure docs/demo_cgan_interpolation.png
# is the last step. Usage: bash experiments/cgan_demo.sh [OUT_ROOT]   (default runs/cgan_demo)
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=${1:-runs/cgan_demo}
FIG=${CGAN_DEMO_FIGURE:-docs/demo_cgan_interpolation.png}

# 1. 60 identities x 30 images = 1,800 faces at 64 px, each identity showing the six cGAN classes in turn
caae-tf synth --mode discrete --identities 60 --per-identity 30 --size 64 --seed 0 --out "$ROOT/data"
# 2. train (resumable: re-running this line with --resume continues from the last checkpoint)
caae-tf train cgan --data "$ROOT/data" --run-dir "$ROOT/run" --config cgan_demo
# 3. paper-style grids (rows = 4 noise vectors, columns = 11 steps Neutral -> emotion, a = 0, 0.1, ..., 1)
for e in sadness disgust fear anger happiness; do
  caae-tf generate --model "$ROOT/run" --emotion "$e" --steps 11 --num-z 4 --seed 0 --out "$ROOT/grid_$e" --quiet
done
# 4. SavedModel (serving_default(z, emotion_weights) and interpolate(z, emotion, alpha))
caae-tf export cgan --run-dir "$ROOT/run" --out "$ROOT/saved_model"
# 5. Fig. 5-style figure: 2 noise vectors x (5 extreme emotions x 11 steps), from the SavedModel
python experiments/make_cgan_figure.py --model "$ROOT/saved_model" --num-z 2 --seed 0 --out "$FIG"
