package serve

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"
)

// Load describes a load test: Clients concurrent clients each send
// Requests streamed completions one after another; client c's request r
// asks for Models[(c+r) % len(Models)].
type Load struct {
	URL       string // the server's root, e.g. http://127.0.0.1:8080
	APIKey    string
	Models    []string
	Clients   int
	Requests  int
	Prompt    []int // token ids
	MaxTokens int
}

// LoadResult is what a Load measured.
type LoadResult struct {
	Requests, Errors int
	Tokens           int // completion tokens (from usage)
	Elapsed          time.Duration
	TTFT             []time.Duration // per successful request: send to first text
	FirstError       error
}

// TokensPerSecond is the generated tokens over the wall time.
func (r LoadResult) TokensPerSecond() float64 { return float64(r.Tokens) / r.Elapsed.Seconds() }

// TTFTQuantile is the q-quantile (nearest rank) of the time to first token.
func (r LoadResult) TTFTQuantile(q float64) time.Duration {
	if len(r.TTFT) == 0 {
		return 0
	}
	t := slices.Clone(r.TTFT)
	slices.Sort(t)
	return t[min(len(t)-1, int(q*float64(len(t))))]
}

// Run sends the load and waits for every request.
func (l Load) Run(ctx context.Context) LoadResult {
	var mu sync.Mutex
	var res LoadResult
	var wg sync.WaitGroup
	start := time.Now()
	for c := range l.Clients {
		wg.Go(func() {
			for r := range l.Requests {
				ttft, n, err := l.one(ctx, l.Models[(c+r)%len(l.Models)])
				mu.Lock()
				res.Requests++
				if err != nil {
					res.Errors++
					if res.FirstError == nil {
						res.FirstError = err
					}
				} else {
					res.Tokens += n
					res.TTFT = append(res.TTFT, ttft)
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	res.Elapsed = time.Since(start)
	return res
}

// one streams one completion and returns its time to first token and its
// completion tokens.
func (l Load) one(ctx context.Context, model string) (time.Duration, int, error) {
	body, _ := json.Marshal(map[string]any{
		"model": model, "prompt": l.Prompt, "max_tokens": l.MaxTokens, "temperature": 0, "ignore_eos": true,
		"stream": true, "stream_options": map[string]any{"include_usage": true},
	})
	req, err := http.NewRequestWithContext(ctx, "POST", strings.TrimSuffix(l.URL, "/")+"/v1/completions", bytes.NewReader(body))
	if err != nil {
		return 0, 0, err
	}
	req.Header.Set("Content-Type", "application/json")
	if l.APIKey != "" {
		req.Header.Set("Authorization", "Bearer "+l.APIKey)
	}
	start := time.Now()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, 0, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return 0, 0, fmt.Errorf("%s: %s", model, resp.Status)
	}
	var ttft time.Duration
	tokens := -1
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		data, ok := strings.CutPrefix(sc.Text(), "data: ")
		if !ok || data == "[DONE]" {
			continue
		}
		var chunk struct {
			Choices []struct{ Text string }
			Usage   *struct {
				CompletionTokens int `json:"completion_tokens"`
			}
			Error *struct{ Message string }
		}
		if err := json.Unmarshal([]byte(data), &chunk); err != nil {
			return 0, 0, err
		}
		if chunk.Error != nil {
			return 0, 0, fmt.Errorf("%s: %s", model, chunk.Error.Message)
		}
		if ttft == 0 && len(chunk.Choices) > 0 {
			ttft = time.Since(start)
		}
		if chunk.Usage != nil {
			tokens = chunk.Usage.CompletionTokens
		}
	}
	if err := sc.Err(); err != nil {
		return 0, 0, err
	}
	if tokens < 0 {
		return 0, 0, fmt.Errorf("%s: the stream ended without usage", model)
	}
	return ttft, tokens, nil
}
