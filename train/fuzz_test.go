package train

import (
	"path/filepath"
	"testing"
)

// FuzzCheckpointState: whatever state.json and SHA256SUMS hold, loading a
// checkpoint either fails or yields a state whose values a run could have
// written, and the manifest never names a file outside the checkpoint.
func FuzzCheckpointState(f *testing.F) {
	f.Add([]byte(`{"version":2,"step":5,"total_steps":10,"tokens":100,"elapsed_s":1.5,"config":{"method":"lora","r":8,"lr":0.001,"batch":4,"seq-len":16,"steps":10,"grad-accum":1,"schedule":"cosine","keep-checkpoints":2,"out":"o","adam-beta1":0.9,"adam-beta2":0.999,"adam-eps":1e-8,"loraplus-ratio":1,"divergence-threshold":3,"divergence-steps":10},"files":{"trainer_state.safetensors":"00"}}`),
		[]byte("0000000000000000000000000000000000000000000000000000000000000000  state.json\n"))
	f.Add([]byte(`{"version":1,"step":-5,"total_steps":10}`), []byte("x  ../y\n"))
	f.Add([]byte(`null`), []byte(""))
	f.Fuzz(func(t *testing.T, state, manifest []byte) {
		if sums, err := parseManifest(manifest); err == nil {
			for name := range sums {
				if !filepath.IsLocal(name) {
					t.Fatalf("manifest name %q leaves the checkpoint", name)
				}
			}
		}
		st, err := decodeState(state, "step-000005")
		if err != nil {
			return
		}
		if st.Step < 0 || st.Step > st.TotalSteps || st.Step != 5 || st.Tokens < 0 || len(st.History.Steps) > st.Step {
			t.Fatalf("accepted state step %d of %d, tokens %d", st.Step, st.TotalSteps, st.Tokens)
		}
		if err := st.Config.Validate(); err != nil {
			t.Fatalf("accepted an invalid config: %v", err)
		}
	})
}
