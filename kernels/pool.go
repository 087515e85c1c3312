package kernels

import (
	"runtime"
	"sync"
	"sync/atomic"
	"time"
)

// Decoding one token runs about fifty matrix-vector products of a few
// hundred microseconds each. Starting a goroutine per product costs a wake-up
// of a parked OS thread (tens of microseconds, more on a busy machine), and
// the helper starts late while the caller finishes its share and waits: on two
// cores a third of decode time went idle that way. Run therefore keeps
// persistent workers that spin briefly after a job, so back-to-back products
// start without a wake-up, and park when the work stops.

// spinFor bounds how long an idle worker (or a caller waiting for its
// workers) polls before parking: longer than the gaps between the products
// of a decode step (attention, norms), short enough that an idle process
// stops burning CPU at once. (A budget of 2^16 polls parked the workers
// between products and cost a fifth of decode speed.)
const spinFor = 500 * time.Microsecond

// spinShort is an idle worker's budget after a gap between jobs longer
// than spinFor: the next gap is then likely far too (between training
// steps or an idle server's requests), so the worker parks almost at once
// instead of burning a core others could use. A gap shorter than spinFor
// restores the full budget, so decode's products, microseconds apart, keep
// finding their workers spinning; a pause costs at most one wake-up.
const spinShort = 50 * time.Microsecond

// idleBudget is how long a worker spins for the next job after an idle gap
// of lastGap.
func idleBudget(lastGap time.Duration) time.Duration {
	if lastGap > spinFor {
		return spinShort
	}
	return spinFor
}

// spin polls done until it reports true or budget runs out.
func spin(done func() bool, budget time.Duration) bool {
	start := time.Now()
	for {
		for range 256 {
			if done() {
				return true
			}
		}
		if time.Since(start) > budget {
			return false
		}
		// Let other goroutines have the P: a spinner otherwise holds it
		// until the scheduler preempts it (10 ms), and a server's HTTP
		// goroutines, runnable between decode steps, waited that long for
		// every event (golora bench serve: 100x fewer tokens/s on 2
		// threads). With nothing else runnable this returns at once.
		runtime.Gosched()
	}
}

// Run calls f(t) for every t in [0, n) concurrently and returns when all
// have finished; f(0) runs on the calling goroutine. Calls from several
// goroutines at once (or from inside f) are safe: only one uses the
// persistent workers at a time, the others start goroutines.
func Run(n int, f func(t int)) {
	switch {
	case n <= 0:
		return
	case n == 1:
		f(0)
		return
	}
	if !thePool.mu.TryLock() {
		runGoroutines(n, f)
		return
	}
	thePool.run(n, f)
	thePool.mu.Unlock()
}

// For splits [0, n) into at most Threads() contiguous ranges of at least
// grain items and runs fn on each through Run; small problems run inline.
func For(n, grain int, fn func(lo, hi int)) {
	parts := min(Threads(), n/max(grain, 1))
	if parts <= 1 {
		if n > 0 {
			fn(0, n)
		}
		return
	}
	Run(parts, func(t int) { fn(t*n/parts, (t+1)*n/parts) })
}

func runGoroutines(n int, f func(t int)) {
	var wg sync.WaitGroup
	for t := 1; t < n; t++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			f(t)
		}()
	}
	f(0)
	wg.Wait()
}

var thePool pool

type pool struct {
	mu      sync.Mutex // held by the caller whose job the workers run
	workers []*worker  // worker i runs part i+1 of a job
	cur     atomic.Pointer[job]
	gen     uint64 // the last job's generation (under mu)
}

// job is one Run call; workers tell jobs apart by gen, so a worker that sat
// out one job never mistakes the next for it.
type job struct {
	gen     uint64
	n       int
	f       func(t int)
	pending atomic.Int32
	parked  atomic.Bool   // the caller is parked on done
	done    chan struct{} // the pool's, buffered
}

type worker struct {
	parked  atomic.Bool
	wake    chan struct{} // buffered: a wake-up is never lost
	lastGap atomic.Int64  // ns between its last two jobs (atomic: tests read it)
}

var poolDone = make(chan struct{}, 1)

func (p *pool) run(n int, f func(t int)) {
	for len(p.workers) < n-1 {
		w := &worker{wake: make(chan struct{}, 1)}
		p.workers = append(p.workers, w)
		go p.loop(w, len(p.workers), p.gen)
	}
	if t0 := statStart(); !t0.IsZero() {
		stats.regions.Add(1)
		defer regionDone(t0)
	}
	p.gen++
	j := &job{gen: p.gen, n: n, f: f, done: poolDone}
	j.pending.Store(int32(n - 1))
	p.cur.Store(j)
	for _, w := range p.workers[:n-1] {
		if w.parked.Swap(false) {
			w.wake <- struct{}{}
		}
	}
	f(0)
	defer since(&stats.waitNs, statStart())
	if spin(func() bool { return j.pending.Load() == 0 }, spinFor) {
		return
	}
	j.parked.Store(true)
	if j.pending.Load() == 0 && j.parked.Swap(false) {
		return
	}
	<-j.done
}

// loop is worker idx's life: wait for a job newer than seen, run its part
// idx if it has one, repeat.
func (p *pool) loop(w *worker, idx int, seen uint64) {
	for {
		j := p.next(w, seen)
		seen = j.gen
		if idx >= j.n {
			continue
		}
		j.f(idx)
		if j.pending.Add(-1) == 0 && j.parked.Swap(false) {
			j.done <- struct{}{}
		}
	}
}

// next spins, then parks, until a job newer than seen is published.
func (p *pool) next(w *worker, seen uint64) *job {
	fresh := func() bool {
		j := p.cur.Load()
		return j != nil && j.gen != seen
	}
	start := time.Now()
	defer func() { w.lastGap.Store(int64(time.Since(start))) }()
	for {
		t0 := statStart()
		ok := spin(fresh, idleBudget(time.Duration(w.lastGap.Load())))
		since(&stats.idleSpinNs, t0)
		if ok {
			return p.cur.Load()
		}
		w.parked.Store(true)
		if j := p.cur.Load(); j != nil && j.gen != seen {
			if !w.parked.Swap(false) {
				<-w.wake // a caller saw us parked and is sending
			}
			return j
		}
		<-w.wake
	}
}
