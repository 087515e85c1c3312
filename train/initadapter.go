package train

import (
	"errors"
	"fmt"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/golora/golora/lora"
	"github.com/golora/golora/model"
)

// adoptInitAdapter makes the config of the adapter at c.InitAdapter the
// run's: --method (lora or dora), --r, --alpha, --dropout, --targets and
// --rslora take the adapter's values (rank_pattern and alpha_pattern stay in
// the adapter's own config, which is saved unchanged). A setting the user
// gave explicitly (c.Explicit) that says otherwise is an error naming both
// values, as is --init (the adapter's weights are the initialisation).
// Targets are compared by the modules they select on m, so --targets q,v
// agrees with target_modules ["q_proj", "v_proj"].
func (c *Config) adoptInitAdapter(m model.Model) error {
	dir := c.InitAdapter
	lc, err := lora.ReadConfig(filepath.Join(dir, lora.ConfigFile))
	if err != nil {
		return fmt.Errorf("train: --init-adapter: %w", err)
	}
	var errs []error
	// check reports --flag when the user gave it and it differs (same is
	// false); has is the adapter's key and value.
	check := func(flag string, same bool, given, has string) {
		if c.Explicit[flag] && !same {
			errs = append(errs, fmt.Errorf("--%s %s contradicts --init-adapter %s, whose %s has %s", flag, given, dir, lora.ConfigFile, has))
		}
	}
	method := "lora"
	if lc.UseDoRA {
		method = "dora"
	}
	check("method", c.Method == method, c.Method, "use_dora "+strconv.FormatBool(lc.UseDoRA)+" (method "+method+")")
	check("r", c.R == lc.R, strconv.Itoa(c.R), "r "+strconv.Itoa(lc.R))
	check("alpha", c.Alpha == lc.LoraAlpha, fmtNum(c.Alpha), "lora_alpha "+fmtNum(lc.LoraAlpha))
	check("dropout", c.Dropout == lc.LoraDropout, fmtNum(c.Dropout), "lora_dropout "+fmtNum(lc.LoraDropout))
	check("rslora", c.RSLoRA == lc.UseRSLoRA, strconv.FormatBool(c.RSLoRA), "use_rslora "+strconv.FormatBool(lc.UseRSLoRA))
	if c.Explicit["init"] {
		errs = append(errs, fmt.Errorf("--init %s contradicts --init-adapter %s: the adapter's weights are the starting point", c.Init, dir))
	}
	adapterTargets := lc.TargetModules.Names
	if lc.TargetModules.IsRegex {
		adapterTargets = []string{lc.TargetModules.Regex}
	}
	if c.Explicit["targets"] && !sameModules(m, c.Targets, lc) {
		errs = append(errs, fmt.Errorf("--targets %s contradicts --init-adapter %s, whose %s has target_modules %s",
			strings.Join(c.Targets, ","), dir, lora.ConfigFile, strings.Join(adapterTargets, ",")))
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("train: %w", err)
	}
	c.Method, c.R, c.Alpha, c.Dropout, c.RSLoRA = method, lc.R, lc.LoraAlpha, lc.LoraDropout, lc.UseRSLoRA
	if len(adapterTargets) > 0 {
		c.Targets = adapterTargets
	}
	return nil
}

func fmtNum(f float64) string { return strconv.FormatFloat(f, 'g', -1, 64) }

// sameModules reports whether --targets selects the same linear layers of m
// as the adapter's target_modules (and exclude/layer settings).
func sameModules(m model.Model, targets []string, lc *lora.Config) bool {
	want := lc.Clone()
	want.TargetModules = targetModules(m, targets)
	for _, l := range m.Linears() {
		if want.Matches(l.Name, l.Head) != lc.Matches(l.Name, l.Head) {
			return false
		}
	}
	return true
}

// loadInitAdapter loads the adapter at dir into lm with the reader eval
// uses (lora.Model.LoadDir), as the trainable "default" adapter. Only a
// LoRA or DoRA adapter can start a run: a bottleneck part (method adapter or
// lora+adapter) is refused rather than half loaded.
func loadInitAdapter(lm *lora.Model, m model.Model, dir string) error {
	names, err := lm.LoadDir(dir, lora.DefaultName, m)
	if err != nil {
		return fmt.Errorf("train: --init-adapter: %w", err)
	}
	if len(names) != 1 || lm.Config(lora.DefaultName) == nil {
		return fmt.Errorf("train: --init-adapter %s: holds bottleneck adapters (%s); only a LoRA or DoRA adapter can start a run", dir, strings.Join(names, ", "))
	}
	return nil
}
