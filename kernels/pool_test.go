package kernels

import (
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TestRun checks that every part of every job runs exactly once, for
// back-to-back jobs of changing width (workers sitting out a job must not
// replay it), jobs after the workers have parked, nested calls and calls
// from several goroutines at once.
func TestRun(t *testing.T) {
	check := func(t *testing.T, n int) {
		t.Helper()
		counts := make([]atomic.Int32, n)
		Run(n, func(i int) { counts[i].Add(1) })
		for i := range counts {
			if c := counts[i].Load(); c != 1 {
				t.Fatalf("Run(%d): part %d ran %d times", n, i, c)
			}
		}
	}
	for _, n := range []int{0, 1, 2, 3, 5, 2, 1, 4, 8, 2} {
		check(t, n)
	}
	for range 1000 {
		check(t, 3)
		check(t, 2)
	}
	time.Sleep(2 * spinFor) // the workers park
	check(t, 4)

	// Nested: the inner Run finds the pool busy and starts goroutines.
	var total atomic.Int32
	Run(3, func(int) { Run(3, func(int) { total.Add(1) }) })
	if total.Load() != 9 {
		t.Fatalf("nested Run ran %d parts, want 9", total.Load())
	}

	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 200 {
				check(t, 3)
			}
		}()
	}
	wg.Wait()
}

func TestFor(t *testing.T) {
	defer SetThreads(Threads())
	for _, th := range []int{1, 2, 3} {
		SetThreads(th)
		for _, n := range []int{0, 1, 7, 100, 1001} {
			seen := make([]atomic.Int32, n)
			For(n, 10, func(lo, hi int) {
				if hi-lo < 10 && hi-lo != n {
					t.Errorf("threads %d n %d: chunk [%d,%d) below the grain", th, n, lo, hi)
				}
				for i := lo; i < hi; i++ {
					seen[i].Add(1)
				}
			})
			for i := range seen {
				if seen[i].Load() != 1 {
					t.Fatalf("threads %d n %d: item %d covered %d times", th, n, i, seen[i].Load())
				}
			}
		}
	}
}

// BenchmarkRun is the cost of dispatching an empty two-part job to a
// spinning worker (the per-product overhead in decode).
func BenchmarkRun(b *testing.B) {
	f := func(int) {}
	for b.Loop() {
		Run(2, f)
	}
}

func TestFMAPeak(t *testing.T) {
	forEachImpl(t, func(t *testing.T) {
		g, isa := FMAPeak(2, 20*time.Millisecond)
		if !(g > 0) || isa == "" {
			t.Errorf("FMAPeak = %v GFLOP/s (%q)", g, isa)
		}
	})
}

// TestIdleBudget checks that a worker whose last idle gap was far (longer
// than spinFor) spins only briefly before parking, and that a near gap
// restores the full spin (decode's products come microseconds apart).
func TestIdleBudget(t *testing.T) {
	if idleBudget(0) != spinFor || idleBudget(spinFor/2) != spinFor || idleBudget(2*spinFor) != spinShort {
		t.Fatalf("idleBudget: %v %v %v", idleBudget(0), idleBudget(spinFor/2), idleBudget(2*spinFor))
	}
	f := func(int) {}
	Run(2, f)
	time.Sleep(4 * spinFor) // far: the worker parks
	Run(2, f)
	w := thePool.workers[0]
	if g := time.Duration(w.lastGap.Load()); g < 4*spinFor {
		t.Errorf("gap after a %v pause recorded as %v", 4*spinFor, g)
	}
	// Back-to-back jobs: the next gap is near and recorded so. Several
	// tries, for a loaded machine that deschedules the worker.
	for try := 0; ; try++ {
		Run(2, f)
		Run(2, f)
		if g := time.Duration(w.lastGap.Load()); g < spinFor {
			break
		} else if try == 20 {
			t.Errorf("back-to-back jobs: gap %v, want < %v", g, spinFor)
			break
		}
	}
}
