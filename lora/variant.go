package lora

import "github.com/golora/golora/tensor"

// Variant is a LoRA variant in PEFT's sense (LoraVariant): it replaces the
// plain forward, backward and merge of an Adapter and owns its extra state
// as named fields. Plain LoRA is no variant: it stays inline in linear.go.
type Variant interface {
	// Init runs after A and B are initialised, with w0 the (out, in) base
	// weight the adapter starts from.
	Init(a *Adapter, w0 []float32)
	// Forward changes y [n, out] (holding W0·x) in place.
	Forward(a *Adapter, x, y []float32, n int)
	// Backward accumulates the variant's gradients and returns the gradient
	// of the incoming y.
	Backward(a *Adapter, x, dy, dx []float32, n int) []float32
	// Merge writes the merged weight for w into dst (dst may alias w) and
	// keeps what Unmerge needs.
	Merge(a *Adapter, dst, w []float32)
	// Unmerge restores w in place.
	Unmerge(a *Adapter, w []float32)

	// Params names the variant's tensors by their PEFT key suffix, with
	// gradients (nil when frozen).
	Params() []VariantParam
	// EnableGrad allocates the variant's gradients.
	EnableGrad()
	// NumParams counts the variant's trainable values.
	NumParams() int
}

// VariantParam is one tensor a variant adds to an adapter.
type VariantParam struct {
	Suffix string // PEFT key suffix after the module name, e.g. "lora_magnitude_vector"
	Group  Group
	W, DW  *tensor.Tensor
}

// variants is the table of LoRA variants: the first whose config flag is set
// wraps each adapter.
var variants = []struct {
	name string
	use  func(*Config) bool
	new  func(out int) Variant
}{
	{"dora", func(c *Config) bool { return c.UseDoRA }, func(out int) Variant { return NewDoRA(out) }},
}

func variantFor(c *Config, out int) Variant {
	for _, v := range variants {
		if v.use(c) {
			return v.new(out)
		}
	}
	return nil
}
