package main

import (
	"strings"
	"testing"
)

// TestSummarize: ok lines and a failed test's output pass through, skips
// are counted and named with their reasons, and only "reference file"
// skips count as parity skips.
func TestSummarize(t *testing.T) {
	in := strings.Join([]string{
		`{"Action":"run","Package":"p","Test":"TestA"}`,
		`{"Action":"output","Package":"p","Test":"TestA","Output":"=== RUN   TestA\n"}`,
		`{"Action":"output","Package":"p","Test":"TestA","Output":"    a_test.go:9: reference file fixtures/x not in testdata/ or ../shared\n"}`,
		`{"Action":"output","Package":"p","Test":"TestA","Output":"--- SKIP: TestA (0.00s)\n"}`,
		`{"Action":"skip","Package":"p","Test":"TestA"}`,
		`{"Action":"output","Package":"p","Test":"TestB","Output":"    b_test.go:3: npm tokenizers absent\n"}`,
		`{"Action":"skip","Package":"p","Test":"TestB"}`,
		`{"Action":"output","Package":"p","Test":"TestC","Output":"    c_test.go:5: got 1 want 2\n"}`,
		`{"Action":"fail","Package":"p","Test":"TestC"}`,
		`{"Action":"output","Package":"p","Test":"TestD","Output":"    quiet on pass\n"}`,
		`{"Action":"pass","Package":"p","Test":"TestD"}`,
		`{"Action":"output","Package":"p","Output":"FAIL\tp\t0.01s\n"}`,
		`{"Action":"output","Package":"q","Output":"ok  \tq\t0.02s\n"}`,
	}, "\n")
	var out strings.Builder
	parity, err := summarize(strings.NewReader(in), &out)
	if err != nil {
		t.Fatal(err)
	}
	want := "    c_test.go:5: got 1 want 2\n" +
		"FAIL\tp\t0.01s\n" +
		"ok  \tq\t0.02s\n" +
		"2 tests skipped (1 parity tests missing a reference)\n" +
		"  SKIP p.TestA: reference file fixtures/x not in testdata/ or ../shared\n" +
		"  SKIP p.TestB: npm tokenizers absent\n"
	if parity != 1 || out.String() != want {
		t.Errorf("parity %d, output:\n%s\nwant 1 and:\n%s", parity, out.String(), want)
	}
}
