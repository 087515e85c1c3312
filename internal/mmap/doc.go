// Package mmap maps checkpoint files read-only (syscall.Mmap, no cgo) for the
// safetensors and GGUF readers, which fall back to positioned reads where it
// is not available.
package mmap
