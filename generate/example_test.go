package generate_test

import (
	"fmt"
	"log"
	"strings"

	"github.com/golora/golora/generate"
	"github.com/golora/golora/model"
	"github.com/golora/golora/tokenizer"
)

// Greedy generation from a text prompt, streaming the text as it is
// decoded and stopping at the model's EOS ids.
func ExampleRun() {
	m, err := model.Load("")
	if err != nil {
		log.Fatal(err)
	}
	tok, err := tokenizer.ForModel("")
	if err != nil {
		log.Fatal(err)
	}
	prompt := generate.TextPrompt(tok, "Once upon a time")
	eos := generate.EOSIDs(m, "", tok)
	text := generate.NewText(tok, prompt, eos, nil)
	var out strings.Builder
	_, err = generate.Run(m, prompt, generate.Options{MaxNew: 26, EOS: eos}, func(id int) bool {
		s, done := text.Push(id)
		out.WriteString(s) // or print it as it comes
		return !done
	})
	if err != nil {
		log.Fatal(err)
	}
	out.WriteString(text.Flush())
	fmt.Printf("Once upon a time%s\n", out.String())
	// Output:
	// Once upon a time, there was a little girl named Lily. She loved to play outside in the park
}
