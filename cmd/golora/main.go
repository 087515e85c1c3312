// Command golora fine-tunes and runs transformer language models with LoRA.
package main

import (
	"fmt"
	"os"

	"github.com/spf13/cobra"
)

var rootCmd = &cobra.Command{
	Use:           "golora",
	Short:         "LoRA fine-tuning and inference for transformer language models, in pure Go",
	SilenceUsage:  true,
	SilenceErrors: true,
}

func main() {
	if err := rootCmd.Execute(); err != nil {
		fmt.Fprintln(os.Stderr, "golora:", err)
		os.Exit(1)
	}
}
