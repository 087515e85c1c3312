#!/usr/bin/env bash
# LoRA training speed of two golora binaries, alternating in one run: the
# A/B for a change to the training step or its kernels (issue 19).
#
# Each round runs `golora bench train --breakdown` (LoRA r=8 on q,v, batch
# 4 x 256, 1 warm-up + STEPS timed steps, THREADS threads) with OLD and with
# NEW, which goes first alternating, and records the load average before
# each run. The table gives, per shape, each binary's median tok/s and CPU
# time per step and the min / median / max over rounds of NEW/OLD for tok/s
# (wall), CPU per step (steadier on a shared machine: it moves with the
# work done, not with the time a process waited for a core) and the time
# spent in barrier waits.
#
# With GEMMS=1 each round also runs `golora bench gemm` on the products of
# the step (both shapes' forward x·Wᵀ and backward dx = dy·W, the lm head
# in its chunks; a SHAPES item gemm:M,N,K[,--transb] adds one), for a
# second table: median GFLOP/s and NEW/OLD in wall time and per CPU-second.
#
# Usage: OLD=/path/golora-main NEW=/path/golora-branch bench/train_ab.sh
#        SHAPES=gpt2 ROUNDS=7 THREADS=1 OPS=nn.attnJobs ... bench/train_ab.sh
#        GEMMS=1 SHAPES= ... bench/train_ab.sh   (the GEMMs alone)
set -euo pipefail
cd "$(dirname "$0")/.."
: "${OLD:?set OLD to the baseline golora binary}" "${NEW:?set NEW to the golora binary under test}"
ROUNDS=${ROUNDS:-5}
STEPS=${STEPS:-2}
THREADS=${THREADS:-2}
SHAPES=${SHAPES-gpt2 llama}
if [ -n "${GEMMS:-}" ]; then
	for g in 1024,2304,768,--transb 1024,768,2304 1024,3072,768,--transb 1024,768,3072,--transb \
		1024,3072,768 1024,768,3072 1024,768,768,--transb 1024,768,768 512,50257,768,--transb \
		512,768,50257 1024,2048,768,--transb 1024,768,2048,--transb 1024,2048,768 1024,768,2048 \
		1024,256,768,--transb 1024,32000,768,--transb 1024,768,32000; do
		SHAPES="$SHAPES gemm:$g"
	done
fi
OUT=bench/out
mkdir -p "$OUT"
res=$OUT/train_ab.jsonl
: >"$res"
run() { # run SHAPE ROUND NAME BIN
	local load g
	load=$(cut -d' ' -f1 /proc/loadavg)
	if [[ $1 == gemm:* ]]; then
		# shellcheck disable=SC2046 # M N K and the flag are separate arguments
		g=$("$4" bench gemm $(tr , ' ' <<<"${1#gemm:}") --threads "$THREADS")
	else
		g=$("$4" bench train --arch "$1" --batch 4 --seq-len 256 --method lora --r 8 --alpha 16 \
			--targets q,v --steps "$STEPS" --warmup-steps 1 --threads "$THREADS" --breakdown)
	fi
	echo "{\"shape\":\"$1\",\"round\":$2,\"bin\":\"$3\",\"load\":$load,\"run\":$g}" | tee -a "$res" >&2
}
for shape in $SHAPES; do
	for r in $(seq "$ROUNDS"); do
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
print(f"OLD {old}, NEW {new}; threads={threads}; load average {min(loads)}-{max(loads)} over the runs")
print("tok/s and CPU ms/step: medians over rounds; NEW/OLD: min / median / max of the per-round ratio\n")
print("| shape | rounds | OLD tok/s | NEW tok/s | NEW/OLD tok/s | OLD CPU ms/step | NEW CPU ms/step | NEW/OLD CPU per step | barrier ms/step OLD / NEW |")
print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
gemms = {k: v for k, v in runs.items() if k.startswith("gemm:")}
for shape, rounds in runs.items():
    if shape in gemms:
        continue
    pairs = [(v["old"], v["new"]) for v in rounds.values() if "old" in v and "new" in v]
    o, n = [p[0] for p in pairs], [p[1] for p in pairs]
    bar = lambda xs: med(x["breakdown"]["barrier_ms"] for x in xs)  # per step already
    print(f"| {shape} | {len(pairs)} | {med(x['tokens_per_s'] for x in o):.1f} | {med(x['tokens_per_s'] for x in n):.1f} | "
          f"{spread(b['tokens_per_s'] / a['tokens_per_s'] for a, b in pairs)} | "
          f"{med(x['cpu_step_ms'] for x in o):.0f} | {med(x['cpu_step_ms'] for x in n):.0f} | "
          f"{spread(b['cpu_step_ms'] / a['cpu_step_ms'] for a, b in pairs)} | {bar(o):.0f} / {bar(n):.0f} |")
if gemms:
    print("\n| GEMM M,N,K | rounds | OLD GFLOP/s | NEW GFLOP/s | NEW/OLD wall | NEW/OLD per CPU-s |")
    print("| --- | ---: | ---: | ---: | --- | --- |")
for shape, rounds in gemms.items():
    pairs = [(v["old"], v["new"]) for v in rounds.values() if "old" in v and "new" in v]
    print(f"| {shape[5:]} | {len(pairs)} | {med(a['gflops'] for a, _ in pairs):.0f} | {med(b['gflops'] for _, b in pairs):.0f} | "
          f"{spread(b['gflops'] / a['gflops'] for a, b in pairs)} | {spread(b['gflops_cpu'] / a['gflops_cpu'] for a, b in pairs)} |")
# OPS=op1,op2+op3 (breakdown op names, e.g. nn.attnJobs; a+b sums two):
# each one's median ms/step and NEW/OLD of its share of the step's wall
# time (steadier than its ms on a shared machine).
import os
ops = [x for x in os.environ.get("OPS", "").split(",") if x]
if ops:
    opms = lambda x, op: sum(o["ms"] for o in x["breakdown"]["ops"] if o["op"] in op.split("+")) or float("nan")
    print("\n| shape | op | OLD ms/step | NEW ms/step | NEW/OLD share of the step |")
    print("| --- | --- | ---: | ---: | ---: |")
    for shape, rounds in runs.items():
        if shape in gemms:
            continue
        pairs = [(v["old"], v["new"]) for v in rounds.values() if "old" in v and "new" in v]
        for op in ops:
            print(f"| {shape} | {op} | {med(opms(a, op) for a, _ in pairs):.0f} | {med(opms(b, op) for _, b in pairs):.0f} | "
                  f"{spread((opms(b, op) / b['step_ms']) / (opms(a, op) / a['step_ms']) for a, b in pairs)} |")
PY
