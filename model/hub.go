package model

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"

	"github.com/golora/golora/model/embedded"
)

// Hugging Face hub ids are resolved from the local cache that
// huggingface_hub (transformers, `hf download`) fills; golora never
// downloads. The cache layout is
//
//	HUB/models--ORG--NAME/refs/main            (commit hash of the main branch)
//	HUB/models--ORG--NAME/snapshots/<commit>/  (the files, links into blobs/)
//
// where HUB is $HF_HUB_CACHE, else $HF_HOME/hub, else
// $XDG_CACHE_HOME/huggingface/hub, else ~/.cache/huggingface/hub.

// HubCacheDir returns the Hugging Face hub cache folder the environment
// selects, as huggingface_hub computes it.
func HubCacheDir() string {
	home, err := os.UserHomeDir()
	if err != nil {
		home = "."
	}
	// huggingface_hub expands a leading ~ in these variables.
	env := func(k string) string {
		v := os.Getenv(k)
		if v == "~" || strings.HasPrefix(v, "~/") {
			v = filepath.Join(home, v[1:])
		}
		return v
	}
	for _, k := range []string{"HF_HUB_CACHE", "HUGGINGFACE_HUB_CACHE"} {
		if v := env(k); v != "" {
			return v
		}
	}
	if v := env("HF_HOME"); v != "" {
		return filepath.Join(v, "hub")
	}
	if v := env("XDG_CACHE_HOME"); v != "" {
		return filepath.Join(v, "huggingface", "hub")
	}
	return filepath.Join(home, ".cache", "huggingface", "hub")
}

// hubID is huggingface_hub's validate_repo_id: an optional namespace and a
// name of word characters, '-' and '.', no "--" or "..", at most 96 chars.
var hubID = regexp.MustCompile(`^([\w.-]+/)?[\w.-]+$`)

// IsHubID reports whether s has the form of a hub repository id
// ("Qwen/Qwen3-0.6B", "gpt2"). A local path may have it too; Resolve
// prefers the local path.
func IsHubID(s string) bool {
	return len(s) <= 96 && hubID.MatchString(s) && !strings.Contains(s, "--") &&
		!strings.Contains(s, "..") && !strings.HasPrefix(s, ".") && !strings.HasSuffix(s, ".")
}

// ErrNotInCache is returned (wrapped) by Resolve for a hub id that is not
// in the local cache.
var ErrNotInCache = errors.New("not in the Hugging Face cache")

// Resolve turns a --model argument into a local path: "" (the embedded
// model) and existing files or folders are returned unchanged; a hub id
// ("ORG/NAME") becomes the folder of its cached snapshot, the one refs/main
// names (or the only snapshot when the repository was fetched at a fixed
// revision and has no refs/main).
func Resolve(name string) (string, error) {
	if name == "" {
		return "", nil
	}
	if _, err := os.Stat(name); err == nil {
		return name, nil
	}
	if !IsHubID(name) {
		return "", fmt.Errorf("model: %s: no such file or folder", name)
	}
	hub := HubCacheDir()
	dir, err := snapshotDir(hub, name)
	if err != nil {
		return "", fmt.Errorf("model: %s is not a local path, and as a Hugging Face hub id it is %w %s (%v). "+
			"golora downloads nothing: fetch it first (`hf download %s`) or give a local folder", name, ErrNotInCache, hub, err, name)
	}
	return dir, nil
}

// snapshotDir finds the snapshot folder of repository id in the hub cache.
func snapshotDir(hub, id string) (string, error) {
	repo := filepath.Join(hub, "models--"+strings.ReplaceAll(id, "/", "--"))
	snaps := filepath.Join(repo, "snapshots")
	if _, err := os.Stat(snaps); err != nil {
		return "", fmt.Errorf("%s does not exist", snaps)
	}
	var dir string
	if ref, err := os.ReadFile(filepath.Join(repo, "refs", "main")); err == nil {
		commit := strings.TrimSpace(string(ref))
		if commit == "" || strings.ContainsAny(commit, `/\`) || commit == "." || commit == ".." {
			return "", fmt.Errorf("%s holds %q, not a commit hash", filepath.Join(repo, "refs", "main"), commit)
		}
		dir = filepath.Join(snaps, commit)
		if _, err := os.Stat(dir); err != nil {
			return "", fmt.Errorf("refs/main names snapshot %s, which is missing", commit)
		}
	} else {
		entries, err := os.ReadDir(snaps)
		if err != nil {
			return "", err
		}
		var found []string
		for _, e := range entries {
			if e.IsDir() {
				found = append(found, e.Name())
			}
		}
		switch len(found) {
		case 0:
			return "", fmt.Errorf("%s holds no snapshot", snaps)
		case 1:
			dir = filepath.Join(snaps, found[0])
		default:
			return "", fmt.Errorf("%s has no refs/main and %d snapshots (%s); give the snapshot folder as --model", repo, len(found), strings.Join(found, ", "))
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "config.json")); err != nil {
		return "", fmt.Errorf("snapshot %s has no config.json (an incomplete download?)", dir)
	}
	return dir, nil
}

// isEmbeddedBase reports whether an adapter's base_model_name_or_path
// names golora's embedded model: empty (none recorded, what golora train
// writes for it), its name, or a path ending in it (stories260K.bin).
func isEmbeddedBase(base string) bool {
	if base == "" {
		return true
	}
	b := filepath.Base(filepath.ToSlash(base))
	return strings.TrimSuffix(b, filepath.Ext(b)) == embedded.Name && !exists(base)
}

func exists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}

// ResolveBase resolves the base_model_name_or_path that adapters record
// (base, "" when none), for commands given adapters but no --model. It
// returns the local path ("" = the embedded model) and a note saying which
// model is used. A recorded base that is neither the embedded model, a local
// path nor in the cache is an error, not a silent fall-back to the embedded
// model.
func ResolveBase(base string) (path, note string, err error) {
	if isEmbeddedBase(base) {
		if base == "" {
			return "", "the adapter records no base model (base_model_name_or_path); using the embedded " + embedded.Name, nil
		}
		return "", fmt.Sprintf("the adapter's base model %q is the embedded %s", base, embedded.Name), nil
	}
	path, err = Resolve(base)
	if err != nil {
		return "", "", fmt.Errorf("base_model_name_or_path %q: %w; or choose the base with --model", base, err)
	}
	if path == base {
		return path, fmt.Sprintf("using the adapter's base model %s", base), nil
	}
	return path, fmt.Sprintf("using the adapter's base model %s from the Hugging Face cache (%s)", base, path), nil
}

// HubIDOf returns the hub id of a snapshot folder of the hub cache
// (".../models--ORG--NAME/snapshots/<commit>", or a file in it), so that a
// model loaded from the cache can be named as the adapters trained on it
// record it.
func HubIDOf(path string) (string, bool) {
	dir := filepath.Clean(path)
	if st, err := os.Stat(dir); err == nil && !st.IsDir() {
		dir = filepath.Dir(dir)
	}
	snaps := filepath.Dir(dir)
	repo := filepath.Base(filepath.Dir(snaps))
	if filepath.Base(snaps) != "snapshots" || !strings.HasPrefix(repo, "models--") {
		return "", false
	}
	id := strings.ReplaceAll(strings.TrimPrefix(repo, "models--"), "--", "/")
	return id, IsHubID(id)
}
