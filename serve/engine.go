package serve

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/golora/golora/generate"
	"github.com/golora/golora/lora"
	"github.com/golora/golora/model"
)

// seq is one sequence (one choice of one request) from submission to its
// last event. The engine goroutine owns everything below "engine state".
type seq struct {
	ctx     context.Context
	adapter string // "" = the base
	prompt  []int
	maxNew  int
	sampler *generate.Sampler
	text    *generate.Text
	events  chan event // capacity maxNew+2: the engine never blocks on it
	queued  time.Time

	// engine state
	slot     int
	fed      int // prompt tokens in the cache
	history  []int
	last     int // the latest sampled id, fed at the next step
	gen      int
	reserved int // KV tokens reserved
	started  time.Time
}

// event is a piece of a sequence's output. The last one has finish set
// ("stop", "length") or err.
type event struct {
	text      string
	finish    string
	err       error
	generated int // tokens generated, on the last event
	wait      time.Duration
	ttft      time.Duration // with the first event that follows sampling
}

// errShutdown ends sequences still running when the server stops.
var errShutdown = errors.New("the server is shutting down")

// engine runs the continuous batch: one goroutine owns the model, the
// adapters on it and the KV cache; handlers talk to it through queue (new
// sequences, bounded, never blocking) and ops (adapter loads and unloads,
// run between steps).
type engine struct {
	m       *model.Transformer
	lm      *lora.Model
	reg     *registry
	met     *metrics
	cache   *model.Cache
	slots   []*seq
	queue   chan *seq
	ops     chan func()
	quit    chan struct{}
	done    chan struct{}
	head    *seq // taken from queue, waiting for KV room
	budget  int  // KV tokens all running sequences may reserve
	used    int
	vocab   int
	rows    [][]int
	tokRows []int
	active  []int
	prefill []bool
	// onLogits, when set (tests), sees every row's logits before sampling.
	onLogits func(s *seq, logits []float32)
}

func newEngine(m *model.Transformer, lm *lora.Model, reg *registry, met *metrics, maxBatch, maxQueue, budget int) *engine {
	m.SetRowExact(true)
	return &engine{
		m: m, lm: lm, reg: reg, met: met,
		cache:   m.NewSlotCache(maxBatch),
		slots:   make([]*seq, maxBatch),
		queue:   make(chan *seq, maxQueue),
		ops:     make(chan func()),
		quit:    make(chan struct{}),
		done:    make(chan struct{}),
		budget:  budget,
		vocab:   m.Config().VocabSize,
		rows:    make([][]int, maxBatch),
		prefill: make([]bool, maxBatch),
	}
}

// submit queues s, or reports false when the queue is full.
func (e *engine) submit(s *seq) bool {
	select {
	case e.queue <- s:
		e.met.waiting.Inc()
		return true
	default:
		return false
	}
}

// do runs f on the engine goroutine between steps and waits for it.
func (e *engine) do(ctx context.Context, f func()) error {
	ran := make(chan struct{})
	select {
	case e.ops <- func() { f(); close(ran) }:
	case <-ctx.Done():
		return ctx.Err()
	case <-e.done:
		return errShutdown
	}
	<-ran
	return nil
}

func (e *engine) run() {
	defer close(e.done)
	for {
		e.reap()
		e.admit()
		if e.running() == 0 {
			select {
			case <-e.quit:
				e.stop()
				return
			case op := <-e.ops:
				op()
			case s := <-e.queue:
				e.met.waiting.Dec()
				e.head = s
			}
			continue
		}
		select {
		case op := <-e.ops:
			op()
		case <-e.quit:
			e.stop()
			return
		default:
		}
		e.step()
	}
}

func (e *engine) running() int {
	n := 0
	for _, s := range e.slots {
		if s != nil {
			n++
		}
	}
	return n
}

// admit moves queued sequences into free slots, first come first served,
// while their prompt plus token limit fits the KV budget.
func (e *engine) admit() {
	for {
		if e.head == nil {
			select {
			case s := <-e.queue:
				e.met.waiting.Dec()
				e.head = s
			default:
				return
			}
		}
		s := e.head
		if s.ctx.Err() != nil { // the client left while queued
			e.head = nil
			e.reg.release(s.adapter)
			s.events <- event{err: s.ctx.Err()}
			continue
		}
		need := len(s.prompt) + s.maxNew
		b := -1
		for i, x := range e.slots {
			if x == nil {
				b = i
				break
			}
		}
		if b < 0 || e.used+need > e.budget {
			return
		}
		e.head = nil
		e.cache.Alloc(b, need)
		s.slot, s.reserved, s.started = b, need, time.Now()
		s.history = append(make([]int, 0, need), s.prompt...)
		e.used += need
		e.slots[b] = s
		e.met.running.Inc()
		e.met.kvUsage.Set(float64(e.used) / float64(e.budget))
	}
}

// step runs one forward over every running sequence: the sampled token of
// each decoding one, a prompt chunk of each prefilling one (at most two
// chunks per step, so a long prompt cannot stall the decoding rows), each
// row routed to its own adapter.
func (e *engine) step() {
	idx := map[string]int{}
	for i, n := range e.lm.ActiveNames() {
		idx[n] = i
	}
	budget := 2 * generate.PrefillChunk
	e.tokRows, e.active = e.tokRows[:0], e.active[:0]
	for b, s := range e.slots {
		e.rows[b] = nil
		if s == nil {
			continue
		}
		if err := s.ctx.Err(); err != nil {
			e.finish(s, "", err)
			continue
		}
		e.prefill[b] = s.fed < len(s.prompt)
		if e.prefill[b] {
			if budget <= 0 {
				continue
			}
			// The same chunks as generate.Run, so greedy output matches it.
			n := min(generate.PrefillChunk, len(s.prompt)-s.fed)
			e.rows[b] = s.prompt[s.fed : s.fed+n]
			budget -= n
		} else {
			e.rows[b] = []int{s.last}
		}
		k := -1
		if s.adapter != "" {
			k = idx[s.adapter]
		}
		for range e.rows[b] {
			e.tokRows = append(e.tokRows, k)
		}
		e.active = append(e.active, b)
	}
	if len(e.active) == 0 {
		return
	}
	logits, err := e.forward()
	e.met.batch.Observe(float64(len(e.active)))
	now := time.Now()
	for i, b := range e.active {
		s := e.slots[b]
		if err != nil {
			e.finish(s, "", err)
			continue
		}
		if e.prefill[b] {
			s.fed += len(e.rows[b])
			e.met.promptTokens.Add(float64(len(e.rows[b])))
			if s.fed < len(s.prompt) {
				continue
			}
		}
		if e.onLogits != nil {
			e.onLogits(s, logits[i*e.vocab:(i+1)*e.vocab])
		}
		id := s.sampler.Sample(logits[i*e.vocab:(i+1)*e.vocab], s.history)
		s.history = append(s.history, id)
		s.last = id
		s.gen++
		e.met.genTokens.Inc()
		ev := event{}
		if s.gen == 1 {
			ev.ttft = now.Sub(s.queued)
			ev.wait = s.started.Sub(s.queued)
			e.met.ttft.Observe(ev.ttft.Seconds())
		}
		text, done := s.text.Push(id)
		ev.text = text
		switch {
		case done:
			e.send(s, ev)
			e.finish(s, "stop", nil)
		case s.gen >= s.maxNew:
			ev.text += s.text.Flush()
			e.send(s, ev)
			e.finish(s, "length", nil)
		default:
			if ev.text != "" || ev.ttft > 0 {
				e.send(s, ev)
			}
		}
	}
}

// forward runs the step's rows through the model, each token row routed
// to its adapter. A panic (a bug) fails the step's sequences instead of
// taking the server down.
func (e *engine) forward() (logits []float32, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("internal error in the forward step: %v", r)
		}
		e.lm.SetRows(nil)
	}()
	e.lm.SetRows(e.tokRows)
	return e.m.Step(e.cache, e.rows)
}

func (e *engine) send(s *seq, ev event) {
	if ev.text != "" || ev.ttft > 0 {
		s.events <- ev
	}
}

// finish ends s: its KV memory and slot are freed at once, its adapter
// reference dropped, and the final event sent.
func (e *engine) finish(s *seq, reason string, err error) {
	e.cache.Free(s.slot)
	e.slots[s.slot] = nil
	e.used -= s.reserved
	e.met.running.Dec()
	e.met.kvUsage.Set(float64(e.used) / float64(e.budget))
	e.reg.release(s.adapter)
	s.events <- event{finish: reason, err: err, generated: s.gen}
}

// reap unloads adapters that were asked to go and have no requests left.
func (e *engine) reap() {
	for _, name := range e.reg.drained() {
		e.lm.Delete(name)
		e.reg.remove(name)
	}
}

// stop ends whatever is still running or queued (after the HTTP server's
// graceful shutdown there is normally nothing).
func (e *engine) stop() {
	for _, s := range e.slots {
		if s != nil {
			e.finish(s, "", errShutdown)
		}
	}
	if e.head != nil {
		e.reg.release(e.head.adapter)
		e.head.events <- event{err: errShutdown}
	}
	for {
		select {
		case s := <-e.queue:
			e.met.waiting.Dec()
			e.reg.release(s.adapter)
			s.events <- event{err: errShutdown}
		default:
			return
		}
	}
}
