package train

import (
	"reflect"
	"strings"
	"testing"

	"github.com/golora/golora/data"
)

func TestConfigValidate(t *testing.T) {
	tests := []struct {
		mutate func(*Config)
		want   string
	}{
		{func(c *Config) { c.Method = "qlora" }, "--method"},
		{func(c *Config) { c.Schedule = "step" }, "--schedule"},
		{func(c *Config) { c.R = 0 }, "--r"},
		{func(c *Config) { c.LR = 0 }, "--lr"},
		{func(c *Config) { c.Steps, c.Epochs = 0, 0 }, "--steps"},
		{func(c *Config) { c.GradAccum = 0 }, "--grad-accum"},
		{func(c *Config) { c.Dropout = 1 }, "--dropout"},
		{func(c *Config) { c.Out = "" }, "--out"},
		{func(c *Config) { c.ValidFraction = 1 }, "--valid-fraction"},
		{func(c *Config) { c.ValidFraction = -0.1 }, "--valid-fraction"},
		{func(c *Config) { c.ValidFraction, c.Valid = 0.1, "v.jsonl" }, "not both"},
	}
	for _, tc := range tests {
		c := DefaultConfig()
		tc.mutate(&c)
		if err := c.Validate(); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("err = %v, want it to mention %s", err, tc.want)
		}
	}
	// Errors are reported together.
	c := DefaultConfig()
	c.LR, c.Batch = -1, 0
	if err := c.Validate(); err == nil || !strings.Contains(err.Error(), "--lr") || !strings.Contains(err.Error(), "--batch") {
		t.Errorf("want both --lr and --batch in %v", err)
	}
	// Method full needs no rank.
	c = DefaultConfig()
	c.Method, c.R = "full", 0
	if err := c.Validate(); err != nil {
		t.Errorf("--method full --r 0: %v", err)
	}
}

func TestShuffledBatchesRestore(t *testing.T) {
	ex := markovExamples(10, 6, 5, 1)
	a, err := NewShuffledBatches(ex, 3, 8, 0, 42)
	if err != nil {
		t.Fatal(err)
	}
	if a.BatchesPerEpoch() != 4 {
		t.Errorf("BatchesPerEpoch = %d, want 4", a.BatchesPerEpoch())
	}
	for i := 0; i < 7; i++ { // crosses an epoch boundary mid-batch
		b, _ := a.Next()
		if b.B != 3 || b.T != 8 || len(b.IDs) != 24 {
			t.Fatalf("batch shape %d x %d, %d ids", b.B, b.T, len(b.IDs))
		}
		// rows are padded from 6 to 8 with ignored targets
		if b.Targets[6] != data.IgnoreIndex || b.Targets[7] != data.IgnoreIndex {
			t.Fatalf("padding targets %v", b.Targets[:8])
		}
	}
	state, err := a.State()
	if err != nil {
		t.Fatal(err)
	}
	b, _ := NewShuffledBatches(ex, 3, 8, 0, 42)
	if err := b.Restore(state); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 10; i++ {
		x, _ := a.Next()
		y, _ := b.Next()
		if !reflect.DeepEqual(x, y) {
			t.Fatalf("batch %d after restore differs", i)
		}
	}
	if err := b.Restore([]byte(`{"epoch":0,"pos":0,"perm":[0,1]}`)); err == nil {
		t.Error("restore of a state for other data succeeded")
	}
	if _, err := NewShuffledBatches(nil, 1, 1, 0, 0); err == nil {
		t.Error("empty example set accepted")
	}
}
