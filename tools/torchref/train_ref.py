#!/usr/bin/python3
"""Float64 PyTorch reference trajectories for golora train --init-adapter.

For each case in CASES it loads a tiny base model and a PEFT adapter from
train/testdata/torchref, trains the adapter for STEPS AdamW steps on the
batches golora's --data-order file makes from train.jsonl, and writes the
per-step loss, gradient norm and learning rate (<case>.json) and the final
adapter tensors in float64 (<case>.safetensors). train/torchref_test.go runs
golora on the same inputs and compares.

Everything is float64 and single-threaded; only torch (Debian python3-torch
1.13) and numpy are used. The model code follows transformers'
modeling_llama.py / modeling_gpt2.py and peft's tuners/lora (LoRA, rsLoRA,
rank/alpha patterns, DoRA with the weight norm detached); the optimiser is
torch.optim.AdamW itself, the schedule torch's LambdaLR, the clipping
torch.nn.utils.clip_grad_norm_.

Usage: /usr/bin/python3 tools/torchref/train_ref.py [DIR]
DIR defaults to train/testdata/torchref; it must hold the copied fixtures
(tiny-llama, tiny-gpt2, lora-tiny-*). Reruns are deterministic and rewrite
identical files (TestTorchReferenceRegenerates checks that when torch is
installed).
"""
import json
import math
import os
import re
import shutil
import struct
import sys

import numpy as np
import torch
import torch.nn.functional as F

torch.set_default_dtype(torch.float64)
torch.set_num_threads(1)

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..")
DIR = os.path.join(ROOT, "train", "testdata", "torchref")
IGNORE = -100

# The run settings every case shares; train/torchref_test.go reads them from
# cases.json, so the two sides cannot drift apart.
COMMON = dict(steps=20, batch=2, seq_len=16, lr=2e-3, weight_decay=0.1, warmup=5,
              schedule="cosine", max_grad_norm=0.5, adam_beta1=0.9, adam_beta2=0.999,
              adam_eps=1e-8, loraplus_ratio=1.0, grad_accum=1)
CASES = [
    dict(name="llama-lora", model="tiny-llama", adapter="lora-tiny-llama"),
    dict(name="llama-rslora", model="tiny-llama", adapter="lora-tiny-llama-rslora"),
    dict(name="llama-dora", model="tiny-llama", adapter="dora-tiny-llama"),
    dict(name="llama-loraplus", model="tiny-llama", adapter="lora-tiny-llama", loraplus_ratio=16.0),
    dict(name="gpt2-lora", model="tiny-gpt2", adapter="lora-tiny-gpt2"),
    dict(name="gpt2-rslora", model="tiny-gpt2", adapter="rslora-tiny-gpt2"),
    dict(name="gpt2-dora", model="tiny-gpt2", adapter="dora-tiny-gpt2"),
    dict(name="gpt2-loraplus", model="tiny-gpt2", adapter="lora-tiny-gpt2", loraplus_ratio=16.0),
    # two micro-batches per step, weighted by their loss-bearing tokens
    dict(name="llama-rslora-accum2", model="tiny-llama", adapter="lora-tiny-llama-rslora", grad_accum=2),
]


# ---------------------------------------------------------------- safetensors

DTYPES = {"F32": (np.float32, 4), "F64": (np.float64, 8)}


def read_st(path):
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
        data = f.read()
    out = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        dt, size = DTYPES[info["dtype"]]
        b, e = info["data_offsets"]
        a = np.frombuffer(data[b:e], dtype=np.dtype(dt).newbyteorder("<")).reshape(info["shape"])
        out[name] = torch.tensor(a.astype(np.float64))
    return out


def write_st(path, tensors, dtype):
    """Tensors sorted by name, packed, header padded with spaces to 8 bytes."""
    np_dt, size = DTYPES[dtype]
    header, blobs, off = {}, [], 0
    for name in sorted(tensors):
        a = np.ascontiguousarray(tensors[name].detach().numpy().astype(np.dtype(np_dt).newbyteorder("<")))
        b = a.tobytes()
        header[name] = {"dtype": dtype, "shape": list(a.shape), "data_offsets": [off, off + len(b)]}
        blobs.append(b)
        off += len(b)
    header["__metadata__"] = {"format": "pt"}
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * (-len(h) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h + b"".join(blobs))


# ---------------------------------------------------------------- data

def make_data(path):
    """train.jsonl: 7 pre-tokenized examples (ids < 97, both vocabularies),
    some longer than seq_len+1 (truncated), some with -100 prompt labels."""
    rng = np.random.Generator(np.random.PCG64(2222))
    lines = []
    for i, n in enumerate([9, 17, 5, 23, 12, 30, 14]):
        ids = [int(v) for v in rng.integers(0, 97, n)]
        rec = {"input_ids": ids}
        if i % 2 == 1:  # a prompt of 3 tokens without loss
            rec["labels"] = [IGNORE] * 3 + ids[3:]
        lines.append(json.dumps(rec, separators=(",", ":")))
    with open(path, "w") as f:
        f.write("\n".join(lines) + "\n")


def load_examples(path):
    ex = []
    with open(path) as f:
        for line in f:
            if line.strip():
                r = json.loads(line)
                ex.append((r["input_ids"], r.get("labels", r["input_ids"])))
    return ex


def batches(examples, B, T, pad):
    """golora's --data-order file batching (README, "Data order"), endless:
    every epoch takes the examples in file order (those with no loss-bearing
    label within their first T+1 tokens left out), B per batch; the epoch's
    last batch is filled with all-padding rows. A row holds an example's first
    n = min(len, T+1) tokens: inputs ids[0..n-2], targets labels[1..n-1], then
    pad ids with target -100 up to T."""
    eligible = [(ids, lab) for ids, lab in examples if any(l != IGNORE for l in lab[1:T + 1])]
    while True:
        for i in range(0, len(eligible), B):
            rows = eligible[i:i + B]
            x = torch.full((B, T), pad, dtype=torch.long)
            y = torch.full((B, T), IGNORE, dtype=torch.long)
            for r, (ids, lab) in enumerate(rows):
                n = min(len(ids), T + 1)
                x[r, :n - 1] = torch.tensor(ids[:n - 1])
                y[r, :n - 1] = torch.tensor(lab[1:n])
            yield x, y


# ---------------------------------------------------------------- LoRA / DoRA

def pattern_value(pattern, module, default):
    """peft get_pattern_key: the first key p (file order) with
    re.match(r"(.*\\.)?(p)$", module) wins."""
    for k, v in pattern.items():
        if re.match(r"(.*\.)?(%s)$" % k, module):
            return v
    return default


def targeted(cfg, module):
    t = cfg["target_modules"]
    if isinstance(t, str):
        return re.fullmatch(t, module) is not None
    return any(module == n or module.endswith("." + n) for n in t)


class Adapted:
    """One linear layer, W [out, in] (Conv1D weights transposed), bias or
    None, with the trainable LoRA (and DoRA magnitude) tensors."""

    def __init__(self, W, b, A=None, B=None, scaling=0.0, magnitude=None):
        self.W, self.b, self.A, self.B, self.s, self.m = W, b, A, B, scaling, magnitude

    def __call__(self, x):
        base = x @ self.W.T
        if self.A is not None:
            lora = (x @ self.A.T) @ self.B.T
            if self.m is None:
                base = base + self.s * lora
            else:
                # peft DoraLinearLayer: norm of W + s·B·A per output row, detached.
                norm = torch.linalg.norm(self.W + self.s * (self.B @ self.A), dim=1).detach()
                ms = self.m / norm
                base = (ms - 1) * base + ms * lora * self.s + base
        return base if self.b is None else base + self.b


def build_layers(weights, adapter_cfg, adapter, conv1d, names):
    """Adapted layers by module name; returns them and the trainable tensors
    by PEFT key."""
    layers, params = {}, {}
    for mod in names:
        W = weights[mod + ".weight"]
        if conv1d:
            W = W.T.contiguous()
        b = weights.get(mod + ".bias")
        if not targeted(adapter_cfg, mod):
            layers[mod] = Adapted(W, b)
            continue
        r = pattern_value(adapter_cfg.get("rank_pattern") or {}, mod, adapter_cfg["r"])
        alpha = pattern_value(adapter_cfg.get("alpha_pattern") or {}, mod, adapter_cfg["lora_alpha"])
        s = alpha / math.sqrt(r) if adapter_cfg.get("use_rslora") else alpha / r
        key = "base_model.model." + mod
        A = adapter[key + ".lora_A.weight"].clone().requires_grad_(True)
        B = adapter[key + ".lora_B.weight"].clone().requires_grad_(True)
        assert A.shape[0] == r and B.shape[1] == r, mod
        params[key + ".lora_A.weight"], params[key + ".lora_B.weight"] = A, B
        m = None
        if adapter_cfg.get("use_dora"):
            m = adapter[key + ".lora_magnitude_vector"].clone().requires_grad_(True)
            params[key + ".lora_magnitude_vector"] = m
        layers[mod] = Adapted(W, b, A, B, s, m)
    return layers, params


# ---------------------------------------------------------------- models

def rms_norm(x, w, eps):
    return w * x / torch.sqrt((x * x).mean(-1, keepdim=True) + eps)


def causal_attention(q, k, v):
    T = q.shape[2]
    s = q @ k.transpose(-1, -2) / math.sqrt(q.shape[-1])
    s = s.masked_fill(torch.triu(torch.ones(T, T, dtype=torch.bool), 1), float("-inf"))
    return torch.softmax(s, -1) @ v


class Llama:
    def __init__(self, cfg, weights, adapter_cfg, adapter):
        self.c, self.w = cfg, weights
        names = [f"model.layers.{i}.{p}" for i in range(cfg["num_hidden_layers"])
                 for p in ["self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj", "self_attn.o_proj",
                           "mlp.gate_proj", "mlp.up_proj", "mlp.down_proj"]]
        self.lin, self.params = build_layers(weights, adapter_cfg, adapter, False, names)

    def __call__(self, ids):
        c, w = self.c, self.w
        Bn, T = ids.shape
        H, nh, nkv = c["hidden_size"], c["num_attention_heads"], c["num_key_value_heads"]
        D = c.get("head_dim") or H // nh
        eps = c["rms_norm_eps"]
        inv = c["rope_theta"] ** (-torch.arange(0, D, 2, dtype=torch.float64) / D)
        ang = torch.arange(T, dtype=torch.float64)[:, None] * inv[None, :]
        cos, sin = torch.cos(torch.cat([ang, ang], -1)), torch.sin(torch.cat([ang, ang], -1))

        def rope(x):
            rot = torch.cat([-x[..., D // 2:], x[..., :D // 2]], -1)
            return x * cos + rot * sin

        h = w["model.embed_tokens.weight"][ids]
        for i in range(c["num_hidden_layers"]):
            p = f"model.layers.{i}."
            x = rms_norm(h, w[p + "input_layernorm.weight"], eps)
            q = self.lin[p + "self_attn.q_proj"](x).view(Bn, T, nh, D).transpose(1, 2)
            k = self.lin[p + "self_attn.k_proj"](x).view(Bn, T, nkv, D).transpose(1, 2)
            v = self.lin[p + "self_attn.v_proj"](x).view(Bn, T, nkv, D).transpose(1, 2)
            q, k = rope(q), rope(k)
            k = k.repeat_interleave(nh // nkv, 1)
            v = v.repeat_interleave(nh // nkv, 1)
            a = causal_attention(q, k, v).transpose(1, 2).reshape(Bn, T, nh * D)
            h = h + self.lin[p + "self_attn.o_proj"](a)
            x = rms_norm(h, w[p + "post_attention_layernorm.weight"], eps)
            g = self.lin[p + "mlp.gate_proj"](x)
            h = h + self.lin[p + "mlp.down_proj"](F.silu(g) * self.lin[p + "mlp.up_proj"](x))
        h = rms_norm(h, w["model.norm.weight"], eps)
        return h @ w["lm_head.weight"].T


class GPT2:
    def __init__(self, cfg, weights, adapter_cfg, adapter):
        self.c, self.w = cfg, weights
        names = [f"transformer.h.{i}.{p}" for i in range(cfg["n_layer"])
                 for p in ["attn.c_attn", "attn.c_proj", "mlp.c_fc", "mlp.c_proj"]]
        self.lin, self.params = build_layers(weights, adapter_cfg, adapter, True, names)

    def __call__(self, ids):
        c, w = self.c, self.w
        Bn, T = ids.shape
        E, nh = c["n_embd"], c["n_head"]
        D = E // nh
        eps = c["layer_norm_epsilon"]

        def ln(x, p):
            return F.layer_norm(x, (E,), w[p + ".weight"], w[p + ".bias"], eps)

        def gelu_new(x):
            return 0.5 * x * (1 + torch.tanh(math.sqrt(2 / math.pi) * (x + 0.044715 * x ** 3)))

        h = w["transformer.wte.weight"][ids] + w["transformer.wpe.weight"][:T]
        for i in range(c["n_layer"]):
            p = f"transformer.h.{i}."
            qkv = self.lin[p + "attn.c_attn"](ln(h, p + "ln_1"))
            q, k, v = (t.view(Bn, T, nh, D).transpose(1, 2) for t in qkv.split(E, -1))
            a = causal_attention(q, k, v).transpose(1, 2).reshape(Bn, T, E)
            h = h + self.lin[p + "attn.c_proj"](a)
            m = gelu_new(self.lin[p + "mlp.c_fc"](ln(h, p + "ln_2")))
            h = h + self.lin[p + "mlp.c_proj"](m)
        h = ln(h, "transformer.ln_f")
        return h @ w["transformer.wte.weight"].T


# ---------------------------------------------------------------- training

def lr_at(o, t, total):
    """golora's schedule (train/optim.go lrAt) for optimizer step t, 1-based."""
    lr, warmup = o["lr"], o["warmup"]
    if t <= warmup:
        return lr * t / warmup
    n = total - warmup
    if n <= 0:
        return lr
    progress = (t - warmup) / (n + 1)
    if o["schedule"] == "linear":
        return lr * (1 - progress)
    if o["schedule"] == "cosine":
        return lr * 0.5 * (1 + math.cos(math.pi * progress))
    return lr


def run_case(case, examples):
    o = dict(COMMON, **case)
    cfg = json.load(open(os.path.join(DIR, o["model"], "config.json")))
    weights = read_st(os.path.join(DIR, o["model"], "model.safetensors"))
    acfg = json.load(open(os.path.join(DIR, o["adapter"], "adapter_config.json")))
    adapter = read_st(os.path.join(DIR, o["adapter"], "adapter_model.safetensors"))
    model = (Llama if cfg["model_type"] == "llama" else GPT2)(cfg, weights, acfg, adapter)
    assert set(model.params) == set(adapter), "every adapter tensor is trained"

    # golora's groups (train/setup.go, optim.go): lora_A at lr with decay;
    # lora_B at ratio x lr with decay; 1-D tensors (DoRA magnitudes) at
    # ratio x lr without decay (LoRA+, PEFT's create_loraplus_optimizer).
    groups = [dict(params=[], lr=o["lr"], weight_decay=o["weight_decay"]),
              dict(params=[], lr=o["lr"] * o["loraplus_ratio"], weight_decay=o["weight_decay"]),
              dict(params=[], lr=o["lr"] * o["loraplus_ratio"], weight_decay=0.0)]
    for k in sorted(model.params):
        t = model.params[k]
        groups[2 if t.dim() == 1 else 1 if ".lora_B." in k else 0]["params"].append(t)
    groups = [g for g in groups if g["params"]]
    opt = torch.optim.AdamW(groups, betas=(o["adam_beta1"], o["adam_beta2"]), eps=o["adam_eps"], foreach=False)
    total = o["steps"]
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda k: lr_at(o, k + 1, total) / o["lr"])
    params = [model.params[k] for k in sorted(model.params)]

    pad = cfg["eos_token_id"]
    it = batches(examples, o["batch"], o["seq_len"], pad)
    V = cfg["vocab_size"]
    rec = dict(loss=[], grad_norm=[], lr=[])
    for step in range(1, total + 1):
        micro = [next(it) for _ in range(o["grad_accum"])]
        tokens = [int((y != IGNORE).sum()) for _, y in micro]
        opt.zero_grad(set_to_none=False)
        # golora's accumulation (train/trainer.go stepper): each micro-batch's
        # mean loss weighted by its share of the step's loss tokens, so the
        # gradient is that of the token mean over the whole step.
        loss = 0.0
        for (x, y), n in zip(micro, tokens):
            w = n / sum(tokens)
            l = F.cross_entropy(model(x).reshape(-1, V), y.reshape(-1), ignore_index=IGNORE)
            (l * w).backward()
            loss += l.item() * w
        norm = torch.nn.utils.clip_grad_norm_(params, o["max_grad_norm"])
        rec["lr"].append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
        rec["loss"].append(loss)
        rec["grad_norm"].append(norm.item())
    write_st(os.path.join(DIR, o["name"] + ".safetensors"), model.params, "F64")
    with open(os.path.join(DIR, o["name"] + ".json"), "w") as f:
        json.dump(rec, f, indent=1)
        f.write("\n")
    print("%-16s loss %.6f -> %.6f  grad norm %.4f .. %.4f" % (o["name"], rec["loss"][0], rec["loss"][-1],
                                                              min(rec["grad_norm"]), max(rec["grad_norm"])))


# ---------------------------------------------------------------- derived adapters

def derive_adapters():
    """rslora-tiny-gpt2: lora-tiny-gpt2 with use_rslora; dora-tiny-*: the LoRA
    fixtures with use_dora and a magnitude of 1 + 0.1 N(0,1) times the row
    norm of W + s·B·A (so DoRA changes the output from the first step)."""
    rng = np.random.Generator(np.random.PCG64(2223))

    def copy_with(src, dst, flag):
        os.makedirs(os.path.join(DIR, dst), exist_ok=True)
        text = open(os.path.join(DIR, src, "adapter_config.json")).read()
        assert '"%s": false' % flag in text
        with open(os.path.join(DIR, dst, "adapter_config.json"), "w") as f:
            f.write(text.replace('"%s": false' % flag, '"%s": true' % flag))
        return json.loads(text)

    copy_with("lora-tiny-gpt2", "rslora-tiny-gpt2", "use_rslora")
    shutil.copyfile(os.path.join(DIR, "lora-tiny-gpt2", "adapter_model.safetensors"),
                    os.path.join(DIR, "rslora-tiny-gpt2", "adapter_model.safetensors"))
    for base, src, dst, conv1d in [("tiny-llama", "lora-tiny-llama", "dora-tiny-llama", False),
                                   ("tiny-gpt2", "lora-tiny-gpt2", "dora-tiny-gpt2", True)]:
        acfg = copy_with(src, dst, "use_dora")
        w = read_st(os.path.join(DIR, base, "model.safetensors"))
        ad = read_st(os.path.join(DIR, src, "adapter_model.safetensors"))
        out = dict(ad)
        for key in sorted(ad):
            if not key.endswith(".lora_A.weight"):
                continue
            mod = key[len("base_model.model."):-len(".lora_A.weight")]
            W = w[mod + ".weight"].T if conv1d else w[mod + ".weight"]
            r = pattern_value(acfg.get("rank_pattern") or {}, mod, acfg["r"])
            alpha = pattern_value(acfg.get("alpha_pattern") or {}, mod, acfg["lora_alpha"])
            s = alpha / math.sqrt(r) if acfg.get("use_rslora") else alpha / r
            norm = torch.linalg.norm(W + s * (ad[key.replace("lora_A", "lora_B")] @ ad[key]), dim=1)
            jitter = torch.tensor(1 + 0.1 * rng.standard_normal(norm.shape[0]))
            out["base_model.model." + mod + ".lora_magnitude_vector"] = norm * jitter
        write_st(os.path.join(DIR, dst, "adapter_model.safetensors"), out, "F32")


# Losses of the fixtures' own reference.json (float64, fixtures/README.md):
# the models above must reproduce them on the base's inputs.json.
FIXTURE_LOSSES = {"lora-tiny-llama": 4.672272699439435, "lora-tiny-llama-rslora": 4.628323122636036,
                  "lora-tiny-gpt2": 4.5935091247521465}


def self_check():
    for name, want in FIXTURE_LOSSES.items():
        base = "tiny-gpt2" if "gpt2" in name else "tiny-llama"
        cfg = json.load(open(os.path.join(DIR, base, "config.json")))
        model = (Llama if cfg["model_type"] == "llama" else GPT2)(
            cfg, read_st(os.path.join(DIR, base, "model.safetensors")),
            json.load(open(os.path.join(DIR, name, "adapter_config.json"))),
            read_st(os.path.join(DIR, name, "adapter_model.safetensors")))
        ids = torch.tensor(json.load(open(os.path.join(DIR, base, "inputs.json")))["input_ids"])
        logits = model(ids)[:, :-1]
        got = F.cross_entropy(logits.reshape(-1, cfg["vocab_size"]), ids[:, 1:].reshape(-1)).item()
        assert abs(got - want) < 1e-12, (name, got, want)
        print("self-check %-24s loss %.12f (fixture %.12f)" % (name, got, want))


def main():
    global DIR
    if len(sys.argv) > 1:
        DIR = sys.argv[1]
    self_check()
    derive_adapters()
    make_data(os.path.join(DIR, "train.jsonl"))
    examples = load_examples(os.path.join(DIR, "train.jsonl"))
    with open(os.path.join(DIR, "cases.json"), "w") as f:
        json.dump(dict(common=COMMON, cases=CASES), f, indent=1)
        f.write("\n")
    for case in CASES:
        run_case(case, examples)


if __name__ == "__main__":
    sys.exit(main())
