package tokenizer_test

import (
	"fmt"
	"log"

	"github.com/golora/golora/tokenizer"
)

// ForModel finds the tokenizer beside a model ("" is the embedded model's);
// resolve a hub id with model.Resolve first.
func ExampleForModel() {
	tok, err := tokenizer.ForModel("")
	if err != nil {
		log.Fatal(err)
	}
	ids := tok.Encode("Once upon a time")
	fmt.Println(ids, tok.VocabSize())
	fmt.Printf("%q\n", tok.Decode(ids))
	// Output:
	// [403 407 261 378] 512
	// "Once upon a time"
}
