package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/golora/golora/internal/testutil"
)

func TestDataCommand(t *testing.T) {
	tok := testutil.Shared(t, "models", "tiny-random-gpt2")
	file := filepath.Join(t.TempDir(), "train.jsonl")
	in := `{"prompt":"Q: hi?\nA:","completion":" yes"}` + "\n" +
		`{"messages":[{"role":"user","content":"Hi"},{"role":"assistant","content":"Hello!"}]}` + "\n" +
		`{"bad":1}` + "\n"
	if err := os.WriteFile(file, []byte(in), 0o644); err != nil {
		t.Fatal(err)
	}
	run := func(args ...string) (string, error) {
		var out bytes.Buffer
		rootCmd.SetOut(&out)
		rootCmd.SetArgs(append([]string{"data", "--tokenizer", tok}, args...))
		err := rootCmd.Execute()
		return out.String(), err
	}
	if _, err := run(file); err == nil || !strings.Contains(err.Error(), "train.jsonl:3: unknown record shape") {
		t.Errorf("bad line: err %v", err)
	}
	out, err := run("--skip-bad", "--show", "2", file)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"2 examples from 3 lines", "1 bad lines skipped", "A:⟦ yes<|endoftext|>⟧", "assistant\n⟦Hello!<|im_end|>\n⟧"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	out, err = run("--skip-bad", "--json", "--seq-len", "16", "--pack", file)
	if err != nil {
		t.Fatal(err)
	}
	var rep dataReport
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	if rep.Load.Examples != 2 || rep.Load.Skipped != 1 || rep.Batches == nil || rep.Batches.Rows < 1 {
		t.Errorf("report %+v", rep)
	}
}
