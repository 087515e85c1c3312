package serve

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/golora/golora/lora"
	"github.com/golora/golora/model"
)

// BenchmarkRoutedDecode is bench serve's 8-adapter comparison without the
// HTTP around it: the embedded model's continuous batch of 8 sequences (a
// 16-token prompt chunk, then 31 decode steps, the sequences staggered so
// a prompt chunk joins every fourth step, as bench serve's clients do),
// their rows routed to one adapter, spread over 8 or to the base alone
// (64 frozen rank-8 adapters loaded on every linear but the head, as the
// bench loads them). The contenders alternate inside each iteration; it
// reports per step each one's fastest pass (decode-only and prompt-chunk
// steps apart, SetRows included as the server counts it), its fastest
// step of 8 decode rows (what a loaded machine perturbs least), and x8,
// x8-fastest: one adapter's time over eight's.
func BenchmarkRoutedDecode(b *testing.B) {
	m0, err := model.Load("")
	if err != nil {
		b.Fatal(err)
	}
	m := m0.(*model.Transformer)
	m.SetTrainable(nil)
	lm := lora.ForModel(m)
	var names []string
	for i := range 64 {
		cfg := lora.DefaultConfig()
		cfg.R, cfg.LoraAlpha, cfg.TargetModules = 8, 16, lora.Regex("all-linear")
		names = append(names, fmt.Sprint("a", i))
		if err := lm.Add(names[i], cfg, "gaussian", uint64(i+1)); err != nil {
			b.Fatal(err)
		}
		for _, s := range lm.Layers() { // a nonzero B, as bench serve's
			if a := s.Adapter(names[i]); a != nil {
				for j := range a.B.Data {
					a.B.Data[j] = float32((j%17)-8) * 1e-3
				}
			}
		}
		lm.Freeze(names[i])
	}
	if err := lm.SetActive(names...); err != nil {
		b.Fatal(err)
	}
	m.SetRowExact(true)
	const B, prompt, gen, steps = 8, 16, 32, 256
	c := m.NewSlotCache(B)
	rows := make([][]int, B)
	var route []int
	// pass runs the steps with request r of slot s on adapter (s+r) % nAd
	// (nAd 0: the base) and returns the time of the decode-only steps and
	// of the steps with a prompt chunk.
	pass := func(nAd int) (dec, pre, fast time.Duration) {
		fast = time.Hour
		fed := make([]int, B)
		for s := range B {
			c.Free(s)
			fed[s] = -s * gen / B
		}
		for i := range steps {
			route = route[:0]
			for s := range B {
				k := -1
				if nAd > 0 {
					k = (s + i/gen) % nAd
				}
				switch {
				case fed[s] < 0: // not started yet
					rows[s] = rows[s][:0]
				case fed[s] == 0:
					c.Free(s)
					c.Alloc(s, prompt+gen)
					rows[s] = make([]int, prompt)
					for t := range rows[s] {
						rows[s][t] = 1 + (t*7919+s)%500
					}
				default:
					rows[s] = append(rows[s][:0], 1+(i*31+s)%500)
				}
				for range rows[s] {
					route = append(route, k)
				}
				if fed[s]++; fed[s] == gen {
					fed[s] = 0
				}
			}
			t0 := time.Now()
			lm.SetRows(route)
			if _, err := m.Step(c, rows); err != nil {
				b.Fatal(err)
			}
			switch d := time.Since(t0); {
			case len(route) > B:
				pre += d
			case i >= gen: // every slot decoding
				fast = min(fast, d)
				fallthrough
			default:
				dec += d
			}
		}
		lm.SetRows(nil)
		return dec, pre, fast
	}
	counts := []int{1, 8, 0}
	dec := []time.Duration{time.Hour, time.Hour, time.Hour}
	pre, fast := slices.Clone(dec), slices.Clone(dec)
	for b.Loop() {
		for i, k := range counts {
			d, p, f := pass(k)
			dec[i], pre[i], fast[i] = min(dec[i], d), min(pre[i], p), min(fast[i], f)
		}
	}
	const nPre = steps / (gen / B) // a prompt chunk every gen/B steps
	for i, k := range counts {
		b.ReportMetric(float64(dec[i].Nanoseconds())/(steps-nPre), fmt.Sprintf("ns/decode-%d", k))
		b.ReportMetric(float64(pre[i].Nanoseconds())/nPre, fmt.Sprintf("ns/prompt-%d", k))
		b.ReportMetric(float64(fast[i].Nanoseconds()), fmt.Sprintf("ns/fastest-%d", k))
	}
	b.ReportMetric((dec[0]+pre[0]).Seconds()/(dec[1]+pre[1]).Seconds(), "x8")
	b.ReportMetric(fast[0].Seconds()/fast[1].Seconds(), "x8-fastest")
}
