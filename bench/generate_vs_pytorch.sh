#!/usr/bin/env bash
# Prefill and KV-cache decode tokens/s, golora against PyTorch, in one run.
#
# Shapes: GPT-2 124M (12 layers, 768 wide, 12 heads, vocab 50257, tied head)
# and a Llama shape of the same width (12 layers, 768 wide, 12 heads, 4 KV
# heads, SwiGLU 2048, vocab 32000, untied head), random weights. Prefill is a
# 256-token prompt; decode is 128 greedy tokens after it through the KV
# cache. PyTorch runs bench/torch_lora_bench.py (--cfg gpt2, and --cfg
# llama: the same model as golora's llama shape). The two alternate, ROUNDS times per
# shape (which goes first alternates too), THREADS threads each, so load from
# other processes hits both alike; the table shows medians over rounds and the
# min / median / max of the per-round golora/PyTorch ratio.
#
# The baseline is PyTorch unhandicapped: OPENBLAS_CORETYPE and
# OPENBLAS_L2_SIZE are unset for its command alone, Debian's OpenBLAS must be
# what libblas.so.3 resolves to (not the reference BLAS), and every JSON line
# records the OpenBLAS kernel (openblas_get_corename), the PyTorch version and
# the load average (bench/blasinfo.py).
#
# Two machine-independent figures go with the ratios: prefill model FLOP/s as
# a share of the FMA peak (`golora bench peak` in the same run: the widest FMA
# loop on THREADS threads; set PEAK_GFLOPS to override), and decode weight
# bytes/s as a share of the read bandwidth `golora bench membw` measures in
# the same run.
#
# Usage: bench/generate_vs_pytorch.sh          (THREADS=2 ROUNDS=5)
#        WEIGHTS=f16 bench/generate_vs_pytorch.sh   (golora decodes from F16 weights)
#        SHAPES=gpt2 bench/generate_vs_pytorch.sh   (one shape)
#        GOLORA_BIN=/path/to/golora ROUNDS=1 bench/generate_vs_pytorch.sh
set -euo pipefail

THREADS=${THREADS:-2}
ROUNDS=${ROUNDS:-5}
PEAK_GFLOPS=${PEAK_GFLOPS:-}
OUT=bench/out
REF_BENCH=bench

# need_torch installs Debian's python3-torch when /usr/bin/python3 lacks it,
# and OpenBLAS when libblas.so.3 is still the reference BLAS (about 1.5
# GFLOP/s: a baseline that slow is no baseline).
need_torch() {
	if ! /usr/bin/python3 -c 'import torch' 2>/dev/null; then
		apt-get update && apt-get install -y python3-torch python3-numpy
	fi
	if [ "$(ref_core)" = None ]; then
		apt-get update && apt-get install -y libopenblas0-pthread
		[ "$(ref_core)" != None ] || { echo "torch does not load OpenBLAS" >&2; exit 1; }
	fi
	echo "baseline: $(ref /usr/bin/python3 -c 'import json, torch, blasinfo; print(json.dumps(blasinfo.info()))')" >&2
}

# ref_core prints the OpenBLAS kernel torch runs on, or None.
ref_core() {
	ref /usr/bin/python3 -c 'import torch, blasinfo; print(blasinfo.info()["blas_core"])'
}

# ref runs a baseline command unhandicapped: OPENBLAS_CORETYPE and
# OPENBLAS_L2_SIZE (set on some machines for other comparisons) are unset for
# it alone, libblas.so.3 is Debian's OpenBLAS even where the system default is
# the reference BLAS (train/torchref_test.go's fixtures need that one), OpenMP
# waits passively (../shared/README.md), THREADS threads.
OPENBLAS_DIR=/usr/lib/x86_64-linux-gnu/openblas-pthread
ref() {
	env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE PYTHONPATH="$PWD/$REF_BENCH" OMP_WAIT_POLICY=PASSIVE \
		LD_LIBRARY_PATH="$OPENBLAS_DIR${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}" \
		OMP_NUM_THREADS="$THREADS" OPENBLAS_NUM_THREADS="$THREADS" "$@"
}

# build_golora sets GOLORA to GOLORA_BIN or a fresh build of ./cmd/golora.
build_golora() {
	mkdir -p "$OUT"
	GOLORA=${GOLORA_BIN:-$OUT/golora}
	[ -n "${GOLORA_BIN:-}" ] || go build -o "$GOLORA" ./cmd/golora
}

# measure_peak sets PEAK_GFLOPS, unless given, from `golora bench peak`.
measure_peak() {
	if [ -z "$PEAK_GFLOPS" ]; then
		PEAK_GFLOPS=$("$GOLORA" bench peak --threads "$THREADS" | tee -a "$OUT/peak.jsonl" |
			/usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin)["gflops"])')
	fi
	echo "FMA peak: $PEAK_GFLOPS GFLOP/s" >&2
}

# torch runs a PyTorch reference with Debian's python under ref.
torch() {
	ref /usr/bin/python3 "$@"
}

# torch_tagged SHAPE ROUND ARGS... runs the PyTorch reference for SHAPE with
# ARGS and appends its JSON lines, tagged with shape and round, to $res (and
# stderr).
torch_tagged() {
	local shape=$1 round=$2
	shift 2
	# shellcheck disable=SC2046
	torch $(torch_script "$shape") "$@" |
		while read -r line; do echo "{\"shape\":\"$shape\",\"round\":$round,\"torch\":$line}"; done | tee -a "$res" >&2
}

# torch_script prints the PyTorch reference for a shape (gpt2 or llama).
torch_script() {
	echo "$REF_BENCH/torch_lora_bench.py --cfg $1"
}

main() {
	cd "$(dirname "$0")/.."
	need_torch
	build_golora
	local res=$OUT/generate_vs_pytorch.jsonl
	: >"$res"
	echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg)" >&2
	measure_peak
	"$GOLORA" bench membw --threads "$THREADS" | tee -a "$res" >&2
	local wflag=()
	[ -n "${WEIGHTS:-}" ] && wflag=(--weights "$WEIGHTS")
	for shape in ${SHAPES:-gpt2 llama}; do
		for r in $(seq "$ROUNDS"); do
			# Odd rounds run PyTorch first, even rounds golora first.
			((r % 2 == 0)) || torch_tagged "$shape" "$r" --mode infer --threads "$THREADS" --ctx 256 --steps 3 \
				--gen-prompt 256 --gen-new 128
			g=$("$GOLORA" bench generate --arch "$shape" --prompt-len 256 --new-tokens 128 --threads "$THREADS" "${wflag[@]}")
			echo "{\"shape\":\"$shape\",\"round\":$r,\"golora\":$g}" | tee -a "$res" >&2
			# PyTorch's prefill computes the logits of all 256 positions; golora's
			# generation prefill only the last one's (as llama.cpp does), so
			# time that work too for a like-for-like row.
			g=$("$GOLORA" bench generate --arch "$shape" --prompt-len 256 --new-tokens 0 --all-logits --threads "$THREADS")
			echo "{\"shape\":\"$shape\",\"round\":$r,\"golora_all\":$g}" | tee -a "$res" >&2
			# The same with the weights kept packed in the GEMM's panel layout
			# (--prepack: no per-prefill transpose, one more copy in memory).
			g=$("$GOLORA" bench generate --arch "$shape" --prompt-len 256 --new-tokens 0 --all-logits --prepack --threads "$THREADS")
			echo "{\"shape\":\"$shape\",\"round\":$r,\"golora_prepack\":$g}" | tee -a "$res" >&2
			((r % 2 == 1)) || torch_tagged "$shape" "$r" --mode infer --threads "$THREADS" --ctx 256 --steps 3 \
				--gen-prompt 256 --gen-new 128
		done
	done
	echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)" >&2
	/usr/bin/python3 - "$res" "$THREADS" "$PEAK_GFLOPS" <<'PY'
import json, statistics, sys
sys.path.insert(0, "bench")
from blasinfo import describe, spread as spread_of
res, threads, peak = sys.argv[1], sys.argv[2], float(sys.argv[3])
bw, g, ga, gp, t = None, {}, {}, {}, {}
for line in open(res):
    r = json.loads(line)
    if r.get("bench") == "membw":
        bw = r["read_gb_per_s"]
    elif "golora" in r:
        g.setdefault(r["shape"], {})[r["round"]] = r["golora"]
    elif "golora_all" in r:
        ga.setdefault(r["shape"], {})[r["round"]] = r["golora_all"]
    elif "golora_prepack" in r:
        gp.setdefault(r["shape"], {})[r["round"]] = r["golora_prepack"]
    else:
        t.setdefault((r["shape"], r["torch"]["mode"]), {})[r["round"]] = r["torch"]
med = statistics.median
def spread(a, ka, b, kb):
    return spread_of(a[i][ka] / b[i][kb] for i in a if i in b)
print(f"threads={threads}; {len(next(iter(g.values())))} alternating rounds; tokens/s medians over rounds; ratio: min / median / max over rounds")
print(describe(next(iter(t.values()))[1]), "(first PyTorch run)")
print(f"memory read bandwidth {bw:.1f} GB/s (golora bench membw); FMA peak {peak:.0f} GFLOP/s\n")
print("| shape | phase (golora prefill: last token's logits only unless 'all logits') | golora tok/s | PyTorch tok/s | golora/PyTorch min / med / max | share of peak | golora peak RSS MiB | PyTorch peak RSS MiB |")
print("| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |")
for shape, runs in g.items():
    tp, td = t[(shape, "prefill")], t[(shape, "decode_kvcache")]
    pre, dec = med(x["prefill_tokens_per_s"] for x in runs.values()), med(x["decode_tokens_per_s"] for x in runs.values())
    rss = med(x["peak_rss_mib"] for x in runs.values())
    tpm = med(x["tok_per_s_median"] for x in tp.values())
    tdm = med(x["tok_per_s_median"] for x in td.values())
    trss = med(x["peak_rss_mib"] for x in td.values())
    r0 = next(iter(runs.values()))
    fl, wb = r0["prefill_flops_per_token"], r0["decode_weight_bytes_per_token"]
    print(f"| {shape} | prefill 256 | {pre:.0f} | {tpm:.0f} | {spread(runs, 'prefill_tokens_per_s', tp, 'tok_per_s_median')} | {pre*fl/1e9/peak:.0%} of FMA peak | {rss:.0f} | {trss:.0f} |")
    pa = med(x["prefill_tokens_per_s"] for x in ga[shape].values())
    fa = next(iter(ga[shape].values()))["prefill_flops_per_token"]
    print(f"| {shape} | prefill 256, all logits | {pa:.0f} | {tpm:.0f} | {spread(ga[shape], 'prefill_tokens_per_s', tp, 'tok_per_s_median')} | {pa*fa/1e9/peak:.0%} of FMA peak | | |")
    pp = med(x["prefill_tokens_per_s"] for x in gp[shape].values())
    ppr = med(x["peak_rss_mib"] for x in gp[shape].values())
    ppm = next(iter(gp[shape].values()))["prepacked_mib"]
    print(f"| {shape} | prefill 256, all logits, weights prepacked (+{ppm:.0f} MiB) | {pp:.0f} | {tpm:.0f} | {spread(gp[shape], 'prefill_tokens_per_s', tp, 'tok_per_s_median')} | {pp*fa/1e9/peak:.0%} of FMA peak | {ppr:.0f} | |")
    print(f"| {shape} | decode 128 ({r0['weights']}) | {dec:.1f} | {tdm:.1f} | {spread(runs, 'decode_tokens_per_s', td, 'tok_per_s_median')} | {dec*wb/1e9/bw:.0%} of read bandwidth | | |")
PY
}

if [[ "${BASH_SOURCE[0]}" == "$0" ]]; then
	main "$@"
fi
