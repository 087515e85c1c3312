package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/golora/golora/experiment"
)

func init() {
	var opt experiment.Options
	var task, base string
	var list bool
	cmd := &cobra.Command{
		Use:   "experiment NAME",
		Short: "Run a LoRA research sweep (init, scale, loraplus, targets, methods or a YAML file) and write tables and plots",
		Long: `Run every point of a sweep (a built-in one or a YAML file of your own) once
per seed with the train engine, then write results.csv, results.md (mean ± std
over seeds) and PNG plots into --out. Each run keeps its config, metrics,
checkpoints and adapter in --out/runs/<run-id>/; a run with a result.json is
done and skipped, an interrupted one resumes from its checkpoint, so the same
command continues a sweep. Built-in sweeps: ` + strings.Join(experiment.Builtin(), ", ") + `.`,
		Example: `  golora experiment init --quick
  golora experiment init --seeds 3 --out results/init
  golora experiment methods --quick --task quiz-qa
  golora experiment my-sweep.yaml`,
		Args: func(cmd *cobra.Command, args []string) error {
			if list {
				return cobra.NoArgs(cmd, args)
			}
			return cobra.ExactArgs(1)(cmd, args)
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			out := cmd.OutOrStdout()
			if list {
				for _, n := range experiment.Builtin() {
					s, err := experiment.Load(n)
					if err != nil {
						return err
					}
					fmt.Fprintf(out, "%-10s task %-10s base %-8s %s\n", n, s.Task, s.Base, firstLine(s.Description))
				}
				for _, t := range experiment.Tasks {
					fmt.Fprintf(out, "task %-10s %s\n", t.Name, t.About)
				}
				return nil
			}
			s, err := experiment.Load(args[0])
			if err != nil {
				return err
			}
			if task != "" {
				s.Task, s.Metric, s.Labels = task, "", nil
			}
			if base != "" {
				s.Base = base
			}
			if opt.Out == "" {
				name := s.Name
				if opt.Quick {
					name += "-quick"
				}
				opt.Out = filepath.Join("golora-experiments", name)
			}
			opt.Log = out
			ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			res, err := experiment.Execute(ctx, s, opt)
			if err != nil {
				return err
			}
			fmt.Fprintf(out, "%d runs; results: %s, %s\n", len(res), filepath.Join(opt.Out, "results.csv"), filepath.Join(opt.Out, "results.md"))
			return nil
		},
	}
	f := cmd.Flags()
	f.BoolVar(&opt.Quick, "quick", false, "run the sweep's reduced grid (fewer seeds, steps and levels)")
	f.IntVar(&opt.Seeds, "seeds", 0, "seeds per grid point (0: the sweep's)")
	f.StringVar(&opt.Out, "out", "", "output folder (default golora-experiments/NAME[-quick])")
	f.StringVar(&task, "task", "", "override the sweep's task: a built-in task or a folder with train.jsonl and valid.jsonl")
	f.StringVar(&base, "base", "", "override the sweep's base: embedded, wide, or a model path")
	f.BoolVar(&list, "list", false, "list the built-in sweeps and tasks")
	rootCmd.AddCommand(cmd)
}

func firstLine(s string) string {
	s, _, _ = strings.Cut(strings.TrimSpace(s), "\n")
	return s
}
