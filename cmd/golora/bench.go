package main

import (
	"cmp"
	"encoding/json"
	"fmt"
	"slices"

	"github.com/spf13/cobra"
)

// benchCmd groups the timing subcommands (bench gemm, bench generate, bench
// train, ...); each prints one JSON line so scripts can compute ratios.
var benchCmd = &cobra.Command{
	Use:   "bench",
	Short: "Time golora's kernels, inference and training; prints JSON lines",
}

func init() { rootCmd.AddCommand(benchCmd) }

// printJSONLine writes v as one line of JSON to the command's stdout.
func printJSONLine(cmd *cobra.Command, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	_, err = fmt.Fprintln(cmd.OutOrStdout(), string(b))
	return err
}

// median is the middle value of x (the upper middle for an even count);
// x is left as it was.
func median[T cmp.Ordered](x []T) T {
	y := slices.Clone(x)
	slices.Sort(y)
	return y[len(y)/2]
}
