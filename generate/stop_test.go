package generate

import "testing"

func TestStopper(t *testing.T) {
	tests := []struct {
		name    string
		stops   []string
		chunks  []string
		want    string
		stopped bool
	}{
		{"no stops", nil, []string{"ab", "cd"}, "abcd", false},
		{"stop inside chunk", []string{"END"}, []string{"helloEND tail"}, "hello", true},
		{"stop across chunks", []string{"END"}, []string{"hi E", "N", "D!"}, "hi ", true},
		{"false start released", []string{"END"}, []string{"hi E", "X"}, "hi EX", false},
		{"earliest of several", []string{"b", "xyz"}, []string{"axyzb"}, "a", true},
		{"held tail flushed", []string{"\n\n"}, []string{"line\n"}, "line\n", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := NewStopper(tc.stops)
			var got string
			stopped := false
			for _, c := range tc.chunks {
				e, st := s.Push(c)
				got += e
				if st {
					stopped = true
					break
				}
			}
			if !stopped {
				got += s.Flush()
			}
			if got != tc.want || stopped != tc.stopped {
				t.Fatalf("got %q stopped=%v, want %q stopped=%v", got, stopped, tc.want, tc.stopped)
			}
		})
	}
}
