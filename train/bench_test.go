package train

import (
	"testing"

	"github.com/golora/golora/model"
)

func TestBenchAndFLOPs(t *testing.T) {
	cfg := DefaultConfig()
	cfg.Batch, cfg.SeqLen = 2, 32
	task := embeddedTask(t, cfg)
	res, err := Bench(cfg, task, RandomBatches(2, 32, task.Model.Config().VocabSize, 1), 1, 3)
	if err != nil {
		t.Fatal(err)
	}
	if res.Steps != 3 || res.Tokens != 3*2*32 || !(res.TokensPerS > 0) {
		t.Errorf("bench result %+v", res)
	}

	// Forward FLOPs by hand for a small Llama shape: every linear weight
	// (q, k, v, o, gate, up, down, head) twice, plus attention over T keys.
	c := &model.Config{ModelType: "llama", NumHiddenLayers: 2, HiddenSize: 64, NumAttentionHeads: 4,
		NumKeyValueHeads: 2, IntermediateSize: 96, VocabSize: 101, MaxPositionEmbeddings: 64}
	m, err := model.NewRandom(c, 1)
	if err != nil {
		t.Fatal(err)
	}
	const L, C, KV, I, V, T = 2, 64, 32, 96, 101, 16
	perLayer := C*C + 2*KV*C + C*C + 3*I*C
	want := 2*float64(L*perLayer+V*C) + 4*L*T*C
	if got := ForwardFLOPsPerToken(m, T); got != want {
		t.Errorf("ForwardFLOPsPerToken = %g, want %g", got, want)
	}
}

// TestBenchMethodNone times the frozen base: nothing is trainable, the
// weights stay bit for bit, and a training config still refuses the method.
func TestBenchMethodNone(t *testing.T) {
	cfg := DefaultConfig()
	cfg.Method, cfg.Batch, cfg.SeqLen = MethodNone, 2, 16
	task := embeddedTask(t, cfg)
	if n := len(task.Params()); n != 0 || task.LoRA != nil {
		t.Fatalf("method none: %d trainable params, LoRA %v", n, task.LoRA)
	}
	before := map[string][]float32{}
	for _, p := range task.Model.Params() {
		before[p.Name] = append([]float32(nil), p.W.Data...)
	}
	res, err := Bench(cfg, task, RandomBatches(2, 16, task.Model.Config().VocabSize, 1), 1, 2)
	if err != nil {
		t.Fatal(err)
	}
	if res.Tokens != 2*2*16 {
		t.Errorf("tokens %d, want %d", res.Tokens, 2*2*16)
	}
	for _, p := range task.Model.Params() {
		for i, v := range p.W.Data {
			if v != before[p.Name][i] {
				t.Fatalf("%s[%d] changed: %g -> %g", p.Name, i, before[p.Name][i], v)
			}
		}
	}
	if err := cfg.Validate(); err == nil {
		t.Error("Validate accepted --method none for training")
	}
}
