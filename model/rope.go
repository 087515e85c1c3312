package model

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"sort"

	"github.com/golora/golora/nn"
)

// ropeSpec is one rotary embedding of a config: transformers 5's
// rope_parameters (or one entry of it per attention type, Gemma 3), or
// transformers 4's rope_theta with rope_scaling. The inverse frequencies of
// every type reduce to nn.NewRoPEFreqs (a frequency per dimension pair and a
// factor on cos and sin); InvFreq computes them as
// transformers' modeling_rope_utils does.
type ropeSpec struct {
	Type  string  `json:"rope_type,omitempty"` // default, linear, dynamic, yarn, llama3, longrope
	Theta float64 `json:"rope_theta,omitempty"`

	Factor          float64   `json:"factor,omitempty"`                           // linear, dynamic, yarn, llama3
	LowFreqFactor   float64   `json:"low_freq_factor,omitempty"`                  // llama3
	HighFreqFactor  float64   `json:"high_freq_factor,omitempty"`                 // llama3
	OriginalMaxPos  int       `json:"original_max_position_embeddings,omitempty"` // llama3, yarn, longrope, dynamic
	AttentionFactor *float64  `json:"attention_factor,omitempty"`                 // yarn, longrope
	BetaFast        float64   `json:"beta_fast,omitempty"`                        // yarn
	BetaSlow        float64   `json:"beta_slow,omitempty"`                        // yarn
	Mscale          float64   `json:"mscale,omitempty"`                           // yarn
	MscaleAllDim    float64   `json:"mscale_all_dim,omitempty"`                   // yarn
	Truncate        *bool     `json:"truncate,omitempty"`                         // yarn
	ShortFactor     []float64 `json:"short_factor,omitempty"`                     // longrope
	LongFactor      []float64 `json:"long_factor,omitempty"`                      // longrope
	PartialRotary   *float64  `json:"partial_rotary_factor,omitempty"`
}

// ropeKeys are the rope_parameters / rope_scaling keys ropeSpec reads;
// any other key is refused rather than ignored ("type" is transformers
// 4's name of rope_type).
var ropeKeys = map[string]bool{"rope_type": true, "type": true, "rope_theta": true, "factor": true,
	"low_freq_factor": true, "high_freq_factor": true, "original_max_position_embeddings": true,
	"attention_factor": true, "beta_fast": true, "beta_slow": true, "mscale": true, "mscale_all_dim": true,
	"truncate": true, "short_factor": true, "long_factor": true, "partial_rotary_factor": true}

// parseRope decodes one rope_parameters / rope_scaling object; key names
// it in errors.
func parseRope(b json.RawMessage, key string) (ropeSpec, error) {
	var r ropeSpec
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(b, &raw); err != nil {
		return r, fmt.Errorf("%s: %w", key, err)
	}
	var unknown []string
	for k := range raw {
		if !ropeKeys[k] {
			unknown = append(unknown, k)
		}
	}
	if len(unknown) > 0 {
		sort.Strings(unknown)
		return r, fmt.Errorf("%w: %s.%s is not implemented", ErrUnsupportedModel, key, unknown[0])
	}
	if err := json.Unmarshal(b, &r); err != nil {
		return r, fmt.Errorf("%s: %w", key, err)
	}
	if r.Type == "" {
		var legacy struct {
			Type string `json:"type"`
		}
		_ = json.Unmarshal(b, &legacy)
		r.Type = legacy.Type
	}
	switch r.Type {
	case "":
		r.Type = "default"
	case "su":
		r.Type = "longrope" // early Phi-3 configs; transformers renames it too
	}
	return r, nil
}

func isNull(b json.RawMessage) bool {
	b = bytes.TrimSpace(b)
	return len(b) == 0 || bytes.Equal(b, []byte("null"))
}

// check validates the fields the type needs; key names it in errors.
func (r *ropeSpec) check(key string) error {
	need := func(name string, v float64) error {
		if !(v > 0) || math.IsInf(v, 0) {
			return fmt.Errorf("config: %s.%s must be a positive number for rope_type %q, got %v", key, name, r.Type, v)
		}
		return nil
	}
	if !(r.Theta > 0) || math.IsInf(r.Theta, 0) {
		return fmt.Errorf("config: %s.rope_theta must be a positive number, got %v", key, r.Theta)
	}
	if p := r.PartialRotary; p != nil && (!(*p > 0) || *p > 1) {
		return fmt.Errorf("config: %s.partial_rotary_factor must be in (0, 1], got %v", key, *p)
	}
	switch r.Type {
	case "default":
	case "linear", "dynamic":
		return need("factor", r.Factor)
	case "yarn":
		if r.Factor == 0 && r.OriginalMaxPos > 0 {
			return nil // factor = max_position_embeddings / original_max_position_embeddings
		}
		return need("factor", r.Factor)
	case "llama3":
		for _, f := range []struct {
			n string
			v float64
		}{{"factor", r.Factor}, {"low_freq_factor", r.LowFreqFactor}, {"high_freq_factor", r.HighFreqFactor}, {"original_max_position_embeddings", float64(r.OriginalMaxPos)}} {
			if err := need(f.n, f.v); err != nil {
				return err
			}
		}
		if r.LowFreqFactor == r.HighFreqFactor {
			return fmt.Errorf("config: %s: low_freq_factor and high_freq_factor must differ", key)
		}
	case "longrope":
		if len(r.ShortFactor) == 0 || len(r.LongFactor) == 0 {
			return fmt.Errorf("config: %s: rope_type longrope needs short_factor and long_factor", key)
		}
	default:
		return fmt.Errorf("%w: %s.rope_type %q (expected default, linear, dynamic, yarn, llama3 or longrope)", ErrUnsupportedModel, key, r.Type)
	}
	return nil
}

// RotaryDim is the number of dimensions of a head of size headDim that
// rotate (partial_rotary_factor, Phi-4-mini's 0.75); the rest pass through.
func (r *ropeSpec) RotaryDim(headDim int) int {
	if r.PartialRotary == nil {
		return headDim
	}
	return int(float64(headDim) * *r.PartialRotary)
}

// origMax is the pre-training context length the scaled types refer to.
func (r *ropeSpec) origMax(c *Config) int {
	if r.OriginalMaxPos > 0 {
		return r.OriginalMaxPos
	}
	if c.OriginalMaxPositionEmbeddings > 0 {
		return c.OriginalMaxPositionEmbeddings // Phi-3 keeps it at the top level
	}
	return c.MaxPositionEmbeddings
}

// InvFreq returns the angle per position of each of the dim/2 pairs and the
// factor on cos and sin, for a call whose largest position is seqLen-1
// (only dynamic and longrope depend on it).
func (r *ropeSpec) InvFreq(c *Config, dim, seqLen int) ([]float64, float64) {
	half := dim / 2
	base := r.Theta
	pow := func(b float64) []float64 {
		inv := make([]float64, half)
		for j := range inv {
			inv[j] = math.Pow(b, -2*float64(j)/float64(dim))
		}
		return inv
	}
	switch r.Type {
	case "linear":
		inv := pow(base)
		for j := range inv {
			inv[j] /= r.Factor
		}
		return inv, 1
	case "dynamic":
		// Dynamic NTK: the base grows with the sequence once it passes the
		// trained length.
		maxPos := c.MaxPositionEmbeddings
		L := max(seqLen, maxPos)
		b := base * math.Pow(r.Factor*float64(L)/float64(maxPos)-(r.Factor-1), float64(dim)/float64(dim-2))
		return pow(b), 1
	case "llama3":
		inv := pow(base)
		old := float64(r.OriginalMaxPos)
		lowWave, highWave := old/r.LowFreqFactor, old/r.HighFreqFactor
		for j, f := range inv {
			wave := 2 * math.Pi / f
			switch {
			case wave < highWave: // high frequencies kept
			case wave > lowWave: // low frequencies interpolated
				inv[j] = f / r.Factor
			default: // smooth blend in between
				s := (old/wave - r.LowFreqFactor) / (r.HighFreqFactor - r.LowFreqFactor)
				inv[j] = (1-s)*f/r.Factor + s*f
			}
		}
		return inv, 1
	case "yarn":
		return r.yarn(c, dim)
	case "longrope":
		// Phi-3 raises max_position_embeddings, keeps the trained length in
		// original_max_position_embeddings and has no factor: their ratio is.
		orig := r.origMax(c)
		factor := r.Factor
		if factor == 0 {
			factor = float64(c.MaxPositionEmbeddings) / float64(orig)
		}
		att := 1.0
		if r.AttentionFactor != nil {
			att = *r.AttentionFactor
		} else if factor > 1 {
			att = math.Sqrt(1 + math.Log(factor)/math.Log(float64(orig)))
		}
		ext := r.ShortFactor
		if seqLen > orig {
			ext = r.LongFactor
		}
		inv := pow(base)
		for j := range inv {
			inv[j] /= ext[j]
		}
		return inv, att
	}
	return pow(base), 1
}

func (r *ropeSpec) yarn(c *Config, dim int) ([]float64, float64) {
	base, factor := r.Theta, r.Factor
	orig := r.origMax(c)
	if factor == 0 {
		// DeepSeek-V3 style: no factor, the ratio of the context lengths
		factor = float64(c.MaxPositionEmbeddings) / float64(orig)
	}
	mscale := func(scale, m float64) float64 {
		if scale <= 1 {
			return 1
		}
		return 0.1*m*math.Log(scale) + 1
	}
	var att float64
	switch {
	case r.AttentionFactor != nil:
		att = *r.AttentionFactor
	case r.Mscale != 0 && r.MscaleAllDim != 0:
		att = mscale(factor, r.Mscale) / mscale(factor, r.MscaleAllDim)
	default:
		att = mscale(factor, 1)
	}
	betaFast, betaSlow := r.BetaFast, r.BetaSlow
	if betaFast == 0 {
		betaFast = 32
	}
	if betaSlow == 0 {
		betaSlow = 1
	}
	corrDim := func(rot float64) float64 {
		return float64(dim) * math.Log(float64(orig)/(rot*2*math.Pi)) / (2 * math.Log(base))
	}
	lo, hi := corrDim(betaFast), corrDim(betaSlow)
	if r.Truncate == nil || *r.Truncate {
		lo, hi = math.Floor(lo), math.Ceil(hi)
	}
	lo, hi = math.Max(lo, 0), math.Min(hi, float64(dim-1))
	if lo == hi {
		hi += 0.001
	}
	inv := make([]float64, dim/2)
	for j := range inv {
		extrap := math.Pow(base, -2*float64(j)/float64(dim))
		interp := extrap / factor
		ramp := math.Min(math.Max((float64(j)-lo)/(hi-lo), 0), 1)
		ef := 1 - ramp // share of the extrapolated (unscaled) frequency
		inv[j] = interp*(1-ef) + extrap*ef
	}
	return inv, att
}

// ropeState is the rotary embedding of the layers sharing one ropeSpec.
// Dynamic NTK and LongRoPE change with the call's length the way
// transformers' dynamic_rope_update does: dynamic grows its base when a
// call reaches past the longest length seen and returns to the original
// once a call is back within the trained length; LongRoPE uses the long
// factors for calls past original_max_position_embeddings. Keys already in
// a KV cache keep the rotation they were cached with, as in transformers.
type ropeState struct {
	spec   *ropeSpec
	cfg    *Config
	dim    int // rotated dimensions per head
	head   int // head size
	rope   *nn.RoPE
	cached int // dynamic: the length rope was built for
	long   bool
}

func newRopeState(spec *ropeSpec, cfg *Config, headDim int) *ropeState {
	s := &ropeState{spec: spec, cfg: cfg, dim: spec.RotaryDim(headDim), head: headDim}
	s.cached = cfg.MaxPositionEmbeddings
	if spec.Type == "longrope" {
		s.build(1) // short factors until a call passes the trained length
	} else {
		s.build(s.cached)
	}
	return s
}

func (s *ropeState) build(seqLen int) {
	inv, att := s.spec.InvFreq(s.cfg, s.dim, seqLen)
	// Sized by use (ropeInitialPositions), not by max_position_embeddings:
	// the tables grow on demand.
	s.rope = nn.NewRoPEFreqs(inv, att, min(seqLen, s.cfg.MaxPositionEmbeddings, ropeInitialPositions), false)
	if s.dim < s.head {
		s.rope.HeadSize = s.head
	}
}

// at returns the embedding for a call whose positions end at seqLen.
func (s *ropeState) at(seqLen int) *nn.RoPE {
	switch s.spec.Type {
	case "dynamic":
		orig := s.cfg.MaxPositionEmbeddings
		switch {
		case seqLen > s.cached:
			s.cached = seqLen
			s.build(seqLen)
		case seqLen < orig && s.cached > orig:
			s.cached = orig
			s.build(orig)
		}
	case "longrope":
		if long := seqLen > s.spec.origMax(s.cfg); long != s.long {
			s.long = long
			s.build(seqLen)
		}
	}
	return s.rope
}
