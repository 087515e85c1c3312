package safetensors

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"

	"github.com/golora/golora/tensor"
)

// Well-known file names in a Hugging Face model folder.
const (
	SingleFile = "model.safetensors"
	IndexFile  = "model.safetensors.index.json"
)

// maxIndexSize bounds model.safetensors.index.json; real ones are well under
// a megabyte even for models with thousands of tensors.
const maxIndexSize = 64 << 20

// Sharded is a checkpoint split over several files and tied together by an
// index ({"metadata": {...}, "weight_map": {tensor: shard file}}). It exposes
// the same API as a single File.
type Sharded struct {
	index    string
	shards   map[string]*File // by shard file name
	owner    map[string]*File // tensor name -> shard
	names    []string
	metadata map[string]string
}

// OpenDir opens the weights of a model folder: model.safetensors if present,
// else model.safetensors.index.json and its shards. A path to a .safetensors
// file or an index file is accepted too.
func OpenDir(dir string) (Source, error) {
	st, err := os.Stat(dir)
	if err != nil {
		return nil, &Error{File: dir, Err: err}
	}
	if !st.IsDir() {
		if strings.HasSuffix(dir, ".json") {
			return OpenSharded(dir)
		}
		return Open(dir)
	}
	single := filepath.Join(dir, SingleFile)
	if _, err := os.Stat(single); err == nil {
		return Open(single)
	}
	idx := filepath.Join(dir, IndexFile)
	if _, err := os.Stat(idx); err == nil {
		return OpenSharded(idx)
	}
	return nil, &Error{File: dir, Err: fmt.Errorf("%w: neither %s nor %s", fs.ErrNotExist, SingleFile, IndexFile)}
}

// OpenSharded opens an index file and every shard it names, validating each
// shard's header and that every tensor in the weight map is in its shard.
// Shard names must be plain file names beside the index: a weight map cannot
// point outside the model folder. indexPath may also be the model folder.
func OpenSharded(indexPath string) (*Sharded, error) {
	if st, err := os.Stat(indexPath); err == nil && st.IsDir() {
		indexPath = filepath.Join(indexPath, IndexFile)
	}
	if st, err := os.Stat(indexPath); err == nil && !st.Mode().IsRegular() {
		return nil, &Error{File: indexPath, Err: fmt.Errorf("%w: not a regular file (%v)", ErrHeader, st.Mode().Type())}
	}
	f, err := os.Open(indexPath)
	if err != nil {
		return nil, &Error{File: indexPath, Err: err}
	}
	raw, err := io.ReadAll(io.LimitReader(f, maxIndexSize+1))
	f.Close()
	if err != nil {
		return nil, &Error{File: indexPath, Err: err}
	}
	if len(raw) > maxIndexSize {
		return nil, newError(indexPath, "", ErrHeader, "index is larger than %d bytes", maxIndexSize)
	}
	var idx struct {
		Metadata  map[string]any    `json:"metadata"`
		WeightMap map[string]string `json:"weight_map"`
	}
	if err := json.Unmarshal(raw, &idx); err != nil {
		return nil, newError(indexPath, "", ErrHeader, "index is not valid JSON: %v", err)
	}
	if len(idx.WeightMap) == 0 {
		return nil, newError(indexPath, "", ErrHeader, "index has no weight_map")
	}
	s := &Sharded{index: indexPath, shards: map[string]*File{}, owner: map[string]*File{}, metadata: map[string]string{}}
	for k, v := range idx.Metadata {
		if str, ok := v.(string); ok {
			s.metadata[k] = str
		} else {
			b, _ := json.Marshal(v)
			s.metadata[k] = string(b)
		}
	}
	dir := filepath.Dir(indexPath)
	shardNames := make([]string, 0)
	for _, shard := range idx.WeightMap {
		if _, ok := s.shards[shard]; !ok {
			s.shards[shard] = nil
			shardNames = append(shardNames, shard)
		}
	}
	sort.Strings(shardNames)
	for _, shard := range shardNames {
		if shard == "" || shard != filepath.Base(shard) || shard == "." || shard == ".." || strings.ContainsAny(shard, `/\`) {
			s.Close()
			return nil, newError(indexPath, "", ErrHeader, "shard name %q is not a file name in the model folder", shard)
		}
		sf, err := Open(filepath.Join(dir, shard))
		if err != nil {
			s.Close()
			return nil, err
		}
		s.shards[shard] = sf
	}
	for name, shard := range idx.WeightMap {
		sf := s.shards[shard]
		if _, ok := sf.h.infos[name]; !ok {
			s.Close()
			return nil, newError(sf.path, name, ErrNotFound, "listed in %s but not in this shard", filepath.Base(indexPath))
		}
		s.owner[name] = sf
		s.names = append(s.names, name)
	}
	sort.Strings(s.names)
	return s, nil
}

// Names returns every tensor name in the weight map, sorted.
func (s *Sharded) Names() []string { return slices.Clone(s.names) }

// Info describes the named tensor (offsets are within its shard).
func (s *Sharded) Info(name string) (Info, bool) {
	f, ok := s.owner[name]
	if !ok {
		return Info{}, false
	}
	return f.Info(name)
}

// Tensor reads the named tensor from its shard as float32.
func (s *Sharded) Tensor(name string) (*tensor.Tensor, error) {
	f, ok := s.owner[name]
	if !ok {
		return nil, newError(s.index, name, ErrNotFound, "not in the weight map")
	}
	return f.Tensor(name)
}

// ReadInto converts the named tensor from its shard into dst.
func (s *Sharded) ReadInto(name string, dst []float32) error {
	f, ok := s.owner[name]
	if !ok {
		return newError(s.index, name, ErrNotFound, "not in the weight map")
	}
	return f.ReadInto(name, dst)
}

// Float64 reads the named tensor from its shard as float64.
func (s *Sharded) Float64(name string) ([]float64, []int, error) {
	f, ok := s.owner[name]
	if !ok {
		return nil, nil, newError(s.index, name, ErrNotFound, "not in the weight map")
	}
	return f.Float64(name)
}

// Int64 reads the named integer tensor from its shard.
func (s *Sharded) Int64(name string) ([]int64, []int, error) {
	f, ok := s.owner[name]
	if !ok {
		return nil, nil, newError(s.index, name, ErrNotFound, "not in the weight map")
	}
	return f.Int64(name)
}

// Metadata returns the index's "metadata" (non-string values as JSON text,
// e.g. total_size).
func (s *Sharded) Metadata() map[string]string {
	m := make(map[string]string, len(s.metadata))
	for k, v := range s.metadata {
		m[k] = v
	}
	return m
}

// Shards returns the shard file names, sorted.
func (s *Sharded) Shards() []string {
	out := make([]string, 0, len(s.shards))
	for n := range s.shards {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// Close closes every shard.
func (s *Sharded) Close() error {
	var errs []error
	for _, f := range s.shards {
		if f != nil {
			errs = append(errs, f.Close())
		}
	}
	return errors.Join(errs...)
}

var (
	_ Source = (*File)(nil)
	_ Source = (*Sharded)(nil)
)
