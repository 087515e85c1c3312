#!/usr/bin/env bash
# --base-dtype q8_0|q4_k (quantized base, QLoRA-style) against f32 and bf16,
# issue 18. Prints JSON lines to $OUT/quant_*.jsonl and min/median/max
# summaries of ratios per round.
#
#   speed     decode and prefill tokens/s (bench generate) and LoRA training
#             tokens/s (bench train, r 8 on q,v) on the GPT-2 124M and Llama
#             bench shapes, random weights, the four dtypes alternating in
#             each of ROUNDS rounds.
#   rss       peak RSS and tokens/s of LoRA training and decoding on a random
#             Llama-3.2-1B-shaped checkpoint (1.24 B parameters) stored as
#             BF16, one run per dtype; f32 only when MemAvailable is above
#             RSS_F32_GIB (it needs ~7 GiB), so a shared machine is not
#             pushed into swapping.
#   llamacpp  decode tokens/s against llama.cpp on the same Q8_0 and Q4_K
#             files, THREADS threads each: bench/make_gguf.py writes the
#             bench shapes (gpt2, llama: 124M) and Llama 3.2 1B's shape
#             (llama-1b: 1.24 B, tied head) as F16 GGUF with random weights,
#             llama.cpp's own llama-quantize --pure makes Q8_0 and Q4_K of
#             every matrix (a Q4_K_M mix would hand llama.cpp Q6_K tensors
#             that golora requantizes). golora: bench generate --model FILE
#             --base-dtype auto (keeps the file's blocks), NEW tokens after a
#             PROMPT-token prompt. llama.cpp: llama-bench tg NEW at depth
#             PROMPT (-p 0 -n NEW -d PROMPT, -r 1), the same positions. They
#             alternate ROUNDS times. LLAMACPP_SRC: a llama.cpp tree (its
#             gguf-py) built with llama-bench and llama-quantize in
#             LLAMACPP_BIN (default $LLAMACPP_SRC/build/bin); LLAMACPP_LIB: a
#             folder searched first for its libggml-cpu.so (to compare CPU
#             backends built with and without -DGGML_CPU_REPACK). llama-bench
#             has no --no-repack: a build whose repacked kernels crash needs
#             -DGGML_CPU_REPACK=OFF (see bench/gguf_vs_llamacpp.sh).
#
# Usage: bench/quant_base.sh speed|rss|llamacpp   (THREADS=2 ROUNDS=5;
#        GOLORA_BIN: a prebuilt golora instead of a build of this tree)
set -euo pipefail
cd "$(dirname "$0")/.."
THREADS=${THREADS:-2} ROUNDS=${ROUNDS:-5} OUT=${OUT:-/tmp/golora-bench}
SEQ=${SEQ:-64} BATCH=${BATCH:-1} PROMPT=${PROMPT:-64} NEW=${NEW:-32} RSS_F32_GIB=${RSS_F32_GIB:-10}
DTYPES=${DTYPES:-f32 bf16 q8_0 q4_k} STEPS=1
mkdir -p "$OUT"
. bench/lib.sh
golora_bin
avail_gib() { awk '/MemAvailable/ {print int($2/1048576)}' /proc/meminfo; }

summary() { # file, then "part key" pairs: ratios of each dtype to f32 per round
	/usr/bin/python3 - "$@" <<'PY'
import json, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
pairs = sys.argv[2:]
def val(r):
    return r.get("golora") or r.get("llamacpp")
for part, key in zip(pairs[::2], pairs[1::2]):
    shapes = sorted({r["shape"] for r in rows if r["part"] == part})
    dts = [d for d in dict.fromkeys(r["dtype"] for r in rows if r["part"] == part)]
    base = "f32" if "f32" in dts else dts[0]
    print(f"\n{part} {key}: min / median / max over rounds, and of the ratio per round")
    for s in shapes:
        by = {}
        for r in rows:
            if r["part"] == part and r["shape"] == s:
                by.setdefault(r["dtype"], {})[r["round"]] = val(r)[key]
        for d in dts:
            if d not in by:
                continue
            v = sorted(by[d].values())
            line = f"  {s:6} {d:14} {min(v):10.2f} / {statistics.median(v):10.2f} / {max(v):10.2f}"
            ref = "llamacpp-" + d[7:] if d.startswith("golora-") else base
            if d != ref and ref in by and not d.startswith("llamacpp-"):
                rs = sorted(by[d][k] / by[ref][k] for k in by[d] if k in by[ref])
                line += f"   / {ref}: {min(rs):.2f} / {statistics.median(rs):.2f} / {max(rs):.2f}"
            print(line)
PY
}

case ${1:-speed} in
speed)
	res=$OUT/quant_speed.jsonl
	: >"$res"
	echo "load before: $(load)" >&2
	speed_rounds "$res" "generate train"
	echo "load after: $(load)" >&2
	summary "$res" generate decode_tokens_per_s generate prefill_tokens_per_s train tokens_per_s train peak_rss_mib
	;;
rss)
	ck=$OUT/llama-3.2-1b-shape-bf16
	[ -f "$ck/model.safetensors" ] || go run ./experiment/cmd/randomckpt bench/configs/llama-3.2-1b-shape.json bf16 "$ck"
	res=$OUT/quant_rss.jsonl
	: >"$res"
	echo "load before: $(load)" >&2
	for dt in $DTYPES; do
		if [ $dt = f32 ] && [ "$(avail_gib)" -lt "$RSS_F32_GIB" ]; then
			echo "skipping f32: $(avail_gib) GiB available, under RSS_F32_GIB=$RSS_F32_GIB" >&2
			continue
		fi
		j=$("$GOLORA" bench train --model "$ck" --base-dtype $dt --batch 1 --seq-len 32 --steps 1 --warmup-steps 0 --targets q,v --threads "$THREADS")
		echo "{\"part\":\"train\",\"shape\":\"llama-1.2b\",\"dtype\":\"$dt\",\"round\":1,\"load\":\"$(load)\",\"golora\":$j}" | tee -a "$res" >&2
		j=$("$GOLORA" bench generate --model "$ck" --base-dtype $dt --prompt-len 8 --new-tokens 8 --warmup 0 --repeat 1 --threads "$THREADS")
		echo "{\"part\":\"decode\",\"shape\":\"llama-1.2b\",\"dtype\":\"$dt\",\"round\":1,\"load\":\"$(load)\",\"golora\":$j}" | tee -a "$res" >&2
	done
	echo "load after: $(load)" >&2
	summary "$res" train peak_rss_mib train tokens_per_s decode peak_rss_mib decode decode_tokens_per_s
	;;
llamacpp)
	SRC=${LLAMACPP_SRC:?set LLAMACPP_SRC to a llama.cpp tree built with llama-bench and llama-quantize}
	BIN=${LLAMACPP_BIN:-$SRC/build/bin}
	export LD_LIBRARY_PATH=${LLAMACPP_LIB:+$LLAMACPP_LIB:}$BIN${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
	SHAPES=${SHAPES:-gpt2 llama llama-1b}
	res=$OUT/quant_llamacpp.jsonl
	: >"$res"
	for shape in $SHAPES; do
		f16=$OUT/llamacpp-$shape-f16.gguf
		[ -f "$f16" ] || /usr/bin/python3 bench/make_gguf.py --src "$SRC" --shape $shape --weights f16 -o "$f16"
		for q in Q8_0 Q4_K; do
			m=$OUT/llamacpp-$shape-$q-pure.gguf
			[ -f "$m" ] || { "$BIN/llama-quantize" --pure "$f16" "$m.tmp" $q "$THREADS" >/dev/null 2>&1 && mv "$m.tmp" "$m"; }
		done
	done
	echo "load before: $(load)" >&2
	for r in $(seq "$ROUNDS"); do
		for shape in $SHAPES; do
			for q in Q8_0 Q4_K; do
				m=$OUT/llamacpp-$shape-$q-pure.gguf
				dt=$(echo $q | tr A-Z a-z)
				j=$("$GOLORA" bench generate --model "$m" --base-dtype auto --prompt-len "$PROMPT" --new-tokens "$NEW" --repeat 1 --threads "$THREADS")
				echo "{\"part\":\"decode\",\"shape\":\"$shape\",\"dtype\":\"golora-$dt\",\"round\":$r,\"load\":\"$(load)\",\"golora\":$j}" | tee -a "$res" >&2
				j=$("$BIN/llama-bench" -m "$m" -p 0 -n "$NEW" -d "$PROMPT" -r 1 -t "$THREADS" -o jsonl 2>/dev/null |
					/usr/bin/python3 -c 'import json,sys; r=json.loads(sys.stdin.readline()); print(json.dumps({"decode_tokens_per_s": r["avg_ts"], "build_commit": r["build_commit"], "cpu": r["cpu_info"]}))')
				echo "{\"part\":\"decode\",\"shape\":\"$shape\",\"dtype\":\"llamacpp-$dt\",\"round\":$r,\"load\":\"$(load)\",\"llamacpp\":$j}" | tee -a "$res" >&2
			done
		done
	done
	echo "load after: $(load)" >&2
	summary "$res" decode decode_tokens_per_s
	;;
esac
