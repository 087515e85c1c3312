package generate

import (
	"math"
	"strings"
	"testing"
)

func TestArgmaxFirstOnTies(t *testing.T) {
	if got := Argmax([]float32{1, 3, 3, 2}); got != 1 {
		t.Fatalf("Argmax = %d, want 1", got)
	}
}

func TestGreedyIgnoresSeed(t *testing.T) {
	logits := []float32{0.1, 2, -1, 1.9}
	for seed := uint64(0); seed < 5; seed++ {
		s := NewSampler(0, 0, 0, 0, seed)
		if got := s.Sample(append([]float32(nil), logits...), nil); got != 1 {
			t.Fatalf("seed %d: got %d", seed, got)
		}
	}
}

func TestRepetitionPenaltyHFRule(t *testing.T) {
	logits := []float32{2, -2, 1.5}
	s := NewSampler(0, 0, 0, 2, 1)
	// Token 0 was seen: 2/2 = 1 < 1.5, so greedy moves to token 2.
	if got := s.Sample(logits, []int{0, 1, 0}); got != 2 {
		t.Fatalf("got %d, want 2", got)
	}
	if logits[0] != 1 || logits[1] != -4 || logits[2] != 1.5 {
		t.Fatalf("penalised logits %v, want [1 -4 1.5]", logits)
	}
}

func TestSamplingMatchesDistribution(t *testing.T) {
	logits := []float32{0, float32(math.Log(2)), float32(math.Log(3)), -30}
	tests := []struct {
		name string
		s    *Sampler
		want []float64
	}{
		{"temperature 1", NewSampler(1, 0, 0, 0, 7), []float64{1.0 / 6, 2.0 / 6, 3.0 / 6, 0}},
		{"top-k 2", NewSampler(1, 2, 0, 0, 7), []float64{0, 2.0 / 5, 3.0 / 5, 0}},
		// Sorted probs 0.5, 0.333, 0.167: top-p 0.6 keeps the first two.
		{"top-p 0.6", NewSampler(1, 0, 0.6, 0, 7), []float64{0, 2.0 / 5, 3.0 / 5, 0}},
		{"temperature 0.5", NewSampler(0.5, 0, 0, 0, 7), []float64{1.0 / 14, 4.0 / 14, 9.0 / 14, 0}},
	}
	const n = 60000
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			counts := make([]float64, len(logits))
			for i := 0; i < n; i++ {
				counts[tc.s.Sample(append([]float32(nil), logits...), nil)]++
			}
			for i, c := range counts {
				got := c / n
				if math.Abs(got-tc.want[i]) > 0.01 {
					t.Errorf("token %d: frequency %.4f, want %.4f", i, got, tc.want[i])
				}
			}
		})
	}
}

func TestSeedReproducible(t *testing.T) {
	logits := []float32{0.3, 0.1, 0.5, 0.2, 0.9}
	a, b := NewSampler(0.8, 3, 0.9, 1.1, 42), NewSampler(0.8, 3, 0.9, 1.1, 42)
	for i := 0; i < 100; i++ {
		x, y := a.Sample(append([]float32(nil), logits...), nil), b.Sample(append([]float32(nil), logits...), nil)
		if x != y {
			t.Fatalf("step %d: %d != %d", i, x, y)
		}
	}
}

func BenchmarkSampleTopP(b *testing.B) {
	logits := make([]float32, 50257)
	for i := range logits {
		logits[i] = float32(math.Sin(float64(i)))
	}
	s := NewSampler(0.8, 0, 0.9, 0, 1)
	buf := make([]float32, len(logits))
	for b.Loop() {
		copy(buf, logits)
		s.Sample(buf, nil)
	}
}

func TestSamplerValidate(t *testing.T) {
	nan := math.NaN()
	for _, tc := range []struct {
		name          string
		temp, p, rep  float64
		k             int
		wantErr, says string
	}{
		{"defaults", 1, 1, 1, 0, "", ""},
		{"zero values", 0, 0, 0, 0, "", ""},
		{"greedy with filters", 0, 0.9, 1.3, 40, "", ""},
		{"negative temperature", -1, 1, 1, 0, "temperature", "-1"},
		{"NaN temperature", nan, 1, 1, 0, "temperature", "NaN"},
		{"infinite temperature", math.Inf(1), 1, 1, 0, "temperature", "+Inf"},
		{"negative top-k", 1, 1, 1, -1, "top-k", "-1"},
		{"top-p above 1", 1, 2, 1, 0, "top-p", "2"},
		{"negative top-p", 1, -0.5, 1, 0, "top-p", "-0.5"},
		{"NaN top-p", 1, nan, 1, 0, "top-p", "NaN"},
		{"negative penalty", 1, 1, -1, 0, "repetition penalty", "-1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := NewSampler(tc.temp, tc.k, tc.p, tc.rep, 1).Validate()
			if tc.wantErr == "" {
				if err != nil {
					t.Fatalf("unexpected error %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) || !strings.Contains(err.Error(), tc.says) {
				t.Fatalf("error %v, want one about %s %s", err, tc.wantErr, tc.says)
			}
		})
	}
}
