package model

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// fakeHub writes a hub cache entry for id in hub: a snapshot per commit,
// each with a config.json, and refs/main when main is not "".
func fakeHub(t *testing.T, hub, id, main string, commits ...string) string {
	t.Helper()
	repo := filepath.Join(hub, "models--"+strings.ReplaceAll(id, "/", "--"))
	for _, c := range commits {
		d := filepath.Join(repo, "snapshots", c)
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(d, "config.json"), []byte(`{"model_type":"llama"}`), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if main != "" {
		os.MkdirAll(filepath.Join(repo, "refs"), 0o755)
		if err := os.WriteFile(filepath.Join(repo, "refs", "main"), []byte(main), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return repo
}

func TestHubCacheDir(t *testing.T) {
	for _, k := range []string{"HF_HUB_CACHE", "HUGGINGFACE_HUB_CACHE", "HF_HOME", "XDG_CACHE_HOME"} {
		t.Setenv(k, "")
	}
	t.Setenv("HOME", "/home/u")
	// Each step sets one more variable; the later ones win.
	for _, s := range []struct{ key, val, want string }{
		{"", "", "/home/u/.cache/huggingface/hub"},
		{"XDG_CACHE_HOME", "/xdg", "/xdg/huggingface/hub"},
		{"HF_HOME", "~/hf", "/home/u/hf/hub"},
		{"HF_HOME", "/hf", "/hf/hub"},
		{"HF_HUB_CACHE", "/cache", "/cache"},
	} {
		if s.key != "" {
			t.Setenv(s.key, s.val)
		}
		if got := HubCacheDir(); got != s.want {
			t.Errorf("%s=%s: %s, want %s", s.key, s.val, got, s.want)
		}
	}
}

func TestResolveHubID(t *testing.T) {
	home := t.TempDir()
	t.Setenv("HF_HUB_CACHE", "")
	t.Setenv("HUGGINGFACE_HUB_CACHE", "")
	t.Setenv("HF_HOME", home)
	hub := filepath.Join(home, "hub")
	// refs/main picks one of two snapshots (with a trailing newline, as
	// some tools write it).
	repo := fakeHub(t, hub, "Qwen/Qwen3-0.6B", "bbbb\n", "aaaa", "bbbb")
	got, err := Resolve("Qwen/Qwen3-0.6B")
	if want := filepath.Join(repo, "snapshots", "bbbb"); err != nil || got != want {
		t.Errorf("Resolve = %q, %v; want %s", got, err, want)
	}
	// No namespace; no refs/main but a single snapshot (fetched at a fixed
	// revision).
	repo = fakeHub(t, hub, "distilgpt2", "", "cccc")
	if got, err := Resolve("distilgpt2"); err != nil || got != filepath.Join(repo, "snapshots", "cccc") {
		t.Errorf("Resolve(distilgpt2) = %q, %v", got, err)
	}
	// A local path wins over the cache.
	local := filepath.Join(t.TempDir(), "m")
	os.Mkdir(local, 0o755)
	if got, err := Resolve(local); err != nil || got != local {
		t.Errorf("Resolve(local) = %q, %v", got, err)
	}
	if got, err := Resolve(""); err != nil || got != "" {
		t.Errorf(`Resolve("") = %q, %v`, got, err)
	}

	bad := []struct{ id, want string }{
		{"Org/Missing", "does not exist"},
		{"no/such/path", "no such file or folder"},
	}
	fakeHub(t, hub, "Org/Two", "", "x1", "x2")
	bad = append(bad, struct{ id, want string }{"Org/Two", "2 snapshots"})
	fakeHub(t, hub, "Org/Stale", "gone", "x1")
	bad = append(bad, struct{ id, want string }{"Org/Stale", "refs/main names snapshot gone, which is missing"})
	r := fakeHub(t, hub, "Org/Partial", "p1", "p1")
	os.Remove(filepath.Join(r, "snapshots", "p1", "config.json"))
	bad = append(bad, struct{ id, want string }{"Org/Partial", "no config.json"})
	for _, b := range bad {
		_, err := Resolve(b.id)
		if err == nil || !strings.Contains(err.Error(), b.want) {
			t.Errorf("Resolve(%q): error %v, want it to say %q", b.id, err, b.want)
			continue
		}
		if IsHubID(b.id) && (!errors.Is(err, ErrNotInCache) || !strings.Contains(err.Error(), "downloads nothing") || !strings.Contains(err.Error(), hub)) {
			t.Errorf("Resolve(%q): %v: want ErrNotInCache, the cache folder and that nothing is downloaded", b.id, err)
		}
	}
	// Load goes through the cache too; the error is the model's, not a stat.
	if _, err := Load("Org/Missing"); !errors.Is(err, ErrNotInCache) {
		t.Errorf("Load(Org/Missing): %v", err)
	}
}

func TestHubIDOf(t *testing.T) {
	hub := t.TempDir()
	repo := fakeHub(t, hub, "Qwen/Qwen3-0.6B", "c1", "c1")
	snap := filepath.Join(repo, "snapshots", "c1")
	for _, p := range []string{snap, snap + "/", filepath.Join(snap, "config.json")} {
		if id, ok := HubIDOf(p); !ok || id != "Qwen/Qwen3-0.6B" {
			t.Errorf("HubIDOf(%s) = %q, %v", p, id, ok)
		}
	}
	for _, p := range []string{repo, hub, "/tmp/models--x/other/c1", ""} {
		if id, ok := HubIDOf(p); ok {
			t.Errorf("HubIDOf(%s) = %q", p, id)
		}
	}
}

func TestIsHubID(t *testing.T) {
	for _, s := range []string{"gpt2", "Qwen/Qwen3-0.6B", "meta-llama/Llama-3.2-1B", "HuggingFaceTB/SmolLM3-3B", "google/gemma-3-270m"} {
		if !IsHubID(s) {
			t.Errorf("IsHubID(%q) = false", s)
		}
	}
	for _, s := range []string{"", "/abs/path", "./m", "a/b/c", "a--b/c", "a/..", "x.bin/", "a b/c", strings.Repeat("x", 97)} {
		if IsHubID(s) {
			t.Errorf("IsHubID(%q) = true", s)
		}
	}
}

func TestResolveBase(t *testing.T) {
	home := t.TempDir()
	t.Setenv("HF_HUB_CACHE", filepath.Join(home, "hub"))
	repo := fakeHub(t, filepath.Join(home, "hub"), "Org/Base", "c1", "c1")
	local := filepath.Join(home, "local-model")
	os.Mkdir(local, 0o755)
	tests := []struct {
		base, path, note string
		err              bool
	}{
		{"", "", "records no base model", false},
		{"stories260K", "", "is the embedded stories260K", false},
		{"/old/machine/stories260K.bin", "", "is the embedded stories260K", false},
		{"Org/Base", filepath.Join(repo, "snapshots", "c1"), "from the Hugging Face cache", false},
		{local, local, "using the adapter's base model " + local, false},
		{"Org/NotHere", "", "", true},
		{"/old/machine/qwen", "", "", true},
	}
	for _, tc := range tests {
		path, note, err := ResolveBase(tc.base)
		if (err != nil) != tc.err || path != tc.path || !strings.Contains(note, tc.note) {
			t.Errorf("ResolveBase(%q) = %q, %q, %v", tc.base, path, note, err)
		}
		if err != nil && !strings.Contains(err.Error(), "--model") {
			t.Errorf("ResolveBase(%q): error %v does not mention --model", tc.base, err)
		}
	}
}
