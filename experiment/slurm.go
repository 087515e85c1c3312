package experiment

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"time"

	"github.com/golora/golora/internal/atomicfile"
	"github.com/golora/golora/kernels"
)

// A sweep on a Slurm cluster is a job array with one task per run: each
// task runs `golora experiment DIR/sweep.yaml --run-index I --out DIR`,
// which trains only run I and writes only DIR/runs/<id>/ (result.json last,
// atomically), so tasks never race and need no coordinator. A dependent job
// (afterany) runs `golora experiment collect DIR`, which builds the report
// from the result.json files with the same code as a local sweep. The
// golora binary and DIR must be on a filesystem every node sees.

// SlurmOptions are the settings of `golora experiment --slurm`.
type SlurmOptions struct {
	// Opts are extra sbatch options, e.g. "--partition=gpu --time=1:00:00";
	// each becomes an #SBATCH line of both scripts.
	Opts string
	// MaxParallel throttles the array (%N): at most N runs at a time; 0
	// leaves it to the cluster's limits.
	MaxParallel int
	// DryRun writes the scripts without submitting them.
	DryRun bool
	// Binary is the golora executable the jobs run ("" = this process's).
	Binary string
}

// Submission is one sbatch of (some of) a sweep's runs and its collect job.
type Submission struct {
	ArrayJob   string    `json:"array_job"`
	CollectJob string    `json:"collect_job"`
	Indices    []int     `json:"indices"` // run indices, in Runs order
	Time       time.Time `json:"time"`
}

// slurmRecord is DIR/slurm/jobs.json: what was submitted, so collect knows
// which jobs to ask about and how to resubmit.
type slurmRecord struct {
	MaxParallel int          `json:"max_parallel"`
	Submissions []Submission `json:"submissions"`
}

// sbatch options golora sets itself.
var reservedSbatch = []string{"--array", "-a", "--dependency", "-d", "--wrap", "--parsable"}

// SubmitSlurm writes DIR/slurm/sweep.sbatch (the job array) and
// DIR/slurm/collect.sbatch, then submits the runs that are not done yet and
// a collect job that runs after them. With DryRun it only writes. The
// returned Submission names the job ids; it has no indices when every run
// is already done (nothing is submitted).
func SubmitSlurm(ctx context.Context, s *Sweep, opt Options, so SlurmOptions) (*Submission, error) {
	if so.MaxParallel < 0 {
		return nil, fmt.Errorf("experiment: --max-parallel %d: must be >= 0", so.MaxParallel)
	}
	opts, err := sbatchOpts(so.Opts)
	if err != nil {
		return nil, err
	}
	if opt.Out == "" {
		return nil, errors.New("experiment: --out is required")
	}
	bin := so.Binary
	if bin == "" {
		if bin, err = os.Executable(); err != nil {
			return nil, fmt.Errorf("experiment: the golora binary: %w", err)
		}
	}
	out, err1 := filepath.Abs(opt.Out)
	bin, err2 := filepath.Abs(bin)
	cwd, err3 := os.Getwd()
	if err := errors.Join(err1, err2, err3); err != nil {
		return nil, fmt.Errorf("experiment: %w", err)
	}
	for _, path := range []string{out, bin, cwd} {
		if strings.ContainsAny(path, " \t\n'\"\\$`") {
			return nil, fmt.Errorf("experiment: --slurm: path %q has a space, quote or $; #SBATCH lines cannot hold it, use another folder", path)
		}
	}
	p, err := prepare(s, opt)
	if err != nil {
		return nil, err
	}
	var todo []Missing
	for i, r := range p.runs {
		if err := sameConfig(r.Config.Out, r.Config); err != nil {
			return nil, err
		}
		if _, err := readResult(r.Config.Out); err != nil {
			todo = append(todo, Missing{Index: i, ID: r.ID})
		}
	}
	rec, err := readRecord(out)
	if err != nil {
		return nil, err
	}
	// Two tasks on one run folder would race: runs an earlier submission
	// is still running are not submitted twice.
	if len(rec.Submissions) > 0 && len(todo) > 0 && !so.DryRun {
		jobStates(ctx, rec, todo)
		var active []string
		for _, m := range todo {
			if activeState(m.State) {
				active = append(active, m.Job)
			}
		}
		if len(active) > 0 {
			return nil, fmt.Errorf("experiment: --slurm: %d runs of %s are still pending or running in Slurm (%s); wait for them, or `golora experiment collect %s --resubmit-failed` submits only the failed ones",
				len(active), opt.Out, strings.Join(active, ", "), opt.Out)
		}
	}
	if err := writeSweep(p.out, p.s); err != nil {
		return nil, err
	}
	if err := checkFrozen(p); err != nil {
		return nil, err
	}
	dir := filepath.Join(out, "slurm")
	if err := os.MkdirAll(filepath.Join(dir, "logs"), 0o755); err != nil {
		return nil, fmt.Errorf("experiment: %w", err)
	}
	head := func(comment, output string, extra ...string) string {
		var b strings.Builder
		fmt.Fprintf(&b, "#!/bin/bash\n# %s\n", comment)
		fmt.Fprintf(&b, "#SBATCH --job-name=golora-%s\n", sanitize(p.s.Name))
		for _, o := range extra {
			fmt.Fprintf(&b, "#SBATCH %s\n", o)
		}
		fmt.Fprintf(&b, "#SBATCH --output=%s\n", filepath.Join(dir, "logs", output))
		fmt.Fprintf(&b, "#SBATCH --chdir=%s\n", cwd)
		for _, o := range opts {
			fmt.Fprintf(&b, "#SBATCH %s\n", o)
		}
		return b.String()
	}
	sweep := head(fmt.Sprintf("golora sweep %s: %d runs as a job array, one task per run (array index = run index).\n"+
		"# Written by golora experiment --slurm; `golora experiment collect %s --resubmit-failed`\n"+
		"# submits the runs that failed again.", p.s.Name, len(p.runs), out),
		"%A_%a.out", "--array="+arraySpec(seq(len(p.runs)), so.MaxParallel))
	sweep += fmt.Sprintf("exec %s experiment %s --run-index \"$SLURM_ARRAY_TASK_ID\" --out %s\n", bin, filepath.Join(out, "sweep.yaml"), out)
	collect := head(fmt.Sprintf("golora sweep %s: results.csv, results.md and plots from the finished runs.", p.s.Name), "collect_%j.out")
	collect += fmt.Sprintf("exec %s experiment collect %s\n", bin, out)
	for name, text := range map[string]string{"sweep.sbatch": sweep, "collect.sbatch": collect} {
		if err := atomicfile.WriteBytes(filepath.Join(dir, name), []byte(text)); err != nil {
			return nil, fmt.Errorf("experiment: %w", err)
		}
		if err := os.Chmod(filepath.Join(dir, name), 0o755); err != nil {
			return nil, fmt.Errorf("experiment: %w", err)
		}
	}
	if so.DryRun || len(todo) == 0 {
		return &Submission{}, nil
	}
	rec.MaxParallel = so.MaxParallel
	var indices []int
	for _, m := range todo {
		indices = append(indices, m.Index)
	}
	return submit(ctx, out, rec, indices)
}

// checkFrozen makes sure sweep.yaml, which the array tasks and collect
// read, expands to exactly the runs about to be submitted.
func checkFrozen(p *prepared) error {
	path := filepath.Join(p.out, "sweep.yaml")
	s, err := Load(path)
	if err != nil {
		return err
	}
	runs, err := s.Runs()
	if err != nil {
		return err
	}
	if len(runs) != len(p.runs) {
		return fmt.Errorf("experiment: %s expands to %d runs, the sweep to %d", path, len(runs), len(p.runs))
	}
	for i, r := range runs {
		if r.ID != p.runs[i].ID || settingsKey(r.Config) != settingsKey(p.runs[i].Config) {
			return fmt.Errorf("experiment: %s: run %d reads back as %s, want %s with the same settings", path, i, r.ID, p.runs[i].ID)
		}
	}
	return nil
}

// submit sbatches the array tasks indices and a collect job after them, and
// records both in DIR/slurm/jobs.json.
func submit(ctx context.Context, out string, rec *slurmRecord, indices []int) (*Submission, error) {
	dir := filepath.Join(out, "slurm")
	arr, err := sbatch(ctx, "--array="+arraySpec(indices, rec.MaxParallel), filepath.Join(dir, "sweep.sbatch"))
	if err != nil {
		return nil, err
	}
	sub := Submission{ArrayJob: arr, Indices: indices, Time: time.Now().UTC()}
	// Record the array before the collect job, so a failure there still
	// leaves the running tasks findable.
	rec.Submissions = append(rec.Submissions, sub)
	if err := writeRecord(out, rec); err != nil {
		return nil, err
	}
	if sub.CollectJob, err = sbatch(ctx, "--dependency=afterany:"+arr, filepath.Join(dir, "collect.sbatch")); err != nil {
		return &sub, err
	}
	rec.Submissions[len(rec.Submissions)-1] = sub
	return &sub, writeRecord(out, rec)
}

func sbatch(ctx context.Context, args ...string) (string, error) {
	var stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, "sbatch", append([]string{"--parsable"}, args...)...)
	cmd.Stderr = &stderr
	b, err := cmd.Output()
	if errors.Is(err, exec.ErrNotFound) {
		return "", errors.New("experiment: sbatch not found in PATH: run on a Slurm login node, or use --dry-run to only write the scripts")
	}
	if err != nil {
		return "", fmt.Errorf("experiment: sbatch %s: %w: %s", strings.Join(args, " "), err, strings.TrimSpace(stderr.String()))
	}
	// --parsable prints "jobid" or "jobid;cluster".
	id, _, _ := strings.Cut(strings.TrimSpace(string(b)), ";")
	if _, err := strconv.Atoi(id); err != nil {
		return "", fmt.Errorf("experiment: sbatch printed %q, want a job id", b)
	}
	return id, nil
}

// sbatchOpts splits --slurm-opts into options, one per #SBATCH line: a
// word starting with "-" begins an option and the words after it that do
// not are its value ("-p gpu"). Quotes group words.
func sbatchOpts(s string) ([]string, error) {
	words, err := shellWords(s)
	if err != nil {
		return nil, err
	}
	var opts []string
	for _, w := range words {
		quoted := w
		if strings.ContainsAny(w, " \t\n") {
			// #SBATCH lines are split at blanks outside double quotes.
			if name, val, ok := strings.Cut(w, "="); ok && strings.HasPrefix(w, "-") {
				quoted = name + "=" + strconv.Quote(val)
			} else {
				quoted = strconv.Quote(w)
			}
		}
		if !strings.HasPrefix(w, "-") {
			if len(opts) == 0 {
				return nil, fmt.Errorf("experiment: --slurm-opts %q: %q is not an sbatch option (they start with -)", s, w)
			}
			opts[len(opts)-1] += " " + quoted
			continue
		}
		name, _, _ := strings.Cut(w, "=")
		if containsStr(reservedSbatch, name) {
			return nil, fmt.Errorf("experiment: --slurm-opts: %s is set by golora (the array is one task per run; use --max-parallel to throttle it)", name)
		}
		opts = append(opts, quoted)
	}
	return opts, nil
}

// shellWords splits s at blanks outside '…' and "…".
func shellWords(s string) ([]string, error) {
	var words []string
	var cur strings.Builder
	in, quote := false, rune(0)
	for _, r := range s {
		switch {
		case quote != 0 && r == quote:
			quote = 0
		case quote != 0:
			cur.WriteRune(r)
		case r == '\'' || r == '"':
			quote, in = r, true
		case r == ' ' || r == '\t' || r == '\n':
			if in {
				words = append(words, cur.String())
				cur.Reset()
				in = false
			}
		default:
			cur.WriteRune(r)
			in = true
		}
	}
	if quote != 0 {
		return nil, fmt.Errorf("experiment: --slurm-opts %q: unterminated %c", s, quote)
	}
	if in {
		words = append(words, cur.String())
	}
	return words, nil
}

func seq(n int) []int {
	out := make([]int, n)
	for i := range out {
		out[i] = i
	}
	return out
}

// arraySpec writes sorted indices as an sbatch --array value: ranges joined
// by commas ("0-3,7"), with "%N" when throttled.
func arraySpec(indices []int, maxParallel int) string {
	var parts []string
	for i := 0; i < len(indices); {
		j := i
		for j+1 < len(indices) && indices[j+1] == indices[j]+1 {
			j++
		}
		if j > i {
			parts = append(parts, fmt.Sprintf("%d-%d", indices[i], indices[j]))
		} else {
			parts = append(parts, strconv.Itoa(indices[i]))
		}
		i = j + 1
	}
	spec := strings.Join(parts, ",")
	if maxParallel > 0 {
		spec += "%" + strconv.Itoa(maxParallel)
	}
	return spec
}

// parseArraySpec reads an array index list as Slurm prints it ("3",
// "[3-5,7%2]", "3-5") back into indices.
func parseArraySpec(s string) ([]int, error) {
	s = strings.Trim(s, "[]")
	s, _, _ = strings.Cut(s, "%")
	var out []int
	for _, part := range strings.Split(s, ",") {
		lo, hi, isRange := strings.Cut(part, "-")
		a, err := strconv.Atoi(lo)
		if err != nil {
			return nil, fmt.Errorf("array index %q", part)
		}
		b := a
		if isRange {
			if b, err = strconv.Atoi(hi); err != nil || b < a {
				return nil, fmt.Errorf("array range %q", part)
			}
		}
		for i := a; i <= b; i++ {
			out = append(out, i)
		}
	}
	return out, nil
}

func readRecord(out string) (*slurmRecord, error) {
	path := filepath.Join(out, "slurm", "jobs.json")
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return &slurmRecord{}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("experiment: %w", err)
	}
	var rec slurmRecord
	if err := json.Unmarshal(b, &rec); err != nil {
		return nil, fmt.Errorf("experiment: %s: %w", path, err)
	}
	return &rec, nil
}

func writeRecord(out string, rec *slurmRecord) error {
	b, err := json.MarshalIndent(rec, "", "  ")
	if err != nil {
		return err
	}
	return atomicfile.WriteBytes(filepath.Join(out, "slurm", "jobs.json"), append(b, '\n'))
}

// slurmThreads sizes the kernels to the task's allocation: inside a Slurm
// job started with --cpus-per-task, SLURM_CPUS_PER_TASK, unless the sweep
// sets threads itself. It returns the count it set (0: none).
func slurmThreads(s *Sweep) int {
	if _, set := s.Train["threads"]; set {
		return 0
	}
	n, err := strconv.Atoi(os.Getenv("SLURM_CPUS_PER_TASK"))
	if err != nil || n < 1 {
		return 0
	}
	kernels.SetThreads(n)
	runtime.GOMAXPROCS(n)
	return n
}

// Missing is a run of a sweep with no result.json.
type Missing struct {
	Index int    // in Runs order (the array index)
	ID    string // the run id
	Job   string // the array task that last ran it ("123_4"), if any
	State string // its Slurm state, or why it is unknown
}

// Collected is what collect found.
type Collected struct {
	Runs        int      // runs in the sweep
	Done        []Result // in Runs order
	Missing     []Missing
	Resubmitted *Submission // with --resubmit-failed
}

// ErrUnfinished is returned by Collect when runs are missing and were not
// resubmitted.
var ErrUnfinished = errors.New("runs are not finished")

// Collect gathers the finished runs of the sweep in out into results.csv,
// results.md and the plots (the report a local sweep writes), and lists the
// runs that are missing with their Slurm state. With resubmit, the missing
// runs that Slurm is not still running or holding are submitted again as a
// new array (and collect job). It works on a local sweep's folder too.
func Collect(ctx context.Context, out string, resubmit bool, log io.Writer) (*Collected, error) {
	if log == nil {
		log = io.Discard
	}
	path := filepath.Join(out, "sweep.yaml")
	if _, err := os.Stat(path); err != nil {
		return nil, fmt.Errorf("experiment collect: %s: %w (not a sweep's output folder?)", out, err)
	}
	s, err := Load(path)
	if err != nil {
		return nil, err
	}
	runs, err := s.Runs()
	if err != nil {
		return nil, err
	}
	c := &Collected{Runs: len(runs)}
	for i, r := range runs {
		res, err := readResult(filepath.Join(out, "runs", r.ID))
		switch {
		case err == nil:
			c.Done = append(c.Done, *res)
		case errors.Is(err, fs.ErrNotExist):
			c.Missing = append(c.Missing, Missing{Index: i, ID: r.ID, State: "not run"})
		default:
			return nil, fmt.Errorf("experiment collect: %w", err)
		}
	}
	if len(c.Done) > 0 {
		if err := WriteReport(out, s, c.Done); err != nil {
			return nil, err
		}
	}
	fmt.Fprintf(log, "%d of %d runs finished", len(c.Done), len(runs))
	if len(c.Done) > 0 {
		fmt.Fprintf(log, "; results: %s, %s", filepath.Join(out, "results.csv"), filepath.Join(out, "results.md"))
	}
	fmt.Fprintln(log)
	if len(c.Missing) == 0 {
		return c, nil
	}
	rec, err := readRecord(out)
	if err != nil {
		return nil, err
	}
	if len(rec.Submissions) > 0 {
		jobStates(ctx, rec, c.Missing)
	}
	fmt.Fprintf(log, "%d not finished:\n", len(c.Missing))
	var failed []int
	for _, m := range c.Missing {
		job := ""
		if m.Job != "" {
			job = " (job " + m.Job + ")"
		}
		fmt.Fprintf(log, "  run %d %s: %s%s\n", m.Index, m.ID, m.State, job)
		if !activeState(m.State) {
			failed = append(failed, m.Index)
		}
	}
	again := fmt.Sprintf("`golora experiment %s --out %s` runs them here", path, out)
	if len(rec.Submissions) > 0 {
		again = fmt.Sprintf("`golora experiment collect %s --resubmit-failed` submits them again", out)
	}
	if !resubmit {
		return c, fmt.Errorf("experiment collect: %d of %d %w (listed above); %s", len(c.Missing), len(runs), ErrUnfinished, again)
	}
	if len(rec.Submissions) == 0 {
		return c, fmt.Errorf("experiment collect: --resubmit-failed: %s was not submitted with --slurm (no slurm/jobs.json); %s", out, again)
	}
	if len(failed) == 0 {
		fmt.Fprintln(log, "all of them are still pending or running in Slurm; nothing resubmitted")
		return c, nil
	}
	if c.Resubmitted, err = submit(ctx, out, rec, failed); err != nil {
		return c, err
	}
	fmt.Fprintf(log, "resubmitted %d run(s) as job array %s (collect: job %s)\n", len(failed), c.Resubmitted.ArrayJob, c.Resubmitted.CollectJob)
	return c, nil
}

// activeState reports whether a Slurm job state means the task may still
// finish by itself (pending, running, suspended or being requeued).
func activeState(state string) bool {
	switch strings.Fields(state + " x")[0] {
	case "PENDING", "CONFIGURING", "RUNNING", "COMPLETING", "SUSPENDED", "REQUEUED", "REQUEUE_HOLD",
		"REQUEUE_FED", "RESIZING", "SIGNALING", "STAGE_OUT", "STOPPED":
		return true
	}
	return false
}

// jobStates fills in Job and State of the missing runs from the latest
// submission of each: from sacct (the accounting database) where the cluster
// keeps one, else from scontrol, which knows jobs until MinJobAge (300 s by
// default) after they end.
func jobStates(ctx context.Context, rec *slurmRecord, missing []Missing) {
	last := map[int]string{} // run index -> array job id
	var jobs []string
	for _, sub := range rec.Submissions {
		jobs = append(jobs, sub.ArrayJob)
		for _, i := range sub.Indices {
			last[i] = sub.ArrayJob
		}
	}
	// sacct first; scontrol for what it does not know (no database, or a
	// task it has no record of).
	states, why := sacctStates(ctx, jobs)
	if states == nil {
		states = map[string]string{}
	} else {
		why = "sacct has no record of it"
	}
	var live map[string]string
	for k := range missing {
		m := &missing[k]
		job, ok := last[m.Index]
		if !ok {
			m.State = "never submitted"
			continue
		}
		m.Job = job + "_" + strconv.Itoa(m.Index)
		if st, ok := states[m.Job]; ok {
			m.State = st
			continue
		}
		if live == nil {
			var err error
			if live, err = scontrolStates(ctx, jobs); err != nil {
				why += "; " + err.Error()
			}
		}
		if st, ok := live[m.Job]; ok {
			m.State = st
		} else {
			m.State = "state unknown (" + why + "; slurmctld no longer lists it: it ended over MinJobAge ago, or was cancelled before it started)"
		}
	}
}

// sacctStates asks the accounting database for the state of every task of
// the array jobs, keyed "job_index"; nil and the reason when it cannot.
func sacctStates(ctx context.Context, jobs []string) (map[string]string, string) {
	var stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, "sacct", "-n", "-P", "-X", "-o", "JobID,State", "-j", strings.Join(jobs, ","))
	cmd.Stderr = &stderr
	b, err := cmd.Output()
	if err != nil {
		return nil, "sacct: " + firstLine(stderr.String(), err)
	}
	if msg := strings.TrimSpace(string(b)); strings.Contains(msg, "accounting storage is disabled") {
		return nil, "sacct: " + msg
	}
	return parseSacct(string(b)), ""
}

func firstLine(s string, err error) string {
	s, _, _ = strings.Cut(strings.TrimSpace(s), "\n")
	if s == "" {
		return err.Error()
	}
	return s
}

// parseSacct reads `sacct -n -P -X -o JobID,State` lines: "123_4|COMPLETED",
// "123_[5-7%2]|PENDING", "123_1|CANCELLED by 0".
func parseSacct(out string) map[string]string {
	states := map[string]string{}
	for _, line := range strings.Split(out, "\n") {
		id, state, ok := strings.Cut(strings.TrimSpace(line), "|")
		job, idx, isTask := strings.Cut(id, "_")
		if !ok || !isTask {
			continue
		}
		addStates(states, job, idx, strings.Fields(state + " x")[0])
	}
	return states
}

func addStates(states map[string]string, job, spec, state string) {
	indices, err := parseArraySpec(spec)
	if err != nil {
		return
	}
	for _, i := range indices {
		states[job+"_"+strconv.Itoa(i)] = state
	}
}

// scontrolStates reads the tasks' states from `scontrol show job -o`.
func scontrolStates(ctx context.Context, jobs []string) (map[string]string, error) {
	states := map[string]string{}
	var errs []error
	for _, job := range jobs {
		var stderr bytes.Buffer
		cmd := exec.CommandContext(ctx, "scontrol", "show", "job", "-o", job)
		cmd.Stderr = &stderr
		b, err := cmd.Output()
		if err != nil {
			errs = append(errs, fmt.Errorf("scontrol show job %s: %s", job, firstLine(stderr.String(), err)))
			continue
		}
		for k, v := range parseScontrol(string(b)) {
			states[k] = v
		}
	}
	return states, errors.Join(errs...)
}

// parseScontrol reads `scontrol show job -o` lines (one per array task or
// pending remainder, "ArrayJobId=123 ArrayTaskId=3-5 … JobState=PENDING").
func parseScontrol(out string) map[string]string {
	states := map[string]string{}
	for _, line := range strings.Split(out, "\n") {
		f := map[string]string{}
		for _, w := range strings.Fields(line) {
			if k, v, ok := strings.Cut(w, "="); ok {
				f[k] = v
			}
		}
		if f["ArrayJobId"] != "" && f["ArrayTaskId"] != "" && f["JobState"] != "" {
			addStates(states, f["ArrayJobId"], f["ArrayTaskId"], f["JobState"])
		}
	}
	return states
}
