#!/usr/bin/env bash
# LoRA training tokens/s and peak RSS, golora against PyTorch, in one run.
#
# LoRA r=8, alpha 16 on q and v, batch 4 x 256 tokens, random weights and
# tokens, AdamW: `golora bench train` against ../shared/bench/torch_lora_bench.py
# (GPT-2 124M shape) and the Llama twin that generate_vs_pytorch.sh writes
# (12 layers, 768 wide, 12 heads, 4 KV heads, SwiGLU 2048, vocab 32000). Each
# process runs one configuration, so its peak RSS is that configuration's.
# The two alternate, ROUNDS times per shape, THREADS threads each (STEPS timed
# steps after one warm-up step); the table shows medians over rounds.
#
# Usage: bench/train_vs_pytorch.sh           (THREADS=2 ROUNDS=3)
#        GOLORA_BIN=/path/to/golora ROUNDS=1 bench/train_vs_pytorch.sh
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=generate_vs_pytorch.sh
source bench/generate_vs_pytorch.sh
export SHARED_BENCH=$PWD/$SHARED_BENCH
STEPS=${STEPS:-5}
need_torch
build_golora
write_torch_llama
res=$OUT/train_vs_pytorch.jsonl
: >"$res"
echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg)" >&2
measure_peak
for shape in gpt2 llama; do
	for r in $(seq "$ROUNDS"); do
		g=$("$GOLORA" bench train --arch "$shape" --batch 4 --seq-len 256 --method lora --r 8 --alpha 16 \
			--targets q,v --steps "$STEPS" --warmup-steps 1 --threads "$THREADS")
		echo "{\"shape\":\"$shape\",\"round\":$r,\"golora\":$g}" | tee -a "$res" >&2
		torch_tagged "$shape" "$r" --mode train --threads "$THREADS" --batch 4 --ctx 256 \
			--warmup 1 --steps "$STEPS"
	done
done
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)" >&2
/usr/bin/python3 - "$res" "$THREADS" "$PEAK_GFLOPS" <<'PY'
import json, statistics, sys
res, threads, peak = sys.argv[1], sys.argv[2], float(sys.argv[3])
g, t = {}, {}
for line in open(res):
    r = json.loads(line)
    (g if "golora" in r else t).setdefault(r["shape"], []).append(r.get("golora") or r["torch"])
med = statistics.median
print(f"threads={threads}; LoRA r=8 alpha 16 on q,v; batch 4x256; medians over rounds; FMA peak {peak:.0f} GFLOP/s\n")
print("| shape | golora tok/s | PyTorch tok/s | tok/s ratio | golora GFLOP/s (share of peak) | golora peak RSS MiB | PyTorch peak RSS MiB | RSS ratio |")
print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
for shape, runs in g.items():
    gt, tt = med(x["tokens_per_s"] for x in runs), med(x["tok_per_s_median"] for x in t[shape])
    gr, tr = med(x["peak_rss_mib"] for x in runs), med(x["peak_rss_mib"] for x in t[shape])
    gf = med(x["gflops"] for x in runs)
    print(f"| {shape} | {gt:.0f} | {tt:.0f} | {gt/tt:.2f}x | {gf:.0f} ({gf/peak:.0%}) | {gr:.0f} | {tr:.0f} | {gr/tr:.2f}x |")
PY
