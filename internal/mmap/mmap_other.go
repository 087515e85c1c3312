//go:build !(linux || darwin || freebsd || netbsd || openbsd)

package mmap

import (
	"errors"
	"os"
)

// File is not available here; callers fall back to positioned reads.
func File(f *os.File, size int64) ([]byte, func() error, error) {
	return nil, nil, errors.New("mmap not supported on this platform")
}
