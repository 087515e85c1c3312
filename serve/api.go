package serve

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/golora/golora/generate"
	"github.com/golora/golora/tokenizer"
)

// apiError is OpenAI's error body.
type apiError struct {
	Error struct {
		Message string `json:"message"`
		Type    string `json:"type"`
		Param   any    `json:"param"`
		Code    any    `json:"code"`
	} `json:"error"`
}

func errorBody(typ, code, msg string) apiError {
	var e apiError
	e.Error.Message, e.Error.Type = msg, typ
	if code != "" {
		e.Error.Code = code
	}
	return e
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}

func writeError(w http.ResponseWriter, status int, typ, code, msg string) {
	writeJSON(w, status, errorBody(typ, code, msg))
}

// httpError is an error with the status and OpenAI type it maps to.
type httpError struct {
	status    int
	typ, code string
	msg       string
}

func (e *httpError) Error() string { return e.msg }

func badRequest(code, format string, args ...any) *httpError {
	return &httpError{http.StatusBadRequest, "invalid_request_error", code, fmt.Sprintf(format, args...)}
}

func (s *Server) auth(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if s.opt.APIKey != "" {
			got, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
			if !ok || subtle.ConstantTimeCompare([]byte(got), []byte(s.opt.APIKey)) != 1 {
				s.met.requests.WithLabelValues(r.URL.Path, "401").Inc()
				writeError(w, http.StatusUnauthorized, "authentication_error", "invalid_api_key", "invalid or missing API key (send Authorization: Bearer KEY)")
				return
			}
		}
		r.Body = http.MaxBytesReader(w, r.Body, s.opt.MaxBody)
		h(w, r)
	}
}

// decode reads a JSON body, mapping an oversized body to 413.
func decode(r *http.Request, v any) *httpError {
	if err := json.NewDecoder(r.Body).Decode(v); err != nil {
		var mb *http.MaxBytesError
		if errors.As(err, &mb) {
			return &httpError{http.StatusRequestEntityTooLarge, "invalid_request_error", "request_too_large", fmt.Sprintf("request body exceeds %d bytes", mb.Limit)}
		}
		return badRequest("invalid_json", "invalid JSON body: %v", err)
	}
	return nil
}

func (s *Server) health(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, map[string]any{"status": "ok"})
}

type modelObject struct {
	ID      string `json:"id"`
	Object  string `json:"object"`
	Created int64  `json:"created"`
	OwnedBy string `json:"owned_by"`
	Root    string `json:"root"`
	Parent  any    `json:"parent"`
}

func (s *Server) models(w http.ResponseWriter, r *http.Request) {
	var data []modelObject
	for _, m := range s.reg.list() {
		o := modelObject{ID: m.name, Object: "model", Created: m.created, OwnedBy: "golora", Root: m.name}
		if m.dir != "" {
			o.Root, o.Parent = m.dir, s.opt.BaseName
		}
		data = append(data, o)
	}
	s.met.requests.WithLabelValues("/v1/models", "200").Inc()
	writeJSON(w, http.StatusOK, map[string]any{"object": "list", "data": data})
}

// params are the sampling fields common to both endpoints.
type params struct {
	Model         string          `json:"model"`
	MaxTokens     *int            `json:"max_tokens"`
	Temperature   *float64        `json:"temperature"`
	TopP          *float64        `json:"top_p"`
	Seed          *int64          `json:"seed"`
	Stop          json.RawMessage `json:"stop"`
	N             *int            `json:"n"`
	Stream        bool            `json:"stream"`
	IgnoreEOS     bool            `json:"ignore_eos"` // vLLM's extension, for benchmarks
	StreamOptions *struct {
		IncludeUsage bool `json:"include_usage"`
	} `json:"stream_options"`
}

type completionRequest struct {
	params
	Prompt json.RawMessage `json:"prompt"`
}

type chatRequest struct {
	params
	MaxCompletionTokens *int          `json:"max_completion_tokens"`
	Messages            []chatMessage `json:"messages"`
}

type chatMessage struct {
	Role    string          `json:"role"`
	Content json.RawMessage `json:"content"`
}

// job is one validated request: its prompts and settings.
type job struct {
	kind     string // "text_completion" or "chat.completion"
	endpoint string
	p        params
	prompts  [][]int
	maxNew   int
	explicit bool // max_tokens was given
	eos      []int
	stops    []string
}

func (s *Server) completions(w http.ResponseWriter, r *http.Request) {
	var req completionRequest
	if e := decode(r, &req); e != nil {
		s.fail(w, r, "/v1/completions", e)
		return
	}
	j := &job{kind: "text_completion", endpoint: "/v1/completions", p: req.params, eos: s.opt.EOS}
	prompts, e := s.parsePrompt(req.Prompt)
	if e != nil {
		s.fail(w, r, j.endpoint, e)
		return
	}
	j.prompts, j.maxNew = prompts, 16 // OpenAI's default for completions
	s.run(w, r, j)
}

func (s *Server) chatCompletions(w http.ResponseWriter, r *http.Request) {
	var req chatRequest
	if e := decode(r, &req); e != nil {
		s.fail(w, r, "/v1/chat/completions", e)
		return
	}
	j := &job{kind: "chat.completion", endpoint: "/v1/chat/completions", p: req.params}
	if req.MaxCompletionTokens != nil {
		j.p.MaxTokens = req.MaxCompletionTokens
	}
	if len(req.Messages) == 0 {
		s.fail(w, r, j.endpoint, badRequest("invalid_messages", `"messages" must hold at least one message`))
		return
	}
	var msgs []tokenizer.Message
	for i, m := range req.Messages {
		role := m.Role
		switch role {
		case "developer":
			role = "system"
		case "system", "user", "assistant":
		default:
			s.fail(w, r, j.endpoint, badRequest("invalid_role", "messages[%d]: unknown role %q (system, developer, user, assistant)", i, m.Role))
			return
		}
		text, err := contentText(m.Content)
		if err != nil {
			s.fail(w, r, j.endpoint, badRequest("invalid_content", "messages[%d].content: %v", i, err))
			return
		}
		msgs = append(msgs, tokenizer.Message{Role: role, Content: text})
	}
	ids, err := generate.ChatPrompt(s.opt.Tokenizer, msgs)
	if err != nil {
		s.fail(w, r, j.endpoint, badRequest("invalid_messages", "%v", err))
		return
	}
	eotIDs, eotStops := generate.ChatStops(s.opt.Tokenizer)
	j.eos = append(append([]int(nil), s.opt.EOS...), eotIDs...)
	j.stops = eotStops
	j.prompts, j.maxNew = [][]int{ids}, 0 // 0: up to the context
	s.run(w, r, j)
}

// contentText accepts a message's content as a string, null, or an array
// of {"type": "text", "text": ...} parts.
func contentText(raw json.RawMessage) (string, error) {
	if len(raw) == 0 || string(raw) == "null" {
		return "", nil
	}
	var str string
	if json.Unmarshal(raw, &str) == nil {
		return str, nil
	}
	var parts []struct {
		Type string `json:"type"`
		Text string `json:"text"`
	}
	if err := json.Unmarshal(raw, &parts); err != nil {
		return "", errors.New("must be a string or an array of text parts")
	}
	var b strings.Builder
	for _, p := range parts {
		if p.Type != "text" {
			return "", fmt.Errorf("content part type %q is not supported (text only)", p.Type)
		}
		b.WriteString(p.Text)
	}
	return b.String(), nil
}

// parsePrompt accepts a string, an array of strings, an array of token
// ids, or an array of such arrays.
func (s *Server) parsePrompt(raw json.RawMessage) ([][]int, *httpError) {
	bad := badRequest("invalid_prompt", `"prompt" must be a string, an array of strings, an array of token ids or an array of those`)
	if len(raw) == 0 || string(raw) == "null" {
		return nil, badRequest("invalid_prompt", `"prompt" is required`)
	}
	var str string
	if json.Unmarshal(raw, &str) == nil {
		return [][]int{generate.TextPrompt(s.opt.Tokenizer, str)}, nil
	}
	var strs []string
	if json.Unmarshal(raw, &strs) == nil && len(strs) > 0 {
		var out [][]int
		for _, x := range strs {
			out = append(out, generate.TextPrompt(s.opt.Tokenizer, x))
		}
		return out, nil
	}
	var ids []int
	if json.Unmarshal(raw, &ids) == nil && len(ids) > 0 {
		return [][]int{ids}, nil
	}
	var idss [][]int
	if json.Unmarshal(raw, &idss) == nil && len(idss) > 0 {
		return idss, nil
	}
	return nil, bad
}

// fail writes an error response and logs it.
func (s *Server) fail(w http.ResponseWriter, r *http.Request, endpoint string, e *httpError) {
	s.met.requests.WithLabelValues(endpoint, fmt.Sprint(e.status)).Inc()
	if e.status == http.StatusTooManyRequests || e.status == http.StatusServiceUnavailable {
		w.Header().Set("Retry-After", "1")
	}
	writeError(w, e.status, e.typ, e.code, e.msg)
	s.logf("%s %s status=%d error=%q", r.Method, endpoint, e.status, e.msg)
}

func (s *Server) logf(format string, args ...any) {
	if s.log != nil {
		s.log.Printf(format, args...)
	}
}

// validate checks the sampling fields and fills in the token limit.
func (s *Server) validate(j *job) *httpError {
	p := &j.p
	if p.MaxTokens != nil {
		if *p.MaxTokens < 1 {
			return badRequest("invalid_max_tokens", "max_tokens must be at least 1, got %d", *p.MaxTokens)
		}
		j.maxNew, j.explicit = *p.MaxTokens, true
	}
	if p.N != nil && (*p.N < 1 || *p.N > 16) {
		return badRequest("invalid_n", "n must be between 1 and 16, got %d", *p.N)
	}
	if t := p.Temperature; t != nil && !(*t >= 0 && *t <= 2) {
		return badRequest("invalid_temperature", "temperature must be between 0 and 2, got %g", *t)
	}
	if t := p.TopP; t != nil && !(*t >= 0 && *t <= 1) {
		return badRequest("invalid_top_p", "top_p must be between 0 and 1, got %g", *t)
	}
	if p.IgnoreEOS {
		j.eos = nil
	}
	if len(p.Stop) > 0 && string(p.Stop) != "null" {
		var one string
		var many []string
		switch {
		case json.Unmarshal(p.Stop, &one) == nil:
			j.stops = append(j.stops, one)
		case json.Unmarshal(p.Stop, &many) == nil && len(many) <= 4:
			j.stops = append(j.stops, many...)
		default:
			return badRequest("invalid_stop", "stop must be a string or an array of at most 4 strings")
		}
	}
	V := s.m.Config().VocabSize
	for _, pr := range j.prompts {
		if len(pr) == 0 {
			return badRequest("invalid_prompt", "the prompt is empty")
		}
		for _, id := range pr {
			if id < 0 || id >= V {
				return badRequest("invalid_prompt", "token id %d outside the vocabulary [0, %d)", id, V)
			}
		}
		room := s.opt.Ctx - len(pr)
		if room < 1 || j.explicit && j.maxNew > room {
			return badRequest("context_length_exceeded", "this model's context is %d tokens; the prompt has %d and max_tokens asks for %d more", s.opt.Ctx, len(pr), j.maxNew)
		}
	}
	return nil
}

// choice is one sequence's accumulated output.
type choice struct {
	text   strings.Builder
	finish string
	gen    int
}

type tagged struct {
	i  int
	ev event
}

// run validates j, queues its sequences and answers, streaming or not.
func (s *Server) run(w http.ResponseWriter, r *http.Request, j *job) {
	start := time.Now()
	rid := s.ids.Add(1)
	id := fmt.Sprintf("cmpl-%d", rid)
	if j.kind == "chat.completion" {
		id = fmt.Sprintf("chatcmpl-%d", rid)
	}
	if e := s.validate(j); e != nil {
		s.fail(w, r, j.endpoint, e)
		return
	}
	name := j.p.Model
	if name == "" {
		name = s.opt.BaseName
	}
	n := 1
	if j.p.N != nil {
		n = *j.p.N
	}
	temp, topP := 1.0, 1.0
	if j.p.Temperature != nil {
		temp = *j.p.Temperature
	}
	if j.p.TopP != nil {
		topP = *j.p.TopP
		if topP == 0 { // only the most likely token
			temp = 0
		}
	}
	seed := uint64(time.Now().UnixNano()) ^ uint64(rid)<<32
	if j.p.Seed != nil {
		seed = uint64(*j.p.Seed)
	}
	ctx, cancel := context.WithCancel(r.Context())
	defer cancel()
	var seqs []*seq
	promptTokens := 0
	for _, pr := range j.prompts {
		promptTokens += len(pr)
		maxNew := j.maxNew
		if maxNew == 0 || maxNew > s.opt.Ctx-len(pr) {
			maxNew = s.opt.Ctx - len(pr)
		}
		for range n {
			adapter, ok := s.reg.acquire(name)
			if !ok {
				for _, q := range seqs {
					s.reg.release(q.adapter)
				}
				s.fail(w, r, j.endpoint, &httpError{http.StatusNotFound, "not_found_error", "model_not_found", fmt.Sprintf("the model %q does not exist", name)})
				return
			}
			seqs = append(seqs, &seq{
				ctx: ctx, adapter: adapter, prompt: pr, maxNew: maxNew,
				sampler: generate.NewSampler(temp, 0, topP, 1, seed+uint64(len(seqs))),
				text:    generate.NewText(s.opt.Tokenizer, pr, j.eos, j.stops),
				events:  make(chan event, maxNew+2),
				queued:  start,
			})
		}
	}
	for i, q := range seqs {
		if !s.eng.submit(q) {
			for _, rest := range seqs[i:] {
				s.reg.release(rest.adapter)
			}
			cancel() // the queued ones are dropped when the engine reaches them
			s.fail(w, r, j.endpoint, &httpError{http.StatusTooManyRequests, "rate_limit_error", "queue_full", "the server's queue is full; retry later"})
			return
		}
	}
	// Fan the sequences' events into one channel.
	out := make(chan tagged)
	for i, q := range seqs {
		go func() {
			for {
				select {
				case ev := <-q.events:
					select {
					case out <- tagged{i, ev}:
					case <-ctx.Done():
						return
					}
					if ev.finish != "" || ev.err != nil {
						return
					}
				case <-ctx.Done():
					return
				}
			}
		}()
	}
	created := time.Now().Unix()
	choices := make([]choice, len(seqs))
	st := &stream{w: w, id: id, created: created, model: name, kind: j.kind}
	if j.p.Stream {
		st.start()
		if j.kind == "chat.completion" {
			for i := range seqs {
				st.chatDelta(i, map[string]any{"role": "assistant", "content": ""}, nil)
			}
		}
	}
	var wait time.Duration
	var failure error
	left := len(seqs)
	for left > 0 {
		var t tagged
		select {
		case t = <-out:
		case <-ctx.Done():
			s.met.requests.WithLabelValues(j.endpoint, "499").Inc()
			s.logf("%s model=%s in=%d out=%d wait=%s time=%s status=499 (client closed the request)", id, name, promptTokens, generated(choices), wait, time.Since(start).Round(time.Millisecond))
			return
		}
		c := &choices[t.i]
		if t.ev.wait > 0 && wait == 0 {
			wait = t.ev.wait
		}
		if t.ev.err != nil {
			failure = t.ev.err
			left--
			continue
		}
		c.text.WriteString(t.ev.text)
		// The first token always gets a chunk, even when its text is held
		// back (part of a character or of a stop string), so clients see
		// the time to first token.
		if j.p.Stream && (t.ev.text != "" || t.ev.ttft > 0) {
			st.text(t.i, t.ev.text, nil)
		}
		if t.ev.finish != "" {
			c.finish, c.gen = t.ev.finish, t.ev.generated
			if j.p.Stream {
				st.text(t.i, "", &c.finish)
			}
			left--
		}
	}
	gen := generated(choices)
	usage := map[string]int{"prompt_tokens": promptTokens, "completion_tokens": gen, "total_tokens": promptTokens + gen}
	status := http.StatusOK
	if failure != nil {
		status = http.StatusInternalServerError
		typ := "server_error"
		if errors.Is(failure, errShutdown) {
			status, typ = http.StatusServiceUnavailable, "unavailable_error"
		}
		if j.p.Stream {
			st.event(errorBody(typ, "", failure.Error()))
		} else {
			writeError(w, status, typ, "", failure.Error())
		}
	} else if j.p.Stream {
		if j.p.StreamOptions != nil && j.p.StreamOptions.IncludeUsage {
			st.event(map[string]any{"id": id, "object": st.chunkObject(), "created": created, "model": name, "choices": []any{}, "usage": usage})
		}
	} else {
		var cs []any
		for i := range choices {
			c := &choices[i]
			if j.kind == "chat.completion" {
				cs = append(cs, map[string]any{"index": i, "message": map[string]any{"role": "assistant", "content": c.text.String()}, "logprobs": nil, "finish_reason": c.finish})
			} else {
				cs = append(cs, map[string]any{"index": i, "text": c.text.String(), "logprobs": nil, "finish_reason": c.finish})
			}
		}
		writeJSON(w, http.StatusOK, map[string]any{"id": id, "object": j.kind, "created": created, "model": name, "choices": cs, "usage": usage})
	}
	if j.p.Stream {
		st.done()
	}
	s.met.requests.WithLabelValues(j.endpoint, fmt.Sprint(status)).Inc()
	s.met.latency.Observe(time.Since(start).Seconds())
	s.logf("%s model=%s in=%d out=%d wait=%s time=%s status=%d", id, name, promptTokens, gen, wait.Round(time.Microsecond), time.Since(start).Round(time.Millisecond), status)
}

func generated(cs []choice) int {
	n := 0
	for i := range cs {
		n += cs[i].gen
	}
	return n
}

// stream writes server-sent events, flushing each one.
type stream struct {
	w       http.ResponseWriter
	id      string
	created int64
	model   string
	kind    string
}

func (st *stream) start() {
	h := st.w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-cache")
	h.Set("Connection", "keep-alive")
	st.w.WriteHeader(http.StatusOK)
}

func (st *stream) chunkObject() string {
	if st.kind == "chat.completion" {
		return "chat.completion.chunk"
	}
	return "text_completion"
}

func (st *stream) event(v any) {
	b, _ := json.Marshal(v)
	fmt.Fprintf(st.w, "data: %s\n\n", b)
	if f, ok := st.w.(http.Flusher); ok {
		f.Flush()
	}
}

// text sends one choice's new text, or its finish reason with no text.
func (st *stream) text(i int, text string, finish *string) {
	if st.kind == "chat.completion" {
		delta := map[string]any{}
		if finish == nil {
			delta["content"] = text
		}
		st.chatDelta(i, delta, finish)
		return
	}
	st.event(map[string]any{"id": st.id, "object": "text_completion", "created": st.created, "model": st.model,
		"choices": []any{map[string]any{"index": i, "text": text, "logprobs": nil, "finish_reason": finish}}, "usage": nil})
}

func (st *stream) chatDelta(i int, delta map[string]any, finish *string) {
	st.event(map[string]any{"id": st.id, "object": "chat.completion.chunk", "created": st.created, "model": st.model,
		"choices": []any{map[string]any{"index": i, "delta": delta, "logprobs": nil, "finish_reason": finish}}, "usage": nil})
}

func (st *stream) done() {
	fmt.Fprint(st.w, "data: [DONE]\n\n")
	if f, ok := st.w.(http.Flusher); ok {
		f.Flush()
	}
}

type loadRequest struct {
	Name string `json:"name"`
	Path string `json:"path"`
}

func (s *Server) loadAdapter(w http.ResponseWriter, r *http.Request) {
	const ep = "/v1/adapters"
	var req loadRequest
	if e := decode(r, &req); e != nil {
		s.fail(w, r, ep, e)
		return
	}
	if !validName.MatchString(req.Name) || req.Name == s.opt.BaseName {
		s.fail(w, r, ep, badRequest("invalid_name", `"name" %q: use 1-128 letters, digits, '.', '_' or '-' (not the base model's name)`, req.Name))
		return
	}
	dir, err := confine(s.opt.AdapterDir, req.Path)
	if err != nil {
		if errors.Is(err, errNotFound) {
			s.fail(w, r, ep, &httpError{http.StatusNotFound, "not_found_error", "adapter_not_found", err.Error()})
		} else {
			s.fail(w, r, ep, &httpError{http.StatusForbidden, "permission_error", "path_not_allowed", err.Error()})
		}
		return
	}
	var lerr error
	conflict := false
	if err := s.eng.do(r.Context(), func() {
		if s.reg.has(req.Name) {
			conflict = true
			return
		}
		if lerr = loadAdapter(s.lm, req.Name, dir); lerr == nil {
			s.reg.add(req.Name, dir)
		}
	}); err != nil {
		s.fail(w, r, ep, &httpError{http.StatusServiceUnavailable, "unavailable_error", "", err.Error()})
		return
	}
	switch {
	case conflict:
		s.fail(w, r, ep, &httpError{http.StatusConflict, "invalid_request_error", "adapter_exists", fmt.Sprintf("a model named %q is already loaded; unload it first", req.Name)})
	case lerr != nil:
		s.fail(w, r, ep, badRequest("invalid_adapter", "%v", lerr))
	default:
		s.met.requests.WithLabelValues(ep, "200").Inc()
		s.logf("loaded adapter %s from %s", req.Name, dir)
		writeJSON(w, http.StatusOK, map[string]any{"id": req.Name, "object": "model", "created": time.Now().Unix(), "owned_by": "golora", "root": dir, "parent": s.opt.BaseName})
	}
}

func (s *Server) unloadAdapter(w http.ResponseWriter, r *http.Request) {
	const ep = "/v1/adapters"
	name := r.PathValue("name")
	gone := s.reg.drain(name)
	if gone == nil {
		s.fail(w, r, ep, &httpError{http.StatusNotFound, "not_found_error", "model_not_found", fmt.Sprintf("no adapter %q is loaded", name)})
		return
	}
	// Wake the engine so an idle server unloads at once, then wait for the
	// adapter's running requests to finish.
	if err := s.eng.do(r.Context(), func() {}); err == nil {
		select {
		case <-gone:
		case <-r.Context().Done():
			return
		}
	}
	s.met.requests.WithLabelValues(ep, "200").Inc()
	s.logf("unloaded adapter %s", name)
	writeJSON(w, http.StatusOK, map[string]any{"id": name, "object": "model", "deleted": true})
}
