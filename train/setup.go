package train

import (
	"encoding/json"
	"fmt"
	"strings"

	"github.com/golora/golora/data"
	"github.com/golora/golora/internal/outpath"
	"github.com/golora/golora/lora"
	"github.com/golora/golora/model"
	"github.com/golora/golora/nn"
	"github.com/golora/golora/tensor"
)

// ModelTask is the Task for a real model: the base model with LoRA/DoRA,
// bottleneck adapters, both, or every weight trainable (method full).
type ModelTask struct {
	Model model.Model
	LoRA  *lora.Model // nil for method full
	// Method is the Config.Method the task was built for.
	Method string
	params []Param
}

// NewModelTask makes the trainable parts of m that cfg.Method asks for:
// LoRA or DoRA adapters on cfg.Targets, bottleneck adapters of width cfg.R
// after every attention and MLP sublayer, both, or the whole model. The base
// model is frozen for every method but full. Method MethodNone (benchmarks
// only) trains nothing: the frozen base's forward and full backward through
// the activations, the baseline a method's overhead is measured against.
func NewModelTask(m model.Model, cfg Config) (*ModelTask, error) {
	t := &ModelTask{Model: m, Method: cfg.Method}
	m.SetTrainable(nil)
	m.SetCheckpointing(cfg.Checkpointing)
	// The frozen-base baseline backpropagates through every block, as a
	// LoRA step on the first layer must; other methods stop below their
	// lowest trainable block.
	if fb, ok := m.(interface{ SetFullBackward(bool) }); ok {
		fb.SetFullBackward(cfg.Method == MethodNone)
	}
	var err error
	if cfg.Method == MethodNone {
		return t, nil
	}
	if cfg.Method == "full" {
		if dt := model.BaseDTypeOf(m); dt != tensor.F32 {
			return nil, fmt.Errorf("train: --method full needs float32 master weights but the base is kept in %v (--base-dtype); use --base-dtype f32", dt)
		}
		m.SetTrainable(func(string) bool { return true })
		for _, p := range m.Params() {
			if p.G != nil {
				t.params = append(t.params, Param{Name: p.Name, W: p.W, G: p.G, Group: "full", NoDecay: len(p.W.Shape) == 1})
			}
		}
		return t, nil
	}
	t.LoRA = lora.ForModel(m)
	seed := uint64(cfg.Seed)
	if cfg.InitAdapter != "" {
		if err := loadInitAdapter(t.LoRA, m, cfg.InitAdapter); err != nil {
			return nil, err
		}
	} else if cfg.Method == "lora" || cfg.Method == "dora" || cfg.Method == "lora+adapter" {
		lc := lora.DefaultConfig()
		lc.R, lc.LoraAlpha, lc.LoraDropout, lc.UseRSLoRA = cfg.R, cfg.Alpha, cfg.Dropout, cfg.RSLoRA
		lc.UseDoRA = cfg.Method == "dora"
		lc.LoraBias = cfg.LoraBias
		if len(cfg.TrainableTokens) > 0 {
			lc.TrainableTokens = lora.TokenIndices{{IDs: cfg.TrainableTokens}}
		}
		lc.TargetModules = targetModules(m, cfg.Targets)
		if lc.LayersToTransform, err = lastLayers(m, cfg.NumLayers); err != nil {
			return nil, err
		}
		if len(cfg.SaveModules) > 0 {
			lc.ModulesToSave = targetModules(m, cfg.SaveModules).Names
		}
		lc.TaskType = "CAUSAL_LM"
		lc.BaseModelNameOrPath = cfg.Model
		for _, l := range m.Linears() {
			if l.Conv1D && lc.Matches(l.Name, l.Head) {
				lc.FanInFanOut = true // PEFT's setting for GPT-2's Conv1D layers
			}
		}
		if err := t.LoRA.Add(lora.DefaultName, lc, cfg.Init, seed); err != nil {
			return nil, fmt.Errorf("train: --method %s --targets %s: %w", cfg.Method, strings.Join(cfg.Targets, ","), err)
		}
	}
	if cfg.Method == "adapter" || cfg.Method == "lora+adapter" {
		bc := lora.DefaultBottleneckConfig()
		bc.Size = cfg.R
		bc.BaseModelNameOrPath = cfg.Model
		if bc.LayersToTransform, err = lastLayers(m, cfg.NumLayers); err != nil {
			return nil, err
		}
		if err := t.LoRA.AddBottleneckToModel("adapter", bc, m, seed+1); err != nil {
			return nil, fmt.Errorf("train: --method %s: %w", cfg.Method, err)
		}
	}
	t.LoRA.SetTrain(true)
	for _, p := range t.LoRA.Params() {
		if p.G == nil {
			return nil, fmt.Errorf("train: %s has no gradient buffer", p.Name)
		}
		group := p.Group.String()
		// PEFT's LoRA+ (create_loraplus_optimizer) trains lora_B and every
		// 1-D tensor at ratio × lr, and never decays 1-D tensors.
		oneD := len(p.W.Shape) == 1
		if oneD && p.Group != lora.GroupBottleneck {
			group = "lora_B"
		}
		t.params = append(t.params, Param{Name: p.Name, W: p.W, G: p.G, Group: group, NoDecay: oneD})
	}
	return t, nil
}

// lastLayers is --num-layers as PEFT's layers_to_transform: the indices of
// m's last n blocks, nil for n == 0 (every block).
func lastLayers(m model.Model, n int) ([]int, error) {
	L := m.Config().NumHiddenLayers
	if n == 0 {
		return nil, nil
	}
	if n > L {
		return nil, fmt.Errorf("train: --num-layers %d: the model has %d layers", n, L)
	}
	out := make([]int, n)
	for i := range out {
		out[i] = L - n + i
	}
	return out, nil
}

// targetModules turns --targets into PEFT target_modules: "all" is PEFT's
// all-linear, short names are expanded per family, anything else (a PEFT
// module name or suffix) is kept.
func targetModules(m model.Model, targets []string) lora.Modules {
	if len(targets) == 1 && (targets[0] == "all" || targets[0] == "all-linear") {
		return lora.Regex("all-linear")
	}
	aliases := model.TargetAliases(m.Config()) // per family; GPT-2's and Phi-3's fused projections
	var names []string
	seen := map[string]bool{}
	for _, t := range targets {
		if a, ok := aliases[t]; ok {
			t = a
		}
		if !seen[t] {
			seen[t] = true
			names = append(names, t)
		}
	}
	return lora.List(names...)
}

// Seed implements Seeder by reseeding the adapters' dropout streams, so the
// trainer's checkpointed seeds make dropout reproducible across --resume.
func (t *ModelTask) Seed(s uint64) {
	if t.LoRA != nil {
		t.LoRA.Seed(s)
	}
}

// Params implements Task.
func (t *ModelTask) Params() []Param { return t.params }

// ZeroGrad implements Task.
func (t *ModelTask) ZeroGrad() {
	if t.LoRA != nil {
		t.LoRA.ZeroGrad()
	}
	t.Model.ZeroGrad()
}

// chunkedLoss is a model that computes the head and the cross-entropy a
// chunk of rows at a time (core.Transformer.LossChunked), so a step never
// holds the (B*T, V) logits.
type chunkedLoss interface {
	LossChunked(ids, targets []int, B, T int, weight float32, backward bool) (float64, int)
}

// Step implements Task: the logits buffer becomes its own gradient (mean
// cross-entropy, scaled by weight) and is backpropagated; models with
// LossChunked do the same a chunk of rows at a time.
func (t *ModelTask) Step(ids, targets []int, B, T int, weight float32) (float64, int) {
	if t.LoRA != nil {
		t.LoRA.SetTrain(true)
	}
	if c, ok := t.Model.(chunkedLoss); ok {
		return c.LossChunked(ids, targets, B, T, weight, true)
	}
	logits := t.Model.Forward(ids, B, T)
	V := t.Model.Config().VocabSize
	loss, n := nn.CrossEntropy(logits, logits, targets, B*T, V, nn.IgnoreIndex)
	if weight != 1 {
		for i := range logits {
			logits[i] *= weight
		}
	}
	if n > 0 {
		t.Model.BackwardLogits(logits)
	}
	return loss, n
}

// Eval implements Task (dropout off).
func (t *ModelTask) Eval(ids, targets []int, B, T int) (float64, int) {
	if t.LoRA != nil {
		t.LoRA.SetTrain(false)
	}
	if c, ok := t.Model.(chunkedLoss); ok {
		loss, n := c.LossChunked(ids, targets, B, T, 1, false)
		return loss * float64(n), n
	}
	logits := t.Model.Forward(ids, B, T)
	loss, n := nn.CrossEntropy(nil, logits, targets, B*T, t.Model.Config().VocabSize, nn.IgnoreIndex)
	return loss * float64(n), n
}

// SaveAdapter implements Task: PEFT adapter files (bottleneck adapters in
// dir/adapter), or for method full a Hugging Face model folder.
func (t *ModelTask) SaveAdapter(dir string) error {
	if t.LoRA == nil {
		return t.Model.SaveHF(dir)
	}
	return t.LoRA.Save(dir)
}

// NumParams implements ParamCounter: base weights plus adapters.
func (t *ModelTask) NumParams() int {
	if t.LoRA != nil {
		_, all := t.LoRA.NumParams()
		return all
	}
	n := 0
	for _, p := range t.Model.Params() {
		n += p.W.Len()
	}
	return n
}

// IteratorBatches is the training stream of a data.Iterator, the one Setup
// uses: shuffled (or file-order) epochs, resumable exactly, and known epoch
// length for Config.Epochs.
func IteratorBatches(it *data.Iterator) Batches { return iterBatches{it} }

type iterBatches struct{ it *data.Iterator }

func (b iterBatches) Next() (data.Batch, error) { return b.it.Next(), nil }
func (b iterBatches) State() ([]byte, error)    { return json.Marshal(b.it.State()) }
func (b iterBatches) Restore(s []byte) error {
	var st data.IterState
	if err := json.Unmarshal(s, &st); err != nil {
		return fmt.Errorf("data state: %w", err)
	}
	return b.it.Restore(st)
}
func (b iterBatches) BatchesPerEpoch() int { return b.it.Stats().Batches }

// demoValidFraction is the share of the demo set held out for validation.
const demoValidFraction = 0.1

// Data is what a run trains and validates on, tokenized.
type Data struct {
	Name         string        // for the log: the file, or "embedded demo set"
	Train, Valid *data.Dataset // Valid nil: no evaluation
	Notes        []string      // lines for the log (what --skip-bad skipped)
}

// LoadData loads cfg.Data (a JSONL file, or a folder with train.jsonl and
// valid.jsonl as in mlx-lm) and its validation set (cfg.Valid, or
// cfg.ValidFraction held out with cfg.Seed), tokenized with tok. cfg.Data is
// required: DemoData is the embedded demo set the CLI trains on without
// --data.
func LoadData(cfg Config, tok data.Encoder) (*Data, error) {
	if cfg.Data == "" {
		return nil, fmt.Errorf("train: no training data: --data (Config.Data) names no file or folder")
	}
	sp, err := data.LoadSplits(cfg.Data, cfg.Valid, cfg.ValidFraction, uint64(cfg.Seed), tok, dataOptions(cfg))
	if err != nil {
		return nil, err
	}
	d := &Data{Name: cfg.Data, Train: sp.Train}
	if sp.Valid.Len() > 0 {
		d.Valid = sp.Valid
	}
	d.Notes = appendSkipped(d.Notes, cfg.Data, sp.TrainStats)
	d.Notes = appendSkipped(d.Notes, cfg.Valid, sp.ValidStats)
	return d, nil
}

// DemoData is the embedded demo set (data.Demo), what golora train trains
// on without --data: a held-out tenth of it (or cfg.ValidFraction, chosen
// with cfg.Seed) validates unless cfg.Valid names a file.
func DemoData(cfg Config, tok data.Encoder) (*Data, error) {
	opts := dataOptions(cfg)
	all, _, err := data.Demo(tok, opts)
	if err != nil {
		return nil, fmt.Errorf("train: demo data: %w", err)
	}
	d := &Data{Name: "embedded demo set"}
	if cfg.Valid != "" {
		d.Train = all
		d.Valid, err = loadValid(cfg.Valid, tok, opts, &d.Notes)
		return d, err
	}
	frac, seed := demoValidFraction, uint64(0)
	if cfg.ValidFraction > 0 {
		frac, seed = cfg.ValidFraction, uint64(cfg.Seed)
	}
	if d.Train, d.Valid, err = all.Split(frac, seed); err != nil {
		return nil, fmt.Errorf("train: demo data: %w", err)
	}
	return d, nil
}

func dataOptions(cfg Config) data.Options {
	return data.Options{TrainOnAll: cfg.TrainOnAll, SkipBad: cfg.SkipBad}
}

// checkFits estimates the run's memory (after --init-adapter has set the
// method) and refuses a run that cannot fit.
func checkFits(cfg Config, m model.Model) (Memory, error) {
	if cfg.InitAdapter != "" {
		if err := cfg.adoptInitAdapter(m); err != nil {
			return Memory{}, err
		}
	}
	mem := EstimateMemory(m, cfg)
	return mem, checkMemory(mem, cfg)
}

// LoadModel loads the base model cfg.Model names (the embedded one when it
// is empty), refusing an --out that is the model's own folder.
func LoadModel(cfg Config) (model.Model, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if err := outpath.CheckNotInput("--out", cfg.Out, cfg.Model); err != nil {
		return nil, fmt.Errorf("train: %w", err)
	}
	return model.LoadWith(cfg.Model, model.Options{BaseDType: cfg.BaseDType})
}

// Setup builds the Trainer a Config describes: it loads the model (the
// embedded one when cfg.Model is empty) and the data (LoadData: cfg.Data is
// required), tokenized with tok, and makes the method's parameters
// trainable. It reports what it loaded through log (nil: silent).
func Setup(cfg Config, tok data.Encoder, log func(format string, a ...any)) (*Trainer, error) {
	m, err := LoadModel(cfg)
	if err != nil {
		return nil, err
	}
	return SetupModel(cfg, m, tok, log)
}

// SetupModel is Setup for a model already in memory (e.g. a fresh random
// one for pretraining, with cfg.Method "full").
func SetupModel(cfg Config, m model.Model, tok data.Encoder, log func(format string, a ...any)) (*Trainer, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if _, err := checkFits(cfg, m); err != nil { // before the data is loaded
		return nil, err
	}
	d, err := LoadData(cfg, tok)
	if err != nil {
		return nil, err
	}
	return SetupData(cfg, m, d, tok, log)
}

// SetupData is SetupModel with the data already loaded (LoadData,
// DemoData, or datasets an embedding program built itself); tok gives the
// padding id (its EOS).
func SetupData(cfg Config, m model.Model, d *Data, tok data.Encoder, log func(format string, a ...any)) (*Trainer, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if d == nil || d.Train == nil {
		return nil, fmt.Errorf("train: no training data")
	}
	mem, err := checkFits(cfg, m) // before anything of the run's size is allocated
	if err != nil {
		return nil, err
	}
	if cfg.InitAdapter != "" {
		if err := cfg.adoptInitAdapter(m); err != nil {
			return nil, err
		}
	}
	mc := m.Config()
	if err := checkIDs(d, mc.VocabSize); err != nil {
		return nil, err
	}
	seqLen := cfg.SeqLen
	if mc.MaxPositionEmbeddings > 0 && seqLen > mc.MaxPositionEmbeddings {
		return nil, fmt.Errorf("train: --seq-len %d exceeds the model's %d positions", seqLen, mc.MaxPositionEmbeddings)
	}
	pad := 0 // any id: padding is masked out of the loss and comes after what it could attend to
	if tok != nil {
		pad = max(tok.EOS(), 0)
	}
	bo := data.BatchOptions{BatchSize: cfg.Batch, SeqLen: seqLen, Pack: cfg.Pack, PadID: pad, Shuffle: cfg.DataOrder != "file", Seed: uint64(cfg.Seed)}
	it, err := data.NewIterator(d.Train.Examples, bo)
	if err != nil {
		return nil, fmt.Errorf("train: %s: %w", d.Name, err)
	}
	var valid []data.Batch
	var vst data.BatchStats
	if d.Valid != nil {
		vo := bo
		vo.Shuffle = false
		if valid, vst, err = data.Batches(d.Valid.Examples, vo); err != nil {
			return nil, fmt.Errorf("train: validation data: %w", err)
		}
	}
	task, err := NewModelTask(m, cfg)
	if err != nil {
		return nil, err
	}
	if log != nil {
		name := cfg.Model
		if name == "" {
			name = "embedded stories260K"
		}
		st := it.Stats()
		log("model: %s (%s, %d layers, hidden %d, vocab %d)", name, mc.ModelType, mc.NumHiddenLayers, mc.HiddenSize, mc.VocabSize)
		log("data: %s: %d training examples, %d batches/epoch of %dx%d (%.0f%% padding, %d cut at --seq-len)",
			d.Name, st.Examples, st.Batches, cfg.Batch, seqLen, 100*st.PadFraction, st.Truncated)
		for _, m := range d.Notes {
			log("%s", m)
		}
		if m := noLossNote(d.Train, st, seqLen); m != "" {
			log("%s", m)
		}
		if m := noLossNote(d.Valid, vst, seqLen); m != "" {
			log("%s", m)
		}
		if d.Valid != nil {
			from := "" // the demo's own held-out part needs no name
			if cfg.Data != "" || cfg.Valid != "" {
				from = d.Valid.Name + ": "
			}
			log("validation: %s%d examples, %d batches", from, len(d.Valid.Examples), len(valid))
		}
		if task.LoRA != nil {
			log("method: %s  %s", cfg.Method, task.LoRA.Summary())
		}
		log("memory estimate: %s", mem)
	}
	return &Trainer{Config: cfg, Task: task, Train: iterBatches{it}, Valid: valid}, nil
}

// noLossNote names the examples left out because truncation to --seq-len
// cut off every token that carried loss ("" when there are none).
func noLossNote(d *data.Dataset, st data.BatchStats, seqLen int) string {
	if st.NoLoss == 0 {
		return ""
	}
	where := make([]string, len(st.NoLossIndex))
	for i, k := range st.NoLossIndex {
		where[i] = d.Where(k)
	}
	if n := st.NoLoss - len(where); n > 0 {
		where = append(where, fmt.Sprintf("and %d more", n))
	}
	return fmt.Sprintf("data: %s: %d example(s) left out, all their loss tokens beyond --seq-len %d: %s (raise --seq-len or shorten their prompts)",
		d.Name, st.NoLoss, seqLen, strings.Join(where, ", "))
}

// loadValid loads a validation file, noting skipped lines in skipped.
func loadValid(path string, tok data.Encoder, opts data.Options, skipped *[]string) (*data.Dataset, error) {
	d, st, err := data.Load(path, tok, opts)
	if err != nil {
		return nil, err
	}
	if d.Len() == 0 {
		return nil, fmt.Errorf("train: --valid %s: no examples (%v)", path, st)
	}
	*skipped = appendSkipped(*skipped, path, st)
	return d, nil
}

// appendSkipped adds a report of the lines --skip-bad skipped in file.
func appendSkipped(msgs []string, file string, st data.Stats) []string {
	if st.Skipped == 0 {
		return msgs
	}
	m := fmt.Sprintf("data: %s: skipped %d malformed line(s) (--skip-bad)", file, st.Skipped)
	if len(st.SkipErrors) > 0 {
		m += "; first: " + st.SkipErrors[0].Error()
	}
	return append(msgs, m)
}

// VocabSize implements VocabSizer, so the divergence guard knows ln(V).
func (t *ModelTask) VocabSize() int { return t.Model.Config().VocabSize }

// checkIDs refuses token ids the model has no embedding for: without a
// tokenizer (tok nil) nothing else bounds pre-tokenized input_ids by the
// vocabulary.
func checkIDs(d *Data, vocab int) error {
	for _, ds := range []*data.Dataset{d.Train, d.Valid} {
		if ds == nil {
			continue
		}
		for i, ex := range ds.Examples {
			for _, id := range ex.Tokens {
				if id < 0 || id >= vocab {
					return fmt.Errorf("train: %s: example %d has token id %d, outside the model's vocabulary [0, %d)", ds.Name, i+1, id, vocab)
				}
			}
		}
	}
	return nil
}
