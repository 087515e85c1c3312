"""Reference inverse frequencies and attention factors for every RoPE type.

The functions below are transformers' modeling_rope_utils.py (main, as of
transformers 5.x: _compute_*_parameters), reduced to what they compute from a
config: the rope_parameters dict and the config attributes they read
(head_dim, max_position_embeddings). Run with python3-torch (Debian's torch
1.13): /usr/bin/python3 gen.py > rope.json
"""
import json
import math
from types import SimpleNamespace

import torch


def default(cfg, rp, seq_len=None):
    dim = int(cfg.head_dim * rp.get("partial_rotary_factor", 1.0))
    base = rp["rope_theta"]
    inv_freq = 1.0 / (base ** (torch.arange(0, dim, 2, dtype=torch.int64).to(dtype=torch.float) / dim))
    return inv_freq, 1.0


def linear(cfg, rp, seq_len=None):
    inv_freq, att = default(cfg, rp)
    return inv_freq / rp["factor"], att


def dynamic(cfg, rp, seq_len=None):
    base = rp["rope_theta"]
    dim = int(cfg.head_dim * rp.get("partial_rotary_factor", 1.0))
    factor = rp["factor"]
    if seq_len is None:
        seq_len = cfg.max_position_embeddings
    else:
        seq_len = max(seq_len, cfg.max_position_embeddings)
    base = base * ((factor * seq_len / cfg.max_position_embeddings) - (factor - 1)) ** (dim / (dim - 2))
    inv_freq = 1.0 / (base ** (torch.arange(0, dim, 2, dtype=torch.int64).to(dtype=torch.float) / dim))
    return inv_freq, 1.0


def yarn(cfg, rp, seq_len=None):
    base = rp["rope_theta"]
    dim = int(cfg.head_dim * rp.get("partial_rotary_factor", 1.0))
    factor = rp.get("factor")
    attention_factor = rp.get("attention_factor")
    mscale = rp.get("mscale")
    mscale_all_dim = rp.get("mscale_all_dim")
    original_max_position_embeddings = rp["original_max_position_embeddings"]
    if factor is None:
        factor = cfg.max_position_embeddings / original_max_position_embeddings

    def get_mscale(scale, mscale=1):
        if scale <= 1:
            return 1.0
        return 0.1 * mscale * math.log(scale) + 1.0

    if attention_factor is None:
        if mscale and mscale_all_dim:
            attention_factor = float(get_mscale(factor, mscale) / get_mscale(factor, mscale_all_dim))
        else:
            attention_factor = get_mscale(factor)
    beta_fast = rp.get("beta_fast") or 32
    beta_slow = rp.get("beta_slow") or 1

    def find_correction_dim(num_rotations, dim, base, max_position_embeddings):
        return (dim * math.log(max_position_embeddings / (num_rotations * 2 * math.pi))) / (2 * math.log(base))

    def find_correction_range(low_rot, high_rot, dim, base, max_position_embeddings, truncate):
        low = find_correction_dim(low_rot, dim, base, max_position_embeddings)
        high = find_correction_dim(high_rot, dim, base, max_position_embeddings)
        if truncate:
            low = math.floor(low)
            high = math.ceil(high)
        return max(low, 0), min(high, dim - 1)

    def linear_ramp_factor(min, max, dim):
        if min == max:
            max += 0.001
        linear_func = (torch.arange(dim, dtype=torch.float32) - min) / (max - min)
        return torch.clamp(linear_func, 0, 1)

    pos_freqs = base ** (torch.arange(0, dim, 2).to(dtype=torch.float) / dim)
    inv_freq_extrapolation = 1.0 / pos_freqs
    inv_freq_interpolation = 1.0 / (factor * pos_freqs)
    truncate = rp.get("truncate", True)
    low, high = find_correction_range(beta_fast, beta_slow, dim, base, original_max_position_embeddings, truncate)
    inv_freq_extrapolation_factor = 1 - linear_ramp_factor(low, high, dim // 2).to(dtype=torch.float)
    inv_freq = (
        inv_freq_interpolation * (1 - inv_freq_extrapolation_factor)
        + inv_freq_extrapolation * inv_freq_extrapolation_factor
    )
    return inv_freq, attention_factor


def longrope(cfg, rp, seq_len=None):
    base = rp["rope_theta"]
    dim = int(cfg.head_dim * rp.get("partial_rotary_factor", 1.0))
    long_factor = rp["long_factor"]
    short_factor = rp["short_factor"]
    factor = rp.get("factor")
    attention_factor = rp.get("attention_factor")
    original_max_position_embeddings = rp["original_max_position_embeddings"]
    if factor is None:
        factor = cfg.max_position_embeddings / original_max_position_embeddings
    if attention_factor is None:
        if factor <= 1.0:
            attention_factor = 1.0
        else:
            attention_factor = math.sqrt(1 + math.log(factor) / math.log(original_max_position_embeddings))
    if seq_len and seq_len > original_max_position_embeddings:
        ext_factors = torch.tensor(long_factor, dtype=torch.float32)
    else:
        ext_factors = torch.tensor(short_factor, dtype=torch.float32)
    inv_freq_shape = torch.arange(0, dim, 2, dtype=torch.int64).float() / dim
    inv_freq = 1.0 / (ext_factors * base**inv_freq_shape)
    return inv_freq, attention_factor


def llama3(cfg, rp, seq_len=None):
    inv_freq, att = default(cfg, rp)
    factor = rp["factor"]
    low_freq_factor = rp["low_freq_factor"]
    high_freq_factor = rp["high_freq_factor"]
    old_context_len = rp["original_max_position_embeddings"]
    low_freq_wavelen = old_context_len / low_freq_factor
    high_freq_wavelen = old_context_len / high_freq_factor
    wavelen = 2 * math.pi / inv_freq
    inv_freq_llama = torch.where(wavelen > low_freq_wavelen, inv_freq / factor, inv_freq)
    smooth_factor = (old_context_len / wavelen - low_freq_factor) / (high_freq_factor - low_freq_factor)
    smoothed_inv_freq = (1 - smooth_factor) * inv_freq_llama / factor + smooth_factor * inv_freq_llama
    is_medium_freq = ~(wavelen < high_freq_wavelen) * ~(wavelen > low_freq_wavelen)
    return torch.where(is_medium_freq, smoothed_inv_freq, inv_freq_llama), att


FNS = {"default": default, "linear": linear, "dynamic": dynamic, "yarn": yarn, "longrope": longrope, "llama3": llama3}

CASES = [
    ("linear", 16, 256, {"rope_type": "linear", "rope_theta": 10000.0, "factor": 4.0}, None),
    ("dynamic-short", 16, 32, {"rope_type": "dynamic", "rope_theta": 10000.0, "factor": 2.0}, 16),
    ("dynamic-long", 16, 32, {"rope_type": "dynamic", "rope_theta": 10000.0, "factor": 2.0}, 80),
    ("yarn", 32, 256, {"rope_type": "yarn", "rope_theta": 10000.0, "factor": 4.0, "original_max_position_embeddings": 64}, None),
    ("yarn-mscale", 64, 163840, {"rope_type": "yarn", "rope_theta": 10000.0, "factor": 40.0, "mscale": 1.0, "mscale_all_dim": 0.707,
                                  "beta_fast": 32, "beta_slow": 1, "original_max_position_embeddings": 4096, "truncate": False}, None),
    ("yarn-nofactor", 32, 256, {"rope_type": "yarn", "rope_theta": 1000000.0, "original_max_position_embeddings": 64}, None),
    ("longrope-short", 16, 256, {"rope_type": "longrope", "rope_theta": 10000.0, "original_max_position_embeddings": 64,
                                  "short_factor": [1.0, 1.1, 1.2, 1.5, 2.0, 2.5, 3.0, 4.0],
                                  "long_factor": [1.0, 1.5, 2.0, 3.0, 5.0, 8.0, 12.0, 16.0]}, 10),
    ("longrope-long", 16, 256, {"rope_type": "longrope", "rope_theta": 10000.0, "original_max_position_embeddings": 64,
                                 "short_factor": [1.0, 1.1, 1.2, 1.5, 2.0, 2.5, 3.0, 4.0],
                                 "long_factor": [1.0, 1.5, 2.0, 3.0, 5.0, 8.0, 12.0, 16.0]}, 100),
    ("llama3", 64, 131072, {"rope_type": "llama3", "rope_theta": 500000.0, "factor": 32.0, "low_freq_factor": 1.0,
                            "high_freq_factor": 4.0, "original_max_position_embeddings": 8192}, None),
]

out = []
for name, head_dim, max_pos, rp, seq_len in CASES:
    cfg = SimpleNamespace(head_dim=head_dim, max_position_embeddings=max_pos)
    inv, att = FNS[rp["rope_type"]](cfg, rp, seq_len)
    out.append({"name": name, "head_dim": head_dim, "max_position_embeddings": max_pos, "rope_parameters": rp,
                "seq_len": seq_len or 0, "inv_freq": [float(x) for x in inv], "attention_factor": float(att)})
print(json.dumps({"torch": torch.__version__, "cases": out}, indent=1))
