package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"strconv"

	"github.com/golora/golora/tokenizer"
	"github.com/spf13/cobra"
)

func init() {
	var (
		path                    string
		decode, addBOS, special bool
	)
	cmd := &cobra.Command{
		Use:   "tokenize --tokenizer PATH [--decode]",
		Short: "Encode stdin lines to JSON id arrays, or decode id arrays to text",
		Long: `tokenize reads lines from stdin. Without --decode it prints, for each line,
one JSON array of token ids (the newline is not encoded). With --decode each
input line is a JSON array of ids and the decoded text is printed on a line.

PATH is a folder with tokenizer.json (and tokenizer_config.json), a
tokenizer.json file, or a llama2.c tok.bin file.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			tok, err := tokenizer.LoadFull(path)
			if err != nil {
				return err
			}
			if decode {
				return runDecode(tok, cmd.InOrStdin(), cmd.OutOrStdout())
			}
			return runEncode(tok, cmd.InOrStdin(), cmd.OutOrStdout(), addBOS, special)
		},
	}
	f := cmd.Flags()
	f.StringVar(&path, "tokenizer", "", "tokenizer folder, tokenizer.json or tok.bin (required)")
	f.BoolVar(&decode, "decode", false, "read JSON id arrays and print text")
	f.BoolVar(&addBOS, "add-bos", false, "prepend the BOS id to each line's ids")
	f.BoolVar(&special, "special", false, "recognise special-token strings such as <|im_start|> in the text")
	_ = cmd.MarkFlagRequired("tokenizer")
	rootCmd.AddCommand(cmd)
}

// newLineScanner reads lines of up to 256 MiB.
func newLineScanner(r io.Reader) *bufio.Scanner {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 1<<20), 256<<20)
	return sc
}

// flushed flushes w after fn, also when fn fails, so that the lines before a
// bad one still reach the output (a pipeline sees how far it got).
func flushed(out io.Writer, fn func(w *bufio.Writer) error) error {
	w := bufio.NewWriter(out)
	err := fn(w)
	if ferr := w.Flush(); err == nil {
		err = ferr
	}
	return err
}

func runEncode(tok tokenizer.Full, in io.Reader, out io.Writer, addBOS, special bool) error {
	if addBOS && tok.BOS() < 0 {
		return fmt.Errorf("tokenize: --add-bos: the tokenizer has no BOS token")
	}
	return flushed(out, func(w *bufio.Writer) error { return encodeLines(tok, in, w, addBOS, special) })
}

func encodeLines(tok tokenizer.Full, in io.Reader, w *bufio.Writer, addBOS, special bool) error {
	sc := newLineScanner(in)
	var buf []byte
	for sc.Scan() {
		line := sc.Text()
		var ids []int
		if special {
			ids = tok.EncodeWithSpecial(line)
		} else {
			ids = tok.Encode(line)
		}
		if addBOS {
			ids = append([]int{tok.BOS()}, ids...)
		}
		buf = append(buf[:0], '[')
		for i, id := range ids {
			if i > 0 {
				buf = append(buf, ',')
			}
			buf = strconv.AppendInt(buf, int64(id), 10)
		}
		buf = append(buf, ']', '\n')
		if _, err := w.Write(buf); err != nil {
			return err
		}
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("tokenize: reading stdin: %w", err)
	}
	return nil
}

func runDecode(tok tokenizer.Full, in io.Reader, out io.Writer) error {
	return flushed(out, func(w *bufio.Writer) error { return decodeLines(tok, in, w) })
}

func decodeLines(tok tokenizer.Full, in io.Reader, w *bufio.Writer) error {
	sc := newLineScanner(in)
	for n := 1; sc.Scan(); n++ {
		var ids []int
		if err := json.Unmarshal(sc.Bytes(), &ids); err != nil {
			return fmt.Errorf("tokenize: stdin line %d: want a JSON array of ids: %w", n, err)
		}
		for _, id := range ids {
			if id < 0 || id >= tok.VocabSize() {
				return fmt.Errorf("tokenize: stdin line %d: id %d out of range [0, %d)", n, id, tok.VocabSize())
			}
		}
		if _, err := fmt.Fprintln(w, tok.Decode(ids)); err != nil {
			return err
		}
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("tokenize: reading stdin: %w", err)
	}
	return nil
}
