package testutil

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// TestArchitectureImports checks the "Packages (imports point down only)"
// diagram of docs/ARCHITECTURE.md against `go list`: every package of the
// module sits under a listed folder, each folder's arrows name exactly the
// other folders its non-test code imports, and every arrow points to a
// folder listed below it.
func TestArchitectureImports(t *testing.T) {
	root, err := RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	doc, err := os.ReadFile(filepath.Join(root, "docs", "ARCHITECTURE.md"))
	if err != nil {
		t.Fatal(err)
	}
	folders, arrows, err := parseDiagram(string(doc))
	if err != nil {
		t.Fatalf("docs/ARCHITECTURE.md: %v", err)
	}
	cmd := exec.Command("go", "list", "-f", "{{.ImportPath}} {{join .Imports \" \"}}", "./...")
	cmd.Dir = root
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, stderr.String())
	}
	module := modulePath(t, root)
	actual := map[string]map[string]bool{}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		f := strings.Fields(line)
		from := folderOf(folders, strings.TrimPrefix(strings.TrimPrefix(f[0], module), "/"))
		if from == "" {
			t.Errorf("package %s is in no folder of the diagram", f[0])
			continue
		}
		if actual[from] == nil {
			actual[from] = map[string]bool{}
		}
		for _, imp := range f[1:] {
			if rel, ok := strings.CutPrefix(imp, module+"/"); ok {
				if to := folderOf(folders, rel); to != from {
					actual[from][to] = true
				}
			}
		}
	}
	for i, from := range folders {
		var want []string
		for to := range actual[from] {
			want = append(want, to)
		}
		slices.Sort(want)
		got := slices.Sorted(slices.Values(arrows[from]))
		if !slices.Equal(got, want) {
			t.Errorf("%s/ -> %s in the diagram, but its code imports %s", from, strings.Join(got, ", "), strings.Join(want, ", "))
		}
		for _, to := range got {
			if j := slices.Index(folders, to); j <= i {
				t.Errorf("%s/ -> %s points up or to an unlisted folder", from, to)
			}
		}
	}
}

var (
	folderLine  = regexp.MustCompile(`^([a-z0-9_/]+)/\s`)
	parenthesis = regexp.MustCompile(`\([^)]*\)`)
)

// parseDiagram reads the code block under the Packages heading: a line
// "dir/  description  -> a, b" (or a following indented "-> a, b" line)
// gives dir's arrows; parenthesised notes are ignored.
func parseDiagram(doc string) (folders []string, arrows map[string][]string, err error) {
	_, rest, ok := strings.Cut(doc, "## Packages (imports point down only)")
	if !ok {
		return nil, nil, fmt.Errorf("no \"## Packages (imports point down only)\" section")
	}
	_, rest, ok = strings.Cut(rest, "```\n")
	block, _, ok2 := strings.Cut(rest, "```")
	if !ok || !ok2 {
		return nil, nil, fmt.Errorf("no code block in the Packages section")
	}
	arrows = map[string][]string{}
	for _, line := range strings.Split(block, "\n") {
		if m := folderLine.FindStringSubmatch(line); m != nil {
			folders = append(folders, m[1])
		} else if strings.TrimSpace(line) == "" {
			continue
		} else if !strings.HasPrefix(strings.TrimSpace(line), "->") || len(folders) == 0 {
			return nil, nil, fmt.Errorf("diagram line %q names no folder", line)
		}
		if _, to, ok := strings.Cut(line, "-> "); ok {
			from := folders[len(folders)-1]
			for _, name := range strings.Split(parenthesis.ReplaceAllString(to, ""), ",") {
				arrows[from] = append(arrows[from], strings.TrimSuffix(strings.TrimSpace(name), "/"))
			}
		}
	}
	return folders, arrows, nil
}

// folderOf is the longest listed folder holding the package at rel.
func folderOf(folders []string, rel string) string {
	best := ""
	for _, f := range folders {
		if (rel == f || strings.HasPrefix(rel, f+"/")) && len(f) > len(best) {
			best = f
		}
	}
	return best
}

// modulePath is the module line of go.mod.
func modulePath(t *testing.T, root string) string {
	b, err := os.ReadFile(filepath.Join(root, "go.mod"))
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if m, ok := strings.CutPrefix(line, "module "); ok {
			return strings.TrimSpace(m)
		}
	}
	t.Fatal("go.mod: no module line")
	return ""
}
