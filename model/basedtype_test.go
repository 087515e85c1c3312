package model

import (
	"math"
	"path/filepath"
	"strings"
	"testing"
	"unsafe"

	"github.com/golora/golora/format/safetensors"
	"github.com/golora/golora/internal/testutil"
	"github.com/golora/golora/tensor"
)

// bf16Checkpoint saves a random model of cfg as a BF16 checkpoint and
// returns its folder.
func bf16Checkpoint(t *testing.T, cfg *Config, dt tensor.DType) string {
	t.Helper()
	m, err := NewRandom(cfg, 11)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if err := SaveHFDType(m, dir, dt); err != nil {
		t.Fatal(err)
	}
	return dir
}

func maxAbsDiff(a, b []float32) (d, scale float64) {
	for i := range a {
		d = max(d, math.Abs(float64(a[i]-b[i])))
		scale = max(scale, math.Abs(float64(b[i])))
	}
	return d, scale
}

// TestBaseDTypeLoad: a BF16/F16 checkpoint loaded with --base-dtype auto
// keeps its matrices 16-bit and gives the float32 load's logits and loss
// to bf16 activation rounding (1%); decoding through the KV cache agrees
// with Forward; gradients flow through the frozen half weights.
func TestBaseDTypeLoad(t *testing.T) {
	for name, cfg := range tinyConfigs() {
		for _, dt := range []tensor.DType{tensor.BF16, tensor.F16} {
			t.Run(name+"/"+dt.String(), func(t *testing.T) {
				dir := bf16Checkpoint(t, cfg, dt)
				if got, err := CheckpointDType(dir); err != nil || got != dt {
					t.Fatalf("CheckpointDType = %v, %v; want %v", got, err, dt)
				}
				mf, err := LoadWith(dir, Options{BaseDType: "f32"})
				if err != nil {
					t.Fatal(err)
				}
				mh, err := LoadWith(dir, Options{BaseDType: "auto"})
				if err != nil {
					t.Fatal(err)
				}
				if BaseDTypeOf(mh) != dt || BaseDTypeOf(mf) != tensor.F32 {
					t.Fatalf("base dtypes %v, %v", BaseDTypeOf(mh), BaseDTypeOf(mf))
				}
				for _, p := range mh.Params() {
					if len(p.W.Shape) == 2 && !strings.Contains(p.Name, "wpe") && (p.W.DType != dt || p.W.Data != nil) {
						t.Fatalf("%s kept as %v", p.Name, p.W.DType)
					}
				}
				V := mh.Config().VocabSize
				r := testutil.NewRand(5)
				B, T := 2, 9
				ids := make([]int, B*T)
				tg := make([]int, B*T)
				for i := range ids {
					ids[i], tg[i] = r.IntN(V), r.IntN(V)
				}
				lf := append([]float32(nil), mf.Forward(ids, B, T)...)
				lh := append([]float32(nil), mh.Forward(ids, B, T)...)
				if d, s := maxAbsDiff(lh, lf); d > 0.02*s {
					t.Fatalf("logits differ by %g (scale %g)", d, s)
				}
				tol := 1e-6 // F16: only the weights are rounded, as stored
				if dt == tensor.BF16 {
					tol = 0.01
				}
				mh.SetTrainable(func(n string) bool { return strings.Contains(n, "norm") || strings.Contains(n, "ln_") })
				mf.SetTrainable(func(n string) bool { return strings.Contains(n, "norm") || strings.Contains(n, "ln_") })
				lossF, lossH := mf.Loss(ids, tg, B, T), mh.Loss(ids, tg, B, T)
				if math.Abs(lossH-lossF) > tol*lossF+1e-6 {
					t.Fatalf("loss %v, float32 base %v", lossH, lossF)
				}
				mf.ZeroGrad()
				mh.ZeroGrad()
				mf.Loss(ids, tg, B, T)
				mf.Backward()
				mh.Loss(ids, tg, B, T)
				mh.Backward()
				pf, ph := mf.Params(), mh.Params()
				for i := range pf {
					if pf[i].G == nil {
						continue
					}
					if d, s := maxAbsDiff(ph[i].G.Data, pf[i].G.Data); d > 0.05*s+1e-6 {
						t.Fatalf("grad %s differs by %g (scale %g)", pf[i].Name, d, s)
					}
				}
				// Decoding from the cache (the gemv path) matches Forward
				// (the blocked GEMM) to summation order.
				c := mh.NewCache(1, T)
				row := ids[:T]
				full := append([]float32(nil), mh.Forward(row, 1, T)...)
				if _, err := mh.StepAll(c, [][]int{row[:5]}); err != nil {
					t.Fatal(err)
				}
				for i := 5; i < T; i++ {
					got, err := mh.Step(c, [][]int{{row[i]}})
					if err != nil {
						t.Fatal(err)
					}
					if d, s := maxAbsDiff(got, full[i*V:(i+1)*V]); d > 1e-4*s+1e-5 {
						t.Fatalf("step %d logits differ from Forward by %g", i, d)
					}
				}
			})
		}
	}
}

// TestBaseDTypeRefusals: half weights cannot be trained, and bad values
// of --base-dtype are named.
func TestBaseDTypeRefusals(t *testing.T) {
	dir := bf16Checkpoint(t, tinyConfigs()["llama-gqa"], tensor.BF16)
	m, err := LoadWith(dir, Options{BaseDType: "bf16"})
	if err != nil {
		t.Fatal(err)
	}
	func() {
		defer func() {
			r := recover()
			if r == nil || !strings.Contains(r.(string), "--base-dtype f32") {
				t.Errorf("SetTrainable on a bf16 weight: %v", r)
			}
		}()
		m.SetTrainable(func(string) bool { return true })
	}()
	if _, err := LoadWith(dir, Options{BaseDType: "fp8"}); err == nil || !strings.Contains(err.Error(), "--base-dtype") {
		t.Errorf("bad dtype: %v", err)
	}
}

// TestRandomDType: a random model made in bf16 equals the float32 one
// rounded, and the embedded llama2.c model converts.
func TestRandomDType(t *testing.T) {
	cfg := tinyConfigs()["qwen2-tied"]
	mf, _ := NewRandom(cfg, 3)
	mh, err := NewRandomDType(cfg, 3, tensor.BF16)
	if err != nil {
		t.Fatal(err)
	}
	pf, ph := mf.Params(), mh.Params()
	for i := range pf {
		if len(pf[i].W.Shape) != 2 {
			continue
		}
		for j, v := range pf[i].W.Data {
			if ph[i].W.Half[j] != tensor.F32ToBF16(v) {
				t.Fatalf("%s[%d]: %x, want bf16(%v)", pf[i].Name, j, ph[i].W.Half[j], v)
			}
		}
	}
	e, err := LoadWith("", Options{BaseDType: "f16"})
	if err != nil || BaseDTypeOf(e) != tensor.F16 {
		t.Fatalf("embedded f16: %v %v", err, e)
	}
}

// TestHalfSourceAliases: a tensor the file stores in the wanted dtype is
// handed out as a view of the file's mapping (no copy); another dtype is
// converted.
func TestHalfSourceAliases(t *testing.T) {
	dir := bf16Checkpoint(t, tinyConfigs()["llama-gqa"], tensor.BF16)
	src, err := safetensors.OpenDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	name := "model.layers.0.mlp.up_proj.weight"
	raw, _, err := src.(*safetensors.File).Raw(name)
	if err != nil {
		t.Fatal(err)
	}
	hs := &halfSource{Source: src, dt: tensor.BF16}
	h, shape, err := hs.Half(name)
	if err != nil || !tensor.SameShape(shape, []int{48, 32}) {
		t.Fatalf("Half: %v %v", shape, err)
	}
	if src.(*safetensors.File).Mapped() && (unsafe.Pointer(&h[0]) != unsafe.Pointer(&raw[0]) || !hs.aliased) {
		t.Errorf("bf16 weight of a bf16 file was copied, not mapped")
	}
	f16 := &halfSource{Source: src, dt: tensor.F16}
	h16, _, err := f16.Half(name)
	if err != nil || f16.aliased || tensor.F16ToF32(h16[3]) != tensor.BF16ToF32(h[3]) && math.Abs(float64(tensor.F16ToF32(h16[3])-tensor.BF16ToF32(h[3]))) > 1e-3 {
		t.Errorf("f16 from a bf16 file: %v %v", err, f16.aliased)
	}
}

// TestNonFiniteHalfBaseRefused: NaN/Inf in a weight kept 16-bit is refused
// at load, naming the tensor, as for a float32 base.
func TestNonFiniteHalfBaseRefused(t *testing.T) {
	for _, dt := range []tensor.DType{tensor.BF16, tensor.F16} {
		dir := bf16Checkpoint(t, tinyConfigs()["llama-gqa"], dt)
		path := filepath.Join(dir, "model.safetensors")
		ts, meta, err := safetensors.ReadAll(path)
		if err != nil {
			t.Fatal(err)
		}
		const victim = "model.layers.1.mlp.down_proj.weight"
		ts[victim].Data[3] = float32(math.Inf(-1))
		if err := safetensors.WriteDType(path, ts, meta, dt.SafetensorsName()); err != nil {
			t.Fatal(err)
		}
		if _, err := LoadWith(dir, Options{BaseDType: "auto"}); err == nil || !strings.Contains(err.Error(), victim) {
			t.Errorf("%v: %v, want an error naming %s", dt, err, victim)
		}
	}
}

// releaseLog records the tensors whose mapped pages a loader released.
type releaseLog struct {
	safetensors.Source
	released map[string]bool
}

func (r *releaseLog) Release(name string) { r.released[name] = true; r.Source.Release(name) }

// TestLoadReleasesPages: loading float32 or quantized releases each
// weight's file pages once it is converted (so the peak RSS is the model
// plus one tensor of the file), and the weights are still right; 16-bit
// weights, which may be the mapping's own pages, are not released.
func TestLoadReleasesPages(t *testing.T) {
	cfg := tinyConfigs()["llama-gqa"]
	dir := bf16Checkpoint(t, cfg, tensor.BF16)
	ref, err := LoadWith(dir, Options{BaseDType: "f32"})
	if err != nil {
		t.Fatal(err)
	}
	for _, dt := range []tensor.DType{tensor.F32, tensor.Q8_0, tensor.BF16} {
		t.Run(dt.String(), func(t *testing.T) {
			st, err := safetensors.OpenDir(dir)
			if err != nil {
				t.Fatal(err)
			}
			defer st.Close()
			log := &releaseLog{Source: st, released: map[string]bool{}}
			var src weightSource = log
			switch {
			case dt.BlockSize() > 1:
				src = quantSource{log, dt}
			case dt != tensor.F32:
				src = &halfSource{Source: log, dt: dt}
			}
			m, err := loadModel(ref.Config(), src, dir)
			if err != nil {
				t.Fatal(err)
			}
			pr := ref.Params()
			for i, p := range m.Params() {
				if dt == tensor.F32 {
					testutil.AllClose(t, p.Name, p.W.Data, testutil.To64(pr[i].W.Data), 0, 0)
				}
				if want := dt != tensor.BF16 || len(p.W.Shape) < 2; log.released[p.Name] != want {
					t.Errorf("%s (%v): released %v, want %v", p.Name, p.W.DType, log.released[p.Name], want)
				}
			}
		})
	}
}
