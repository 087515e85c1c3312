package kernels

import (
	"cmp"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Stats says where a calling goroutine's time went while StartStats was
// on: in parallel regions (Run calls that used the worker pool), in GEMMs
// (by shape), and waiting. A step's wall time minus RegionNs is time the
// caller ran alone while the workers idled (serial sections). Benchmarks
// turn it on (golora bench train --breakdown); off, it costs one atomic
// load per Sgemm and per Run.
type Stats struct {
	Regions  int64 // Run calls that used the pool
	RegionNs int64 // their wall time on the caller
	// WaitNs is the part of RegionNs the caller spent waiting for the
	// workers after finishing its own part (load imbalance, late starts).
	WaitNs int64
	// BarrierNs is the time goroutines waited at the row-split GEMM's
	// per-block barriers, summed over goroutines.
	BarrierNs int64
	// IdleSpinNs is the time workers spun between jobs (CPU burnt, not
	// parked), summed over workers.
	IdleSpinNs int64
	Gemms      []GemmStat // one per shape, in first-call order
	Ops        []OpStat   // parallel regions by the function that started them
}

// OpStat is the parallel regions one function outside kernels started
// (through Sgemm, Run or For): nn.(*Linear).mulWT for forward products,
// nn.GeluBackward, and so on.
type OpStat struct {
	Op      string // the function, without the module path
	Regions int64
	Ns      int64 // wall time of its regions on the caller
}

// GemmStat is the Sgemm calls of one shape.
type GemmStat struct {
	TransA, TransB bool
	M, N, K        int
	Calls          int64
	Ns             int64 // wall time of the calls
	WaitNs         int64 // of which the caller waited for its workers
}

type gemmKey struct {
	transA, transB bool
	M, N, K        int
}

var stats struct {
	on                                               atomic.Bool
	regions, regionNs, waitNs, barrierNs, idleSpinNs atomic.Int64

	mu    sync.Mutex
	order []gemmKey
	gemms map[gemmKey]*GemmStat
	ops   map[string]*OpStat
}

// StartStats clears the counters and starts counting.
func StartStats() {
	stats.mu.Lock()
	defer stats.mu.Unlock()
	for _, c := range []*atomic.Int64{&stats.regions, &stats.regionNs, &stats.waitNs, &stats.barrierNs, &stats.idleSpinNs} {
		c.Store(0)
	}
	stats.order, stats.gemms, stats.ops = nil, map[gemmKey]*GemmStat{}, map[string]*OpStat{}
	stats.on.Store(true)
}

// StopStats stops counting and returns what was counted since StartStats.
func StopStats() Stats {
	stats.on.Store(false)
	stats.mu.Lock()
	defer stats.mu.Unlock()
	s := Stats{Regions: stats.regions.Load(), RegionNs: stats.regionNs.Load(), WaitNs: stats.waitNs.Load(),
		BarrierNs: stats.barrierNs.Load(), IdleSpinNs: stats.idleSpinNs.Load()}
	for _, k := range stats.order {
		s.Gemms = append(s.Gemms, *stats.gemms[k])
	}
	for _, o := range stats.ops {
		s.Ops = append(s.Ops, *o)
	}
	slices.SortFunc(s.Ops, func(a, b OpStat) int { return cmp.Compare(b.Ns, a.Ns) })
	return s
}

// regionDone records a parallel region that started at t0 under the
// function outside this package that started it.
func regionDone(t0 time.Time) {
	ns := time.Since(t0).Nanoseconds()
	stats.regionNs.Add(ns)
	var pcs [16]uintptr
	frames := runtime.CallersFrames(pcs[:runtime.Callers(2, pcs[:])])
	op := "?"
	for {
		f, more := frames.Next()
		if name, ok := strings.CutPrefix(f.Function, modulePath); ok && !strings.HasPrefix(name, "kernels.") {
			op = name
			for strings.Contains(op, ".func") { // a closure: name its function
				op = op[:strings.LastIndex(op, ".func")]
			}
			break
		}
		if !more {
			break
		}
	}
	stats.mu.Lock()
	defer stats.mu.Unlock()
	if stats.ops == nil {
		return // StopStats ran meanwhile
	}
	o := lookup(stats.ops, op, func() *OpStat { return &OpStat{Op: op} })
	o.Regions++
	o.Ns += ns
}

const modulePath = "github.com/golora/golora/"

// lookup returns m[k], first storing mk() there when it is absent.
func lookup[K comparable, V any](m map[K]*V, k K, mk func() *V) *V {
	v := m[k]
	if v == nil {
		v = mk()
		m[k] = v
	}
	return v
}

// timedGemm runs g and records its wall time and the caller's wait under
// its shape.
func timedGemm(g *gemm, threads int) {
	t0, w0 := time.Now(), stats.waitNs.Load()
	g.run(threads)
	ns, wait := time.Since(t0).Nanoseconds(), stats.waitNs.Load()-w0
	k := gemmKey{g.transA, g.transB, g.M, g.N, g.K}
	stats.mu.Lock()
	defer stats.mu.Unlock()
	if stats.gemms == nil {
		return // StopStats ran meanwhile
	}
	s := lookup(stats.gemms, k, func() *GemmStat {
		stats.order = append(stats.order, k)
		return &GemmStat{TransA: g.transA, TransB: g.transB, M: g.M, N: g.N, K: g.K}
	})
	s.Calls++
	s.Ns += ns
	s.WaitNs += wait
}

// since adds the time since t0 to c when stats are on (t0 is zero when
// they were off at the start).
func since(c *atomic.Int64, t0 time.Time) {
	if !t0.IsZero() {
		c.Add(time.Since(t0).Nanoseconds())
	}
}

// statStart is time.Now() when stats are on, else the zero time.
func statStart() time.Time {
	if stats.on.Load() {
		return time.Now()
	}
	return time.Time{}
}
