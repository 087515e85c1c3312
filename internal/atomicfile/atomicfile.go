// Package atomicfile replaces files so that a reader (or a crash) sees either
// the old contents or the complete new contents, never a torn write: the data
// goes to a temporary file in the same directory (rename is only atomic within
// one file system), which is flushed, fsynced and closed before it is renamed
// over the target, and the directory is fsynced so the rename itself survives a
// power loss. Checkpoints and adapters are written this way so that an
// interrupted training run never destroys the last good checkpoint.
package atomicfile

import (
	"bufio"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
)

// bufSize is large enough that multi-megabyte tensors are written in few
// system calls, small enough not to matter next to the tensors themselves.
const bufSize = 1 << 20

// WriteFile atomically replaces path with what write produces. write gets a
// buffered writer; if it (or any step after it) fails, the temporary file is
// removed, the old file at path is left untouched and the error is returned.
// A new file gets mode 0644; an existing file keeps its mode.
func WriteFile(path string, write func(w io.Writer) error) (err error) {
	dir, base := filepath.Split(path)
	if dir == "" {
		dir = "."
	}
	mode := fs.FileMode(0o644)
	if st, statErr := os.Stat(path); statErr == nil {
		if !st.Mode().IsRegular() {
			return fmt.Errorf("atomicfile: %s: not a regular file", path)
		}
		mode = st.Mode().Perm()
	}
	tmp, err := os.CreateTemp(dir, "."+base+".tmp-*")
	if err != nil {
		return fmt.Errorf("atomicfile: %w", err)
	}
	tmpName := tmp.Name()
	closed, done := false, false
	defer func() {
		// Also runs while a panic in write unwinds, so no temp file is left
		// behind; the panic itself keeps going.
		if !done {
			if !closed {
				tmp.Close()
			}
			os.Remove(tmpName)
		}
	}()
	bw := bufio.NewWriterSize(tmp, bufSize)
	if err = write(bw); err != nil {
		return err
	}
	if err = bw.Flush(); err != nil {
		return fmt.Errorf("atomicfile: %s: %w", path, err)
	}
	if err = tmp.Chmod(mode); err != nil {
		return fmt.Errorf("atomicfile: %s: %w", path, err)
	}
	if err = tmp.Sync(); err != nil {
		return fmt.Errorf("atomicfile: %s: %w", path, err)
	}
	closed = true
	if err = tmp.Close(); err != nil {
		return fmt.Errorf("atomicfile: %s: %w", path, err)
	}
	if err = os.Rename(tmpName, path); err != nil {
		return fmt.Errorf("atomicfile: %w", err)
	}
	done = true
	return syncDir(dir)
}

// WriteBytes atomically replaces path with data.
func WriteBytes(path string, data []byte) error {
	return WriteFile(path, func(w io.Writer) error {
		_, err := w.Write(data)
		return err
	})
}

// syncDir makes the rename durable. Some file systems (and Windows) refuse to
// fsync a directory; the rename has still happened, so that is not an error.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return nil
	}
	d.Sync()
	return d.Close()
}

// SyncDir fsyncs a directory, making renames and new files in it durable
// (for callers that build a folder of files and rename it into place).
func SyncDir(dir string) error { return syncDir(dir) }
