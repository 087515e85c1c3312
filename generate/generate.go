package generate

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"

	"github.com/golora/golora/model"
)

// Options control one generation.
type Options struct {
	// MaxNew is the most tokens to generate after the prompt.
	MaxNew int
	// EOS ids end generation unless IgnoreEOS is set.
	EOS       []int
	IgnoreEOS bool
	Sampler   *Sampler
	// Logits, when set, gets the logits of every position fed to the
	// model, in order (vocabulary-size values each, reused after the
	// call): each prompt token's (the prompt's chunks then run through
	// StepAll rather than Step), then each generated token's but the last,
	// which is never fed. An error stops generation. WriteLogits makes one
	// that writes them to a file.
	Logits func(row []float32) error
}

// ErrContext is wrapped by Run's error when the prompt and the tokens asked
// for do not fit the model's positions (max_position_embeddings): the limit
// is refused up front rather than cut short without a word.
var ErrContext = errors.New("past the model's context")

// PrefillChunk is the most prompt tokens one Step takes. Run and the
// server (package serve) prefill in the same chunks, so with row-exact
// steps a greedy completion is the same from both; chunks also bound the
// activation memory of a long prompt and, in the server, how long a
// prefill holds up the requests that are decoding.
const PrefillChunk = 64

// Run feeds prompt (which must be non-empty) through m's KV cache and then
// samples up to opt.MaxNew tokens, calling emit for each new id as soon as
// it exists; emit returning false stops generation (stop strings). The
// prompt is prefilled in chunks of PrefillChunk tokens, each one batched
// forward. It returns the generated ids (an EOS that ended generation is included).
// Invalid sampler settings (see Sampler.Validate) are an error.
func Run(m model.Model, prompt []int, opt Options, emit func(id int) bool) ([]int, error) {
	if len(prompt) == 0 {
		return nil, errors.New("generate: empty prompt (start it with BOS)")
	}
	if opt.MaxNew < 1 {
		return nil, fmt.Errorf("generate: %d new tokens: must be at least 1 (--max-new-tokens)", opt.MaxNew)
	}
	capacity := len(prompt) + opt.MaxNew
	if maxPos := m.Config().MaxPositionEmbeddings; maxPos > 0 && capacity > maxPos {
		if len(prompt) >= maxPos {
			return nil, fmt.Errorf("generate: prompt of %d tokens does not fit the model's %d positions: %w", len(prompt), maxPos, ErrContext)
		}
		return nil, fmt.Errorf("generate: a %d-token prompt and %d new tokens exceed the model's %d positions; ask for at most %d new tokens: %w",
			len(prompt), opt.MaxNew, maxPos, maxPos-len(prompt), ErrContext)
	}
	s := opt.Sampler
	if s == nil {
		s = &Sampler{}
	}
	if err := s.Validate(); err != nil {
		return nil, err
	}
	cache := m.NewCache(1, capacity)
	history := append(make([]int, 0, capacity), prompt...)
	var out []int
	step := m.Step
	if opt.Logits != nil {
		step = stepLogits(m, opt.Logits)
	}
	for len(prompt) > PrefillChunk {
		if _, err := step(cache, [][]int{prompt[:PrefillChunk]}); err != nil {
			return nil, err
		}
		prompt = prompt[PrefillChunk:]
	}
	next := prompt
	for len(history) < capacity {
		logits, err := step(cache, [][]int{next})
		if err != nil {
			return out, err
		}
		if err := CheckLogits(logits); err != nil {
			return out, fmt.Errorf("generate: token %d: %w", len(out)+1, err)
		}
		id := s.Sample(logits, history)
		history = append(history, id)
		out = append(out, id)
		if emit != nil && !emit(id) {
			break
		}
		if !opt.IgnoreEOS && contains(opt.EOS, id) {
			break
		}
		next = []int{id}
	}
	return out, nil
}

// stepLogits is m.StepAll handing every new position's logits to f and
// returning the last one's, as Step does.
func stepLogits(m model.Model, f func(row []float32) error) func(*model.Cache, [][]int) ([]float32, error) {
	V := m.Config().VocabSize
	return func(c *model.Cache, rows [][]int) ([]float32, error) {
		logits, err := m.StepAll(c, rows)
		if err != nil {
			return nil, err
		}
		for r := 0; r+V <= len(logits); r += V {
			if err := f(logits[r : r+V]); err != nil {
				return nil, err
			}
		}
		return logits[len(logits)-V:], nil
	}
}

// WriteLogits returns an Options.Logits that writes each row to w as
// little-endian float32 (llama.cpp's llama_get_logits_ith layout, one
// position after another).
func WriteLogits(w io.Writer) func(row []float32) error {
	var buf []byte
	return func(row []float32) error {
		buf = buf[:0]
		for _, v := range row {
			buf = binary.LittleEndian.AppendUint32(buf, math.Float32bits(v))
		}
		_, err := w.Write(buf)
		return err
	}
}

func contains(xs []int, x int) bool {
	for _, v := range xs {
		if v == x {
			return true
		}
	}
	return false
}
