package data

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
)

func load(t *testing.T, jsonl string, tok Encoder, opts Options) (*Dataset, Stats, error) {
	t.Helper()
	return LoadReader(strings.NewReader(jsonl), "train.jsonl", tok, opts)
}

// lossRuns decodes each maximal run of loss-carrying labels, and checks that
// every such label is its own token (true for everything but input_ids).
func lossRuns(t *testing.T, tok *fakeTok, ex Example) []string {
	t.Helper()
	if len(ex.Tokens) != len(ex.Labels) {
		t.Fatalf("%d tokens, %d labels", len(ex.Tokens), len(ex.Labels))
	}
	var runs []string
	var cur []int
	for i, l := range ex.Labels {
		if l == IgnoreIndex {
			if cur != nil {
				runs = append(runs, tok.Decode(cur))
				cur = nil
			}
			continue
		}
		if l != ex.Tokens[i] {
			t.Fatalf("label %d = %d, token %d", i, l, ex.Tokens[i])
		}
		cur = append(cur, l)
	}
	if cur != nil {
		runs = append(runs, tok.Decode(cur))
	}
	return runs
}

func TestLoadKinds(t *testing.T) {
	tok := newFakeTok()
	chat := `{"messages":[{"role":"system","content":"Be brief."},{"role":"user","content":"Hi"},{"role":"assistant","content":"Hello!"},{"role":"user","content":"2+2?"},{"role":"assistant","content":"4"}]}`
	tests := []struct {
		name   string
		line   string
		opts   Options
		kind   Kind
		text   string   // the decoded tokens
		losses []string // decoded runs of loss-carrying labels
	}{
		{"text", `{"text":"abc"}`, Options{}, KindText, "<s>abc</s>", []string{"abc</s>"}},
		{"text no bos/eos", `{"text":"abc","id":7}`, Options{NoBOS: true, NoEOS: true}, KindText, "abc", []string{"abc"}},
		{"prompt completion", `{"prompt":"Q: 1+1?\nA:","completion":" 2"}`, Options{}, KindPromptCompletion,
			"<s>Q: 1+1?\nA: 2</s>", []string{" 2</s>"}},
		{"prompt completion train on all", `{"prompt":"Q","completion":"A"}`, Options{TrainOnAll: true}, KindPromptCompletion,
			"<s>QA</s>", []string{"QA</s>"}},
		{"prompt completion no eos", `{"prompt":"Q","completion":"A"}`, Options{NoEOS: true}, KindPromptCompletion,
			"<s>QA", []string{"A"}},
		{"empty prompt", `{"prompt":"","completion":"A"}`, Options{}, KindPromptCompletion, "<s>A</s>", []string{"A</s>"}},
		{"chat", chat, Options{Template: ChatML{}}, KindChat,
			"<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\nHello!<|im_end|>\n" +
				"<|im_start|>user\n2+2?<|im_end|>\n<|im_start|>assistant\n4<|im_end|>\n",
			[]string{"Hello!<|im_end|>\n", "4<|im_end|>\n"}},
		{"chat train on all", `{"messages":[{"role":"user","content":"Hi"},{"role":"assistant","content":"Yo"}]}`,
			Options{Template: ChatML{}, TrainOnAll: true}, KindChat,
			"<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\nYo<|im_end|>\n",
			[]string{"<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\nYo<|im_end|>\n"}},
		{"chat content parts", `{"messages":[{"role":"user","content":[{"type":"text","text":"H"},{"type":"text","text":"i"}]},{"role":"assistant","content":[{"text":"Yo"}]}]}`,
			Options{Template: ChatML{}}, KindChat,
			"<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\nYo<|im_end|>\n", []string{"Yo<|im_end|>\n"}},
		{"chat first turn assistant", `{"messages":[{"role":"assistant","content":"Hey"},{"role":"user","content":"x"}]}`,
			Options{Template: ChatML{}}, KindChat,
			"<|im_start|>assistant\nHey<|im_end|>\n<|im_start|>user\nx<|im_end|>\n", []string{"Hey<|im_end|>\n"}},
		{"conversational prompt completion", `{"prompt":[{"role":"user","content":"Hi"}],"completion":[{"role":"assistant","content":"Yo"}]}`,
			Options{Template: ChatML{}}, KindChat,
			"<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\nYo<|im_end|>\n", []string{"Yo<|im_end|>\n"}},
		{"conversational completion of two turns", `{"prompt":[{"role":"system","content":"S"},{"role":"user","content":"Hi"}],"completion":[{"role":"assistant","content":"Yo"},{"role":"user","content":"ok"}]}`,
			Options{Template: ChatML{}}, KindChat,
			"<|im_start|>system\nS<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\nYo<|im_end|>\n<|im_start|>user\nok<|im_end|>\n",
			[]string{"Yo<|im_end|>\n<|im_start|>user\nok<|im_end|>\n"}},
		{"input_ids", `{"input_ids":[104,105]}`, Options{}, KindTokens, "hi", []string{"hi"}},
		{"input_ids labels null", `{"input_ids":[104,105],"labels":null}`, Options{}, KindTokens, "hi", []string{"hi"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ds, st, err := load(t, tc.line+"\n", tok, tc.opts)
			if err != nil {
				t.Fatal(err)
			}
			if ds.Len() != 1 || st.Examples != 1 || st.Kinds[tc.kind] != 1 {
				t.Fatalf("got %d examples, stats %+v; want one %v", ds.Len(), st, tc.kind)
			}
			ex := ds.Examples[0]
			if got := tok.Decode(ex.Tokens); got != tc.text {
				t.Errorf("tokens decode to %q, want %q", got, tc.text)
			}
			if got := lossRuns(t, tok, ex); !reflect.DeepEqual(got, tc.losses) {
				t.Errorf("loss on %q, want %q", got, tc.losses)
			}
			if st.Tokens != len(ex.Tokens) || st.LossTokens != ex.LossTokens() {
				t.Errorf("stats tokens %d/%d, example %d/%d", st.Tokens, st.LossTokens, len(ex.Tokens), ex.LossTokens())
			}
		})
	}
}

// Special-token strings in user text stay text (no forged control tokens);
// the template's own markers become special ids. AddBOS() false means no BOS.
func TestSpecialTokensAndBOS(t *testing.T) {
	tok := newFakeTok()
	ds, _, err := load(t, `{"text":"<|im_end|>"}`+"\n"+
		`{"messages":[{"role":"user","content":"a"},{"role":"assistant","content":"b"}]}`+"\n", tok, Options{Template: ChatML{}})
	if err != nil {
		t.Fatal(err)
	}
	if got := ds.Examples[0].Tokens; len(got) != 2+len("<|im_end|>") || slices.Contains(got, fakeImEnd) {
		t.Errorf("text record tokens %v: special token forged", got)
	}
	if got := ds.Examples[1].Tokens; got[0] != fakeImStart || !slices.Contains(got, fakeImEnd) {
		t.Errorf("chat tokens %v: template markers not special", got)
	}
	noBOS := newFakeTok()
	noBOS.noBOS = true
	ds, _, err = load(t, `{"text":"ab"}`, noBOS, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if want := []int{'a', 'b', fakeEOS}; !reflect.DeepEqual(ds.Examples[0].Tokens, want) {
		t.Errorf("AddBOS false: tokens %v, want %v", ds.Examples[0].Tokens, want)
	}
}

func TestPretokenizedLabels(t *testing.T) {
	tok := newFakeTok()
	line := `{"input_ids":[1,2,3,4],"labels":[-100,-100,3,4]}` + "\n"
	ds, _, err := load(t, line, tok, Options{})
	if err != nil {
		t.Fatal(err)
	}
	want := Example{Tokens: []int{1, 2, 3, 4}, Labels: []int{IgnoreIndex, IgnoreIndex, 3, 4}}
	if !reflect.DeepEqual(ds.Examples[0], want) {
		t.Errorf("got %+v, want %+v", ds.Examples[0], want)
	}
	ds, _, err = load(t, line, tok, Options{TrainOnAll: true})
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(ds.Examples[0].Labels, []int{1, 2, 3, 4}) {
		t.Errorf("TrainOnAll labels %v", ds.Examples[0].Labels)
	}
}

// A tokenizer that merges "\nHi" and "\n<|" puts one token across the start
// of the first assistant span and one across its end: both carry loss, the
// whole-text tokenization is kept, and the record is counted as straddled.
func TestChatStraddledBounds(t *testing.T) {
	tok := newFakeTok("\nHi", "\n<|")
	line := `{"messages":[{"role":"user","content":"x"},{"role":"assistant","content":"Hi!"},{"role":"user","content":"y"},{"role":"assistant","content":"ok"}]}`
	ds, st, err := load(t, line, tok, Options{Template: ChatML{}})
	if err != nil {
		t.Fatal(err)
	}
	if st.Straddled != 1 {
		t.Errorf("Straddled = %d, want 1", st.Straddled)
	}
	ex := ds.Examples[0]
	want := []string{"\nHi!<|im_end|>\n<|", "ok<|im_end|>\n"}
	if got := lossRuns(t, tok, ex); !reflect.DeepEqual(got, want) {
		t.Errorf("loss on %q, want %q", got, want)
	}
	full, _ := ChatML{}.Render([]Message{{Role: "user", Content: "x"}, {Role: "assistant", Content: "Hi!"}, {Role: "user", Content: "y"}, {Role: "assistant", Content: "ok"}}, false)
	if !reflect.DeepEqual(ex.Tokens, tok.EncodeWithSpecial(full)) {
		t.Errorf("tokens are not the whole text's tokenization")
	}

	// Without the cross-boundary merges the spans are exact.
	plain := newFakeTok("Hi")
	ds, st, err = load(t, line, plain, Options{Template: ChatML{}})
	if err != nil || st.Straddled != 0 {
		t.Fatalf("plain tokenizer: err %v, straddled %d", err, st.Straddled)
	}
	if got, want := lossRuns(t, plain, ds.Examples[0]), []string{"Hi!<|im_end|>\n", "ok<|im_end|>\n"}; !reflect.DeepEqual(got, want) {
		t.Errorf("loss on %q, want %q", got, want)
	}

	// Prompt/completion: "A:" + " 2" with a piece ": 2" across the edge.
	ds, st, err = load(t, `{"prompt":"A:","completion":" 2"}`, newFakeTok(": 2"), Options{})
	if err != nil || st.Straddled != 1 {
		t.Fatalf("prompt/completion: err %v, straddled %d", err, st.Straddled)
	}
	if got, want := lossRuns(t, newFakeTok(": 2"), ds.Examples[0]), []string{": 2</s>"}; !reflect.DeepEqual(got, want) {
		t.Errorf("loss on %q, want %q", got, want)
	}
}

// dropHistory imitates templates that rewrite earlier assistant turns (as
// reasoning models' templates strip their thinking): not prefix-stable.
type dropHistory struct{}

func (dropHistory) Render(msgs []Message, gen bool) (string, error) {
	var b strings.Builder
	for i, m := range msgs {
		c := m.Content
		if m.Role == "assistant" && i < len(msgs)-1 {
			c = "..."
		}
		fmt.Fprintf(&b, "[%s]%s", m.Role, c)
	}
	if gen {
		b.WriteString("[assistant]")
	}
	return b.String(), nil
}

func TestLineErrors(t *testing.T) {
	tok := newFakeTok()
	tests := []struct {
		name, line, reason string
		opts               Options
	}{
		{"invalid json", `{"text": "a"`, "invalid JSON", Options{}},
		{"array", `[1,2]`, "JSON array, not an object", Options{}},
		{"string", `"text"`, "JSON string, not an object", Options{}},
		{"null", `null`, "JSON null", Options{}},
		{"unknown shape", `{"instruction":"a","output":"b"}`, `unknown record shape (keys: "instruction", "output")`, Options{}},
		{"ambiguous", `{"text":"a","messages":[]}`, `ambiguous record: has the keys of "text" and "messages"`, Options{}},
		{"empty text", `{"text":""}`, `"text" is empty`, Options{}},
		{"text number", `{"text":3}`, `"text" is a number, not a string`, Options{}},
		{"text null", `{"text":null}`, `"text" is null, not a string`, Options{}},
		{"prompt only", `{"prompt":"a"}`, `has "prompt" but no "completion"`, Options{}},
		{"completion only", `{"completion":"a"}`, `has "completion" but no "prompt"`, Options{}},
		{"empty completion", `{"prompt":"a","completion":""}`, `"completion" is empty`, Options{}},
		{"conversational completion not array", `{"prompt":[{"role":"user","content":"a"}],"completion":"b"}`,
			`"prompt" is an array of messages but "completion" is a string`, Options{Template: ChatML{}}},
		{"conversational bad message", `{"prompt":[{"role":"user","content":"a"}],"completion":[{"role":"assistant"}]}`,
			`"completion"[0] has no "content"`, Options{Template: ChatML{}}},
		{"messages not array", `{"messages":"hi"}`, `"messages" is a string, not an array`, Options{Template: ChatML{}}},
		{"messages empty", `{"messages":[]}`, `"messages" is empty`, Options{Template: ChatML{}}},
		{"message no content", `{"messages":[{"role":"user","content":"a"},{"role":"assistant","content":"b"},{"role":"user"}]}`,
			`"messages"[2] has no "content"`, Options{Template: ChatML{}}},
		{"message no role", `{"messages":[{"content":"a"}]}`, `"messages"[0] has no "role"`, Options{Template: ChatML{}}},
		{"message not object", `{"messages":[1]}`, `"messages"[0] is a number, not an object`, Options{Template: ChatML{}}},
		{"content number", `{"messages":[{"role":"user","content":5}]}`, `"messages"[0] "content" is a number, not a string`, Options{Template: ChatML{}}},
		{"content image part", `{"messages":[{"role":"user","content":[{"type":"image_url","image_url":"x"}]}]}`,
			`"messages"[0] "content"[0] has type "image_url"`, Options{Template: ChatML{}}},
		{"no assistant", `{"messages":[{"role":"user","content":"a"}]}`, `no non-empty "assistant" turn`, Options{Template: ChatML{}}},
		{"not prefix stable", `{"messages":[{"role":"user","content":"a"},{"role":"assistant","content":"b"},{"role":"user","content":"c"},{"role":"assistant","content":"d"}]}`,
			`not prefix-stable at "messages"[1]`, Options{Template: dropHistory{}}},
		{"ids not ints", `{"input_ids":[1,"x",3]}`, `"input_ids"[1] is "x", not an integer`, Options{}},
		{"ids float", `{"input_ids":[1,2.5]}`, `"input_ids"[1] is 2.5, not an integer`, Options{}},
		{"ids out of vocab", `{"input_ids":[1,999]}`, `"input_ids"[1] = 999 is not in the vocabulary [0, 260)`, Options{}},
		{"ids negative", `{"input_ids":[-1]}`, `"input_ids"[0] = -1 is not`, Options{}},
		{"ids empty", `{"input_ids":[]}`, `"input_ids" is empty`, Options{}},
		{"labels length", `{"input_ids":[1,2],"labels":[1]}`, `"labels" has 1 entries, "input_ids" 2`, Options{}},
		{"bad label", `{"input_ids":[1,2],"labels":[1,-5]}`, `"labels"[1] = -5 is neither -100`, Options{}},
		{"labels alone", `{"labels":[1]}`, `"labels" without "input_ids"`, Options{}},
		// Issue 12: reported, not silently replaced by U+FFFD.
		{"invalid utf-8", "{\"text\":\"ab\xffc\"}", `invalid UTF-8 at byte offset 11 (byte 0xff)`, Options{}},
		// Issue 12: the model's vocabulary bounds ids when there is no tokenizer vocabulary.
		{"ids past the model vocab", `{"input_ids":[1,200]}`, `"input_ids"[1] = 200 is not in the vocabulary [0, 100)`, Options{VocabSize: 100}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			// The bad line is line 3, after a good line and a blank one.
			in := "{\"text\":\"ok\"}\n\n" + tc.line + "\n{\"text\":\"ok\"}\n"
			_, _, err := load(t, in, tok, tc.opts)
			var le *LineError
			if !errors.As(err, &le) {
				t.Fatalf("err = %v, want a *LineError", err)
			}
			if le.File != "train.jsonl" || le.Line != 3 || !strings.Contains(le.Reason, tc.reason) {
				t.Errorf("got %q, want train.jsonl:3 and reason containing %q", err, tc.reason)
			}
			if !strings.HasPrefix(err.Error(), "data: train.jsonl:3: ") {
				t.Errorf("message %q does not start with the position", err)
			}
			ds, st, err := load(t, in, tok, func() Options { o := tc.opts; o.SkipBad = true; return o }())
			if err != nil {
				t.Fatalf("SkipBad: %v", err)
			}
			if ds.Len() != 2 || st.Skipped != 1 || st.Lines != 3 || len(st.SkipErrors) != 1 || st.SkipErrors[0].Line != 3 {
				t.Errorf("SkipBad: %d examples, stats %+v", ds.Len(), st)
			}
		})
	}
}

func TestMissingTemplateIsFatal(t *testing.T) {
	in := "{\"text\":\"ok\"}\n{\"messages\":[{\"role\":\"user\",\"content\":\"a\"}]}\n"
	_, _, err := load(t, in, newFakeTok(), Options{SkipBad: true})
	var le *LineError
	if !errors.As(err, &le) || le.Line != 2 || !strings.Contains(le.Reason, "no chat template") {
		t.Fatalf("err = %v, want a line 2 error about the template even with SkipBad", err)
	}
}

func TestReaderEdgeCases(t *testing.T) {
	long := strings.Repeat("abcdefgh", 40<<10) // 320 KiB: past bufio's and Scanner's 64 KiB
	tests := []struct {
		name  string
		in    string
		texts []string
	}{
		{"crlf", "{\"text\":\"a\"}\r\n{\"text\":\"b\"}\r\n", []string{"a", "b"}},
		{"bom", "\xef\xbb\xbf{\"text\":\"a\"}\n", []string{"a"}},
		{"no final newline", "{\"text\":\"a\"}\n{\"text\":\"b\"}", []string{"a", "b"}},
		{"blank lines", "\n  \n{\"text\":\"a\"}\n\t\n", []string{"a"}},
		{"long line", "{\"text\":\"" + long + "\"}\n{\"text\":\"b\"}\n", []string{long, "b"}},
		{"long last line", "{\"text\":\"b\"}\n{\"text\":\"" + long + "\"}", []string{"b", long}},
		{"unicode", `{"text":"h\u00e9llo ✓"}`, []string{"héllo ✓"}},
	}
	tok := byteTok{}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ds, _, err := load(t, tc.in, tok, Options{})
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, e := range ds.Examples {
				b := make([]byte, len(e.Tokens)-2) // strip BOS and EOS
				for i, v := range e.Tokens[1 : len(e.Tokens)-1] {
					b[i] = byte(v)
				}
				got = append(got, string(b))
			}
			if !reflect.DeepEqual(got, tc.texts) {
				t.Errorf("got %d texts %.40q, want %d %.40q", len(got), got, len(tc.texts), tc.texts)
			}
		})
	}
	// Line numbers count blank lines too.
	_, _, err := load(t, "\n\n{\"text\":\"a\"}\n\n{bad\n", tok, Options{})
	if le := (*LineError)(nil); !errors.As(err, &le) || le.Line != 5 {
		t.Errorf("err = %v, want line 5", err)
	}
}

func TestTruncation(t *testing.T) {
	tok := newFakeTok()
	in := `{"text":"abcdefghij"}` + "\n" + // 12 tokens with BOS/EOS: cut to 6, 6 dropped
		`{"text":"abc"}` + "\n" + // 5 tokens: kept whole
		`{"prompt":"0123456789","completion":"x"}` + "\n" // the completion lies past 6: no loss, dropped
	ds, st, err := load(t, in, tok, Options{MaxSeqLen: 6})
	if err != nil {
		t.Fatal(err)
	}
	if st.Truncated != 2 || st.Dropped != 6+7 || st.NoLoss != 1 || st.Examples != 2 || ds.Len() != 2 {
		t.Errorf("stats %+v, %d examples", st, ds.Len())
	}
	if got := tok.Decode(ds.Examples[0].Tokens); got != "<s>abcde" {
		t.Errorf("truncated to %q", got)
	}
	if !strings.Contains(st.String(), "2 truncated (13 tokens dropped)") {
		t.Errorf("summary %q", st)
	}
}

func TestLoadFileAndGzip(t *testing.T) {
	dir := t.TempDir()
	content := "{\"text\":\"a\"}\n{\"prompt\":\"p\",\"completion\":\"c\"}\n"
	plain := filepath.Join(dir, "train.jsonl")
	if err := os.WriteFile(plain, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	var zb bytes.Buffer
	zw := gzip.NewWriter(&zb)
	zw.Write([]byte(content))
	zw.Close()
	gz := filepath.Join(dir, "train.jsonl.gz")
	if err := os.WriteFile(gz, zb.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	a, _, err := Load(plain, newFakeTok(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	b, _, err := Load(gz, newFakeTok(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	if a.Name != plain || !reflect.DeepEqual(a.Examples, b.Examples) || a.Len() != 2 {
		t.Errorf("plain %+v, gzip %+v", a, b)
	}
	if _, _, err := Load(filepath.Join(dir, "missing.jsonl"), newFakeTok(), Options{}); err == nil {
		t.Error("missing file: no error")
	}
}

func TestDemo(t *testing.T) {
	ds, st, err := Demo(newFakeTok(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	if ds.Len() == 0 || st.Examples != ds.Len() || st.Skipped != 0 {
		t.Errorf("demo: %d examples, %v", ds.Len(), st)
	}
}

// Random conversations: the loss runs are exactly the assistant turns'
// content plus ChatML's end-of-turn, in order, however the turns are mixed.
func TestChatMaskingRandom(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	tok := newFakeTok()
	roles := []string{"system", "user", "assistant", "tool"}
	var lines []string
	var want [][]string
	for range 200 {
		var msgs []Message
		var runs []string
		n := 1 + r.IntN(7)
		for i := range n {
			role := roles[r.IntN(len(roles))]
			if i == n-1 && len(runs) == 0 {
				role = "assistant"
			}
			content := strings.Repeat(string(rune('a'+r.IntN(26))), 1+r.IntN(5))
			msgs = append(msgs, Message{Role: role, Content: content})
			if role == "assistant" {
				runs = append(runs, content+"<|im_end|>\n")
			}
		}
		js, err := json.Marshal(map[string]any{"messages": msgs})
		if err != nil {
			t.Fatal(err)
		}
		lines = append(lines, string(js))
		want = append(want, runs)
	}
	ds, st, err := load(t, strings.Join(lines, "\n"), tok, Options{Template: ChatML{}})
	if err != nil {
		t.Fatal(err)
	}
	if ds.Len() != len(want) || st.Straddled != 0 {
		t.Fatalf("%d examples, stats %v", ds.Len(), st)
	}
	for i, ex := range ds.Examples {
		// Adjacent assistant turns are still separate runs: the header of
		// the second one sits between them.
		if got := lossRuns(t, tok, ex); !reflect.DeepEqual(got, want[i]) {
			t.Fatalf("conversation %d (%s): loss on %q, want %q", i, lines[i], got, want[i])
		}
	}
}
