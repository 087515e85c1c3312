//go:build !(linux || darwin || freebsd || netbsd || openbsd)

package gguf

import (
	"errors"
	"os"
)

// mmapFile is not available here; File falls back to positioned reads.
func mmapFile(f *os.File, size int64) ([]byte, func() error, error) {
	return nil, nil, errors.New("mmap not supported on this platform")
}
