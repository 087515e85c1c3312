package train

import (
	"context"
	"errors"
	"testing"
)

// TestInitAdapterResume interrupts a reference run half way and resumes it:
// the resumed steps still follow PyTorch's trajectory, so the checkpoint
// (not the initial adapter) is what a resumed run continues from.
func TestInitAdapterResume(t *testing.T) {
	common, cases := readTorchCases(t)
	c := cases[0]
	cfg, tr := torchTrainer(t, common, c)
	ctx, cancel := context.WithCancel(context.Background())
	var got []StepRecord
	tr.OnStep = func(r StepRecord) {
		got = append(got, r)
		if r.Step == 10 {
			cancel()
		}
	}
	if _, err := tr.Run(ctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("interrupted run: %v", err)
	}
	_, tr = torchTrainer(t, common, c, func(c *Config) { c.Out, c.Resume = cfg.Out, true })
	got = append(got, runSteps(t, tr)...)
	lossErr, wErr := torchErrors(t, c.Name, got, cfg.Out)
	if lossErr > 1e-5 || wErr > 1e-4 {
		t.Errorf("resumed run: loss error %.2g, weights %.2g", lossErr, wErr)
	}
}
