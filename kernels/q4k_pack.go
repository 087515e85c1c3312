package kernels

import (
	"encoding/binary"
	"fmt"

	"github.com/golora/golora/tensor"
)

// Decode reads every weight once per token, so its speed is the weight
// bytes over the memory bandwidth only when the arithmetic keeps up. Q4_K's
// GGUF layout (one row's super-block after another, 6-bit scales packed
// three to a word) does not: unpacking scales and nibbles row by row costs
// more than the 4.5 bits it saves. Q4KPacked is the same blocks repacked
// for decode (the idea of llama.cpp's block_q4_Kx8): rows in groups of 16,
// and for each super-block a tile
//
//	  0  d[16]     fp16, one per row
//	 32  dmin[16]  fp16
//	 64  sc[8][16] 6-bit scales unpacked to bytes, sub-block major
//	192  m[4][16][2] mins, pairs of sub-blocks (2jp, 2jp+1) per row
//	320  q[8][4][64] nibbles: vector s of sub-block j holds, at byte 4r+t,
//	     row r's value 32j+4s+t in the low nibble and 32j+4s+16+t in the
//	     high one
//
// (2368 bytes for 16×256 weights, 2.8% more than GGUF's). One 64-byte load
// then feeds 16 rows' four-value dot products (VPDPBUSD) with one broadcast
// of four activations, the sub-block scales multiply 16 rows' sums at once,
// and the mins' term is one VPDPWSSD per two sub-blocks against the
// activations' per-32 sums. Rows past out (the last group's padding) are
// zero.
type Q4KPacked struct {
	out, in int
	b       []byte
}

const (
	q4kGroup = 16   // rows per group
	q4kTile  = 2368 // bytes per group and super-block
)

// PackQ4K repacks w [out, in] (Q4_K rows, in a multiple of 256).
func PackQ4K(w []byte, out, in int) *Q4KPacked {
	rb := tensor.Q4_K.RowBytes(in)
	if in%256 != 0 || len(w) != out*rb {
		panic(fmt.Sprintf("kernels: PackQ4K [%d, %d] from %d bytes", out, in, len(w)))
	}
	nb, groups := in/256, (out+q4kGroup-1)/q4kGroup
	p := &Q4KPacked{out: out, in: in, b: make([]byte, groups*nb*q4kTile)}
	For(groups, max(1, 64/nb), func(lo, hi int) {
		for g := lo; g < hi; g++ {
			for r := range min(q4kGroup, out-g*q4kGroup) {
				row := w[(g*q4kGroup+r)*rb:]
				for b := range nb {
					packQ4KBlock(p.b[(g*nb+b)*q4kTile:], r, row[144*b:144*b+144])
				}
			}
		}
	})
	w = nil // the pool keeps its last job's closure: let go of the blocks (they are dropped)
	return p
}

// packQ4KBlock writes row r's super-block blk into tile t.
func packQ4KBlock(t []byte, r int, blk []byte) {
	copy(t[2*r:], blk[0:2])
	copy(t[32+2*r:], blk[2:4])
	sc, m := unpackScalesK4(blk[4:16])
	for j := range 8 {
		t[64+16*j+r] = sc[j]
		t[192+32*(j/2)+2*r+j%2] = m[j]
	}
	const lo4 = 0x0f0f0f0f
	for j := range 8 {
		q := blk[16+32*(j/2):] // GGUF: sub-block 2p low nibbles, 2p+1 high
		for s := range 4 {
			// values 4s..4s+3 and 4s+16..4s+19 of sub-block j, four at a time
			a, b := binary.LittleEndian.Uint32(q[4*s:]), binary.LittleEndian.Uint32(q[4*s+16:])
			v := a&lo4 | b&lo4<<4
			if j%2 == 1 {
				v = a>>4&lo4 | b&^lo4
			}
			binary.LittleEndian.PutUint32(t[320+256*j+64*s+4*r:], v)
		}
	}
}

// UnpackRows returns GGUF rows [lo, hi) of the weight p was packed from,
// exactly (the packing is lossless), so p may stand in for the GGUF blocks
// (tensor.QuantTiles).
func (p *Q4KPacked) UnpackRows(lo, hi int) []byte {
	if lo < 0 || hi > p.out || lo > hi {
		panic(fmt.Sprintf("kernels: UnpackRows [%d, %d) of %d rows", lo, hi, p.out))
	}
	nb, rb := p.in/256, tensor.Q4_K.RowBytes(p.in)
	w := make([]byte, (hi-lo)*rb)
	for o := lo; o < hi; o++ {
		g, r := o/q4kGroup, o%q4kGroup
		for b := range nb {
			t, blk := p.b[(g*nb+b)*q4kTile:], w[(o-lo)*rb+144*b:(o-lo)*rb+144*b+144]
			unpackQ4KBlock(blk, r, t)
		}
	}
	return w
}

// unpackQ4KBlock is the inverse of packQ4KBlock: row r's super-block of
// tile t into blk (zeroed).
func unpackQ4KBlock(blk []byte, r int, t []byte) {
	copy(blk[0:2], t[2*r:])
	copy(blk[2:4], t[32+2*r:])
	var sc, m [8]uint8
	for j := range 8 {
		sc[j], m[j] = t[64+16*j+r], t[192+32*(j/2)+2*r+j%2]
	}
	packScalesK4(blk[4:16], sc, m)
	const lo4 = 0x0f0f0f0f
	for j := range 8 {
		q := blk[16+32*(j/2):]
		for s := range 4 {
			v := binary.LittleEndian.Uint32(t[320+256*j+64*s+4*r:])
			a, b := v&lo4, v>>4&lo4 // values 4s.. and 4s+16.. of sub-block j
			if j%2 == 1 {
				a, b = a<<4, b<<4
			}
			binary.LittleEndian.PutUint32(q[4*s:], binary.LittleEndian.Uint32(q[4*s:])|a)
			binary.LittleEndian.PutUint32(q[4*s+16:], binary.LittleEndian.Uint32(q[4*s+16:])|b)
		}
	}
}

// packScalesK4 is the inverse of unpackScalesK4.
func packScalesK4(p []byte, sc, m [8]uint8) {
	for j := range 4 {
		p[j] = sc[j] | sc[j+4]>>4<<6
		p[4+j] = m[j] | m[j+4]>>4<<6
		p[8+j] = sc[j+4]&0xF | m[j+4]&0xF<<4
	}
}

// GemmQ4KPacked is GemmQuant for a Q4_K weight packed by PackQ4K: y [n,
// out] = x·Wᵀ, each output the same whatever n is (row-exact).
func GemmQ4KPacked(a *QActs, p *Q4KPacked, y []float32, ldy int) {
	if a.dt != tensor.Q4_K || a.in != p.in || (a.n > 0 && len(y) < (a.n-1)*ldy+p.out) {
		panic(fmt.Sprintf("kernels: GemmQ4KPacked %v [%d, %d]·[%d, %d]ᵀ: %d outputs", a.dt, a.n, a.in, p.out, p.in, len(y)))
	}
	nb := p.in / 256
	// the sums as int16 pairs (|Σ| ≤ 32·127) for VPDPWSSD
	a.sums16 = grow(a.sums16, len(a.Sums))
	for i, s := range a.Sums {
		a.sums16[i] = int16(s)
	}
	groups := (p.out + q4kGroup - 1) / q4kGroup
	For(groups, max(1, 1<<16/max(1, a.n*q4kGroup*a.in)), func(lo, hi int) {
		var t [q4kGroup]float32
		for g := lo; g < hi; g++ {
			w := p.b[g*nb*q4kTile : (g+1)*nb*q4kTile]
			rows := min(q4kGroup, p.out-g*q4kGroup)
			for i := range a.n {
				gemvQ4Kx16(&t, w, a.Q[i*a.in:(i+1)*a.in], a.D[i*nb:(i+1)*nb], a.sums16[i*nb*8:(i+1)*nb*8])
				copy(y[i*ldy+g*q4kGroup:], t[:rows])
			}
		}
	})
}

// gemvQ4Kx16Generic writes to y the 16 dot products of one group's tiles w
// with the activations x (scales dx per 256, sums per 32): per super-block
// d_r·dx·Σ_j sc_rj·Σ q·x − dmin_r·dx·Σ_j m_rj·Σ x, as dotQ4_KGeneric.
func gemvQ4Kx16Generic(y *[q4kGroup]float32, w []byte, x []int8, dx []float32, sums []int16) {
	var acc, accMin [q4kGroup]float32
	for b := range dx {
		t, xs := w[b*q4kTile:(b+1)*q4kTile], x[256*b:256*b+256]
		for r := range q4kGroup {
			var dot, mins int32
			for j := range 8 {
				var lo, hi int32
				for s := range 4 {
					for i := range 4 {
						v := t[320+256*j+64*s+4*r+i]
						lo += int32(v&0xF) * int32(xs[32*j+4*s+i])
						hi += int32(v>>4) * int32(xs[32*j+4*s+16+i])
					}
				}
				dot += int32(t[64+16*j+r]) * (lo + hi)
				mins += int32(t[192+32*(j/2)+2*r+j%2]) * int32(sums[8*b+j])
			}
			d := tensor.F16ToF32(binary.LittleEndian.Uint16(t[2*r:]))
			dmin := tensor.F16ToF32(binary.LittleEndian.Uint16(t[32+2*r:]))
			acc[r] += d * dx[b] * float32(dot)
			accMin[r] += dmin * dx[b] * float32(mins)
		}
	}
	for r := range y {
		y[r] = acc[r] - accMin[r]
	}
}
