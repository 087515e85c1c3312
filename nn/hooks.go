package nn

// SublayerHook is a trainable module applied to a sublayer's output before
// the residual add, e.g. a bottleneck adapter (Houlsby et al. 2019):
// y ← y + up(f(down(y))). Model blocks call it after attention and after the
// MLP when set, so adapter methods need no model-specific code.
type SublayerHook interface {
	// Forward rewrites y [n, C] in place, caching what Backward needs.
	Forward(y []float32, n int)
	// Backward turns dy (gradient of the hook's output) into the gradient of
	// its input, in place, and accumulates the hook's parameter gradients.
	Backward(dy []float32, n int)
}
