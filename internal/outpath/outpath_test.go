package outpath

import (
	"os"
	"path/filepath"
	"testing"
)

func TestCheckNotInput(t *testing.T) {
	base := t.TempDir()
	model := filepath.Join(base, "model")
	os.Mkdir(model, 0o755)
	os.WriteFile(filepath.Join(model, "model.safetensors"), nil, 0o644)
	link := filepath.Join(base, "link")
	os.Symlink(model, link)
	for _, out := range []string{model, model + "/", link, filepath.Join(model, ".")} {
		if err := CheckNotInput("--out", out, model); err == nil {
			t.Errorf("out %s over input %s accepted", out, model)
		}
	}
	if err := CheckNotInput("--out", model, filepath.Join(model, "model.safetensors")); err == nil {
		t.Error("out = the folder of an input file accepted")
	}
	for _, out := range []string{filepath.Join(base, "new"), base} {
		if err := CheckNotInput("--out", out, model, ""); err != nil {
			t.Errorf("out %s: %v", out, err)
		}
	}
}
