package main

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// readmeCommands returns the golora command lines a Markdown file shows:
// inline code that starts with "golora ", and lines of code blocks that do
// (after a "$ " prompt or "go run ./cmd/"), continuation lines joined.
func readmeCommands(doc string) []string {
	var cmds []string
	for _, m := range regexp.MustCompile("`(golora [^`]*)`").FindAllStringSubmatch(doc, -1) {
		cmds = append(cmds, m[1])
	}
	inBlock := false
	var cont string
	for _, line := range strings.Split(doc, "\n") {
		if strings.HasPrefix(line, "```") {
			inBlock = !inBlock
			continue
		}
		if !inBlock {
			continue
		}
		line = cont + strings.TrimSpace(line)
		cont = ""
		if strings.HasSuffix(line, `\`) {
			cont = strings.TrimSuffix(line, `\`) + " "
			continue
		}
		line = strings.TrimPrefix(strings.TrimPrefix(line, "$ "), "go run ./cmd/")
		if strings.HasPrefix(line, "golora ") {
			cmds = append(cmds, line)
		}
	}
	return cmds
}

// TestReadmeCommands: every golora command line in README.md and docs/
// names a command that exists and only flags that command has, so the
// documentation cannot drift from the binary (as `golora data --data FILE`
// once did).
func TestReadmeCommands(t *testing.T) {
	docs, _ := filepath.Glob(filepath.Join("..", "..", "docs", "*.md"))
	var cmds []string
	for _, f := range append([]string{filepath.Join("..", "..", "README.md")}, docs...) {
		doc, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		cmds = append(cmds, readmeCommands(string(doc))...)
	}
	if len(cmds) < 50 {
		t.Fatalf("found only %d command lines in README.md and docs/", len(cmds))
	}
	for _, line := range cmds {
		// The command itself: up to a pipe, comment, redirection or the next command.
		if i := strings.IndexAny(line, "#>;&"); i >= 0 {
			line = line[:i]
		}
		line = strings.ReplaceAll(line, `\|`, "|")
		var args []string
		// A quoted word is a value (--slurm-opts "--partition=cpu ..."), never a flag.
		line = regexp.MustCompile(`"[^"]*"|'[^']*'`).ReplaceAllString(line, "VALUE")
		for _, f := range strings.Fields(line)[1:] {
			if f = strings.Trim(f, "[]"); f != "" && f != "..." && f != "…" && f != "|" {
				args = append(args, f)
			}
		}
		cmd, _, err := rootCmd.Find(args)
		if err != nil {
			t.Errorf("%q: %v", line, err)
			continue
		}
		for _, a := range args {
			name, ok := strings.CutPrefix(a, "--")
			if !ok {
				continue
			}
			name, _, _ = strings.Cut(name, "=")
			if name != "help" && name != "version" && cmd.Flags().Lookup(name) == nil && cmd.InheritedFlags().Lookup(name) == nil {
				t.Errorf("%q: golora %s has no flag --%s", line, cmd.Name(), name)
			}
		}
	}
}
