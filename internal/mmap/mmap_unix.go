//go:build linux || darwin || freebsd || netbsd || openbsd

package mmap

import (
	"errors"
	"os"
	"syscall"
)

// File maps the whole of f (size bytes) read-only. Pages are loaded on first
// touch, so opening a multi-gigabyte checkpoint to read a few tensors costs
// little. The returned function unmaps it.
func File(f *os.File, size int64) ([]byte, func() error, error) {
	if size <= 0 || int64(int(size)) != size {
		return nil, nil, errors.New("cannot map")
	}
	data, err := syscall.Mmap(int(f.Fd()), 0, int(size), syscall.PROT_READ, syscall.MAP_SHARED)
	if err != nil {
		return nil, nil, err
	}
	return data, func() error { return syscall.Munmap(data) }, nil
}
