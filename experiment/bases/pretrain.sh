#!/bin/sh
# pretrain.sh rebuilds experiment/bases/kjv-wide from the repository: a
# 4-layer, hidden-256 Llama trained from scratch by golora pretrain on the
# King James Old Testament (experiment/tasks/kjv-ot), then stored in BF16.
# About 9 minutes on 2 cores.
set -eu
cd "$(dirname "$0")/../.."
OUT=${OUT:-/tmp/golora-kjv-wide}
go run ./cmd/golora pretrain --layers 4 --hidden 256 --heads 4 --seq-len 128 --batch 8 \
  --steps 1500 --warmup 50 --lr 1e-3 --seed 1 \
  --data experiment/tasks/kjv-ot/train.jsonl --valid experiment/tasks/kjv-ot/valid.jsonl \
  --eval-every 250 --save-every 250 --log-every 50 --out "$OUT" --resume
go run ./experiment/cmd/tobf16 "$OUT" experiment/bases/kjv-wide
cp model/embedded/tok512.bin experiment/bases/kjv-wide/tok512.bin
