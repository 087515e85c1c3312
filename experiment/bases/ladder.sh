#!/bin/sh
# ladder.sh builds the width ladder and runs the width sweep on it: 4-layer
# Llamas at hidden 64, 128, 256 and 512 (head dimension 64, MLP 8/3 x
# hidden), pretrained by golora pretrain from the same seed on the same
# corpus (experiment/tasks/kjv-ot) for the same tokens (STEPS x 8 x 128),
# then `golora experiment width --base` on each. Only the width differs.
#   experiment/bases/ladder.sh                  # everything, into golora-ladder/
#   WIDTHS="64 128" STEPS=300 experiment/bases/ladder.sh
# GOLORA names the binary (default: go run ./cmd/golora); SWEEP_FLAGS are
# passed to golora experiment (e.g. --quick, --seeds 5).
set -eu
cd "$(dirname "$0")/../.."
GOLORA=${GOLORA:-go run ./cmd/golora}
OUT=${OUT:-golora-ladder}
STEPS=${STEPS:-600}
WIDTHS=${WIDTHS:-64 128 256 512}
for h in $WIDTHS; do
  $GOLORA pretrain --layers 4 --hidden "$h" --heads $((h / 64)) --seq-len 128 --batch 8 \
    --steps "$STEPS" --warmup 30 --lr 1e-3 --seed 1 \
    --data experiment/tasks/kjv-ot/train.jsonl --valid experiment/tasks/kjv-ot/valid.jsonl \
    --eval-every "$STEPS" --save-every 100 --log-every 50 --out "$OUT/bases/h$h" --resume
done
for h in $WIDTHS; do
  # shellcheck disable=SC2086
  $GOLORA experiment width --base "$OUT/bases/h$h" --out "$OUT/width-h$h" ${SWEEP_FLAGS:-}
done
