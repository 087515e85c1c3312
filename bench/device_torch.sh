#!/usr/bin/env bash
# golora against a current PyTorch on a bigger machine, in one prepared run.
#
# For a machine with PyTorch (e.g. 2.11 with MKL/oneDNN) and no Go: it runs a
# prebuilt static golora binary (GOLORA, built elsewhere with
# `CGO_ENABLED=0 GOOS=linux GOARCH=amd64 go build -o golora-linux-amd64 ./cmd/golora`)
# against bench/torch_lora_bench.py on the GPT-2 124M shape at each thread
# count in THREADS_LIST (default "2 16"):
#   train   LoRA r=8 alpha 16 on q,v, batch 4 x 256, AdamW (1 warm-up + STEPS steps)
#   prefill 256-token prompt, logits of every position (golora --all-logits)
#   decode  NEW greedy tokens through the KV cache after that prompt
# The two alternate ROUNDS times per thread count (which goes first
# alternates too), and the table gives, per phase, the median tok/s of each
# and the min / median / max of the per-round golora/PyTorch ratio, with the
# PyTorch version, its BLAS and the load average. PyTorch runs with its own
# defaults (only OMP_NUM_THREADS and torch.set_num_threads set; TORCH_ENV
# adds more, e.g. TORCH_ENV="OMP_WAIT_POLICY=PASSIVE"). About 4-6 minutes on
# a 16-core Xeon with the defaults.
#
# Usage: GOLORA=./golora-linux-amd64 bench/device_torch.sh
#        GOLORA=... PYTHON=/opt/venv/bin/python ROUNDS=5 THREADS_LIST="2 16" bench/device_torch.sh
#        GOLORA=... SMALL=1 bench/device_torch.sh    (a quick check: 2 rounds, tiny sizes)
set -euo pipefail
cd "$(dirname "$0")/.."
: "${GOLORA:?set GOLORA to a prebuilt golora binary (no Go is needed here)}"
PYTHON=${PYTHON:-python3}
ROUNDS=${ROUNDS:-5} STEPS=${STEPS:-2} NEW=${NEW:-32}
THREADS_LIST=${THREADS_LIST:-2 16}
BATCH=4 SEQ=256
if [ -n "${SMALL:-}" ]; then # sizes for checking the script, not for numbers
	ROUNDS=2 STEPS=1 NEW=4 BATCH=1 SEQ=32
fi
OUT=${OUT:-bench/out}
mkdir -p "$OUT"
res=$OUT/device_torch.jsonl
: >"$res"
"$GOLORA" --help >/dev/null # fail early on a binary for another machine
"$PYTHON" -c 'import torch' || { echo "$PYTHON has no torch" >&2; exit 1; }
torch() { # THREADS ARGS...: the PyTorch reference, tagged
	local t=$1
	shift
	# shellcheck disable=SC2086
	env ${TORCH_ENV:-} OMP_NUM_THREADS="$t" PYTHONPATH="$PWD/bench" "$PYTHON" bench/torch_lora_bench.py --cfg gpt2 --threads "$t" "$@"
}
start=$(date +%s)
echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg); $(nproc) CPUs" >&2
for t in $THREADS_LIST; do
	for r in $(seq "$ROUNDS"); do
		for who in torch golora; do
			# odd rounds PyTorch first, even rounds golora first
			((r % 2 == 1)) || who=$([ "$who" = torch ] && echo golora || echo torch)
			if [ "$who" = golora ]; then
				g=$("$GOLORA" bench train --arch gpt2 --batch "$BATCH" --seq-len "$SEQ" --method lora --r 8 --alpha 16 \
					--targets q,v --steps "$STEPS" --warmup-steps 1 --threads "$t")
				echo "{\"threads\":$t,\"round\":$r,\"phase\":\"train\",\"golora\":$g}" | tee -a "$res" >&2
				g=$("$GOLORA" bench generate --arch gpt2 --prompt-len "$SEQ" --new-tokens "$NEW" --all-logits --repeat 3 --threads "$t")
				echo "{\"threads\":$t,\"round\":$r,\"phase\":\"infer\",\"golora\":$g}" | tee -a "$res" >&2
			else
				torch "$t" --mode train --batch "$BATCH" --ctx "$SEQ" --warmup 1 --steps "$STEPS" |
					while read -r l; do echo "{\"threads\":$t,\"round\":$r,\"phase\":\"train\",\"torch\":$l}"; done | tee -a "$res" >&2
				torch "$t" --mode infer --ctx "$SEQ" --steps 3 --gen-prompt "$SEQ" --gen-new "$NEW" |
					while read -r l; do echo "{\"threads\":$t,\"round\":$r,\"phase\":\"infer\",\"torch\":$l}"; done | tee -a "$res" >&2
			fi
		done
	done
done
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg); $(($(date +%s) - start)) s" >&2
"$PYTHON" - "$res" "$BATCH" "$SEQ" <<'PY'
import json, statistics, sys
sys.path.insert(0, "bench")
from blasinfo import spread
g, t = {}, {}
for line in open(sys.argv[1]):
    r = json.loads(line)
    if "golora" in r:
        x = r["golora"]
        if r["phase"] == "train":
            g.setdefault(("train", r["threads"]), {})[r["round"]] = x["tokens_per_s"]
        else:
            g.setdefault(("prefill", r["threads"]), {})[r["round"]] = x["prefill_tokens_per_s"]
            g.setdefault(("decode", r["threads"]), {})[r["round"]] = x["decode_tokens_per_s"]
    else:
        x = r["torch"]
        ph = {"train": "train", "prefill": "prefill", "decode_kvcache": "decode"}[x["mode"]]
        t.setdefault((ph, r["threads"]), {})[r["round"]] = x["tok_per_s_median"]
        info = x
med = statistics.median
print(f"PyTorch {info['torch']}, BLAS {info.get('blas')} {info.get('blas_core') or ''}; GPT-2 124M shape, LoRA r=8 q,v;"
      f" train batch {sys.argv[2]}x{sys.argv[3]}; ratio golora/PyTorch min / median / max over alternating rounds\n")
print("| phase | threads | golora tok/s | PyTorch tok/s | ratio min / med / max |")
print("| --- | ---: | ---: | ---: | ---: |")
for key in sorted(g, key=lambda k: (["train", "prefill", "decode"].index(k[0]), k[1])):
    a, b = g[key], t.get(key, {})
    if any(i in b for i in a):
        print(f"| {key[0]} | {key[1]} | {med(a.values()):.1f} | {med(b.values()):.1f} | {spread(a[i] / b[i] for i in a if i in b)} |")
PY
