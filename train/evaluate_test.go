package train

import (
	"math"
	"testing"

	"github.com/golora/golora/data"
	"github.com/golora/golora/model"
)

// TestEvaluate: the mean over loss-carrying tokens of -log softmax(logits
// at t)[Labels[t+1]], computed here in float64 from the full forward, with
// examples of no loss left out of the count.
func TestEvaluate(t *testing.T) {
	m, err := model.Load("")
	if err != nil {
		t.Fatal(err)
	}
	const I = data.IgnoreIndex
	examples := []data.Example{
		{Tokens: []int{1, 403, 407, 261, 300}, Labels: []int{I, I, 407, 261, 300}},
		{Tokens: []int{1, 70, 80, 90}, Labels: []int{I, 70, I, 90}},
		{Tokens: []int{1, 5, 6}, Labels: []int{I, I, I}}, // no loss
		{Tokens: []int{1}, Labels: []int{1}},             // nothing to predict
	}
	V := m.Config().VocabSize
	var sum float64
	var tokens int
	for _, ex := range examples {
		logits := m.Forward(ex.Tokens, 1, len(ex.Tokens))
		for p := 0; p+1 < len(ex.Tokens); p++ {
			label := ex.Labels[p+1]
			if label == I {
				continue
			}
			row := logits[p*V : (p+1)*V]
			mx := math.Inf(-1)
			for _, v := range row {
				mx = math.Max(mx, float64(v))
			}
			var z float64
			for _, v := range row {
				z += math.Exp(float64(v) - mx)
			}
			sum += mx + math.Log(z) - float64(row[label])
			tokens++
		}
	}
	got := Evaluate(m, examples)
	if got.Tokens != tokens || got.Examples != 2 {
		t.Fatalf("tokens %d examples %d, want %d and 2", got.Tokens, got.Examples, tokens)
	}
	if want := sum / float64(tokens); math.Abs(got.Loss-want) > 1e-5*want || math.Abs(got.Perplexity-math.Exp(want)) > 1e-4*math.Exp(want) {
		t.Errorf("loss %v perplexity %v, want %v and %v", got.Loss, got.Perplexity, want, math.Exp(want))
	}
}

// TestEvaluateTaskWholeSet: a held-out split (the experiments' test split)
// is scored over every batch, weighted by its loss-bearing tokens, while a
// positive EvalBatches limits validation to the first batches only.
func TestEvaluateTaskWholeSet(t *testing.T) {
	task := newSoftmaxTask(11, 4, 7, 0)
	const I = data.IgnoreIndex
	var batches []data.Batch
	for i := range 5 {
		ids := []int{i, i + 1, i + 2, i + 3}
		tg := []int{i + 1, i + 2, i + 3, I}
		if i == 3 {
			tg[0] = I // batches differ in their token counts
		}
		batches = append(batches, data.Batch{B: 1, T: 4, IDs: ids, Targets: tg})
	}
	mean := func(bs []data.Batch) float64 {
		var sum float64
		var n int
		for _, b := range bs {
			s, k := task.Eval(b.IDs, b.Targets, b.B, b.T)
			sum += s
			n += k
		}
		return sum / float64(n)
	}
	got, err := EvaluateTask(task, batches)
	if err != nil {
		t.Fatal(err)
	}
	if want := mean(batches); got != want {
		t.Errorf("EvaluateTask %v, want the mean over all 5 batches %v", got, want)
	}
	rec, err := evaluate(task, batches, 2, 0)
	if err != nil {
		t.Fatal(err)
	}
	if want := mean(batches[:2]); rec.ValLoss != want || want == got {
		t.Errorf("evaluate with 2 batches %v, want %v (and unlike the whole set's %v)", rec.ValLoss, want, got)
	}
}
