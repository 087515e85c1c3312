package data

import "fmt"

// encoder tokenizes parsed records and builds their loss masks.
type encoder struct {
	tok      Encoder
	opts     Options
	vocab    int // 0 when the Encoder does not say
	bos, eos int // added around text and prompt/completion records; -1: none
	// rendered encodes chat template output: special-token strings there are
	// the template's own markers, while in user text they are plain text.
	rendered func(string) []int
}

func newEncoder(tok Encoder, opts Options) *encoder {
	e := &encoder{tok: tok, opts: opts, bos: -1, eos: -1, vocab: opts.VocabSize}
	if tok == nil { // input_ids records only (record refuses the others)
		return e
	}
	e.rendered = tok.Encode
	if v, ok := tok.(interface{ VocabSize() int }); ok && v.VocabSize() > 0 && (e.vocab == 0 || v.VocabSize() < e.vocab) {
		e.vocab = v.VocabSize()
	}
	if s, ok := tok.(interface{ EncodeWithSpecial(string) []int }); ok {
		e.rendered = s.EncodeWithSpecial
	}
	if !opts.NoBOS {
		e.bos = tok.BOS()
		if a, ok := tok.(interface{ AddBOS() bool }); ok && !a.AddBOS() {
			e.bos = -1 // GPT-2, Qwen: the model was not trained with a BOS
		}
	}
	if !opts.NoEOS {
		e.eos = tok.EOS()
	}
	return e
}

// lineResult is one line's outcome. reason is a per-line problem
// (skippable); fatal is one that every line would hit (configuration), never
// skipped.
type lineResult struct {
	line          int
	ex            Example
	kind          Kind
	reason, fatal string
	straddled     bool
}

// line parses and tokenizes one line. It may run on several goroutines at
// once, so it only reads e.
func (e *encoder) line(line []byte, n int) lineResult {
	r := e.record(line)
	r.line = n
	return r
}

func (e *encoder) record(line []byte) (r lineResult) {
	rec, reason := parseRecord(line)
	if reason != "" {
		return lineResult{kind: rec.kind, reason: reason}
	}
	if e.tok == nil && rec.kind != KindTokens {
		return lineResult{kind: rec.kind, fatal: fmt.Sprintf(`a %s record needs a tokenizer and there is none: without one only pre-tokenized {"input_ids"} records can be read (give --tokenizer)`, rec.kind)}
	}
	var ex Example
	var straddled bool
	switch rec.kind {
	case KindText:
		ex = e.wrap(e.tok.Encode(rec.text), 0)
	case KindPromptCompletion:
		text := rec.prompt + rec.completion
		var ids, at []int
		ids, at, straddled = e.spans(e.tok.Encode, text, []int{len(rec.prompt), len(text)})
		ex = e.wrap(ids, at[0]) // at[1] is len(ids): the completion ends the text
	case KindChat:
		if e.opts.Template == nil {
			return lineResult{kind: rec.kind, fatal: `chat record ("messages") but no chat template: Options.Template is nil and the Encoder is not a tokenizer.Full`}
		}
		ex, straddled, reason = e.chat(rec.messages, rec.completionAt-1)
	case KindTokens:
		ex, reason = e.pretokenized(rec.ids, rec.labels)
	}
	return lineResult{ex: ex, kind: rec.kind, reason: reason, straddled: straddled && reason == ""}
}

// wrap builds BOS + ids + EOS with the loss on ids[from:] and EOS; ids[:from]
// is the prompt, which carries loss only with TrainOnAll.
func (e *encoder) wrap(ids []int, from int) Example {
	bos, eos := e.bos, e.eos
	n := len(ids)
	if bos >= 0 {
		n++
	}
	if eos >= 0 {
		n++
	}
	toks := make([]int, 0, n)
	labels := make([]int, 0, n)
	if bos >= 0 {
		toks = append(toks, bos)
		labels = append(labels, IgnoreIndex) // nothing precedes BOS, so nothing predicts it
	}
	toks = append(toks, ids...)
	labels = append(labels, ids...)
	if !e.opts.TrainOnAll {
		p := labels[len(labels)-len(ids):]
		for i := range p[:from] {
			p[i] = IgnoreIndex
		}
	}
	if eos >= 0 {
		toks = append(toks, eos)
		labels = append(labels, eos)
	}
	return Example{Tokens: toks, Labels: labels}
}

// pretokenized checks ids and labels against the vocabulary; labels default
// to the ids (and are replaced by them with TrainOnAll).
func (e *encoder) pretokenized(ids, labels []int) (Example, string) {
	vocab := "a token id (>= 0)"
	if e.vocab > 0 {
		vocab = fmt.Sprintf("in the vocabulary [0, %d)", e.vocab)
	}
	for j, id := range ids {
		if id < 0 || (e.vocab > 0 && id >= e.vocab) {
			return Example{}, fmt.Sprintf(`"input_ids"[%d] = %d is not %s`, j, id, vocab)
		}
	}
	for j, l := range labels {
		if l != IgnoreIndex && (l < 0 || (e.vocab > 0 && l >= e.vocab)) {
			return Example{}, fmt.Sprintf(`"labels"[%d] = %d is neither %d nor %s`, j, l, IgnoreIndex, vocab)
		}
	}
	if labels == nil || e.opts.TrainOnAll {
		labels = append([]int(nil), ids...)
	}
	return Example{Tokens: ids, Labels: labels}, ""
}

// chat renders the conversation and puts the loss on the assistant turns.
//
// The assistant spans are found in characters with the usual prefix trick:
// turn i spans from the end of render(messages[:i], generation prompt) to the
// end of render(messages[:i+1]), so it covers the content and the template's
// end-of-turn marker but not the "assistant" header. spans maps them to tokens.
//
// With completion >= 0 (a conversational prompt/completion record) the loss
// is instead on everything after render(messages[:completion], generation
// prompt when the completion opens with an assistant turn).
func (e *encoder) chat(msgs []Message, completion int) (ex Example, straddled bool, reason string) {
	tmpl := e.opts.Template
	full, err := tmpl.Render(msgs, false)
	if err != nil {
		return Example{}, false, "chat template: " + err.Error()
	}
	if e.opts.TrainOnAll {
		ids := e.rendered(full)
		return Example{Tokens: ids, Labels: append([]int(nil), ids...)}, false, ""
	}
	var bounds []int // character offsets: start0, end0, start1, end1, ...
	if completion >= 0 {
		p, err := tmpl.Render(msgs[:completion], msgs[completion].Role == "assistant")
		if err != nil {
			return Example{}, false, "chat template: " + err.Error()
		}
		if len(full) <= len(p) || full[:len(p)] != p {
			return Example{}, false, `chat template output is not prefix-stable at the start of "completion", so the completion cannot be located; train with TrainOnAll or another template`
		}
		bounds = []int{len(p), len(full)}
	}
	prevEnd := 0
	for i, m := range msgs {
		if completion >= 0 || m.Role != "assistant" {
			continue
		}
		p, err := tmpl.Render(msgs[:i], true)
		if err != nil {
			return Example{}, false, "chat template: " + err.Error()
		}
		q, err := tmpl.Render(msgs[:i+1], false)
		if err != nil {
			return Example{}, false, "chat template: " + err.Error()
		}
		if len(p) < prevEnd || len(q) < len(p) || q[:len(p)] != p || len(full) < len(q) || full[:len(q)] != q {
			return Example{}, false, fmt.Sprintf(`chat template output is not prefix-stable at "messages"[%d], so the assistant turn cannot be located (the template rewrites earlier turns); train with TrainOnAll or another template`, i)
		}
		if len(q) > len(p) {
			bounds = append(bounds, len(p), len(q))
		}
		prevEnd = len(q)
	}
	if len(bounds) == 0 {
		return Example{}, false, `"messages" has no non-empty "assistant" turn, so no token would carry loss`
	}
	ids, at, straddled := e.spans(e.rendered, full, bounds)
	labels := make([]int, len(ids))
	for t := range labels {
		labels[t] = IgnoreIndex
	}
	for j := 0; j < len(at); j += 2 {
		copy(labels[at[j]:at[j+1]], ids[at[j]:at[j+1]])
	}
	return Example{Tokens: ids, Labels: labels}, straddled, ""
}

// spans tokenizes text whole and maps the character bounds of its loss spans
// (ascending start, end pairs) to token indices at.
//
// A bound b is located by tokenizing text[:b]: when those tokens are a prefix
// of the whole text's, b falls between two tokens and its index is exact. When
// the tokenizer merged across b (straddled), the token holding b starts at the
// length k of the common prefix, and it is put inside the span: a token
// carries loss if any of its characters do. The whole-text tokenization is kept
// either way, because it is what the model sees, and tokenizing the pieces
// apart would change it (SentencePiece's dummy prefix, merges).
func (e *encoder) spans(encode func(string) []int, text string, bounds []int) (ids, at []int, straddled bool) {
	ids = encode(text)
	at = make([]int, len(bounds))
	for j, b := range bounds {
		switch {
		case b <= 0:
			at[j] = 0
		case b >= len(text):
			at[j] = len(ids)
		default:
			pre := encode(text[:b])
			k := 0
			for k < len(pre) && k < len(ids) && pre[k] == ids[k] {
				k++
			}
			at[j] = k
			if k < len(pre) {
				straddled = true
				if j%2 == 1 {
					at[j] = min(k+1, len(ids)) // an end: include the token holding b
				}
			}
		}
		if j > 0 && at[j] < at[j-1] {
			at[j] = at[j-1]
		}
	}
	return ids, at, straddled
}
