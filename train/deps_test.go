package train

import (
	"os/exec"
	"strings"
	"testing"
)

// TestEngineDeps: a program that embeds the engine links no flag parser,
// YAML library or plotting library; those live in train/trainconfig and
// train/lossplot, which only the command line uses.
func TestEngineDeps(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", ".").CombinedOutput()
	if err != nil {
		t.Fatalf("go list -deps: %v\n%s", err, out)
	}
	for _, dep := range strings.Fields(string(out)) {
		for _, banned := range []string{"github.com/spf13/pflag", "gopkg.in/yaml", "gonum.org/v1/plot", "github.com/spf13/cobra"} {
			if strings.HasPrefix(dep, banned) {
				t.Errorf("package train depends on %s", dep)
			}
		}
	}
}
