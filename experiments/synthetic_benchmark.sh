#!/usr/bin/env bash
# Synthetic-ground-truth benchmark (issue "Evaluation", last section): the whole chain on synthetic faces
# with known (valence, arousal), evaluated on HELD-OUT synthetic identities.
#
#   1. CAAE: `caae-tf demo` (synthetic train set, identity net, CAAE demo preset, SavedModel) -> runs/demo
#   2. cGAN: experiments/cgan_demo.sh (synthetic discrete set, cGAN demo preset)            -> runs/cgan_demo
#   3. a Table II valence/arousal regressor (width 1/4, 64 px) trained on the CAAE's synthetic train set
#   4. held-out identities (never seen by any network) -> Table IV of CAAE edits, Fig. 2 heatmaps on the
#      real CelebA crops, Fig. 6 interpolation curves + monotonicity of the cGAN
#   5. experiments/results/synthetic_benchmark.md summarises everything (python3 experiments/summarise_benchmark.py)
#
# Usage: bash experiments/synthetic_benchmark.sh   (reuses runs/demo and runs/cgan_demo when present)
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-runs/benchmark}
RES=experiments/results/synthetic
CELEBA=${CAAE_CELEBA_DIR:-../shared/data/celeba_aligned_220}
mkdir -p "$OUT" "$RES"
start=$(date +%s)

[ -f runs/demo/saved_model_caae/saved_model.pb ] || python3 -m caae_tf demo --out runs/demo --quiet
[ -f runs/cgan_demo/run/checkpoints/checkpoint ] || bash experiments/cgan_demo.sh

# held-out identities: 30 identities x 5 images, continuous labels, 64 px (ids 200000.. never used in training)
[ -f "$OUT/heldout/labels.csv" ] || python3 -m caae_tf synth --out "$OUT/heldout" --identities 30 --per-identity 5 \
    --size 64 --seed 0 --first-identity 200000 --quiet

# valence/arousal regressor on the CAAE's synthetic training set (validation split by identity)
[ -f "$OUT/regressor/table3.json" ] || python3 -m caae_tf train-regressor --arch table2 --data runs/demo/data/train \
    --run-dir "$OUT/regressor" --set image_size=64 --set width_multiplier=0.25 --set steps=1500 \
    --set batch_size=64 --set learning_rate=0.01 --set mixed_precision=auto --quiet

# Table IV of the CAAE's edits of held-out identities, + identity preservation by the demo's identity network
python3 -m caae_tf experiment table4 --model runs/demo/caae --regressor "$OUT/regressor" \
    --data "$OUT/heldout" --identity auto --out "$RES/table4" --quiet

if [ -d "$CELEBA" ]; then
  python3 -m caae_tf experiment heatmaps --model runs/demo/saved_model_caae --images "$CELEBA" --limit 200 \
      --out "$RES/heatmaps_celeba" --quiet
fi
python3 -m caae_tf experiment interpolation-curves --model runs/cgan_demo/run --regressor "$OUT/regressor" \
    --num-z 200 --out "$RES/curves" --quiet

end=$(date +%s)
python3 experiments/summarise_benchmark.py --results "$RES" --regressor "$OUT/regressor" \
    --demo runs/demo/summary.json --seconds $((end - start)) > experiments/results/synthetic_benchmark.md
cat experiments/results/synthetic_benchmark.md
