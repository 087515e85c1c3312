package kernels

import (
	"math"

	"github.com/golora/golora/tensor"
)

// GemmHalf is Sgemm with a 16-bit B: C = A·op(B) + beta*C, where B holds
// bfloat16 or IEEE half bit patterns (dt) and everything is accumulated in
// float32. It serves a frozen base weight W [out, in] kept in its
// checkpoint's dtype:
//
//	forward  y = x·Wᵀ:  GemmHalf(dt, true, n, out, in, x, in, W, in, 0, y, out)
//	backward dx += dy·W: GemmHalf(dt, false, n, in, out, dy, out, W, in, 1, dx, in)
//
// Numerics. For BF16, A's values are rounded to bfloat16 (round to nearest
// even) before they meet B, as PyTorch's CPU autocast does with the
// activations of a bf16 matmul; each product of two bfloat16 values is
// exact in float32 and the sums are float32. On CPUs with AVX512_BF16 the
// products run on VDPBF16PS (two bf16 pairs per float32 lane per
// instruction), elsewhere B is widened to float32 while it is packed (a
// 16-bit shift) and the float32 micro-kernel does the rest, so both paths
// compute the same products and differ only in summation order. For F16,
// A stays float32 and B is widened exactly (VCVTPH2PS), as llama.cpp's F16
// weights on CPU: only the weights are rounded.
//
// The blocking, packing and threading are Sgemm's (sgemm_blocked.go);
// only packing and, for BF16 with AVX512_BF16, the micro-kernel differ.
func GemmHalf(dt tensor.DType, transB bool, M, N, K int, A []float32, lda int, B []uint16, ldb int, beta float32, C []float32, ldc int) {
	if dt != tensor.BF16 && dt != tensor.F16 {
		panic("kernels: GemmHalf dtype " + dt.String())
	}
	checkGemmHalf(transB, M, N, K, A, lda, B, ldb, C, ldc)
	g := gemm{M: M, N: N, K: K, alpha: 1, A: A, lda: lda, ldb: ldb, beta: beta, C: C, ldc: ldc, transB: transB, bh: B, bdt: dt}
	g.run(Threads())
}

func checkGemmHalf(transB bool, M, N, K int, A []float32, lda int, B []uint16, ldb int, C []float32, ldc int) {
	br, bc := K, N
	if transB {
		br, bc = N, K
	}
	if ldb < max(bc, 1) {
		panic(badLdB)
	}
	if br > 0 && bc > 0 && len(B) < (br-1)*ldb+bc {
		panic(shortB)
	}
	if M < 0 || N < 0 || K < 0 {
		panic(badDim)
	}
	if lda < max(K, 1) {
		panic(badLdA)
	}
	if ldc < max(N, 1) {
		panic(badLdC)
	}
	if M > 0 && K > 0 && len(A) < (M-1)*lda+K {
		panic(shortA)
	}
	if M > 0 && N > 0 && len(C) < (M-1)*ldc+N {
		panic(shortC)
	}
}

// packAFor and packBFor pack for micro-kernel ge, from a 16-bit B when
// the product has one.
func (g *gemm) packAFor(ge *geom, dst []float32, i0, mcur, pc, kcur int) {
	if g.bh != nil {
		g.packAHalf(ge, dst, i0, mcur, pc, kcur)
		return
	}
	g.packA(ge.mr, dst, i0, mcur, pc, kcur)
}

func (g *gemm) packBFor(ge *geom, dst []float32, pc, kcur, jc, ncur, p0, p1 int) {
	if g.bh != nil {
		g.packBHalf(ge, dst, pc, kcur, jc, ncur, p0, p1)
		return
	}
	g.packB(ge.nr, dst, pc, kcur, jc, ncur, p0, p1)
}

// roundBF16 rounds float32 values to the nearest bfloat16 (even on ties),
// keeping them float32: the activations of a bf16 product.
func roundBF16(x []float32) {
	for i, v := range x {
		b := math.Float32bits(v)
		if b&0x7fffffff > 0x7f800000 {
			continue // NaN stays NaN
		}
		b += 0x7fff + (b>>16)&1
		x[i] = math.Float32frombits(b &^ 0xffff)
	}
}

// widenHalf writes the float32 values of src (dtype dt) to dst.
func widenHalf(dt tensor.DType, dst []float32, src []uint16) {
	src = src[:len(dst)]
	done := widenAsm(dt, dst, src)
	if dt == tensor.BF16 {
		for i, h := range src[done:] {
			dst[done+i] = math.Float32frombits(uint32(h) << 16)
		}
		return
	}
	for i, h := range src[done:] {
		dst[done+i] = tensor.F16ToF32(h)
	}
}

// halfGemmGeneric is the reference and tiny-product path of GemmHalf.
func (g *gemm) halfGeneric() {
	M, N, K := g.M, g.N, g.K
	a := make([]float32, K)
	for i := 0; i < M; i++ {
		c := g.C[i*g.ldc : i*g.ldc+N]
		if g.beta == 0 {
			clear(c)
		} else if g.beta != 1 {
			for j := range c {
				c[j] *= g.beta
			}
		}
		copy(a, g.A[i*g.lda:i*g.lda+K])
		if g.bdt == tensor.BF16 {
			roundBF16(a)
		}
		for p, av := range a {
			if av == 0 {
				continue
			}
			if g.transB {
				for j := range c {
					c[j] += av * g.bdt.Widen(g.bh[j*g.ldb+p])
				}
			} else {
				b := g.bh[p*g.ldb : p*g.ldb+N]
				for j := range c {
					c[j] += av * g.bdt.Widen(b[j])
				}
			}
		}
	}
}

// pickHalfGeom is the micro-kernel for a 16-bit B: the bf16 dot-product
// one when the CPU has it and B is BF16, else the float32 one (B widened
// while packing).
func (g *gemm) pickHalfGeom() *geom {
	if g.bdt == tensor.BF16 && geomBF16 != nil && useAVX512 {
		return geomBF16
	}
	return pickGeom()
}

// HalfKernel names the kernel GemmHalf runs for a product of more than a
// few rows with a dt weight: "amx" (AMX tiles, BF16), "avx512bf16"
// (VDPBF16PS, BF16), or the float32 kernel the weight is widened for
// ("avx512", "avx2", "neon", "generic"); "" for other dtypes. The
// benchmarks report it.
func HalfKernel(dt tensor.DType) string {
	if dt != tensor.BF16 && dt != tensor.F16 {
		return ""
	}
	if dt == tensor.BF16 && useAMX {
		return "amx"
	}
	g := gemm{bdt: dt}
	return g.pickHalfGeom().name
}

// pairs reports whether ge takes bf16-pair panels (VDPBF16PS) rather than
// float32 ones.
func pairs(ge *geom) bool { return ge != nil && ge == geomBF16 }

// packAHalf is packA for a 16-bit B (A untransposed, alpha 1). For the
// float32 kernel it packs as usual and rounds to bf16 when B is BF16. For
// the pair kernel, panel ip holds, at word q*mr+i, rows i's values at
// depths 2q and 2q+1 rounded to bf16, low half first (a zero pads an odd
// depth).
func (g *gemm) packAHalf(ge *geom, dst []float32, i0, mcur, pc, kcur int) {
	mr := ge.mr
	if !pairs(ge) {
		g.packA(mr, dst, i0, mcur, pc, kcur)
		if g.bdt == tensor.BF16 {
			for ip := 0; ip*mr < mcur; ip++ {
				roundBF16(dst[ip*astep(mr, kcur) : ip*astep(mr, kcur)+mr*kcur])
			}
		}
		return
	}
	kp := (kcur + 1) / 2
	for ip := 0; ip*mr < mcur; ip++ {
		panel := dst[ip*astep(mr, kcur) : ip*astep(mr, kcur)+mr*kp]
		r := i0 + ip*mr
		rows := min(mr, i0+mcur-r)
		packPairsA(panel, g.A[r*g.lda+pc:], g.lda, rows, kcur, mr)
	}
}

// packPairsA writes n rows of src (stride ld), kcur values each, as bf16
// pairs into a panel of width w: word q*w+i = bf16(src[i][2q]) |
// bf16(src[i][2q+1])<<16; rows n..w-1 are zero.
func packPairsA(panel, src []float32, ld, n, kcur, w int) {
	kp := (kcur + 1) / 2
	for i := 0; i < n; i++ {
		row := src[i*ld : i*ld+kcur]
		q := 0
		for ; 2*q+1 < kcur; q++ {
			lo, hi := tensor.F32ToBF16(row[2*q]), tensor.F32ToBF16(row[2*q+1])
			panel[q*w+i] = math.Float32frombits(uint32(lo) | uint32(hi)<<16)
		}
		if q < kp {
			panel[q*w+i] = math.Float32frombits(uint32(tensor.F32ToBF16(row[2*q])))
		}
	}
	for i := n; i < w; i++ {
		for q := 0; q < kp; q++ {
			panel[q*w+i] = 0
		}
	}
}

// packBHalf is packB from a 16-bit B: float32 panels (widened) for the
// float32 kernel, bf16-pair panels (word q*nr+j = B(2q, j) | B(2q+1, j)<<16)
// for the pair kernel. Columns past the block and an odd depth's last
// half-pair are zero.
func (g *gemm) packBHalf(ge *geom, dst []float32, pc, kcur, jc, ncur, p0, p1 int) {
	if p0 >= p1 {
		return
	}
	nr := ge.nr
	if pairs(ge) {
		kp := (kcur + 1) / 2
		for jp := p0; jp < p1; jp++ {
			panel := dst[jp*bstep(nr) : jp*bstep(nr)+nr*kp]
			j0 := jc + jp*nr
			cols := min(nr, jc+ncur-j0)
			if g.transB {
				packPairsBT(panel, g.bh[j0*g.ldb+pc:], g.ldb, cols, kcur, nr)
			} else {
				packPairsBN(panel, g.bh[pc*g.ldb+j0:], g.ldb, cols, kcur, nr)
			}
		}
		return
	}
	if g.transB {
		// Widen nr stored rows into float32 rows, then transpose them as
		// Sgemm packs a transposed B.
		tp := getBuf(nr * kcur)
		defer putBuf(tp)
		t := *tp
		for jp := p0; jp < p1; jp++ {
			j0 := jc + jp*nr
			cols := min(nr, jc+ncur-j0)
			for j := 0; j < cols; j++ {
				widenHalf(g.bdt, t[j*kcur:(j+1)*kcur], g.bh[(j0+j)*g.ldb+pc:])
			}
			transposeInto(dst[jp*bstep(nr):jp*bstep(nr)+nr*kcur], t, kcur, cols, kcur, nr)
		}
		return
	}
	// Row by row, B read sequentially, each panel's run widened in place.
	for p := 0; p < kcur; p++ {
		row := g.bh[(pc+p)*g.ldb:]
		for jp := p0; jp < p1; jp++ {
			j0 := jc + jp*nr
			cols := min(nr, jc+ncur-j0)
			d := dst[jp*bstep(nr)+p*nr : jp*bstep(nr)+p*nr+nr]
			widenHalf(g.bdt, d[:cols], row[j0:])
			clear(d[cols:])
		}
	}
}

// packPairsBT packs n columns of a transposed B (stored rows of src, stride
// ld) as bf16 pairs: two consecutive values of a stored row are already a
// pair, so this is a 32-bit transpose.
func packPairsBT(panel []float32, src []uint16, ld, n, kcur, w int) {
	kp := (kcur + 1) / 2
	for j := 0; j < n; j++ {
		row := src[j*ld : j*ld+kcur]
		q := 0
		for ; 2*q+1 < kcur; q++ {
			panel[q*w+j] = math.Float32frombits(uint32(row[2*q]) | uint32(row[2*q+1])<<16)
		}
		if q < kp {
			panel[q*w+j] = math.Float32frombits(uint32(row[2*q]))
		}
	}
	for j := n; j < w; j++ {
		for q := 0; q < kp; q++ {
			panel[q*w+j] = 0
		}
	}
}

// packPairsBN packs n columns of an untransposed B (rows of src, stride
// ld) as bf16 pairs, interleaving rows 2q and 2q+1.
func packPairsBN(panel []float32, src []uint16, ld, n, kcur, w int) {
	kp := (kcur + 1) / 2
	for q := 0; q < kp; q++ {
		d := panel[q*w : q*w+w]
		r0 := src[2*q*ld : 2*q*ld+n]
		if 2*q+1 < kcur {
			r1 := src[(2*q+1)*ld : (2*q+1)*ld+n]
			for j := range r0 {
				d[j] = math.Float32frombits(uint32(r0[j]) | uint32(r1[j])<<16)
			}
		} else {
			for j := range r0 {
				d[j] = math.Float32frombits(uint32(r0[j]))
			}
		}
		clear(d[n:])
	}
}

// gemvHalf is gemv for a 16-bit B: M <= gemvRows rows of C, each a
// matrix-vector product bound by reading B once.
func (g *gemm) gemvHalf(threads int) {
	M, K := g.M, g.K
	ap := getBuf(M * K)
	defer putBuf(ap)
	a := *ap
	for i := 0; i < M; i++ {
		copy(a[i*K:i*K+K], g.A[i*g.lda:i*g.lda+K])
	}
	var ab []uint16
	if g.bdt == tensor.BF16 {
		roundBF16(a)
		if g.transB && useAVX512 && useAVX512BF16 {
			// The rounded rows as bf16, for VDPBF16PS against the
			// weight's rows (the decode products).
			bp := getBuf((M*K + 1) / 2)
			defer putBuf(bp)
			ab = u16(*bp)[:M*K]
			for i, v := range a {
				ab[i] = uint16(math.Float32bits(v) >> 16)
			}
		}
	}
	if threads == 1 {
		g.gemvHalfRange(a, ab, 0, g.N)
		return
	}
	gc := *g
	splitCols(g.N, threads, splitMinCols(K, 2), func(lo, hi int) { gc.gemvHalfRange(a, ab, lo, hi) })
}

// gemvHalfRange computes columns [lo,hi) of C from A's rows a (rounded
// float32) or ab (bf16, transposed BF16 B only).
func (g *gemm) gemvHalfRange(a []float32, ab []uint16, lo, hi int) {
	M, K := g.M, g.K
	switch {
	case ab != nil:
		// Four weight rows per pass (a short group repeats its last row,
		// so every column's sum is computed alike).
		var w [4][]uint16
		var out [4]float32
		for j := lo; j < hi; j += 4 {
			nc := min(4, hi-j)
			for c := range w {
				r := j + min(c, nc-1)
				w[c] = g.bh[r*g.ldb : r*g.ldb+K]
			}
			for i := 0; i < M; i++ {
				dotBF16Pairs4(&w, ab[i*K:i*K+K], &out)
				for c := range nc {
					g.set(i, j+c, out[c])
				}
			}
		}
		return
	case g.transB:
		for j := lo; j < hi; j++ {
			b := g.bh[j*g.ldb : j*g.ldb+K]
			for i := 0; i < M; i++ {
				g.set(i, j, dotHalf(g.bdt, b, a[i*K:i*K+K]))
			}
		}
		return
	}
	const chunk = 1024
	tp := getBuf(chunk)
	defer putBuf(tp)
	for j0 := lo; j0 < hi; j0 += chunk {
		j1 := min(j0+chunk, hi)
		t := (*tp)[:j1-j0]
		g.scaleCols(j0, j1)
		for p := 0; p < K; p++ {
			widenHalf(g.bdt, t, g.bh[p*g.ldb+j0:])
			for i := 0; i < M; i++ {
				if av := a[i*K+p]; av != 0 {
					axpy(av, t, g.C[i*g.ldc+j0:i*g.ldc+j1])
				}
			}
		}
	}
}

// dotHalf returns Σ widen(w[i])·x[i] over len(x).
func dotHalf(dt tensor.DType, w []uint16, x []float32) float32 {
	if dt == tensor.F16 {
		return dotF16(w[:len(x)], x)
	}
	return dotBF16(w[:len(x)], x)
}

// dotBF16PairsTail adds Σ w[r][i]·x[i] over i in [m, len(x)) to out[r].
func dotBF16PairsTail(w *[4][]uint16, x []uint16, m int, out *[4]float32) {
	for r := range out {
		s := out[r]
		for i := m; i < len(x); i++ {
			s += tensor.BF16ToF32(w[r][i]) * tensor.BF16ToF32(x[i])
		}
		out[r] = s
	}
}

// dotBF16Generic is the portable dotBF16.
func dotBF16Generic(w []uint16, x []float32) float32 {
	w = w[:len(x)]
	var s0, s1, s2, s3 float32
	i := 0
	for ; i+4 <= len(x); i += 4 {
		s0 += math.Float32frombits(uint32(w[i])<<16) * x[i]
		s1 += math.Float32frombits(uint32(w[i+1])<<16) * x[i+1]
		s2 += math.Float32frombits(uint32(w[i+2])<<16) * x[i+2]
		s3 += math.Float32frombits(uint32(w[i+3])<<16) * x[i+3]
	}
	for ; i < len(x); i++ {
		s0 += math.Float32frombits(uint32(w[i])<<16) * x[i]
	}
	return (s0 + s1) + (s2 + s3)
}
