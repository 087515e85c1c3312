package kernels

// sgemmGeneric is the reference: a straightforward triple loop with float32
// accumulation. Faster paths must agree with it to rounding. It is also the
// path for tiny products, where it beats packing.
func sgemmGeneric(transA, transB bool, M, N, K int, alpha float32, A []float32, lda int, B []float32, ldb int, beta float32, C []float32, ldc int) {
	for i := 0; i < M; i++ {
		c := C[i*ldc : i*ldc+N]
		if beta == 0 {
			clear(c)
		} else if beta != 1 {
			for j := range c {
				c[j] *= beta
			}
		}
		for p := 0; p < K; p++ {
			var a float32
			if transA {
				a = A[p*lda+i]
			} else {
				a = A[i*lda+p]
			}
			a *= alpha
			if a == 0 {
				continue
			}
			if transB {
				for j := range c {
					c[j] += a * B[j*ldb+p]
				}
			} else {
				b := B[p*ldb : p*ldb+N]
				for j := range c {
					c[j] += a * b[j]
				}
			}
		}
	}
}

var geomGeneric = geom{"generic", 6, 16, kernel6x16Generic, nil, nil, nil}

// kernel6x16Generic is the pure-Go micro-kernel with the same contract as
// the assembly sgemmKernel6x16 (see sgemm_amd64.go). It walks the tile in
// 2x4 sub-tiles so the 8 accumulators and 6 operands fit in the 16 float
// registers of amd64 and arm64; a whole-tile accumulator array would live in
// memory and run several times slower.
func kernel6x16Generic(k int, a, b, c []float32, ldc int, beta float32) {
	const mr, nr = 6, 16
	a = a[:k*mr]
	b = b[:k*nr]
	for i := 0; i < mr; i += 2 {
		for j := 0; j < nr; j += 4 {
			var c00, c01, c02, c03, c10, c11, c12, c13 float32
			ai, bj := i, j
			for p := 0; p < k; p++ {
				a0, a1 := a[ai], a[ai+1]
				bq := (*[4]float32)(b[bj : bj+4])
				b0, b1, b2, b3 := bq[0], bq[1], bq[2], bq[3]
				c00 += a0 * b0
				c01 += a0 * b1
				c02 += a0 * b2
				c03 += a0 * b3
				c10 += a1 * b0
				c11 += a1 * b1
				c12 += a1 * b2
				c13 += a1 * b3
				ai += mr
				bj += nr
			}
			r0 := (*[4]float32)(c[i*ldc+j:])
			r1 := (*[4]float32)(c[(i+1)*ldc+j:])
			if beta == 0 {
				*r0 = [4]float32{c00, c01, c02, c03}
				*r1 = [4]float32{c10, c11, c12, c13}
				continue
			}
			*r0 = [4]float32{c00 + beta*r0[0], c01 + beta*r0[1], c02 + beta*r0[2], c03 + beta*r0[3]}
			*r1 = [4]float32{c10 + beta*r1[0], c11 + beta*r1[1], c12 + beta*r1[2], c13 + beta*r1[3]}
		}
	}
}
