// Package embedded carries golora's default model inside the binary:
// Karpathy's llama2.c stories260K TinyStories checkpoint and its 512-token
// tokenizer (MIT; provenance in README.md), so `golora generate` works with
// no download.
package embedded

import _ "embed"

// Name identifies the embedded model in logs and metadata.
const Name = "stories260K"

// Model is the llama2.c (version 0) checkpoint stories260K.bin.
//
//go:embed stories260K.bin
var Model []byte

// Tokenizer is the llama2.c tokenizer tok512.bin that goes with Model.
//
//go:embed tok512.bin
var Tokenizer []byte
