#!/usr/bin/env python3
"""Reference GGUF files for golora's tests, written independently of golora.

A small GGUF writer in numpy that follows gguf-py's format (GGUFWriter: v3,
little-endian, KV pairs, tensor infos with ggml dims reversed, data aligned to
32) and llama.cpp's conversion rules (convert_hf_to_gguf.py: names, the llama
q/k row permutation, GPT-2 Conv1D weights transposed). gguf-py itself is not
installable here (no PyPI), so this is our own code written from the format
description in shared/design/gguf-and-quantization.md.

Run from the repository root with Debian's numpy:
    /usr/bin/python3 tools/ggufref/gen.py ../shared/fixtures

Writes:
  format/gguf/testdata/ref-quant.gguf   every metadata value type; tensors
      x (F32) and its Q8_0/Q4_0 quantization by the reference formulas;
      random-byte Q4_1/Q5_0/Q5_1/Q4_K/Q5_K/Q6_K blocks with <name>.expected,
      their float64 dequantization (stored F32); F16 and BF16 copies of x.
  model/testdata/gguf/tiny-llama.gguf, tiny-gpt2.gguf  the fixtures'
      HF checkpoints converted as llama.cpp's converter does, with
      <name>.logits.bin: the fixture's reference logits (float32, B*T*V)
      and <name>.inputs.json.
"""
import json
import os
import struct
import sys

import numpy as np

ALIGN = 32
VT = {"u8": 0, "i8": 1, "u16": 2, "i16": 3, "u32": 4, "i32": 5, "f32": 6, "bool": 7, "str": 8, "arr": 9,
      "u64": 10, "i64": 11, "f64": 12}
FMT = {0: "<B", 1: "<b", 2: "<H", 3: "<h", 4: "<I", 5: "<i", 6: "<f", 7: "<?", 10: "<Q", 11: "<q", 12: "<d"}
GGML = {"F32": 0, "F16": 1, "Q4_0": 2, "Q4_1": 3, "Q5_0": 6, "Q5_1": 7, "Q8_0": 8, "Q4_K": 12, "Q5_K": 13,
        "Q6_K": 14, "BF16": 30}


def gstr(s):
    b = s.encode("utf-8")
    return struct.pack("<Q", len(b)) + b


def scalar(t, v):
    return gstr(v) if t == VT["str"] else struct.pack(FMT[t], v)


def write_gguf(path, kvs, tensors):
    """kvs: list of (key, type name, value) with type "arr:<elem>" for arrays;
    tensors: list of (name, ggml type name, numpy row-major shape, raw bytes)."""
    out = bytearray(b"GGUF" + struct.pack("<IQQ", 3, len(tensors), len(kvs)))
    for key, t, v in kvs:
        out += gstr(key)
        if t.startswith("arr:"):
            et = VT[t[4:]]
            out += struct.pack("<IIQ", VT["arr"], et, len(v))
            for e in v:
                out += scalar(et, e)
        else:
            out += struct.pack("<I", VT[t]) + scalar(VT[t], v)
    off = 0
    offsets = []
    for name, t, shape, raw in tensors:
        out += gstr(name) + struct.pack("<I", len(shape))
        for d in reversed(shape):  # ggml order: innermost first
            out += struct.pack("<Q", d)
        out += struct.pack("<IQ", GGML[t], off)
        offsets.append(off)
        off += (len(raw) + ALIGN - 1) // ALIGN * ALIGN
    out += b"\0" * (-len(out) % ALIGN)
    for (name, t, shape, raw), o in zip(tensors, offsets):
        out += raw + b"\0" * (-len(raw) % ALIGN)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as f:
        f.write(out)


def read_safetensors(path):
    b = open(path, "rb").read()
    n = struct.unpack("<Q", b[:8])[0]
    h = json.loads(b[8:8 + n])
    out = {}
    for k, v in h.items():
        if k == "__metadata__":
            continue
        assert v["dtype"] == "F32"
        s, e = v["data_offsets"]
        out[k] = np.frombuffer(b[8 + n + s:8 + n + e], dtype="<f4").reshape(v["shape"]).copy()
    return out


def f16(a):
    return np.asarray(a, dtype=np.float32).astype("<f2")


def round_away(x):
    # C's roundf: halves away from zero.
    return np.sign(x) * np.floor(np.abs(x) + 0.5)


def q8_0(x):
    b = x.reshape(-1, 32).astype(np.float32)
    d = (np.abs(b).max(axis=1, keepdims=True) / np.float32(127)).astype(np.float32)
    with np.errstate(divide="ignore"):
        idv = np.where(d == 0, np.float32(0), np.float32(1) / d).astype(np.float32)
    q = round_away((b * idv).astype(np.float32)).astype(np.int8)
    return b"".join(f16(d[i]).tobytes() + q[i].tobytes() for i in range(len(b)))


def q4_0(x):
    b = x.reshape(-1, 32).astype(np.float32)
    imax = np.abs(b).argmax(axis=1)
    mx = b[np.arange(len(b)), imax][:, None]
    d = (mx / np.float32(-8)).astype(np.float32)
    with np.errstate(divide="ignore"):
        idv = np.where(d == 0, np.float32(0), np.float32(1) / d).astype(np.float32)
    q = np.minimum(15, np.trunc(b.astype(np.float64) * idv.astype(np.float64) + 8.5)).astype(np.uint8)
    return b"".join(f16(d[i]).tobytes() + (q[i, :16] | (q[i, 16:] << 4)).astype(np.uint8).tobytes() for i in range(len(b)))


BLOCK = {"Q4_1": (32, 20), "Q5_0": (32, 22), "Q5_1": (32, 24), "Q4_K": (256, 144), "Q5_K": (256, 176), "Q6_K": (256, 210)}


def half_at(blk, o):
    return float(np.frombuffer(bytes(blk[o:o + 2]), dtype="<f2")[0])


def k_scale_min(s, j):
    if j < 4:
        return s[j] & 63, s[j + 4] & 63
    return (s[j + 4] & 15) | ((s[j - 4] >> 6) << 4), (s[j + 4] >> 4) | ((s[j] >> 6) << 4)


def dequant_block(t, blk):
    """float64 values of one block, element by element from the layout."""
    y = np.zeros(BLOCK[t][0])
    if t in ("Q4_1", "Q5_0", "Q5_1"):
        d = half_at(blk, 0)
        m = half_at(blk, 2) if t != "Q5_0" else 0.0
        qh = 0
        qs = blk[4:] if t == "Q4_1" else blk[(8 if t == "Q5_1" else 6):]
        if t != "Q4_1":
            qh = struct.unpack("<I", bytes(blk[(4 if t == "Q5_1" else 2):][:4]))[0]
        for e in range(32):
            q = (qs[e % 16] >> (4 * (e // 16))) & 15
            if t != "Q4_1":
                q |= ((qh >> e) & 1) << 4
            y[e] = d * (q - 16) if t == "Q5_0" else d * q + m
    elif t in ("Q4_K", "Q5_K"):
        d, dmin, sc = half_at(blk, 0), half_at(blk, 2), blk[4:16]
        qs = blk[16:] if t == "Q4_K" else blk[48:]
        for e in range(256):
            sub, l = e // 32, e % 32
            s, m = k_scale_min(sc, sub)
            q = (qs[32 * (sub // 2) + l] >> (4 * (sub % 2))) & 15
            if t == "Q5_K":
                q += 16 * ((blk[16 + l] >> sub) & 1)
            y[e] = d * s * q - dmin * m
    else:  # Q6_K
        d = half_at(blk, 208)
        for e in range(256):
            n, r = divmod(e, 128)
            quarter, l = divmod(r, 32)
            lo = (blk[64 * n + l + 32 * (quarter % 2)] >> (4 * (quarter // 2))) & 15
            hi = (blk[128 + 32 * n + l] >> (2 * quarter)) & 3
            sc = blk[192 + 8 * n + l // 16 + 2 * quarter]
            sc = sc - 256 if sc > 127 else sc  # int8
            y[e] = d * sc * ((lo | (hi << 4)) - 32)
    return y


def random_blocks(rng, t, n):
    bs, size = BLOCK[t]
    raw = bytearray(rng.integers(0, 256, n * size, dtype=np.uint8).tobytes())
    for i in range(n):
        base = i * size
        offs = [208] if t == "Q6_K" else ([0, 2] if t in ("Q4_1", "Q5_1", "Q4_K", "Q5_K") else [0])
        for o in offs:
            raw[base + o:base + o + 2] = f16(rng.normal(0, 0.05)).tobytes()
    vals = np.concatenate([dequant_block(t, raw[i * size:(i + 1) * size]) for i in range(n)])
    return bytes(raw), vals


def quant_file(path):
    rng = np.random.default_rng(18)
    x = rng.normal(0, 1, (3, 96)).astype(np.float32)
    x[1, :32] = 0
    kvs = [("general.architecture", "str", "test"), ("general.alignment", "u32", 32),
           ("t.u8", "u8", 200), ("t.i8", "i8", -100), ("t.u16", "u16", 60000), ("t.i16", "i16", -30000),
           ("t.u32", "u32", 4000000000), ("t.i32", "i32", -2000000000), ("t.f32", "f32", 0.5),
           ("t.bool", "bool", True), ("t.str", "str", " ▁spaced\n "), ("t.u64", "u64", 2**63 + 5),
           ("t.i64", "i64", -2**62), ("t.f64", "f64", 0.1),
           ("t.arr.str", "arr:str", ["a", "", "Ġb c"]), ("t.arr.i32", "arr:i32", [1, -2, 3]),
           ("t.arr.f32", "arr:f32", [0.25, -1.0]), ("t.arr.u8", "arr:u8", []), ("t.arr.bool", "arr:bool", [True, False])]
    ts = [("x", "F32", [3, 96], x.astype("<f4").tobytes()),
          ("x.q8_0", "Q8_0", [3, 96], q8_0(x)),
          ("x.q4_0", "Q4_0", [3, 96], q4_0(x)),
          ("x.f16", "F16", [3, 96], x.astype("<f2").tobytes()),
          # BF16: top 16 bits after round-to-nearest-even.
          ("x.bf16", "BF16", [3, 96], ((x.view(np.uint32).astype(np.uint64) + 0x7FFF + ((x.view(np.uint32) >> 16) & 1)) >> 16).astype("<u2").tobytes())]
    for t, nb in (("Q4_1", 5), ("Q5_0", 5), ("Q5_1", 5), ("Q4_K", 3), ("Q5_K", 3), ("Q6_K", 3)):
        raw, vals = random_blocks(rng, t, nb)
        shape = [1, nb * BLOCK[t][0]]
        ts.append(("r." + t, t, shape, raw))
        ts.append(("r." + t + ".expected", "F32", shape, vals.astype("<f4").tobytes()))
    write_gguf(path, kvs, ts)


def permute(w, heads):
    # convert_hf_to_gguf's LlamaModel.permute: HF rotate_half rows -> adjacent pairs.
    sh = w.shape
    return w.reshape(heads, 2, sh[0] // heads // 2, *sh[1:]).swapaxes(1, 2).reshape(sh)


def model_file(fixtures, name, out_dir):
    src = os.path.join(fixtures, name)
    cfg = json.load(open(os.path.join(src, "config.json")))
    w = read_safetensors(os.path.join(src, "model.safetensors"))
    ts = []
    if cfg["model_type"] == "llama":
        arch, L = "llama", cfg["num_hidden_layers"]
        kvs = [("general.architecture", "str", arch), ("general.name", "str", name),
               ("llama.context_length", "u32", cfg["max_position_embeddings"]),
               ("llama.embedding_length", "u32", cfg["hidden_size"]), ("llama.block_count", "u32", L),
               ("llama.feed_forward_length", "u32", cfg["intermediate_size"]),
               ("llama.rope.dimension_count", "u32", cfg["head_dim"]),
               ("llama.attention.head_count", "u32", cfg["num_attention_heads"]),
               ("llama.attention.head_count_kv", "u32", cfg["num_key_value_heads"]),
               ("llama.rope.freq_base", "f32", cfg["rope_theta"]),
               ("llama.attention.layer_norm_rms_epsilon", "f32", cfg["rms_norm_eps"]),
               ("general.file_type", "u32", 0)]
        ts.append(("token_embd.weight", w["model.embed_tokens.weight"]))
        for l in range(L):
            p = "model.layers.%d." % l
            g = "blk.%d." % l
            ts += [(g + "attn_norm.weight", w[p + "input_layernorm.weight"]),
                   (g + "attn_q.weight", permute(w[p + "self_attn.q_proj.weight"], cfg["num_attention_heads"])),
                   (g + "attn_k.weight", permute(w[p + "self_attn.k_proj.weight"], cfg["num_key_value_heads"])),
                   (g + "attn_v.weight", w[p + "self_attn.v_proj.weight"]),
                   (g + "attn_output.weight", w[p + "self_attn.o_proj.weight"]),
                   (g + "ffn_norm.weight", w[p + "post_attention_layernorm.weight"]),
                   (g + "ffn_gate.weight", w[p + "mlp.gate_proj.weight"]),
                   (g + "ffn_up.weight", w[p + "mlp.up_proj.weight"]),
                   (g + "ffn_down.weight", w[p + "mlp.down_proj.weight"])]
        ts += [("output_norm.weight", w["model.norm.weight"]), ("output.weight", w["lm_head.weight"])]
    else:  # gpt2
        L = cfg["n_layer"]
        kvs = [("general.architecture", "str", "gpt2"), ("general.name", "str", name),
               ("gpt2.context_length", "u32", cfg["n_positions"]), ("gpt2.embedding_length", "u32", cfg["n_embd"]),
               ("gpt2.feed_forward_length", "u32", 4 * cfg["n_embd"] if not cfg.get("n_inner") else cfg["n_inner"]),
               ("gpt2.block_count", "u32", L), ("gpt2.attention.head_count", "u32", cfg["n_head"]),
               ("gpt2.attention.layer_norm_epsilon", "f32", cfg.get("layer_norm_epsilon", 1e-5)),
               ("general.file_type", "u32", 0)]
        pre = "transformer."
        ts += [("token_embd.weight", w[pre + "wte.weight"]), ("position_embd.weight", w[pre + "wpe.weight"])]
        for l in range(L):
            p = pre + "h.%d." % l
            g = "blk.%d." % l
            for hf, gg, conv in (("ln_1", "attn_norm", False), ("attn.c_attn", "attn_qkv", True),
                                 ("attn.c_proj", "attn_output", True), ("ln_2", "ffn_norm", False),
                                 ("mlp.c_fc", "ffn_up", True), ("mlp.c_proj", "ffn_down", True)):
                ts.append((g + gg + ".weight", w[p + hf + ".weight"].T.copy() if conv else w[p + hf + ".weight"]))
                ts.append((g + gg + ".bias", w[p + hf + ".bias"]))
        ts += [("output_norm.weight", w[pre + "ln_f.weight"]), ("output_norm.bias", w[pre + "ln_f.bias"])]
    write_gguf(os.path.join(out_dir, name + ".gguf"), kvs,
               [(n, "F32", list(a.shape), np.ascontiguousarray(a, dtype="<f4").tobytes()) for n, a in ts])
    ref = read_safetensors(os.path.join(src, "reference.safetensors"))
    ref["logits"].astype("<f4").tofile(os.path.join(out_dir, name + ".logits.bin"))
    with open(os.path.join(src, "inputs.json")) as f, open(os.path.join(out_dir, name + ".inputs.json"), "w") as g:
        g.write(f.read())


if __name__ == "__main__":
    fixtures = sys.argv[1] if len(sys.argv) > 1 else "../shared/fixtures"
    quant_file("format/gguf/testdata/ref-quant.gguf")
    for n in ("tiny-llama", "tiny-gpt2"):
        model_file(fixtures, n, "model/testdata/gguf")
