package nn

import (
	"math"
	"strconv"
	"sync"

	"github.com/golora/golora/kernels"
)

// IgnoreIndex marks a target (or label) that carries no loss: PyTorch's
// CrossEntropyLoss ignore_index default, which Hugging Face datasets use in
// "labels". It is defined here once; model and data refer to it.
const IgnoreIndex = -100

// CrossEntropy returns the mean negative log-likelihood of targets (N)
// under softmax(logits) (N, V), over the rows whose target is not
// ignoreIndex, and how many rows that is. Rows are log-sum-exp'd with the
// row maximum subtracted; the loss is summed in float64.
//
// When dlogits (N, V) is non-nil it receives the gradient of that mean,
// (softmax - onehot)/count, and 0 on ignored rows. Unlike the other backward
// functions it is overwritten, not accumulated, so that dlogits may alias
// logits: a training step turns the logits buffer into its gradient without
// keeping a second N×V array. With count == 0 the loss is 0.
//
// A target outside [0, V) that is not ignoreIndex panics.
func CrossEntropy(dlogits, logits []float32, targets []int, N, V int, ignoreIndex int) (loss float64, count int) {
	return crossEntropy(dlogits, logits, targets, N, V, ignoreIndex, 0, false)
}

// CrossEntropyScaled is CrossEntropy with dlogits = gradScale·(softmax -
// onehot) on each counted row, not divided by the count: a chunked loss
// gives each chunk its share of the whole batch's mean in the same pass
// (CrossEntropy is gradScale = 1/count).
func CrossEntropyScaled(dlogits, logits []float32, targets []int, N, V int, ignoreIndex int, gradScale float32) (loss float64, count int) {
	return crossEntropy(dlogits, logits, targets, N, V, ignoreIndex, gradScale, true)
}

// crossEntropy is CrossEntropy with the gradient scaled by gradScale when
// scaled, by 1/count otherwise.
func crossEntropy(dlogits, logits []float32, targets []int, N, V int, ignoreIndex int, gradScale float32, scaled bool) (loss float64, count int) {
	checkLen("CrossEntropy: logits", logits, N*V)
	if len(targets) < N {
		panic("nn: CrossEntropy: targets too short: " + strconv.Itoa(len(targets)) + " < " + strconv.Itoa(N))
	}
	if dlogits != nil {
		checkLen("CrossEntropy: dlogits", dlogits, N*V)
	}
	for _, t := range targets[:N] {
		if t == ignoreIndex {
			continue
		}
		if t < 0 || t >= V {
			panic("nn: CrossEntropy: target " + strconv.Itoa(t) + " outside vocabulary of " + strconv.Itoa(V))
		}
		count++
	}
	if count == 0 {
		if dlogits != nil {
			clear(dlogits[:N*V])
		}
		return 0, 0
	}
	inv := 1 / float32(count)
	if scaled {
		inv = gradScale
	}
	var mu sync.Mutex
	kernels.For(N, max(1, 65536/max(V, 1)), func(lo, hi int) {
		var part float64
		var scratch [1024]float32
		for i := lo; i < hi; i++ {
			x := logits[i*V : (i+1)*V]
			t := targets[i]
			if t == ignoreIndex {
				if dlogits != nil {
					clear(dlogits[i*V : (i+1)*V])
				}
				continue
			}
			xt := x[t] // read before dlogits (maybe x itself) is written
			m := kernels.Max(x)
			var s float32
			if dlogits != nil {
				d := dlogits[i*V : (i+1)*V]
				s = kernels.ExpSub(d, x, m)
				kernels.Scale(inv/s, d)
				d[t] -= inv
			} else {
				// Sum in float64 chunk by chunk so no row-sized copy is needed.
				var s64 float64
				for j := 0; j < V; j += len(scratch) {
					c := x[j:min(j+len(scratch), V)]
					s64 += float64(kernels.ExpSub(scratch[:len(c)], c, m))
				}
				s = float32(s64)
			}
			part += math.Log(float64(s)) + float64(m) - float64(xt)
		}
		mu.Lock()
		loss += part
		mu.Unlock()
	})
	return loss / float64(count), count
}
