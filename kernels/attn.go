package kernels

import "strconv"

// Attention's tile products (nn/attention.go) are small, 64 query rows by
// up to 256 keys by the head size, and there are many of them: through
// the blocked GEMM each one packed both operands, and in the backward
// packing and transposing cost as much as the multiply-adds. AttnGemm
// multiplies them where they lie: B row-major (keys or values as stored,
// or a transposed copy made once per call), A row-major or transposed,
// which the tiles' probabilities are used as without a copy. It also
// skips the multiply-adds the causal mask makes zero (Cut), which the
// blocked GEMM computes.

// attnKC is the depth of a chunk of B (a variable for the benchmarks).
var attnKC = 64

// attnTileRows is the main tile's rows: 6 (6x64), or 4 (the 4x64 tile
// alone, for the tests). A 12x32 tile, the GEMM's shape, ran attention
// 8% slower than 6x64: twice the calls for the score tiles' 256 columns.
var attnTileRows = 6

// CutMode says which part of an AttnGemm product the caller needs.
type CutMode int

const (
	CutNone      CutMode = iota
	CutCols              // row i of C needs only columns j < i+D (the rest are left as they were)
	CutDepth             // A(i, p) = 0 for p >= i+D
	CutDepthFrom         // A(i, p) = 0 for p < i+D
)

// Cut is the causal band of a product: a mode and its diagonal offset D.
type Cut struct {
	Mode CutMode
	D    int
}

// AttnGemm sets C = A·B, or adds A·B to C when acc, for the M×K matrix A
// with A(i, p) = A[i*ars+p*acs] (row-major: ars = lda, acs = 1; stored
// transposed: ars = 1, acs = lda), B row-major K×N (row stride ldb) and C
// row-major M×N (ldc), leaving out what cut says is zero or not needed.
// One of ars and acs must be 1. It runs on the calling goroutine.
func AttnGemm(M, N, K int, A []float32, ars, acs int, B []float32, ldb int, C []float32, ldc int, acc bool, cut Cut) {
	if M <= 0 || N <= 0 {
		return
	}
	if ars != 1 && acs != 1 || ldb < N || ldc < N {
		panic("kernels: AttnGemm: bad strides ars=" + strconv.Itoa(ars) + " acs=" + strconv.Itoa(acs) +
			" ldb=" + strconv.Itoa(ldb) + " ldc=" + strconv.Itoa(ldc) + " for N=" + strconv.Itoa(N))
	}
	_ = C[(M-1)*ldc+N-1]
	if K > 0 {
		_ = A[(M-1)*ars+(K-1)*acs]
		_ = B[(K-1)*ldb+N-1]
	}
	if !attnAsm || K == 0 {
		attnGemmBlocked(M, N, K, A, ars, acs, B, ldb, C, ldc, acc)
		return
	}
	// Whole groups of the main tile's rows, then the last rows 4 by 64.
	mr := attnTileRows
	m0 := M - M%mr
	attnRows(0, m0, mr, 64, N, K, A, ars, acs, B, ldb, C, ldc, acc, cut)
	attnRows(m0, M, 4, 64, N, K, A, ars, acs, B, ldb, C, ldc, acc, cut)
}

// attnRows is AttnGemm for rows [i0, i1) in groups of mr with tiles nr
// wide: column chunks of the tile's width, then depth chunks of attnKC
// rows of B (L1-sized: B rows of keys or values are strided), then the
// row groups, so each chunk of B is read from L2 once.
func attnRows(i0, i1, mr, nr, N, K int, A []float32, ars, acs int, B []float32, ldb int, C []float32, ldc int, acc bool, cut Cut) {
	for j := 0; j < N; j += nr {
		for kc := 0; kc < K; kc += attnKC {
			for i := i0; i < i1; i += mr {
				rows := min(mr, i1-i)
				last := i + rows - 1
				n, k0, k1 := N, 0, K
				switch cut.Mode {
				case CutCols:
					n = min(N, last+cut.D)
				case CutDepth:
					k1 = min(K, last+cut.D)
				case CutDepthFrom:
					k0 = max(0, i+cut.D)
				}
				if j >= n {
					continue
				}
				w := min(nr, n-j)
				// The chunk holding k0 is the group's first: it sets C or
				// adds to it as asked, the later ones add.
				first := k0 >= kc && k0 < kc+attnKC || kc == 0 && k0 >= K
				if k1 <= k0 {
					if first && !acc {
						for r := i; r <= last; r++ {
							clear(C[r*ldc+j : r*ldc+j+w])
						}
					}
					continue
				}
				p0, p1 := max(k0, kc), min(k1, kc+attnKC)
				if p0 >= p1 {
					continue
				}
				attnTile(p1-p0, A[i*ars+p0*acs:], ars, acs, B[p0*ldb+j:], ldb, C[i*ldc+j:], ldc, rows, w, acc || !first)
			}
		}
	}
}

// attnGemmBlocked is AttnGemm through the blocked GEMM (no AVX-512 tile
// kernel, or K == 0): the cut only saves work, so it is ignored.
func attnGemmBlocked(M, N, K int, A []float32, ars, acs int, B []float32, ldb int, C []float32, ldc int, acc bool) {
	var beta float32
	if acc {
		beta = 1
	}
	if acs == 1 {
		SgemmSerial(false, false, M, N, K, 1, A, max(ars, K, 1), B, ldb, beta, C, ldc)
	} else {
		SgemmSerial(true, false, M, N, K, 1, A, acs, B, ldb, beta, C, ldc)
	}
}

// TransposeScaled sets dst[p*ldd+j] = alpha*src[j*lds+p] for j < n and
// p < k: n stored rows of k values become k rows of n.
func TransposeScaled(dst []float32, ldd int, src []float32, lds, n, k int, alpha float32) {
	if n <= 0 || k <= 0 {
		return
	}
	_ = src[(n-1)*lds+k-1]
	_ = dst[(k-1)*ldd+n-1]
	n8, k8 := transposeFast(dst, ldd, src, lds, n, k)
	for j := 0; j < n; j++ {
		p0 := 0
		if j < n8 {
			p0 = k8
		}
		for p, v := range src[j*lds+p0 : j*lds+k] {
			dst[(p0+p)*ldd+j] = v
		}
	}
	if alpha != 1 {
		for p := 0; p < k; p++ {
			Scale(alpha, dst[p*ldd:p*ldd+n])
		}
	}
}
