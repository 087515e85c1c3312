package generate

import "strings"

// Stopper watches streamed text for stop strings. It holds back any tail
// that could still grow into a stop string, so a caller that prints only
// what Push returns never shows part of a stop sequence.
type Stopper struct {
	stops   []string
	pending string
	done    bool
}

// NewStopper returns a Stopper for the given stop strings (empty ones are ignored).
func NewStopper(stops []string) *Stopper {
	s := &Stopper{}
	for _, x := range stops {
		if x != "" {
			s.stops = append(s.stops, x)
		}
	}
	return s
}

// Push adds newly decoded text and returns the part that is safe to emit,
// and whether a stop string was found (the text before it is emitted, the
// stop string and everything after it are dropped).
func (s *Stopper) Push(text string) (emit string, stopped bool) {
	if s.done {
		return "", true
	}
	buf := s.pending + text
	cut := -1
	for _, st := range s.stops {
		if i := strings.Index(buf, st); i >= 0 && (cut < 0 || i < cut) {
			cut = i
		}
	}
	if cut >= 0 {
		s.done, s.pending = true, ""
		return buf[:cut], true
	}
	// Hold back the longest suffix that is a proper prefix of a stop string.
	hold := 0
	for _, st := range s.stops {
		for k := min(len(st)-1, len(buf)); k > hold; k-- {
			if strings.HasSuffix(buf, st[:k]) {
				hold = k
				break
			}
		}
	}
	s.pending = buf[len(buf)-hold:]
	return buf[:len(buf)-hold], false
}

// Flush returns any held-back text once generation ends without a stop.
func (s *Stopper) Flush() string {
	p := s.pending
	s.pending = ""
	if s.done {
		return ""
	}
	return p
}
