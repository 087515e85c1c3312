#!/usr/bin/env bash
# golora serve under load: generated tokens/s and p50/p95 time to first
# token for concurrent clients that all use one adapter versus clients
# spread over 8 and 64 adapters (and the base alone), and for N = 1, 2, 4, 8
# concurrent clients on one adapter (batching). Once on the embedded
# stories260K and once on a random GPT-2 124M shape.
#
# `golora bench serve` starts the server in-process on loopback, loads
# random rank-8 adapters on every linear but the head, streams completions
# with ignore_eos, and alternates the contenders inside each round (the
# order rotates), so the machine's load hits them alike. It prints one JSON
# line per measurement and a summary line per contender (min / median / max
# over rounds, ratios against the first contender of its group, and the
# same ratios per CPU-second of the process, which waiting for a core on a
# shared machine does not skew); this script turns the summaries into a
# table.
#
# Usage: bench/serve.sh                  (ROUNDS=5; THREADS_SMALL=2 THREADS_BIG=2)
#        GOLORA_BIN=/path/to/golora ROUNDS=3 bench/serve.sh
set -euo pipefail
cd "$(dirname "$0")/.."
ROUNDS=${ROUNDS:-5}
OUT=${OUT:-bench/out}
mkdir -p "$OUT"
GOLORA=${GOLORA_BIN:-}
if [ -z "$GOLORA" ]; then
	GOLORA=$OUT/golora
	go build -o "$GOLORA" ./cmd/golora
fi
# The random GPT-2 needs a tokenizer for its 50257 ids; the shared GPT-2
# test tokenizer covers the first 1000 (the rest decode to nothing, which
# does not change the work). Without it the embedded tokenizer is used.
TOK=${TOK:-../shared/models/tiny-random-gpt2}
tokflag=()
[ -d "$TOK" ] && tokflag=(--tokenizer "$TOK")
echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg)" >&2
# Both models on 2 threads: the issue's 2 cores, and what golora serve
# uses on a 2-core machine by default. (With THREADS_SMALL=1 the embedded
# model's 8-adapter step no longer fits one core's L2 beside the base:
# docs/BENCHMARKS.md has both figures.)
"$GOLORA" bench serve --rounds "$ROUNDS" --threads "${THREADS_SMALL:-2}" \
	--clients 8 --requests 4 --max-tokens 32 >"$OUT/serve_stories260K.jsonl"
"$GOLORA" bench serve --arch gpt2 "${tokflag[@]}" --rounds "$ROUNDS" --threads "${THREADS_BIG:-2}" \
	--clients 8 --requests 1 --max-tokens 32 >"$OUT/serve_gpt2-124m.jsonl"
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)" >&2
python3 - "$OUT"/serve_stories260K.jsonl "$OUT"/serve_gpt2-124m.jsonl <<'PY'
import json, sys
print("| model | contender | clients | tokens/s min / median / max | ratio min / median / max (vs) | per CPU-s ratio min / median / max | TTFT p50 / p95 ms |")
print("| --- | --- | --- | --- | --- | --- | --- |")
for path in sys.argv[1:]:
    for line in open(path):
        d = json.loads(line)
        if not d.get("summary"):
            continue
        print(f"| {d['model']} | {d['contender']} | {d['clients']} | {d['tokens_per_s_min']:.0f} / {d['tokens_per_s_median']:.0f} / {d['tokens_per_s_max']:.0f} "
              f"| {d['ratio_min']:.2f} / {d['ratio_median']:.2f} / {d['ratio_max']:.2f} ({d['vs']}) "
              + (f"| {d['cpu_ratio_min']:.2f} / {d['cpu_ratio_median']:.2f} / {d['cpu_ratio_max']:.2f} " if 'cpu_ratio_median' in d else "| – ")
              + f"| {d['ttft_p50_ms']:.0f} / {d['ttft_p95_ms']:.0f} |")
PY
