#!/usr/bin/env bash
# GEMM speed of two golora binaries on the products of a LoRA training step
# (GPT-2 and Llama shapes, batch 4 x 256), alternating in one run: the A/B
# for a change to the blocked GEMM (issue 19). Each round runs `golora
# bench gemm` on every shape with OLD and NEW, which goes first
# alternating, and records the load average. The table gives per shape
# each binary's median GFLOP/s and the min / median / max over rounds of
# NEW/OLD, in wall time and per CPU-second (steadier on a shared machine).
#
# Usage: OLD=/path/golora-main NEW=/path/golora-branch bench/gemm_ab.sh
#        ROUNDS=7 THREADS=1 ... bench/gemm_ab.sh
set -euo pipefail
cd "$(dirname "$0")/.."
: "${OLD:?set OLD to the baseline golora binary}" "${NEW:?set NEW to the golora binary under test}"
ROUNDS=${ROUNDS:-5}
THREADS=${THREADS:-2}
# M N K and flags as the step calls them: forward x·Wᵀ (--transb), backward
# dx = dy·W; the lm head in its 512-row (GPT-2) and 1024-row (Llama) chunks.
SHAPES=${SHAPES:-"1024,2304,768,--transb 1024,768,2304 1024,3072,768,--transb 1024,768,3072,--transb
1024,3072,768 1024,768,3072 1024,768,768,--transb 1024,768,768 512,50257,768,--transb 512,768,50257
1024,2048,768,--transb 1024,768,2048,--transb 1024,2048,768 1024,768,2048 1024,256,768,--transb
1024,32000,768,--transb 1024,768,32000"}
OUT=bench/out
mkdir -p "$OUT"
res=$OUT/gemm_ab.jsonl
: >"$res"
run() { # run SHAPE ROUND NAME BIN
	local load g
	load=$(cut -d' ' -f1 /proc/loadavg)
	# shellcheck disable=SC2086 # the shape's fields are separate arguments
	g=$("$4" bench gemm ${1//,/ } --threads "$THREADS")
	echo "{\"shape\":\"${1//,/ }\",\"round\":$2,\"bin\":\"$3\",\"load\":$load,\"run\":$g}" | tee -a "$res" >&2
}
for r in $(seq "$ROUNDS"); do
	for shape in $SHAPES; do
		if ((r % 2)); then
			run "$shape" "$r" old "$OLD"
			run "$shape" "$r" new "$NEW"
		else
			run "$shape" "$r" new "$NEW"
			run "$shape" "$r" old "$OLD"
		fi
	done
done
/usr/bin/python3 - "$res" "$THREADS" "$OLD" "$NEW" <<'PY'
import json, statistics, sys
sys.path.insert(0, "bench")
from blasinfo import spread
res, threads, old, new = sys.argv[1:]
runs, loads = {}, []
for line in open(res):
    r = json.loads(line)
    runs.setdefault(r["shape"], {}).setdefault(r["round"], {})[r["bin"]] = r["run"]
    loads.append(r["load"])
med = statistics.median
print(f"OLD {old}, NEW {new}; threads={threads}; load average {min(loads)}-{max(loads)} over the runs\n")
print("| M N K flags | rounds | OLD GFLOP/s | NEW GFLOP/s | NEW/OLD min / med / max | NEW/OLD per CPU-s |")
print("| --- | ---: | ---: | ---: | --- | --- |")
for shape, rounds in runs.items():
    pairs = [(v["old"], v["new"]) for v in rounds.values() if "old" in v and "new" in v]
    print(f"| {shape} | {len(pairs)} | {med(p[0]['gflops'] for p in pairs):.0f} | {med(p[1]['gflops'] for p in pairs):.0f} | "
          f"{spread(b['gflops'] / a['gflops'] for a, b in pairs)} | {spread(b['gflops_cpu'] / a['gflops_cpu'] for a, b in pairs)} |")
PY
