// Package generate turns a model's logits into text: sampling (temperature,
// top-k, top-p, repetition penalty, seeded), stop rules and the decode loop.
package generate

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"sort"
)

// Sampler picks the next token from a logits row. Its zero value is greedy.
type Sampler struct {
	Temperature       float64 // 0: greedy (argmax)
	TopK              int     // 0: off
	TopP              float64 // 0 or 1: off
	RepetitionPenalty float64 // 0 or 1: off; HF's rule (divide positive logits, multiply negative)
	rng               *rand.Rand

	idx   []int
	probs []float64
}

// NewSampler returns a sampler whose random stream is fixed by seed.
func NewSampler(temperature float64, topK int, topP, repetitionPenalty float64, seed uint64) *Sampler {
	return &Sampler{
		Temperature:       temperature,
		TopK:              topK,
		TopP:              topP,
		RepetitionPenalty: repetitionPenalty,
		rng:               rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)),
	}
}

// Validate rejects settings that Hugging Face's logits warpers refuse
// (negative temperature, top_p outside [0, 1], negative top_k, negative
// repetition penalty) instead of silently sampling with something else.
// The zero values keep their meaning: greedy, off, off, off.
func (s *Sampler) Validate() error {
	switch {
	case !(s.Temperature >= 0) || math.IsInf(s.Temperature, 0):
		return fmt.Errorf("generate: temperature %g must be a finite number >= 0 (0: greedy)", s.Temperature)
	case s.TopK < 0:
		return fmt.Errorf("generate: top-k %d must be >= 0 (0: off)", s.TopK)
	case !(s.TopP >= 0 && s.TopP <= 1):
		return fmt.Errorf("generate: top-p %g must be in [0, 1] (1: off)", s.TopP)
	case !(s.RepetitionPenalty >= 0) || math.IsInf(s.RepetitionPenalty, 0):
		return fmt.Errorf("generate: repetition penalty %g must be a finite number >= 0 (0 or 1: off)", s.RepetitionPenalty)
	}
	return nil
}

// ErrNonFiniteLogits is wrapped by CheckLogits' error.
var ErrNonFiniteLogits = errors.New("non-finite logits")

// CheckLogits refuses a logits row that holds NaN or +Inf, or nothing but
// -Inf (a fully masked row): sampling from it would emit an arbitrary token
// (argmax of NaNs is token 0) instead of saying the model is broken.
func CheckLogits(logits []float32) error {
	finite := false
	for i, v := range logits {
		if v != v || v > math.MaxFloat32 {
			return fmt.Errorf("logit of token %d is %v (NaN/Inf weights or activations?): %w", i, v, ErrNonFiniteLogits)
		}
		finite = finite || v >= -math.MaxFloat32
	}
	if !finite {
		return fmt.Errorf("every logit is -Inf: %w", ErrNonFiniteLogits)
	}
	return nil
}

// Sample returns the next token id. history holds the ids seen so far (prompt
// and generated) for the repetition penalty; logits is modified in place.
func (s *Sampler) Sample(logits []float32, history []int) int {
	if p := s.RepetitionPenalty; p > 0 && p != 1 {
		seen := make(map[int]bool, len(history))
		for _, id := range history {
			if id < 0 || id >= len(logits) || seen[id] {
				continue
			}
			seen[id] = true
			if logits[id] > 0 {
				logits[id] = float32(float64(logits[id]) / p)
			} else {
				logits[id] = float32(float64(logits[id]) * p)
			}
		}
	}
	if s.Temperature <= 0 {
		return Argmax(logits)
	}
	if s.rng == nil {
		s.rng = rand.New(rand.NewPCG(0, 0x9e3779b97f4a7c15))
	}
	// Candidates sorted by logit, descending; ties keep the lower id first so
	// the result does not depend on the sort's internals.
	s.idx = s.idx[:0]
	for i := range logits {
		s.idx = append(s.idx, i)
	}
	idx := s.idx
	sort.SliceStable(idx, func(a, b int) bool { return logits[idx[a]] > logits[idx[b]] })
	if s.TopK > 0 && s.TopK < len(idx) {
		idx = idx[:s.TopK]
	}
	// Softmax over the candidates at the given temperature, in float64.
	m := float64(logits[idx[0]])
	s.probs = s.probs[:0]
	var sum float64
	for _, i := range idx {
		p := math.Exp((float64(logits[i]) - m) / s.Temperature)
		s.probs = append(s.probs, p)
		sum += p
	}
	probs := s.probs
	for i := range probs {
		probs[i] /= sum
	}
	if s.TopP > 0 && s.TopP < 1 {
		// Keep the smallest prefix whose mass reaches top_p (at least one).
		var c float64
		n := len(probs)
		for i, p := range probs {
			c += p
			if c >= s.TopP {
				n = i + 1
				break
			}
		}
		idx, probs = idx[:n], probs[:n]
		sum = 0
		for _, p := range probs {
			sum += p
		}
		for i := range probs {
			probs[i] /= sum
		}
	}
	r := s.rng.Float64()
	var c float64
	for i, p := range probs {
		c += p
		if r < c {
			return idx[i]
		}
	}
	return idx[len(idx)-1]
}

// Argmax returns the index of the largest value (the first one on ties, as
// llama2.c and PyTorch do).
func Argmax(x []float32) int {
	best := 0
	for i, v := range x {
		if v > x[best] {
			best = i
		}
	}
	return best
}
