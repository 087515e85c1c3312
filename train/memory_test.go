package train

import (
	"runtime"
	"strings"
	"testing"

	"github.com/golora/golora/model"
	"github.com/golora/golora/model/embedded"
	"github.com/golora/golora/tokenizer"
)

// TestMemoryLimits is issue 12's repro 3 for flags: --batch 100000 and
// --r 1000000 are refused with the estimate, the flag to change and no
// large allocation, instead of a fatal out-of-memory.
func TestMemoryLimits(t *testing.T) {
	saved := availableMemory
	defer func() { availableMemory = saved }()
	availableMemory = func() (float64, bool) { return 8 << 30, true }
	tok, err := tokenizer.ParseLlama2C(embedded.Tokenizer)
	if err != nil {
		t.Skipf("embedded tokenizer: %v", err)
	}
	for _, tc := range []struct {
		name, flag string
		mod        func(*Config)
	}{
		{"batch", "--batch", func(c *Config) { c.Batch = 100000 }},
		{"seq-len", "--seq-len", func(c *Config) { c.SeqLen, c.Batch = 1<<22, 64 }},
		{"lora r", "--r", func(c *Config) { c.R = 1000000 }},
		{"adapter r", "--r", func(c *Config) { c.R, c.Method = 1000000, "adapter" }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m, err := model.Load("")
			if err != nil {
				t.Fatal(err)
			}
			cfg := DefaultConfig()
			cfg.Out = t.TempDir()
			tc.mod(&cfg)
			var ms runtime.MemStats
			runtime.ReadMemStats(&ms)
			before := ms.TotalAlloc
			_, err = SetupModel(cfg, m, tok, nil)
			runtime.ReadMemStats(&ms)
			if err == nil || !strings.Contains(err.Error(), tc.flag) || !strings.Contains(err.Error(), "available") {
				t.Errorf("err = %v, want the estimate naming %s", err, tc.flag)
			}
			if grew := ms.TotalAlloc - before; grew > 256<<20 {
				t.Errorf("allocated %d MB before refusing", grew>>20)
			}
		})
	}
	// The default run fits and its estimate is printed up front.
	m, _ := model.Load("")
	cfg := DefaultConfig()
	cfg.Out = t.TempDir()
	var lines []string
	d, err := DemoData(cfg, tok)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := SetupData(cfg, m, d, tok, func(f string, a ...any) { lines = append(lines, f) }); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(strings.Join(lines, "\n"), "memory estimate") {
		t.Errorf("no memory estimate in the log: %q", lines)
	}
	est := EstimateMemory(m, cfg)
	// README's default run peaks at about 54 MiB RSS including the Go
	// runtime; the estimate of the model's share must be of that order.
	if mb := est.Total() / (1 << 20); mb < 5 || mb > 200 {
		t.Errorf("default run estimate %s is implausible", est)
	}
}
