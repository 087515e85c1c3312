package main

import "github.com/spf13/cobra"

// benchCmd groups the timing subcommands (bench gemm, bench generate, bench
// train); each prints one JSON line so scripts can compute ratios.
var benchCmd = &cobra.Command{
	Use:   "bench",
	Short: "Time golora's kernels, inference and training; prints JSON lines",
}

func init() { rootCmd.AddCommand(benchCmd) }
