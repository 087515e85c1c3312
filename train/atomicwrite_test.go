package train

import (
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"
)

// TestWriteAtomicFuncError: when the writer fails, its error comes back and
// neither the target nor a temp file is left (staticcheck SA4006 found the
// error shadowed, which renamed the half-written file into place).
func TestWriteAtomicFuncError(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "state.json")
	boom := errors.New("disk full")
	err := writeAtomicFunc(path, func(w io.Writer) error {
		w.Write([]byte("{\"half"))
		return boom
	})
	if !errors.Is(err, boom) {
		t.Fatalf("err = %v, want %v", err, boom)
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 0 {
		t.Fatalf("left %v behind", ents)
	}
}
