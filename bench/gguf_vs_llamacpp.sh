#!/usr/bin/env bash
# GGUF interoperability with llama.cpp itself (not in CI): greedy
# continuations of golora and llama.cpp on the same files.
#
#  1. llama.cpp's own converter (llama-convert-llama2c-to-ggml) writes the
#     embedded stories260K checkpoint as GGUF; golora on that file must give
#     the greedy ids golora gives on the embedded model (the q/k permutation,
#     names and tokenizer of a file golora did not write).
#  2. golora export gguf --type f32|f16|q8_0|q4_0 of the embedded model:
#     llama.cpp (llama-completion, --temp 0) must continue the prompt as
#     golora generate --temperature 0 does on the same file.
#  3. A short golora train run; its adapter exported merged and --lora-only:
#     llama.cpp on the merged file, and on the base with --lora, must give
#     golora generate --adapter's continuation.
#
# llama.cpp is built from the source shipped inside the npm package
# node-llama-cpp (a git bundle; never commit it):
#   npm pack node-llama-cpp && tar xzf node-llama-cpp-*.tgz
#   git clone package/llama/gitRelease.bundle src && cd src
#   cmake -B build -DGGML_NATIVE=ON -DLLAMA_CURL=OFF -DLLAMA_BUILD_TESTS=OFF \
#     -DLLAMA_BUILD_SERVER=OFF -DLLAMA_BUILD_EXAMPLES=ON -DCMAKE_BUILD_TYPE=Release
#   cmake --build build -j2 --target llama-completion llama-convert-llama2c-to-ggml
#
# Usage: LLAMACPP_BIN=/path/to/src/build/bin bench/gguf_vs_llamacpp.sh
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${LLAMACPP_BIN:?set LLAMACPP_BIN to llama.cpp build/bin}
export LD_LIBRARY_PATH=$BIN${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
N=${N:-48}
PROMPT=${PROMPT:-"Once upon a time"}
OUT=bench/out/gguf
mkdir -p "$OUT"
go build -o "$OUT/golora" ./cmd/golora
G="$OUT/golora"
fail=0

# Both programs print the prompt followed by the continuation; compare the
# text with whitespace squeezed (llama.cpp adds a newline at the end) and
# without the unknown token, which golora prints as "<unk>" and llama.cpp as
# "▅" or nothing (phi3).
norm() { sed 's/<unk>//g; s/▅//g' | tr -s ' \n' ' ' | sed 's/^ *//; s/^<s> *//; s/ *$//'; }
golora_text() { "$G" generate --temperature 0 --max-new-tokens "$N" --prompt "$PROMPT" "$@" 2>/dev/null | norm; }
# --no-repack: llama.cpp's repacked Q8_0/Q4_0 CPU kernels crash (general
# protection fault in libggml-cpu) on stories260K's 64-wide rows, whoever
# wrote the file; the plain kernels run them.
# llama-completion prints the text through its logger's worker thread, a
# singleton it never joins (common/log.cpp, "logs may be lost if not flushed
# before the program exits"): on a loaded machine a run often ends without
# the last tokens (exit status 0). Runs are repeated until two agree, and the
# longest is taken (finished greedy runs print the same text).
llama_text() {
	local out prev= best=
	for _ in 1 2 3 4 5 6; do
		out=$("$BIN/llama-completion" -m "$1" "${@:2}" -p "$PROMPT" -n "$N" --temp 0 -no-cnv --no-warmup -t 2 --simple-io --no-repack 2>/dev/null </dev/null | norm)
		[ ${#out} -gt ${#best} ] && best=$out
		[ "$out" = "$prev" ] && break
		prev=$out
	done
	printf '%s\n' "$best"
}
same() { # name, a, b
	if [ "$2" = "$3" ]; then echo "same   $1"; else
		echo "DIFFER $1"; echo "   golora:    $2"; echo "   llama.cpp: $3"; fail=1
	fi
}

# 1. llama.cpp's converter.
"$BIN/llama-convert-llama2c-to-ggml" --copy-vocab-from-model model/embedded/tok512.bin \
	--llama2c-model model/embedded/stories260K.bin --llama2c-output-model "$OUT/llamacpp-stories260K.gguf" >/dev/null 2>&1
a=$("$G" generate --temperature 0 --max-new-tokens "$N" --prompt "$PROMPT" --print-ids 2>/dev/null)
b=$("$G" generate --model "$OUT/llamacpp-stories260K.gguf" --temperature 0 --max-new-tokens "$N" --prompt "$PROMPT" --print-ids 2>/dev/null)
same "golora ids: embedded vs llama.cpp-converted GGUF" "$a" "$b"
same "llama.cpp-converted GGUF: golora vs llama.cpp" "$(golora_text --model "$OUT/llamacpp-stories260K.gguf")" "$(llama_text "$OUT/llamacpp-stories260K.gguf")"

# 2. golora's exports.
for t in f32 f16 q8_0 q4_0; do
	"$G" export gguf --type "$t" --out "$OUT/stories-$t.gguf" >/dev/null
	same "export --type $t" "$(golora_text --model "$OUT/stories-$t.gguf")" "$(llama_text "$OUT/stories-$t.gguf")"
done

# 3. An adapter: merged and as llama.cpp's LoRA GGUF.
"$G" train --steps 30 --targets q,k,v,o --overwrite --out "$OUT/run" >/dev/null 2>&1
"$G" export gguf --adapter "$OUT/run" --out "$OUT/merged.gguf" >/dev/null
"$G" export gguf --adapter "$OUT/run" --lora-only --out "$OUT/lora.gguf" >/dev/null
ref=$(golora_text --adapter "$OUT/run")
same "merged export (llama.cpp) vs golora --adapter" "$ref" "$(llama_text "$OUT/merged.gguf")"
same "base + --lora (llama.cpp) vs golora --adapter" "$ref" "$(llama_text "$OUT/stories-f32.gguf" --lora "$OUT/lora.gguf")"
# 4. Optional: a GPT-2 folder with its tokenizer (byte-level BPE), e.g.
#    GPT2_MODEL=../shared/models/tiny-random-gpt2.
if [ -n "${GPT2_MODEL:-}" ]; then
	"$G" export gguf --model "$GPT2_MODEL" --out "$OUT/gpt2.gguf" >/dev/null
	same "GPT-2 export: golora on the folder vs llama.cpp on the GGUF" \
		"$(golora_text --model "$GPT2_MODEL" --ignore-eos)" "$(llama_text "$OUT/gpt2.gguf")"
fi
# 5. The newer families: the tiny random HF models of FAMILIES (default
#    ../shared/fixtures/families; vocab 128, no tokenizer), each given a
#    128-token llama2.c tok.bin (written below: letters, " x" pieces and
#    common pairs, so the prompt needs no byte fallback), exported as F32
#    GGUF: golora on the GGUF must continue as golora on the folder, and
#    llama.cpp as golora. EOS is ignored on both sides (random models).
FAMILIES=${FAMILIES:-../shared/fixtures/families}
if [ -d "$FAMILIES" ]; then
	/usr/bin/python3 - "$OUT/tok128.bin" <<'PY'
import string, struct, sys
pieces = ["<unk>", "\n<s>\n", "\n</s>\n", " "] + list(string.ascii_lowercase) + [" " + c for c in string.ascii_lowercase]
pieces += list(string.ascii_uppercase) + list(string.digits) + list(".,!?'-:;()")
# <|endoftext|>: llama.cpp's vocabulary loader requires it when general.name
# contains "phi3".
pieces += "th he in er an re on at en nd ti es or te of ed is it al ar st to nt ng se <|endoftext|>".split()
assert len(pieces) == 128
with open(sys.argv[1], "wb") as f:
    f.write(struct.pack("<i", max(len(p.encode()) for p in pieces)))
    for i, p in enumerate(pieces):
        b = p.encode()
        f.write(struct.pack("<fi", -float(i), len(b)) + b)
PY
	for d in "$FAMILIES"/*/; do
		name=$(basename "$d")
		m=$OUT/families/$name
		mkdir -p "$m"
		cp "$d/config.json" "$d/model.safetensors" "$m/"
		cp "$OUT/tok128.bin" "$m/tok128.bin"
		if ! "$G" export gguf --model "$m" --out "$m.gguf" >/dev/null 2>"$m.export.err"; then
			echo "FAILED $name: golora export gguf: $(tail -1 "$m.export.err")"; fail=1; continue
		fi
		ref=$(golora_text --model "$m" --ignore-eos)
		same "$name: golora on the GGUF export vs on the folder" "$ref" "$(golora_text --model "$m.gguf" --ignore-eos)"
		same "$name: llama.cpp vs golora on the GGUF export" "$ref" "$(llama_text "$m.gguf" --ignore-eos)"
	done
fi
exit $fail
