package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/golora/golora/generate"
	"github.com/golora/golora/lora"
	"github.com/golora/golora/model"
	"github.com/golora/golora/model/embedded"
)

// runGoloraSplit is runGolora returning stderr and the error instead of
// failing on it.
func runGoloraSplit(t *testing.T, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	resetFlags()
	var out, errOut bytes.Buffer
	rootCmd.SetOut(&out)
	rootCmd.SetErr(&errOut)
	rootCmd.SetArgs(args)
	err = rootCmd.Execute()
	rootCmd.SetOut(nil)
	rootCmd.SetErr(nil)
	rootCmd.SetArgs(nil)
	return out.String(), errOut.String(), err
}

// TestModelFromHubCache: --model takes a hub id from a (fake) Hugging Face
// cache, and commands given only --adapter load the base model the adapter
// records, from the cache, instead of the embedded model.
func TestModelFromHubCache(t *testing.T) {
	hub := t.TempDir()
	t.Setenv("HF_HUB_CACHE", hub)
	// The cached "golora-test/stories-x" is the embedded model with its
	// final norm doubled, so that its losses differ from the embedded one.
	m, err := model.Load("")
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range m.Params() {
		if p.Name == "model.norm.weight" {
			for i := range p.W.Data {
				p.W.Data[i] *= 2
			}
		}
	}
	repo := filepath.Join(hub, "models--golora-test--stories-x")
	snap := filepath.Join(repo, "snapshots", "0123abcd")
	if err := m.SaveHF(snap); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(snap, "tok512.bin"), embedded.Tokenizer, 0o644)
	os.WriteFile(filepath.Join(snap, "generation_config.json"), []byte(`{"eos_token_id": [2, 7]}`), 0o644)
	// As huggingface_hub lays it out: the snapshot's files are relative
	// links into blobs/.
	os.MkdirAll(filepath.Join(repo, "blobs"), 0o755)
	files, _ := os.ReadDir(snap)
	for _, f := range files {
		blob := filepath.Join(repo, "blobs", "sha-"+f.Name())
		if err := os.Rename(filepath.Join(snap, f.Name()), blob); err != nil {
			t.Fatal(err)
		}
		if err := os.Symlink(filepath.Join("..", "..", "blobs", "sha-"+f.Name()), filepath.Join(snap, f.Name())); err != nil {
			t.Skipf("no symlinks here: %v", err)
		}
	}
	os.MkdirAll(filepath.Join(repo, "refs"), 0o755)
	os.WriteFile(filepath.Join(repo, "refs", "main"), []byte("0123abcd"), 0o644)

	// Adapters recording the cached base, no base, and a base that is nowhere.
	adapter := func(base string) string {
		cfg := lora.DefaultConfig()
		cfg.TargetModules = lora.List("q_proj", "v_proj")
		cfg.BaseModelNameOrPath = base
		_, dir := savedLoRA(t, cfg)
		return dir
	}
	cached, none, missing := adapter("golora-test/stories-x"), adapter(""), adapter("golora-test/not-downloaded")

	data := filepath.Join(t.TempDir(), "ids.jsonl")
	os.WriteFile(data, []byte(`{"input_ids":[1,403,407,261,378,432,383,286,300,301]}`+"\n"), 0o644)
	loss := func(args ...string) (float64, string) {
		t.Helper()
		out, stderr, err := runGoloraSplit(t, append([]string{"eval", "--data", data, "--json"}, args...)...)
		if err != nil {
			t.Fatalf("eval %v: %v", args, err)
		}
		var r struct {
			Loss float64 `json:"loss"`
		}
		if err := json.Unmarshal([]byte(out), &r); err != nil {
			t.Fatalf("eval output %q: %v", out, err)
		}
		return r.Loss, stderr
	}
	byID, _ := loss("--model", "golora-test/stories-x")
	byPath, _ := loss("--model", snap)
	embeddedLoss, _ := loss()
	if byID != byPath || byID == embeddedLoss {
		t.Errorf("eval --model hub id %v, snapshot path %v, embedded %v", byID, byPath, embeddedLoss)
	}
	fromAdapter, note := loss("--adapter", cached)
	withModel, _ := loss("--adapter", cached, "--model", snap)
	if fromAdapter != withModel {
		t.Errorf("eval --adapter (base from the adapter) %v, with --model the snapshot %v", fromAdapter, withModel)
	}
	if !strings.Contains(note, "golora-test/stories-x") || !strings.Contains(note, snap) {
		t.Errorf("no note naming the adapter's base and its cache folder: %q", note)
	}
	if _, note := loss("--adapter", none); !strings.Contains(note, "embedded "+embedded.Name) {
		t.Errorf("adapter without a base: note %q", note)
	}

	// generate runs on the base too, with its tokenizer found in the snapshot.
	gen := func(args ...string) string {
		out, _, err := runGoloraSplit(t, append([]string{"generate", "--prompt", "Once upon a time", "--temperature", "0", "--max-new-tokens", "12"}, args...)...)
		if err != nil {
			t.Fatalf("generate %v: %v", args, err)
		}
		return out
	}
	if a, b := gen("--adapter", cached), gen("--adapter", cached, "--model", "golora-test/stories-x"); a != b {
		t.Errorf("generate --adapter alone %q, with --model the hub id %q", a, b)
	}

	// --tokenizer takes a hub id too.
	if a, b := gen("--adapter", cached), gen("--adapter", cached, "--tokenizer", "golora-test/stories-x"); a != b {
		t.Errorf("generate --tokenizer hub id %q, found beside the model %q", b, a)
	}

	// inspect says which model an adapter alone would run on.
	for dir, want := range map[string]string{cached: snap, none: "embedded " + embedded.Name, missing: "none: neither a local path nor in the Hugging Face cache " + hub} {
		rep, err := inspectPath(dir)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(rep.Adapter.BaseModelUse, want) {
			t.Errorf("inspect %s: base model in use %q, want it to say %q", dir, rep.Adapter.BaseModelUse, want)
		}
	}

	// A model loaded from the cache is known by its hub id, so an adapter
	// recording that id gets no "trained on another base" warning.
	lm, err := loadModel(snap)
	if err != nil {
		t.Fatal(err)
	}
	if from := loadedFrom[lm]; from != "golora-test/stories-x" || lora.BaseMismatch("golora-test/stories-x", cached, from, embedded.Name) != "" {
		t.Errorf("model loaded from the cache is recorded as %q", from)
	}

	// EOS ids come from the snapshot's generation_config.json for a hub id.
	if ids := generate.EOSIDs(lm, "golora-test/stories-x", nil); !slices.Contains(ids, 7) {
		t.Errorf("EOSIDs for the hub id: %v, want 7 from generation_config.json", ids)
	}

	// Nothing there: a clear error that downloads nothing.
	for _, args := range [][]string{
		{"eval", "--data", data, "--model", "golora-test/not-downloaded"},
		{"eval", "--data", data, "--adapter", missing},
		{"generate", "--prompt", "x", "--adapter", missing},
		{"merge", "--adapter", missing, "--out", filepath.Join(t.TempDir(), "out")},
	} {
		_, _, err := runGoloraSplit(t, args...)
		if err == nil || !strings.Contains(err.Error(), "golora-test/not-downloaded") || !strings.Contains(err.Error(), "downloads nothing") {
			t.Errorf("%v: error %v", args, err)
		}
	}

	// train --init-adapter alone continues on the adapter's base, and the new
	// adapter records the same hub id.
	runOut := t.TempDir()
	_, stderr, err := runGoloraSplit(t, "train", "--init-adapter", cached, "--steps", "1", "--seq-len", "32", "--batch", "1", "--out", runOut)
	if err != nil {
		t.Fatalf("train --init-adapter: %v", err)
	}
	var ac struct {
		Base string `json:"base_model_name_or_path"`
	}
	b, _ := os.ReadFile(filepath.Join(runOut, "adapter_config.json"))
	if err := json.Unmarshal(b, &ac); err != nil || ac.Base != "golora-test/stories-x" || !strings.Contains(stderr, snap) {
		t.Errorf("train --init-adapter: base_model_name_or_path %q (%v), stderr %q", ac.Base, err, stderr)
	}

	// merge --adapter alone merges into the cached base.
	out := filepath.Join(t.TempDir(), "merged")
	stdout, _, err := runGoloraSplit(t, "merge", "--adapter", cached, "--out", out)
	if err != nil || !strings.Contains(stdout, snap) {
		t.Fatalf("merge: %q, %v", stdout, err)
	}
	if merged, _ := loss("--model", out); merged-fromAdapter > 1e-5 || fromAdapter-merged > 1e-5 {
		t.Errorf("merged model loss %v, adapter on its base %v", merged, fromAdapter)
	}
}
