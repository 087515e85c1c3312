package lora

import (
	"fmt"
	"math"
	"math/rand/v2"
	"strings"

	"gonum.org/v1/gonum/mat"
)

// InitFunc fills a fresh adapter's A (r, in) and B (out, r). w0 is the base
// weight (out, in); PiSSA and OLoRA replace it in place by the residual
// W0 - s·B·A, so that the adapted layer still computes W0·x at step 0.
type InitFunc func(a *Adapter, w0 []float32, rng *rand.Rand) error

// inits maps PEFT's init_lora_weights values (and golora's "init_b") to
// their functions.
var inits = map[string]InitFunc{
	"true":     InitDefault,
	"gaussian": InitGaussian,
	"init_b":   InitB,
	"false":    InitRandom,
	"pissa":    InitPiSSA,
	"olora":    InitOLoRA,
}

// Inits lists the initialisation names Init accepts.
func Inits() []string { return []string{"true", "gaussian", "init_b", "false", "pissa", "olora"} }

// InitByName returns the InitFunc for a PEFT init_lora_weights value.
// "pissa_niter_K" (PEFT's randomised SVD) is served by the exact SVD.
func InitByName(name string) (InitFunc, error) {
	key := strings.ToLower(name)
	if key == "" || key == "default" || key == "init_a" {
		key = "true"
	}
	if strings.HasPrefix(key, "pissa_niter_") {
		key = "pissa"
	}
	f, ok := inits[key]
	if !ok {
		return nil, fmt.Errorf("lora: unknown init_lora_weights %q (want one of %v)", name, Inits())
	}
	return f, nil
}

// uniform fills x with U(-bound, bound).
func uniform(x []float32, bound float64, rng *rand.Rand) {
	for i := range x {
		x[i] = float32((2*rng.Float64() - 1) * bound)
	}
}

// InitDefault is PEFT's default, Init[A] in Hayou et al. 2024:
// A ~ kaiming_uniform(a=√5) = U(-1/√in, 1/√in) (variance 1/(3·in)), B = 0.
func InitDefault(a *Adapter, _ []float32, rng *rand.Rand) error {
	uniform(a.A.Data, 1/math.Sqrt(float64(a.In())), rng)
	clear(a.B.Data)
	return nil
}

// InitGaussian is PEFT's "gaussian": A ~ N(0, 1/r²), B = 0.
func InitGaussian(a *Adapter, _ []float32, rng *rand.Rand) error {
	sd := 1 / float64(a.R())
	for i := range a.A.Data {
		a.A.Data[i] = float32(rng.NormFloat64() * sd)
	}
	clear(a.B.Data)
	return nil
}

// InitB is Init[B] of Hayou et al. 2024 ("The Impact of Initialization on
// LoRA Finetuning Dynamics"): A = 0 and B random with the variance PyTorch
// gives a layer of fan-in r, B ~ U(-1/√r, 1/√r), i.e. Var(B) = 1/(3r)
// (the paper's σ_B² = Θ(1/r)). The first step then moves only A (dB is
// zero while A is). The paper finds that Init[A] admits larger learning
// rates than Init[B] without output instability, and so learns more
// efficiently, while Init[B] is the more stable of the two at a given rate
// (docs/EXPERIMENTS.md measures both). golora writes it to
// adapter_config.json as init_lora_weights false, the PEFT value whose
// layers start with a random B.
func InitB(a *Adapter, _ []float32, rng *rand.Rand) error {
	clear(a.A.Data)
	uniform(a.B.Data, 1/math.Sqrt(float64(a.R())), rng)
	return nil
}

// InitRandom is init_lora_weights false: both factors keep nn.Linear's
// default init, A ~ U(-1/√in, 1/√in), B ~ U(-1/√r, 1/√r). The layer does not
// start as the base: it is for tests and ablations, as in PEFT.
func InitRandom(a *Adapter, _ []float32, rng *rand.Rand) error {
	uniform(a.A.Data, 1/math.Sqrt(float64(a.In())), rng)
	uniform(a.B.Data, 1/math.Sqrt(float64(a.R())), rng)
	return nil
}

// InitPiSSA is PiSSA (Meng et al. 2024): with the thin SVD W0 = U·S·Vᵀ and
// S_r the top r singular values scaled by 1/s, A = diag(√S_r)·V_rᵀ and
// B = U_r·diag(√S_r), so s·B·A is the best rank-r approximation of W0; the
// frozen weight becomes the residual W0 - s·B·A.
func InitPiSSA(a *Adapter, w0 []float32, _ *rand.Rand) error {
	r, in, out := a.R(), a.In(), a.Out()
	if r > min(in, out) {
		return fmt.Errorf("lora: %s: pissa needs r <= min(out, in) = %d, got %d", a.Module, min(in, out), r)
	}
	var svd mat.SVD
	if !svd.Factorize(mat.NewDense(out, in, to64(w0)), mat.SVDThin) {
		return fmt.Errorf("lora: %s: SVD of the base weight did not converge", a.Module)
	}
	var u, v mat.Dense
	svd.UTo(&u) // (out, k)
	svd.VTo(&v) // (in, k)
	sv := svd.Values(nil)
	for k := 0; k < r; k++ {
		sq := math.Sqrt(sv[k] / float64(a.Scaling))
		for j := 0; j < in; j++ {
			a.A.Data[k*in+j] = float32(sq * v.At(j, k))
		}
		for o := 0; o < out; o++ {
			a.B.Data[o*r+k] = float32(sq * u.At(o, k))
		}
	}
	a.subtractFrom(w0)
	return nil
}

// InitOLoRA is OLoRA (Büyükakyüz 2024): with the reduced QR W0 = Q·R,
// A = R[:r] (the first r rows) and B = Q[:, :r]; the frozen weight becomes
// W0 - s·B·A.
func InitOLoRA(a *Adapter, w0 []float32, _ *rand.Rand) error {
	r, in, out := a.R(), a.In(), a.Out()
	if r > min(in, out) {
		return fmt.Errorf("lora: %s: olora needs r <= min(out, in) = %d, got %d", a.Module, min(in, out), r)
	}
	q, rr := householderQR(to64(w0), out, in)
	for k := 0; k < r; k++ {
		for j := 0; j < in; j++ {
			a.A.Data[k*in+j] = float32(rr[k*in+j])
		}
		for o := 0; o < out; o++ {
			a.B.Data[o*r+k] = float32(q[o*out+k])
		}
	}
	a.subtractFrom(w0)
	return nil
}

// subtractFrom replaces w by w - s·B·A, in float64 per element.
func (a *Adapter) subtractFrom(w []float32) {
	r, in, out := a.R(), a.In(), a.Out()
	s := float64(a.Scaling)
	for o := 0; o < out; o++ {
		for j := 0; j < in; j++ {
			var d float64
			for k := 0; k < r; k++ {
				d += float64(a.B.Data[o*r+k]) * float64(a.A.Data[k*in+j])
			}
			w[o*in+j] = float32(float64(w[o*in+j]) - s*d)
		}
	}
}

func to64(x []float32) []float64 {
	y := make([]float64, len(x))
	for i, v := range x {
		y[i] = float64(v)
	}
	return y
}

// householderQR factors w (m, n) as Q (m, m) · R (m, n) with Householder
// reflections in LAPACK's sign convention (R_kk = -sign(x_k)·‖x‖, what
// torch.linalg.qr returns). It takes any shape, wide ones included, which
// gonum's QR does not.
func householderQR(w []float64, m, n int) (q, r []float64) {
	r = append([]float64(nil), w...)
	q = make([]float64, m*m)
	for i := 0; i < m; i++ {
		q[i*m+i] = 1
	}
	v := make([]float64, m)
	for k := 0; k < min(m-1, n); k++ {
		var norm float64
		for i := k; i < m; i++ {
			norm += r[i*n+k] * r[i*n+k]
		}
		norm = math.Sqrt(norm)
		if norm == 0 {
			continue
		}
		alpha := r[k*n+k]
		beta := -math.Copysign(norm, alpha)
		for i := k; i < m; i++ {
			v[i] = r[i*n+k]
		}
		v[k] -= beta
		var vv float64
		for i := k; i < m; i++ {
			vv += v[i] * v[i]
		}
		if vv == 0 {
			continue
		}
		// R ← H·R and Q ← Q·H, H = I - 2vvᵀ/vᵀv.
		for j := k; j < n; j++ {
			var d float64
			for i := k; i < m; i++ {
				d += v[i] * r[i*n+j]
			}
			d *= 2 / vv
			for i := k; i < m; i++ {
				r[i*n+j] -= d * v[i]
			}
		}
		for i := 0; i < m; i++ {
			var d float64
			for l := k; l < m; l++ {
				d += q[i*m+l] * v[l]
			}
			d *= 2 / vv
			for l := k; l < m; l++ {
				q[i*m+l] -= d * v[l]
			}
		}
	}
	return q, r
}
