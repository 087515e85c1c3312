package model

import (
	"errors"
	"testing"

	"github.com/golora/golora/tensor"
)

func TestGPT2FileNames(t *testing.T) {
	for _, tc := range []struct {
		name  string
		names []string
		in    string
		want  string
	}{
		{"prefixed file", []string{"transformer.wte.weight", "transformer.h.0.attn.bias"}, "transformer.h.0.attn.c_attn.weight", "transformer.h.0.attn.c_attn.weight"},
		{"hub file", []string{"wte.weight", "h.0.attn.bias"}, "transformer.h.0.attn.c_attn.weight", "h.0.attn.c_attn.weight"},
		{"hub file head", []string{"wte.weight"}, "lm_head.weight", "lm_head.weight"},
	} {
		src := mapSource{}
		for _, n := range tc.names {
			src[n] = tensor.New(1)
		}
		got := tc.in
		if f := gpt2FileNames(src); f != nil {
			got = f(tc.in)
		}
		if got != tc.want {
			t.Errorf("%s: %s -> %s, want %s", tc.name, tc.in, got, tc.want)
		}
	}
}

func TestGPT2Arch(t *testing.T) {
	for _, tc := range []struct {
		act     string
		erf, ok bool
	}{
		{"gelu_new", false, true}, {"gelu_pytorch_tanh", false, true}, {"", false, true},
		{"gelu", true, true}, {"relu", false, false},
	} {
		a, err := gpt2Arch(&Config{ModelType: "gpt2", ActivationFunction: tc.act})
		if (err == nil) != tc.ok || (err == nil && a.GELUErf != tc.erf) {
			t.Errorf("%q: arch %+v, err %v", tc.act, a, err)
		}
		if err != nil && !errors.Is(err, ErrUnsupportedModel) {
			t.Errorf("%q: error %v does not wrap ErrUnsupportedModel", tc.act, err)
		}
	}
}
