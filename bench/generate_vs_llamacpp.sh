#!/usr/bin/env bash
# Prefill and KV-cache decode tokens/s, golora against llama.cpp, in one run.
#
# Shapes: those of `golora bench generate --arch gpt2|llama`: GPT-2 124M (12
# layers, 768 wide, 12 heads, MLP 3072, vocab 50257, 1024 positions, tied
# head) and a Llama of the same width (12 layers, 768 wide, 12 heads, 4 KV
# heads, SwiGLU 2048, vocab 32000, untied head, rope theta 1e4, rms eps 1e-5).
# bench/make_gguf.py writes them as GGUF files with random N(0, 0.02)
# weights and a dummy tokenizer (cached in bench/out/), F32 or, with
# WEIGHTS=f16, F16 matrices and F32 norms/biases as llama.cpp's converter
# leaves them. The two programs alternate, ROUNDS times per shape, THREADS
# threads each, so load from other processes hits both alike; the table
# shows medians over rounds and golora/llama.cpp.
#
# What each side times:
#   prefill  golora: median of 3 prefills of a 256-token prompt after one
#            warm-up, logits of the last token only. llama.cpp: llama-bench
#            pp256 (-p 256 -n 0): one llama_decode of 256 random tokens
#            through llama_batch_get_one, whose null logits mask makes
#            llama.cpp compute the last token's logits only (llama-batch.cpp),
#            after one warm-up, on an emptied KV cache; median of -r reps.
#   decode   golora: 128 greedy tokens after the 256-token prompt (positions
#            256..383). llama.cpp: llama-bench tg128 at depth 256
#            (-p 0 -n 128 -d 256): 256 untimed prompt tokens, then 128
#            single-token llama_decode calls, each with its logits; plain
#            tg128 would decode at positions 0..127, a shorter attention.
# Caveats of the comparison: with WEIGHTS=f16 golora's prefill still runs on
# F32 weights while llama.cpp's runs on the F16 ones; llama.cpp keeps an F16
# KV cache and picks flash attention itself (-fa auto), golora an F32 cache;
# llama-bench's worker threads spin between ops (--poll 50), golora's spin up to
# 500 µs between jobs before parking (kernels.Run).
# The JSON lines record llama.cpp's build, CPU, backend and these settings.
#
# Usage: bench/generate_vs_llamacpp.sh          (THREADS=2 ROUNDS=3 WEIGHTS=f32)
#        WEIGHTS=f16 ROUNDS=2 bench/generate_vs_llamacpp.sh
#        LLAMA_BENCH=/path/to/llama-bench LLAMACPP_SRC=/path/to/llama.cpp GOLORA_BIN=/path/to/golora ...
# llama.cpp itself is built from source (no Debian package in bookworm):
#   cmake -B build -DGGML_NATIVE=ON -DLLAMA_CURL=OFF -DLLAMA_OPENSSL=OFF \
#     -DLLAMA_BUILD_SERVER=OFF -DLLAMA_BUILD_APP=OFF -DLLAMA_BUILD_TESTS=OFF \
#     -DLLAMA_BUILD_EXAMPLES=OFF -DCMAKE_BUILD_TYPE=Release
#   cmake --build build -j2 --target llama-bench
set -euo pipefail

THREADS=${THREADS:-2}
ROUNDS=${ROUNDS:-3}
WEIGHTS=${WEIGHTS:-f32}
LLAMACPP_SRC=${LLAMACPP_SRC:?set LLAMACPP_SRC to a llama.cpp source tree}
LLAMA_BENCH=${LLAMA_BENCH:-$LLAMACPP_SRC/build/bin/llama-bench}
PYTHON=${PYTHON:-/usr/bin/python3}
OUT=bench/out
# A source tree without .git builds as commit "unknown": LLAMACPP_COMMIT, or
# a COMMIT file beside the tree, names it in the table instead.
LLAMACPP_COMMIT=${LLAMACPP_COMMIT:-$(cat "$LLAMACPP_SRC/../COMMIT" 2>/dev/null || true)}

# need_llamacpp checks for llama-bench and gguf-py and says how to get them.
need_llamacpp() {
	if [ ! -x "$LLAMA_BENCH" ]; then
		cat >&2 <<EOF
generate_vs_llamacpp.sh: no llama-bench at $LLAMA_BENCH.
Build it from a llama.cpp checkout at \$LLAMACPP_SRC (CPU only):
  cd \$LLAMACPP_SRC && cmake -B build -DGGML_NATIVE=ON -DLLAMA_CURL=OFF -DLLAMA_OPENSSL=OFF \\
    -DLLAMA_BUILD_SERVER=OFF -DLLAMA_BUILD_APP=OFF -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF \\
    -DCMAKE_BUILD_TYPE=Release && cmake --build build -j2 --target llama-bench
or point LLAMA_BENCH at an existing llama-bench.
EOF
		exit 1
	fi
	if [ ! -f "$LLAMACPP_SRC/gguf-py/gguf/gguf_writer.py" ]; then
		echo "generate_vs_llamacpp.sh: no gguf-py under LLAMACPP_SRC=$LLAMACPP_SRC (bench/make_gguf.py needs it)" >&2
		exit 1
	fi
}

# need_numpy installs Debian's numpy when /usr/bin/python3 lacks it (PYTHON: another interpreter).
need_numpy() {
	if ! "$PYTHON" -c 'import numpy' 2>/dev/null; then
		[ "$PYTHON" = /usr/bin/python3 ] || { echo "generate_vs_llamacpp.sh: $PYTHON has no numpy" >&2; exit 1; }
		apt-get update && apt-get install -y python3-numpy
	fi
}

# build_golora sets GOLORA to GOLORA_BIN or a fresh build of ./cmd/golora.
build_golora() {
	mkdir -p "$OUT"
	GOLORA=${GOLORA_BIN:-$OUT/golora}
	[ -n "${GOLORA_BIN:-}" ] || go build -o "$GOLORA" ./cmd/golora
}

# gguf_path prints the cached GGUF file of a shape at WEIGHTS, writing it
# first if it is missing.
gguf_path() {
	local f=$OUT/llamacpp-$1-$WEIGHTS.gguf
	if [ ! -f "$f" ]; then
		echo "writing $f" >&2
		"$PYTHON" bench/make_gguf.py --src "$LLAMACPP_SRC" --shape "$1" --weights "$WEIGHTS" -o "$f"
	fi
	echo "$f"
}

# llama_bench runs llama-bench with the given test flags and prints one
# compact JSON object per test it ran.
llama_bench() {
	local m=$1
	shift
	"$LLAMA_BENCH" -m "$m" -t "$THREADS" -r 3 -o json "$@" 2>>"$OUT/llama-bench.stderr" |
		"$PYTHON" -c 'import json,sys; [print(json.dumps(x)) for x in json.load(sys.stdin)]'
}

main() {
	cd "$(dirname "$0")/.."
	need_llamacpp
	need_numpy
	build_golora
	local res=$OUT/generate_vs_llamacpp-$WEIGHTS.jsonl
	: >"$res"
	: >"$OUT/llama-bench.stderr"
	echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg)" >&2
	for shape in gpt2 llama; do
		m=$(gguf_path "$shape")
		for r in $(seq "$ROUNDS"); do
			g=$("$GOLORA" bench generate --arch "$shape" --prompt-len 256 --new-tokens 128 --threads "$THREADS" --weights "$WEIGHTS")
			echo "{\"shape\":\"$shape\",\"round\":$r,\"golora\":$g}" | tee -a "$res" >&2
			for test in "-p 256 -n 0" "-p 0 -n 128 -d 256"; do
				# shellcheck disable=SC2086
				llama_bench "$m" $test |
					while read -r line; do echo "{\"shape\":\"$shape\",\"round\":$r,\"llamacpp\":$line}"; done | tee -a "$res" >&2
			done
		done
	done
	echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)" >&2
	"$PYTHON" - "$res" "$THREADS" "$WEIGHTS" "$LLAMACPP_COMMIT" <<'PY'
import json, statistics, sys
res, threads, weights, commit = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4]
g, l, info = {}, {}, None
for line in open(res):
    r = json.loads(line)
    if "golora" in r:
        g.setdefault(r["shape"], []).append(r["golora"])
    else:
        x = r["llamacpp"]
        phase = "prefill" if x["n_prompt"] > 0 else "decode"
        # llama-bench's avg_ts is a mean over reps; take their median as golora does.
        l.setdefault((r["shape"], phase), []).append(statistics.median(x["samples_ts"]))
        info = x
med = statistics.median
print(f"threads={threads}; weights {weights}; tokens/s, medians over rounds")
if info["build_commit"] == "unknown" and commit:
    info["build_commit"] = commit
print(f"llama.cpp {info['build_commit']} (build {info['build_number']}), backend {info['backends']}, "
      f"CPU {info['cpu_info']}, flash_attn={info.get('flash_attn')}, KV cache {info.get('type_k')}/{info.get('type_v')}, "
      f"n_batch={info.get('n_batch')}, n_ubatch={info.get('n_ubatch')}, poll={info.get('poll')}\n")
print("| shape | phase | golora tok/s | llama.cpp tok/s | golora/llama.cpp |")
print("| --- | --- | ---: | ---: | ---: |")
for shape, runs in g.items():
    pre, dec = med(x["prefill_tokens_per_s"] for x in runs), med(x["decode_tokens_per_s"] for x in runs)
    lp, ld = med(l[(shape, "prefill")]), med(l[(shape, "decode")])
    print(f"| {shape} | prefill 256 (pp256) | {pre:.0f} | {lp:.0f} | {pre/lp:.2f}x |")
    print(f"| {shape} | decode 128 after 256 (tg128 @ d256) | {dec:.1f} | {ld:.1f} | {dec/ld:.2f}x |")
PY
}

if [[ "${BASH_SOURCE[0]}" == "$0" ]]; then
	main "$@"
fi
