package serve

import (
	"os"
	"testing"

	"github.com/golora/golora/kernels"
)

// The test models are tiny: splitting their products over threads costs
// more than it saves, and kernels' spinning workers take the CPU the HTTP
// goroutines need (the load test ran 10x slower on a busy 2-core machine).
// Row-exactness does not depend on threads (model.TestRowExactStep runs
// with all of them).
func TestMain(m *testing.M) {
	if os.Getenv("GOLORA_THREADS") == "" {
		kernels.SetThreads(1)
	}
	os.Exit(m.Run())
}
