package atomicfile

import (
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestWriteFile(t *testing.T) {
	errBoom := errors.New("boom")
	tests := []struct {
		name    string
		old     string // "" means no old file
		write   func(w io.Writer) error
		want    string
		wantErr error
		panics  bool
	}{
		{name: "new file", write: writeString("hello"), want: "hello"},
		{name: "replace", old: "old contents", write: writeString("new"), want: "new"},
		{name: "empty", old: "old", write: writeString(""), want: ""},
		{name: "large", old: "old", write: writeString(strings.Repeat("x", 3<<20+7)), want: strings.Repeat("x", 3<<20+7)},
		{name: "failing writer keeps old", old: "precious", write: func(w io.Writer) error {
			io.WriteString(w, strings.Repeat("garbage", 1<<18))
			return errBoom
		}, want: "precious", wantErr: errBoom},
		{name: "failing writer no old file", write: func(w io.Writer) error { return errBoom }, wantErr: errBoom},
		{name: "panicking writer keeps old", old: "precious", write: func(w io.Writer) error {
			io.WriteString(w, "partial")
			panic("writer bug")
		}, want: "precious", panics: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, "f.bin")
			if tc.old != "" {
				if err := os.WriteFile(path, []byte(tc.old), 0o600); err != nil {
					t.Fatal(err)
				}
			}
			err := func() (err error) {
				defer func() {
					if r := recover(); r != nil && !tc.panics {
						t.Fatalf("unexpected panic %v", r)
					}
				}()
				return WriteFile(path, tc.write)
			}()
			if tc.wantErr != nil && !errors.Is(err, tc.wantErr) {
				t.Fatalf("err = %v, want %v", err, tc.wantErr)
			}
			if tc.wantErr == nil && !tc.panics && err != nil {
				t.Fatalf("err = %v", err)
			}
			got, rerr := os.ReadFile(path)
			switch {
			case tc.old == "" && tc.wantErr != nil:
				if !os.IsNotExist(rerr) {
					t.Fatalf("failed write created %s", path)
				}
			case rerr != nil:
				t.Fatal(rerr)
			case string(got) != tc.want:
				t.Fatalf("contents = %.20q (%d bytes), want %.20q (%d bytes)", got, len(got), tc.want, len(tc.want))
			}
			// No temporary files may be left behind, whatever happened.
			ents, _ := os.ReadDir(dir)
			for _, e := range ents {
				if e.Name() != "f.bin" {
					t.Errorf("leftover file %s", e.Name())
				}
			}
			if tc.old != "" && err == nil {
				st, _ := os.Stat(path)
				if st.Mode().Perm() != 0o600 {
					t.Errorf("mode = %v, want the old file's 0600", st.Mode().Perm())
				}
			}
		})
	}
}

func TestWriteBytes(t *testing.T) {
	path := filepath.Join(t.TempDir(), "x")
	if err := WriteBytes(path, []byte{1, 2, 3}); err != nil {
		t.Fatal(err)
	}
	got, _ := os.ReadFile(path)
	if string(got) != "\x01\x02\x03" {
		t.Fatalf("got %v", got)
	}
	st, _ := os.Stat(path)
	if st.Mode().Perm() != 0o644 {
		t.Errorf("mode = %v, want 0644", st.Mode().Perm())
	}
}

func TestWriteFileErrors(t *testing.T) {
	dir := t.TempDir()
	if err := WriteBytes(filepath.Join(dir, "missing", "x"), nil); err == nil {
		t.Error("write into a missing directory succeeded")
	}
	if err := WriteBytes(dir, nil); err == nil {
		t.Error("replacing a directory succeeded")
	}
}

func writeString(s string) func(io.Writer) error {
	return func(w io.Writer) error { _, err := io.WriteString(w, s); return err }
}
