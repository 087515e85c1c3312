package train

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/golora/golora/data"
	"github.com/golora/golora/model/embedded"
	"github.com/golora/golora/tokenizer"
)

func embeddedTokenizer(t *testing.T) tokenizer.Full {
	t.Helper()
	tok, err := tokenizer.ParseLlama2C(embedded.Tokenizer)
	if err != nil {
		t.Skipf("embedded tokenizer unavailable: %v", err)
	}
	return tok
}

// writePromptCompletion writes n short prompt/completion records, with a
// malformed line after the second when bad is set.
func writePromptCompletion(t *testing.T, n int, bad bool) string {
	t.Helper()
	var b strings.Builder
	for i := 0; i < n; i++ {
		fmt.Fprintf(&b, `{"prompt":"Once upon a time there was a cat number %d.","completion":" It liked to play."}`+"\n", i)
		if bad && i == 1 {
			b.WriteString(`{"prompt": 3}` + "\n")
		}
	}
	p := filepath.Join(t.TempDir(), "train.jsonl")
	if err := os.WriteFile(p, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func lossTargets(bs []data.Batch) (n int) {
	for _, b := range bs {
		for _, y := range b.Targets {
			if y != data.IgnoreIndex {
				n++
			}
		}
	}
	return n
}

// TestSetupDataOptions checks that the data settings of golora train reach
// the data pipeline: --skip-bad, --valid-fraction, --train-on-all, --pack.
func TestSetupDataOptions(t *testing.T) {
	tok := embeddedTokenizer(t)
	clean := writePromptCompletion(t, 8, false)
	dirty := writePromptCompletion(t, 8, true)
	base := DefaultConfig()
	base.Out, base.Batch, base.SeqLen, base.Steps = t.TempDir(), 2, 64, 1
	setup := func(mod func(*Config)) (*Trainer, string, error) {
		cfg := base
		mod(&cfg)
		var log bytes.Buffer
		tr, err := Setup(cfg, tok, func(f string, a ...any) { fmt.Fprintf(&log, f+"\n", a...) })
		return tr, log.String(), err
	}

	if _, _, err := setup(func(c *Config) { c.Data = dirty }); err == nil || !strings.Contains(err.Error(), dirty+":3:") {
		t.Errorf("malformed line 3 without --skip-bad: err = %v, want it to name %s:3", err, dirty)
	}
	_, log, err := setup(func(c *Config) { c.Data, c.SkipBad = dirty, true })
	if err != nil || !strings.Contains(log, "skipped 1 malformed line") || !strings.Contains(log, ":3:") {
		t.Errorf("--skip-bad: err %v, log lacks the skipped count and line:\n%s", err, log)
	}

	tr, _, err := setup(func(c *Config) { c.Data = clean })
	if err != nil {
		t.Fatal(err)
	}
	if tr.Valid != nil {
		t.Errorf("user data without --valid or --valid-fraction has %d validation batches, want none", len(tr.Valid))
	}

	// A held-out quarter: 2 of 8 examples, the same ones for the same seed.
	split := func(seed int64, onAll bool) []data.Batch {
		tr, log, err := setup(func(c *Config) { c.Data, c.ValidFraction, c.Seed, c.TrainOnAll = clean, 0.25, seed, onAll })
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(log, "validation: "+clean+" (held out): 2 examples") {
			t.Errorf("--valid-fraction 0.25 of 8 examples:\n%s", log)
		}
		if got := tr.Train.(iterBatches).it.Stats().Examples; got != 6 {
			t.Errorf("--valid-fraction 0.25: %d training examples, want 6", got)
		}
		return tr.Valid
	}
	v1, v2 := split(1, false), split(1, false)
	if fmt.Sprint(v1) != fmt.Sprint(v2) {
		t.Error("the held-out split differs between two runs with the same seed")
	}
	// The completion " It liked to play." and EOS carry the loss: far fewer
	// targets than with --train-on-all, which also covers the prompt.
	masked, all := lossTargets(v1), lossTargets(split(1, true))
	if masked == 0 || all <= masked {
		t.Errorf("loss targets: %d completion-only, %d with --train-on-all", masked, all)
	}

	if _, _, err := setup(func(c *Config) { c.Data, c.Valid, c.ValidFraction = clean, clean, 0.1 }); err == nil {
		t.Error("--valid and --valid-fraction together: no error")
	}

	// mlx-lm's layout: a folder with train.jsonl and valid.jsonl.
	dir := filepath.Dir(clean)
	if err := os.WriteFile(filepath.Join(dir, "valid.jsonl"), []byte(`{"text":"The end."}`+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if tr, log, err := setup(func(c *Config) { c.Data = dir }); err != nil || len(tr.Valid) != 1 || !strings.Contains(log, "valid.jsonl: 1 examples") {
		t.Errorf("--data FOLDER: err %v, log:\n%s", err, log)
	}

	rows := func(pack bool) int {
		tr, _, err := setup(func(c *Config) { c.Data, c.Pack = clean, pack })
		if err != nil {
			t.Fatal(err)
		}
		return tr.Train.(iterBatches).it.Stats().Rows
	}
	if plain, packed := rows(false), rows(true); plain != 8 || packed >= plain {
		t.Errorf("rows per epoch: %d unpacked (want 8), %d packed (want fewer)", plain, packed)
	}
}

// TestSetupResumeIdentical is the resume test through Setup, with
// the real data iterator (shuffled demo data), LoRA dropout and the real
// checkpoint files: 20 steps in one run and 10 + resume 10 give identical
// losses and byte-identical adapter files.
func TestSetupResumeIdentical(t *testing.T) {
	tok := embeddedTokenizer(t)
	run := func(out string, cancelAt int, resume bool) []StepRecord {
		cfg := DefaultConfig()
		cfg.Out, cfg.Steps, cfg.Batch, cfg.SeqLen, cfg.Warmup = out, 20, 2, 32, 3
		cfg.EvalEvery, cfg.EvalBatches, cfg.SaveEvery, cfg.Dropout, cfg.Seed, cfg.Resume = 5, 2, 7, 0.1, 3, resume
		tr, err := setupDemo(cfg, tok, nil)
		if err != nil {
			t.Fatal(err)
		}
		return runUntil(tr, cancelAt)
	}
	a, b := t.TempDir(), t.TempDir()
	sa := run(a, 0, false)
	sb := append(run(b, 10, false), run(b, 0, true)...)
	checkSameRuns(t, sa, sb, a, b)
}

// runUntil runs tr quietly, interrupting it (as Ctrl-C does) after step
// cancelAt (0: never), and returns the step records.
func runUntil(tr *Trainer, cancelAt int) []StepRecord {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var steps []StepRecord
	tr.Log = &bytes.Buffer{}
	tr.OnStep = func(r StepRecord) {
		steps = append(steps, r)
		if r.Step == cancelAt {
			cancel()
		}
	}
	tr.Run(ctx)
	return steps
}

// checkSameRuns fails unless the step records of an uninterrupted run (sa,
// writing to dirA) and of 10 steps + resume 10 (sb, dirB) are the same 20
// steps and both left byte-identical adapter files.
func checkSameRuns(t *testing.T, sa, sb []StepRecord, dirA, dirB string) {
	t.Helper()
	if len(sa) != 20 || len(sb) != 20 {
		t.Fatalf("%d and %d steps, want 20", len(sa), len(sb))
	}
	for i := range sa {
		if sa[i].Loss != sb[i].Loss || sa[i].GradNorm != sb[i].GradNorm || sa[i].Tokens != sb[i].Tokens {
			t.Errorf("step %d: loss %v / %v, grad norm %v / %v, tokens %d / %d", i+1,
				sa[i].Loss, sb[i].Loss, sa[i].GradNorm, sb[i].GradNorm, sa[i].Tokens, sb[i].Tokens)
		}
	}
	for _, f := range []string{"adapter_model.safetensors", "adapter_config.json"} {
		x, _ := os.ReadFile(filepath.Join(dirA, f))
		y, _ := os.ReadFile(filepath.Join(dirB, f))
		if len(x) == 0 || !bytes.Equal(x, y) {
			t.Errorf("%s differs between 20 steps and 10 + resume 10", f)
		}
	}
}

// setupDemo is what golora train does without --data: the embedded model
// trained on the embedded demo set, passed explicitly.
func setupDemo(cfg Config, tok data.Encoder, log func(string, ...any)) (*Trainer, error) {
	m, err := LoadModel(cfg)
	if err != nil {
		return nil, err
	}
	d, err := DemoData(cfg, tok)
	if err != nil {
		return nil, err
	}
	return SetupData(cfg, m, d, tok, log)
}

// TestSetupNeedsData: the engine never falls back to the demo set; without
// Config.Data it says so.
func TestSetupNeedsData(t *testing.T) {
	tok := embeddedTokenizer(t)
	cfg := DefaultConfig()
	cfg.Out = t.TempDir()
	if _, err := Setup(cfg, tok, nil); err == nil || !strings.Contains(err.Error(), "--data") {
		t.Errorf("Setup without data: err = %v, want one naming --data", err)
	}
	var log []string
	if _, err := setupDemo(cfg, tok, func(f string, a ...any) { log = append(log, fmt.Sprintf(f, a...)) }); err != nil {
		t.Fatal(err)
	}
	if s := strings.Join(log, "\n"); !strings.Contains(s, "embedded demo set") || !strings.Contains(s, "validation: ") {
		t.Errorf("demo setup log lacks the demo set and its held-out part:\n%s", s)
	}
}

// TestSetupNamesNoLossExamples: examples whose every loss token lies beyond
// --seq-len are left out, and the log names their lines, not just a count.
func TestSetupNamesNoLossExamples(t *testing.T) {
	tok := embeddedTokenizer(t)
	long := strings.Repeat("Once upon a time there was a very long prompt. ", 20)
	text := `{"prompt":"Hi.","completion":" Hello."}` + "\n\n" + // line 1, a blank line 2
		`{"prompt":"` + long + `","completion":" Lost."}` + "\n" + // line 3
		`{"prompt":"Yes?","completion":" No."}` + "\n" +
		`{"prompt":"` + long + `","completion":" Lost too."}` + "\n" // line 5
	p := filepath.Join(t.TempDir(), "train.jsonl")
	if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg := DefaultConfig()
	cfg.Out, cfg.Data, cfg.Batch, cfg.SeqLen = t.TempDir(), p, 2, 32
	var log strings.Builder
	tr, err := Setup(cfg, tok, func(f string, a ...any) { fmt.Fprintf(&log, f+"\n", a...) })
	if err != nil {
		t.Fatal(err)
	}
	if got := tr.Train.(iterBatches).it.Stats().Examples; got != 2 {
		t.Errorf("%d examples batched, want 2", got)
	}
	if want := "2 example(s) left out, all their loss tokens beyond --seq-len 32: line 3, line 5"; !strings.Contains(log.String(), want) {
		t.Errorf("log lacks %q:\n%s", want, log.String())
	}
}
