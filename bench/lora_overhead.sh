#!/usr/bin/env bash
# The cost of LoRA on a training step: a step with LoRA r=8 on q and v
# against a step of the frozen base with no adapter, GPT-2 124M shape (or
# ARCH=llama), batch 4 x 256, random weights and tokens.
#
# `golora bench train --vs-none` alternates, in one process and step by step,
# a LoRA step and a step with the adapters disabled (the frozen base's
# forward and full backward through the activations, nothing trained), so
# the two see the same machine load seconds apart; it reports the median of
# the per-pair ratios. This script runs it ROUNDS times in fresh processes
# (PAIRS pairs each) and prints the median over rounds.
#
# Usage: bench/lora_overhead.sh            (THREADS=2 ROUNDS=3 PAIRS=6 ARCH=gpt2)
#        GOLORA_BIN=/path/to/golora ARCH=llama bench/lora_overhead.sh
set -euo pipefail
cd "$(dirname "$0")/.."
THREADS=${THREADS:-2}
ROUNDS=${ROUNDS:-3}
PAIRS=${PAIRS:-6}
ARCH=${ARCH:-gpt2}
OUT=${OUT:-bench/out}
mkdir -p "$OUT"
GOLORA=${GOLORA_BIN:-}
if [ -z "$GOLORA" ]; then
	GOLORA=$OUT/golora
	go build -o "$GOLORA" ./cmd/golora
fi
res=$OUT/lora_overhead_$ARCH.jsonl
: >"$res"
echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg)" >&2
for r in $(seq "$ROUNDS"); do
	"$GOLORA" bench train --arch "$ARCH" --batch 4 --seq-len 256 --method lora --r 8 --alpha 16 \
		--targets q,v --steps "$PAIRS" --warmup-steps 1 --threads "$THREADS" --vs-none | tee -a "$res" >&2
done
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)" >&2
python3 - "$res" "$ARCH" "$THREADS" <<'PY'
import json, statistics, sys
res, arch, threads = sys.argv[1:4]
runs = [json.loads(l)["vs_none"] for l in open(res)]
med = statistics.median
print(f"{arch}, threads={threads}, batch 4x256, LoRA r=8 alpha 16 on q,v; {len(runs)} processes x {runs[0]['pairs']} paired steps\n")
print("| frozen base step ms | LoRA step ms | LoRA / frozen (median) | lowest pair | highest pair |")
print("| ---: | ---: | ---: | ---: | ---: |")
print(f"| {med(r['none_step_ms'] for r in runs):.0f} | {med(r['method_step_ms'] for r in runs):.0f} | "
      f"{med(r['ratio'] for r in runs):.3f}x | {min(r['ratio_min'] for r in runs):.3f}x | {max(r['ratio_max'] for r in runs):.3f}x |")
PY
