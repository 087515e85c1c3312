package tokenizer

import (
	"testing"
)

// FuzzParseHF: any tokenizer.json bytes either fail to parse or give a
// tokenizer whose ids stay inside its vocabulary, within bounded memory
// (issue 12: one hostile id must not allocate gigabytes).
func FuzzParseHF(f *testing.F) {
	for _, s := range []string{
		`null`, `{}`, `{"model":{"type":"BPE","vocab":{}}}`,
		`{"model":{"type":"BPE","vocab":{"a":0,"b":1,"ab":2},"merges":["a b"]}}`,
		`{"model":{"type":"BPE","vocab":{"a":0,"b":1,"ab":2},"merges":[["a","b"]],"byte_fallback":true,"unk_token":"a"},"added_tokens":[{"id":3,"content":"<s>","special":true}]}`,
		`{"pre_tokenizer":{"type":"ByteLevel","add_prefix_space":false},"decoder":{"type":"ByteLevel"},"model":{"type":"BPE","vocab":{"a":0,"Ġ":1}}}`,
		`{"normalizer":{"type":"Sequence","normalizers":[{"type":"Prepend","prepend":"▁"},{"type":"Replace","pattern":{"String":" "},"content":"▁"}]},"model":{"type":"BPE","vocab":{"▁":0,"a":1}}}`,
		`{"model":{"type":"BPE","vocab":{"a":1000000000}}}`,
	} {
		f.Add([]byte(s), []byte(`{"bos_token":"<s>","eos_token":{"content":"<s>"}}`))
	}
	f.Fuzz(func(t *testing.T, tj, cfg []byte) {
		tok, err := ParseHF(tj, cfg)
		if err != nil {
			return
		}
		if n := tok.VocabSize(); n > 2*len(tj)+maxIDGap {
			t.Fatalf("vocabulary of %d ids from a %d-byte file", n, len(tj))
		}
		for _, text := range []string{"ab a", "<s>x\xff"} {
			for _, id := range tok.Encode(text) {
				if id < 0 || id >= tok.VocabSize() {
					t.Fatalf("Encode(%q) gave id %d outside [0, %d)", text, id, tok.VocabSize())
				}
			}
			_ = tok.Decode(tok.EncodeWithSpecial(text))
		}
	})
}
