package safetensors

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
