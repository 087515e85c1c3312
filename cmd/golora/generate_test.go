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
			got := runGolora(t, "generate", "--prompt", c.Prompt, "--prompt-ids", "", "--temperature", "0", "--max-tokens", "64", "--max-new-tokens", "0", "--print-ids=false")
			if got != c.Stdout {
				t.Errorf("text differs from run.c:\n got %q\nwant %q", got, c.Stdout)
			}
			ids := runGolora(t, "generate", "--prompt", c.Prompt, "--prompt-ids", "", "--temperature", "0", "--max-tokens", "64", "--max-new-tokens", "0", "--print-ids")
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
	rootCmd.SetArgs([]string{"generate", "--prompt-ids", "1,x", "--max-new-tokens", "0"})
	if err := rootCmd.Execute(); err == nil || !strings.Contains(err.Error(), `"x"`) {
		t.Fatalf("bad --prompt-ids: err = %v", err)
	}
	rootCmd.SetArgs(nil)
}
