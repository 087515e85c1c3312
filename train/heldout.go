package train

import (
	"fmt"

	"github.com/golora/golora/data"
)

// EvaluateTask is the mean loss per loss-bearing token of task over all of
// batches, as the trainer's validation computes it (experiment scores its
// test split with it).
func EvaluateTask(task Task, batches []data.Batch) (float64, error) {
	rec, err := evaluate(task, batches, 0, 0)
	return rec.ValLoss, err
}

// LoadHeldOut loads a held-out file (a test split, say) and batches it the
// way SetupData batches the validation file for cfg: in file order, padded.
func LoadHeldOut(cfg Config, path string, tok data.Encoder) ([]data.Batch, error) {
	var skipped []string
	d, err := loadValid(path, tok, data.Options{TrainOnAll: cfg.TrainOnAll, SkipBad: cfg.SkipBad}, &skipped)
	if err != nil {
		return nil, err
	}
	bo := data.BatchOptions{BatchSize: cfg.Batch, SeqLen: cfg.SeqLen, Pack: cfg.Pack, PadID: max(tok.EOS(), 0)}
	b, _, err := data.Batches(d.Examples, bo)
	if err != nil {
		return nil, fmt.Errorf("train: %s: %w", path, err)
	}
	return b, nil
}
