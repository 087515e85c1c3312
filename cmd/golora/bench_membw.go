package main

import (
	"fmt"
	"sync"
	"time"

	"github.com/golora/golora/kernels"
	"github.com/spf13/cobra"
)

// `golora bench membw` measures the memory read bandwidth that bounds
// KV-cache decoding: decode streams every weight once per token, so its
// weight-bytes/s as a share of this figure says how close to the machine's
// limit it runs, independently of the machine.
func init() {
	var mib, reps, threads int
	cmd := &cobra.Command{
		Use:   "membw",
		Short: "Measure memory read bandwidth; prints one JSON line",
		Long: `Sums a buffer far larger than the caches with the vector kernel, split
over --threads goroutines, and reports the best of --reps passes in GB/s
(10^9 bytes per second), the figure decode's weight streaming is compared with.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if threads > 0 {
				kernels.SetThreads(threads)
			}
			if mib < 1 || reps < 1 {
				return fmt.Errorf("bench membw: need --mib >= 1 and --reps >= 1")
			}
			gbs := readBandwidth(mib<<20/4, reps, kernels.Threads())
			return printJSONLine(cmd, map[string]any{"bench": "membw", "mib": mib, "reps": reps,
				"threads": kernels.Threads(), "read_gb_per_s": gbs})
		},
	}
	f := cmd.Flags()
	f.IntVar(&mib, "mib", 512, "buffer size in MiB (well above the last-level cache)")
	f.IntVar(&reps, "reps", 5, "timed passes; the fastest is reported")
	f.IntVar(&threads, "threads", 0, "reader goroutines (0: GOLORA_THREADS or GOMAXPROCS)")
	benchCmd.AddCommand(cmd)
}

// readBandwidth returns the best read rate in GB/s over reps passes of n
// floats, each pass split into contiguous ranges over threads.
func readBandwidth(n, reps, threads int) float64 {
	buf := make([]float32, n)
	for i := range buf {
		buf[i] = float32(i & 7) // touch every page so reads hit RAM, not the zero page
	}
	best := 0.0
	for r := 0; r <= reps; r++ {
		t0 := time.Now()
		var wg sync.WaitGroup
		for t := 0; t < threads; t++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				kernels.Sum(buf[t*n/threads : (t+1)*n/threads]) // an assembly call: not elided
			}()
		}
		wg.Wait()
		if r == 0 {
			continue // the first pass warms page tables
		}
		best = max(best, float64(4*n)/time.Since(t0).Seconds()/1e9)
	}
	return best
}
