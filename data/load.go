package data

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"fmt"
	"io"
	"os"
	"runtime"
	"sync"
)

// Load reads a JSONL file (gzip-compressed or not: detected from its first
// bytes) and tokenizes every record with tok. See the package doc for the
// record shapes; with a nil tok only {"input_ids"} records can be read (a
// model without a tokenizer), and any other is an error. A malformed line is
// a *LineError unless opts.SkipBad; I/O errors and configuration errors (a
// chat record but no template, a text record but no tokenizer) are returned
// whatever opts.SkipBad says.
//
// Lines are tokenized on opts.Workers goroutines, so tok and opts.Template
// must be safe for concurrent use (the tokenizer package's are) unless
// Workers is 1. The result does not depend on Workers: examples keep file
// order and the error returned is the first in file order.
func Load(path string, tok Encoder, opts Options) (*Dataset, Stats, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, Stats{}, fmt.Errorf("data: %w", err)
	}
	defer f.Close()
	// The path as given, like a compiler's file:line, so two files of the
	// same name in different folders (train.jsonl, valid.jsonl) stay apart.
	return LoadReader(f, path, tok, opts)
}

// LoadReader is Load on a stream; name is used in errors and Dataset.Name.
func LoadReader(r io.Reader, name string, tok Encoder, opts Options) (*Dataset, Stats, error) {
	br := bufio.NewReaderSize(r, 64<<10)
	if magic, _ := br.Peek(2); len(magic) == 2 && magic[0] == 0x1f && magic[1] == 0x8b {
		zr, err := gzip.NewReader(br)
		if err != nil {
			return nil, Stats{}, fmt.Errorf("data: %s: %w", name, err)
		}
		defer zr.Close()
		br = bufio.NewReaderSize(zr, 64<<10)
	}
	if opts.Template == nil {
		t, err := TemplateOf(tok)
		if err != nil {
			return nil, Stats{}, fmt.Errorf("data: %s: %w", name, err)
		}
		opts.Template = t
	}
	c := &collector{name: name, opts: opts, ds: &Dataset{Name: name}}
	lr := &lineReader{r: br}
	enc := newEncoder(tok, opts)
	workers := opts.Workers
	if workers <= 0 {
		workers = runtime.GOMAXPROCS(0)
	}
	var err error
	if workers == 1 {
		err = loadSerial(lr, enc, c)
	} else {
		err = loadParallel(lr, enc, c, workers)
	}
	if err != nil {
		return nil, c.st, err
	}
	return c.ds, c.st, nil
}

// collector applies line results in file order: the one place that decides
// skipping, truncation and the statistics.
type collector struct {
	name string
	opts Options
	ds   *Dataset
	st   Stats
}

func (c *collector) add(r lineResult) error {
	st := &c.st
	st.Lines++
	if r.fatal != "" {
		return &LineError{File: c.name, Line: r.line, Reason: r.fatal}
	}
	if r.reason != "" {
		le := &LineError{File: c.name, Line: r.line, Reason: r.reason}
		if !c.opts.SkipBad {
			return le
		}
		st.Skipped++
		if len(st.SkipErrors) < maxSkipErrors {
			st.SkipErrors = append(st.SkipErrors, le)
		}
		return nil
	}
	if r.straddled {
		st.Straddled++
	}
	ex, max := r.ex, c.opts.MaxSeqLen
	if max > 0 && len(ex.Tokens) > max {
		st.Truncated++
		st.Dropped += len(ex.Tokens) - max
		ex.Tokens = ex.Tokens[:max:max]
		ex.Labels = ex.Labels[:max:max]
	}
	loss := ex.LossTokens()
	if loss == 0 {
		st.NoLoss++
		return nil
	}
	st.Examples++
	st.Kinds[r.kind]++
	st.Tokens += len(ex.Tokens)
	st.LossTokens += loss
	c.ds.Examples = append(c.ds.Examples, ex)
	c.ds.Lines = append(c.ds.Lines, r.line)
	return nil
}

// nextRecord returns the next non-blank line, io.EOF at the end, or a read
// error naming the line.
func (c *collector) nextRecord(lr *lineReader) ([]byte, error) {
	for {
		line, err := lr.next()
		if err == io.EOF {
			return nil, err
		}
		if err != nil {
			return nil, fmt.Errorf("data: %s:%d: %w", c.name, lr.line+1, err)
		}
		if lr.line == 1 {
			line = bytes.TrimPrefix(line, []byte("\xef\xbb\xbf")) // UTF-8 BOM from Windows editors
		}
		if len(bytes.TrimSpace(line)) > 0 {
			return line, nil
		}
	}
}

func loadSerial(lr *lineReader, enc *encoder, c *collector) error {
	for {
		line, err := c.nextRecord(lr)
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		if err := c.add(enc.line(line, lr.line)); err != nil {
			return err
		}
	}
}

// Chunks of lines go to the workers; a chunk is cut at whichever limit comes
// first (variables so that tests can make chunks tiny).
var (
	chunkLines = 256
	chunkBytes = 1 << 20
)

type chunk struct {
	seq     int
	buf     []byte // the lines, back to back
	ends    []int  // end of each line in buf
	lineNos []int
	results []lineResult
	panic   any // a panic of the Encoder or Template, re-raised by the caller
}

// loadParallel reads chunks on one goroutine, tokenizes them on workers, and
// hands them to the collector in order on the caller's goroutine. After an
// error it stops reading and lets the workers drain.
func loadParallel(lr *lineReader, enc *encoder, c *collector, workers int) error {
	jobs := make(chan *chunk, workers)
	done := make(chan *chunk, workers)
	quit := make(chan struct{})
	readerDone := make(chan struct{})
	var readErr error
	maxLines, maxBytes := chunkLines, chunkBytes

	// The reader must have stopped before LoadReader returns: the caller may
	// close the stream (Load does), and the gzip reader is closed on return.
	go func() {
		defer close(readerDone)
		defer close(jobs)
		send := func(ch *chunk) bool {
			select {
			case jobs <- ch:
				return true
			case <-quit:
				return false
			}
		}
		cur := &chunk{}
		for {
			select {
			case <-quit:
				return
			default:
			}
			line, err := c.nextRecord(lr)
			if err != nil {
				if err != io.EOF {
					readErr = err
				}
				break
			}
			cur.buf = append(cur.buf, line...)
			cur.ends = append(cur.ends, len(cur.buf))
			cur.lineNos = append(cur.lineNos, lr.line)
			if len(cur.ends) >= maxLines || len(cur.buf) >= maxBytes {
				if !send(cur) {
					return
				}
				cur = &chunk{seq: cur.seq + 1}
			}
		}
		if len(cur.ends) > 0 {
			send(cur)
		}
	}()

	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				var ch *chunk
				select {
				case ch = <-jobs:
				case <-quit:
					return
				}
				if ch == nil {
					return
				}
				tokenizeChunk(enc, ch)
				select {
				case done <- ch:
				case <-quit:
					return
				}
			}
		}()
	}
	go func() { wg.Wait(); close(done) }()

	var err error
	var panicked any
	pending := map[int]*chunk{}
	next := 0
	for ch := range done {
		if err != nil || panicked != nil {
			continue // draining after a stop
		}
		pending[ch.seq] = ch
		for p := pending[next]; p != nil; p = pending[next] {
			delete(pending, next)
			next++
			for _, r := range p.results {
				if err = c.add(r); err != nil {
					break
				}
			}
			if err == nil && p.panic != nil {
				panicked = p.panic
			}
			if err != nil || panicked != nil {
				close(quit)
				break
			}
		}
	}
	<-readerDone
	if panicked != nil {
		panic(panicked)
	}
	if err != nil {
		return err
	}
	return readErr
}

// tokenizeChunk fills ch.results; a panic stops the chunk where it happened,
// so the lines before it still count, as they would have serially.
func tokenizeChunk(enc *encoder, ch *chunk) {
	defer func() {
		if p := recover(); p != nil {
			ch.panic = p
		}
	}()
	start := 0
	for i, end := range ch.ends {
		ch.results = append(ch.results, enc.line(ch.buf[start:end], ch.lineNos[i]))
		start = end
	}
}
