package gguf

import (
	"encoding/binary"
	"fmt"
	"math"

	"github.com/golora/golora/tensor"
)

// Block layouts and formulas are llama.cpp's (ggml-common.h, ggml-quants.c);
// all multi-byte fields are little-endian, "half" is IEEE fp16.

func half(b []byte) float32 { return tensor.F16ToF32(binary.LittleEndian.Uint16(b)) }

func putHalf(b []byte, f float32) { binary.LittleEndian.PutUint16(b, tensor.F32ToF16(f)) }

// Dequantize decodes len(dst) elements of type t from src. len(dst) must be
// a multiple of t's block size and src exactly t.RowBytes(len(dst)) long.
func Dequantize(dst []float32, src []byte, t Type) error {
	tr, ok := typeTraits[t]
	if !ok {
		return fmt.Errorf("%w: %s", ErrType, t)
	}
	if len(dst)%tr.block != 0 || len(src) != len(dst)/tr.block*tr.size {
		return fmt.Errorf("%w: %d elements of %s need %d bytes, have %d", ErrFormat, len(dst), t, len(dst)/tr.block*tr.size, len(src))
	}
	nb := len(dst) / tr.block
	for i := 0; i < nb; i++ {
		y := dst[i*tr.block : (i+1)*tr.block]
		b := src[i*tr.size : (i+1)*tr.size]
		switch t {
		case F32:
			y[0] = math.Float32frombits(binary.LittleEndian.Uint32(b))
		case F16:
			y[0] = half(b)
		case BF16:
			y[0] = tensor.BF16ToF32(binary.LittleEndian.Uint16(b))
		case Q8_0:
			d := half(b)
			for j := range 32 {
				y[j] = d * float32(int8(b[2+j]))
			}
		case Q4_0, Q4_1:
			d, m, qs := half(b), float32(-8), b[2:]
			if t == Q4_1 {
				m, qs = half(b[2:]), b[4:]
			}
			for j := range 16 {
				lo, hi := float32(qs[j]&0xF), float32(qs[j]>>4)
				if t == Q4_0 {
					y[j], y[j+16] = (lo+m)*d, (hi+m)*d
				} else {
					y[j], y[j+16] = lo*d+m, hi*d+m
				}
			}
		case Q5_0, Q5_1:
			d, m, rest := half(b), float32(-16), b[2:]
			if t == Q5_1 {
				m, rest = half(b[2:]), b[4:]
			}
			qh, qs := binary.LittleEndian.Uint32(rest), rest[4:]
			for j := range 16 {
				lo := float32(uint32(qs[j]&0xF) | (qh>>j&1)<<4)
				hi := float32(uint32(qs[j]>>4) | (qh>>(j+16)&1)<<4)
				if t == Q5_0 {
					y[j], y[j+16] = (lo+m)*d, (hi+m)*d
				} else {
					y[j], y[j+16] = lo*d+m, hi*d+m
				}
			}
		case Q4_K, Q5_K:
			d, dmin, scales := half(b), half(b[2:]), b[4:16]
			qs, qh := b[16:], []byte(nil)
			if t == Q5_K {
				qh, qs = b[16:48], b[48:]
			}
			for j := range 4 { // 64 elements: low nibbles, then high nibbles
				sc1, m1 := scaleMinK4(2*j, scales)
				sc2, m2 := scaleMinK4(2*j+1, scales)
				d1, dm1 := d*float32(sc1), dmin*float32(m1)
				d2, dm2 := d*float32(sc2), dmin*float32(m2)
				q := qs[32*j:]
				for l := range 32 {
					lo, hi := float32(q[l]&0xF), float32(q[l]>>4)
					if qh != nil {
						lo += float32(qh[l] >> (2 * j) & 1 * 16)
						hi += float32(qh[l] >> (2*j + 1) & 1 * 16)
					}
					y[64*j+l] = d1*lo - dm1
					y[64*j+32+l] = d2*hi - dm2
				}
			}
		case Q6_K:
			d := half(b[208:])
			for n := range 2 { // two halves of 128
				ql, qh, sc := b[64*n:], b[128+32*n:], b[192+8*n:]
				yy := y[128*n:]
				for l := range 32 {
					is := l / 16
					q1 := int(ql[l]&0xF|(qh[l]>>0&3)<<4) - 32
					q2 := int(ql[l+32]&0xF|(qh[l]>>2&3)<<4) - 32
					q3 := int(ql[l]>>4|(qh[l]>>4&3)<<4) - 32
					q4 := int(ql[l+32]>>4|(qh[l]>>6&3)<<4) - 32
					yy[l] = d * float32(int8(sc[is])) * float32(q1)
					yy[l+32] = d * float32(int8(sc[is+2])) * float32(q2)
					yy[l+64] = d * float32(int8(sc[is+4])) * float32(q3)
					yy[l+96] = d * float32(int8(sc[is+6])) * float32(q4)
				}
			}
		}
	}
	return nil
}

// scaleMinK4 unpacks the 6-bit scale and min of sub-block j from the 12
// packed bytes of a Q4_K/Q5_K block (get_scale_min_k4).
func scaleMinK4(j int, q []byte) (sc, m uint8) {
	if j < 4 {
		return q[j] & 63, q[j+4] & 63
	}
	return q[j+4]&0xF | (q[j-4]>>6)<<4, q[j+4]>>4 | (q[j]>>6)<<4
}

// Quantizable reports whether Quantize can produce t.
func Quantizable(t Type) bool {
	switch t {
	case F32, F16, BF16, Q8_0, Q4_0, Q4_K:
		return true
	}
	return false
}

// Quantize encodes src as type t; len(src) must be a multiple of the block
// size. The quantizers follow llama.cpp's reference rounding for Q8_0 and
// Q4_0; Q4_K fits each 32-element sub-block's scale and min by a small
// least-squares search (as make_qkx2_quants does, unweighted).
func Quantize(src []float32, t Type) ([]byte, error) {
	if !Quantizable(t) {
		return nil, fmt.Errorf("%w: cannot write %s", ErrType, t)
	}
	tr := typeTraits[t]
	if len(src)%tr.block != 0 {
		return nil, fmt.Errorf("%w: %d elements are not a multiple of %s's block of %d", ErrFormat, len(src), t, tr.block)
	}
	out := make([]byte, len(src)/tr.block*tr.size)
	return out, QuantizeInto(out, src, t)
}

// QuantizeInto is Quantize writing into dst, which must be exactly
// t.RowBytes(len(src)) long (a loader quantizing row by row makes no
// garbage).
func QuantizeInto(out []byte, src []float32, t Type) error {
	if !Quantizable(t) {
		return fmt.Errorf("%w: cannot write %s", ErrType, t)
	}
	tr := typeTraits[t]
	nb := len(src) / tr.block
	if len(src)%tr.block != 0 || len(out) != nb*tr.size {
		return fmt.Errorf("%w: %d elements of %s need %d bytes, have %d", ErrFormat, len(src), t, nb*tr.size, len(out))
	}
	for i := 0; i < nb; i++ {
		x := src[i*tr.block : (i+1)*tr.block]
		b := out[i*tr.size : (i+1)*tr.size]
		switch t {
		case F32:
			binary.LittleEndian.PutUint32(b, math.Float32bits(x[0]))
		case F16:
			putHalf(b, x[0])
		case BF16:
			binary.LittleEndian.PutUint16(b, tensor.F32ToBF16(x[0]))
		case Q8_0:
			var amax float32
			for _, v := range x {
				amax = max(amax, float32(math.Abs(float64(v))))
			}
			d := amax / 127
			var id float32
			if d != 0 {
				id = 1 / d
			}
			putHalf(b, d)
			for j, v := range x {
				b[2+j] = byte(int8(math.Round(float64(v * id))))
			}
		case Q4_0:
			var amax, mx float32
			for _, v := range x {
				if a := float32(math.Abs(float64(v))); a > amax {
					amax, mx = a, v
				}
			}
			d := mx / -8
			var id float32
			if d != 0 {
				id = 1 / d
			}
			putHalf(b, d)
			for j := range 16 {
				q0 := min(15, int8(x[j]*id+8.5))
				q1 := min(15, int8(x[j+16]*id+8.5))
				b[2+j] = byte(q0) | byte(q1)<<4
			}
		case Q4_K:
			quantizeQ4K(b, x)
		}
	}
	return nil
}

// fitScaleMin finds scale s and offset m (m ≤ 0) with x ≈ s·q + m, q in
// 0..15, trying several inverse scales around (max−min)/15 and solving the
// least-squares (s, m) for each rounding.
func fitScaleMin(x []float32) (s, m float32) {
	lo, hi := x[0], x[0]
	for _, v := range x {
		lo, hi = min(lo, v), max(hi, v)
	}
	lo = min(lo, 0)
	if hi == lo {
		return 0, lo
	}
	bestErr := math.Inf(1)
	var q [32]float64
	for step := -10; step <= 10; step++ {
		iscale := (15 + 0.1*float64(step)) / float64(hi-lo)
		var sq, sqq, sx, sqx float64
		n := float64(len(x))
		for i, v := range x {
			q[i] = math.Max(0, math.Min(15, math.Round(iscale*float64(v-lo))))
			sq += q[i]
			sqq += q[i] * q[i]
			sx += float64(v)
			sqx += q[i] * float64(v)
		}
		det := n*sqq - sq*sq
		if det <= 0 {
			continue
		}
		ss := (n*sqx - sq*sx) / det
		mm := (sqq*sx - sq*sqx) / det
		if mm > 0 { // the format stores −min ≥ 0
			mm = 0
			if sqq > 0 {
				ss = sqx / sqq
			}
		}
		var e float64
		for i, v := range x {
			r := ss*q[i] + mm - float64(v)
			e += r * r
		}
		if e < bestErr {
			bestErr, s, m = e, float32(ss), float32(mm)
		}
	}
	return s, m
}

func quantizeQ4K(b []byte, x []float32) {
	var sc, mn [8]float32
	var maxSc, maxMn float32
	for j := range 8 {
		s, m := fitScaleMin(x[32*j : 32*j+32])
		sc[j], mn[j] = max(s, 0), -m
		maxSc, maxMn = max(maxSc, sc[j]), max(maxMn, mn[j])
	}
	var ls, lm [8]uint8
	for j := range 8 {
		if maxSc > 0 {
			ls[j] = uint8(min(63, math.Round(float64(63*sc[j]/maxSc))))
		}
		if maxMn > 0 {
			lm[j] = uint8(min(63, math.Round(float64(63*mn[j]/maxMn))))
		}
	}
	putHalf(b, maxSc/63)
	putHalf(b[2:], maxMn/63)
	scales := b[4:16]
	for j := range 8 {
		if j < 4 {
			scales[j] |= ls[j]
			scales[j+4] |= lm[j]
		} else {
			scales[j+4] = ls[j]&0xF | (lm[j]&0xF)<<4
			scales[j-4] |= (ls[j] >> 4) << 6
			scales[j] |= (lm[j] >> 4) << 6
		}
	}
	// Requantize against the scales as stored, so rounding of d, dmin and
	// the 6-bit factors is compensated.
	d, dmin := half(b), half(b[2:])
	var L [256]uint8
	for j := range 8 {
		s, m := scaleMinK4(j, scales)
		ds, dm := d*float32(s), dmin*float32(m)
		if ds == 0 {
			continue
		}
		for l := range 32 {
			L[32*j+l] = uint8(max(0, min(15, math.Round(float64((x[32*j+l]+dm)/ds)))))
		}
	}
	qs := b[16:]
	for j := 0; j < 4; j++ {
		for l := range 32 {
			qs[32*j+l] = L[64*j+l] | L[64*j+32+l]<<4
		}
	}
}
