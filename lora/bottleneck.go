package lora

import (
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"

	"github.com/golora/golora/format/safetensors"
	"github.com/golora/golora/internal/atomicfile"
	"github.com/golora/golora/kernels"
	"github.com/golora/golora/nn"
	"github.com/golora/golora/tensor"
)

// BottleneckConfig configures bottleneck adapters (Houlsby et al. 2019),
// golora's own adapter type: PEFT has no such LoRA config, so these files
// carry "adapter_type": "bottleneck" and golora's keys, and LoRA files stay
// PEFT-compatible.
//
// Files: <dir>/adapter_config.json (this struct) and
// <dir>/adapter_model.safetensors with keys
// bottleneck.layers.<l>.<site>.down.{weight [d, C], bias [d]} and
// bottleneck.layers.<l>.<site>.up.{weight [C, d], bias [C]}, site "attn"
// or "mlp".
type BottleneckConfig struct {
	AdapterType         string   `json:"adapter_type"`    // "bottleneck"
	Size                int      `json:"bottleneck_size"` // d
	NonLinearity        string   `json:"non_linearity"`   // "relu", "gelu_new" or "silu"
	Sites               []string `json:"sites"`           // "attn", "mlp"
	LayersToTransform   []int    `json:"layers_to_transform"`
	Scaling             float64  `json:"scaling"`
	BaseModelNameOrPath string   `json:"base_model_name_or_path,omitempty"`
}

// DefaultBottleneckConfig is a 64-wide ReLU adapter after both sublayers of
// every block, scale 1.
func DefaultBottleneckConfig() *BottleneckConfig {
	return &BottleneckConfig{AdapterType: "bottleneck", Size: 64, NonLinearity: "relu", Sites: []string{"attn", "mlp"}, Scaling: 1}
}

// HookHost is the part of a model that takes sublayer hooks.
type HookHost interface {
	SetSublayerHook(layer int, site string, h nn.SublayerHook) error
}

// Bottleneck is one bottleneck adapter after a sublayer, an nn.SublayerHook:
//
//	y ← y + s·(Up·act(Down·y + bd) + bu)    Down (d, C), Up (C, d)
//
// Up starts at zero, so a new adapter is the identity.
type Bottleneck struct {
	Layer          int
	Site           string
	Act            string
	Scaling        float32
	Down, DownB    *tensor.Tensor // (d, C), (d)
	Up, UpB        *tensor.Tensor // (C, d), (C)
	DDown, DDownB  *tensor.Tensor
	DUp, DUpB      *tensor.Tensor
	Enabled        bool
	yin, h, a, tmp []float32 // (n, C), (n, d), (n, d), (n, d)
}

func newBottleneck(layer int, site string, c, d int, cfg *BottleneckConfig, rng *rand.Rand) *Bottleneck {
	b := &Bottleneck{Layer: layer, Site: site, Act: cfg.NonLinearity, Scaling: float32(cfg.Scaling),
		Down: tensor.New(d, c), DownB: tensor.New(d), Up: tensor.New(c, d), UpB: tensor.New(c),
		DDown: tensor.New(d, c), DDownB: tensor.New(d), DUp: tensor.New(c, d), DUpB: tensor.New(c)}
	uniform(b.Down.Data, 1/math.Sqrt(float64(c)), rng) // nn.Linear's default
	return b
}

func (b *Bottleneck) key(part string) string {
	return fmt.Sprintf("bottleneck.layers.%d.%s.%s", b.Layer, b.Site, part)
}

func (b *Bottleneck) params() []Param {
	return []Param{
		{Name: b.key("down.weight"), Group: GroupBottleneck, W: b.Down, G: b.DDown},
		{Name: b.key("down.bias"), Group: GroupBottleneck, W: b.DownB, G: b.DDownB},
		{Name: b.key("up.weight"), Group: GroupBottleneck, W: b.Up, G: b.DUp},
		{Name: b.key("up.bias"), Group: GroupBottleneck, W: b.UpB, G: b.DUpB},
	}
}

// NumParams counts the adapter's values.
func (b *Bottleneck) NumParams() int {
	return b.Down.Len() + b.DownB.Len() + b.Up.Len() + b.UpB.Len()
}

func activate(kind string, x float32) float32 {
	switch kind {
	case "gelu_new", "gelu":
		v := float64(x)
		return float32(0.5 * v * (1 + math.Tanh(math.Sqrt(2/math.Pi)*(v+0.044715*v*v*v))))
	case "silu":
		return x / (1 + float32(math.Exp(float64(-x))))
	default: // relu
		return max(x, 0)
	}
}

func activateGrad(kind string, x float32) float32 {
	switch kind {
	case "gelu_new", "gelu":
		v := float64(x)
		k := math.Sqrt(2 / math.Pi)
		t := math.Tanh(k * (v + 0.044715*v*v*v))
		return float32(0.5*(1+t) + 0.5*v*(1-t*t)*k*(1+3*0.044715*v*v))
	case "silu":
		s := 1 / (1 + math.Exp(float64(-x)))
		return float32(s * (1 + float64(x)*(1-s)))
	default:
		if x > 0 {
			return 1
		}
		return 0
	}
}

// Forward applies the adapter to y [n, C] in place.
func (b *Bottleneck) Forward(y []float32, n int) {
	if !b.Enabled {
		return
	}
	d, c := b.Down.Shape[0], b.Down.Shape[1]
	b.yin, b.h, b.a = grow(b.yin, n*c), grow(b.h, n*d), grow(b.a, n*d)
	copy(b.yin, y[:n*c])
	kernels.Sgemm(false, true, n, d, c, 1, y, c, b.Down.Data, c, 0, b.h, d)
	for i := 0; i < n; i++ {
		hi, ai := b.h[i*d:(i+1)*d], b.a[i*d:(i+1)*d]
		for j := range hi {
			hi[j] += b.DownB.Data[j]
			ai[j] = activate(b.Act, hi[j])
		}
	}
	kernels.Sgemm(false, true, n, c, d, b.Scaling, b.a, d, b.Up.Data, d, 1, y, c)
	for i := 0; i < n; i++ {
		kernels.Axpy(b.Scaling, b.UpB.Data, y[i*c:(i+1)*c])
	}
}

// Backward turns dy into the gradient of the adapter's input in place and
// accumulates the adapter's gradients.
func (b *Bottleneck) Backward(dy []float32, n int) {
	if !b.Enabled {
		return
	}
	d, c := b.Down.Shape[0], b.Down.Shape[1]
	s := b.Scaling
	kernels.Sgemm(true, false, c, d, n, s, dy, c, b.a, d, 1, b.DUp.Data, d)
	for i := 0; i < n; i++ {
		kernels.Axpy(s, dy[i*c:(i+1)*c], b.DUpB.Data)
	}
	b.tmp = grow(b.tmp, n*d)
	kernels.Sgemm(false, false, n, d, c, s, dy, c, b.Up.Data, d, 0, b.tmp, d) // da
	for i := range b.tmp {
		b.tmp[i] *= activateGrad(b.Act, b.h[i]) // dh
	}
	for i := 0; i < n; i++ {
		kernels.Add(b.DDownB.Data, b.tmp[i*d:(i+1)*d])
	}
	kernels.Sgemm(true, false, d, c, n, 1, b.tmp, d, b.yin, c, 1, b.DDown.Data, c)
	kernels.Sgemm(false, false, n, c, d, 1, b.tmp, d, b.Down.Data, c, 1, dy, c) // residual
}

// AddBottleneck creates bottleneck adapter name on the host's sublayers of
// nLayers blocks of width c, and makes it active alongside the active LoRA
// adapters (the "LoRA combined with Adapter" configuration).
func (m *Model) AddBottleneck(name string, cfg *BottleneckConfig, host HookHost, nLayers, c int, seed uint64) error {
	if _, dup := m.configs[name]; dup {
		return fmt.Errorf("lora: adapter %q already exists", name)
	}
	if _, dup := m.hookCfg[name]; dup {
		return fmt.Errorf("lora: adapter %q already exists", name)
	}
	if cfg.Size <= 0 {
		return fmt.Errorf("lora: bottleneck %q: size must be positive", name)
	}
	for _, hs := range m.hooks {
		for _, h := range hs {
			for _, site := range cfg.Sites {
				if h.Site == site && (len(cfg.LayersToTransform) == 0 || slices.Contains(cfg.LayersToTransform, h.Layer)) {
					return fmt.Errorf("lora: bottleneck %q: layer %d %s already has an adapter", name, h.Layer, site)
				}
			}
		}
	}
	rng := rand.New(rand.NewPCG(seed, 0xb077))
	var hs []*Bottleneck
	for l := 0; l < nLayers; l++ {
		if len(cfg.LayersToTransform) > 0 && !slices.Contains(cfg.LayersToTransform, l) {
			continue
		}
		for _, site := range cfg.Sites {
			h := newBottleneck(l, site, c, cfg.Size, cfg, rng)
			if err := host.SetSublayerHook(l, site, h); err != nil {
				return err
			}
			hs = append(hs, h)
		}
	}
	cp := *cfg
	m.host = host
	m.hookCfg[name], m.hooks[name] = &cp, hs
	m.active = append(m.active, name)
	m.applyActive()
	return nil
}

// SaveBottleneck writes bottleneck adapter name into dir.
func (m *Model) SaveBottleneck(dir, name string) error {
	cfg := m.hookCfg[name]
	if cfg == nil {
		return fmt.Errorf("lora: no bottleneck adapter %q", name)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	ts := map[string]*tensor.Tensor{}
	for _, h := range m.hooks[name] {
		for _, p := range h.params() {
			ts[p.Name] = p.W
		}
	}
	if err := safetensors.Write(filepath.Join(dir, WeightsFile), ts, map[string]string{"format": "pt"}); err != nil {
		return err
	}
	js, err := json.MarshalIndent(cfg, "", "  ")
	if err != nil {
		return err
	}
	return atomicfile.WriteBytes(filepath.Join(dir, ConfigFile), append(js, '\n'))
}

// LoadBottleneck reads a bottleneck adapter saved by SaveBottleneck.
func (m *Model) LoadBottleneck(dir, name string, host HookHost, nLayers, c int) error {
	js, err := os.ReadFile(filepath.Join(dir, ConfigFile))
	if err != nil {
		return err
	}
	var cfg BottleneckConfig
	if err := json.Unmarshal(js, &cfg); err != nil {
		return fmt.Errorf("%s: %w", dir, err)
	}
	if cfg.AdapterType != "bottleneck" {
		return fmt.Errorf("lora: %s: adapter_type %q is not a bottleneck adapter", dir, cfg.AdapterType)
	}
	path := filepath.Join(dir, WeightsFile)
	f, err := safetensors.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	if err := m.AddBottleneck(name, &cfg, host, nLayers, c, 0); err != nil {
		return err
	}
	for _, h := range m.hooks[name] {
		for _, p := range h.params() {
			t, err := f.Tensor(p.Name)
			if err == nil && !tensor.SameShape(t.Shape, p.W.Shape) {
				err = fmt.Errorf("lora: %s: %s has shape %v, the model needs %v", path, p.Name, t.Shape, p.W.Shape)
			}
			if err != nil {
				m.Delete(name)
				return err
			}
			copy(p.W.Data, t.Data)
		}
	}
	return nil
}
