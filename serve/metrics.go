package serve

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

// metrics are the server's Prometheus series, named after vLLM's where they
// mean the same thing so that existing dashboards read them. Each server
// has its own registry (no globals), so tests can run several.
type metrics struct {
	reg          *prometheus.Registry
	requests     *prometheus.CounterVec
	promptTokens prometheus.Counter
	genTokens    prometheus.Counter
	running      prometheus.Gauge
	waiting      prometheus.Gauge
	kvUsage      prometheus.Gauge
	batch        prometheus.Histogram
	ttft         prometheus.Histogram
	latency      prometheus.Histogram
}

func newMetrics() *metrics {
	m := &metrics{
		reg: prometheus.NewRegistry(),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "golora_requests_total", Help: "HTTP API requests by endpoint and status code.",
		}, []string{"endpoint", "code"}),
		promptTokens: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "golora_prompt_tokens_total", Help: "Prompt tokens prefilled.",
		}),
		genTokens: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "golora_generation_tokens_total", Help: "Tokens generated.",
		}),
		running: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "golora_num_requests_running", Help: "Sequences in the running batch.",
		}),
		waiting: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "golora_num_requests_waiting", Help: "Sequences queued for a batch slot (queue depth).",
		}),
		kvUsage: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "golora_kv_cache_usage_perc", Help: "Share of the KV token budget reserved by running sequences (0-1).",
		}),
		batch: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "golora_batch_size", Help: "Sequences per forward step.",
			Buckets: []float64{1, 2, 4, 8, 16, 32, 64, 128},
		}),
		ttft: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "golora_time_to_first_token_seconds", Help: "Time from arrival to the first generated token.",
			Buckets: prometheus.ExponentialBuckets(0.001, 2, 16),
		}),
		latency: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "golora_e2e_request_latency_seconds", Help: "Time from arrival to the end of a request.",
			Buckets: prometheus.ExponentialBuckets(0.001, 2, 18),
		}),
	}
	m.reg.MustRegister(m.requests, m.promptTokens, m.genTokens, m.running, m.waiting, m.kvUsage, m.batch, m.ttft, m.latency,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}
