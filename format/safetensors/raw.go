package safetensors

import "github.com/golora/golora/internal/mmap"

// Mapped reports whether the file's data is memory-mapped (or in memory):
// then Raw's bytes alias it and stay valid only until Close.
func (f *File) Mapped() bool { return f.mapped != nil }

// Raw returns the stored bytes of a tensor from its shard (see File.Raw).
func (s *Sharded) Raw(name string) ([]byte, Info, error) {
	f, ok := s.owner[name]
	if !ok {
		return nil, Info{}, newError(s.index, name, ErrNotFound, "not in the weight map")
	}
	return f.Raw(name)
}

// Mapped reports whether every shard is memory-mapped.
func (s *Sharded) Mapped() bool {
	for _, f := range s.owner {
		if !f.Mapped() {
			return false
		}
	}
	return true
}

// Release drops the tensor's pages from the process's resident set when
// the file is memory-mapped (mmap.Release), so converting a checkpoint
// tensor by tensor never holds the whole file in RSS; a no-op for files
// read through the descriptor or from caller's bytes.
func (f *File) Release(name string) {
	if in, ok := f.h.infos[name]; ok && f.unmap != nil && f.mapped != nil {
		mmap.Release(f.mapped[f.dataOff+in.Begin : f.dataOff+in.End])
	}
}

// Release drops the tensor's pages in its shard (see File.Release).
func (s *Sharded) Release(name string) {
	if f, ok := s.owner[name]; ok {
		f.Release(name)
	}
}
