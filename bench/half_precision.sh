#!/usr/bin/env bash
# --base-dtype bf16 against f32 in one run: peak RSS of LoRA training and
# decoding on a random Llama-3.2-1B-shaped checkpoint stored as BF16 (part
# rss), tokens/s of LoRA training, prefill and decode on the GPT-2 124M and
# Llama bench shapes, alternating f32/bf16 and PyTorch without/with
# autocast bf16 ROUNDS times (part speed). Prints JSON lines to
# $OUT/half_*.jsonl and a min/median/max summary.
#
# Part cpu: CPU seconds per training step and per decoded token on one
# thread (the total of the timed phase's CPU profile, which needs `go tool
# pprof`), f32/bf16 alternating: on a shared machine steadier than
# tokens/s, which other processes' share of the cores decides.
#
# Usage: bench/half_precision.sh rss|speed|cpu     (THREADS=2 ROUNDS=5)
#        GOLORA_BIN=./golora PYTHON=python3 bench/half_precision.sh speed
#        SHAPES=gpt2 bench/half_precision.sh speed  (one shape)
#        STEPS=3 bench/half_precision.sh speed  (timed training steps per run)
# Sizes are small (SEQ, BATCH, PROMPT, NEW, STEPS) so a loaded machine
# finishes. Run it alone: other work on the machine, even on other cores,
# shares its memory bandwidth and L3, which the bf16 runs (less arithmetic
# per byte read) feel more than the f32 ones.
set -euo pipefail
cd "$(dirname "$0")/.."
THREADS=${THREADS:-2} ROUNDS=${ROUNDS:-5} OUT=${OUT:-/tmp/golora-bench}
SEQ=${SEQ:-64} BATCH=${BATCH:-1} PROMPT=${PROMPT:-64} NEW=${NEW:-16} STEPS=${STEPS:-1}
DTYPES="f32 bf16"
mkdir -p "$OUT"
# GOLORA_BIN: a prebuilt binary (a machine without Go); PYTHON: the
# interpreter that has torch (Debian's by default).
. bench/lib.sh
golora_bin
PYTHON=${PYTHON:-/usr/bin/python3}
# Debian's OpenBLAS for torch 1.13 when it is installed (else torch keeps
# whatever BLAS it was built with, e.g. MKL in a pip wheel).
blaspath=/usr/lib/x86_64-linux-gnu/openblas-pthread
[ -d "$blaspath" ] || blaspath=${LD_LIBRARY_PATH:-}

case ${1:-speed} in
rss)
	ck=$OUT/llama-3.2-1b-shape-bf16
	[ -f "$ck/model.safetensors" ] || go run ./experiment/cmd/randomckpt bench/configs/llama-3.2-1b-shape.json bf16 "$ck"
	res=$OUT/half_rss.jsonl
	: >"$res"
	echo "load before: $(load)" >&2
	for dt in f32 bf16; do
		j=$("$GOLORA" bench train --model "$ck" --base-dtype $dt --batch 1 --seq-len 32 --steps 1 --warmup-steps 0 --targets q,v --threads "$THREADS")
		echo "{\"part\":\"train\",\"load\":\"$(load)\",\"golora\":$j}" | tee -a "$res" >&2
		j=$("$GOLORA" bench generate --model "$ck" --base-dtype $dt --prompt-len 8 --new-tokens 4 --warmup 0 --repeat 1 --threads "$THREADS")
		echo "{\"part\":\"decode\",\"load\":\"$(load)\",\"golora\":$j}" | tee -a "$res" >&2
	done
	echo "load after: $(load)" >&2
	;;
speed)
	res=$OUT/half_speed.jsonl
	: >"$res"
	# After each round's golora runs, PyTorch without and with autocast.
	torch_round() {
		local ac j
		for ac in off bf16; do
			# Debian's OpenBLAS settings from the environment are for golora's
			# comparisons; torch runs with its defaults.
			j=$(env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE LD_LIBRARY_PATH="$blaspath" OMP_WAIT_POLICY=PASSIVE OMP_NUM_THREADS="$THREADS" OPENBLAS_NUM_THREADS="$THREADS" \
				"$PYTHON" bench/torch_lora_bench.py --cfg gpt2 --mode train --threads "$THREADS" \
				--batch "$BATCH" --ctx "$SEQ" --warmup 1 --steps 1 --autocast $ac | tail -1)
			jsonl "$res" torch gpt2 $ac $1 torch "$j"
		done
	}
	echo "load before: $(load)" >&2
	speed_rounds "$res" "train generate" torch_round
	echo "load after: $(load)" >&2
	"$PYTHON" - "$res" <<'PY'
import json, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
def get(part, shape, dt, key):
    out = []
    for r in rows:
        if r["part"] == part and r["shape"] == shape and r["dtype"] == dt:
            out.append((r["round"], (r.get("golora") or r.get("torch"))[key]))
    return dict(out)
def ratio(part, shape, key, a="bf16", b="f32"):
    x, y = get(part, shape, a, key), get(part, shape, b, key)
    rs = sorted(x[k] / y[k] for k in x if k in y)
    return f"{min(rs):.2f} / {statistics.median(rs):.2f} / {max(rs):.2f}"
print("| shape | bf16/f32 train tok/s | bf16/f32 prefill tok/s | bf16/f32 decode tok/s | bf16/f32 train peak RSS |")
print("| --- | --- | --- | --- | --- |")
for s in sorted({r["shape"] for r in rows if r["part"] == "train"}):
    print(f"| {s} | {ratio('train', s, 'tokens_per_s')} | {ratio('generate', s, 'prefill_tokens_per_s')} | {ratio('generate', s, 'decode_tokens_per_s')} | {ratio('train', s, 'peak_rss_mib')} |")
print(f"| torch gpt2 autocast bf16 / off train tok/s | {ratio('torch', 'gpt2', 'tok_per_s_median', 'bf16', 'off')} |")
g = get("train", "gpt2", "bf16", "tokens_per_s"); t = get("torch", "gpt2", "bf16", "tok_per_s_median")
rs = sorted(g[k] / t[k] for k in g if k in t)
print(f"| golora bf16 / torch autocast bf16, gpt2 train tok/s | {min(rs):.2f} / {statistics.median(rs):.2f} / {max(rs):.2f} |")
PY
	;;
cpu)
	res=$OUT/half_cpu.jsonl
	: >"$res"
	# Seconds of samples in a CPU profile.
	total() { go tool pprof -top "$GOLORA" "$1" 2>/dev/null | sed -n 's/.*Total samples = \([0-9.]*\)\(m*s\).*/\1 \2/p' | awk '{print ($2 == "ms") ? $1 / 1000 : $1}'; }
	echo "load before: $(load)" >&2
	for r in $(seq "$ROUNDS"); do
		for shape in ${SHAPES:-gpt2 llama}; do
			for dt in f32 bf16; do
				"$GOLORA" bench train --arch $shape --base-dtype $dt --batch "$BATCH" --seq-len "$SEQ" --steps "$STEPS" --warmup-steps 1 --targets q,v --threads 1 --cpuprofile "$OUT/cpu.prof" >/dev/null
				t=$(total "$OUT/cpu.prof")
				"$GOLORA" bench generate --arch $shape --base-dtype $dt --prompt-len "$PROMPT" --new-tokens "$NEW" --repeat 1 --threads 1 --cpuprofile "$OUT/cpu.prof" >/dev/null
				d=$(total "$OUT/cpu.prof")
				echo "{\"shape\":\"$shape\",\"dtype\":\"$dt\",\"round\":$r,\"load\":\"$(load)\",\"train_cpu_s_per_step\":$(awk -v t="$t" -v n="$STEPS" 'BEGIN{print t / n}'),\"decode_cpu_ms_per_token\":$(awk -v d="$d" -v n="$NEW" 'BEGIN{print 1000 * d / n}')}" | tee -a "$res" >&2
			done
		done
	done
	echo "load after: $(load)" >&2
	"$PYTHON" - "$res" <<'PY'
import json, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
def ratio(shape, key):
    by = {}
    for r in rows:
        if r["shape"] == shape:
            by.setdefault(r["round"], {})[r["dtype"]] = r[key]
    rs = sorted(v["f32"] / v["bf16"] for v in by.values() if "f32" in v and "bf16" in v and v["bf16"] > 0)
    return f"{min(rs):.2f} / {statistics.median(rs):.2f} / {max(rs):.2f}"
print("| shape | f32/bf16 train CPU s per step | f32/bf16 decode CPU ms per token |")
print("| --- | --- | --- |")
for s in sorted({r["shape"] for r in rows}):
    print(f"| {s} | {ratio(s, 'train_cpu_s_per_step')} | {ratio(s, 'decode_cpu_ms_per_token')} |")
PY
	;;
esac
