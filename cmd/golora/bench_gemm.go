package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/golora/golora/kernels"
	"github.com/spf13/cobra"
)

// benchGemmCmd times kernels.Sgemm on one shape and prints one JSON line,
// the median of repeated runs after a warm-up, for bench/gemm_vs_openblas.sh.
var benchGemmCmd = &cobra.Command{
	Use:   "gemm M N K",
	Short: "Time Sgemm on C[M,N] = op(A)[M,K]·op(B)[K,N]; prints a JSON line with gflops",
	Args:  cobra.ExactArgs(3),
	RunE:  runBenchGemm,
}

var benchGemmFlags struct {
	threads        int
	repeat         int
	transA, transB bool
}

func init() {
	f := benchGemmCmd.Flags()
	f.IntVar(&benchGemmFlags.threads, "threads", kernels.Threads(), "kernel goroutines (default GOMAXPROCS or $GOLORA_THREADS)")
	f.IntVar(&benchGemmFlags.repeat, "repeat", 0, "timed runs (0: enough for about 2 s, 3 to 50)")
	f.BoolVar(&benchGemmFlags.transA, "transa", false, "A is stored K×M and transposed")
	f.BoolVar(&benchGemmFlags.transB, "transb", false, "B is stored N×K and transposed")
	benchCmd.AddCommand(benchGemmCmd)
}

type benchGemmResult struct {
	M        int     `json:"m"`
	N        int     `json:"n"`
	K        int     `json:"k"`
	TransA   bool    `json:"transa"`
	TransB   bool    `json:"transb"`
	Threads  int     `json:"threads"`
	Repeat   int     `json:"repeat"`
	GFlops   float64 `json:"gflops"`
	MedianMs float64 `json:"median_ms"`
	BestMs   float64 `json:"best_ms"`
	// GFlopsCPU is the work per CPU-second of the process over the timed
	// runs (all threads): on a shared machine it shows efficiency when
	// wall-clock rates mostly show how much CPU the process was given.
	GFlopsCPU float64 `json:"gflops_cpu,omitempty"`
}

// procCPU returns this process's user+system CPU time from /proc/self/stat
// (Linux, 10 ms ticks), or -1 where that is unavailable.
func procCPU() time.Duration {
	b, err := os.ReadFile("/proc/self/stat")
	if err != nil {
		return -1
	}
	// Fields after the parenthesised command name: state is field 3,
	// utime and stime are fields 14 and 15.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return -1
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 13 {
		return -1
	}
	u, err1 := strconv.ParseInt(f[11], 10, 64)
	s, err2 := strconv.ParseInt(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return -1
	}
	return time.Duration(u+s) * 10 * time.Millisecond
}

func runBenchGemm(cmd *cobra.Command, args []string) error {
	var dims [3]int
	for i, a := range args {
		v, err := strconv.Atoi(a)
		if err != nil || v < 1 {
			return fmt.Errorf("bench gemm: %q is not a positive dimension (usage: golora bench gemm M N K)", a)
		}
		dims[i] = v
	}
	M, N, K := dims[0], dims[1], dims[2]
	fl := benchGemmFlags
	kernels.SetThreads(fl.threads)

	rng := rand.New(rand.NewPCG(1, 2))
	fill := func(n int) []float32 {
		s := make([]float32, n)
		for i := range s {
			s[i] = rng.Float32()*2 - 1
		}
		return s
	}
	A, B, C := fill(M*K), fill(K*N), make([]float32, M*N)
	lda, ldb := K, N
	if fl.transA {
		lda = M
	}
	if fl.transB {
		ldb = K
	}
	gemm := func() time.Duration {
		t0 := time.Now()
		kernels.Sgemm(fl.transA, fl.transB, M, N, K, 1, A, lda, B, ldb, 0, C, N)
		return time.Since(t0)
	}
	warm := gemm() + gemm() // page in C, fill the packing pools
	reps := fl.repeat
	if reps <= 0 {
		reps = min(50, max(3, int(4*time.Second/warm)))
	}
	ts := make([]time.Duration, reps)
	cpu0 := procCPU()
	for i := range ts {
		ts[i] = gemm()
	}
	cpu := procCPU() - cpu0
	sort.Slice(ts, func(i, j int) bool { return ts[i] < ts[j] })
	med := ts[len(ts)/2].Seconds()
	flops := 2 * float64(M) * float64(N) * float64(K)
	res := benchGemmResult{
		M: M, N: N, K: K, TransA: fl.transA, TransB: fl.transB,
		Threads: kernels.Threads(), Repeat: reps,
		GFlops:   flops / med / 1e9,
		MedianMs: med * 1e3, BestMs: ts[0].Seconds() * 1e3,
	}
	if cpu0 >= 0 && cpu > 0 {
		res.GFlopsCPU = flops * float64(reps) / cpu.Seconds() / 1e9
	}
	return json.NewEncoder(cmd.OutOrStdout()).Encode(res)
}
