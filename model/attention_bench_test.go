package model

import (
	"fmt"
	"testing"

	"github.com/golora/golora/nn"
)

// BenchmarkAttention times forward+backward of one GPT-2-small layer's
// attention (12 heads of 64).
func BenchmarkAttention(b *testing.B) {
	for _, T := range []int{128, 512} {
		NH, NKV, D := 12, 12, 64
		q := make([]float32, T*NH*D)
		k := make([]float32, T*NKV*D)
		v := make([]float32, T*NKV*D)
		for i := range q {
			q[i] = float32(i%7) * 0.01
		}
		for i := range k {
			k[i] = float32(i%5) * 0.01
			v[i] = float32(i%3) * 0.01
		}
		out := make([]float32, len(q))
		d := attnDims{NH: NH, NKV: NKV, D: D, opt: nn.AttnOptions{Scale: 0.125}}
		b.Run(fmt.Sprintf("T%d", T), func(b *testing.B) {
			s := []nn.AttnSeq{{Q: q, K: k, V: v, Out: out, LSE: make([]float32, NH*T), T: T, Tk: T,
				DQ: make([]float32, len(q)), DK: make([]float32, len(k)), DV: make([]float32, len(v)), DOut: out}}
			for i := 0; i < b.N; i++ {
				attentionForward(s, d)
				attentionBackward(s, d)
			}
		})
	}
}
