package core

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
