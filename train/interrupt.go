package train

import "fmt"

// Interrupted is the error Run returns when its context is cancelled (the
// command line's Ctrl-C): the run stopped between two steps and saved its
// state, so Config.Resume continues it exactly. errors.Is(err,
// context.Canceled) holds for it.
type Interrupted struct {
	Step       int    // optimizer steps done
	Checkpoint string // the checkpoint folder the run stopped with ("": checkpoints off)
	Err        error  // the context's error
}

func (e *Interrupted) Error() string {
	if e.Checkpoint == "" {
		return fmt.Sprintf("train: interrupted at step %d (checkpoints are off)", e.Step)
	}
	return fmt.Sprintf("train: interrupted at step %d; checkpoint saved at %s", e.Step, e.Checkpoint)
}

// Unwrap returns the context's error.
func (e *Interrupted) Unwrap() error { return e.Err }
