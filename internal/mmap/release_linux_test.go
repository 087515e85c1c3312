package mmap

import (
	"bytes"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// vmRSS is the process's resident set in bytes (/proc/self/status).
func vmRSS(t *testing.T) int64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range strings.Split(string(b), "\n") {
		if f := strings.Fields(l); len(f) == 3 && f[0] == "VmRSS:" {
			kb, err := strconv.ParseInt(f[1], 10, 64)
			if err != nil {
				t.Fatal(err)
			}
			return kb << 10
		}
	}
	t.Fatal("no VmRSS in /proc/self/status")
	return 0
}

// TestRelease: releasing a touched 32 MiB mapping takes its pages out of
// the resident set, and the bytes read back unchanged (odd bounds: only
// whole pages inside the slice go).
func TestRelease(t *testing.T) {
	const size = 32 << 20
	want := make([]byte, size)
	for i := range want {
		want[i] = byte(i*7 + i>>12)
	}
	path := filepath.Join(t.TempDir(), "w")
	if err := os.WriteFile(path, want, 0o644); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	data, unmap, err := File(f, size)
	if err != nil {
		t.Skip("mmap unavailable:", err)
	}
	defer unmap()
	if !bytes.Equal(data, want) { // touches every page
		t.Fatal("mapping differs from the file")
	}
	before := vmRSS(t)
	Release(data[3:])
	Release(data[:0])
	Release(data[100:101]) // no whole page: nothing
	after := vmRSS(t)
	if drop := before - after; drop < size*3/4 {
		t.Errorf("RSS went from %d to %d bytes after releasing %d mapped bytes", before, after, size)
	}
	if !bytes.Equal(data, want) {
		t.Fatal("released mapping reads back different bytes")
	}
}
