#!/usr/bin/env bash
# Demo of the label-interpolating cGAN (paper 001, Mertes et al. 2021) on synthetic discrete faces, CPU.
# Preset and its deviations from the paper: caae_tf/presets/cgan_demo.yaml (--config cgan_demo).
# Writes everything under runs/cgan_demo/ (gitignored); the committed figures docs/demo_cgan_*.png are copied
# from it at the end. Usage: bash experiments/cgan_demo.sh [OUT_ROOT]   (default runs/cgan_demo)
# Every step is skipped when its output exists, so a re-run continues where an interrupted one stopped.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=${1:-runs/cgan_demo}
FIG=${CGAN_DEMO_FIGURE:-docs/demo_cgan_interpolation.png}
DOCS=${CGAN_DEMO_DOCS:-docs}
t0=$(date +%s)
lap() { echo "[cgan_demo] $1: $(( $(date +%s) - t0 )) s since start; load average: $(cut -d' ' -f1-3 /proc/loadavg)"; }

# 1. 60 identities x 30 images = 1,800 faces at 64 px, each identity showing the six cGAN classes in turn; and
#    the continuous set (60 x 40, the CAAE demo's) that trains the judge
[ -f "$ROOT/data/labels.csv" ] || caae-tf synth --mode discrete --identities 60 --per-identity 30 --size 64 --seed 0 --out "$ROOT/data" --quiet
[ -f "$ROOT/continuous/labels.csv" ] || caae-tf synth --identities 60 --per-identity 40 --size 64 --seed 0 --out "$ROOT/continuous" --quiet
[ -f "$ROOT/heldout/labels.csv" ] || caae-tf synth --mode discrete --identities 30 --per-identity 6 --size 64 --seed 0 --first-identity 200000 --out "$ROOT/heldout" --quiet
lap "data"
# 2. train (resumable: an interrupted run continues from its last checkpoint)
if ! grep -q '"completed"' "$ROOT/run/status.json" 2>/dev/null; then
  resume=(); [ -d "$ROOT/run/checkpoints" ] && resume=(--resume)
  caae-tf train cgan --data "$ROOT/data" --run-dir "$ROOT/run" --config cgan_demo "${resume[@]}" --quiet
fi
lap "cGAN trained"
# 3. paper-style grids (rows = 4 noise vectors, columns = 11 steps Neutral -> emotion, a = 0, 0.1, ..., 1)
for e in sadness disgust fear anger happiness; do
  caae-tf generate --model "$ROOT/run" --emotion "$e" --steps 11 --num-z 4 --seed 0 --out "$ROOT/grid_$e" --quiet
done
# 4. the judge: the continuous synthetic valence/arousal regressor (Table II CNN, 1/4 width, 64 px), and the
#    identity network (VGG-Face architecture, 1/8 width); the cGAN never sees either
[ -f "$ROOT/regressor/table3.json" ] || caae-tf train-regressor --arch table2 --data "$ROOT/continuous" --run-dir "$ROOT/regressor" \
    --set image_size=64 --set width_multiplier=0.25 --set steps=1500 --set checkpoint_every=500 --set batch_size=64 \
    --set learning_rate=0.01 --set mixed_precision=auto --quiet
[ -f "$ROOT/identity/identity.json" ] || caae-tf train-identity --data "$ROOT/continuous" --run-dir "$ROOT/identity" --config identity_demo --quiet
lap "judges trained"
# 5. calibration (beyond the paper): monotone lookup tables -> $ROOT/run/calibration.json, report + figure
caae-tf calibrate --model "$ROOT/run" --regressor "$ROOT/regressor" --data "$ROOT/data" --quiet
# 6. SavedModel (serving_default, interpolate, and from the tables va_to_weights / generate_va)
caae-tf export cgan --run-dir "$ROOT/run" --out "$ROOT/saved_model"
caae-tf generate --model "$ROOT/saved_model" --valence 0.3 --arousal -0.1 --steps 6 --num-z 4 --out "$ROOT/grid_va" --quiet
# 7. Fig. 6 curves (200 noise vectors per emotion) and the issue's targets incl. identity along rows
caae-tf experiment interpolation-curves --model "$ROOT/saved_model" --regressor "$ROOT/regressor" --num-z 200 --out "$ROOT/curves" --quiet
python experiments/cgan_targets.py --model "$ROOT/run" --regressor "$ROOT/regressor" --data "$ROOT/data" \
    --identity "$ROOT/identity" --heldout "$ROOT/heldout" --num-z 200 --out "$ROOT/targets"
# 8. Fig. 5-style figure: 2 noise vectors x (5 extreme emotions x 11 steps), from the SavedModel; the others
python experiments/make_cgan_figure.py --model "$ROOT/saved_model" --num-z 2 --seed 0 --out "$FIG"
cp "$ROOT/curves/fig6.png" "$DOCS/demo_cgan_fig6.png"
cp "$ROOT/run/calibration/calibration.png" "$DOCS/demo_cgan_calibration.png"
lap "done"
