// Command testsummary reads `go test -json` on stdin and prints what plain
// `go test` would (each package's ok/FAIL line, build errors, and the full
// output of failed tests), then a count of the skipped tests with their
// names and reasons. scripts/test.sh runs it so that skips are seen.
//
// A skip whose reason starts "reference file" is a parity test whose
// reference is missing (internal/testutil.Shared). With -strict (CI) any
// such skip makes it exit 1.
package main

import (
	"bufio"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
)

// event is one line of `go test -json` (cmd/test2json).
type event struct {
	Action  string
	Package string
	Test    string
	Output  string
}

// skip is a skipped test and the reason it logged.
type skip struct{ name, reason string }

func main() {
	strict := flag.Bool("strict", false, "exit 1 when a parity test skips for a missing reference")
	flag.Parse()
	parity, err := summarize(os.Stdin, os.Stdout)
	if err != nil {
		fmt.Fprintln(os.Stderr, "testsummary:", err)
		os.Exit(2)
	}
	if *strict && parity > 0 {
		fmt.Printf("FAIL: %d parity tests skipped for a missing reference (CI requires every reference in testdata/)\n", parity)
		os.Exit(1)
	}
}

// summarize prints the run and returns the number of parity skips.
func summarize(r io.Reader, w io.Writer) (int, error) {
	out := map[string][]string{} // package/test -> output lines so far
	var skips []skip
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 1<<20), 16<<20)
	for sc.Scan() {
		line := sc.Bytes()
		var e event
		if err := json.Unmarshal(line, &e); err != nil || e.Action == "" {
			fmt.Fprintln(w, string(line)) // not JSON: pass it through
			continue
		}
		key := e.Package + " " + e.Test
		switch {
		case e.Action == "build-output":
			fmt.Fprint(w, e.Output)
		case e.Action == "output" && e.Test == "":
			// Package-level lines: keep the ok/FAIL/no-test-files summary and
			// anything a failing package printed outside a test (a panic).
			if s := e.Output; !strings.HasPrefix(s, "=== ") && !strings.HasPrefix(s, "--- ") && s != "PASS\n" {
				fmt.Fprint(w, s)
			}
		case e.Action == "output":
			out[key] = append(out[key], e.Output)
		case e.Action == "fail" && e.Test != "":
			fmt.Fprint(w, strings.Join(out[key], ""))
			delete(out, key)
		case e.Action == "skip" && e.Test != "":
			skips = append(skips, skip{e.Package + "." + e.Test, reason(out[key])})
			delete(out, key)
		case e.Action == "pass" && e.Test != "":
			delete(out, key)
		}
	}
	if err := sc.Err(); err != nil {
		return 0, err
	}
	sort.Slice(skips, func(i, j int) bool { return skips[i].name < skips[j].name })
	parity := 0
	for _, s := range skips {
		if strings.HasPrefix(s.reason, "reference file") {
			parity++
		}
	}
	fmt.Fprintf(w, "%d tests skipped (%d parity tests missing a reference)\n", len(skips), parity)
	for _, s := range skips {
		fmt.Fprintf(w, "  SKIP %s: %s\n", s.name, s.reason)
	}
	return parity, nil
}

// reason is the message a skipped test logged: its output without the
// === RUN / --- SKIP framing, with the "file.go:12: " prefix removed.
func reason(lines []string) string {
	var msg []string
	for _, l := range lines {
		t := strings.TrimSpace(l)
		if t == "" || strings.HasPrefix(t, "=== ") || strings.HasPrefix(t, "--- ") {
			continue
		}
		if i := strings.Index(t, ".go:"); i >= 0 && !strings.Contains(t[:i], " ") {
			if j := strings.Index(t[i+4:], ": "); j >= 0 {
				t = t[i+4+j+2:]
			}
		}
		msg = append(msg, t)
	}
	return strings.Join(msg, " / ")
}
