package tokenizer

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// corpusTexts returns the reference corpus when setup.sh has written it,
// else alice.txt and a few edge cases.
func corpusTexts(t testing.TB) []string {
	t.Helper()
	var texts []string
	dir := os.Getenv("GOLORA_TOKREF")
	if dir == "" {
		dir = filepath.Join(repoRoot(t), "tokenizer", "testdata", "ref")
	}
	if b, err := os.ReadFile(filepath.Join(dir, "cases.json")); err == nil {
		var cases []refCase
		if err := json.Unmarshal(b, &cases); err != nil {
			t.Fatal(err)
		}
		for _, c := range cases {
			texts = append(texts, c.Text)
		}
		return texts
	}
	b, err := os.ReadFile(filepath.Join(repoRoot(t), "tokenizer", "testdata", "alice.txt"))
	if err != nil {
		t.Fatal(err)
	}
	return append(texts, string(b), fuzzSeeds[0], strings.Join(fuzzSeeds, " \n "))
}

// TestSplittersMatchRegexEngine checks the hand-written split matchers
// against the backtracking regex engine on the corpus.
func TestSplittersMatchRegexEngine(t *testing.T) {
	texts := corpusTexts(t)
	if testing.Short() {
		texts = texts[len(texts)-20:]
	}
	for _, pat := range []string{patGPT2, patLlama3, patQwen2} {
		sp, _ := splitterFor(pat)
		rs, err := newRegexSplitter(pat)
		if err != nil {
			t.Fatal(err)
		}
		for _, text := range texts {
			var a, b []string
			sp.split(text, func(s string) { a = append(a, s) })
			rs.split(text, func(s string) { b = append(b, s) })
			if strings.Join(a, "\x00") != strings.Join(b, "\x00") {
				i := 0
				for i < len(a) && i < len(b) && a[i] == b[i] {
					i++
				}
				t.Errorf("pattern %.20q... text %q: piece %d: hand %q, regex %q", pat, trunc(text), i, a[i:min(len(a), i+3)], b[i:min(len(b), i+3)])
			}
		}
	}
}

// TestMetaspacePreTokenizer rewrites the Llama-2 tokenizer.json the way
// newer HF versions export SentencePiece models (no normalizer, a Metaspace
// pre-tokenizer with prepend_scheme "first") and checks it gives the
// reference ids, for texts where the two agree (not starting with a space).
func TestMetaspacePreTokenizer(t *testing.T) {
	dir := refDir(t)
	data, err := os.ReadFile(filepath.Join(npmModel(t, "llama2"), "tokenizer.json"))
	if err != nil {
		t.Fatal(err)
	}
	var f map[string]any
	if err := json.Unmarshal(data, &f); err != nil {
		t.Fatal(err)
	}
	f["normalizer"] = nil
	f["pre_tokenizer"] = map[string]any{"type": "Metaspace", "replacement": "▁", "prepend_scheme": "first", "split": false}
	data, _ = json.Marshal(f)
	tok, err := ParseHF(data, nil)
	if err != nil {
		t.Fatal(err)
	}
	if tok.cutter == nil {
		t.Error("the cut before ▁ is not used with a non-splitting Metaspace")
	}
	var cases []refCase
	readJSON(t, filepath.Join(dir, "cases.json"), &cases)
	var ref struct {
		IDs [][]int `json:"ids"`
	}
	readJSON(t, filepath.Join(dir, "lenml-llama2.json"), &ref)
	n := 0
	for i, c := range cases {
		if strings.HasPrefix(c.Text, " ") || strings.HasPrefix(c.Text, "▁") {
			continue
		}
		n++
		if got := tok.Encode(c.Text); !slices.Equal(got, ref.IDs[i]) {
			t.Errorf("%s: %s", c.Name, firstDiff(tok, got, ref.IDs[i]))
		}
	}
	if n < 50 {
		t.Errorf("only %d cases compared", n)
	}
}

// FuzzSplitters: the hand-written matchers split like the regex engine, and
// the pieces always concatenate to the input.
func FuzzSplitters(f *testing.F) {
	for _, s := range fuzzSeeds {
		f.Add(s)
	}
	type pair struct {
		sp splitter
		rs *regexSplitter
	}
	var pairs []pair
	for _, pat := range []string{patGPT2, patLlama3, patQwen2} {
		sp, _ := splitterFor(pat)
		rs, err := newRegexSplitter(pat)
		if err != nil {
			f.Fatal(err)
		}
		pairs = append(pairs, pair{sp, rs})
	}
	f.Fuzz(func(t *testing.T, s string) {
		for _, p := range pairs {
			var a, b []string
			p.sp.split(s, func(x string) { a = append(a, x) })
			p.rs.split(s, func(x string) { b = append(b, x) })
			if strings.Join(a, "") != s {
				t.Fatalf("pieces %q do not concatenate to %q", a, s)
			}
			if strings.Join(a, "\x00") != strings.Join(b, "\x00") {
				t.Fatalf("%q: hand %q, regex %q", s, a, b)
			}
		}
	})
}

// TestLoadOtherSplitRegex: a Split pattern that is not hand-matched loads and
// runs through the regex engine.
func TestLoadOtherSplitRegex(t *testing.T) {
	base := fullByteGPT2(t)
	f := tinyGPT2JSON(t)
	f["model"].(map[string]any)["vocab"] = vocabOf(base)
	f["pre_tokenizer"] = map[string]any{"type": "Sequence", "pretokenizers": []any{
		map[string]any{"type": "Split", "pattern": map[string]any{"Regex": `\p{L}+|\p{N}+|\s+|[^\p{L}\p{N}\s]+`}, "behavior": "Isolated"},
		map[string]any{"type": "ByteLevel", "add_prefix_space": false, "use_regex": false},
	}}
	data, _ := json.Marshal(f)
	tok, err := ParseHF(data, nil)
	if err != nil {
		t.Fatal(err)
	}
	text := "the cat 2024 sat, on  the mat"
	ids := tok.Encode(text)
	if got := tok.Decode(ids); got != text {
		t.Fatalf("round trip %q", got)
	}
	// With this pattern a space is its own piece, so no token starts with one
	// unless it is all spaces.
	for _, id := range ids {
		if p := string(tok.pieces[id]); strings.HasPrefix(p, " ") && strings.TrimSpace(p) != "" {
			t.Errorf("token %q crosses a piece boundary", p)
		}
	}
}

func vocabOf(t *HF) map[string]any {
	v := map[string]any{}
	for id, s := range t.vocab {
		if !t.specialByID[int32(id)] {
			v[s] = id
		}
	}
	return v
}

// TestSplitBehaviors checks the Split pre-tokenizer's behaviors on a string
// and a regex pattern against the words HF tokenizers gives
// (SplitDelimiterBehavior's documented examples, adapted).
func TestSplitBehaviors(t *testing.T) {
	tests := []struct {
		pattern, behavior string
		want              []string
	}{
		{`{"String":" "}`, "Isolated", []string{"a", " ", " ", "b", " ", "c"}},
		{`{"String":" "}`, "Removed", []string{"a", "b", "c"}},
		{`{"String":" "}`, "MergedWithPrevious", []string{"a ", " ", "b ", "c"}},
		{`{"String":" "}`, "MergedWithNext", []string{"a", " ", " b", " c"}},
		{`{"Regex":"\\s+"}`, "MergedWithPrevious", []string{"a  ", "b ", "c"}},
		{`{"Regex":"\\s+"}`, "MergedWithNext", []string{"a", "  b", " c"}},
	}
	for _, tc := range tests {
		js := `{"pre_tokenizer":{"type":"Split","pattern":` + tc.pattern + `,"behavior":"` + tc.behavior + `"},"model":{"type":"BPE","vocab":{"a":0}}}`
		tok, err := ParseHF([]byte(js), nil)
		if err != nil {
			t.Fatalf("%s %s: %v", tc.pattern, tc.behavior, err)
		}
		var got []string
		tok.pre[0]("a  b c", true, func(w string) { got = append(got, w) })
		if !slices.Equal(got, tc.want) {
			t.Errorf("%s %s: %q, want %q", tc.pattern, tc.behavior, got, tc.want)
		}
	}
}
