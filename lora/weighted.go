package lora

import (
	"fmt"
	"math"
	"regexp"
	"strings"

	"gonum.org/v1/gonum/mat"
)

// AddWeighted creates adapter newName from a weighted combination of
// existing adapters, as PEFT's add_weighted_adapter does; the new adapter
// has lora_alpha = r (scaling 1) and is not made active.
//
//   - "linear": A = Σ √(wᵢsᵢ)·Aᵢ, B = Σ √(wᵢsᵢ)·Bᵢ; all ranks equal. Not the
//     weighted sum of the deltas (cross terms), exactly as in PEFT.
//   - "cat": A = [w₁s₁A₁; w₂s₂A₂; …], B = [B₁ B₂ …]; rank Σ rᵢ. Exactly
//     Σ wᵢsᵢBᵢAᵢ.
//   - "svd": the top-r SVD of Σ wᵢsᵢBᵢAᵢ with r = max rᵢ: B = U·S, A = Vᵀ.
func (m *Model) AddWeighted(newName string, adapters []string, weights []float64, combination string) error {
	if _, dup := m.configs[newName]; dup {
		return fmt.Errorf("lora: adapter %q already exists", newName)
	}
	if len(adapters) == 0 || len(adapters) != len(weights) {
		return fmt.Errorf("lora: AddWeighted needs one weight per adapter, got %d adapters and %d weights", len(adapters), len(weights))
	}
	var cfgs []*Config
	for _, n := range adapters {
		c := m.configs[n]
		if c == nil {
			return fmt.Errorf("lora: no adapter %q", n)
		}
		if c.UseDoRA {
			return fmt.Errorf("lora: adapter %q uses DoRA, which weighted combination does not support", n)
		}
		if what := m.extras(n); what != "" {
			return fmt.Errorf("lora: adapter %q has %s, which weighted combination does not support", n, what)
		}
		cfgs = append(cfgs, c)
	}
	if len(adapters) == 1 {
		combination = "linear"
	}
	newRank := 0
	switch combination {
	case "linear":
		for _, c := range cfgs {
			if c.R != cfgs[0].R {
				return fmt.Errorf("lora: linear combination needs equal ranks, got %d and %d", cfgs[0].R, c.R)
			}
		}
		newRank = cfgs[0].R
	case "cat":
		for _, c := range cfgs {
			newRank += c.R
		}
	case "svd":
		for _, c := range cfgs {
			newRank = max(newRank, c.R)
		}
	default:
		return fmt.Errorf("lora: unknown combination %q (want linear, cat or svd)", combination)
	}

	cfg := cfgs[0].Clone()
	cfg.R, cfg.LoraAlpha = newRank, float64(newRank)
	cfg.RankPattern, cfg.AlphaPattern, cfg.UseRSLoRA = nil, nil, false
	cfg.TargetModules = Modules{}
	for _, c := range cfgs {
		if c.TargetModules.IsRegex != cfgs[0].TargetModules.IsRegex {
			return fmt.Errorf("lora: cannot combine a target_modules list with a regex")
		}
	}
	if cfgs[0].TargetModules.IsRegex {
		var parts []string
		for _, c := range cfgs {
			parts = append(parts, "("+c.TargetModules.Regex+")")
		}
		cfg.TargetModules = Regex(strings.Join(parts, "|"))
	} else {
		for _, c := range cfgs {
			cfg.TargetModules.Names = append(cfg.TargetModules.Names, c.TargetModules.Names...)
		}
		cfg.TargetModules.Names, _ = modulesValue(cfg.TargetModules).([]string)
	}

	made := map[*Set]*Adapter{}
	for _, s := range m.sets {
		var src []*Adapter
		var ws []float64
		for i, n := range adapters {
			if a := s.adapters[n]; a != nil {
				src = append(src, a)
				ws = append(ws, weights[i]*float64(a.Scaling))
			}
		}
		if len(src) == 0 {
			continue
		}
		a, err := combine(newName, s, src, ws, combination, newRank)
		if err != nil {
			return err
		}
		made[s] = a
		if a.R() != newRank {
			key := regexp.QuoteMeta(s.Module)
			cfg.RankPattern = append(cfg.RankPattern, PatternEntry{key, float64(a.R())})
			cfg.AlphaPattern = append(cfg.AlphaPattern, PatternEntry{key, float64(a.R())})
		}
	}
	for _, s := range m.sets {
		if a := made[s]; a != nil {
			a.EnableGrad()
			s.adapters[newName] = a
			s.order = append(s.order, newName)
			s.Linear.Delta = s
		}
	}
	m.configs[newName] = cfg
	m.names = append(m.names, newName)
	return nil
}

// combine builds one layer's combined adapter; ws are wᵢ·sᵢ.
func combine(name string, s *Set, src []*Adapter, ws []float64, how string, rank int) (*Adapter, error) {
	in, out := s.Linear.In(), s.Linear.Out()
	switch how {
	case "linear":
		r := src[0].R()
		a := NewAdapter(name, s.Module, s.Linear, r, float64(r), false, 0)
		for i, x := range src {
			if x.R() != r {
				return nil, fmt.Errorf("lora: %s: linear combination needs equal ranks, got %d and %d", s.Module, r, x.R())
			}
			if ws[i] < 0 {
				return nil, fmt.Errorf("lora: %s: linear combination takes √(weight·scaling), which is negative for %q", s.Module, x.Name)
			}
			c := float32(math.Sqrt(ws[i]))
			for j, v := range x.A.Data {
				a.A.Data[j] += c * v
			}
			for j, v := range x.B.Data {
				a.B.Data[j] += c * v
			}
		}
		return a, nil
	case "cat":
		r := 0
		for _, x := range src {
			r += x.R()
		}
		a := NewAdapter(name, s.Module, s.Linear, r, float64(r), false, 0)
		off := 0
		for i, x := range src {
			xr := x.R()
			for k := 0; k < xr; k++ {
				for j := 0; j < in; j++ {
					a.A.Data[(off+k)*in+j] = float32(ws[i] * float64(x.A.Data[k*in+j]))
				}
				for o := 0; o < out; o++ {
					a.B.Data[o*r+off+k] = x.B.Data[o*xr+k]
				}
			}
			off += xr
		}
		return a, nil
	}
	// svd
	delta := mat.NewDense(out, in, nil)
	for i, x := range src {
		ba := mat.NewDense(out, in, nil)
		ba.Mul(mat.NewDense(out, x.R(), to64(x.B.Data)), mat.NewDense(x.R(), in, to64(x.A.Data)))
		ba.Scale(ws[i], ba)
		delta.Add(delta, ba)
	}
	r := min(rank, in, out)
	var svd mat.SVD
	if !svd.Factorize(delta, mat.SVDThin) {
		return nil, fmt.Errorf("lora: %s: SVD did not converge", s.Module)
	}
	var u, v mat.Dense
	svd.UTo(&u)
	svd.VTo(&v)
	sv := svd.Values(nil)
	a := NewAdapter(name, s.Module, s.Linear, r, float64(r), false, 0)
	for k := 0; k < r; k++ {
		for o := 0; o < out; o++ {
			a.B.Data[o*r+k] = float32(u.At(o, k) * sv[k])
		}
		for j := 0; j < in; j++ {
			a.A.Data[k*in+j] = float32(v.At(j, k))
		}
	}
	return a, nil
}
