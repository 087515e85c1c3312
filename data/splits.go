package data

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
)

// Splits is a training set and its validation set.
type Splits struct {
	Train, Valid *Dataset // Valid is empty (not nil) when there is none
	// Stats of the training file (before a held-out fraction is taken from
	// it) and of the validation file (zero when the validation set is held out).
	TrainStats, ValidStats Stats
}

// LoadSplits loads training data and its validation set, which is either a
// file (validPath) or a fraction of the training examples held out with seed
// (Dataset.Split); not both. trainPath may be a directory in mlx-lm's layout,
// holding train.jsonl and, when neither validPath nor fraction is given,
// valid.jsonl.
func LoadSplits(trainPath, validPath string, fraction float64, seed uint64, tok Encoder, opts Options) (*Splits, error) {
	if validPath != "" && fraction != 0 {
		return nil, errors.New("data: give a validation file or a held-out fraction, not both")
	}
	if IsSplitDir(trainPath) {
		dir := trainPath
		trainPath = SplitFile(dir, "train")
		if v := SplitFile(dir, "valid"); validPath == "" && fraction == 0 {
			if _, err := os.Stat(v); err == nil {
				validPath = v
			}
		}
	}
	var s Splits
	var err error
	if s.Train, s.TrainStats, err = Load(trainPath, tok, opts); err != nil {
		return nil, err
	}
	switch {
	case validPath != "":
		if s.Valid, s.ValidStats, err = Load(validPath, tok, opts); err != nil {
			return nil, err
		}
	case fraction > 0:
		if s.Train, s.Valid, err = s.Train.Split(fraction, seed); err != nil {
			return nil, err
		}
	default:
		s.Valid = &Dataset{Name: "none"}
	}
	if s.Train.Len() == 0 {
		return nil, fmt.Errorf("data: %s: no training examples (%v)", s.Train.Name, s.TrainStats)
	}
	return &s, nil
}

// Splits of a data folder in mlx-lm's layout, in the order they are used.
var SplitNames = []string{"train", "valid", "test"}

// IsSplitDir reports whether path is a folder, to be read in mlx-lm's layout
// (train.jsonl, valid.jsonl, test.jsonl) rather than as one JSONL file.
func IsSplitDir(path string) bool {
	fi, err := os.Stat(path)
	return err == nil && fi.IsDir()
}

// SplitFile is the file of one split ("train", "valid" or "test") in a data
// folder in mlx-lm's layout.
func SplitFile(dir, split string) string { return filepath.Join(dir, split+".jsonl") }
