package main

import (
	"time"

	"github.com/spf13/cobra"

	"github.com/golora/golora/kernels"
)

// `golora bench peak` measures the FMA peak that prefill and training
// FLOP/s are quoted against, so those shares describe the code rather than
// the machine.
func init() {
	var threads int
	var dur time.Duration
	cmd := &cobra.Command{
		Use:   "peak",
		Short: "Measure the float32 FMA peak in GFLOP/s; prints one JSON line",
		Long: `Runs the widest fused multiply-add loop the CPU has (AVX-512, AVX2 or
pure Go) on --threads goroutines for --duration, with no memory traffic, and
reports the total GFLOP/s: the ceiling a GEMM or a prefill is a share of.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if threads > 0 {
				kernels.SetThreads(threads)
			}
			g, isa := kernels.FMAPeak(kernels.Threads(), dur)
			return printJSONLine(cmd, map[string]any{"bench": "peak", "isa": isa, "threads": kernels.Threads(), "gflops": g})
		},
	}
	f := cmd.Flags()
	f.IntVar(&threads, "threads", 0, "goroutines (0: GOLORA_THREADS or GOMAXPROCS)")
	f.DurationVar(&dur, "duration", time.Second, "how long to run")
	benchCmd.AddCommand(cmd)
}
