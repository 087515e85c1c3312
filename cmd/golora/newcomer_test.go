package main

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/golora/golora/experiment"
)

// TestMain lets a test run golora as a process of its own (for signals and
// exit statuses): the test binary started with GOLORA_TEST_MAIN=1 is golora.
func TestMain(m *testing.M) {
	if os.Getenv("GOLORA_TEST_MAIN") == "1" {
		main()
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// goloraProcess is `golora args...` as a separate process.
func goloraProcess(args ...string) *exec.Cmd {
	c := exec.Command(os.Args[0], args...)
	c.Env = append(os.Environ(), "GOLORA_TEST_MAIN=1")
	return c
}

// TestVersion: --version and the version command print the module version
// and Go version from the binary's build information (and the VCS revision
// when the build has one).
func TestVersion(t *testing.T) {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		t.Fatal("no build information in the test binary")
	}
	for _, args := range [][]string{{"--version"}, {"version"}} {
		out := runGolora(t, args...)
		if !strings.HasPrefix(out, "golora "+bi.Main.Version+" ") || !strings.HasSuffix(out, runtime.Version()+" "+runtime.GOOS+"/"+runtime.GOARCH+"\n") {
			t.Errorf("golora %s = %q, want golora %s ... %s", args[0], out, bi.Main.Version, runtime.Version())
		}
		for _, s := range bi.Settings {
			if s.Key == "vcs.revision" && !strings.Contains(out, s.Value) {
				t.Errorf("golora %s = %q lacks the revision %s", args[0], out, s.Value)
			}
		}
	}
}

// TestExperimentListWraps: --list prints every description whole, wrapped
// to 80 columns, never cut.
func TestExperimentListWraps(t *testing.T) {
	out := runGolora(t, "experiment", "--list")
	for _, l := range strings.Split(out, "\n") {
		if n := utf8.RuneCountInString(l); n > listWidth {
			t.Errorf("line of %d columns: %q", n, l)
		}
	}
	flat := strings.Join(strings.Fields(out), " ")
	for _, n := range experiment.Builtin() {
		s, err := experiment.Load(n)
		if err != nil {
			t.Fatal(err)
		}
		if d := strings.Join(strings.Fields(s.Description), " "); !strings.Contains(flat, d) {
			t.Errorf("--list lacks the whole description of %s: %q", n, d)
		}
	}
	for _, task := range experiment.Tasks {
		if !strings.Contains(flat, task.About) {
			t.Errorf("--list lacks task %s's %q", task.Name, task.About)
		}
	}
}

// TestGenerateEndsWithNewline: whatever ends the text (the token limit, a
// stop string, the ids of --print-ids), the output ends with a newline, so
// the shell prompt starts on a line of its own.
func TestGenerateEndsWithNewline(t *testing.T) {
	for _, args := range [][]string{
		{"--max-tokens", "6"},
		{"--max-tokens", "40", "--stop", "Lily"},
		{"--max-tokens", "6", "--print-ids"},
		{"--max-new-tokens", "8", "--chat"},
	} {
		out := runGolora(t, append([]string{"generate", "--prompt", "Once upon a time", "--temperature", "0"}, args...)...)
		if !strings.HasSuffix(out, "\n") || strings.TrimSpace(out) == "" {
			t.Errorf("generate %v = %q, want text ending with a newline", args, out)
		}
	}
}

// TestTrainInterrupt: Ctrl-C (SIGINT) during train saves a checkpoint at
// the step it stopped after, exits 130 as a shell expects of an interrupted
// command, and says where the checkpoint is and how to resume; the resumed
// run continues from that step.
func TestTrainInterrupt(t *testing.T) {
	out := filepath.Join(t.TempDir(), "run")
	c := goloraProcess("train", "--steps", "100000", "--seq-len", "16", "--batch", "1", "--log-every", "1", "--eval-every", "0", "--save-every", "0", "--out", out)
	stdout, err := c.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr bytes.Buffer
	c.Stderr = &stderr
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(stdout)
	for sc.Scan() && !strings.HasPrefix(sc.Text(), "step 2/") {
	}
	if err := c.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	for sc.Scan() {
	}
	done := make(chan error, 1)
	go func() { done <- c.Wait() }()
	select {
	case err = <-done:
	case <-time.After(time.Minute):
		c.Process.Kill()
		t.Fatal("train did not stop within a minute of SIGINT")
	}
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 130 {
		t.Fatalf("interrupted train: %v, want exit status 130; stderr:\n%s", err, stderr.String())
	}
	latest, err := os.ReadFile(filepath.Join(out, "checkpoints", "latest"))
	if err != nil {
		t.Fatal(err)
	}
	ckpt := filepath.Join(out, "checkpoints", strings.TrimSpace(string(latest)))
	msg := stderr.String()
	for _, want := range []string{"interrupted at step", "checkpoint saved at " + ckpt, "resume with: golora train --out " + out + " --resume"} {
		if !strings.Contains(msg, want) {
			t.Errorf("stderr lacks %q:\n%s", want, msg)
		}
	}
	if strings.Contains(msg, "context canceled") {
		t.Errorf("stderr speaks Go:\n%s", msg)
	}
	var step int
	if _, err := fmt.Sscanf(filepath.Base(ckpt), "step-%d", &step); err != nil || step < 2 {
		t.Fatalf("checkpoint %s: step %d (%v), want >= 2", ckpt, step, err)
	}
	log := runGolora(t, "train", "--out", out, "--resume", "--steps", strconv.Itoa(step+1))
	if !strings.Contains(log, "step "+strconv.Itoa(step+1)+"/"+strconv.Itoa(step+1)) {
		t.Errorf("resumed run did not continue from step %d:\n%s", step, log)
	}
}
