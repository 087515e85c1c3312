package train

import (
	"errors"
	"fmt"
	"math"
	"reflect"
	"strings"

	"github.com/golora/golora/model"
)

// Config is every setting of a training run. The yaml and json keys are the
// flag names, so a --config file reads like the command line; package
// train/trainconfig binds them to flags and YAML files.
type Config struct {
	Model  string `yaml:"model" json:"model"`
	Data   string `yaml:"data" json:"data"`
	Valid  string `yaml:"valid" json:"valid"`
	Out    string `yaml:"out" json:"out"`
	Method string `yaml:"method" json:"method"`
	// BaseDType is --base-dtype: the dtype the frozen base is kept in
	// (model.Options).
	BaseDType string `yaml:"base-dtype" json:"base-dtype"`

	// Tokenizer is --tokenizer: the tokenizer file or folder to use instead
	// of the one found beside Model. The engine takes the tokenizer itself
	// (Setup); this records the choice for --config and --resume.
	Tokenizer string `yaml:"tokenizer" json:"tokenizer,omitempty"`

	// ValidFraction holds out this share of --data (seeded by Seed) as the
	// validation set when no --valid file is given.
	ValidFraction float64 `yaml:"valid-fraction" json:"valid-fraction"`
	TrainOnAll    bool    `yaml:"train-on-all" json:"train-on-all"`
	Pack          bool    `yaml:"pack" json:"pack"`
	SkipBad       bool    `yaml:"skip-bad" json:"skip-bad"`

	R       int      `yaml:"r" json:"r"`
	Alpha   float64  `yaml:"alpha" json:"alpha"`
	Dropout float64  `yaml:"dropout" json:"dropout"`
	Targets []string `yaml:"targets" json:"targets"`
	Init    string   `yaml:"init" json:"init"`
	RSLoRA  bool     `yaml:"rslora" json:"rslora"`
	// InitAdapter is a PEFT adapter folder the run starts from; its config
	// replaces Method, R, Alpha, Dropout, Targets and RSLoRA (initadapter.go).
	InitAdapter string `yaml:"init-adapter" json:"init-adapter"`
	// SaveModules is PEFT's modules_to_save: layers trained in full beside
	// the adapter (lm_head, embed_tokens).
	SaveModules []string `yaml:"save-modules" json:"save-modules"`
	// LoraBias trains a bias on lora_B (PEFT's lora_bias).
	LoraBias bool `yaml:"lora-bias" json:"lora-bias"`
	// TrainableTokens are token ids whose embedding rows (and tied head
	// rows) are trained in full (PEFT's trainable_token_indices).
	TrainableTokens []int `yaml:"trainable-tokens" json:"trainable-tokens"`
	// NumLayers puts the adapters on the last NumLayers blocks only (0: all),
	// as mlx-lm's --num-layers; the adapter records them as PEFT's
	// layers_to_transform, and backward stops below the lowest one.
	NumLayers int `yaml:"num-layers" json:"num-layers"`
	// Checkpointing keeps only each block's input in forward and recomputes
	// the block in backward: less memory for about a third more compute.
	Checkpointing bool `yaml:"checkpointing" json:"checkpointing"`

	LR            float64 `yaml:"lr" json:"lr"`
	LoRAPlusRatio float64 `yaml:"loraplus-ratio" json:"loraplus-ratio"`
	WeightDecay   float64 `yaml:"weight-decay" json:"weight-decay"`
	Beta1         float64 `yaml:"adam-beta1" json:"adam-beta1"`
	Beta2         float64 `yaml:"adam-beta2" json:"adam-beta2"`
	Eps           float64 `yaml:"adam-eps" json:"adam-eps"`

	Batch       int     `yaml:"batch" json:"batch"`
	SeqLen      int     `yaml:"seq-len" json:"seq-len"`
	Steps       int     `yaml:"steps" json:"steps"`
	Epochs      float64 `yaml:"epochs" json:"epochs"`
	GradAccum   int     `yaml:"grad-accum" json:"grad-accum"`
	Warmup      int     `yaml:"warmup" json:"warmup"`
	Schedule    string  `yaml:"schedule" json:"schedule"`
	MaxGradNorm float64 `yaml:"max-grad-norm" json:"max-grad-norm"`
	// DataOrder is "shuffle" (a new permutation every epoch) or "file"
	// (every epoch in file order, see DataOrders).
	DataOrder string `yaml:"data-order" json:"data-order"`

	EvalEvery   int   `yaml:"eval-every" json:"eval-every"`
	EvalBatches int   `yaml:"eval-batches" json:"eval-batches"`
	SaveEvery   int   `yaml:"save-every" json:"save-every"`
	KeepCkpts   int   `yaml:"keep-checkpoints" json:"keep-checkpoints"`
	LogEvery    int   `yaml:"log-every" json:"log-every"`
	Resume      bool  `yaml:"resume" json:"resume"`
	Seed        int64 `yaml:"seed" json:"seed"`
	Threads     int   `yaml:"threads" json:"threads"`

	// Run-folder and divergence guards (docs/ARCHITECTURE.md, hardening).
	Overwrite           bool    `yaml:"overwrite" json:"overwrite"`
	KeepBest            bool    `yaml:"keep-best" json:"keep-best"`
	DivergenceThreshold float64 `yaml:"divergence-threshold" json:"divergence-threshold"`
	DivergenceSteps     int     `yaml:"divergence-steps" json:"divergence-steps"`

	// Shape is the architecture of a model trained from scratch (golora
	// pretrain); train ignores it.
	Shape ModelShape `yaml:",inline" json:"shape"`

	// Explicit holds the settings the user gave (flag names set on the
	// command line, keys of --config), filled by trainconfig.Resolve when InitAdapter is
	// set: --init-adapter rejects those that contradict the adapter and
	// overrides the rest.
	Explicit map[string]bool `yaml:"-" json:"-"`

	// ConfigFile is the YAML file the other fields were read from
	// (trainconfig.Resolve); it is the --config flag and is never read from
	// YAML itself.
	ConfigFile string `yaml:"-" json:"-"`
}

// DefaultConfig returns the defaults of every setting: the one place they
// are written down (flags, YAML and the engine all start from it).
func DefaultConfig() Config {
	return Config{
		Model:         "", // the embedded model
		Data:          "", // the embedded demo set
		Valid:         "", // the demo's held-out split, or none for user data
		Out:           "golora-out",
		Method:        "lora",
		BaseDType:     "f32",
		R:             8,
		Alpha:         16,
		Dropout:       0,
		Targets:       []string{"q", "v"},
		Init:          "default",
		LR:            1e-3,
		LoRAPlusRatio: 1,
		WeightDecay:   0,
		Beta1:         0.9,
		Beta2:         0.999,
		Eps:           1e-8,
		Batch:         4,
		SeqLen:        128,
		Steps:         100,
		GradAccum:     1,
		DataOrder:     "shuffle",
		Warmup:        10,
		Schedule:      "cosine",
		MaxGradNorm:   1,
		EvalEvery:     25,
		EvalBatches:   0, // all of the validation set
		SaveEvery:     50,
		KeepCkpts:     2,
		LogEvery:      0, // auto: about 50 lines per run
		Seed:          0,
		Threads:       0, // kernels' default (GOMAXPROCS or GOLORA_THREADS)

		KeepBest:            true,
		DivergenceThreshold: 3,
		DivergenceSteps:     10,
	}
}

// MethodNone is the benchmark-only method with nothing trainable (see
// NewModelTask); Validate rejects it because a training run needs parameters.
const MethodNone = "none"

// Methods are the values --method accepts.
var Methods = []string{"lora", "dora", "adapter", "lora+adapter", "full"}

// Schedules are the values --schedule accepts.
var Schedules = []string{"constant", "linear", "cosine"}

// DataOrders are the values --data-order accepts.
var DataOrders = []string{"shuffle", "file"}

// Validate checks every setting and reports all problems at once.
func (c *Config) Validate() error {
	var errs []error
	bad := func(format string, a ...any) { errs = append(errs, fmt.Errorf(format, a...)) }
	if !contains(Methods, c.Method) {
		bad("--method %q: want one of %s", c.Method, strings.Join(Methods, ", "))
	}
	if !contains(Schedules, c.Schedule) {
		bad("--schedule %q: want one of %s", c.Schedule, strings.Join(Schedules, ", "))
	}
	if c.DataOrder != "" && !contains(DataOrders, c.DataOrder) { // "": a checkpoint from before --data-order, shuffled
		bad("--data-order %q: want one of %s", c.DataOrder, strings.Join(DataOrders, ", "))
	}
	if err := model.ParseBaseDType(c.BaseDType); err != nil {
		bad("%v", err)
	} else if c.Method == "full" && (model.IsHalfDType(c.BaseDType) || model.IsQuantDType(c.BaseDType)) {
		bad("--method full --base-dtype %s: full fine-tuning updates the base weights and needs float32 masters; use --base-dtype f32 (or a LoRA method with a %s base)", c.BaseDType, c.BaseDType)
	}
	if c.Method != "full" && c.Method != "adapter" && c.R < 1 {
		bad("--r %d: the LoRA rank must be at least 1", c.R)
	}
	if c.NumLayers < 0 {
		bad("--num-layers %d: must be >= 0 (0 = every layer)", c.NumLayers)
	} else if c.NumLayers > 0 && (c.Method == "full" || c.InitAdapter != "") {
		bad("--num-layers %d: applies to a new adapter, not to --method full or --init-adapter (whose layers_to_transform decides)", c.NumLayers)
	}
	if c.Dropout < 0 || c.Dropout >= 1 {
		bad("--dropout %g: want 0 <= p < 1", c.Dropout)
	}
	if !(c.LR > 0) {
		bad("--lr %g: must be positive", c.LR)
	}
	if !(c.LoRAPlusRatio > 0) {
		bad("--loraplus-ratio %g: must be positive (1 = plain LoRA)", c.LoRAPlusRatio)
	}
	if c.WeightDecay < 0 {
		bad("--weight-decay %g: must be >= 0", c.WeightDecay)
	}
	if c.Beta1 < 0 || c.Beta1 >= 1 || c.Beta2 < 0 || c.Beta2 >= 1 || !(c.Eps > 0) {
		bad("adam betas (%g, %g) must be in [0, 1) and eps %g positive", c.Beta1, c.Beta2, c.Eps)
	}
	if c.Batch < 1 {
		bad("--batch %d: must be at least 1", c.Batch)
	}
	if c.SeqLen < 2 {
		bad("--seq-len %d: must be at least 2", c.SeqLen)
	}
	if c.Steps < 0 || c.Epochs < 0 || (c.Steps == 0 && c.Epochs == 0) {
		bad("--steps %d / --epochs %g: give a positive number of steps or epochs", c.Steps, c.Epochs)
	}
	if c.GradAccum < 1 {
		bad("--grad-accum %d: must be at least 1", c.GradAccum)
	}
	if c.Warmup < 0 {
		bad("--warmup %d: must be >= 0", c.Warmup)
	}
	if c.MaxGradNorm < 0 {
		bad("--max-grad-norm %g: must be >= 0 (0 = no clipping)", c.MaxGradNorm)
	}
	if c.EvalEvery < 0 || c.SaveEvery < 0 || c.LogEvery < 0 || c.EvalBatches < 0 {
		bad("--eval-every, --save-every, --log-every and --eval-batches must be >= 0")
	}
	if c.KeepCkpts < 1 {
		bad("--keep-checkpoints %d: must be at least 1", c.KeepCkpts)
	}
	if !(c.ValidFraction >= 0 && c.ValidFraction < 1) {
		bad("--valid-fraction %g: want 0 <= f < 1", c.ValidFraction)
	}
	if c.ValidFraction > 0 && c.Valid != "" {
		bad("--valid-fraction %g with --valid %s: give a validation file or a held-out fraction, not both", c.ValidFraction, c.Valid)
	}
	if c.Out == "" {
		bad("--out: an output directory is required")
	}
	if c.Threads < 0 {
		bad("--threads %d: must be >= 0 (0 = default)", c.Threads)
	}
	if !(c.DivergenceThreshold == 0 || c.DivergenceThreshold >= 1) || math.IsInf(c.DivergenceThreshold, 0) {
		bad("--divergence-threshold %g: want 0 (off) or a factor >= 1 over the starting loss", c.DivergenceThreshold)
	}
	if c.DivergenceThreshold > 0 && c.DivergenceSteps < 1 {
		bad("--divergence-steps %d: must be at least 1", c.DivergenceSteps)
	}
	return errors.Join(errs...)
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// resumeFields are the settings a resumed run must share with its
// checkpoint: changing them would make the saved weights, optimizer moments
// or data position mean something else.
var resumeFields = []string{"Model", "Data", "ValidFraction", "TrainOnAll", "Pack", "SkipBad", "Method", "R", "Alpha", "Targets", "SaveModules", "LoraBias", "TrainableTokens", "NumLayers", "Init", "RSLoRA", "InitAdapter", "Dropout", "Batch", "SeqLen", "GradAccum", "DataOrder", "Seed", "Shape"}

// incompatible lists the resume-critical settings that differ between a and b.
func incompatible(a, b Config) []string {
	var diff []string
	va, vb := reflect.ValueOf(a), reflect.ValueOf(b)
	t := va.Type()
	for _, name := range resumeFields {
		fa, fb := va.FieldByName(name), vb.FieldByName(name)
		if !reflect.DeepEqual(fa.Interface(), fb.Interface()) {
			f, _ := t.FieldByName(name)
			diff = append(diff, fmt.Sprintf("--%s: checkpoint has %v, run has %v", f.Tag.Get("yaml"), fa.Interface(), fb.Interface()))
		}
	}
	return diff
}
