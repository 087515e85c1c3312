package kernels

import (
	"testing"
	"time"
)

// TestStats checks that the counters see a threaded GEMM under its shape,
// its parallel region, and a serial pause outside any region; and that
// nothing is counted once stopped.
func TestStats(t *testing.T) {
	defer SetThreads(Threads())
	SetThreads(2)
	const M, N, K = 96, 128, 64
	A, B, C := make([]float32, M*K), make([]float32, N*K), make([]float32, M*N)
	start := time.Now()
	StartStats()
	Sgemm(false, true, M, N, K, 1, A, K, B, K, 0, C, N)
	Sgemm(false, true, M, N, K, 1, A, K, B, K, 0, C, N)
	Sgemm(true, false, K, K, M, 1, A, K, A, K, 0, C, K)
	Run(2, func(int) { time.Sleep(time.Millisecond) })
	s := StopStats()
	wall := time.Since(start).Nanoseconds()
	if len(s.Gemms) != 2 {
		t.Fatalf("%d GEMM shapes, want 2: %+v", len(s.Gemms), s.Gemms)
	}
	g := s.Gemms[0]
	if g.M != M || g.N != N || g.K != K || g.TransA || !g.TransB || g.Calls != 2 || g.Ns <= 0 {
		t.Errorf("first shape %+v, want %dx%dx%d NT, 2 calls", g, M, N, K)
	}
	if g := s.Gemms[1]; !g.TransA || g.TransB || g.Calls != 1 {
		t.Errorf("second shape %+v, want TN, 1 call", g)
	}
	// the two threaded GEMMs (the third is too small to split) and the Run
	if s.Regions != 3 || s.RegionNs < int64(time.Millisecond) || s.RegionNs > wall {
		t.Errorf("regions %d, %d ns in %d ns: want 3, at least the 1 ms Run", s.Regions, s.RegionNs, wall)
	}
	var regions int64
	for _, o := range s.Ops {
		regions += o.Regions
	}
	if len(s.Ops) == 0 || regions != s.Regions {
		t.Errorf("ops %+v: %d regions, want %d", s.Ops, regions, s.Regions)
	}
	Sgemm(false, true, M, N, K, 1, A, K, B, K, 0, C, N)
	if s := StopStats(); len(s.Gemms) != 2 || s.Gemms[0].Calls != 2 {
		t.Errorf("counted after StopStats: %+v", s.Gemms)
	}
}
