package train

import (
	"slices"
	"strings"
	"testing"

	"github.com/golora/golora/lora"
	"github.com/golora/golora/model"
)

// numLayersModel is a random 4-block model of the given family.
func numLayersModel(t *testing.T, family string) model.Model {
	t.Helper()
	c := &model.Config{ModelType: family, NumHiddenLayers: 4, HiddenSize: 32, NumAttentionHeads: 4,
		NumKeyValueHeads: 2, IntermediateSize: 48, VocabSize: 61, MaxPositionEmbeddings: 32}
	if family == "gpt2" {
		c.NumKeyValueHeads = 4
	}
	m, err := model.NewRandom(c, 3)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// TestNumLayers: --num-layers N adapts the last N blocks only, records them
// as layers_to_transform, and its gradients (with backward stopping below
// the lowest adapted block) equal those of a backward through every block.
func TestNumLayers(t *testing.T) {
	for _, family := range []string{"gpt2", "llama"} {
		for _, targets := range []string{"q,v", "all"} {
			t.Run(family+"/"+targets, func(t *testing.T) {
				m := numLayersModel(t, family)
				cfg := DefaultConfig()
				cfg.Targets, cfg.NumLayers, cfg.Init = strings.Split(targets, ","), 2, "gaussian"
				task, err := NewModelTask(m, cfg)
				if err != nil {
					t.Fatal(err)
				}
				if got := task.LoRA.Config(lora.DefaultName).LayersToTransform; !slices.Equal(got, []int{2, 3}) {
					t.Errorf("layers_to_transform %v, want [2 3]", got)
				}
				for _, p := range task.Params() {
					if !strings.Contains(p.Name, ".2.") && !strings.Contains(p.Name, ".3.") {
						t.Errorf("%s is trainable outside the last 2 blocks", p.Name)
					}
				}
				if len(task.Params()) == 0 {
					t.Fatal("nothing trainable")
				}
				ex := randomExamples(2, 8, 61, 4)
				ids := append(slices.Clone(ex[0].IDs), ex[1].IDs...)
				tg := append(slices.Clone(ex[0].Targets), ex[1].Targets...)
				task.ZeroGrad()
				l1, _ := task.Step(ids, tg, 2, 8, 1)
				short := snapshotGrads(task.Params())
				m.(interface{ SetFullBackward(bool) }).SetFullBackward(true)
				task.ZeroGrad()
				l2, _ := task.Step(ids, tg, 2, 8, 1)
				full := snapshotGrads(task.Params())
				if l1 != l2 {
					t.Fatalf("loss %v with the short backward, %v with the full one", l1, l2)
				}
				for i := range full {
					if !slices.Equal(short[i], full[i]) {
						t.Fatalf("%s: gradients differ between the short and the full backward", task.Params()[i].Name)
					}
				}
			})
		}
	}
}

// TestNumLayersInvalid: a count the model or method cannot take is an error
// naming the flag.
func TestNumLayersInvalid(t *testing.T) {
	m := numLayersModel(t, "llama")
	cfg := DefaultConfig()
	cfg.NumLayers = 5
	if _, err := NewModelTask(m, cfg); err == nil || !strings.Contains(err.Error(), "--num-layers 5: the model has 4 layers") {
		t.Errorf("5 of 4 layers: %v", err)
	}
	for _, c := range []struct {
		n      int
		method string
		want   string
	}{{-1, "lora", "--num-layers -1: must be >= 0"}, {2, "full", "--num-layers 2: applies to a new adapter"}} {
		cfg := DefaultConfig()
		cfg.NumLayers, cfg.Method = c.n, c.method
		if err := cfg.Validate(); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("--num-layers %d --method %s: %v, want %q", c.n, c.method, err, c.want)
		}
	}
}

// TestCheckpointingSameGradients: --checkpointing recomputes each block in
// backward; loss and gradients are those of the run that keeps every
// activation.
func TestCheckpointingSameGradients(t *testing.T) {
	for _, family := range []string{"gpt2", "llama"} {
		t.Run(family, func(t *testing.T) {
			var grads [2][][]float32
			var loss [2]float64
			ex := randomExamples(2, 8, 61, 5)
			ids := append(slices.Clone(ex[0].IDs), ex[1].IDs...)
			tg := append(slices.Clone(ex[0].Targets), ex[1].Targets...)
			for i, on := range []bool{false, true} {
				cfg := DefaultConfig()
				cfg.Checkpointing, cfg.Init, cfg.Targets = on, "gaussian", []string{"all"}
				task, err := NewModelTask(numLayersModel(t, family), cfg)
				if err != nil {
					t.Fatal(err)
				}
				task.ZeroGrad()
				loss[i], _ = task.Step(ids, tg, 2, 8, 1)
				grads[i] = snapshotGrads(task.Params())
			}
			if loss[0] != loss[1] {
				t.Fatalf("loss %v without, %v with checkpointing", loss[0], loss[1])
			}
			for i := range grads[0] {
				if !slices.Equal(grads[0][i], grads[1][i]) {
					t.Fatalf("param %d: gradients differ with checkpointing", i)
				}
			}
		})
	}
}

// TestCheckpointingLessMemory: the estimate Setup checks against the
// machine shrinks with --checkpointing and --num-layers leaves fewer
// trainable parameters.
func TestCheckpointingLessMemory(t *testing.T) {
	m := numLayersModel(t, "llama")
	cfg := DefaultConfig()
	base := EstimateMemory(m, cfg)
	cfg.Checkpointing = true
	if ck := EstimateMemory(m, cfg); !(ck.Activations < base.Activations) {
		t.Errorf("activations %v with checkpointing, %v without", ck.Activations, base.Activations)
	}
	cfg.Checkpointing, cfg.NumLayers = false, 1
	if nl := EstimateMemory(m, cfg); !(nl.Trainable*3.5 < base.Trainable) || !(nl.Activations < base.Activations) {
		t.Errorf("--num-layers 1 of 4: %+v, all layers: %+v", nl, base)
	}
}
