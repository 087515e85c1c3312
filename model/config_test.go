package model

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
)

func TestParseConfig(t *testing.T) {
	for _, tc := range []struct {
		name, json string
		check      func(c *Config) string
		errHas     string
	}{
		{
			name: "gpt2 defaults tie and sizes",
			json: `{"model_type":"gpt2","n_embd":48,"n_head":4,"n_layer":2,"n_positions":64,"vocab_size":97,"n_inner":null}`,
			check: func(c *Config) string {
				if !c.Tied() || c.HiddenSize != 48 || c.IntermediateSize != 192 || c.HeadDim != 12 || c.NumKeyValueHeads != 4 || c.NormEps() != 1e-5 || c.ActivationFunction != "gelu_new" {
					return "bad defaults"
				}
				return ""
			},
		},
		{
			name: "gpt2 ignores stray llama keys",
			json: `{"model_type":"gpt2","n_embd":32,"n_head":4,"n_layer":1,"vocab_size":10,"intermediate_size":37,"hidden_act":"gelu","n_inner":64}`,
			check: func(c *Config) string {
				if c.IntermediateSize != 64 || c.MaxPositionEmbeddings != 1024 {
					return "n_inner must win"
				}
				return ""
			},
		},
		{
			name: "llama v5 rope_parameters, dtype, eos list",
			json: `{"model_type":"llama","hidden_size":64,"intermediate_size":96,"num_hidden_layers":2,"num_attention_heads":4,"vocab_size":10,
				"rope_parameters":{"rope_type":"default","rope_theta":500000.0},"dtype":"bfloat16","eos_token_id":[2,7]}`,
			check: func(c *Config) string {
				if c.RopeTheta != 500000 || c.Dtype != "bfloat16" || len(c.EOSTokenID) != 2 || c.NumKeyValueHeads != 4 || c.Tied() || c.RMSNormEps != 1e-6 {
					return "bad parse"
				}
				return ""
			},
		},
		{
			name: "qwen2 keeps its values",
			json: `{"model_type":"qwen2","hidden_size":64,"intermediate_size":96,"num_hidden_layers":2,"num_attention_heads":4,"num_key_value_heads":2,"vocab_size":10,"rope_theta":1000000.0,"rms_norm_eps":1e-6,"tie_word_embeddings":true}`,
			check: func(c *Config) string {
				if c.RopeTheta != 1e6 || !c.Tied() || c.HeadDim != 16 {
					return "bad parse"
				}
				return ""
			},
		},
		{name: "unknown family", json: `{"model_type":"bert"}`, errHas: `"bert"`},
		{name: "odd head_dim", json: `{"model_type":"llama","hidden_size":12,"intermediate_size":8,"num_hidden_layers":1,"num_attention_heads":4,"vocab_size":10}`, errHas: "head_dim"},
		{name: "gelu act for llama", json: `{"model_type":"mistral","hidden_size":8,"intermediate_size":8,"num_hidden_layers":1,"num_attention_heads":2,"vocab_size":10,"hidden_act":"gelu"}`, errHas: "hidden_act"},
		{name: "bad json", json: `{"model_type":`, errHas: "config.json"},
		{name: "negative rms_norm_eps", json: `{"model_type":"llama","hidden_size":8,"intermediate_size":8,"num_hidden_layers":1,"num_attention_heads":2,"vocab_size":10,"rms_norm_eps":-1e-6}`, errHas: "rms_norm_eps"},
		{name: "negative layer_norm_epsilon", json: `{"model_type":"gpt2","n_embd":8,"n_layer":1,"n_head":2,"vocab_size":10,"layer_norm_epsilon":-1}`, errHas: "layer_norm_epsilon"},
		{
			name: "gemma3 transformers 4 layout: rope_theta, rope_local_base_freq, rope_scaling on the global layers",
			json: `{"model_type":"gemma3_text","hidden_size":64,"intermediate_size":96,"num_hidden_layers":6,"num_attention_heads":4,"num_key_value_heads":1,"head_dim":16,"vocab_size":10,
				"rope_theta":1000000.0,"rope_local_base_freq":10000.0,"rope_scaling":{"rope_type":"linear","factor":8.0},"sliding_window":512,"sliding_window_pattern":6,"torch_dtype":"bfloat16"}`,
			check: func(c *Config) string {
				if c.rope.Type != "linear" || c.rope.Factor != 8 || c.rope.Theta != 1e6 || c.ropeLocal == nil || c.ropeLocal.Type != "default" || c.ropeLocal.Theta != 1e4 {
					return "bad ropes"
				}
				if c.Window(0) != 512 || c.Window(4) != 512 || c.Window(5) != 0 || c.layerRope(0) != c.ropeLocal || c.layerRope(5) != &c.rope {
					return "bad layer plan"
				}
				if c.HiddenAct != "gelu_pytorch_tanh" || !c.Tied() || c.QueryPreAttnScalar != 256 || c.FinalLogitSoftcapping != nil {
					return "bad gemma3 defaults"
				}
				return ""
			},
		},
		{
			name: "gemma2 defaults: soft-caps, alternating windows",
			json: `{"model_type":"gemma2","hidden_size":64,"intermediate_size":96,"num_hidden_layers":3,"num_attention_heads":4,"head_dim":16,"vocab_size":10}`,
			check: func(c *Config) string {
				if c.AttnLogitSoftcapping == nil || *c.AttnLogitSoftcapping != 50 || c.FinalLogitSoftcapping == nil || *c.FinalLogitSoftcapping != 30 {
					return "bad soft-caps"
				}
				if c.Window(0) != 4096 || c.Window(1) != 0 || c.Window(2) != 4096 {
					return "bad windows"
				}
				return ""
			},
		},
		{
			name: "qwen2 sliding window only with use_sliding_window, from max_window_layers",
			json: `{"model_type":"qwen2","hidden_size":64,"intermediate_size":96,"num_hidden_layers":3,"num_attention_heads":4,"vocab_size":10,
				"use_sliding_window":true,"sliding_window":16,"max_window_layers":1}`,
			check: func(c *Config) string {
				if c.Window(0) != 0 || c.Window(1) != 16 || c.Window(2) != 16 {
					return "bad windows"
				}
				return ""
			},
		},
		{
			name: "qwen2.5 style: sliding_window set but off",
			json: `{"model_type":"qwen2","hidden_size":64,"intermediate_size":96,"num_hidden_layers":2,"num_attention_heads":4,"vocab_size":10,
				"use_sliding_window":false,"sliding_window":32768,"max_window_layers":28}`,
			check: func(c *Config) string {
				if c.Window(0) != 0 || c.Window(1) != 0 {
					return "window applied"
				}
				return ""
			},
		},
		{
			name: "phi3 su rope is longrope, trained length at the top level",
			json: `{"model_type":"phi3","hidden_size":32,"intermediate_size":96,"num_hidden_layers":1,"num_attention_heads":4,"vocab_size":10,"max_position_embeddings":1024,
				"original_max_position_embeddings":256,"sliding_window":64,"rope_scaling":{"type":"su","short_factor":[1,1,1,1],"long_factor":[2,2,2,2]}}`,
			check: func(c *Config) string {
				if c.rope.Type != "longrope" || c.rope.origMax(c) != 256 || c.Window(0) != 64 {
					return "bad phi3"
				}
				return ""
			},
		},
		{
			name: "smollm3 no_rope_layers from the interval",
			json: `{"model_type":"smollm3","hidden_size":32,"intermediate_size":96,"num_hidden_layers":4,"num_attention_heads":4,"vocab_size":10,"no_rope_layer_interval":2}`,
			check: func(c *Config) string {
				if c.layerRope(0) == nil || c.layerRope(1) != nil || c.layerRope(2) == nil || c.layerRope(3) != nil {
					return "bad no-rope layers"
				}
				return ""
			},
		},
		{name: "bidirectional gemma3", json: `{"model_type":"gemma3_text","hidden_size":64,"intermediate_size":96,"num_hidden_layers":1,"num_attention_heads":4,"vocab_size":10,"use_bidirectional_attention":true}`, errHas: "use_bidirectional_attention"},
		{name: "partial rotary out of range", json: `{"model_type":"phi3","hidden_size":64,"intermediate_size":96,"num_hidden_layers":1,"num_attention_heads":4,"vocab_size":10,"partial_rotary_factor":1.5}`, errHas: "partial_rotary_factor"},
		{name: "partial rotary odd", json: `{"model_type":"phi3","hidden_size":64,"intermediate_size":96,"num_hidden_layers":1,"num_attention_heads":4,"vocab_size":10,"partial_rotary_factor":0.2}`, errHas: "rotary dimensions"},
		{name: "unknown layer type", json: `{"model_type":"qwen3","hidden_size":64,"intermediate_size":96,"num_hidden_layers":1,"num_attention_heads":4,"vocab_size":10,"layer_types":["chunked_attention"]}`, errHas: "chunked_attention"},
		{name: "layer_types length", json: `{"model_type":"qwen3","hidden_size":64,"intermediate_size":96,"num_hidden_layers":2,"num_attention_heads":4,"vocab_size":10,"layer_types":["full_attention"]}`, errHas: "layer_types"},
		{name: "unknown rope key", json: `{"model_type":"llama","hidden_size":64,"intermediate_size":96,"num_hidden_layers":1,"num_attention_heads":4,"vocab_size":10,"rope_parameters":{"rope_type":"default","rope_theta":10000.0,"mrope_section":[2,2]}}`, errHas: "rope_parameters.mrope_section"},
		{name: "gemma exact gelu", json: `{"model_type":"gemma2","hidden_size":64,"intermediate_size":96,"num_hidden_layers":1,"num_attention_heads":4,"vocab_size":10,"hidden_activation":"gelu"}`, errHas: "hidden_act"},
		{name: "no_rope_layers on llama", json: `{"model_type":"llama","hidden_size":64,"intermediate_size":96,"num_hidden_layers":1,"num_attention_heads":4,"vocab_size":10,"no_rope_layers":[0]}`, errHas: "no_rope_layers"},
		{name: "longrope factors length", json: `{"model_type":"phi3","hidden_size":64,"intermediate_size":96,"num_hidden_layers":1,"num_attention_heads":4,"vocab_size":10,"rope_scaling":{"type":"longrope","short_factor":[1],"long_factor":[1]}}`, errHas: "head_dim/2"},
		{name: "negative local rope_theta", json: `{"model_type":"gemma3_text","hidden_size":64,"intermediate_size":96,"num_hidden_layers":1,"num_attention_heads":4,"vocab_size":10,"rope_theta":10000,"rope_local_base_freq":-1}`, errHas: "rope_theta"},
		{name: "negative rope_theta", json: `{"model_type":"qwen2","hidden_size":8,"intermediate_size":8,"num_hidden_layers":1,"num_attention_heads":2,"vocab_size":10,"rope_theta":-10000}`, errHas: "rope_theta"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := ParseConfig([]byte(tc.json), "config.json")
			if tc.errHas != "" {
				if err == nil || !strings.Contains(err.Error(), tc.errHas) {
					t.Fatalf("error %v, want one containing %q", err, tc.errHas)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if msg := tc.check(c); msg != "" {
				t.Errorf("%s: %+v", msg, c)
			}
			// JSON() round-trips to the same normalised config.
			out, err := c.JSON()
			if err != nil {
				t.Fatal(err)
			}
			c2, err := ParseConfig(out, "saved")
			if err != nil {
				t.Fatal(err)
			}
			if c2.HiddenSize != c.HiddenSize || c2.IntermediateSize != c.IntermediateSize || c2.Tied() != c.Tied() ||
				c2.RopeTheta != c.RopeTheta || c2.NumKeyValueHeads != c.NumKeyValueHeads || c2.NormEps() != c.NormEps() {
				var a map[string]any
				json.Unmarshal(out, &a)
				t.Errorf("round trip changed the config: %v", a)
			}
		})
	}
	if _, err := ParseConfig([]byte(`{"model_type":"t5"}`), "x"); !errors.Is(err, ErrUnsupportedModel) {
		t.Errorf("unsupported family error %v does not wrap ErrUnsupportedModel", err)
	}
}
