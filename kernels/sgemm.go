// Package kernels holds golora's hot float32 loops: GEMM and the vector
// primitives the layers are built from. Each kernel has a plain Go reference
// that is always compiled; faster versions are chosen at run time.
package kernels

// Sgemm computes C = alpha*op(A)*op(B) + beta*C for row-major matrices, where
// op(X) is X or its transpose. op(A) is M×K, op(B) is K×N and C is M×N;
// lda, ldb and ldc are the row strides of the matrices as stored.
//
// When beta == 0, C is not read (so it may hold NaN or garbage).
func Sgemm(transA, transB bool, M, N, K int, alpha float32, A []float32, lda int, B []float32, ldb int, beta float32, C []float32, ldc int) {
	checkGemm(transA, transB, M, N, K, A, lda, B, ldb, C, ldc)
	if M == 0 || N == 0 {
		return
	}
	sgemmGeneric(transA, transB, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc)
}

func checkGemm(transA, transB bool, M, N, K int, A []float32, lda int, B []float32, ldb int, C []float32, ldc int) {
	if M < 0 || N < 0 || K < 0 {
		panic("kernels: negative dimension")
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
		panic("kernels: bad lda")
	}
	if ldb < max(bc, 1) {
		panic("kernels: bad ldb")
	}
	if ldc < max(N, 1) {
		panic("kernels: bad ldc")
	}
	if ar > 0 && ac > 0 && len(A) < (ar-1)*lda+ac {
		panic("kernels: short A")
	}
	if br > 0 && bc > 0 && len(B) < (br-1)*ldb+bc {
		panic("kernels: short B")
	}
	if M > 0 && N > 0 && len(C) < (M-1)*ldc+N {
		panic("kernels: short C")
	}
}

// sgemmGeneric is the reference: a straightforward triple loop with float32
// accumulation. Faster paths must agree with it to rounding.
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
