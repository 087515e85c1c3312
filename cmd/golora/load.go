package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/spf13/pflag"

	"github.com/golora/golora/data"
	"github.com/golora/golora/lora"
	"github.com/golora/golora/model"
	"github.com/golora/golora/tensor"
	"github.com/golora/golora/tokenizer"
)

// loadedFrom remembers the path each loaded model came from, so adapters
// can be checked against the base they record.
var loadedFrom = map[model.Model]string{}

// resolveModel returns the local path of the model a command runs on
// ("" = the embedded one): --model (a path, or a hub id found in the local
// Hugging Face cache) when given, else the base model the adapters record,
// with a note on stderr saying which model that is. name is the model as
// given or recorded (a hub id stays a hub id), for a new adapter's
// base_model_name_or_path.
func resolveModel(modelArg, adapters string, stderr io.Writer) (path, name string, err error) {
	if modelArg != "" || adapters == "" {
		path, err = model.Resolve(modelArg)
		return path, modelArg, err
	}
	base, err := lora.BaseModel(strings.Split(adapters, ","))
	if err != nil {
		return "", "", err
	}
	path, note, err := model.ResolveBase(base)
	if err != nil {
		return "", "", fmt.Errorf("--adapter %s: %w", adapters, err)
	}
	fmt.Fprintf(stderr, "golora: %s\n", note)
	if path == "" {
		base = "" // the embedded model
	}
	return path, base, nil
}

// addBaseDTypeFlag registers --base-dtype (default f32) on a command that
// loads a model; pass the value to loadModelDType. Every model-loading
// command uses it (train registers its own through train.Config).
func addBaseDTypeFlag(fl *pflag.FlagSet, p *string) {
	fl.StringVar(p, "base-dtype", "f32", model.BaseDTypeUsage)
}

// loadModel opens the model at path ("" = the embedded default) in float32.
func loadModel(path string) (model.Model, error) { return loadModelDType(path, "f32") }

// loadModelDType opens the model at path keeping its base in baseDType
// (--base-dtype: auto, f32, bf16 or f16).
func loadModelDType(path, baseDType string) (model.Model, error) {
	m, err := model.LoadWith(path, model.Options{BaseDType: baseDType})
	if err != nil {
		if path == "" {
			return nil, fmt.Errorf("embedded model: %w", err)
		}
		return nil, err
	}
	if id, ok := model.HubIDOf(path); ok {
		path = id // what adapters trained on it record
	}
	loadedFrom[m] = path
	return m, nil
}

// loadTokenizer finds the tokenizer that goes with a model: tokPath when
// given (a file, folder or hub id), else tokenizer.ForModel. It returns
// (nil, nil) when a model has no tokenizer, so id-only commands still work.
func loadTokenizer(modelPath, tokPath string) (tokenizer.Full, error) {
	if tokPath != "" {
		p, err := model.Resolve(tokPath) // a model's hub id names its tokenizer too
		if err != nil {
			return nil, err
		}
		return tokenizer.LoadFull(p)
	}
	modelPath, err := model.Resolve(modelPath)
	if err != nil {
		return nil, err
	}
	tok, err := tokenizer.ForModel(modelPath)
	if errors.Is(err, tokenizer.ErrNoTokenizer) {
		return nil, nil
	}
	return tok, err
}

// dataEncoder is tok for data.Load: nil when the model has no tokenizer
// (input_ids records only), not a nil tokenizer inside the interface.
func dataEncoder(tok tokenizer.Full) data.Encoder {
	if tok == nil {
		return nil
	}
	return tok
}

// saveTokenizer writes tok, the tokenizer loadTokenizer found for
// (modelPath, tokPath), into dir, so that a model saved there works as
// --model with nothing else (tokenizer.CopyFiles, CopyForModel; a GGUF
// file's tokenizer is written as tokenizer.json).
func saveTokenizer(dir, modelPath, tokPath string, tok tokenizer.Full) error {
	if tok == nil {
		return nil // the model has none and none was given
	}
	copyFrom, src := tokenizer.CopyFiles, tokPath
	if tokPath == "" {
		copyFrom, src = tokenizer.CopyForModel, modelPath
	}
	src, err := model.Resolve(src)
	if err != nil {
		return err
	}
	return copyFrom(dir, src)
}

// attachAdapters attaches the comma-separated adapter folders dirs to m
// (lora.Attach, checking the base each records against where m was loaded
// from) and prints the warnings; it returns nil when dirs is empty.
func attachAdapters(m model.Model, dirs string) (*lora.Model, error) {
	if dirs == "" {
		return nil, nil
	}
	var base *string
	if path, ok := loadedFrom[m]; ok {
		base = &path
	}
	lm, warnings, err := lora.Attach(m, strings.Split(dirs, ","), base)
	for _, w := range warnings {
		fmt.Fprintf(os.Stderr, "golora: warning: %s\n", w)
	}
	return lm, err
}

// benchDType is --base-dtype for a random benchmark model: the dtype its
// matrices are made in ("auto" there is f32: the random weights have no
// checkpoint).
func benchDType(s string) (tensor.DType, error) {
	if err := model.ParseBaseDType(s); err != nil {
		return tensor.F32, err
	}
	if s == "auto" || s == "" {
		return tensor.F32, nil
	}
	return tensor.ParseDType(s)
}
