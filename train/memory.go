package train

import (
	"fmt"
	"os"
	"strconv"
	"strings"

	"github.com/golora/golora/lora"
	"github.com/golora/golora/model"
)

// Memory is an estimate, in bytes, of what a training run holds, made from
// the model's shape and the settings before anything of that size is
// allocated.
type Memory struct {
	Weights     float64 // the base model's weights, in their dtype
	Trainable   float64 // trainable weights, gradients and AdamW moments (16 bytes each)
	Activations float64 // what forward keeps for backward, logits and attention scratch
}

// Total is the sum of the parts.
func (m Memory) Total() float64 { return m.Weights + m.Trainable + m.Activations }

func (m Memory) String() string {
	return fmt.Sprintf("~%s (weights %s, trainable+optimizer %s, activations %s)",
		fmtBytes(m.Total()), fmtBytes(m.Weights), fmtBytes(m.Trainable), fmtBytes(m.Activations))
}

func fmtBytes(b float64) string {
	switch {
	case b >= 1<<30:
		return fmt.Sprintf("%.1f GiB", b/(1<<30))
	case b >= 1<<20:
		return fmt.Sprintf("%.0f MiB", b/(1<<20))
	default:
		return fmt.Sprintf("%.0f KiB", b/(1<<10))
	}
}

// EstimateMemory estimates what training m with cfg needs. Products are
// float64 so no flag value can overflow them.
func EstimateMemory(m model.Model, cfg Config) Memory {
	mc := m.Config()
	f := func(n int) float64 { return float64(n) }
	var est Memory
	var base, lin float64 // all weights; sum of in+out over adapted linears
	for _, p := range m.Params() {
		base += f(p.W.Bytes()) // 16-bit and quantized bases take less
	}
	est.Weights = base
	lc := &lora.Config{TargetModules: targetModules(m, cfg.Targets)}
	lc.LayersToTransform, _ = lastLayers(m, cfg.NumLayers) // Validate rejects a bad count
	for _, l := range m.Linears() {
		if lc.Matches(l.Name, l.Head) {
			lin += f(l.Linear.In() + l.Linear.Out())
		}
	}
	C, L, V, I := f(mc.HiddenSize), f(mc.NumHiddenLayers), f(mc.VocabSize), f(mc.IntermediateSize)
	D := f(mc.HeadDim)
	if D == 0 && mc.NumAttentionHeads > 0 {
		D = C / f(mc.NumAttentionHeads)
	}
	QD, KVD := f(mc.NumAttentionHeads)*D, f(mc.NumKeyValueHeads)*D
	var trainable float64
	switch cfg.Method {
	case "full":
		trainable = base / 4 // values: full fine-tuning has a float32 base
	case "adapter":
		trainable = L * 2 * (2*C*f(cfg.R) + f(cfg.R) + C)
	case "lora+adapter":
		trainable = f(cfg.R)*lin + L*2*(2*C*f(cfg.R)+f(cfg.R)+C)
	default: // lora, dora (DoRA's magnitudes are small beside A and B)
		trainable = f(cfg.R) * lin
	}
	est.Trainable = 16 * trainable
	tokens := f(cfg.Batch) * f(cfg.SeqLen)
	// Per layer and token forward keeps the block input, q, k, v, the
	// attention output, the mid-residual, the MLP input and its gate/up
	// products; backward needs about as much again for the gradients
	// flowing through. Attention keeps a log-sum-exp per head and token
	// and works in tiles of 64×256 scores (three per thread in backward).
	// keep blocks' activations are kept (the frozen blocks below
	// --num-layers share one slot; checkpointing keeps one block and every
	// block's input); the logits are at most the model's chunk of
	// LossChunked (2^24 floats).
	keep, inputs := L, 0.0
	if cfg.NumLayers > 0 && cfg.Method != "full" {
		keep = min(L, f(cfg.NumLayers)+1)
	}
	if cfg.Checkpointing {
		keep, inputs = 1, L*C
	}
	perToken := keep*((4*C+2*QD+2*KVD+3*I)*2+f(mc.NumAttentionHeads)) + inputs
	logits := min(tokens*V, 1<<24)
	est.Activations = 4 * (tokens*perToken + logits + 3*64*256*f(max(cfg.Threads, 1)))
	return est
}

// availableMemory is what the machine can give a new allocation: Linux's
// MemAvailable, or less when a cgroup v2 limit (a container) leaves less;
// ok is false where it cannot tell. Tests replace it.
var availableMemory = func() (bytes float64, ok bool) {
	b, err := os.ReadFile("/proc/meminfo")
	if err != nil {
		return 0, false
	}
	for _, line := range strings.Split(string(b), "\n") {
		if rest, found := strings.CutPrefix(line, "MemAvailable:"); found {
			kb, err := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 64)
			bytes, ok = kb*1024, err == nil
		}
	}
	limit, err1 := readNumber("/sys/fs/cgroup/memory.max") // "max" when unlimited: an error here
	used, err2 := readNumber("/sys/fs/cgroup/memory.current")
	if ok && err1 == nil && err2 == nil && limit-used < bytes {
		bytes = max(limit-used, 0)
	}
	return bytes, ok
}

func readNumber(path string) (float64, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, err
	}
	return strconv.ParseFloat(strings.TrimSpace(string(b)), 64)
}

// checkMemory refuses a run whose estimate exceeds the memory available,
// naming the largest part and the flags that size it. The model's own
// weights are already in memory and not counted against what is left.
func checkMemory(est Memory, cfg Config) error {
	avail, ok := availableMemory()
	if !ok {
		return nil
	}
	need := est.Trainable + est.Activations
	if need <= avail {
		return nil
	}
	hint := fmt.Sprintf("lower --batch (%d) or --seq-len (%d)", cfg.Batch, cfg.SeqLen)
	if est.Trainable > est.Activations {
		hint = fmt.Sprintf("lower --r (%d) or adapt fewer --targets", cfg.R)
		if cfg.Method == "full" {
			hint = "use --method lora"
		}
	}
	return fmt.Errorf("train: this run needs about %s beyond the loaded model: %s, but only %s is available; %s",
		fmtBytes(need), est, fmtBytes(avail), hint)
}
