#!/usr/bin/env python3
"""Write a random-weight GGUF model of golora's benchmark shapes for llama.cpp.

The shapes are those of `golora bench generate --arch gpt2|llama` (see
cmd/golora/bench_generate.go, benchConfig): GPT-2 124M with a tied head and a
124M-class grouped-query Llama with an untied head. Weights are N(0, 0.02).
With --weights f16 every matrix (embeddings and head included) is F16 and the
norms and biases stay F32, as llama.cpp's convert_hf_to_gguf.py leaves them.

The tokenizer is a dummy but one llama.cpp's loader accepts in full:
  gpt2:  byte-level BPE ("gpt2" model): the 256 byte symbols of GPT-2's
         byte-to-unicode map, then byte pairs, each with its merge, then
         <|endoftext|> as BOS/EOS: n_vocab strings, types and merges.
  llama: SentencePiece ("llama" model): <unk>, <s>, </s>, the 256 <0xXX> byte
         tokens, then dummy pieces with descending scores.
llama-bench feeds random token ids, so the strings never matter for speed.

It needs only numpy and the gguf-py package of a llama.cpp source tree:
  python3 bench/make_gguf.py --src "$LLAMACPP_SRC" --shape gpt2 --weights f16 -o out.gguf
"""

import argparse
import os
import sys

import numpy as np

SHAPES = {
    # layers, width, heads, kv heads, MLP width, vocab, positions
    "gpt2": dict(layers=12, width=768, heads=12, kv_heads=12, ff=3072, vocab=50257, ctx=1024),
    "llama": dict(layers=12, width=768, heads=12, kv_heads=4, ff=2048, vocab=32000, ctx=1024),
    # Llama 3.2 1B's shape (bench/configs/llama-3.2-1b-shape.json): 1.24 B
    # parameters, head tied to the embedding, rope theta 5e5.
    "llama-1b": dict(layers=16, width=2048, heads=32, kv_heads=8, ff=8192, vocab=128256, ctx=2048, tied=True, theta=5e5),
    # A small Llama whose every row is a multiple of Q4_K's 256-value block,
    # for bench/gguf_vs_llamacpp.sh's logits check (seconds, not minutes).
    "llama-small": dict(layers=4, width=512, heads=8, kv_heads=4, ff=1536, vocab=2048, ctx=256),
}


def gpt2_byte_symbols():
    """GPT-2's byte-to-unicode map: printable bytes map to themselves, the
    rest to code points from 256 up, so every byte is one visible symbol."""
    keep = list(range(ord("!"), ord("~") + 1)) + list(range(0xA1, 0xAC + 1)) + list(range(0xAE, 0xFF + 1))
    sym, n = {}, 0
    for b in range(256):
        if b in keep:
            sym[b] = chr(b)
        else:
            sym[b] = chr(256 + n)
            n += 1
    return [sym[b] for b in range(256)]


def gpt2_vocab(n_vocab):
    byte_sym = gpt2_byte_symbols()
    tokens, merges = list(byte_sym), []
    need = n_vocab - 1 - len(tokens)
    # Byte pairs give 65536 distinct two-symbol tokens, enough for GPT-2's
    # 50000 merges, each a valid "left right" merge of two existing tokens.
    for i in range(need):
        a, b = byte_sym[i // 256], byte_sym[i % 256]
        tokens.append(a + b)
        merges.append(a + " " + b)
    tokens.append("<|endoftext|>")
    types = [1] * (n_vocab - 1) + [3]  # NORMAL..., CONTROL
    return tokens, types, merges


def spm_vocab(n_vocab):
    tokens = ["<unk>", "<s>", "</s>"] + ["<0x%02X>" % b for b in range(256)]
    types = [2, 3, 3] + [6] * 256  # UNKNOWN, CONTROL, CONTROL, BYTE...
    scores = [0.0] * len(tokens)
    for i in range(n_vocab - len(tokens)):
        tokens.append("\u2581t%d" % i)
        types.append(1)
        scores.append(-float(i))
    return tokens, types, scores


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--src", default=os.environ.get("LLAMACPP_SRC"), required="LLAMACPP_SRC" not in os.environ,
                    help="llama.cpp source tree (for its gguf-py package; default $LLAMACPP_SRC)")
    ap.add_argument("--shape", choices=sorted(SHAPES), required=True)
    ap.add_argument("--weights", choices=["f32", "f16"], default="f32")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("-o", "--out", required=True)
    a = ap.parse_args()

    sys.path.insert(0, os.path.join(a.src, "gguf-py"))
    try:
        import gguf
    except ImportError as e:
        sys.exit(f"make_gguf.py: cannot import gguf from {a.src}/gguf-py: {e}")

    s = SHAPES[a.shape]
    C, L, H, KV, F, V, T = s["width"], s["layers"], s["heads"], s["kv_heads"], s["ff"], s["vocab"], s["ctx"]
    hd = C // H
    rng = np.random.default_rng(a.seed)
    wdt = np.float16 if a.weights == "f16" else np.float32

    def mat(rows, cols):
        # numpy (rows, cols) is GGML ne = {cols, rows}: rows are outputs.
        return (rng.standard_normal((rows, cols), dtype=np.float32) * 0.02).astype(wdt)

    def ones(n):
        return np.ones(n, dtype=np.float32)

    def zeros(n):
        return np.zeros(n, dtype=np.float32)

    arch = "gpt2" if a.shape == "gpt2" else "llama"
    tmp = a.out + ".tmp"
    w = gguf.GGUFWriter(tmp, arch)
    w.add_name(f"golora-bench-random-{a.shape}")
    w.add_file_type(gguf.LlamaFileType.MOSTLY_F16 if a.weights == "f16" else gguf.LlamaFileType.ALL_F32)
    w.add_context_length(T)
    w.add_embedding_length(C)
    w.add_block_count(L)
    w.add_feed_forward_length(F)
    w.add_head_count(H)
    w.add_head_count_kv(KV)
    w.add_vocab_size(V)

    if a.shape == "gpt2":
        w.add_layer_norm_eps(1e-5)
        tokens, types, merges = gpt2_vocab(V)
        w.add_tokenizer_model("gpt2")
        w.add_tokenizer_pre("gpt-2")
        w.add_token_list(tokens)
        w.add_token_types(types)
        w.add_token_merges(merges)
        w.add_bos_token_id(V - 1)
        w.add_eos_token_id(V - 1)
        w.add_tensor("token_embd.weight", mat(V, C))
        w.add_tensor("position_embd.weight", mat(T, C))
        for i in range(L):
            p = f"blk.{i}."
            w.add_tensor(p + "attn_norm.weight", ones(C))
            w.add_tensor(p + "attn_norm.bias", zeros(C))
            w.add_tensor(p + "attn_qkv.weight", mat(3 * C, C))
            w.add_tensor(p + "attn_qkv.bias", zeros(3 * C))
            w.add_tensor(p + "attn_output.weight", mat(C, C))
            w.add_tensor(p + "attn_output.bias", zeros(C))
            w.add_tensor(p + "ffn_norm.weight", ones(C))
            w.add_tensor(p + "ffn_norm.bias", zeros(C))
            w.add_tensor(p + "ffn_up.weight", mat(F, C))
            w.add_tensor(p + "ffn_up.bias", zeros(F))
            w.add_tensor(p + "ffn_down.weight", mat(C, F))
            w.add_tensor(p + "ffn_down.bias", zeros(C))
        w.add_tensor("output_norm.weight", ones(C))
        w.add_tensor("output_norm.bias", zeros(C))
        # No output.weight: the head is tied to token_embd, as in GPT-2.
    else:
        w.add_layer_norm_rms_eps(1e-5)
        w.add_rope_freq_base(s.get("theta", 10000.0))
        w.add_rope_dimension_count(hd)
        tokens, types, scores = spm_vocab(V)
        w.add_tokenizer_model("llama")
        w.add_tokenizer_pre("default")
        w.add_token_list(tokens)
        w.add_token_scores(scores)
        w.add_token_types(types)
        w.add_bos_token_id(1)
        w.add_eos_token_id(2)
        w.add_unk_token_id(0)
        w.add_tensor("token_embd.weight", mat(V, C))
        for i in range(L):
            p = f"blk.{i}."
            w.add_tensor(p + "attn_norm.weight", ones(C))
            w.add_tensor(p + "attn_q.weight", mat(H * hd, C))
            w.add_tensor(p + "attn_k.weight", mat(KV * hd, C))
            w.add_tensor(p + "attn_v.weight", mat(KV * hd, C))
            w.add_tensor(p + "attn_output.weight", mat(C, H * hd))
            w.add_tensor(p + "ffn_norm.weight", ones(C))
            w.add_tensor(p + "ffn_gate.weight", mat(F, C))
            w.add_tensor(p + "ffn_up.weight", mat(F, C))
            w.add_tensor(p + "ffn_down.weight", mat(C, F))
        w.add_tensor("output_norm.weight", ones(C))
        if not s.get("tied"):
            w.add_tensor("output.weight", mat(V, C))

    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    os.replace(tmp, a.out)  # a killed run leaves no half-written model behind


if __name__ == "__main__":
    main()
