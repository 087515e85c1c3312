package experiment

import (
	"fmt"
	"math"
	"path/filepath"
	"strings"

	"github.com/golora/golora/data"
	"github.com/golora/golora/format/safetensors"
	"github.com/golora/golora/generate"
	"github.com/golora/golora/tensor"
	"github.com/golora/golora/tokenizer"
	"github.com/golora/golora/train"
)

// classTask is the classification head of the accuracy task. The head is
// the LM head restricted to one token per class (the first token of
// " "+label), and it is trained, like PEFT's modules_to_save, next to the
// adapter: the loss is a softmax over the K label logits at the position
// that predicts the label, so only those K rows of the head (and, through
// the hidden state, the adapter) receive gradient. Starting from the LM's
// own rows makes it a verbalizer head that already knows the words.
type classTask struct {
	*train.ModelTask
	params []train.Param
	ids    []int // label token id per class
	head   string
	tok    tokenizer.Full
}

func newClassTask(mt *train.ModelTask, tok tokenizer.Full, labels []string, trainPath string) (*classTask, error) {
	if len(labels) < 2 {
		return nil, fmt.Errorf("accuracy task: %d labels; give at least two (labels: in the sweep)", len(labels))
	}
	c := &classTask{ModelTask: mt, tok: tok}
	// The class tokens are read off the training data as the data loader
	// tokenized it (the first completion token), because a SentencePiece
	// tokenizer splits " west" alone differently from "... in west".
	d, _, err := data.Load(trainPath, tok, data.Options{})
	if err != nil {
		return nil, err
	}
	first := map[string]int{}
	for i, ex := range d.Examples {
		_, completion := split(ex, tok.EOS())
		if len(completion) == 0 {
			return nil, fmt.Errorf("accuracy task: %s: example %d has no completion", trainPath, i+1)
		}
		l := normAnswer(tok.Decode(completion))
		if id, ok := first[l]; ok && id != completion[0] {
			return nil, fmt.Errorf("accuracy task: %s: label %q starts with token %d and %d", trainPath, l, id, completion[0])
		}
		first[l] = completion[0]
	}
	seen := map[int]string{}
	for _, l := range labels {
		id, ok := first[normAnswer(l)]
		if !ok {
			return nil, fmt.Errorf("accuracy task: label %q never occurs as a completion in %s", l, trainPath)
		}
		if o, dup := seen[id]; dup {
			return nil, fmt.Errorf("accuracy task: labels %q and %q start with the same token %d; the head needs distinct first tokens", o, l, id)
		}
		seen[id] = l
		c.ids = append(c.ids, id)
	}
	m := mt.Model
	for _, l := range m.Linears() {
		if l.Head {
			c.head = l.Name + ".weight"
		}
	}
	c.params = append(c.params, mt.Params()...)
	if mt.Method != "full" {
		// A tied model has no lm_head tensor of its own: then the head is
		// the embedding matrix's label rows, as in a tied PEFT model.
		for _, name := range []string{c.head, "model.embed_tokens.weight", "transformer.wte.weight"} {
			m.SetTrainable(func(n string) bool { return n == name })
			for _, p := range m.Params() {
				if p.Name == name && p.G != nil {
					c.head = name
					c.params = append(c.params, train.Param{Name: name, W: p.W, G: p.G, Group: "head"})
				}
			}
			if len(c.params) > len(mt.Params()) {
				break
			}
		}
		if len(c.params) == len(mt.Params()) {
			return nil, fmt.Errorf("accuracy task: found no LM head weight to train (tried %s)", c.head)
		}
	}
	return c, nil
}

// Params implements train.Task: the adapter's parameters and the head.
func (c *classTask) Params() []train.Param { return c.params }

func (c *classTask) setTrain(on bool) {
	if c.LoRA != nil {
		c.LoRA.SetTrain(on)
	}
}

// classLoss turns the logits into the label-softmax loss in place: rows
// whose target is a label get (p - onehot)·scale on the label columns, all
// other entries become 0. It returns the summed loss and the row count.
func (c *classTask) classLoss(logits []float32, targets []int, V int, grad bool, scale float32) (float64, int) {
	var sum float64
	n := 0
	p := make([]float64, len(c.ids))
	for i, t := range targets {
		k := -1
		for j, id := range c.ids {
			if t == id {
				k = j
			}
		}
		row := logits[i*V : (i+1)*V]
		if k < 0 {
			if grad {
				clear(row)
			}
			continue
		}
		mx := math.Inf(-1)
		for j, id := range c.ids {
			p[j] = float64(row[id])
			mx = math.Max(mx, p[j])
		}
		z := 0.0
		for j := range p {
			p[j] = math.Exp(p[j] - mx)
			z += p[j]
		}
		sum -= math.Log(p[k] / z)
		n++
		if grad {
			clear(row)
			for j, id := range c.ids {
				g := p[j] / z
				if j == k {
					g--
				}
				row[id] = float32(g) * scale
			}
		}
	}
	return sum, n
}

// Step implements train.Task.
func (c *classTask) Step(ids, targets []int, B, T int, weight float32) (float64, int) {
	c.setTrain(true)
	logits := c.Model.Forward(ids, B, T)
	V := c.Model.Config().VocabSize
	n := 0
	for _, t := range targets {
		for _, id := range c.ids {
			if t == id {
				n++
			}
		}
	}
	if n == 0 {
		return 0, 0
	}
	sum, _ := c.classLoss(logits, targets, V, true, weight/float32(n))
	c.Model.BackwardLogits(logits)
	return sum / float64(n), n
}

// Eval implements train.Task.
func (c *classTask) Eval(ids, targets []int, B, T int) (float64, int) {
	c.setTrain(false)
	logits := c.Model.Forward(ids, B, T)
	return c.classLoss(logits, targets, c.Model.Config().VocabSize, false, 0)
}

// SaveAdapter implements train.Task: the adapter plus head.safetensors
// with the K trained label rows (and their token ids in the metadata).
func (c *classTask) SaveAdapter(dir string) error {
	if err := c.ModelTask.SaveAdapter(dir); err != nil {
		return err
	}
	if c.Method == "full" {
		return nil
	}
	for _, p := range c.Model.Params() {
		if p.Name != c.head {
			continue
		}
		C := p.W.Shape[1]
		rows := tensor.New(len(c.ids), C)
		ids := make([]string, len(c.ids))
		for k, id := range c.ids {
			p.W.CopyRow(rows.Data[k*C:(k+1)*C], id)
			ids[k] = fmt.Sprint(id)
		}
		return safetensors.Write(filepath.Join(dir, "head.safetensors"),
			map[string]*tensor.Tensor{"head.weight": rows}, map[string]string{"source": c.head, "token_ids": strings.Join(ids, ",")})
	}
	return nil
}

// split returns an example's prompt and completion tokens (the completion
// without a trailing EOS).
func split(ex data.Example, eos int) (prompt, completion []int) {
	p := 0
	for p < len(ex.Labels) && ex.Labels[p] == data.IgnoreIndex {
		p++
	}
	prompt, completion = ex.Tokens[:p], ex.Tokens[p:]
	if n := len(completion); n > 0 && completion[n-1] == eos {
		completion = completion[:n-1]
	}
	return prompt, completion
}

// accuracy is the share of held-out examples whose label logit is the
// largest of the K at the position that predicts the label.
func (c *classTask) accuracy(validPath string, seqLen int) (float64, error) {
	d, _, err := data.Load(validPath, c.tok, data.Options{})
	if err != nil {
		return 0, err
	}
	c.setTrain(false)
	V := c.Model.Config().VocabSize
	right, n := 0, 0
	for _, ex := range d.Examples {
		prompt, completion := split(ex, c.tok.EOS())
		if len(prompt) == 0 || len(completion) == 0 || len(prompt) > seqLen {
			continue
		}
		logits := c.Model.Forward(prompt, 1, len(prompt))
		row := logits[(len(prompt)-1)*V : len(prompt)*V]
		best := 0
		for k, id := range c.ids {
			if row[id] > row[c.ids[best]] {
				best = k
			}
		}
		n++
		if c.ids[best] == completion[0] {
			right++
		}
	}
	if n == 0 {
		return 0, fmt.Errorf("accuracy: %s has no prompt/completion examples", validPath)
	}
	return float64(right) / float64(n), nil
}

// majority is the share of the commonest answer in a prompt/completion
// file: what always giving that answer scores.
func majority(path string, tok tokenizer.Full) (Num, error) {
	d, _, err := data.Load(path, tok, data.Options{})
	if err != nil {
		return 0, err
	}
	count := map[string]int{}
	best, n := 0, 0
	for _, ex := range d.Examples {
		_, completion := split(ex, tok.EOS())
		a := normAnswer(tok.Decode(completion))
		count[a]++
		best = max(best, count[a])
		n++
	}
	if n == 0 {
		return 0, fmt.Errorf("experiment: %s has no examples", path)
	}
	return Num(float64(best) / float64(n)), nil
}

// normAnswer is what exact match compares: case, surrounding space and
// final punctuation do not count (SQuAD-style normalisation, lighter).
func normAnswer(s string) string {
	s = strings.ToLower(strings.TrimSpace(s))
	return strings.TrimSpace(strings.TrimRight(s, ".!?"))
}

// exactMatch generates a greedy answer to each held-out prompt (up to the
// reference's length plus 4 tokens, stopping at a period, newline or EOS)
// and returns the share equal to the reference after normAnswer.
func exactMatch(mt *train.ModelTask, tok tokenizer.Full, validPath string) (float64, error) {
	d, _, err := data.Load(validPath, tok, data.Options{})
	if err != nil {
		return 0, err
	}
	if mt.LoRA != nil {
		mt.LoRA.SetTrain(false)
	}
	eos := tok.EOS()
	right, n := 0, 0
	for _, ex := range d.Examples {
		prompt, completion := split(ex, eos)
		if len(prompt) == 0 || len(completion) == 0 {
			continue
		}
		var got []int
		opt := generate.Options{MaxNew: len(completion) + 4}
		if maxPos := mt.Model.Config().MaxPositionEmbeddings; maxPos > len(prompt) {
			opt.MaxNew = min(opt.MaxNew, maxPos-len(prompt)) // Run refuses a limit past the context
		}
		if eos >= 0 {
			opt.EOS = []int{eos}
		}
		dec := tokenizer.NewStreamDecoder(tok) // the text so far, one piece per id
		_, err := generate.Run(mt.Model, prompt, opt, func(id int) bool {
			if id == eos {
				return false
			}
			got = append(got, id)
			return !strings.ContainsAny(dec.Add(id), ".\n")
		})
		if err != nil {
			return 0, err
		}
		n++
		if normAnswer(tok.Decode(got)) == normAnswer(tok.Decode(completion)) {
			right++
		}
	}
	if n == 0 {
		return 0, fmt.Errorf("exact match: %s has no prompt/completion examples", validPath)
	}
	return float64(right) / float64(n), nil
}
