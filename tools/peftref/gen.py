#!/usr/bin/python3
"""Reference fixtures for golora's PEFT features beyond plain LoRA.

Writes lora/testdata/peft/: two tiny base models (copied from the shared
fixtures: tiny-llama, untied head; tiny-qwen2, tied head and q/k/v biases)
and eight PEFT-format adapters using modules_to_save, LoRA on the
embedding, lora_bias and trainable_token_indices, each with its float64
loss, the gradient of every trainable tensor and the tensors of the merged
model that differ from the base.

PEFT itself is not installable here, so this script implements PEFT 0.21's
documented semantics in plain torch (float64), following peft's
tuners/lora/layer.py (Linear with lora_bias, Embedding), utils/other.py
(ModulesToSaveWrapper, TrainableTokensWrapper with weight tying) and
utils/save_and_load.py (key names: adapter name removed, modules_to_save
as <module>.weight, the embedding's base_layer.weight saved beside
lora_embedding_A/B, token_adapter.trainable_tokens_delta). Before writing,
it reproduces the losses of the independent shared fixtures (tiny-llama,
tiny-qwen2, lora-tiny-llama, lora-tiny-qwen2) to 1e-10, and of
families/mistral-sw with its real PEFT 0.21 all-linear adapter (written by
PEFT and transformers 5.17) to 1e-8, which checks its model and LoRA code
against them.

Run: /usr/bin/python3 tools/peftref/gen.py [SHARED_FIXTURES] (Debian's
python3-torch 1.13 and python3-numpy; deterministic, single-threaded).
"""
import json
import math
import os
import struct
import sys

import numpy as np
import torch

torch.set_num_threads(1)
torch.set_default_dtype(torch.float64)
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SHARED = sys.argv[1] if len(sys.argv) > 1 else os.path.join(ROOT, "..", "shared", "fixtures")
OUT = os.path.join(ROOT, "lora", "testdata", "peft")
P = "base_model.model."


# --- safetensors (F32 only) ---------------------------------------------
def st_read(path):
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        hdr = json.loads(f.read(n))
        data = f.read()
    out = {}
    for k, v in hdr.items():
        if k == "__metadata__":
            continue
        assert v["dtype"] == "F32", (path, k)
        b, e = v["data_offsets"]
        a = np.frombuffer(data[b:e], dtype="<f4").reshape(v["shape"])
        out[k] = torch.tensor(a.astype(np.float64))
    return out


def st_write(path, tensors):
    hdr, blobs, off = {}, [], 0
    for k in sorted(tensors):
        a = tensors[k].detach().numpy().astype("<f4")
        b = a.tobytes()
        hdr[k] = {"dtype": "F32", "shape": list(a.shape), "data_offsets": [off, off + len(b)]}
        blobs.append(b)
        off += len(b)
    hdr["__metadata__"] = {"format": "pt"}
    h = json.dumps(hdr, separators=(",", ":")).encode()
    h += b" " * ((8 - len(h) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h + b"".join(blobs))


def f32(t):
    """Round to float32 and back: what the files store."""
    return t.float().double()


# --- the model (Llama / Qwen2, HF conventions) ---------------------------
class Tiny:
    def __init__(self, d, ids=None):
        self.cfg = json.load(open(os.path.join(d, "config.json")))
        self.w = st_read(os.path.join(d, "model.safetensors"))
        self.ids = ids or json.load(open(os.path.join(d, "inputs.json")))["input_ids"]
        self.tied = self.cfg.get("tie_word_embeddings", False)


def rms(x, w, eps):
    return w * x / torch.sqrt((x * x).mean(-1, keepdim=True) + eps)


def rope(x, theta):
    T, D = x.shape[-2], x.shape[-1]
    inv = theta ** (-torch.arange(0, D, 2) / D)
    ang = torch.arange(T)[:, None] * inv[None, :]
    cos, sin = torch.cat([ang, ang], -1).cos(), torch.cat([ang, ang], -1).sin()
    rot = torch.cat([-x[..., D // 2:], x[..., : D // 2]], -1)
    return x * cos + rot * sin


def forward(m, W, ad):
    """Loss of model m with weights W (name -> tensor) under adapter ad:
    ad.linear(name, x, W) applies a linear with its LoRA, ad.embed(ids)
    the embedding lookup, ad.head(x) the output head."""
    c = m.cfg
    ids = torch.tensor(m.ids)
    B, T = ids.shape
    NH, NKV, D = c["num_attention_heads"], c["num_key_value_heads"], c["hidden_size"] // c["num_attention_heads"]
    D = c.get("head_dim", D)
    eps = c["rms_norm_eps"]
    theta = c.get("rope_theta") or c["rope_parameters"]["rope_theta"]  # transformers 4 / 5
    window = c.get("sliding_window") if c.get("model_type") == "mistral" else None
    h = ad.embed(ids)
    for l in range(c["num_hidden_layers"]):
        p = f"model.layers.{l}."
        x = rms(h, W[p + "input_layernorm.weight"], eps)
        q = ad.linear(p + "self_attn.q_proj", x).view(B, T, NH, D).transpose(1, 2)
        k = ad.linear(p + "self_attn.k_proj", x).view(B, T, NKV, D).transpose(1, 2)
        v = ad.linear(p + "self_attn.v_proj", x).view(B, T, NKV, D).transpose(1, 2)
        q, k = rope(q, theta), rope(k, theta)
        k = k.repeat_interleave(NH // NKV, 1)
        v = v.repeat_interleave(NH // NKV, 1)
        s = q @ k.transpose(-1, -2) / math.sqrt(D)
        masked = torch.triu(torch.ones(T, T, dtype=torch.bool), 1)
        if window:  # Mistral: query i sees keys j with i - window < j <= i
            masked |= torch.tril(torch.ones(T, T, dtype=torch.bool), -window)
        s = s.masked_fill(masked, float("-inf"))
        a = (s.softmax(-1) @ v).transpose(1, 2).reshape(B, T, NH * D)
        h = h + ad.linear(p + "self_attn.o_proj", a)
        x = rms(h, W[p + "post_attention_layernorm.weight"], eps)
        g = ad.linear(p + "mlp.gate_proj", x)
        u = ad.linear(p + "mlp.up_proj", x)
        h = h + ad.linear(p + "mlp.down_proj", torch.nn.functional.silu(g) * u)
    logits = ad.head(rms(h, W["model.norm.weight"], eps))
    V = logits.shape[-1]
    return torch.nn.functional.cross_entropy(logits[:, :-1].reshape(-1, V), ids[:, 1:].reshape(-1))


class Adapter:
    """One PEFT LoRA adapter with the extras, over base weights W."""

    def __init__(self, m, cfg):
        self.m, self.cfg, self.W = m, cfg, m.w
        self.lora = {}  # module -> (A, B, bias or None, scaling)
        self.emb = None  # (A [r,V], B [C,r], scaling)
        self.saved = {}  # module -> weight copy
        self.tokens = None  # (ids, rows)
        self.head_tokens = None  # untied head's own (ids, rows)

    def base(self, name):
        return self.W[name + ".weight"], self.W.get(name + ".bias")

    def linear(self, name, x):
        w, b = self.base(name)
        y = x @ w.T + (b if b is not None else 0)
        if name in self.lora:
            A, Bm, bias, s = self.lora[name]
            t = x @ A.T @ Bm.T
            if bias is not None:
                t = t + bias
            y = y + s * t
        return y

    def embed_table(self):
        return self.saved.get("model.embed_tokens", self.W["model.embed_tokens.weight"])

    def embed(self, ids):
        table = self.embed_table()
        if self.tokens is not None:
            idx, rows = self.tokens
            table = table.index_copy(0, torch.tensor(idx), rows)
        x = table[ids]
        if self.emb is not None:
            A, Bm, s = self.emb
            x = x + s * (A.T[ids] @ Bm.T)
        return x

    def head(self, x):
        if "lm_head" in self.saved:
            w = self.saved["lm_head"]
        elif self.m.tied:
            w = self.W["model.embed_tokens.weight"]  # the base table, not LoRA's or a copy
        else:
            w = self.W["lm_head.weight"]
        if self.m.tied and self.tokens is not None:  # PEFT ties the token adapters
            idx, rows = self.tokens
            w = w.index_copy(0, torch.tensor(idx), rows)
        if self.head_tokens is not None:
            idx, rows = self.head_tokens
            w = w.index_copy(0, torch.tensor(idx), rows)
        y = x @ w.T
        if "lm_head" in self.lora:
            A, Bm, bias, s = self.lora["lm_head"]
            y = y + s * (x @ A.T @ Bm.T)
        return y

    def state(self):
        """PEFT's adapter_model.safetensors keys -> tensors."""
        out = {}
        for n, (A, Bm, bias, _) in self.lora.items():
            out[P + n + ".lora_A.weight"], out[P + n + ".lora_B.weight"] = A, Bm
            if bias is not None:
                out[P + n + ".lora_B.bias"] = bias
        if self.emb is not None:
            e = P + "model.embed_tokens."
            out[e + "lora_embedding_A"], out[e + "lora_embedding_B"] = self.emb[0], self.emb[1]
            out[e + "base_layer.weight"] = self.W["model.embed_tokens.weight"]
        for n, w in self.saved.items():
            out[P + n + ".weight"] = w
        if self.tokens is not None:
            out[P + "model.embed_tokens.token_adapter.trainable_tokens_delta"] = self.tokens[1]
        if self.head_tokens is not None:
            out[P + "lm_head.token_adapter.trainable_tokens_delta"] = self.head_tokens[1]
        return out

    def trainable(self):
        return {k: v for k, v in self.state().items() if not k.endswith("base_layer.weight")}

    def merged(self):
        """merge_and_unload: the full merged weights and whether tied."""
        W = dict(self.W)
        tied = self.m.tied
        if tied and (self.emb is not None or self.saved):  # one side changes: untie (as PEFT's merge does for copies)
            W["lm_head.weight"] = W["model.embed_tokens.weight"].clone()
            tied = False
        for n, (A, Bm, bias, s) in self.lora.items():
            W[n + ".weight"] = W[n + ".weight"] + s * Bm @ A
            if bias is not None:
                W[n + ".bias"] = W[n + ".bias"] + s * bias
        for n, w in self.saved.items():
            W[n + ".weight"] = w
        if self.emb is not None:
            A, Bm, s = self.emb
            W["model.embed_tokens.weight"] = W["model.embed_tokens.weight"] + s * (Bm @ A).T
        if self.tokens is not None:
            idx, rows = self.tokens
            W["model.embed_tokens.weight"] = W["model.embed_tokens.weight"].index_copy(0, torch.tensor(idx), rows)
        if self.head_tokens is not None:
            idx, rows = self.head_tokens
            W["lm_head.weight"] = W["lm_head.weight"].index_copy(0, torch.tensor(idx), rows)
        return W, tied


# --- self-check against the shared fixtures ------------------------------
def check_shared():
    for base, lname in (("tiny-llama", "lora-tiny-llama"), ("tiny-qwen2", "lora-tiny-qwen2")):
        m = Tiny(os.path.join(SHARED, base))
        ref = json.load(open(os.path.join(SHARED, base, "reference.json")))["loss"]
        got = forward(m, m.w, Adapter(m, {})).item()
        assert abs(got - ref) < 1e-10, (base, got, ref)
        d = os.path.join(SHARED, lname)
        cfg = json.load(open(os.path.join(d, "adapter_config.json")))
        sd = st_read(os.path.join(d, "adapter_model.safetensors"))
        ad = Adapter(m, cfg)
        for k in sd:
            if k.endswith(".lora_A.weight"):
                n = k[len(P): -len(".lora_A.weight")]
                ad.lora[n] = (sd[k], sd[P + n + ".lora_B.weight"], None, cfg["lora_alpha"] / cfg["r"])
        ref = json.load(open(os.path.join(d, "reference.json")))["loss"]
        got = forward(m, m.w, ad).item()
        assert abs(got - ref) < 1e-10, (lname, got, ref)
        print(f"self-check {base} and {lname}: loss matches the shared fixture (|diff| < 1e-10)")
    # A real PEFT 0.21 adapter (all-linear) on a transformers 5.17 model.
    d = os.path.join(SHARED, "families", "mistral-sw")
    ref = json.load(open(os.path.join(d, "reference.json")))
    m = Tiny(d, ref["input_ids"])
    got = forward(m, m.w, Adapter(m, {})).item()
    assert abs(got - ref["loss"]) < 1e-9, ("mistral-sw", got, ref["loss"])
    cfg = json.load(open(os.path.join(d, "lora", "adapter_config.json")))
    sd = st_read(os.path.join(d, "lora", "adapter_model.safetensors"))
    ad = Adapter(m, cfg)
    for k in sd:
        if k.endswith(".lora_A.weight"):
            n = k[len(P): -len(".lora_A.weight")]
            ad.lora[n] = (sd[k], sd[P + n + ".lora_B.weight"], None, cfg["lora_alpha"] / cfg["r"])
    got = forward(m, m.w, ad).item()
    # 1e-9 apart: the reference ran before the adapter was stored in float32
    assert abs(got - ref["peft_loss"]) < 1e-8, ("mistral-sw peft", got, ref["peft_loss"])
    print("self-check families/mistral-sw and its real PEFT 0.21 adapter: losses match transformers/PEFT (base < 1e-9, adapter < 1e-8)")


# --- the fixtures ---------------------------------------------------------
def peft_config(base, targets, **kw):
    c = json.load(open(os.path.join(SHARED, "lora-tiny-llama", "adapter_config.json")))
    c.update({"base_model_name_or_path": base, "target_modules": sorted(targets), "peft_version": "0.21.0"})
    c.update(kw)
    return c


def lora_pair(rng, out, inn, r, s):
    A = f32(torch.tensor(rng.normal(0, 0.1, (r, inn))))
    Bm = f32(torch.tensor(rng.normal(0, 0.1 / s, (out, r))))
    return A, Bm


def make(name, base, targets, rng, save=(), emb=False, bias=False, tokens=None):
    m = BASES[base]
    kw = {}
    if save:
        kw["modules_to_save"] = list(save)
    if bias:
        kw["lora_bias"] = True
    if tokens is not None:
        kw["trainable_token_indices"] = tokens
    cfg = peft_config(base, targets, **kw)
    ad = Adapter(m, cfg)
    r, s = cfg["r"], cfg["lora_alpha"] / cfg["r"]
    for l in range(m.cfg["num_hidden_layers"]):
        for t in targets:
            if t == "embed_tokens":
                continue
            n = f"model.layers.{l}." + ("self_attn." if t in ("q_proj", "k_proj", "v_proj", "o_proj") else "mlp.") + t
            w, b = ad.base(n)
            A, Bm = lora_pair(rng, w.shape[0], w.shape[1], r, s)
            lb = f32(torch.tensor(rng.normal(0, 0.05 / s, w.shape[0]))) if bias else None
            ad.lora[n] = (A, Bm, lb, s)
    V, C = m.w["model.embed_tokens.weight"].shape
    if emb:  # PEFT's lora.Embedding: A [r, V], B [C, r]
        A = f32(torch.tensor(rng.normal(0, 0.1, (r, V))))
        Bm = f32(torch.tensor(rng.normal(0, 0.05 / s, (C, r))))
        ad.emb = (A, Bm, s)
    for n in save:
        full = "model.embed_tokens" if n == "embed_tokens" else n
        w = m.w["model.embed_tokens.weight"] if (n == "lm_head" and m.tied) else m.w[full + ".weight"]
        ad.saved[full] = f32(w + torch.tensor(rng.normal(0, 0.02, tuple(w.shape))))
    if isinstance(tokens, dict):  # PEFT's per-module form; an untied head gets its own rows
        head = tokens["lm_head"]
        rows = m.w["lm_head.weight"][torch.tensor(head)]
        ad.head_tokens = (head, f32(rows + torch.tensor(rng.normal(0, 0.05, tuple(rows.shape)))))
        tokens = tokens["embed_tokens"]
    if tokens is not None:
        rows = m.w["model.embed_tokens.weight"][torch.tensor(tokens)]
        ad.tokens = (tokens, f32(rows + torch.tensor(rng.normal(0, 0.05, tuple(rows.shape)))))
    # loss and gradients of every trainable tensor (float64 from the float32 values)
    params = ad.trainable()
    for v in params.values():
        v.requires_grad_(True)
    loss = forward(m, m.w, ad)
    loss.backward()
    base_loss = forward(m, m.w, Adapter(m, {})).item()
    W, tied = ad.merged()
    Wf = {k: f32(v.detach()) for k, v in W.items()}
    mm = Tiny.__new__(Tiny)
    mm.cfg, mm.w, mm.ids, mm.tied = dict(m.cfg, tie_word_embeddings=tied), Wf, m.ids, tied
    merged_loss = forward(mm, Wf, Adapter(mm, {})).item()
    changed = {k: v for k, v in Wf.items() if k not in m.w or not torch.equal(v, m.w[k])}
    d = os.path.join(OUT, name)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, "adapter_config.json"), "w") as f:
        json.dump(cfg, f, indent=2, sort_keys=True)
        f.write("\n")
    st_write(os.path.join(d, "adapter_model.safetensors"), ad.state())
    grads = {"grad." + k: v.grad for k, v in params.items()}
    st_write(os.path.join(d, "reference.safetensors"), grads)
    st_write(os.path.join(d, "merged.safetensors"), changed)
    ref = {"loss": loss.item(), "base_loss": base_loss, "merged_loss": merged_loss,
           "merged_tie_word_embeddings": tied, "merged_changed": sorted(changed)}
    with open(os.path.join(d, "reference.json"), "w") as f:
        json.dump(ref, f, indent=2, sort_keys=True)
        f.write("\n")
    assert abs(loss.item() - base_loss) > 1e-3, (name, "the adapter must move the loss")
    assert abs(merged_loss - loss.item()) < 1e-5, (name, merged_loss, loss.item())
    print(f"{name}: loss {loss.item():.12f} (base {base_loss:.12f}), merged {merged_loss:.12f}, tied after merge {tied}")


if __name__ == "__main__":
    check_shared()
    BASES = {}
    for base in ("tiny-llama", "tiny-qwen2"):
        d = os.path.join(OUT, base)
        os.makedirs(d, exist_ok=True)
        for f in ("config.json", "model.safetensors", "inputs.json"):
            with open(os.path.join(SHARED, base, f), "rb") as src, open(os.path.join(d, f), "wb") as dst:
                dst.write(src.read())
        BASES[base] = Tiny(d)
    rng = np.random.Generator(np.random.PCG64(16))
    make("mts-llama", "tiny-llama", ["q_proj", "v_proj"], rng, save=("lm_head", "embed_tokens"))
    make("mts-qwen2", "tiny-qwen2", ["q_proj", "v_proj"], rng, save=("lm_head",))
    make("emb-llama", "tiny-llama", ["embed_tokens", "q_proj"], rng, emb=True)
    make("emb-qwen2", "tiny-qwen2", ["embed_tokens"], rng, emb=True)
    make("bias-qwen2", "tiny-qwen2", ["q_proj", "k_proj", "v_proj"], rng, bias=True)
    make("tokens-llama", "tiny-llama", ["q_proj", "v_proj"], rng, tokens=[10, 41, 98])
    make("tokens-qwen2", "tiny-qwen2", ["q_proj"], rng, tokens=[1, 48, 99])
    make("tokens-dict-llama", "tiny-llama", ["q_proj"], rng, tokens={"embed_tokens": [10, 41], "lm_head": [5, 41, 60]})
