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
