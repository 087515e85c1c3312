package main

import (
	"encoding/json"
	"os"
	"strings"
	"testing"

	"github.com/golora/golora/internal/testutil"
)

// TestGenerateMatchesRunC: greedy generation on the embedded model prints
// exactly what llama2.c's run.c printed for the same prompt and -n.
func TestGenerateMatchesRunC(t *testing.T) {
	path := testutil.Shared(t, "models", "stories260K", "reference", "greedy_outputs.json")
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var ref struct {
		Cases []struct {
			Command  string `json:"command"`
			Prompt   string `json:"prompt"`
			Stdout   string `json:"stdout"`
			TokenIDs []int  `json:"token_ids"`
		} `json:"cases"`
	}
	if err := json.Unmarshal(raw, &ref); err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, c := range ref.Cases {
		if !strings.Contains(c.Command, "-t 0.0 -n 64") {
			continue // sampled cases use run.c's own RNG
		}
		n++
		t.Run(c.Prompt, func(t *testing.T) {
			got := runGolora(t, "generate", "--prompt", c.Prompt, "--prompt-ids", "", "--temperature", "0", "--max-tokens", "64", "--max-new-tokens", "0", "--print-ids=false", "--weights", "f32")
			if got != c.Stdout {
				t.Errorf("text differs from run.c:\n got %q\nwant %q", got, c.Stdout)
			}
			// F16 decode weights round every weight to 11 bits; on this
			// model the greedy choices survive that.
			if got := runGolora(t, "generate", "--prompt", c.Prompt, "--temperature", "0", "--max-tokens", "64", "--weights", "f16"); got != c.Stdout {
				t.Errorf("--weights f16 text differs from run.c:\n got %q\nwant %q", got, c.Stdout)
			}
			// Prepacked weights give the prompt's products the same bits.
			if got := runGolora(t, "generate", "--prompt", c.Prompt, "--temperature", "0", "--max-tokens", "64", "--prepack"); got != c.Stdout {
				t.Errorf("--prepack text differs from run.c:\n got %q\nwant %q", got, c.Stdout)
			}
			ids := runGolora(t, "generate", "--prompt", c.Prompt, "--prompt-ids", "", "--temperature", "0", "--max-tokens", "64", "--max-new-tokens", "0", "--print-ids", "--weights", "f32")
			var gen []int
			if err := json.Unmarshal([]byte(ids), &gen); err != nil {
				t.Fatalf("--print-ids output %q: %v", ids, err)
			}
			prompt := len(c.TokenIDs) - len(gen)
			for i, id := range gen {
				if c.TokenIDs[prompt+i] != id {
					t.Fatalf("generated token %d is %d, run.c %d", i, id, c.TokenIDs[prompt+i])
				}
			}
		})
	}
	if n < 4 {
		t.Fatalf("only %d greedy cases found in %s", n, path)
	}
}

func TestGeneratePromptIDsAndErrors(t *testing.T) {
	got := runGolora(t, "generate", "--prompt", "", "--prompt-ids", "1,403,407", "--temperature", "0", "--max-tokens", "64", "--max-new-tokens", "5", "--print-ids")
	var ids []int
	if err := json.Unmarshal([]byte(got), &ids); err != nil || len(ids) != 5 {
		t.Fatalf("--prompt-ids --max-new-tokens 5: %q (%v)", got, err)
	}
	resetFlags()
	rootCmd.SetArgs([]string{"generate", "--prompt-ids", "1,x", "--max-new-tokens", "0"})
	if err := rootCmd.Execute(); err == nil || !strings.Contains(err.Error(), `"x"`) {
		t.Fatalf("bad --prompt-ids: err = %v", err)
	}
	resetFlags()
	rootCmd.SetArgs([]string{"generate", "--prompt", "x", "--weights", "bf16"})
	if err := rootCmd.Execute(); err == nil || !strings.Contains(err.Error(), `"bf16"`) {
		t.Fatalf("bad --weights: err = %v", err)
	}
	rootCmd.SetArgs(nil)
}

// TestGenerateIgnoreEOSAndBadSampling: a llama2.c model's story ends at BOS
// (run.c's rule) unless --ignore-eos is given, which yields exactly the
// requested number of tokens; impossible sampling settings are refused
// rather than ignored.
func TestGenerateIgnoreEOSAndBadSampling(t *testing.T) {
	gen := func(extra ...string) []int {
		args := append([]string{"generate", "--prompt-ids", "1,403,407", "--seed", "2", "--max-tokens", "512", "--max-new-tokens", "400", "--print-ids"}, extra...)
		var ids []int
		if out := runGolora(t, args...); json.Unmarshal([]byte(out), &ids) != nil {
			t.Fatalf("output %q is not a JSON array", out)
		}
		return ids
	}
	ids := gen()
	if len(ids) >= 400 || ids[len(ids)-1] != 1 {
		t.Fatalf("without --ignore-eos: %d tokens ending in %d, expected a stop at BOS (1) first", len(ids), ids[len(ids)-1])
	}
	if n := len(gen("--ignore-eos")); n != 400 {
		t.Fatalf("--ignore-eos: %d tokens, want 400", n)
	}
	for _, bad := range [][]string{{"--top-p", "2"}, {"--temperature", "-1"}, {"--top-k", "-3"}} {
		resetFlags()
		rootCmd.SetArgs(append([]string{"generate", "--prompt-ids", "1,403", "--max-new-tokens", "3"}, bad...))
		err := rootCmd.Execute()
		rootCmd.SetArgs(nil)
		if err == nil || !strings.Contains(err.Error(), strings.TrimPrefix(bad[0], "--")) {
			t.Errorf("%v: err = %v", bad, err)
		}
	}
}
