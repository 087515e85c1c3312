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
	"github.com/golora/golora/lora"
	"github.com/golora/golora/model/embedded"
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

// interrupt sends SIGINT to the started c, runs drain (reading what c still
// writes to a pipe) and checks that c exits with status 130 within a minute.
func interrupt(t *testing.T, c *exec.Cmd, stderr *bytes.Buffer, drain func()) {
	t.Helper()
	if err := c.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	drain()
	done := make(chan error, 1)
	go func() { done <- c.Wait() }()
	var err error
	select {
	case err = <-done:
	case <-time.After(time.Minute):
		c.Process.Kill()
		t.Fatalf("golora %s did not stop within a minute of SIGINT", c.Args[1])
	}
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 130 {
		t.Fatalf("interrupted golora %s: %v, want exit status 130; stderr:\n%s", c.Args[1], err, stderr.String())
	}
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
	interrupt(t, c, &stderr, func() {
		for sc.Scan() { // the rest of the log, so that Wait can return
		}
	})
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
	log, err := goloraProcess("train", "--out", out, "--resume", "--steps", strconv.Itoa(step+1)).CombinedOutput()
	if err != nil || !strings.Contains(string(log), "step "+strconv.Itoa(step+1)+"/"+strconv.Itoa(step+1)) {
		t.Errorf("resumed run did not continue from step %d (%v):\n%s", step, err, log)
	}
}

// llama2cDir writes the embedded stories260K as a llama2.c checkpoint
// (stories260K.bin), with its tok512.bin beside it when withTok.
func llama2cDir(t *testing.T, withTok bool) string {
	t.Helper()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "stories260K.bin"), embedded.Model, 0o644); err != nil {
		t.Fatal(err)
	}
	if withTok {
		if err := os.WriteFile(filepath.Join(dir, "tok512.bin"), embedded.Tokenizer, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// TestOutputsCarryTokenizer: a merge of a llama2.c checkpoint, a
// --method full run and a pretrain folder each hold their tokenizer, so
// `golora generate --model OUT` prints text with nothing else given.
func TestOutputsCarryTokenizer(t *testing.T) {
	gen := []string{"generate", "--prompt", "Once upon a time", "--temperature", "0", "--max-tokens", "20"}
	src := llama2cDir(t, true)
	ckpt := filepath.Join(src, "stories260K.bin")

	// merge: the adapted llama2.c model and the merged folder write the same
	// text (the checkpoint is the embedded model).
	lc := lora.DefaultConfig()
	lc.TargetModules = lora.List("q_proj", "v_proj")
	_, adapter := savedLoRA(t, lc)
	merged := filepath.Join(t.TempDir(), "merged")
	runGolora(t, "merge", "--model", ckpt, "--adapter", adapter, "--out", merged)
	if _, err := os.Stat(filepath.Join(merged, "tok512.bin")); err != nil {
		t.Errorf("merged llama2.c model: %v", err)
	}
	sameGenerate(t, 20, []string{"--model", ckpt, "--adapter", adapter}, []string{"--model", merged})

	// train --method full and pretrain write model folders that generate reads as they are.
	full := filepath.Join(t.TempDir(), "full")
	runGolora(t, "train", "--method", "full", "--steps", "2", "--seq-len", "16", "--batch", "1", "--eval-every", "0", "--out", full)
	pre := filepath.Join(t.TempDir(), "pre")
	runGolora(t, "pretrain", "--layers", "1", "--hidden", "16", "--heads", "2", "--steps", "2", "--seq-len", "16", "--batch", "1", "--eval-every", "0", "--out", pre)
	for _, dir := range []string{full, pre} {
		out, stderr, err := runGoloraSplit(t, append(gen, "--model", dir)...)
		if err != nil || !strings.HasPrefix(out, "Once upon a time") {
			t.Errorf("generate --model %s: %q, %v\n%s", dir, out, err, stderr)
		}
	}
}

// TestGGUFMergeCarriesTokenizer: merging an adapter into a .gguf base writes
// the GGUF's embedded tokenizer as tokenizer.json and tokenizer_config.json,
// so `golora generate --model OUT` prints what the adapted GGUF model does.
func TestGGUFMergeCarriesTokenizer(t *testing.T) {
	base := filepath.Join(t.TempDir(), "base.gguf")
	runGolora(t, "export", "gguf", "--model=", "--out", base)
	adapter := randomAdapter(t) // the embedded model's names and shapes are the GGUF's
	merged := filepath.Join(t.TempDir(), "merged")
	runGolora(t, "merge", "--model", base, "--adapter", adapter, "--out", merged)
	for _, f := range []string{"tokenizer.json", "tokenizer_config.json"} {
		if _, err := os.Stat(filepath.Join(merged, f)); err != nil {
			t.Errorf("merged GGUF model: %v", err)
		}
	}
	if text := sameGenerate(t, 20, []string{"--model", base, "--adapter", adapter}, []string{"--model", merged}); !strings.HasPrefix(text, "Once upon a time") {
		t.Errorf("generate --model MERGED printed %q", text)
	}
}

// TestTrainTokenizerFlag: a model without a tokenizer trains on (and golora
// data checks) input_ids records with none, refuses text naming --tokenizer, and trains on text
// with --tokenizer, whose files its --method full output then carries.
func TestTrainTokenizerFlag(t *testing.T) {
	ckpt := filepath.Join(llama2cDir(t, false), "stories260K.bin")
	dir := t.TempDir()
	ids := filepath.Join(dir, "ids.jsonl")
	text := filepath.Join(dir, "text.jsonl")
	os.WriteFile(ids, []byte(`{"input_ids": [1, 403, 407, 261, 378, 432, 383, 286, 300, 12]}`+"\n"), 0o644)
	os.WriteFile(text, []byte(`{"text": "Once upon a time there was a cat."}`+"\n"), 0o644)
	args := []string{"train", "--model", ckpt, "--steps", "2", "--seq-len", "16", "--batch", "1", "--eval-every", "0"}

	if out, err := runGoloraErr(append(args, "--data", ids, "--out", filepath.Join(dir, "ids"))...); err != nil {
		t.Errorf("input_ids data without a tokenizer: %v\n%s", err, out)
	}
	if out := runGolora(t, "data", "--model", ckpt, "--show", "1", ids); !strings.Contains(out, "1 examples") || !strings.Contains(out, "403 407 261") {
		t.Errorf("golora data on input_ids without a tokenizer:\n%s", out)
	}
	past := filepath.Join(dir, "past.jsonl")
	os.WriteFile(past, []byte(`{"input_ids": [1, 403, 600]}`+"\n"), 0o644)
	if _, err := runGoloraErr(append(args, "--data", past, "--out", filepath.Join(dir, "past"))...); err == nil || !strings.Contains(err.Error(), "600") {
		t.Errorf("an id past the vocabulary without a tokenizer: %v", err)
	}
	_, err := runGoloraErr(append(args, "--data", text, "--out", filepath.Join(dir, "text"))...)
	if err == nil || !strings.Contains(err.Error(), "text.jsonl:1") || !strings.Contains(err.Error(), "--tokenizer") {
		t.Errorf("text data without a tokenizer: %v, want an error naming the line and --tokenizer", err)
	}
	tok := filepath.Join(llama2cDir(t, true), "tok512.bin")
	full := filepath.Join(dir, "full")
	if out, err := runGoloraErr(append(args, "--data", text, "--tokenizer", tok, "--method", "full", "--out", full)...); err != nil {
		t.Fatalf("--tokenizer: %v\n%s", err, out)
	}
	if out := runGolora(t, "generate", "--model", full, "--prompt", "Once", "--max-tokens", "5"); !strings.HasPrefix(out, "Once") {
		t.Errorf("generate --model FULL = %q", out)
	}
}

// TestDataFolder: eval and data take a data folder in mlx-lm's layout as
// train does: eval its test.jsonl, data every split it holds.
func TestDataFolder(t *testing.T) {
	dir := t.TempDir()
	rows := map[string]string{
		"train": `{"text": "Once upon a time there was a dog."}`,
		"valid": `{"text": "Lily saw a big red ball."}`,
		"test":  `{"input_ids": [1, 403, 407, 261, 378, 432]}`,
	}
	for s, r := range rows {
		os.WriteFile(filepath.Join(dir, s+".jsonl"), []byte(r+"\n"), 0o644)
	}
	if a, b := runGolora(t, "eval", "--data", dir), runGolora(t, "eval", "--data", filepath.Join(dir, "test.jsonl")); a != b {
		t.Errorf("eval --data DIR = %q, want test.jsonl's %q", a, b)
	}
	out := runGolora(t, "data", dir)
	for _, s := range []string{"train", "valid", "test"} {
		if !strings.Contains(out, filepath.Join(dir, s+".jsonl")+": 1 examples") {
			t.Errorf("data DIR lacks %s.jsonl:\n%s", s, out)
		}
	}
	empty := t.TempDir()
	if _, err := runGoloraErr("data", empty); err == nil || !strings.Contains(err.Error(), "train.jsonl") {
		t.Errorf("data on an empty folder: %v", err)
	}
	if _, err := runGoloraErr("eval", "--data", empty); err == nil || !strings.Contains(err.Error(), "test.jsonl") {
		t.Errorf("eval on a folder without test.jsonl: %v", err)
	}
}

// TestExperimentInterrupt: Ctrl-C during a local sweep exits 130 and says
// that the same command continues it, not "context canceled".
func TestExperimentInterrupt(t *testing.T) {
	dir := t.TempDir()
	sweep := filepath.Join(dir, "long.yaml")
	os.WriteFile(sweep, []byte("name: long\ntask: kjv-nt\nbase: embedded\nseeds: 1\ntrain:\n  r: 4\n  batch: 1\n  seq-len: 16\n  steps: 100000\n  eval-every: 0\naxes:\n  - key: lr\n    values: [1.0e-3]\n"), 0o644)
	out := filepath.Join(dir, "out")
	c := goloraProcess("experiment", sweep, "--out", out)
	var stderr bytes.Buffer
	c.Stderr = &stderr
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(time.Minute); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		if logs, _ := filepath.Glob(filepath.Join(out, "runs", "*", "metrics.jsonl")); len(logs) > 0 {
			break // training has started
		}
	}
	interrupt(t, c, &stderr, func() {})
	if msg := stderr.String(); !strings.Contains(msg, "rerun the same command to continue") || strings.Contains(msg, "context canceled") {
		t.Errorf("stderr:\n%s", msg)
	}
}
