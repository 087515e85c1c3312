package data

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"
	"unicode/utf8"
)

// lineReader yields lines of any length: bufio.Scanner stops at 64 KiB by
// default, and long chat records exceed that.
type lineReader struct {
	r    *bufio.Reader
	buf  []byte
	line int // 1-based number of the line last returned
}

// next returns the next line without its terminator handling (json ignores
// "\r\n"); the slice is valid until the following call.
func (lr *lineReader) next() ([]byte, error) {
	lr.buf = lr.buf[:0]
	for {
		chunk, err := lr.r.ReadSlice('\n')
		if err == bufio.ErrBufferFull {
			lr.buf = append(lr.buf, chunk...)
			continue
		}
		if len(lr.buf) > 0 {
			lr.buf = append(lr.buf, chunk...)
			chunk = lr.buf
		}
		if err == io.EOF && len(chunk) > 0 {
			err = nil
		}
		if err != nil {
			return nil, err
		}
		lr.line++
		return chunk, nil
	}
}

// record is one parsed line before tokenization.
type record struct {
	kind               Kind
	text               string
	prompt, completion string
	messages           []Message
	// completionAt > 0: a conversational prompt/completion record (TRL);
	// messages[completionAt-1:] is the completion, which carries the loss.
	completionAt int
	ids, labels  []int
}

// jsonType names the JSON type of a raw value for error messages.
func jsonType(raw json.RawMessage) string {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 {
		return "empty"
	}
	switch raw[0] {
	case '"':
		return "a string"
	case '{':
		return "an object"
	case '[':
		return "an array"
	case 't', 'f':
		return "a boolean"
	case 'n':
		return "null"
	}
	return "a number"
}

// str decodes a JSON string; what names the value in the reason.
func str(raw json.RawMessage, what string) (string, string) {
	if t := jsonType(raw); t != "a string" {
		return "", fmt.Sprintf("%s is %s, not a string", what, t)
	}
	raw = bytes.TrimSpace(raw)
	if inner := raw[1 : len(raw)-1]; bytes.IndexByte(inner, '\\') < 0 && utf8.Valid(inner) {
		return string(inner), "" // no escapes: the common case, without a second scan
	}
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		return "", fmt.Sprintf("%s: %v", what, err)
	}
	return s, ""
}

// content decodes a message's content: a string, or OpenAI-style parts
// [{"type": "text", "text": "..."}] which are concatenated.
func content(raw json.RawMessage, what string) (string, string) {
	if jsonType(raw) != "an array" {
		return str(raw, what)
	}
	var parts []map[string]json.RawMessage
	if err := json.Unmarshal(raw, &parts); err != nil {
		return "", fmt.Sprintf("%s is neither a string nor an array of {\"type\": \"text\", \"text\": ...} parts", what)
	}
	var b strings.Builder
	for j, p := range parts {
		pw := fmt.Sprintf("%s[%d]", what, j)
		if t, ok := p["type"]; ok {
			if ts, r := str(t, pw+" \"type\""); r != "" {
				return "", r
			} else if ts != "text" {
				return "", fmt.Sprintf("%s has type %q; only text parts can be trained on", pw, ts)
			}
		}
		t, ok := p["text"]
		if !ok {
			return "", pw + " has no \"text\""
		}
		s, r := str(t, pw+" \"text\"")
		if r != "" {
			return "", r
		}
		b.WriteString(s)
	}
	return b.String(), ""
}

// ints decodes an array of integers, naming the first bad element.
func ints(raw json.RawMessage, what string) ([]int, string) {
	if t := jsonType(raw); t != "an array" {
		return nil, fmt.Sprintf("%s is %s, not an array of integers", what, t)
	}
	if v, ok := fastInts(raw); ok {
		return v, ""
	}
	var v []int
	if err := json.Unmarshal(raw, &v); err == nil {
		return v, ""
	}
	var elems []json.RawMessage
	if err := json.Unmarshal(raw, &elems); err != nil {
		return nil, fmt.Sprintf("%s: %v", what, err)
	}
	for j, el := range elems {
		var x int
		if err := json.Unmarshal(el, &x); err != nil {
			return nil, fmt.Sprintf("%s[%d] is %s, not an integer", what, j, strings.TrimSpace(string(el)))
		}
	}
	return nil, what + " is not an array of integers"
}

// fastInts parses an array of plain integers (digits, optional minus, at
// most 18 digits) from raw, which the line's decode has already validated as
// JSON. Anything else (fractions, exponents, other types) reports !ok and
// goes to encoding/json, which then names the problem.
func fastInts(raw []byte) ([]int, bool) {
	raw = bytes.TrimSpace(raw)
	if len(raw) < 2 || raw[0] != '[' {
		return nil, false
	}
	v := make([]int, 0, bytes.Count(raw, []byte{','})+1)
	i := 1
	skip := func() {
		for i < len(raw) && (raw[i] == ' ' || raw[i] == '\t' || raw[i] == '\n' || raw[i] == '\r') {
			i++
		}
	}
	skip()
	if i < len(raw) && raw[i] == ']' {
		return v, i == len(raw)-1
	}
	for {
		if i >= len(raw) {
			return nil, false
		}
		neg := false
		if raw[i] == '-' {
			neg = true
			i++
		}
		start, x := i, 0
		for i < len(raw) && raw[i] >= '0' && raw[i] <= '9' {
			x = x*10 + int(raw[i]-'0')
			i++
		}
		if i == start || i-start > 18 {
			return nil, false
		}
		if neg {
			x = -x
		}
		v = append(v, x)
		skip()
		if i >= len(raw) {
			return nil, false
		}
		switch raw[i] {
		case ',':
			i++
			skip()
		case ']':
			return v, i == len(raw)-1
		default:
			return nil, false
		}
	}
}

// parseRecord decodes one non-blank line and detects its shape.
func parseRecord(line []byte) (record, string) {
	// encoding/json would turn invalid bytes into U+FFFD without a word, and
	// the model would train on replacement characters.
	if !utf8.Valid(line) {
		off := 0
		for off < len(line) {
			r, size := utf8.DecodeRune(line[off:])
			if r == utf8.RuneError && size <= 1 {
				break
			}
			off += size
		}
		return record{}, fmt.Sprintf("invalid UTF-8 at byte offset %d (byte 0x%02x); JSONL must be UTF-8", off, line[off])
	}
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(line, &obj); err != nil {
		var se *json.SyntaxError
		var te *json.UnmarshalTypeError
		switch {
		case errors.As(err, &se):
			return record{}, fmt.Sprintf("invalid JSON at byte %d: %v", se.Offset, err)
		case errors.As(err, &te):
			return record{}, fmt.Sprintf("line is a JSON %s, not an object", te.Value)
		}
		return record{}, "invalid JSON: " + err.Error()
	}
	if obj == nil {
		return record{}, "line is JSON null, not an object"
	}
	_, hasText := obj["text"]
	_, hasPrompt := obj["prompt"]
	_, hasCompletion := obj["completion"]
	_, hasMessages := obj["messages"]
	_, hasIDs := obj["input_ids"]
	var shapes []string
	if hasText {
		shapes = append(shapes, `"text"`)
	}
	if hasPrompt || hasCompletion {
		shapes = append(shapes, `"prompt"/"completion"`)
	}
	if hasMessages {
		shapes = append(shapes, `"messages"`)
	}
	if hasIDs {
		shapes = append(shapes, `"input_ids"`)
	}
	switch {
	case len(shapes) == 0:
		if _, ok := obj["labels"]; ok {
			return record{}, `"labels" without "input_ids"`
		}
		keys := make([]string, 0, len(obj))
		for k := range obj {
			keys = append(keys, fmt.Sprintf("%q", k))
		}
		sort.Strings(keys)
		return record{}, fmt.Sprintf(`unknown record shape (keys: %s); want "text", "prompt"+"completion", "messages" or "input_ids"`,
			strings.Join(keys, ", "))
	case len(shapes) > 1:
		return record{}, fmt.Sprintf("ambiguous record: has the keys of %s", strings.Join(shapes, " and "))
	}

	var rec record
	var reason string
	switch {
	case hasText:
		rec.kind = KindText
		if rec.text, reason = str(obj["text"], `"text"`); reason == "" && rec.text == "" {
			reason = `"text" is empty`
		}
	case hasPrompt || hasCompletion:
		rec.kind = KindPromptCompletion
		if !hasPrompt {
			return rec, `has "completion" but no "prompt"`
		}
		if !hasCompletion {
			return rec, `has "prompt" but no "completion"`
		}
		if jsonType(obj["prompt"]) == "an array" {
			return conversational(obj["prompt"], obj["completion"])
		}
		if rec.prompt, reason = str(obj["prompt"], `"prompt"`); reason != "" {
			return rec, reason
		}
		if rec.completion, reason = str(obj["completion"], `"completion"`); reason == "" && rec.completion == "" {
			reason = `"completion" is empty`
		}
	case hasMessages:
		rec.kind = KindChat
		rec.messages, reason = parseMessages(obj["messages"], `"messages"`)
	case hasIDs:
		rec.kind = KindTokens
		if rec.ids, reason = ints(obj["input_ids"], `"input_ids"`); reason != "" {
			return rec, reason
		}
		if len(rec.ids) == 0 {
			return rec, `"input_ids" is empty`
		}
		if raw, ok := obj["labels"]; ok && jsonType(raw) != "null" {
			if rec.labels, reason = ints(raw, `"labels"`); reason != "" {
				return rec, reason
			}
			if len(rec.labels) != len(rec.ids) {
				reason = fmt.Sprintf(`"labels" has %d entries, "input_ids" %d`, len(rec.labels), len(rec.ids))
			}
		}
	}
	return rec, reason
}

// conversational parses TRL's conversational prompt/completion record,
// {"prompt": [messages], "completion": [messages]}: a chat whose loss is on
// the completion's turns.
func conversational(prompt, completion json.RawMessage) (record, string) {
	rec := record{kind: KindChat}
	p, reason := parseMessages(prompt, `"prompt"`)
	if reason != "" {
		return rec, reason
	}
	if jsonType(completion) != "an array" {
		return rec, fmt.Sprintf(`"prompt" is an array of messages but "completion" is %s`, jsonType(completion))
	}
	c, reason := parseMessages(completion, `"completion"`)
	if reason != "" {
		return rec, reason
	}
	rec.messages = append(p, c...)
	rec.completionAt = len(p) + 1
	return rec, ""
}

// parseMessages parses an array of {"role", "content"} objects; key names
// it in reasons.
func parseMessages(raw json.RawMessage, key string) ([]Message, string) {
	if t := jsonType(raw); t != "an array" {
		return nil, fmt.Sprintf(`%s is %s, not an array`, key, t)
	}
	var elems []json.RawMessage
	if err := json.Unmarshal(raw, &elems); err != nil {
		return nil, key + ": " + err.Error()
	}
	if len(elems) == 0 {
		return nil, key + " is empty"
	}
	msgs := make([]Message, len(elems))
	for i, el := range elems {
		what := fmt.Sprintf(`%s[%d]`, key, i)
		if t := jsonType(el); t != "an object" {
			return nil, fmt.Sprintf("%s is %s, not an object", what, t)
		}
		var m map[string]json.RawMessage
		if err := json.Unmarshal(el, &m); err != nil {
			return nil, what + ": " + err.Error()
		}
		role, ok := m["role"]
		if !ok {
			return nil, what + ` has no "role"`
		}
		var reason string
		if msgs[i].Role, reason = str(role, what+` "role"`); reason != "" {
			return nil, reason
		}
		if msgs[i].Role == "" {
			return nil, what + ` has an empty "role"`
		}
		c, ok := m["content"]
		if !ok {
			return nil, what + ` has no "content"`
		}
		if msgs[i].Content, reason = content(c, what+` "content"`); reason != "" {
			return nil, reason
		}
	}
	return msgs, ""
}
