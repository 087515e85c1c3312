#!/usr/bin/env python3
"""Self-contained CPU reference benchmark: GPT-2- or Llama-shaped decoder + hand-written LoRA.

LoRA r=8, alpha=16 on attention q and v projections (frozen W0, A kaiming-uniform,
B zeros, scaling alpha/r, dropout 0). AdamW on LoRA params only.
Random init; random token data. Measures:
  train   : tokens/s for batch B x T (fwd + bwd + AdamW step)
  prefill : forward-only tokens/s for one T-token prompt (no grad)
  decode  : greedy generation tokens/s with a KV cache (after a short prompt)
  peak RSS of the process (run one config per process for a clean figure).

Usage: OMP_WAIT_POLICY=PASSIVE python3 torch_lora_bench.py --cfg gpt2|small|llama --mode train|infer [--threads 2]
       (--full: train all parameters instead of LoRA only, for comparison with llama-finetune)
       (--autocast bf16: run forward passes under torch.autocast("cpu", dtype=torch.bfloat16),
        PyTorch's CPU mixed precision: matmuls in bf16 from bf16-rounded inputs, weights kept f32;
        the counterpart of golora --base-dtype bf16)
Copied from ../shared/bench/torch_lora_bench.py; --autocast added for docs/BENCHMARKS.md,
each line records the BLAS kernel, versions and load average (blasinfo.py), and --cfg llama
is the twin of golora's llama bench shape (RMSNorm, rotate_half RoPE, grouped-query
attention, SwiGLU, untied head) that bench/generate_vs_pytorch.sh and train_vs_pytorch.sh run.
Note: without OMP_WAIT_POLICY=PASSIVE, Debian torch 1.13's spinning libgomp threads fight
the OpenBLAS pthreads on 2 cores (prefill/decode ~2x slower, very noisy).
Prints one JSON line per measurement.
"""
import argparse, json, math, os, resource, statistics, sys, time

import torch
import torch.nn as nn
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import blasinfo  # noqa: E402

CFGS = {
    # GPT-2 small: 12 layers, d=768, 12 heads, vocab 50257, 1024 learned positions
    "gpt2": dict(n_layer=12, d=768, n_head=12, vocab=50257, n_pos=1024),
    # quick-comparison config
    "small": dict(n_layer=6, d=384, n_head=6, vocab=50257, n_pos=1024),
    # golora bench's llama shape: GPT-2's width, 4 KV heads, SwiGLU 2048, vocab 32000
    "llama": dict(n_layer=12, d=768, nh=12, nkv=4, inter=2048, vocab=32000),
}


class LoRALinear(nn.Module):
    def __init__(self, base: nn.Linear, r=8, alpha=16):
        super().__init__()
        self.base = base
        for p in self.base.parameters():
            p.requires_grad_(False)
        self.A = nn.Parameter(torch.empty(r, base.in_features))
        self.B = nn.Parameter(torch.zeros(base.out_features, r))
        nn.init.kaiming_uniform_(self.A, a=math.sqrt(5))  # same as PEFT default
        self.scaling = alpha / r

    def forward(self, x):
        return self.base(x) + F.linear(F.linear(x, self.A), self.B) * self.scaling


class Attn(nn.Module):
    def __init__(self, d, n_head, r, alpha):
        super().__init__()
        self.n_head, self.hd = n_head, d // n_head
        self.q = LoRALinear(nn.Linear(d, d), r, alpha)
        self.k = nn.Linear(d, d)
        self.v = LoRALinear(nn.Linear(d, d), r, alpha)
        self.o = nn.Linear(d, d)

    def forward(self, x, cache=None):
        B, T, C = x.shape
        sh = lambda t: t.view(B, T, self.n_head, self.hd).transpose(1, 2)
        q, k, v = sh(self.q(x)), sh(self.k(x)), sh(self.v(x))
        if cache is not None:
            if "k" in cache:
                k = torch.cat([cache["k"], k], dim=2)
                v = torch.cat([cache["v"], v], dim=2)
            cache["k"], cache["v"] = k, v
        S = k.shape[2]
        att = (q @ k.transpose(-2, -1)) * (1.0 / math.sqrt(self.hd))
        if T > 1:  # causal mask (queries are the last T positions of S)
            mask = torch.ones(T, S, dtype=torch.bool).tril(diagonal=S - T)
            att = att.masked_fill(~mask, float("-inf"))
        att = F.softmax(att, dim=-1)
        y = (att @ v).transpose(1, 2).reshape(B, T, C)
        return self.o(y)


class Block(nn.Module):
    def __init__(self, d, n_head, r, alpha):
        super().__init__()
        self.ln1, self.ln2 = nn.LayerNorm(d), nn.LayerNorm(d)
        self.attn = Attn(d, n_head, r, alpha)
        self.fc, self.proj = nn.Linear(d, 4 * d), nn.Linear(4 * d, d)

    def forward(self, x, cache=None):
        x = x + self.attn(self.ln1(x), cache)
        return x + self.proj(F.gelu(self.fc(self.ln2(x)), approximate="tanh"))


class GPT(nn.Module):
    def __init__(self, n_layer, d, n_head, vocab, n_pos, r=8, alpha=16):
        super().__init__()
        self.wte, self.wpe = nn.Embedding(vocab, d), nn.Embedding(n_pos, d)
        self.blocks = nn.ModuleList([Block(d, n_head, r, alpha) for _ in range(n_layer)])
        self.ln_f = nn.LayerNorm(d)
        # freeze everything except LoRA A/B
        for n, p in self.named_parameters():
            p.requires_grad_(n.endswith(".A") or n.endswith(".B"))

    def forward(self, idx, caches=None, pos0=0):
        T = idx.shape[1]
        x = self.wte(idx) + self.wpe(torch.arange(pos0, pos0 + T))
        for i, b in enumerate(self.blocks):
            x = b(x, None if caches is None else caches[i])
        return F.linear(self.ln_f(x), self.wte.weight)  # tied lm head


class RMSNorm(nn.Module):
    def __init__(self, d, eps=1e-6):
        super().__init__()
        self.w, self.eps = nn.Parameter(torch.ones(d)), eps

    def forward(self, x):
        return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps) * self.w


def rope(x, cos, sin):  # x (B, H, T, D), HF rotate_half
    h = x.shape[-1] // 2
    return x * cos + torch.cat([-x[..., h:], x[..., :h]], -1) * sin


class LlamaAttn(nn.Module):
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


class LlamaBlock(nn.Module):
    def __init__(s, d, nh, nkv, inter, r, alpha):
        super().__init__()
        s.n1, s.n2 = RMSNorm(d), RMSNorm(d)
        s.attn = LlamaAttn(d, nh, nkv, r, alpha)
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
        s.blocks = nn.ModuleList([LlamaBlock(d, nh, nkv, inter, r, alpha) for _ in range(n_layer)])
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


def rss_peak_mib():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def emit(**kw):
    kw["peak_rss_mib"] = round(rss_peak_mib(), 1)
    kw.update(blasinfo.info())  # the baseline's BLAS kernel, versions, load
    print(json.dumps(kw), flush=True)


def timed(fn, warm, n):
    for _ in range(warm):
        fn()
    ts = []
    for _ in range(n):
        t0 = time.perf_counter()
        fn()
        ts.append(time.perf_counter() - t0)
    return ts


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--cfg", default="gpt2", choices=CFGS)
    ap.add_argument("--mode", default="train", choices=["train", "infer"])
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--batch", type=int, default=4)
    ap.add_argument("--ctx", type=int, default=256)
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--steps", type=int, default=5)
    ap.add_argument("--gen-prompt", type=int, default=32)
    ap.add_argument("--gen-new", type=int, default=128)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--full", action="store_true",
                    help="train ALL params (full fine-tune, no LoRA grads frozen) for comparison")
    ap.add_argument("--autocast", default="off", choices=["off", "bf16"],
                    help="bf16: forward under torch.autocast('cpu', dtype=torch.bfloat16)")
    a = ap.parse_args()
    amp = lambda: torch.autocast("cpu", dtype=torch.bfloat16, enabled=a.autocast == "bf16")

    torch.manual_seed(a.seed)
    torch.set_num_threads(a.threads)
    cfg = CFGS[a.cfg]
    m = Llama(**cfg) if a.cfg == "llama" else GPT(**cfg)
    if a.full:
        for p in m.parameters():
            p.requires_grad_(True)
    n_all = sum(p.numel() for p in m.parameters())
    n_lora = sum(p.numel() for p in m.parameters() if p.requires_grad)
    common = dict(torch=torch.__version__, cfg=a.cfg, threads=torch.get_num_threads(), autocast=a.autocast,
                  params=n_all, lora_params=n_lora)

    if a.mode == "train":
        m.train()
        opt = torch.optim.AdamW([p for p in m.parameters() if p.requires_grad], lr=1e-4)
        x = torch.randint(0, cfg["vocab"], (a.batch, a.ctx + 1))
        inp, tgt = x[:, :-1], x[:, 1:]

        def step():
            with amp():
                logits = m(inp)
                loss = F.cross_entropy(logits.float().reshape(-1, logits.shape[-1]), tgt.reshape(-1))
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()

        ts = timed(step, a.warmup, a.steps)
        tok = a.batch * a.ctx
        emit(**common, mode="train_full" if a.full else "train", batch=a.batch, ctx=a.ctx,
             step_s=[round(t, 4) for t in ts],
             tok_per_s_mean=round(tok * len(ts) / sum(ts), 1),
             tok_per_s_median=round(tok / statistics.median(ts), 1))
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
                t0 = time.perf_counter()
                logits = m(ids, caches, 0)
                t1 = time.perf_counter()
                nxt = logits[:, -1].argmax(-1, keepdim=True)
                pos = a.gen_prompt
                for _ in range(a.gen_new):
                    logits = m(nxt, caches, pos)
                    pos += 1
                    nxt = logits[:, -1].argmax(-1, keepdim=True)
                t2 = time.perf_counter()
                return t1 - t0, t2 - t1

            generate()  # warm-up
            runs = [generate() for _ in range(3)]
            dec = [r[1] for r in runs]
            emit(**common, mode="decode_kvcache", prompt=a.gen_prompt, new=a.gen_new,
                 decode_s=[round(t, 4) for t in dec],
                 tok_per_s_median=round(a.gen_new / statistics.median(dec), 1))


if __name__ == "__main__":
    main()
