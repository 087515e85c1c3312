//go:build !unix

package tokenizer

import "errors"

func mkfifo(string) error { return errors.New("mkfifo is Unix only") }
