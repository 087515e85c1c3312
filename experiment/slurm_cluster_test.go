package experiment

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/csv"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestSlurmCluster hands a 4-run sweep to a real single-node Slurm cluster
// (slurmctld + slurmd on localhost, 2 CPUs, munged with its own key, all in
// a temporary folder with free ports): the array runs two at a time, one
// running and one pending task are cancelled with scancel, the dependent
// collect job and collect itself report them, --resubmit-failed finishes
// them (the killed run resumes its checkpoint), and the final results equal
// the local run's. It needs Debian's slurm-wlm and munge and root (slurmd
// starts the jobs); scripts/test.sh installs them in CI, where their
// absence fails the test.
func TestSlurmCluster(t *testing.T) {
	if testing.Short() {
		t.Skip("short: starts a Slurm cluster")
	}
	start := time.Now()
	c := startSlurm(t)
	t.Logf("%.1fs: cluster up", time.Since(start).Seconds())
	bin := buildGolora(t, c.dir)
	t.Logf("%.1fs: golora built", time.Since(start).Seconds())
	sweep, err := filepath.Abs(filepath.Join("testdata", "slurm.yaml"))
	if err != nil {
		t.Fatal(err)
	}

	// One thread, as each array task gets (--cpus-per-task=1); on a loaded
	// 2-core machine two threads per run are also slower.
	local := filepath.Join(c.dir, "local")
	t.Setenv("GOLORA_THREADS", "1")
	out, err := runGolora(bin, "experiment", sweep, "--out", local)
	os.Unsetenv("GOLORA_THREADS")
	if err != nil {
		t.Fatalf("local sweep: %v\n%s", err, out)
	}

	t.Logf("%.1fs: local sweep done", time.Since(start).Seconds())
	dir := filepath.Join(c.dir, "cluster")
	out, err = runGolora(bin, "experiment", sweep, "--slurm", "--max-parallel", "2",
		"--slurm-opts", "--time=5 --cpus-per-task=1 --comment='golora test'", "--out", dir)
	if err != nil {
		t.Fatalf("--slurm: %v\n%s", err, out)
	}
	m := regexp.MustCompile(`Submitted batch job (\d+)`).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("--slurm printed no job id:\n%s", out)
	}
	job := m[1]
	frozen := snapshot(t, filepath.Join(dir, "sweep.yaml"), filepath.Join(dir, "data"))
	t.Logf("%.1fs: submitted job array %s", time.Since(start).Seconds(), job)
	show, _ := exec.Command("scontrol", "show", "job", "-o", job).Output()
	for _, want := range []string{"ArrayTaskThrottle=2", "Comment=golora test", "TimeLimit=00:05:00"} {
		if !strings.Contains(string(show), want) {
			t.Errorf("the array job lacks %s (from --max-parallel and --slurm-opts):\n%s", want, show)
		}
	}
	// Two at a time: runs 2 and 3 are pending. Hold run 2 (so a run is
	// surely still pending below) and cancel run 3 before it starts; kill
	// run 0 mid-training, once it has saved a checkpoint: its
	// resubmission then resumes from there.
	slurm := func(args ...string) {
		t.Helper()
		if out, err := exec.Command(args[0], args[1:]...).CombinedOutput(); err != nil {
			t.Fatalf("%s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
	slurm("scontrol", "hold", job+"_2")
	slurm("scancel", job+"_3")
	runs, err := frozenRuns(dir)
	if err != nil {
		t.Fatal(err)
	}
	cancelled := runs[0].ID
	waitFor(t, 3*time.Minute, "run 0 to save a checkpoint", func() bool {
		_, err := os.Stat(filepath.Join(dir, "runs", cancelled, "checkpoints"))
		return err == nil
	})
	slurm("scancel", job+"_0")
	// Submitting again while a run is pending would put two tasks on it.
	if out, err := runGolora(bin, "experiment", sweep, "--slurm", "--out", dir); err == nil || !strings.Contains(out, "still pending or running in Slurm") || !strings.Contains(out, job+"_2") {
		t.Errorf("second --slurm while run 2 is pending: %v\n%s", err, out)
	}
	slurm("scontrol", "release", job+"_2")
	c.waitIdle(t, 3*time.Minute)
	if got := snapshot(t, filepath.Join(dir, "sweep.yaml"), filepath.Join(dir, "data")); got != frozen {
		t.Errorf("array tasks wrote outside their run folders:\nbefore %s\nafter  %s", frozen, got)
	}

	// The dependent collect job ran after the array and saw the gap.
	logs, _ := filepath.Glob(filepath.Join(dir, "slurm", "logs", "collect_*.out"))
	if len(logs) != 1 {
		t.Fatalf("collect job logs %v, want one", logs)
	}
	b, _ := os.ReadFile(logs[0])
	if !strings.Contains(string(b), "2 of 4 runs finished") || !strings.Contains(string(b), cancelled+": CANCELLED") {
		t.Errorf("collect job log does not report run 0 cancelled:\n%s", b)
	}
	// Without an accounting database, whether slurmctld still remembers a
	// task cancelled while pending depends on the race between its
	// scheduler and the sbatch of the collect job: if tasks 0 and 1 were
	// split off the array record before task 2 was held, the record that
	// is left is task 3's, and scontrol reports it CANCELLED (seen in CI);
	// otherwise nothing lists it and collect says why its state is
	// unknown. Either way run 3 is listed, as not finished.
	out, err = runGolora(bin, "experiment", "collect", dir)
	run3 := regexp.MustCompile(`run 3 ` + regexp.QuoteMeta(runs[3].ID) +
		`: (CANCELLED \(job ` + job + `_3\)|state unknown \(sacct: Slurm accounting storage is disabled;)`)
	if err == nil || !strings.Contains(out, "run 0 "+cancelled+": CANCELLED (job "+job+"_0)") || !run3.MatchString(out) {
		t.Fatalf("collect with cancelled tasks: error %v, output:\n%s", err, out)
	}
	t.Logf("collect lists run 3 as %q", run3.FindString(out))

	t.Logf("%.1fs: array and collect job done", time.Since(start).Seconds())
	out, err = runGolora(bin, "experiment", "collect", dir, "--resubmit-failed")
	if err != nil || !strings.Contains(out, "resubmitted 2 run(s)") {
		t.Fatalf("--resubmit-failed: %v\n%s", err, out)
	}
	c.waitIdle(t, 3*time.Minute)
	t.Logf("%.1fs: resubmitted run done", time.Since(start).Seconds())
	out, err = runGolora(bin, "experiment", "collect", dir)
	if err != nil || !strings.Contains(out, "4 of 4 runs finished") {
		t.Fatalf("collect after resubmission: %v\n%s", err, out)
	}
	want, got := readCSV(t, filepath.Join(local, "results.csv")), readCSV(t, filepath.Join(dir, "results.csv"))
	if want != got {
		t.Errorf("results.csv from Slurm differs from the local run's (seconds column left out):\nlocal\n%s\nslurm\n%s", want, got)
	}
	// The killed run stopped at a checkpoint and its second task resumed
	// it; the results still equal the uninterrupted local run's.
	if b, err := os.ReadFile(filepath.Join(dir, "runs", cancelled, "train.log")); err != nil || !strings.Contains(string(b), "resumed from") {
		t.Errorf("run %s was not resumed from its checkpoint (%v):\n%s", cancelled, err, b)
	}
	// Each task ran one thread, from --cpus-per-task=1, not GOMAXPROCS.
	b, err = os.ReadFile(filepath.Join(dir, "slurm", "logs", job+"_1.out"))
	if err != nil || !strings.Contains(string(b), "compute threads: 1 (SLURM_CPUS_PER_TASK)") || !strings.Contains(string(b), runs[1].ID) {
		t.Errorf("task 1's log (%v) lacks its run and thread count:\n%s", err, b)
	}
	// The table and plots hold no wall time: they are the same bytes.
	for _, f := range []string{"results.md", "loss-vs-lr.png", "curves.png"} {
		a, err1 := os.ReadFile(filepath.Join(local, f))
		b, err2 := os.ReadFile(filepath.Join(dir, f))
		if err1 != nil || err2 != nil || !bytes.Equal(a, b) {
			t.Errorf("%s: the Slurm sweep's differs from the local one's (%v, %v)", f, err1, err2)
		}
	}
}

// frozenRuns expands out/sweep.yaml as collect does.
func frozenRuns(out string) ([]Run, error) {
	s, err := Load(filepath.Join(out, "sweep.yaml"))
	if err != nil {
		return nil, err
	}
	return s.Runs()
}

// readCSV returns the file without its wall-clock seconds column, the one
// thing two runs of a deterministic sweep do not share.
func readCSV(t *testing.T, path string) string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	rows, err := csv.NewReader(f).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if last := rows[0][len(rows[0])-1]; last != "seconds" {
		t.Fatalf("%s: last column %q, want seconds", path, last)
	}
	var b strings.Builder
	for _, r := range rows {
		b.WriteString(strings.Join(r[:len(r)-1], ",") + "\n")
	}
	return b.String()
}

// snapshot lists path, size and mtime of the files under roots.
func snapshot(t *testing.T, roots ...string) string {
	t.Helper()
	var b strings.Builder
	for _, root := range roots {
		err := filepath.Walk(root, func(p string, fi os.FileInfo, err error) error {
			if err == nil && !fi.IsDir() {
				fmt.Fprintf(&b, "%s %d %d; ", p, fi.Size(), fi.ModTime().UnixNano())
			}
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	return b.String()
}

func runGolora(bin string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute) // a backstop; the waits bound the test
	defer cancel()
	out, err := exec.CommandContext(ctx, bin, args...).CombinedOutput()
	return string(out), err
}

// buildGolora builds the command into dir: the jobs run it, as they would
// run an installed golora on a cluster's shared filesystem.
func buildGolora(t *testing.T, dir string) string {
	t.Helper()
	goCmd, err := exec.LookPath("go") // go test puts GOROOT/bin first in PATH
	if err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(dir, "golora")
	cmd := exec.Command(goCmd, "build", "-o", bin, "../cmd/golora")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

type slurmCluster struct {
	dir, conf string
	procs     []*exec.Cmd
}

// cmd is a Slurm command for this cluster (stop runs after t.Setenv has
// restored SLURM_CONF, so it is passed explicitly).
func (c *slurmCluster) cmd(name string, args ...string) *exec.Cmd {
	cmd := exec.Command(name, args...)
	cmd.Env = append(os.Environ(), "SLURM_CONF="+c.conf)
	return cmd
}

// startSlurm starts munged, slurmctld and slurmd in the foreground (so the
// test owns them) on free ports with every file under a temporary folder,
// and points the Slurm commands at it with SLURM_CONF. t.Cleanup cancels
// the jobs and stops the daemons, also when the test fails.
func startSlurm(t *testing.T) *slurmCluster {
	var missing []string
	bins := map[string]string{}
	for _, name := range []string{"munged", "slurmctld", "slurmd", "sbatch", "scancel", "scontrol", "squeue", "sinfo"} {
		p, err := exec.LookPath(name)
		if err != nil {
			p, err = exec.LookPath("/usr/sbin/" + name)
		}
		if err != nil {
			missing = append(missing, name)
		}
		bins[name] = p
	}
	reason := ""
	switch {
	case len(missing) > 0:
		reason = "no " + strings.Join(missing, ", ") + " (apt-get install slurm-wlm munge)"
	case os.Geteuid() != 0:
		reason = "slurmd must run as root to start jobs"
	}
	if reason != "" {
		if os.Getenv("CI") == "true" {
			t.Fatalf("Slurm integration test cannot run in CI: %s; scripts/test.sh installs slurm-wlm and munge", reason)
		}
		t.Skipf("Slurm integration test skipped: %s", reason)
	}

	c := &slurmCluster{dir: t.TempDir()}
	t.Cleanup(func() { c.stop(t) })
	// munged wants its socket folder and every folder above it searchable
	// by all, and its key readable by its owner only.
	for _, d := range []string{filepath.Dir(c.dir), c.dir} {
		if err := os.Chmod(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for _, d := range []string{"munge", "sock", "state", "spool", "log"} {
		if err := os.Mkdir(filepath.Join(c.dir, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Chmod(filepath.Join(c.dir, "munge"), 0o700); err != nil {
		t.Fatal(err)
	}
	key := make([]byte, 1024)
	rand.Read(key)
	keyFile := filepath.Join(c.dir, "munge", "munge.key")
	if err := os.WriteFile(keyFile, key, 0o400); err != nil {
		t.Fatal(err)
	}
	sock := filepath.Join(c.dir, "sock", "munge.socket")
	c.start(t, bins["munged"], "-F", "-S", sock, "--key-file="+keyFile, "--log-file="+filepath.Join(c.dir, "log", "munged.log"),
		"--pid-file="+filepath.Join(c.dir, "munge", "munged.pid"), "--seed-file="+filepath.Join(c.dir, "munge", "munged.seed"))
	waitFor(t, 10*time.Second, "munged socket", func() bool { _, err := os.Stat(sock); return err == nil })

	host, err := os.Hostname()
	if err != nil {
		t.Fatal(err)
	}
	host, _, _ = strings.Cut(host, ".")
	u, err := user.Current()
	if err != nil {
		t.Fatal(err)
	}
	conf := filepath.Join(c.dir, "slurm.conf")
	c.conf = conf
	d := c.dir
	// config_overrides: the node has the 2 CPUs configured here whatever
	// the machine has (no drain on a 1-CPU runner).
	// No slurmdbd: accounting_storage/none, so sacct has nothing and
	// collect falls back to scontrol (jobs stay known for MinJobAge
	// seconds after they end). jobcomp/filetxt would give `sacct -c`, but
	// Slurm 22.05 cannot read array tasks back from it.
	text := fmt.Sprintf(`ClusterName=golora-test
SlurmctldHost=%[1]s(127.0.0.1)
SlurmctldPort=%[2]d
SlurmdPort=%[3]d
SlurmUser=%[4]s
SlurmdUser=%[4]s
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=%[5]s
StateSaveLocation=%[6]s/state
SlurmdSpoolDir=%[6]s/spool
SlurmctldPidFile=%[6]s/slurmctld.pid
SlurmdPidFile=%[6]s/slurmd.pid
SlurmctldLogFile=%[6]s/log/slurmctld.log
SlurmdLogFile=%[6]s/log/slurmd.log
ProctrackType=proctrack/pgid
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
SchedulerType=sched/builtin
SchedulerParameters=sched_interval=1
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
MpiDefault=none
ReturnToService=2
SlurmdParameters=config_overrides
MinJobAge=300
NodeName=golora-test NodeAddr=127.0.0.1 NodeHostname=%[1]s CPUs=2 State=UNKNOWN
PartitionName=debug Nodes=golora-test Default=YES MaxTime=INFINITE State=UP
`, host, freePort(t), freePort(t), u.Username, sock, d)
	if err := os.WriteFile(conf, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Setenv("SLURM_CONF", conf)
	c.start(t, bins["slurmctld"], "-D", "-i", "-f", conf)
	c.start(t, bins["slurmd"], "-D", "-f", conf, "-N", "golora-test")
	waitFor(t, 30*time.Second, "the node to come up idle", func() bool {
		out, _ := c.cmd("sinfo", "-h", "-o", "%T").Output()
		return strings.TrimSpace(string(out)) == "idle"
	})
	return c
}

func (c *slurmCluster) start(t *testing.T, bin string, args ...string) {
	t.Helper()
	cmd := c.cmd(bin, args...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	c.procs = append(c.procs, cmd)
}

// waitIdle waits until the cluster has no jobs left.
func (c *slurmCluster) waitIdle(t *testing.T, limit time.Duration) {
	t.Helper()
	waitFor(t, limit, "the jobs to finish", func() bool {
		out, err := c.cmd("squeue", "-h").Output()
		return err == nil && strings.TrimSpace(string(out)) == ""
	})
}

// stop cancels every job, then stops the daemons (slurmd before slurmctld
// before munged), killing any that do not exit within ten seconds.
func (c *slurmCluster) stop(t *testing.T) {
	if t.Failed() {
		logs, _ := filepath.Glob(filepath.Join(c.dir, "*", "slurm", "logs", "*.out"))
		for _, f := range logs {
			b, _ := os.ReadFile(f)
			t.Logf("%s:\n%s", f, b)
		}
		procs, _ := filepath.Glob("/proc/[0-9]*/cmdline")
		for _, f := range procs {
			if b, err := os.ReadFile(f); err == nil && bytes.Contains(b, []byte(c.dir)) {
				st, _ := os.ReadFile(filepath.Join(filepath.Dir(f), "stat"))
				_, st, _ = bytes.Cut(st, []byte(") ")) // state, then the rest
				wchan, _ := os.ReadFile(filepath.Join(filepath.Dir(f), "wchan"))
				t.Logf("running: %s %s (state %.1s, wchan %s)", filepath.Base(filepath.Dir(f)), bytes.ReplaceAll(b, []byte{0}, []byte{' '}), st, wchan)
			}
		}
	}
	if len(c.procs) > 2 {
		c.cmd("scancel", "--full", "-u", currentUser()).Run()
		deadline := time.Now().Add(15 * time.Second)
		for time.Now().Before(deadline) {
			out, err := c.cmd("squeue", "-h").Output()
			if err != nil || strings.TrimSpace(string(out)) == "" {
				break
			}
			time.Sleep(200 * time.Millisecond)
		}
	}
	if t.Failed() {
		for _, f := range []string{"slurmctld.log", "slurmd.log"} {
			b, _ := os.ReadFile(filepath.Join(c.dir, "log", f))
			if len(b) > 4000 {
				b = b[len(b)-4000:]
			}
			t.Logf("%s (tail):\n%s", f, b)
		}
	}
	for i := len(c.procs) - 1; i >= 0; i-- {
		p := c.procs[i]
		p.Process.Signal(syscall.SIGTERM)
		done := make(chan struct{})
		go func() { p.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			syscall.Kill(-p.Process.Pid, syscall.SIGKILL)
			<-done
			t.Errorf("%s did not stop on SIGTERM; killed", p.Path)
		}
	}
	// Nothing of the cluster is left: no daemon, job or golora task runs
	// with a path in its folder.
	procs, _ := filepath.Glob("/proc/[0-9]*/cmdline")
	for _, f := range procs {
		if b, err := os.ReadFile(f); err == nil && bytes.Contains(b, []byte(c.dir)) {
			t.Errorf("still running after the cluster stopped: %s %s", filepath.Base(filepath.Dir(f)), bytes.ReplaceAll(b, []byte{0}, []byte{' '}))
		}
	}
}

func currentUser() string {
	u, err := user.Current()
	if err != nil {
		return "root"
	}
	return u.Username
}

func freePort(t *testing.T) int {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// waitFor polls ok every 250 ms until it holds. It gives up once limit has
// passed and it has also slept limit in polls: a virtual machine paused
// for minutes (seen on the shared development machine) moves the clock on
// without the jobs getting any time.
func waitFor(t *testing.T, limit time.Duration, what string, ok func() bool) {
	t.Helper()
	const poll = 250 * time.Millisecond
	start := time.Now()
	for slept := time.Duration(0); !ok(); slept += poll {
		if time.Since(start) > limit && slept > limit {
			t.Fatalf("timed out after %v waiting for %s", time.Since(start).Round(time.Second), what)
		}
		time.Sleep(poll)
	}
}
