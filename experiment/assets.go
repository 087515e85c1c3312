package experiment

import (
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/golora/golora/data"
	"github.com/golora/golora/internal/atomicfile"
	"github.com/golora/golora/tokenizer"
)

// The task data and the wider base are embedded so that a golora binary
// reproduces the built-in sweeps without the source tree; they are written
// out under --out once (the train engine reads files).
//
//go:embed tasks/kjv-nt/*.jsonl tasks/quiz-qa/*.jsonl tasks/continents/*.jsonl tasks/testament/*.jsonl tasks/lastword/*.jsonl
var taskFS embed.FS

//go:embed bases/kjv-wide
var baseFS embed.FS

// TaskInfo describes a built-in task.
type TaskInfo struct {
	Name, Metric string
	Labels       []string // class names of an accuracy task
	About        string
}

// Tasks are the built-in tasks (data and provenance in experiment/tasks/).
var Tasks = []TaskInfo{
	{Name: "kjv-nt", Metric: "perplexity", About: "domain adaptation: King James New Testament, held-out perplexity"},
	{Name: "quiz-qa", Metric: "exact_match", About: "question answering: bsdgames quiz capitals, opposites, collectives; exact match of the greedy answer"},
	{Name: "continents", Metric: "accuracy", Labels: []string{"africa", "west", "orient", "europe"}, About: "classification: continent of a country (bsdgames quiz; west = the Americas, orient = Asia), label-token head, accuracy"},
	{Name: "testament", Metric: "accuracy", Labels: []string{"old", "new"}, About: "classification: is a King James passage from the Old or the New Testament; label-token head, accuracy (majority 0.5)"},
	{Name: "lastword", Metric: "exact_match", About: "generation: copy the last word of a King James passage; exact match of the greedy answer"},
}

func taskInfo(name string) (TaskInfo, bool) {
	for _, t := range Tasks {
		if t.Name == name {
			return t, true
		}
	}
	return TaskInfo{}, false
}

// WideBase is the name of the embedded wider base (pretrained by golora
// pretrain on the King James Old Testament; see experiment/bases/README.md).
const WideBase = "kjv-wide"

// materialize copies the embedded folder dir of fsys to dst (once: files
// that exist are kept) and returns dst.
func materialize(fsys embed.FS, dir, dst string) (string, error) {
	err := fs.WalkDir(fsys, dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		out := filepath.Join(dst, rel)
		if _, err := os.Stat(out); err == nil {
			return nil
		}
		b, err := fsys.ReadFile(p)
		if err != nil {
			return err
		}
		if err := os.MkdirAll(filepath.Dir(out), 0o755); err != nil {
			return err
		}
		return atomicfile.WriteBytes(out, b)
	})
	if err != nil {
		return "", fmt.Errorf("experiment: writing %s: %w", dst, err)
	}
	return dst, nil
}

// taskFiles returns the train, valid and test JSONL paths of the sweep's
// task, writing a built-in task's files under out/data/<task>. A folder
// task without test.jsonl has no test split (testPath "").
func (s *Sweep) taskFiles(out string) (trainPath, validPath, testPath string, err error) {
	dir := s.Task
	_, builtin := taskInfo(s.Task)
	if builtin {
		if dir, err = materialize(taskFS, "tasks/"+s.Task, filepath.Join(out, "data", s.Task)); err != nil {
			return "", "", "", err
		}
	}
	trainPath, validPath, testPath = filepath.Join(dir, "train.jsonl"), filepath.Join(dir, "valid.jsonl"), filepath.Join(dir, "test.jsonl")
	for _, p := range []string{trainPath, validPath} {
		if _, err := os.Stat(p); err != nil {
			return "", "", "", fmt.Errorf("experiment: task %s: %w (a task folder holds train.jsonl, valid.jsonl and optionally test.jsonl)", s.Task, err)
		}
	}
	if _, err := os.Stat(testPath); err != nil {
		if builtin {
			return "", "", "", fmt.Errorf("experiment: task %s: %w", s.Task, err)
		}
		testPath = ""
	}
	return trainPath, validPath, testPath, nil
}

// metric is the sweep's task metric.
func (s *Sweep) metric() string {
	if s.Metric != "" {
		return s.Metric
	}
	if t, ok := taskInfo(s.Task); ok {
		return t.Metric
	}
	return "perplexity"
}

func (s *Sweep) labels() []string {
	if len(s.Labels) > 0 {
		return s.Labels
	}
	t, _ := taskInfo(s.Task)
	return t.Labels
}

// basePath returns the model path for train.Config.Model ("" = embedded)
// and the tokenizer that goes with it.
func (s *Sweep) basePath(out string) (string, tokenizer.Full, error) {
	switch s.Base {
	case "", "embedded":
		tok, err := tokenizer.ForModel("")
		return "", tok, err
	case "wide", WideBase:
		dir, err := materialize(baseFS, "bases/"+WideBase, filepath.Join(out, "bases", WideBase))
		if err != nil {
			return "", nil, err
		}
		if _, err := os.Stat(filepath.Join(dir, "model.safetensors")); err != nil {
			return "", nil, fmt.Errorf("experiment: the %s base is not in this build (run experiment/bases/pretrain.sh): %w", WideBase, err)
		}
		tok, err := tokenizer.ForModel("") // pretrained on the embedded vocabulary
		return dir, tok, err
	}
	tok, err := tokenizer.ForModel(s.Base)
	if errors.Is(err, tokenizer.ErrNoTokenizer) {
		// The built-in tasks are written for the embedded vocabulary, which
		// a base without a tokenizer (a llama2.c .bin) is assumed to share.
		tok, err = tokenizer.ForModel("")
	}
	if err != nil {
		return "", nil, fmt.Errorf("experiment: base %w", err)
	}
	return s.Base, tok, nil
}

var _ data.Encoder = tokenizer.Full(nil)
