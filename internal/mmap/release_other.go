//go:build !linux

package mmap

// Release is a no-op where madvise is not wired up: the pages stay
// resident until the mapping is closed.
func Release(b []byte) {}
