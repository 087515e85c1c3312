#!/usr/bin/python3
"""Recompute the GPT-2/Llama/Qwen2 references in testdata/fixtures from
their weights and check the stored files against them.

The fixtures are copies (testdata/README.md); this script is the in-repo
derivation of their references: it loads each base model and adapter, runs
tools/peftref/gen.py's plain-torch model (HF Llama/Qwen2 conventions, PEFT
LoRA with rsLoRA and rank/alpha patterns) or the GPT-2 below in float64,
and compares the loss with reference.json, the logits and every gradient
with reference.safetensors, and merged/ with base + scaling * B @ A; ops/ is recomputed op by op. It exits 1 on any mismatch.

Run from the repository root with Debian's python3-torch 1.13 and numpy:
    /usr/bin/python3 testdata/check.py
"""
import importlib.util
import json
import math
import os
import re
import struct
import sys

import numpy as np
import torch

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FX = os.path.join(ROOT, "testdata", "fixtures")
spec = importlib.util.spec_from_file_location("peftref", os.path.join(ROOT, "tools", "peftref", "gen.py"))
gen = importlib.util.module_from_spec(spec)
spec.loader.exec_module(gen)
P = "base_model.model."


def pattern(patterns, name, default):
    """PEFT get_pattern_key: the first key p with re.match(r"(.*\\.)?(p)$", name)."""
    for p, v in patterns.items():
        if re.match(r"(.*\.)?(%s)$" % p, name):
            return v
    return default


class Capture(gen.Adapter):
    """gen.Adapter that keeps the logits of the last forward."""

    def head(self, x):
        self.logits = super().head(x)
        return self.logits


def gpt2_loss(m, W, ad):
    """HF GPT2LMHeadModel's loss (Conv1D [in, out] weights, gelu_new, tied
    head) with the LoRA pairs of ad on Conv1D modules."""
    c = m.cfg
    ids = torch.tensor(m.ids)
    B, T = ids.shape
    E, NH, eps = c["n_embd"], c["n_head"], c["layer_norm_epsilon"]
    D = E // NH

    def ln(x, p):
        return torch.nn.functional.layer_norm(x, (E,), W[p + ".weight"], W[p + ".bias"], eps)

    def conv(name, x):
        y = x @ W[name + ".weight"] + W[name + ".bias"]
        if name in ad.lora:
            A, Bm, _, s = ad.lora[name]
            y = y + s * (x @ A.T @ Bm.T)
        return y

    def gelu_new(x):
        return 0.5 * x * (1 + torch.tanh(math.sqrt(2 / math.pi) * (x + 0.044715 * x ** 3)))

    h = W["transformer.wte.weight"][ids] + W["transformer.wpe.weight"][:T]
    for l in range(c["n_layer"]):
        p = f"transformer.h.{l}."
        q, k, v = (t.view(B, T, NH, D).transpose(1, 2) for t in conv(p + "attn.c_attn", ln(h, p + "ln_1")).split(E, -1))
        sc = (q @ k.transpose(-1, -2) / math.sqrt(D)).masked_fill(torch.triu(torch.ones(T, T, dtype=torch.bool), 1), float("-inf"))
        h = h + conv(p + "attn.c_proj", (sc.softmax(-1) @ v).transpose(1, 2).reshape(B, T, E))
        h = h + conv(p + "mlp.c_proj", gelu_new(conv(p + "mlp.c_fc", ln(h, p + "ln_2"))))
    ad.logits = ln(h, "transformer.ln_f") @ W["transformer.wte.weight"].T
    V = ad.logits.shape[-1]
    return torch.nn.functional.cross_entropy(ad.logits[:, :-1].reshape(-1, V), ids[:, 1:].reshape(-1))


def check_merged(d, m, ad, conv1d):
    """merged/model.safetensors = base + scaling * B @ A (transposed for Conv1D), rounded to float32."""
    merged = read_tensors(os.path.join(d, "merged", "model.safetensors"))
    bad = []
    for k, w in m.w.items():
        want = w.detach()
        mod = k[: -len(".weight")]
        if k.endswith(".weight") and mod in ad.lora:
            A, Bm, _, s = ad.lora[mod]
            delta = s * (Bm @ A).detach()
            want = want + (delta.T if conv1d else delta)
        e = (merged[k] - want).abs().max().item()
        if e > 1e-7 * max(want.abs().max().item(), 1):
            bad.append(f"merged {k} differs by {e:.3g}")
    if set(merged) != set(m.w):
        bad.append("merged model's tensor names differ from the base's")
    return bad


def check(name, base, adapter=None):
    m = gen.Tiny(os.path.join(FX, base))
    for w in m.w.values():
        w.requires_grad_(True)
    ad = Capture(m, {})
    params = {"grad." + k: v for k, v in m.w.items()}
    if adapter:
        d = os.path.join(FX, adapter)
        cfg = json.load(open(os.path.join(d, "adapter_config.json")))
        sd = gen.st_read(os.path.join(d, "adapter_model.safetensors"))
        params = {}
        for k, A in sd.items():
            if not k.endswith(".lora_A.weight"):
                continue
            mod = k[len(P): -len(".lora_A.weight")]
            Bm = sd[P + mod + ".lora_B.weight"]
            r = pattern(cfg.get("rank_pattern") or {}, mod, cfg["r"])
            alpha = pattern(cfg.get("alpha_pattern") or {}, mod, cfg["lora_alpha"])
            s = alpha / (r ** 0.5 if cfg.get("use_rslora") else r)
            A.requires_grad_(True)
            Bm.requires_grad_(True)
            params["grad." + k], params["grad." + P + mod + ".lora_B.weight"] = A, Bm
            ad.lora[mod] = (A, Bm, None, s)
    d = os.path.join(FX, adapter or base)
    gpt2 = m.cfg["model_type"] == "gpt2"
    loss = (gpt2_loss if gpt2 else gen.forward)(m, m.w, ad)
    loss.backward()
    want = json.load(open(os.path.join(d, "reference.json")))["loss"]
    ref = read_tensors(os.path.join(d, "reference.safetensors"))
    bad = []
    if abs(loss.item() - want) > 1e-10:
        bad.append(f"loss {loss.item():.12f} != {want:.12f}")
    # Stored float32 values are the float64 ones rounded once: relative 6e-8.
    d_logits = (ad.logits.detach() - ref["logits"]).abs().max().item()
    if d_logits > 1e-6 * ref["logits"].abs().max().item():
        bad.append(f"logits differ by {d_logits:.3g}")
    worst = 0.0
    for k, p in params.items():
        if k not in ref:
            bad.append(f"{k} missing from reference.safetensors")
            continue
        g = p.grad if p.grad is not None else torch.zeros_like(p)
        e = (g - ref[k]).abs().max().item() / max(ref[k].abs().max().item(), 1e-12)
        worst = max(worst, e)
        if e > 1e-6 and (g - ref[k]).abs().max().item() > 1e-12:
            bad.append(f"{k} differs: {e:.3g} of its max")
    merged = adapter and os.path.isdir(os.path.join(d, "merged"))
    if merged:
        bad += check_merged(d, m, ad, gpt2)
    status = ("ok" + (", merged model ok" if merged else "")) if not bad else "MISMATCH: " + "; ".join(bad)
    print(f"{name}: loss {loss.item():.12f}, logits maxdiff {d_logits:.2g}, {len(params)} gradients worst rel {worst:.2g}: {status}")
    return not bad


def read_tensors(path):
    """Every tensor of a safetensors file (F32, F64, I64) as a torch tensor,
    floats widened to float64."""
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        hdr = json.loads(f.read(n))
        data = f.read()
    kinds = {"F32": ("<f4", np.float64), "F64": ("<f8", np.float64), "I64": ("<i8", np.int64)}
    out = {}
    for k, v in hdr.items():
        if k == "__metadata__" or v["dtype"] not in kinds:
            continue
        b, e = v["data_offsets"]
        src, dst = kinds[v["dtype"]]
        out[k] = torch.tensor(np.frombuffer(data[b:e], dtype=src).reshape(v["shape"]).astype(dst))
    return out


def check_ops():
    """ops/: each single-operator output recomputed from its inputs (float64 throughout)."""
    o = read_tensors(os.path.join(FX, "ops", "ops.safetensors"))
    x = o["act.x"]
    got = {
        "act.gelu_new": 0.5 * x * (1 + torch.tanh(math.sqrt(2 / math.pi) * (x + 0.044715 * x ** 3))),
        "act.gelu_erf": 0.5 * x * (1 + torch.erf(x / math.sqrt(2))),
        "act.silu": torch.nn.functional.silu(x),
        "layer_norm.out": torch.nn.functional.layer_norm(o["layer_norm.x"], (48,), o["layer_norm.weight"], o["layer_norm.bias"], 1e-5),
        "rms_norm.out": gen.rms(o["rms_norm.x"], o["rms_norm.weight"], 1e-5),
        "rope.out": gen.rope(o["rope.x"], 1e4),
    }
    r = o["rope.x"]
    ang = torch.arange(16)[:, None] * 1e4 ** (-torch.arange(0, 16, 2) / 16)[None, :]
    ev, od = r[..., 0::2], r[..., 1::2]
    got["rope.out_interleaved"] = torch.stack([ev * ang.cos() - od * ang.sin(), ev * ang.sin() + od * ang.cos()], -1).flatten(-2)
    k, v = (o["attention." + n].repeat_interleave(2, 1) for n in "kv")
    sc = (o["attention.q"] @ k.transpose(-1, -2) * 0.25).masked_fill(torch.triu(torch.ones(8, 8, dtype=torch.bool), 1), float("-inf"))
    got["attention.out"] = sc.softmax(-1) @ v
    logits = o["cross_entropy.logits"].clone().requires_grad_(True)
    loss = torch.nn.functional.cross_entropy(logits, o["cross_entropy.targets"])
    loss.backward()
    got["cross_entropy.loss"], got["cross_entropy.grad_logits"] = loss.detach(), logits.grad
    A, Bm, w = o["lora.A"], o["lora.B"], o["lora.weight"]
    got["lora.y"] = o["lora.x"] @ w.T + 2.0 * (o["lora.x"] @ A.T) @ Bm.T
    got["lora.weight_merged"] = w + 2.0 * Bm @ A
    got["lora.weight_conv1d_merged"] = o["lora.weight_conv1d"] + 2.0 * (Bm @ A).T
    bad = [f"{k} differs by {(g - o[k]).abs().max().item():.3g}" for k, g in got.items() if (g - o[k]).abs().max().item() > 1e-12]
    print(f"ops: {len(got)} outputs recomputed: " + ("ok" if not bad else "MISMATCH: " + "; ".join(bad)))
    return not bad


if __name__ == "__main__":
    ok = check_ops()
    for base in ("tiny-gpt2", "tiny-llama", "tiny-qwen2"):
        ok &= check(base, base)
    for adapter, base in (("lora-tiny-gpt2", "tiny-gpt2"), ("lora-tiny-llama", "tiny-llama"), ("lora-tiny-qwen2", "tiny-qwen2"),
                          ("lora-tiny-llama-rslora", "tiny-llama"), ("lora-tiny-llama-init", "tiny-llama")):
        ok &= check(adapter, base, adapter)
    sys.exit(0 if ok else 1)
