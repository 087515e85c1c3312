//go:build linux || darwin || freebsd || netbsd || openbsd

package gguf

import (
	"errors"
	"os"
	"syscall"
)

// mmapFile maps the whole file read-only. Pages are loaded on first touch, so
// opening a multi-gigabyte GGUF to read a few tensors costs little.
func mmapFile(f *os.File, size int64) ([]byte, func() error, error) {
	if size <= 0 || int64(int(size)) != size {
		return nil, nil, errors.New("cannot map")
	}
	data, err := syscall.Mmap(int(f.Fd()), 0, int(size), syscall.PROT_READ, syscall.MAP_SHARED)
	if err != nil {
		return nil, nil, err
	}
	return data, func() error { return syscall.Munmap(data) }, nil
}
