#!/usr/bin/env bash
# The cost of LoRA on a training step: a step with LoRA r=8 on q and v
# against a step of the frozen base with no adapter (`--method none`: the same
# forward, and backward through every block's activations), GPT-2 124M shape,
# batch 4 x 256, random weights and tokens. The two alternate in fresh
# processes, ROUNDS times; each round's ratio pairs runs seconds apart, so
# the machine's load drifts out of it, and the table gives the median.
#
# Usage: bench/lora_overhead.sh            (THREADS=2 ROUNDS=5 STEPS=3 ARCH=gpt2)
#        GOLORA_BIN=/path/to/golora ARCH=llama bench/lora_overhead.sh
set -euo pipefail
cd "$(dirname "$0")/.."
THREADS=${THREADS:-2}
ROUNDS=${ROUNDS:-5}
STEPS=${STEPS:-3}
ARCH=${ARCH:-gpt2}
OUT=${OUT:-bench/out}
mkdir -p "$OUT"
GOLORA=${GOLORA_BIN:-}
if [ -z "$GOLORA" ]; then
	GOLORA=$OUT/golora
	go build -o "$GOLORA" ./cmd/golora
fi
res=$OUT/lora_overhead.jsonl
: >"$res"
echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg)" >&2
for r in $(seq "$ROUNDS"); do
	for method in none lora; do
		"$GOLORA" bench train --arch "$ARCH" --batch 4 --seq-len 256 --method "$method" --r 8 --alpha 16 \
			--targets q,v --steps "$STEPS" --warmup-steps 1 --threads "$THREADS" |
			sed "s/^/{\"round\":$r,\"run\":/; s/\$/}/" | tee -a "$res" >&2
	done
done
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)" >&2
python3 - "$res" "$ARCH" "$THREADS" <<'PY'
import json, statistics, sys
res, arch, threads = sys.argv[1:4]
rounds = {}
for line in open(res):
    r = json.loads(line)
    rounds.setdefault(r["round"], {})[r["run"]["method"]] = r["run"]
med = statistics.median
none = [r["none"]["step_ms"] for r in rounds.values()]
lora = [r["lora"]["step_ms"] for r in rounds.values()]
ratios = [r["lora"]["step_ms"] / r["none"]["step_ms"] for r in rounds.values()]
print(f"{arch}, threads={threads}, batch 4x256, LoRA r=8 on q,v, {len(ratios)} rounds\n")
print("| frozen base step ms | LoRA step ms | LoRA / frozen (median of rounds) | min | max |")
print("| ---: | ---: | ---: | ---: | ---: |")
print(f"| {med(none):.0f} | {med(lora):.0f} | {med(ratios):.3f}x | {min(ratios):.3f}x | {max(ratios):.3f}x |")
PY
