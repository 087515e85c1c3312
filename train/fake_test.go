package train

import (
	"encoding/json"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"

	"github.com/golora/golora/data"
	"github.com/golora/golora/format/safetensors"
	"github.com/golora/golora/tensor"
)

// softmaxTask is a tiny deterministic model for testing the engine without
// the real model packages: next-token softmax regression over a learned
// embedding, logits = W·drop(E[id]) + b. Its gradients are exact (hand
// derived below) so the trainer's arithmetic is what is under test.
type softmaxTask struct {
	V, D    int
	E, W, B *tensor.Tensor
	dE, dW  *tensor.Tensor
	dB      *tensor.Tensor
	dropout float64
	rng     *rand.Rand
	// poison, when > 0, makes the poison-th Step call return NaN.
	poison, calls int
}

func newSoftmaxTask(V, D int, seed uint64, dropout float64) *softmaxTask {
	r := rand.New(rand.NewPCG(seed, 1))
	t := &softmaxTask{V: V, D: D, dropout: dropout,
		E: tensor.New(V, D), W: tensor.New(V, D), B: tensor.New(V),
		dE: tensor.New(V, D), dW: tensor.New(V, D), dB: tensor.New(V),
		rng: rand.New(rand.NewPCG(0, 0))}
	for i := range t.E.Data {
		t.E.Data[i] = float32(r.NormFloat64())
		t.W.Data[i] = float32(r.NormFloat64() * 0.1)
	}
	return t
}

func (t *softmaxTask) Params() []Param {
	return []Param{
		{Name: "emb", W: t.E, G: t.dE, Group: "full"},
		{Name: "head.weight", W: t.W, G: t.dW, Group: "lora_B"},
		{Name: "head.bias", W: t.B, G: t.dB, Group: "head", NoDecay: true},
	}
}

func (t *softmaxTask) NumParams() int { return 2*t.V*t.D + t.V }

func (t *softmaxTask) ZeroGrad() { t.dE.Zero(); t.dW.Zero(); t.dB.Zero() }

func (t *softmaxTask) Seed(s uint64) { t.rng = rand.New(rand.NewPCG(s, 2)) }

// forward returns the loss at one position and, when g > 0, accumulates g
// times its gradient.
func (t *softmaxTask) position(id, target int, g float32, train bool) float64 {
	V, D := t.V, t.D
	h := make([]float32, D)
	mask := make([]float32, D)
	for j := range h {
		mask[j] = 1
		if train && t.dropout > 0 {
			if t.rng.Float64() < t.dropout {
				mask[j] = 0
			} else {
				mask[j] = float32(1 / (1 - t.dropout))
			}
		}
		h[j] = t.E.Data[id*D+j] * mask[j]
	}
	logits := make([]float64, V)
	mx := math.Inf(-1)
	for v := 0; v < V; v++ {
		s := float64(t.B.Data[v])
		for j := 0; j < D; j++ {
			s += float64(t.W.Data[v*D+j]) * float64(h[j])
		}
		logits[v] = s
		mx = math.Max(mx, s)
	}
	var z float64
	for v := range logits {
		z += math.Exp(logits[v] - mx)
	}
	loss := mx + math.Log(z) - logits[target]
	if g == 0 {
		return loss
	}
	for v := 0; v < V; v++ {
		d := math.Exp(logits[v]-mx) / z
		if v == target {
			d--
		}
		dv := float32(d) * g
		t.dB.Data[v] += dv
		for j := 0; j < D; j++ {
			t.dW.Data[v*D+j] += dv * h[j]
			t.dE.Data[id*D+j] += dv * t.W.Data[v*D+j] * mask[j]
		}
	}
	return loss
}

func (t *softmaxTask) Step(ids, targets []int, B, T int, weight float32) (float64, int) {
	t.calls++
	n := 0
	for _, tg := range targets {
		if tg != data.IgnoreIndex {
			n++
		}
	}
	if n == 0 {
		return 0, 0
	}
	var sum float64
	for i, tg := range targets {
		if tg != data.IgnoreIndex {
			sum += t.position(ids[i], tg, weight/float32(n), true)
		}
	}
	if t.poison > 0 && t.calls == t.poison {
		return math.NaN(), n
	}
	return sum / float64(n), n
}

func (t *softmaxTask) Eval(ids, targets []int, B, T int) (float64, int) {
	var sum float64
	n := 0
	for i, tg := range targets {
		if tg != data.IgnoreIndex {
			sum += t.position(ids[i], tg, 0, false)
			n++
		}
	}
	return sum, n
}

func (t *softmaxTask) SaveAdapter(dir string) error {
	tensors := map[string]*tensor.Tensor{}
	for _, p := range t.Params() {
		tensors[p.Name] = p.W
	}
	if err := safetensors.Write(filepath.Join(dir, "adapter_model.safetensors"), tensors, map[string]string{"format": "pt"}); err != nil {
		return err
	}
	cfg, _ := json.Marshal(map[string]any{"peft_type": "TEST", "V": t.V, "D": t.D})
	return os.WriteFile(filepath.Join(dir, "adapter_config.json"), cfg, 0o644)
}

// markovExamples makes n sequences of length T from a noisy Markov chain
// over V tokens (next = 3·cur+1 mod V with probability 0.8). A varying
// prefix of each is masked with data.IgnoreIndex, as prompt tokens would be, so
// micro-batches differ in their numbers of loss tokens.
func markovExamples(n, T, V int, seed uint64) []shiftedSeq {
	r := rand.New(rand.NewPCG(seed, 3))
	var out []shiftedSeq
	for i := 0; i < n; i++ {
		seq := make([]int, T+1)
		seq[0] = r.IntN(V)
		for j := 1; j <= T; j++ {
			if r.Float64() < 0.8 {
				seq[j] = (3*seq[j-1] + 1) % V
			} else {
				seq[j] = r.IntN(V)
			}
		}
		tg := append([]int(nil), seq[1:]...)
		for j := 0; j < i%(T/2); j++ {
			tg[j] = data.IgnoreIndex
		}
		out = append(out, shiftedSeq{IDs: seq[:T], Targets: tg})
	}
	return out
}

// testSetup builds a fresh task, training stream and validation batches.
func testSetup(cfg Config) (*softmaxTask, *ShuffledBatches, []data.Batch) {
	const V, D = 12, 8
	task := newSoftmaxTask(V, D, uint64(cfg.Seed), cfg.Dropout)
	tb, err := NewShuffledBatches(markovExamples(64, cfg.SeqLen, V, 1), cfg.Batch, cfg.SeqLen, 0, uint64(cfg.Seed))
	if err != nil {
		panic(err)
	}
	vb, err := NewShuffledBatches(markovExamples(16, cfg.SeqLen, V, 2), cfg.Batch, cfg.SeqLen, 0, 0)
	if err != nil {
		panic(err)
	}
	var valid []data.Batch
	for i := 0; i < vb.BatchesPerEpoch(); i++ {
		b, _ := vb.Next()
		valid = append(valid, b)
	}
	return task, tb, valid
}

func testConfig(out string) Config {
	c := DefaultConfig()
	c.Out = out
	c.Batch, c.SeqLen = 4, 16
	c.Steps, c.Warmup = 20, 3
	c.LR = 0.05
	c.WeightDecay = 0.01
	c.LoRAPlusRatio = 2
	c.Dropout = 0.1
	c.EvalEvery, c.SaveEvery = 5, 5
	c.Seed = 7
	return c
}
