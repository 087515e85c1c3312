// Package llama2c reads and writes the float32 checkpoints of Karpathy's
// llama2.c: run.c's legacy "version 0" format, and export version 1.
//
// Version 0 is seven little-endian int32s
//
//	dim, hidden_dim, n_layers, n_heads, n_kv_heads, vocab_size, seq_len
//
// then float32 weights in run.c order (token embedding, rms_att, wq, wk, wv,
// wo, rms_ffn, w1, w2, w3, rms_final, two legacy RoPE tables, and the
// classifier when it is not shared). A negative vocab_size means the
// classifier is stored separately; a positive one means it is the token
// embedding.
//
// Version 1 (export.py's version1_export) has a 256-byte header: magic
// "ak42", int32 version 1, the same seven int32s (vocab_size positive), a
// shared-classifier byte, zero padding; then float32 weights in the order
// rms_att, rms_ffn, rms_final, token embedding, wq, wk, wv, wo, w1, w2, w3 and
// the classifier when it is not shared, without RoPE tables. Version 2
// (int8 quantized) is refused.
//
// llama2.c rotates interleaved pairs (2j, 2j+1) in RoPE, where Hugging Face
// Llama rotates (j, j+D/2). HFTensors permutes the rows of Wq and Wk within
// each head so that the converted model runs under the HF convention (the
// same permutation as HF's convert_llama_weights_to_hf.py); FromHF applies
// the inverse for export back to llama2.c.
package llama2c

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"os"

	"github.com/golora/golora/internal/atomicfile"
	"github.com/golora/golora/tensor"
)

// HeaderSize and HeaderSizeV1 are the byte sizes of the headers.
const (
	HeaderSize   = 7 * 4
	HeaderSizeV1 = 256
)

// magicV1 is "ak42" as the first uint32 of llama2.c's newer export formats.
const magicV1 = 0x616b3432

// Sentinel errors, wrapped with the file name; test with errors.Is.
var (
	ErrHeader    = errors.New("invalid header")
	ErrTruncated = errors.New("truncated checkpoint")
	ErrTrailing  = errors.New("unexpected trailing bytes")
	ErrFormat    = errors.New("unsupported checkpoint format")
)

// Config is the checkpoint header. VocabSize is the absolute value; the sign
// in the file is SharedClassifier.
type Config struct {
	Dim              int  // model width (HF hidden_size)
	HiddenDim        int  // SwiGLU width (HF intermediate_size)
	NLayers          int  // transformer blocks
	NHeads           int  // query heads
	NKVHeads         int  // key/value heads (GQA when < NHeads)
	VocabSize        int  // tokens
	SeqLen           int  // context length the RoPE tables cover
	SharedClassifier bool // classifier is the token embedding
	Version          int  // 0 (legacy run.c format) or 1 ("ak42" export, float32)
}

// HeadDim is the width of one attention head.
func (c Config) HeadDim() int { return c.Dim / c.NHeads }

// KVDim is the width of the key and value projections.
func (c Config) KVDim() int { return c.NKVHeads * c.HeadDim() }

// maxDim bounds every header field, so products stay far from overflow and a
// hostile header cannot request a huge allocation (the file size check
// happens before any allocation anyway).
const maxDim = 1 << 24

// Validate checks the header for consistency.
func (c Config) Validate() error {
	for _, f := range []struct {
		name string
		v    int
	}{{"dim", c.Dim}, {"hidden_dim", c.HiddenDim}, {"n_layers", c.NLayers}, {"n_heads", c.NHeads},
		{"n_kv_heads", c.NKVHeads}, {"vocab_size", c.VocabSize}, {"seq_len", c.SeqLen}} {
		if f.v <= 0 || f.v > maxDim {
			return fmt.Errorf("%w: %s = %d", ErrHeader, f.name, f.v)
		}
	}
	if c.Dim%c.NHeads != 0 {
		return fmt.Errorf("%w: dim %d not divisible by n_heads %d", ErrHeader, c.Dim, c.NHeads)
	}
	if c.NKVHeads > c.NHeads || c.NHeads%c.NKVHeads != 0 {
		return fmt.Errorf("%w: n_heads %d not a multiple of n_kv_heads %d", ErrHeader, c.NHeads, c.NKVHeads)
	}
	if c.HeadDim()%2 != 0 {
		return fmt.Errorf("%w: head size %d is odd; RoPE needs pairs", ErrHeader, c.HeadDim())
	}
	return nil
}

// numFloats is the number of float32 values after the header, version 0's
// legacy RoPE tables included.
func (c Config) numFloats() int64 {
	n := c.NumParams()
	if c.Version == 0 {
		n += c.ropeFloats()
	}
	return n
}

// ropeFloats is the size of version 0's freq_cis_real and freq_cis_imag,
// each seq_len × head/2.
func (c Config) ropeFloats() int64 { return int64(c.SeqLen) * int64(c.HeadDim()) }

// headerSize is the byte size of c's header.
func (c Config) headerSize() int64 {
	if c.Version == 1 {
		return HeaderSizeV1
	}
	return HeaderSize
}

// NumParams counts the real parameters (the RoPE tables are not parameters;
// a shared classifier is counted once).
func (c Config) NumParams() int64 {
	D, H, L, V := int64(c.Dim), int64(c.HiddenDim), int64(c.NLayers), int64(c.VocabSize)
	kv := int64(c.KVDim())
	n := V*D + L*(D+D*D+2*kv*D+D*D+D+3*H*D) + D
	if !c.SharedClassifier {
		n += V * D
	}
	return n
}

// Weights are the tensors in run.c's layout; matrices are [out, in] and the
// per-layer ones carry a leading layer dimension.
type Weights struct {
	TokenEmbedding *tensor.Tensor // [V, D]
	RMSAtt         *tensor.Tensor // [L, D]
	Wq             *tensor.Tensor // [L, D, D] (interleaved RoPE rows)
	Wk             *tensor.Tensor // [L, KV, D] (interleaved RoPE rows)
	Wv             *tensor.Tensor // [L, KV, D]
	Wo             *tensor.Tensor // [L, D, D]
	RMSFFN         *tensor.Tensor // [L, D]
	W1             *tensor.Tensor // [L, H, D] gate
	W2             *tensor.Tensor // [L, D, H] down
	W3             *tensor.Tensor // [L, H, D] up
	RMSFinal       *tensor.Tensor // [D]
	Wcls           *tensor.Tensor // [V, D]; nil when shared
}

// Checkpoint is a loaded llama2.c model.
type Checkpoint struct {
	Config
	Weights
}

// field is a weight tensor of the file with its shape.
type field struct {
	t     **tensor.Tensor
	shape []int
}

// fields lists the weight tensors before the classifier in file order
// with their shapes; in version 0 the RoPE tables follow them.
func (ck *Checkpoint) fields() []field {
	c := ck.Config
	D, H, L, V, KV := c.Dim, c.HiddenDim, c.NLayers, c.VocabSize, c.KVDim()
	w := &ck.Weights
	emb, att, ffn, final := field{&w.TokenEmbedding, []int{V, D}}, field{&w.RMSAtt, []int{L, D}}, field{&w.RMSFFN, []int{L, D}}, field{&w.RMSFinal, []int{D}}
	wq, wk, wv, wo := field{&w.Wq, []int{L, D, D}}, field{&w.Wk, []int{L, KV, D}}, field{&w.Wv, []int{L, KV, D}}, field{&w.Wo, []int{L, D, D}}
	w1, w2, w3 := field{&w.W1, []int{L, H, D}}, field{&w.W2, []int{L, D, H}}, field{&w.W3, []int{L, H, D}}
	if c.Version == 1 {
		return []field{att, ffn, final, emb, wq, wk, wv, wo, w1, w2, w3}
	}
	return []field{emb, att, wq, wk, wv, wo, ffn, w1, w2, w3, final}
}

// Read loads a checkpoint (version 0 or 1). The header is validated and the exact file
// size it implies is compared with the real size before anything is
// allocated, so truncated, padded or hostile files give an error naming the
// file.
func Read(path string) (*Checkpoint, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("llama2c: %w", err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("llama2c: %w", err)
	}
	ck, err := decode(f, st.Size())
	if err != nil {
		return nil, fmt.Errorf("llama2c: %s: %w", path, err)
	}
	return ck, nil
}

// Parse decodes a checkpoint held in memory (an embedded model, a file read
// whole); name is used in errors.
func Parse(name string, data []byte) (*Checkpoint, error) {
	ck, err := decode(bytes.NewReader(data), int64(len(data)))
	if err != nil {
		return nil, fmt.Errorf("llama2c: %s: %w", name, err)
	}
	return ck, nil
}

// ReadHeader reads only the header (and checks it against the file size),
// for tools such as inspect.
func ReadHeader(path string) (Config, error) {
	f, err := os.Open(path)
	if err != nil {
		return Config{}, fmt.Errorf("llama2c: %w", err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return Config{}, fmt.Errorf("llama2c: %w", err)
	}
	c, err := readConfig(f, st.Size())
	if err != nil {
		return Config{}, fmt.Errorf("llama2c: %s: %w", path, err)
	}
	return c, nil
}

func readConfig(r io.Reader, size int64) (Config, error) {
	if size < HeaderSize {
		return Config{}, fmt.Errorf("%w: %d bytes is shorter than the %d-byte header", ErrTruncated, size, HeaderSize)
	}
	var h [7]int32
	if err := binary.Read(r, binary.LittleEndian, &h); err != nil {
		return Config{}, err
	}
	var c Config
	if uint32(h[0]) == magicV1 {
		if h[1] != 1 {
			return Config{}, fmt.Errorf("%w: llama2.c export version %d (magic \"ak42\"); only version 0 and the float32 version 1 are supported", ErrFormat, h[1])
		}
		if size < HeaderSizeV1 {
			return Config{}, fmt.Errorf("%w: %d bytes is shorter than the %d-byte version 1 header", ErrTruncated, size, HeaderSizeV1)
		}
		var rest [HeaderSizeV1 - HeaderSize]byte
		if _, err := io.ReadFull(r, rest[:]); err != nil {
			return Config{}, err
		}
		v, seq := int32(binary.LittleEndian.Uint32(rest[0:])), int32(binary.LittleEndian.Uint32(rest[4:]))
		c = Config{Dim: int(h[2]), HiddenDim: int(h[3]), NLayers: int(h[4]), NHeads: int(h[5]),
			NKVHeads: int(h[6]), VocabSize: int(v), SeqLen: int(seq), SharedClassifier: rest[8] != 0, Version: 1}
	} else {
		c = Config{Dim: int(h[0]), HiddenDim: int(h[1]), NLayers: int(h[2]), NHeads: int(h[3]),
			NKVHeads: int(h[4]), VocabSize: int(h[5]), SeqLen: int(h[6]), SharedClassifier: h[5] > 0}
		if c.VocabSize < 0 {
			c.VocabSize = -c.VocabSize
		}
	}
	if err := c.Validate(); err != nil {
		return Config{}, err
	}
	want := c.headerSize() + 4*c.numFloats()
	switch {
	case size < want:
		return Config{}, fmt.Errorf("%w: header implies %d bytes (%d float32 after the header) but the file has %d", ErrTruncated, want, c.numFloats(), size)
	case size > want:
		return Config{}, fmt.Errorf("%w: header implies %d bytes but the file has %d (%d extra)", ErrTrailing, want, size, size-want)
	}
	return c, nil
}

func decode(r io.Reader, size int64) (*Checkpoint, error) {
	c, err := readConfig(r, size)
	if err != nil {
		return nil, err
	}
	ck := &Checkpoint{Config: c}
	read := func(shape []int) (*tensor.Tensor, error) {
		t := tensor.New(shape...)
		if err := readFloats(r, t.Data); err != nil {
			return nil, err
		}
		return t, nil
	}
	for _, fl := range ck.fields() {
		if *fl.t, err = read(fl.shape); err != nil {
			return nil, err
		}
	}
	// The legacy RoPE tables are recomputed by every runtime: skip them.
	if c.Version == 0 {
		if _, err := io.CopyN(io.Discard, r, 4*c.ropeFloats()); err != nil {
			return nil, err
		}
	}
	if !c.SharedClassifier {
		if ck.Wcls, err = read([]int{c.VocabSize, c.Dim}); err != nil {
			return nil, err
		}
	}
	return ck, nil
}

func readFloats(r io.Reader, dst []float32) error {
	buf := make([]byte, 1<<16)
	for len(dst) > 0 {
		n := min(len(dst), len(buf)/4)
		if _, err := io.ReadFull(r, buf[:4*n]); err != nil {
			if err == io.EOF || err == io.ErrUnexpectedEOF {
				return fmt.Errorf("%w: file ended early", ErrTruncated)
			}
			return err
		}
		for i := range n {
			dst[i] = math.Float32frombits(binary.LittleEndian.Uint32(buf[4*i:]))
		}
		dst = dst[n:]
	}
	return nil
}

// Write stores ck atomically in its Config.Version's format. Version 0's
// RoPE tables are written as llama2.c's export.py does (cos and sin of
// pos·10000^(-2j/head)), so run.c and older readers accept the file. Shapes
// must match the Config.
func Write(path string, ck *Checkpoint) error {
	c := ck.Config
	if err := c.Validate(); err != nil {
		return fmt.Errorf("llama2c: %s: %w", path, err)
	}
	all := ck.fields()
	for _, fl := range all {
		if *fl.t == nil || len((*fl.t).Data) != tensor.Numel(fl.shape) {
			return fmt.Errorf("llama2c: %s: %w: a weight is missing or not of shape %v", path, ErrHeader, fl.shape)
		}
	}
	if !c.SharedClassifier && (ck.Wcls == nil || len(ck.Wcls.Data) != c.VocabSize*c.Dim) {
		return fmt.Errorf("llama2c: %s: %w: unshared classifier needs Wcls [%d %d]", path, ErrHeader, c.VocabSize, c.Dim)
	}
	if c.Version != 0 && c.Version != 1 {
		return fmt.Errorf("llama2c: %s: %w: cannot write version %d (want 0 or 1)", path, ErrFormat, c.Version)
	}
	return atomicfile.WriteFile(path, func(w io.Writer) error {
		if err := writeHeader(w, c); err != nil {
			return err
		}
		for _, fl := range all {
			if err := writeFloats(w, (*fl.t).Data); err != nil {
				return err
			}
		}
		if c.Version == 0 {
			if err := writeRoPE(w, c); err != nil {
				return err
			}
		}
		if !c.SharedClassifier {
			return writeFloats(w, ck.Wcls.Data)
		}
		return nil
	})
}

// writeHeader writes version 0's seven int32s (vocab_size negative for an
// unshared classifier), or version 1's padded 256 bytes.
func writeHeader(w io.Writer, c Config) error {
	v := int32(c.VocabSize)
	if c.Version == 0 && !c.SharedClassifier {
		v = -v
	}
	dims := []int32{int32(c.Dim), int32(c.HiddenDim), int32(c.NLayers), int32(c.NHeads), int32(c.NKVHeads), v, int32(c.SeqLen)}
	if c.Version == 0 {
		return binary.Write(w, binary.LittleEndian, dims)
	}
	h := make([]byte, HeaderSizeV1)
	binary.LittleEndian.PutUint32(h, magicV1)
	binary.LittleEndian.PutUint32(h[4:], 1)
	for i, d := range dims {
		binary.LittleEndian.PutUint32(h[8+4*i:], uint32(d))
	}
	if c.SharedClassifier {
		h[36] = 1
	}
	_, err := w.Write(h)
	return err
}

// writeRoPE writes version 0's legacy freq_cis_real and freq_cis_imag.
func writeRoPE(w io.Writer, c Config) error {
	hs := c.HeadDim()
	cos := make([]float32, c.SeqLen*hs/2)
	sin := make([]float32, c.SeqLen*hs/2)
	for p := range c.SeqLen {
		for j := range hs / 2 {
			a := float64(p) * math.Pow(10000, -float64(2*j)/float64(hs))
			cos[p*hs/2+j], sin[p*hs/2+j] = float32(math.Cos(a)), float32(math.Sin(a))
		}
	}
	if err := writeFloats(w, cos); err != nil {
		return err
	}
	return writeFloats(w, sin)
}

func writeFloats(w io.Writer, src []float32) error {
	buf := make([]byte, 4*min(len(src), 1<<14))
	for len(src) > 0 {
		n := min(len(src), len(buf)/4)
		for i := range n {
			binary.LittleEndian.PutUint32(buf[4*i:], math.Float32bits(src[i]))
		}
		if _, err := w.Write(buf[:4*n]); err != nil {
			return err
		}
		src = src[n:]
	}
	return nil
}
