package experiment

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"runtime"
	"strings"
	"testing"

	"github.com/golora/golora/kernels"
)

// TestSlurmScripts writes the scripts of a sweep with --dry-run and checks
// what sbatch would get: the array with its throttle, the user's options as
// #SBATCH lines, one `--run-index $SLURM_ARRAY_TASK_ID` task per run, the
// collect job; and that nothing was submitted.
func TestSlurmScripts(t *testing.T) {
	s, err := Load(filepath.Join("testdata", "smoke.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	out := t.TempDir()
	so := SlurmOptions{Opts: `--partition=cpu --time=1:00:00 -A lab '--comment=two words'`, MaxParallel: 3, DryRun: true, Binary: "/opt/golora/bin/golora"}
	sub, err := SubmitSlurm(context.Background(), s, Options{Out: out, Seeds: 1}, so)
	if err != nil {
		t.Fatal(err)
	}
	if sub.ArrayJob != "" || len(sub.Indices) != 0 {
		t.Errorf("dry run submitted %+v", sub)
	}
	sweep, err := os.ReadFile(filepath.Join(out, "slurm", "sweep.sbatch"))
	if err != nil {
		t.Fatal(err)
	}
	cwd, _ := os.Getwd()
	for _, want := range []string{
		"#!/bin/bash\n",
		"#SBATCH --array=0-3%3\n",
		"#SBATCH --output=" + filepath.Join(out, "slurm", "logs", "%A_%a.out") + "\n",
		"#SBATCH --chdir=" + cwd + "\n",
		"#SBATCH --partition=cpu\n#SBATCH --time=1:00:00\n#SBATCH -A lab\n#SBATCH --comment=\"two words\"\n",
		"\nexec /opt/golora/bin/golora experiment " + filepath.Join(out, "sweep.yaml") + ` --run-index "$SLURM_ARRAY_TASK_ID" --out ` + out + "\n",
	} {
		if !strings.Contains(string(sweep), want) {
			t.Errorf("sweep.sbatch lacks %q:\n%s", want, sweep)
		}
	}
	collect, err := os.ReadFile(filepath.Join(out, "slurm", "collect.sbatch"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(collect), "\nexec /opt/golora/bin/golora experiment collect "+out+"\n") || strings.Contains(string(collect), "--array") ||
		!strings.Contains(string(collect), "#SBATCH --partition=cpu\n") {
		t.Errorf("collect.sbatch:\n%s", collect)
	}
	if _, err := os.Stat(filepath.Join(out, "slurm", "jobs.json")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("dry run recorded a submission: %v", err)
	}
	// The tasks read the frozen sweep: --seeds 1 is in it.
	runs, err := frozenRuns(out)
	if err != nil || len(runs) != 4 {
		t.Fatalf("sweep.yaml expands to %d runs (%v), want 4", len(runs), err)
	}
}

func TestSlurmOptsErrors(t *testing.T) {
	s, err := Load(filepath.Join("testdata", "smoke.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		so   SlurmOptions
		want string
	}{
		{SlurmOptions{Opts: "--array=0-9"}, "--array is set by golora"},
		{SlurmOptions{Opts: "-d afterok:1"}, "-d is set by golora"},
		{SlurmOptions{Opts: "partition=cpu"}, "not an sbatch option"},
		{SlurmOptions{Opts: "--comment='open"}, "unterminated"},
		{SlurmOptions{MaxParallel: -1}, "--max-parallel -1"},
	} {
		tc.so.DryRun = true
		_, err := SubmitSlurm(context.Background(), s, Options{Out: t.TempDir()}, tc.so)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v: error %v, want %q", tc.so, err, tc.want)
		}
	}
	_, err = SubmitSlurm(context.Background(), s, Options{Out: filepath.Join(t.TempDir(), "a b")}, SlurmOptions{DryRun: true})
	if err == nil || !strings.Contains(err.Error(), "space") {
		t.Errorf("--out with a space: error %v", err)
	}
}

func TestArraySpec(t *testing.T) {
	for _, tc := range []struct {
		idx  []int
		max  int
		want string
	}{
		{[]int{0, 1, 2, 3}, 0, "0-3"},
		{[]int{0, 1, 2, 5, 7, 8}, 2, "0-2,5,7-8%2"},
		{[]int{4}, 1, "4%1"},
	} {
		got := arraySpec(tc.idx, tc.max)
		if got != tc.want {
			t.Errorf("arraySpec(%v, %d) = %q, want %q", tc.idx, tc.max, got, tc.want)
		}
		back, err := parseArraySpec("[" + got + "]")
		if err != nil || !reflect.DeepEqual(back, tc.idx) {
			t.Errorf("parseArraySpec(%q) = %v, %v", got, back, err)
		}
	}
	if _, err := parseArraySpec("5-3"); err == nil {
		t.Error("range 5-3 accepted")
	}
}

// TestSlurmStateParsers reads the outputs of sacct (with an accounting
// database) and scontrol (without) as Slurm 22.05 prints them.
func TestSlurmStateParsers(t *testing.T) {
	sacct := "12_0|COMPLETED\n12_1|CANCELLED by 0\n12_2|FAILED\n12_[3-5%2]|PENDING\n13|COMPLETED\n14_4|TIMEOUT\n"
	want := map[string]string{"12_0": "COMPLETED", "12_1": "CANCELLED", "12_2": "FAILED", "12_3": "PENDING", "12_4": "PENDING", "12_5": "PENDING", "14_4": "TIMEOUT"}
	if got := parseSacct(sacct); !reflect.DeepEqual(got, want) {
		t.Errorf("parseSacct = %v\nwant %v", got, want)
	}
	scontrol := "JobId=12 ArrayJobId=12 ArrayTaskId=4-5 ArrayTaskThrottle=2 JobName=golora-smoke JobState=PENDING Reason=JobArrayTaskLimit\n" +
		"JobId=15 ArrayJobId=12 ArrayTaskId=1 ArrayTaskThrottle=2 JobName=golora-smoke JobState=CANCELLED Reason=None ExitCode=0:15\n" +
		"JobId=14 ArrayJobId=12 ArrayTaskId=0 JobState=COMPLETED\n"
	want = map[string]string{"12_0": "COMPLETED", "12_1": "CANCELLED", "12_4": "PENDING", "12_5": "PENDING"}
	if got := parseScontrol(scontrol); !reflect.DeepEqual(got, want) {
		t.Errorf("parseScontrol = %v\nwant %v", got, want)
	}
	for state, active := range map[string]bool{"PENDING": true, "RUNNING": true, "CANCELLED by 0": false, "FAILED": false, "COMPLETED": false, "": false} {
		if activeState(state) != active {
			t.Errorf("activeState(%q) = %v", state, !active)
		}
	}
}

// TestRunIndexAndCollect runs a sweep the way array tasks do, one
// ExecuteRun per index with one missing, and checks that collect lists the
// gap, and once it is filled writes the results.csv Execute writes for the
// same sweep.
func TestRunIndexAndCollect(t *testing.T) {
	s, err := Load(filepath.Join("testdata", "smoke.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	opt := Options{Out: t.TempDir(), Seeds: 1}
	frozen := *s
	frozen.Seeds = 1 // what --slurm writes for the tasks and collect
	if err := writeSweep(opt.Out, &frozen); err != nil {
		t.Fatal(err)
	}
	for _, i := range []int{0, 1, 3} {
		if _, err := ExecuteRun(context.Background(), s, opt, i); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := ExecuteRun(context.Background(), s, opt, 4); err == nil || !strings.Contains(err.Error(), "--run-index 4: sweep smoke has 4 runs (0..3)") {
		t.Errorf("index out of range: %v", err)
	}
	var log bytes.Buffer
	c, err := Collect(context.Background(), opt.Out, false, &log)
	if !errors.Is(err, ErrUnfinished) || len(c.Done) != 3 || len(c.Missing) != 1 || c.Missing[0].Index != 2 {
		t.Fatalf("collect with run 2 missing: %v, %+v\n%s", err, c, log.String())
	}
	if !strings.Contains(log.String(), "run 2 init-init_b_lr-0.001_seed-0: not run") {
		t.Errorf("collect output:\n%s", log.String())
	}
	if _, err := Collect(context.Background(), opt.Out, true, &log); err == nil || !strings.Contains(err.Error(), "not submitted with --slurm") {
		t.Errorf("--resubmit-failed on a local folder: %v", err)
	}
	if _, err := ExecuteRun(context.Background(), s, opt, 2); err != nil {
		t.Fatal(err)
	}
	if c, err = Collect(context.Background(), opt.Out, false, &log); err != nil || len(c.Done) != 4 {
		t.Fatalf("collect: %v, %d done", err, len(c.Done))
	}
	local := t.TempDir()
	if _, err := Execute(context.Background(), s, Options{Out: local, Seeds: 1}); err != nil {
		t.Fatal(err)
	}
	if want, got := readCSV(t, filepath.Join(local, "results.csv")), readCSV(t, filepath.Join(opt.Out, "results.csv")); want != got {
		t.Errorf("collected results.csv differs from Execute's:\n%s\nvs\n%s", got, want)
	}
	if _, err := Collect(context.Background(), t.TempDir(), false, nil); err == nil || !strings.Contains(err.Error(), "not a sweep's output folder") {
		t.Errorf("collect on an empty folder: %v", err)
	}
}

// TestFrozenSweeps checks that every built-in sweep, full and --quick, reads
// back from sweep.yaml as the same runs: the array tasks and collect see
// only that file.
func TestFrozenSweeps(t *testing.T) {
	for _, n := range Builtin() {
		s, err := Load(n)
		if err != nil {
			t.Fatal(err)
		}
		for _, v := range []*Sweep{s, s.WithQuick()} {
			runs, err := v.Runs()
			if err != nil {
				t.Fatal(err)
			}
			out := t.TempDir()
			if err := writeSweep(out, v); err != nil {
				t.Fatal(err)
			}
			if err := checkFrozen(&prepared{s: v, out: out, runs: runs}); err != nil {
				t.Errorf("%s: %v", n, err)
			}
		}
	}
}

func TestSlurmThreads(t *testing.T) {
	defer kernels.SetThreads(kernels.Threads())
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(0))
	t.Setenv("SLURM_CPUS_PER_TASK", "3")
	s := &Sweep{Train: map[string]any{}}
	if n := slurmThreads(s); n != 3 || kernels.Threads() != 3 {
		t.Errorf("SLURM_CPUS_PER_TASK=3: set %d, kernels use %d", n, kernels.Threads())
	}
	s.Train["threads"] = 2 // the sweep's own setting wins
	if n := slurmThreads(s); n != 0 {
		t.Errorf("sweep sets threads, slurmThreads set %d", n)
	}
	t.Setenv("SLURM_CPUS_PER_TASK", "")
	if n := slurmThreads(&Sweep{}); n != 0 {
		t.Errorf("outside Slurm, slurmThreads set %d", n)
	}
}
