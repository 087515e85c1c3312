// Package data turns JSONL training files into token sequences with loss
// masks, and those into fixed-shape batches for the trainer.
//
// # Records
//
// Every line of a JSONL file is one JSON object; its shape is detected per line,
// so one file may mix shapes:
//
//	{"text": "Once upon a time..."}                             loss on every token (+EOS)
//	{"prompt": "Q: 2+2?\nA:", "completion": " 4"}               loss on the completion (+EOS)
//	{"messages": [{"role": "user", "content": "Hi"},
//	              {"role": "assistant", "content": "Hello!"}]}  loss on the assistant turns
//	{"prompt": [messages], "completion": [messages]}            loss on the completion's turns
//	{"input_ids": [1, 5, 9], "labels": [-100, 5, 9]}            pre-tokenized; labels optional
//
// Text and prompt/completion records get the tokenizer's BOS and EOS; chat
// records (messages, and TRL's conversational prompt/completion) are what the
// chat template renders, the loss covering each assistant turn's content and
// end-of-turn marker but not its header. Blank lines are ignored. Other keys (ids, metadata) are ignored, but an
// object that carries the keys of two shapes, or of none, is an error: guessing
// would silently train on the wrong tokens. Options.TrainOnAll puts the loss on
// every token of every record.
//
// # Label alignment
//
// Example.Labels is aligned with Example.Tokens, as in Hugging Face
// (labels = input_ids): Labels[t] is Tokens[t] when the model is trained to
// produce token t, and IgnoreIndex when it is not. The model's prediction at
// position t is scored against Labels[t+1]; the shift happens when batches
// are built (Batch.Targets is already shifted) or one example is scored
// (Example.Targets), never in the records.
//
// # Batches
//
// An Iterator cuts the examples into Batch values of B rows by T positions,
// one example per row or several packed into a row, over shuffled epochs that
// are a pure function of (seed, epoch), so that IterState (epoch, batch) is all
// a checkpoint needs to resume exactly.
package data

import (
	"fmt"
	"strings"

	"github.com/golora/golora/nn"
	"github.com/golora/golora/tokenizer"
)

// IgnoreIndex marks a label or target that carries no loss (nn.IgnoreIndex).
const IgnoreIndex = nn.IgnoreIndex

// Example is one tokenized record. Labels has the same length as Tokens and is
// aligned with it (see the package doc): Labels[t] = IgnoreIndex where no loss.
type Example struct {
	Tokens []int
	Labels []int
}

// LossTokens counts the labels that carry loss, leaving out Labels[0]: no
// position precedes the first token, so nothing is trained to predict it.
func (e Example) LossTokens() int {
	n := 0
	for _, l := range e.Labels[min(1, len(e.Labels)):] {
		if l != IgnoreIndex {
			n++
		}
	}
	return n
}

// Targets are e's next-token targets for one row of len(Tokens) positions:
// position t is scored against Labels[t+1], and the last position against
// nothing (IgnoreIndex). Batch.Targets applies the same shift to packed rows.
func (e Example) Targets() []int {
	tg := make([]int, len(e.Tokens))
	for t := range tg {
		tg[t] = IgnoreIndex
		if t+1 < len(e.Labels) {
			tg[t] = e.Labels[t+1]
		}
	}
	return tg
}

// Encoder is the part of tokenizer.Tokenizer that data needs. Encode adds no
// special tokens and reads special-token strings as plain text; BOS and EOS
// return -1 when the vocabulary has none. Optional methods, used when present
// (tokenizer.Tokenizer has them all):
//
//	EncodeWithSpecial(string) []int  encodes rendered chat templates, whose
//	                                 "<|im_start|>" etc. must become their ids
//	AddBOS() bool                    false: the model takes no BOS (GPT-2, Qwen)
//	VocabSize() int                  range-checks pre-tokenized ids
type Encoder interface {
	Encode(text string) []int
	BOS() int
	EOS() int
}

// Message is one turn of a chat record: tokenizer.Message, so that a
// *tokenizer.ChatTemplate is a ChatRenderer as it is.
type Message = tokenizer.Message

// ChatRenderer renders a conversation to text with a model's chat template.
// With addGenerationPrompt the text ends with the header that opens an
// assistant turn (ChatML: "<|im_start|>assistant\n").
//
// Assistant spans are found by rendering prefixes of the conversation, so the
// rendering of messages[:i] must be a prefix of the rendering of messages[:j]
// for i < j (true of ChatML, Llama 3, Mistral and most templates; templates that
// rewrite earlier turns, such as stripping reasoning, are rejected per line).
type ChatRenderer interface {
	Render(msgs []Message, addGenerationPrompt bool) (string, error)
}

// ChatRendererFunc adapts a function, e.g. a method of the tokenizer
// package's template type, to ChatRenderer.
type ChatRendererFunc func(msgs []Message, addGenerationPrompt bool) (string, error)

// Render calls f.
func (f ChatRendererFunc) Render(msgs []Message, addGenerationPrompt bool) (string, error) {
	return f(msgs, addGenerationPrompt)
}

// TemplateOf returns tok's chat template when tok is a tokenizer.Full (the
// one in its tokenizer_config.json, or ChatML when it has none), and nil
// when tok is some other Encoder.
func TemplateOf(tok Encoder) (ChatRenderer, error) {
	f, ok := tok.(tokenizer.Full)
	if !ok {
		return nil, nil
	}
	ct, err := tokenizer.NewChatTemplate(f)
	if err != nil {
		return nil, err
	}
	return ct, nil
}

// ChatML is the ChatML template (Qwen, many fine-tunes): each turn is
// "<|im_start|>{role}\n{content}<|im_end|>\n". It is here for tests and for
// models whose tokenizer ships no template but was trained on ChatML; do not
// use it for a model trained on another template.
type ChatML struct{}

// Render implements ChatRenderer.
func (ChatML) Render(msgs []Message, addGenerationPrompt bool) (string, error) {
	var b strings.Builder
	for _, m := range msgs {
		b.WriteString("<|im_start|>")
		b.WriteString(m.Role)
		b.WriteString("\n")
		b.WriteString(m.Content)
		b.WriteString("<|im_end|>\n")
	}
	if addGenerationPrompt {
		b.WriteString("<|im_start|>assistant\n")
	}
	return b.String(), nil
}

// Options controls how records become examples. The zero value is the usual
// setting: BOS and EOS added, loss on completions and assistant turns only,
// no truncation, a malformed line is an error.
type Options struct {
	// TrainOnAll puts the loss on every token, prompts and user turns
	// included; for input_ids records it replaces given labels by the ids.
	TrainOnAll bool
	// SkipBad skips malformed lines (counted in Stats.Skipped) instead of
	// failing on the first one.
	SkipBad bool
	// NoBOS and NoEOS stop the tokenizer's BOS/EOS being added around text and
	// prompt/completion records (BOS is added only if the Encoder has one and,
	// when it says, AddBOS()). Chat records are exactly what the template
	// renders and input_ids records exactly what the file holds.
	NoBOS, NoEOS bool
	// MaxSeqLen truncates longer examples to their first MaxSeqLen tokens
	// (counted in Stats); 0 means no limit. An example left without any
	// loss-carrying token is dropped (Stats.NoLoss).
	MaxSeqLen int
	// VocabSize, when > 0, is the model's vocabulary: pre-tokenized ids
	// and labels must lie below it (and below the Encoder's own VocabSize),
	// so a model run without a tokenizer cannot be fed an id it lacks.
	VocabSize int
	// Workers is how many goroutines tokenize (0: GOMAXPROCS). Above 1 the
	// Encoder and Template must be safe for concurrent use.
	Workers int
	// Template renders chat records. When nil, the Encoder's own template
	// is used if it is a tokenizer.Full (its tokenizer_config.json template,
	// or ChatML when it has none); a chat record with neither is an error.
	Template ChatRenderer
}

// Kind is the detected shape of a record.
type Kind int

// Record shapes, in the order Stats.Kinds counts them.
const (
	KindText Kind = iota
	KindPromptCompletion
	KindChat
	KindTokens
	numKinds
)

var kindNames = [numKinds]string{"text", "prompt/completion", "chat", "input_ids"}

func (k Kind) String() string {
	if k >= 0 && k < numKinds {
		return kindNames[k]
	}
	return fmt.Sprintf("Kind(%d)", int(k))
}

// maxSkipErrors bounds Stats.SkipErrors so a file of bad lines cannot grow it.
const maxSkipErrors = 10

// Stats reports what loading did.
type Stats struct {
	Lines      int           // non-blank lines read
	Examples   int           // examples kept
	Kinds      [numKinds]int // examples kept, by Kind
	Tokens     int           // tokens in kept examples
	LossTokens int           // of which carry loss
	Skipped    int           // malformed lines skipped (Options.SkipBad)
	SkipErrors []*LineError  // the first few skipped lines' errors
	Truncated  int           // examples cut to Options.MaxSeqLen
	Dropped    int           // tokens cut off by truncation
	NoLoss     int           // examples dropped: no token carried loss after truncation
	// Straddled counts prompt/completion and chat records in which the
	// tokenizer merged across the edge of a loss span (a token holds the end
	// of the prompt and the start of the completion); such a token carries
	// loss. A handful is normal for BPE; many suggest a template whose turn
	// boundaries fall mid-word.
	Straddled int
}

// String is a one-line summary for logs.
func (s Stats) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%d examples from %d lines (", s.Examples, s.Lines)
	first := true
	for k, n := range s.Kinds {
		if n == 0 {
			continue
		}
		if !first {
			b.WriteString(", ")
		}
		first = false
		fmt.Fprintf(&b, "%s %d", Kind(k), n)
	}
	fmt.Fprintf(&b, "), %d tokens, %d with loss", s.Tokens, s.LossTokens)
	if s.Skipped > 0 {
		fmt.Fprintf(&b, ", %d bad lines skipped", s.Skipped)
	}
	if s.Truncated > 0 {
		fmt.Fprintf(&b, ", %d truncated (%d tokens dropped)", s.Truncated, s.Dropped)
	}
	if s.NoLoss > 0 {
		fmt.Fprintf(&b, ", %d dropped with no loss tokens", s.NoLoss)
	}
	if s.Straddled > 0 {
		fmt.Fprintf(&b, ", %d with a token across a loss-span edge", s.Straddled)
	}
	return b.String()
}

// Dataset is the examples of one source, in file order.
type Dataset struct {
	Name     string // file name or label, for messages
	Examples []Example
	// Lines[i] is the line of Examples[i] in the file, for messages; nil
	// when unknown (a dataset merged from several files).
	Lines []int
}

// Where names example i for a message: "line 12" of the file, or
// "example #13" (1-based) when the lines are unknown.
func (d *Dataset) Where(i int) string {
	if i < len(d.Lines) {
		return fmt.Sprintf("line %d", d.Lines[i])
	}
	return fmt.Sprintf("example #%d", i+1)
}

// Len returns the number of examples.
func (d *Dataset) Len() int { return len(d.Examples) }

// LineError is a malformed record: the file, the 1-based line and why.
type LineError struct {
	File   string
	Line   int
	Reason string
}

func (e *LineError) Error() string {
	return fmt.Sprintf("data: %s:%d: %s", e.File, e.Line, e.Reason)
}

// add accumulates o into s (several files into one report).
func (s *Stats) add(o Stats) {
	s.Lines += o.Lines
	s.Examples += o.Examples
	for k := range s.Kinds {
		s.Kinds[k] += o.Kinds[k]
	}
	s.Tokens += o.Tokens
	s.LossTokens += o.LossTokens
	s.Skipped += o.Skipped
	for _, e := range o.SkipErrors {
		if len(s.SkipErrors) < maxSkipErrors {
			s.SkipErrors = append(s.SkipErrors, e)
		}
	}
	s.Truncated += o.Truncated
	s.Dropped += o.Dropped
	s.NoLoss += o.NoLoss
	s.Straddled += o.Straddled
}
