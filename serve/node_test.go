package serve

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/golora/golora/generate"
)

// TestNodeOpenAIClient drives the server with the official openai npm
// client (tools/openai-js, installed by its setup.sh; scripts/test.sh runs
// it in CI): listing, completions, chat and streaming per adapter, a
// concurrent mixed batch, the SDK's error classes and runtime loading.
func TestNodeOpenAIClient(t *testing.T) {
	dir, _ := filepath.Abs("../tools/openai-js")
	if _, err := os.Stat(filepath.Join(dir, "node_modules", "openai", "package.json")); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("the openai npm client is missing: run tools/openai-js/setup.sh")
		}
		t.Skip("the openai npm client is not installed (tools/openai-js/setup.sh); skipping")
	}
	node, err := exec.LookPath("node")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("node is missing")
		}
		t.Skip("node is not installed; skipping")
	}
	f := newFixture(t, bases[0], 2, func(o *Options) { o.APIKey = "js-key" })
	const prompt, user, n = "Once upon a time", "Tell me about a cat.", 20
	want := map[string]any{"base": f.b.name, "prompt": prompt, "user": user, "max_tokens": n, "reload": "a1"}
	comp, chats := map[string]string{}, map[string]string{}
	for _, m := range f.models() {
		comp[m] = jsonText(f.solo(t, adapterOf(f, m), generate.TextPrompt(f.tok, prompt), n, false))
		chats[m] = jsonText(f.solo(t, adapterOf(f, m), chatPrompt(t, f.tok, user), n, true))
	}
	want["completion"], want["chat"] = comp, chats
	js, _ := json.Marshal(want)
	out, err := exec.Command(node, filepath.Join(dir, "test.mjs"), f.ts.URL+"/v1", "js-key", string(js)).CombinedOutput()
	if err != nil {
		t.Fatalf("node test.mjs: %v\n%s", err, out)
	}
	t.Logf("%s", out)
}
