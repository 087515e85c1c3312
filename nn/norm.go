package nn

import (
	"math"
	"strconv"

	"github.com/golora/golora/kernels"
)

// normGrain is the number of elements below which a norm runs on one
// goroutine.
const normGrain = 1 << 14

// LayerNormForward normalises each of the N rows of inp (N, C) to zero mean
// and unit variance and applies weight and bias (C each; bias may be nil):
//
//	out = (x - mean) * rstd * weight + bias,  rstd = 1/sqrt(var + eps)
//
// with the biased variance (divide by C) and eps inside the square root, as
// torch.nn.LayerNorm. mean and rstd (N) are stored for the backward pass
// when non-nil. out may alias inp.
func LayerNormForward(out, mean, rstd, inp, weight, bias []float32, N, C int, eps float32) {
	AddLayerNormForward(out, mean, rstd, inp, nil, weight, bias, N, C, eps)
}

// AddLayerNormForward is the residual add and the LayerNorm after it in
// one pass: res += add (unless add is nil), then LayerNormForward of res,
// a row at a time, so the sum is normalised while its row is in L1.
// LayerNormBackward on res gives the gradient of both summands.
func AddLayerNormForward(out, mean, rstd, res, add, weight, bias []float32, N, C int, eps float32) {
	checkNormArgs("LayerNormForward", out, res, add, weight, N, C)
	if bias != nil {
		checkLen("LayerNormForward: bias", bias, C)
	}
	if mean != nil {
		checkLen("LayerNormForward: mean", mean, N)
	}
	if rstd != nil {
		checkLen("LayerNormForward: rstd", rstd, N)
	}
	if C == 0 {
		return
	}
	kernels.For(N, max(1, normGrain/C), func(lo, hi int) {
		for i := lo; i < hi; i++ {
			x := res[i*C : (i+1)*C]
			if add != nil {
				kernels.Add(x, add[i*C:(i+1)*C])
			}
			m := kernels.Sum(x) / float32(C)
			// Two passes: the variance about the mean does not cancel the
			// way E[x²]-E[x]² does for rows with a large mean.
			s := float32(1 / math.Sqrt(float64(kernels.SumSqDev(x, m)/float32(C)+eps)))
			var b []float32
			if bias != nil {
				b = bias[:C]
			}
			kernels.NormApply(out[i*C:(i+1)*C], x, weight[:C], b, m, s)
			if mean != nil {
				mean[i] = m
			}
			if rstd != nil {
				rstd[i] = s
			}
		}
	})
}

// checkNormArgs checks the buffers every forward norm has.
func checkNormArgs(name string, out, res, add, weight []float32, N, C int) {
	checkLen(name+": inp", res, N*C)
	checkLen(name+": out", out, N*C)
	checkLen(name+": weight", weight, C)
	if add != nil {
		checkLen(name+": add", add, N*C)
	}
}

// LayerNormBackward accumulates the gradients of LayerNormForward: dinp
// (N, C), dweight and dbias (C); any of them may be nil. mean and rstd are
// the values the forward stored.
func LayerNormBackward(dinp, dweight, dbias, dout, inp, weight, mean, rstd []float32, N, C int) {
	checkLen("LayerNormBackward: dout", dout, N*C)
	checkLen("LayerNormBackward: inp", inp, N*C)
	checkLen("LayerNormBackward: weight", weight, C)
	checkLen("LayerNormBackward: mean", mean, N)
	checkLen("LayerNormBackward: rstd", rstd, N)
	if dweight != nil {
		checkLen("LayerNormBackward: dweight", dweight, C)
	}
	if dbias != nil {
		checkLen("LayerNormBackward: dbias", dbias, C)
	}
	if C == 0 {
		return
	}
	if dweight != nil || dbias != nil {
		// Parameter gradients sum over rows: split the columns instead, so
		// each goroutine owns its slice of dweight and dbias.
		kernels.For(C, max(1, normGrain/max(N, 1)), func(c0, c1 int) {
			for i := 0; i < N; i++ {
				x := inp[i*C+c0 : i*C+c1]
				dy := dout[i*C+c0:][:len(x)]
				if dbias != nil {
					kernels.Add(dbias[c0:c1], dy)
				}
				if dweight != nil {
					m, s := mean[i], rstd[i]
					dw := dweight[c0:][:len(x)]
					for j, xv := range x {
						dw[j] += (xv - m) * s * dy[j]
					}
				}
			}
		})
	}
	if dinp == nil {
		return
	}
	checkLen("LayerNormBackward: dinp", dinp, N*C)
	// dx = rstd * (g - mean(g) - xhat*mean(g*xhat)), g = weight*dy
	kernels.For(N, max(1, normGrain/C), func(lo, hi int) {
		for i := lo; i < hi; i++ {
			r := i * C
			kernels.NormGrad(dinp[r:r+C], inp[r:r+C], dout[r:r+C], weight[:C], mean[i], rstd[i], true)
		}
	})
}

// RMSNormForward computes out = weight * x / sqrt(mean(x²) + eps) for each
// of the N rows of inp (N, C), as Llama's RMSNorm. rstd (N) is stored for
// the backward when non-nil. out may alias inp.
func RMSNormForward(out, rstd, inp, weight []float32, N, C int, eps float32) {
	AddRMSNormForward(out, rstd, inp, nil, weight, N, C, eps)
}

// AddRMSNormForward is AddLayerNormForward for RMSNorm: res += add (unless
// add is nil), then RMSNormForward of res, a row at a time.
func AddRMSNormForward(out, rstd, res, add, weight []float32, N, C int, eps float32) {
	checkNormArgs("RMSNormForward", out, res, add, weight, N, C)
	if rstd != nil {
		checkLen("RMSNormForward: rstd", rstd, N)
	}
	if C == 0 {
		return
	}
	kernels.For(N, max(1, normGrain/C), func(lo, hi int) {
		for i := lo; i < hi; i++ {
			x := res[i*C : (i+1)*C]
			if add != nil {
				kernels.Add(x, add[i*C:(i+1)*C])
			}
			s := float32(1 / math.Sqrt(float64(kernels.SumSq(x)/float32(C)+eps)))
			kernels.NormApply(out[i*C:(i+1)*C], x, weight[:C], nil, 0, s)
			if rstd != nil {
				rstd[i] = s
			}
		}
	})
}

// RMSNormBackward accumulates dinp (N, C) and dweight (C) (nil: skip) for
// RMSNormForward, given the rstd it stored.
func RMSNormBackward(dinp, dweight, dout, inp, weight, rstd []float32, N, C int) {
	checkLen("RMSNormBackward: dout", dout, N*C)
	checkLen("RMSNormBackward: inp", inp, N*C)
	checkLen("RMSNormBackward: weight", weight, C)
	checkLen("RMSNormBackward: rstd", rstd, N)
	if C == 0 {
		return
	}
	if dweight != nil {
		checkLen("RMSNormBackward: dweight", dweight, C)
		kernels.For(C, max(1, normGrain/max(N, 1)), func(c0, c1 int) {
			dw := dweight[c0:c1]
			for i := 0; i < N; i++ {
				x := inp[i*C+c0:][:len(dw)]
				dy := dout[i*C+c0:][:len(dw)]
				s := rstd[i]
				for j, xv := range x {
					dw[j] += xv * s * dy[j]
				}
			}
		})
	}
	if dinp == nil {
		return
	}
	checkLen("RMSNormBackward: dinp", dinp, N*C)
	// dx = s*w*dy - s³/C * x * Σ w*dy*x: NormGrad's RMSNorm form
	kernels.For(N, max(1, normGrain/C), func(lo, hi int) {
		for i := lo; i < hi; i++ {
			r := i * C
			kernels.NormGrad(dinp[r:r+C], inp[r:r+C], dout[r:r+C], weight[:C], 0, rstd[i], false)
		}
	})
}

// checkLen panics when a buffer is shorter than the shape needs: a
// programmer error, reported with the op and buffer name.
func checkLen(what string, x []float32, n int) {
	if len(x) < n {
		panic("nn: " + what + " too short: " + strconv.Itoa(len(x)) + " < " + strconv.Itoa(n))
	}
}
