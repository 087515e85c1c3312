//go:build !purego

package kernels

// The assembly of act_amd64.s takes n as a multiple of 8. The wrappers
// send the remainder through the same code in zero-padded 8-lane buffers
// (as expSub does), so no element's bits depend on its position.

//go:noescape
func geluAVX(dst, x, bias *float32, n int, tab *[21][8]float32)

//go:noescape
func geluGradAVX(dx, x, dy *float32, n, acc int, tab *[21][8]float32)

//go:noescape
func swigluAVX(dst, gate, u *float32, n int, tab *[21][8]float32)

//go:noescape
func swigluGradAVX(dg, du, gate, u, dy *float32, n, acc int, tab *[21][8]float32)

// lane8 is one zero-padded 8-lane buffer of a kernel's tail.
type lane8 = [8]float32

// ptr8 returns &s[0], or nil for an empty s (a skipped output).
func ptr8(s []float32) *float32 {
	if len(s) == 0 {
		return nil
	}
	return &s[0]
}

func gelu(dst, x, bias []float32) {
	if !useAVX2FMA {
		geluGeneric(dst, x, bias)
		return
	}
	n := len(x) &^ 7
	if n > 0 {
		geluAVX(&dst[0], &x[0], ptr8(bias), n, &expTab)
	}
	if n == len(x) {
		return
	}
	var bd, bx, bb lane8
	copy(bx[:], x[n:])
	var b *float32
	if bias != nil {
		copy(bb[:], bias[n:])
		b = &bb[0]
	}
	geluAVX(&bd[0], &bx[0], b, 8, &expTab)
	if bias != nil {
		copy(x[n:], bx[:])
	}
	copy(dst[n:len(x)], bd[:])
}

func geluGrad(dx, x, dy []float32, acc bool) {
	if !useAVX2FMA {
		geluGradGeneric(dx, x, dy, acc)
		return
	}
	n := len(x) &^ 7
	if n > 0 {
		geluGradAVX(&dx[0], &x[0], &dy[0], n, b2i(acc), &expTab)
	}
	if n == len(x) {
		return
	}
	var bdx, bx, bdy lane8
	copy(bdx[:], dx[n:])
	copy(bx[:], x[n:])
	copy(bdy[:], dy[n:])
	geluGradAVX(&bdx[0], &bx[0], &bdy[0], 8, b2i(acc), &expTab)
	copy(dx[n:len(x)], bdx[:])
}

func swiglu(dst, g, u []float32) {
	if !useAVX2FMA {
		swigluGeneric(dst, g, u)
		return
	}
	n := len(g) &^ 7
	if n > 0 {
		swigluAVX(&dst[0], &g[0], &u[0], n, &expTab)
	}
	if n == len(g) {
		return
	}
	var bd, bg, bu lane8
	copy(bg[:], g[n:])
	copy(bu[:], u[n:])
	swigluAVX(&bd[0], &bg[0], &bu[0], 8, &expTab)
	copy(dst[n:len(g)], bd[:])
}

func swigluGrad(dg, du, g, u, dy []float32, acc bool) {
	if !useAVX2FMA {
		swigluGradGeneric(dg, du, g, u, dy, acc)
		return
	}
	n := len(g) &^ 7
	if n > 0 {
		swigluGradAVX(ptr8(dg), ptr8(du), &g[0], &u[0], &dy[0], n, b2i(acc), &expTab)
	}
	if n == len(g) {
		return
	}
	var bdg, bdu, bg, bu, bdy lane8
	copy(bg[:], g[n:])
	copy(bu[:], u[n:])
	copy(bdy[:], dy[n:])
	var pg, pu *float32
	if dg != nil {
		copy(bdg[:], dg[n:])
		pg = &bdg[0]
	}
	if du != nil {
		copy(bdu[:], du[n:])
		pu = &bdu[0]
	}
	swigluGradAVX(pg, pu, &bg[0], &bu[0], &bdy[0], 8, b2i(acc), &expTab)
	if dg != nil {
		copy(dg[n:], bdg[:])
	}
	if du != nil {
		copy(du[n:], bdu[:])
	}
}
