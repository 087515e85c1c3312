package serve

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/golora/golora/lora"
)

// registry is the set of model names clients may ask for: the base and the
// loaded adapters. Handlers take a reference before a request is queued and
// the engine drops it when the request ends, so an unload waits for the
// requests that use the adapter, and new requests for it get 404 at once.
type registry struct {
	mu       sync.Mutex
	base     string
	created  int64
	adapters map[string]*entry
}

type entry struct {
	dir      string
	created  int64
	refs     int
	draining bool
	gone     chan struct{} // closed once unloaded
}

func newRegistry(base string) *registry {
	return &registry{base: base, created: time.Now().Unix(), adapters: map[string]*entry{}}
}

// acquire takes a reference to the named model for one sequence and
// returns the adapter name ("" for the base).
func (r *registry) acquire(name string) (string, bool) {
	if name == r.base {
		return "", true
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	e := r.adapters[name]
	if e == nil || e.draining {
		return "", false
	}
	e.refs++
	return name, true
}

func (r *registry) release(adapter string) {
	if adapter == "" {
		return
	}
	r.mu.Lock()
	r.adapters[adapter].refs--
	r.mu.Unlock()
}

type modelInfo struct {
	name, dir string
	created   int64
}

// list is the base and then the adapters by name (draining ones are gone
// already for clients).
func (r *registry) list() []modelInfo {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := []modelInfo{{name: r.base, created: r.created}}
	var names []string
	for n, e := range r.adapters {
		if !e.draining {
			names = append(names, n)
		}
	}
	slices.Sort(names)
	for _, n := range names {
		out = append(out, modelInfo{name: n, dir: r.adapters[n].dir, created: r.adapters[n].created})
	}
	return out
}

func (r *registry) has(name string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return name == r.base || r.adapters[name] != nil
}

func (r *registry) add(name, dir string) {
	r.mu.Lock()
	r.adapters[name] = &entry{dir: dir, created: time.Now().Unix(), gone: make(chan struct{})}
	r.mu.Unlock()
}

// drain marks an adapter for unloading and returns a channel closed once
// it is unloaded, or nil if there is no such adapter.
func (r *registry) drain(name string) chan struct{} {
	r.mu.Lock()
	defer r.mu.Unlock()
	e := r.adapters[name]
	if e == nil {
		return nil
	}
	e.draining = true
	return e.gone
}

// drained lists the draining adapters no request uses any more.
func (r *registry) drained() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []string
	for n, e := range r.adapters {
		if e.draining && e.refs == 0 {
			out = append(out, n)
		}
	}
	return out
}

func (r *registry) remove(name string) {
	r.mu.Lock()
	e := r.adapters[name]
	delete(r.adapters, name)
	r.mu.Unlock()
	close(e.gone)
}

var validName = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$`)

// errNotFound marks errors that are a 404 to clients.
var errNotFound = errors.New("not found")

// confine resolves path (relative to root, or absolute) and checks that it
// names something inside root after following symlinks; ".." elements are
// refused outright.
func confine(root, path string) (string, error) {
	if root == "" {
		return "", errors.New("runtime loading is off: start the server with --adapter-dir")
	}
	if path == "" {
		return "", errors.New(`"path" is required`)
	}
	for _, part := range strings.Split(filepath.ToSlash(path), "/") {
		if part == ".." {
			return "", fmt.Errorf("path %q may not contain a .. element", path)
		}
	}
	rootReal, err := filepath.EvalSymlinks(root)
	if err != nil {
		return "", fmt.Errorf("--adapter-dir: %w", err)
	}
	if rootReal, err = filepath.Abs(rootReal); err != nil {
		return "", err
	}
	p := path
	if !filepath.IsAbs(p) {
		p = filepath.Join(root, p)
	}
	real, err := filepath.EvalSymlinks(p)
	if err != nil {
		if os.IsNotExist(err) {
			return "", fmt.Errorf("adapter %q: %w", path, errNotFound)
		}
		return "", fmt.Errorf("adapter %q: %w", path, err)
	}
	if real, err = filepath.Abs(real); err != nil {
		return "", err
	}
	rel, err := filepath.Rel(rootReal, real)
	if err != nil || rel == ".." || strings.HasPrefix(rel, ".."+string(filepath.Separator)) {
		return "", fmt.Errorf("adapter path %q resolves outside --adapter-dir", path)
	}
	return real, nil
}

// loadAdapter loads a PEFT LoRA adapter folder onto lm as name and checks
// that it can be routed per row; on any error lm is left as it was. It runs
// on the engine goroutine.
func loadAdapter(lm *lora.Model, name, dir string) error {
	if err := lm.Load(dir, name); err != nil {
		return err
	}
	cfg := lm.Config(name)
	var bad string
	switch {
	case cfg == nil:
		bad = "not a LoRA adapter"
	case len(cfg.ModulesToSave) > 0:
		bad = "modules_to_save replaces whole layers, which cannot differ between rows of one batch"
	case len(cfg.TrainableTokens) > 0:
		bad = "trainable_token_indices also changes the output head, which the server does not route per row"
	case cfg.Bias != "" && cfg.Bias != "none":
		bad = fmt.Sprintf("bias %q trains the base layers' biases, which cannot differ between rows of one batch", cfg.Bias)
	}
	for _, s := range lm.Layers() {
		if bad == "" && s.Head && s.Adapter(name) != nil {
			bad = "it adapts the output head, which the server does not route per row"
		}
	}
	if bad != "" {
		lm.Delete(name)
		return fmt.Errorf("adapter %s: %s", dir, bad)
	}
	lm.Freeze(name)
	return lm.SetActive(append(lm.ActiveNames(), name)...)
}
