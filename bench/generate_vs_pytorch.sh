#!/usr/bin/env bash
# Prefill and KV-cache decode tokens/s, golora against PyTorch, in one run.
#
# Shapes: GPT-2 124M (12 layers, 768 wide, 12 heads, vocab 50257, tied head)
# and a Llama shape of the same width (12 layers, 768 wide, 12 heads, 4 KV
# heads, SwiGLU 2048, vocab 32000, untied head), random weights. Prefill is a
# 256-token prompt; decode is 128 greedy tokens after it through the KV
# cache. PyTorch runs bench/torch_lora_bench.py for GPT-2 and the
# Llama twin this script writes to bench/out/torch_llama_bench.py (built from
# the same LoRALinear / timing helpers). The two alternate, ROUNDS times per
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

# write_torch_llama writes the PyTorch Llama reference: the same model as
# golora's llama shape (RMSNorm, rotate_half RoPE, grouped-query attention,
# SwiGLU, untied head), LoRA on q and v, and the JSON lines of
# torch_lora_bench.py, whose LoRALinear, timing and output helpers it imports.
write_torch_llama() {
	mkdir -p "$OUT"
	cat >"$OUT/torch_llama_bench.py" <<'PY'
import argparse, math, os, statistics, sys, time
import torch, torch.nn as nn, torch.nn.functional as F
from torch_lora_bench import LoRALinear, emit, timed

class RMSNorm(nn.Module):
    def __init__(self, d, eps=1e-6):
        super().__init__()
        self.w, self.eps = nn.Parameter(torch.ones(d)), eps
    def forward(self, x):
        return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps) * self.w

def rope(x, cos, sin):  # x (B, H, T, D), HF rotate_half
    h = x.shape[-1] // 2
    return x * cos + torch.cat([-x[..., h:], x[..., :h]], -1) * sin

class Attn(nn.Module):
    def __init__(s, d, nh, nkv, r, alpha):
        super().__init__()
        s.nh, s.nkv, s.hd = nh, nkv, d // nh
        s.q = LoRALinear(nn.Linear(d, d, bias=False), r, alpha)
        s.k = nn.Linear(d, nkv * s.hd, bias=False)
        s.v = LoRALinear(nn.Linear(d, nkv * s.hd, bias=False), r, alpha)
        s.o = nn.Linear(d, d, bias=False)
    def forward(s, x, cos, sin, cache=None):
        B, T, C = x.shape
        q = s.q(x).view(B, T, s.nh, s.hd).transpose(1, 2)
        k = s.k(x).view(B, T, s.nkv, s.hd).transpose(1, 2)
        v = s.v(x).view(B, T, s.nkv, s.hd).transpose(1, 2)
        q, k = rope(q, cos, sin), rope(k, cos, sin)
        if cache is not None:
            if "k" in cache:
                k, v = torch.cat([cache["k"], k], 2), torch.cat([cache["v"], v], 2)
            cache["k"], cache["v"] = k, v
        rep = s.nh // s.nkv
        k, v = k.repeat_interleave(rep, 1), v.repeat_interleave(rep, 1)
        S = k.shape[2]
        att = (q @ k.transpose(-2, -1)) / math.sqrt(s.hd)
        if T > 1:
            mask = torch.ones(T, S, dtype=torch.bool).tril(diagonal=S - T)
            att = att.masked_fill(~mask, float("-inf"))
        y = (F.softmax(att, -1) @ v).transpose(1, 2).reshape(B, T, C)
        return s.o(y)

class Block(nn.Module):
    def __init__(s, d, nh, nkv, inter, r, alpha):
        super().__init__()
        s.n1, s.n2 = RMSNorm(d), RMSNorm(d)
        s.attn = Attn(d, nh, nkv, r, alpha)
        s.gate = nn.Linear(d, inter, bias=False)
        s.up = nn.Linear(d, inter, bias=False)
        s.down = nn.Linear(inter, d, bias=False)
    def forward(s, x, cos, sin, cache=None):
        x = x + s.attn(s.n1(x), cos, sin, cache)
        h = s.n2(x)
        return x + s.down(F.silu(s.gate(h)) * s.up(h))

class Llama(nn.Module):
    def __init__(s, n_layer, d, nh, nkv, inter, vocab, n_pos=2048, r=8, alpha=16):
        super().__init__()
        s.emb = nn.Embedding(vocab, d)
        s.blocks = nn.ModuleList([Block(d, nh, nkv, inter, r, alpha) for _ in range(n_layer)])
        s.norm = RMSNorm(d)
        s.head = nn.Linear(d, vocab, bias=False)
        hd = d // nh
        inv = 10000.0 ** (-torch.arange(0, hd, 2, dtype=torch.float64) / hd)
        ang = torch.arange(n_pos, dtype=torch.float64)[:, None] * inv[None]
        ang = torch.cat([ang, ang], -1)
        s.cos, s.sin = ang.cos().float(), ang.sin().float()
        for n, p in s.named_parameters():
            p.requires_grad_(n.endswith(".A") or n.endswith(".B"))
    def forward(s, idx, caches=None, pos0=0):
        T = idx.shape[1]
        cos, sin = s.cos[pos0:pos0 + T], s.sin[pos0:pos0 + T]
        x = s.emb(idx)
        for i, b in enumerate(s.blocks):
            x = b(x, cos, sin, None if caches is None else caches[i])
        return s.head(s.norm(x))

ap = argparse.ArgumentParser()
ap.add_argument("--mode", default="train", choices=["train", "infer"])
ap.add_argument("--threads", type=int, default=2)
ap.add_argument("--batch", type=int, default=4)
ap.add_argument("--ctx", type=int, default=256)
ap.add_argument("--warmup", type=int, default=3)
ap.add_argument("--steps", type=int, default=5)
ap.add_argument("--gen-prompt", type=int, default=32)
ap.add_argument("--gen-new", type=int, default=128)
ap.add_argument("--autocast", default="off", choices=["off", "bf16"])
a = ap.parse_args()
amp = lambda: torch.autocast("cpu", dtype=torch.bfloat16, enabled=a.autocast == "bf16")
torch.manual_seed(0)
torch.set_num_threads(a.threads)
cfg = dict(n_layer=12, d=768, nh=12, nkv=4, inter=2048, vocab=32000)
m = Llama(**cfg)
common = dict(torch=torch.__version__, cfg="llama", threads=torch.get_num_threads(), autocast=a.autocast,
              params=sum(p.numel() for p in m.parameters()),
              lora_params=sum(p.numel() for p in m.parameters() if p.requires_grad))
if a.mode == "train":
    opt = torch.optim.AdamW([p for p in m.parameters() if p.requires_grad], lr=1e-4)
    x = torch.randint(0, cfg["vocab"], (a.batch, a.ctx + 1))
    def step():
        with amp():
            logits = m(x[:, :-1])
            loss = F.cross_entropy(logits.float().reshape(-1, logits.shape[-1]), x[:, 1:].reshape(-1))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    ts = timed(step, a.warmup, a.steps)
    tok = a.batch * a.ctx
    emit(**common, mode="train", batch=a.batch, ctx=a.ctx, step_s=[round(t, 4) for t in ts],
         tok_per_s_mean=round(tok * len(ts) / sum(ts), 1), tok_per_s_median=round(tok / statistics.median(ts), 1))
else:
    m.eval()
    with torch.inference_mode(), amp():
        prompt = torch.randint(0, cfg["vocab"], (1, a.ctx))
        ts = timed(lambda: m(prompt), 2, a.steps)
        emit(**common, mode="prefill", ctx=a.ctx, fwd_s=[round(t, 4) for t in ts],
             tok_per_s_median=round(a.ctx / statistics.median(ts), 1))
        def generate():
            caches = [dict() for _ in m.blocks]
            ids = torch.randint(0, cfg["vocab"], (1, a.gen_prompt))
            logits = m(ids, caches, 0)
            nxt = logits[:, -1].argmax(-1, keepdim=True)
            t0 = time.perf_counter()
            for i in range(a.gen_new):
                logits = m(nxt, caches, a.gen_prompt + i)
                nxt = logits[:, -1].argmax(-1, keepdim=True)
            return time.perf_counter() - t0
        generate()
        dec = [generate() for _ in range(3)]
        emit(**common, mode="decode_kvcache", prompt=a.gen_prompt, new=a.gen_new,
             decode_s=[round(t, 4) for t in dec], tok_per_s_median=round(a.gen_new / statistics.median(dec), 1))
PY
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
	if [ "$1" = gpt2 ]; then
		echo "$REF_BENCH/torch_lora_bench.py --cfg gpt2"
	else
		echo "$OUT/torch_llama_bench.py"
	fi
}

main() {
	cd "$(dirname "$0")/.."
	need_torch
	build_golora
	write_torch_llama
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
bw, g, ga, t = None, {}, {}, {}
for line in open(res):
    r = json.loads(line)
    if r.get("bench") == "membw":
        bw = r["read_gb_per_s"]
    elif "golora" in r:
        g.setdefault(r["shape"], {})[r["round"]] = r["golora"]
    elif "golora_all" in r:
        ga.setdefault(r["shape"], {})[r["round"]] = r["golora_all"]
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
    print(f"| {shape} | decode 128 ({r0['weights']}) | {dec:.1f} | {tdm:.1f} | {spread(runs, 'decode_tokens_per_s', td, 'tok_per_s_median')} | {dec*wb/1e9/bw:.0%} of read bandwidth | | |")
PY
}

if [[ "${BASH_SOURCE[0]}" == "$0" ]]; then
	main "$@"
fi
