package mmap

import (
	"os"
	"syscall"
	"unsafe"
)

// Release drops the pages wholly inside b, a part of a mapping made by
// File, from the process's resident set (madvise MADV_DONTNEED). A loader
// that converts a checkpoint tensor by tensor calls it after each one, so
// its peak RSS holds one tensor of the file, not every page read so far.
// The mapping is read-only and shared, so nothing is lost: the bytes stay
// readable, faulted in again from the page cache or the file. b must not
// be ordinary memory (that would be zeroed).
func Release(b []byte) {
	if len(b) == 0 {
		return
	}
	ps := uintptr(os.Getpagesize())
	start := uintptr(unsafe.Pointer(&b[0]))
	lo, hi := (start+ps-1)&^(ps-1), (start+uintptr(len(b)))&^(ps-1)
	if hi > lo {
		// Only a hint: an error leaves the pages resident, nothing more.
		_ = syscall.Madvise(b[lo-start:hi-start], syscall.MADV_DONTNEED)
	}
}
