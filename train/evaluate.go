package train

import (
	"math"

	"github.com/golora/golora/data"
	"github.com/golora/golora/model"
)

// EvalResult is a model's mean next-token loss over a data set, as golora
// eval prints it (--json keys).
type EvalResult struct {
	Loss       float64 `json:"loss"`
	Perplexity float64 `json:"perplexity"`
	Tokens     int     `json:"tokens"`   // loss-carrying targets
	Examples   int     `json:"examples"` // examples with at least one
}

// Evaluate runs each example as its own row (no padding or packing enters
// the mean) and averages the loss over all loss-carrying tokens, so long
// examples weigh by their tokens as in transformers' eval loss over
// unpadded data.
func Evaluate(m model.Model, examples []data.Example) EvalResult {
	var sum float64
	var res EvalResult
	for _, ex := range examples {
		n := ex.LossTokens()
		if len(ex.Tokens) < 2 || n == 0 {
			continue
		}
		sum += m.Loss(ex.Tokens, ex.Targets(), 1, len(ex.Tokens)) * float64(n)
		res.Tokens += n
		res.Examples++
	}
	if res.Tokens > 0 {
		res.Loss = sum / float64(res.Tokens)
		res.Perplexity = math.Exp(res.Loss)
	}
	return res
}
