// Package kernels holds golora's hot float32 loops: GEMM and the vector
// primitives the layers are built from. Each kernel has a plain Go reference
// that is always compiled; faster versions are chosen at run time from the
// CPU's features (golang.org/x/sys/cpu): on amd64 a 12x32 AVX-512 GEMM
// micro-kernel, else a 6x16 AVX2+FMA one, and AVX2 vector loops; elsewhere,
// or with the build tag purego, the pure-Go paths.
//
// Sgemm is a Goto/BLIS-style blocked GEMM (sgemm_blocked.go) with
// matrix-vector and tiny-product shortcuts; see docs/BENCHMARKS.md for how
// it compares with OpenBLAS.
package kernels

import "github.com/golora/golora/tensor"

// Sgemm computes C = alpha*op(A)*op(B) + beta*C for row-major matrices, where
// op(X) is X or its transpose. op(A) is M×K, op(B) is K×N and C is M×N;
// lda, ldb and ldc are the row strides of the matrices as stored.
//
// When beta == 0, C is not read (so it may hold NaN or garbage). Work is
// split over Threads() goroutines when the product is big enough to gain.
//
// Shapes used by golora: a Linear forward y = x·Wᵀ with W [out,in] is
// Sgemm(false, true, n, out, in, 1, x, in, W, in, 0, y, out); its backward
// is dW += dyᵀ·x, Sgemm(true, false, ...), and dx = dy·W, Sgemm(false, false, ...).
func Sgemm(transA, transB bool, M, N, K int, alpha float32, A []float32, lda int, B []float32, ldb int, beta float32, C []float32, ldc int) {
	checkGemm(transA, transB, M, N, K, A, lda, B, ldb, C, ldc)
	g := gemm{transA: transA, transB: transB, M: M, N: N, K: K, alpha: alpha, A: A, lda: lda, B: B, ldb: ldb, beta: beta, C: C, ldc: ldc}
	g.runThreaded()
}

// runThreaded runs g on Threads() goroutines, timed per shape when the
// kernels' stats are on (bench --breakdown): the one entry of the threaded
// products (Sgemm, SgemmThen, SgemmPackedBT).
func (g *gemm) runThreaded() {
	if stats.on.Load() {
		timedGemm(g, Threads())
		return
	}
	g.run(Threads())
}

// SgemmSerial is Sgemm on the calling goroutine alone, for callers that
// already split their work over the threads (attention, one head per
// goroutine): a threaded Sgemm inside kernels.For finds the pool busy and
// starts goroutines of its own, oversubscribing the cores.
func SgemmSerial(transA, transB bool, M, N, K int, alpha float32, A []float32, lda int, B []float32, ldb int, beta float32, C []float32, ldc int) {
	checkGemm(transA, transB, M, N, K, A, lda, B, ldb, C, ldc)
	g := gemm{transA: transA, transB: transB, M: M, N: N, K: K, alpha: alpha, A: A, lda: lda, B: B, ldb: ldb, beta: beta, C: C, ldc: ldc}
	g.run(1)
}

// gemm carries one call's arguments through the blocked driver.
type gemm struct {
	transA, transB bool
	M, N, K        int
	alpha          float32
	A              []float32
	lda            int
	B              []float32
	ldb            int
	beta           float32
	C              []float32
	ldc            int

	// bh, when set, is B as 16-bit values of dtype bdt (GemmHalf; B nil).
	bh  []uint16
	bdt tensor.DType

	// then, when set, is SgemmThen's epilogue over column ranges of C.
	then func(j0, j1 int)
	// pb, when set, holds op(B) packed (SgemmPackedBT).
	pb *PackedB
	// inPlaceA: the micro-kernel reads full mr-row panels of op(A) from A
	// itself (blocked sets it); only the first (kernelPack) and a partial
	// last panel are packed.
	inPlaceA bool
}

// Below smallWork multiply-adds the packing and dispatch overheads of the
// blocked path cost more than they save; a direct loop wins.
const smallWork = 2048

// Each goroutine should get at least this many multiply-adds, or starting
// and joining it costs more than it saves (a few microseconds).
const workPerThread = 1 << 18

// gemvRows is the largest M sent to the matrix-vector path: with so few
// rows of C, packing B would cost as much as the multiply, which is bound by
// reading B once from memory anyway.
const gemvRows = 4

func (g *gemm) run(threads int) {
	if g.M == 0 || g.N == 0 {
		return
	}
	if g.K == 0 || g.alpha == 0 {
		g.scaleC()
		return
	}
	work := g.M * g.N * g.K
	threads = max(1, min(threads, work/workPerThread))
	switch {
	case g.bh != nil && work < smallWork:
		g.halfGeneric()
	case g.bh != nil && g.bdt == tensor.BF16 && useAMX && (g.transB || g.M > gemvRows):
		g.amx(threads) // decode rows too: see amxForward
	case g.bh != nil && g.M <= gemvRows:
		g.gemvHalf(threads)
	case work < smallWork:
		sgemmGeneric(g.transA, g.transB, g.M, g.N, g.K, g.alpha, g.A, g.lda, g.B, g.ldb, g.beta, g.C, g.ldc)
	case g.M <= gemvRows:
		g.gemv(threads)
	default:
		g.blocked(threads)
	}
}

// scaleC sets C = beta*C, without reading C when beta == 0.
func (g *gemm) scaleC() { g.scaleCols(0, g.N) }

// scaleCols sets columns [j0,j1) of C to beta times themselves, without
// reading them when beta == 0.
func (g *gemm) scaleCols(j0, j1 int) {
	for i := 0; i < g.M; i++ {
		c := g.C[i*g.ldc+j0 : i*g.ldc+j1]
		if g.beta == 0 {
			clear(c)
		} else if g.beta != 1 {
			scale(g.beta, c)
		}
	}
}

// Panic messages for argument errors, gonum style: these are programming
// errors, not conditions to handle.
const (
	badDim = "kernels: negative dimension"
	badLdA = "kernels: bad lda"
	badLdB = "kernels: bad ldb"
	badLdC = "kernels: bad ldc"
	shortA = "kernels: short A"
	shortB = "kernels: short B"
	shortC = "kernels: short C"
)

func checkGemm(transA, transB bool, M, N, K int, A []float32, lda int, B []float32, ldb int, C []float32, ldc int) {
	if M < 0 || N < 0 || K < 0 {
		panic(badDim)
	}
	ar, ac := M, K
	if transA {
		ar, ac = K, M
	}
	br, bc := K, N
	if transB {
		br, bc = N, K
	}
	if lda < max(ac, 1) {
		panic(badLdA)
	}
	if ldb < max(bc, 1) {
		panic(badLdB)
	}
	if ldc < max(N, 1) {
		panic(badLdC)
	}
	if ar > 0 && ac > 0 && len(A) < (ar-1)*lda+ac {
		panic(shortA)
	}
	if br > 0 && bc > 0 && len(B) < (br-1)*ldb+bc {
		panic(shortB)
	}
	if M > 0 && N > 0 && len(C) < (M-1)*ldc+N {
		panic(shortC)
	}
}
