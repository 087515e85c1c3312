package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"unicode/utf8"

	"github.com/spf13/cobra"

	"github.com/golora/golora/experiment"
)

func init() {
	var opt experiment.Options
	var task, base string
	var list bool
	var so experiment.SlurmOptions
	var slurm bool
	runIndex := -1
	cmd := &cobra.Command{
		Use:   "experiment NAME",
		Short: "Run a LoRA research sweep (init, scale, loraplus, targets, methods or a YAML file) and write tables and plots",
		Long: `Run every point of a sweep (a built-in one or a YAML file of your own) once
per seed with the train engine, then write results.csv, results.md (mean ± std
over seeds) and PNG plots into --out. Each run keeps its config, metrics,
checkpoints and adapter in --out/runs/<run-id>/; a run with a result.json is
done and skipped, an interrupted one resumes from its checkpoint, so the same
command continues a sweep. Built-in sweeps: ` + strings.Join(experiment.Builtin(), ", ") + `.

With --slurm the runs go to a Slurm cluster instead, as a job array of one
task per run (--out/slurm/sweep.sbatch), followed by a job that runs
"golora experiment collect --out"; golora and --out must be on a filesystem
every node sees (docs/SLURM.md).`,
		Example: `  golora experiment init --quick
  golora experiment init --seeds 3 --out results/init
  golora experiment methods --quick --task quiz-qa
  golora experiment my-sweep.yaml
  golora experiment init --slurm --slurm-opts "--partition=cpu --time=1:00:00 --cpus-per-task=4" --max-parallel 16 --out /shared/init
  golora experiment collect /shared/init --resubmit-failed`,
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
					fmt.Fprintf(out, "%s (task %s, base %s)\n%s", n, s.Task, s.Base, wrapText(s.Description, "    ", listWidth))
				}
				fmt.Fprintln(out)
				for _, t := range experiment.Tasks {
					fmt.Fprintf(out, "task %s\n%s", t.Name, wrapText(t.About, "    ", listWidth))
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
			if !slurm && (so.DryRun || so.MaxParallel != 0 || so.Opts != "") {
				return fmt.Errorf("--dry-run, --max-parallel and --slurm-opts need --slurm")
			}
			if slurm && runIndex >= 0 {
				return fmt.Errorf("--run-index runs one run here; it cannot go with --slurm")
			}
			if !slurm { // a sweep here: Ctrl-C stops it resumably
				return withInterrupt("rerun the same command to continue: finished runs are kept, the interrupted one resumes from its checkpoint", func(ctx context.Context) error {
					if runIndex >= 0 {
						_, err := experiment.ExecuteRun(ctx, s, opt, runIndex)
						return err
					}
					res, err := experiment.Execute(ctx, s, opt)
					if err != nil {
						return err
					}
					fmt.Fprintf(out, "%d runs; results: %s, %s\n", len(res), filepath.Join(opt.Out, "results.csv"), filepath.Join(opt.Out, "results.md"))
					return nil
				})
			}
			ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			sub, err := experiment.SubmitSlurm(ctx, s, opt, so)
			if err != nil {
				return err
			}
			script := filepath.Join(opt.Out, "slurm", "sweep.sbatch")
			switch {
			case so.DryRun:
				fmt.Fprintf(out, "wrote %s and collect.sbatch next to it (not submitted)\n", script)
			case len(sub.Indices) == 0:
				fmt.Fprintf(out, "every run is done; nothing submitted (golora experiment collect %s writes the report)\n", opt.Out)
			default:
				fmt.Fprintf(out, "Submitted batch job %s (%s: %d runs)\ncollect: job %s, after %s ends\n", sub.ArrayJob, script, len(sub.Indices), sub.CollectJob, sub.ArrayJob)
			}
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
	f.BoolVar(&slurm, "slurm", false, "submit the sweep to Slurm as a job array (one task per run) plus a collect job; see docs/SLURM.md")
	f.StringVar(&so.Opts, "slurm-opts", "", `extra sbatch options for the array and collect jobs, e.g. "--partition=cpu --time=1:00:00"`)
	f.IntVar(&so.MaxParallel, "max-parallel", 0, "with --slurm: at most N runs at a time (the array's %N; 0 = no limit)")
	f.BoolVar(&so.DryRun, "dry-run", false, "with --slurm: write --out/slurm/sweep.sbatch without submitting it")
	f.IntVar(&runIndex, "run-index", -1, "run only this run of the sweep (0-based, as Slurm array tasks do) and write no report")
	var resubmit bool
	collect := &cobra.Command{
		Use:   "collect DIR",
		Short: "Write results.csv, results.md and plots from a sweep's finished runs; list the missing ones",
		Long: `Gather the finished runs of the sweep in DIR (one run with --slurm or locally)
into results.csv, results.md and the plots, and list the runs that failed or
are missing with their Slurm state. Exits with status 1 while runs are
missing; --resubmit-failed submits those that Slurm is not still running.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			_, err := experiment.Collect(cmd.Context(), args[0], resubmit, cmd.OutOrStdout())
			return err
		},
	}
	collect.Flags().BoolVar(&resubmit, "resubmit-failed", false, "submit the failed and missing runs again (a new job array and collect job)")
	cmd.AddCommand(collect)
	rootCmd.AddCommand(cmd)
}

// listWidth is the width experiment --list wraps to: an 80-column
// terminal, whole descriptions and no line the terminal has to break.
const listWidth = 80

// wrapText refills s (its line breaks are a YAML file's, not meant for the
// terminal) into lines of at most width columns, each starting with indent;
// a word longer than a line gets a line of its own.
func wrapText(s, indent string, width int) string {
	var b strings.Builder
	n := 0 // columns on the current line
	for _, w := range strings.Fields(s) {
		l := utf8.RuneCountInString(w)
		if n > 0 && n+1+l > width {
			b.WriteByte('\n')
			n = 0
		}
		if n == 0 {
			b.WriteString(indent)
			n = len(indent)
		} else {
			b.WriteByte(' ')
			n++
		}
		b.WriteString(w)
		n += l
	}
	if n > 0 {
		b.WriteByte('\n')
	}
	return b.String()
}
