package kernels

import (
	"encoding/binary"
	"fmt"
	"math"

	"github.com/golora/golora/tensor"
)

// Products of float32 activations with frozen weights kept in GGUF blocks
// (tensor.Q8_0, tensor.Q4_K), as llama.cpp computes them: each activation
// row is quantized to int8 first (QActs: per 32 values for Q8_0 weights,
// llama.cpp's Q8_0 activations; per 256 with sums per 32 for Q4_K, its
// Q8_K), then every block is an integer dot product (AVX-512 VNNI
// VPDPBUSD, AVX2 VPMADDUBSW/VPMADDWD, or the pure-Go loops below, chosen
// at run time) scaled once by the two block scales. Reading 8.5 or 4.5
// bits per weight instead of 32 is what makes decode fast; the int8
// activations cost a relative error of about 2^-8 per block, which is why
// training does not use these kernels (nn's quantized Linear multiplies by
// dequantized tiles there, so gradients are those of the dequantized
// weights).

// QActs is a batch of activation rows quantized for one weight dtype.
type QActs struct {
	dt     tensor.DType
	n, in  int
	Q      []int8    // n×in values
	D      []float32 // one scale per block (32 for Q8_0, 256 for Q4_K)
	Sums   []int32   // Q4_K only: Σ Q per 32 values (the mins' term)
	sums16 []int16   // Sums as int16, for GemmQ4KPacked
	blocks int       // scale blocks per row
}

// QuantizeActs quantizes x [n, in] for products with weights of dtype dt;
// in must be a multiple of dt's block. a's buffers are reused.
func (a *QActs) QuantizeActs(dt tensor.DType, x []float32, n, in int) {
	bs := dt.BlockSize()
	if !(dt == tensor.Q8_0 || dt == tensor.Q4_K) || in%bs != 0 || len(x) < n*in {
		panic(fmt.Sprintf("kernels: QuantizeActs %v of [%d, %d] from %d values", dt, n, in, len(x)))
	}
	a.dt, a.n, a.in, a.blocks = dt, n, in, in/bs
	a.Q = grow(a.Q, n*in)
	a.D = grow(a.D, n*a.blocks)
	if dt == tensor.Q4_K {
		a.Sums = grow(a.Sums, n*in/32)
	}
	For(n*a.blocks, 64, func(lo, hi int) {
		var sums []int32
		if dt == tensor.Q4_K {
			sums = a.Sums[lo*bs/32 : hi*bs/32]
		}
		quantActs(x[lo*bs:hi*bs], a.Q[lo*bs:hi*bs], a.D[lo:hi], sums, bs)
	})
}

// quantActsGeneric quantizes the blocks of bs values in x to q with
// scales d = max|x|/127 (round to nearest even, as VCVTPS2DQ does), and
// when sums is not nil adds up each 32 q into it.
func quantActsGeneric(x []float32, q []int8, d []float32, sums []int32, bs int) {
	for b := range d {
		xs, q := x[b*bs:(b+1)*bs], q[b*bs:(b+1)*bs]
		amax := float32(0)
		for _, v := range xs {
			amax = max(amax, math.Float32frombits(math.Float32bits(v)&^(1<<31)))
		}
		d[b] = amax / 127
		inv := float32(0)
		if d[b] != 0 {
			inv = 1 / d[b]
		}
		for i, v := range xs {
			// |v·inv| ≤ 127 lands in the low mantissa bits of 1.5·2^23
			// (math.Round is not inlined and cost more than a Q4_K
			// row's dot product)
			q[i] = int8(int32(math.Float32bits(v*inv+0x1.8p23) - 0x4b400000))
		}
		if sums != nil {
			for s := range bs / 32 {
				var t int32
				for _, v := range q[32*s : 32*s+32] {
					t += int32(v)
				}
				sums[b*bs/32+s] = t
			}
		}
	}
}

// GemmQuant writes y [n, out] = x·Wᵀ for the activations a (x quantized
// by QuantizeActs) and W [out, in] stored as rows of dtype a's blocks.
// Each weight row is read once for all n rows.
func GemmQuant(a *QActs, w []byte, out int, y []float32, ldy int) {
	rb := a.dt.RowBytes(a.in)
	if len(w) < out*rb || (a.n > 0 && len(y) < (a.n-1)*ldy+out) {
		panic(fmt.Sprintf("kernels: GemmQuant %v [%d, %d]·[%d, %d]ᵀ: %d weight bytes, %d outputs", a.dt, a.n, a.in, out, a.in, len(w), len(y)))
	}
	if a.dt == tensor.Q8_0 {
		gemmQ8_0(a, w, out, y, ldy) // q8_gemv.go
		return
	}
	// chunks of at least ~64K multiply-adds per thread
	For(out, max(1, 1<<16/max(1, a.n*a.in)), func(lo, hi int) {
		for o := lo; o < hi; o++ {
			wr := w[o*rb : (o+1)*rb]
			for i := 0; i < a.n; i++ {
				sums := a.Sums[i*a.in/32 : (i+1)*a.in/32]
				y[i*ldy+o] = dotQ4_K(wr, a.Q[i*a.in:(i+1)*a.in], a.D[i*a.blocks:(i+1)*a.blocks], sums)
			}
		}
	})
}

// dotQ8_0Generic is Σ_b dw_b·dx_b·Σ_i w_bi·x_bi over one row of Q8_0
// blocks (an fp16 scale and 32 int8 values: 34 bytes).
func dotQ8_0Generic(w []byte, x []int8, dx []float32, _ []int32) float32 {
	var s float32
	for b := range dx {
		blk := w[34*b : 34*b+34]
		var t int32
		for i, v := range x[32*b : 32*b+32] {
			t += int32(int8(blk[2+i])) * int32(v)
		}
		s += tensor.F16ToF32(binary.LittleEndian.Uint16(blk)) * dx[b] * float32(t)
	}
	return s
}

// dotQ4_KGeneric is the dot product of one row of Q4_K super-blocks (144
// bytes: fp16 d and dmin, 12 bytes of packed 6-bit scales and mins, 128
// bytes of nibbles) with Q8_K-style activations: value = d·sc_j·q − dmin·m_j
// on sub-block j, so a super-block contributes
// dx·(d·Σ_j sc_j·Σ q·x − dmin·Σ_j m_j·Σ x).
func dotQ4_KGeneric(w []byte, x []int8, dx []float32, sums []int32) float32 {
	var s float32
	for b := range dx {
		blk, xs := w[144*b:144*b+144], x[256*b:256*b+256]
		sc, m := unpackScalesK4(blk[4:16])
		var dot, mins int32
		for p := 0; p < 4; p++ {
			q := blk[16+32*p : 48+32*p]
			var lo, hi int32
			for l, v := range q {
				lo += int32(v&0xF) * int32(xs[64*p+l])
				hi += int32(v>>4) * int32(xs[64*p+32+l])
			}
			dot += int32(sc[2*p])*lo + int32(sc[2*p+1])*hi
		}
		for j := range 8 {
			mins += int32(m[j]) * sums[8*b+j]
		}
		d := tensor.F16ToF32(binary.LittleEndian.Uint16(blk))
		dmin := tensor.F16ToF32(binary.LittleEndian.Uint16(blk[2:]))
		s += dx[b] * (d*float32(dot) - dmin*float32(mins))
	}
	return s
}

// unpackScalesK4 unpacks the eight 6-bit scales and mins of a Q4_K block
// (llama.cpp's get_scale_min_k4, done for all eight as the assembly does).
func unpackScalesK4(p []byte) (sc, m [8]uint8) {
	u0, u1, u2 := binary.LittleEndian.Uint32(p), binary.LittleEndian.Uint32(p[4:]), binary.LittleEndian.Uint32(p[8:])
	binary.LittleEndian.PutUint32(sc[:], u0&0x3f3f3f3f)
	binary.LittleEndian.PutUint32(sc[4:], u2&0x0f0f0f0f|(u0>>6&0x03030303)<<4)
	binary.LittleEndian.PutUint32(m[:], u1&0x3f3f3f3f)
	binary.LittleEndian.PutUint32(m[4:], u2>>4&0x0f0f0f0f|(u1>>6&0x03030303)<<4)
	return sc, m
}

// Dequant decodes len(dst) values of dtype dt (tensor.Q8_0 or Q4_K) from
// the GGUF blocks in src into float32 (d·q per Q8_0 block; d·sc_j·q −
// dmin·m_j on Q4_K sub-block j): the panels that prefill and LoRA
// training's products on a quantized base multiply through the float32
// GEMM. AVX-512, AVX2 or pure Go, chosen at run time; format/gguf's
// Dequantize is the reference for every GGUF type.
func Dequant(dt tensor.DType, dst []float32, src []byte) {
	bs := dt.BlockSize()
	if !(dt == tensor.Q8_0 || dt == tensor.Q4_K) || len(dst)%bs != 0 || len(src) != dt.RowBytes(len(dst)) {
		panic(fmt.Sprintf("kernels: Dequant %v: %d values from %d bytes", dt, len(dst), len(src)))
	}
	if len(dst) == 0 {
		return
	}
	if dt == tensor.Q8_0 {
		dequantQ8_0(dst, src)
	} else {
		dequantQ4_K(dst, src)
	}
}

// dequantQ8_0Generic decodes Q8_0 blocks: an fp16 scale d, 32 int8 q.
func dequantQ8_0Generic(dst []float32, src []byte) {
	for b := range len(dst) / 32 {
		blk, y := src[34*b:34*b+34], dst[32*b:32*b+32]
		d := tensor.F16ToF32(binary.LittleEndian.Uint16(blk))
		for i, q := range blk[2:] {
			y[i] = d * float32(int8(q))
		}
	}
}

// dequantQ4_KGeneric decodes Q4_K super-blocks (see dotQ4_KGeneric for
// the layout); each 32 bytes of nibbles hold sub-block 2p in the low
// nibbles and 2p+1 in the high ones.
func dequantQ4_KGeneric(dst []float32, src []byte) {
	for b := range len(dst) / 256 {
		blk, y := src[144*b:144*b+144], dst[256*b:256*b+256]
		d := tensor.F16ToF32(binary.LittleEndian.Uint16(blk))
		dmin := tensor.F16ToF32(binary.LittleEndian.Uint16(blk[2:]))
		sc, m := unpackScalesK4(blk[4:16])
		for p := range 4 {
			lo, hi := y[64*p:64*p+32], y[64*p+32:64*p+64]
			dl, ml := d*float32(sc[2*p]), dmin*float32(m[2*p])
			dh, mh := d*float32(sc[2*p+1]), dmin*float32(m[2*p+1])
			for l, q := range blk[16+32*p : 48+32*p] {
				lo[l] = dl*float32(q&0xF) - ml
				hi[l] = dh*float32(q>>4) - mh
			}
		}
	}
}

// grow returns s resized to n, reallocated when too small.
func grow[T any](s []T, n int) []T {
	if cap(s) < n {
		return make([]T, n)
	}
	return s[:n]
}
