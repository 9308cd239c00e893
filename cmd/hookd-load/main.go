// Command hookd-load measures how many GitHub webhook deliveries a running
// hookd accepts, and how fast it answers: it sends signed, realistic push
// payloads (about 8 KB, like a push of a few commits) to /webhooks/github,
// either as fast as hookd answers or at a fixed rate, and reports
// throughput and acknowledgement latency percentiles.
//
// It only ever talks to a loopback address, and it always stops: after
// -count deliveries or -duration, whichever comes first.
//
//	hookd-load -secret s3cret -repo acme/models -count 20000 -concurrency 32
//	hookd-load -secret s3cret -repo acme/models -rate 1000 -duration 20s
//
// With -pid it also reports the daemon's peak resident memory (VmHWM).
package main

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

type options struct {
	url         string
	secret      string
	repo        string
	count       int
	duration    time.Duration
	concurrency int
	rate        int
	size        int
	pid         int
}

func main() {
	var o options
	flag.StringVar(&o.url, "url", "http://127.0.0.1:8080/webhooks/github", "hookd's GitHub webhook URL (loopback only)")
	flag.StringVar(&o.secret, "secret", "", "the repository's webhook secret (required)")
	flag.StringVar(&o.repo, "repo", "acme/models", "repository full name in the payloads (must be configured in hookd)")
	flag.IntVar(&o.count, "count", 10000, "deliveries to send at most")
	flag.DurationVar(&o.duration, "duration", 60*time.Second, "time to send for at most")
	flag.IntVar(&o.concurrency, "concurrency", 32, "requests in flight at most")
	flag.IntVar(&o.rate, "rate", 0, "deliveries per second (0: as fast as hookd answers)")
	flag.IntVar(&o.size, "size", 8<<10, "approximate payload size in bytes")
	flag.IntVar(&o.pid, "pid", 0, "hookd's process id, to report its peak RSS")
	flag.Usage = func() {
		fmt.Fprintf(flag.CommandLine.Output(), "Usage: hookd-load -secret SECRET [flags]\n\n"+
			"Sends signed GitHub push deliveries to a hookd on this machine and reports\n"+
			"throughput and acknowledgement latency.\n\nFlags:\n")
		flag.PrintDefaults()
	}
	flag.Parse()
	if err := o.check(); err != nil {
		fmt.Fprintln(os.Stderr, "hookd-load:", err)
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	res, err := run(ctx, o)
	if err != nil {
		fmt.Fprintln(os.Stderr, "hookd-load:", err)
		os.Exit(1)
	}
	res.print(os.Stdout, o)
	if res.failed > 0 {
		os.Exit(1)
	}
}

func (o options) check() error {
	if o.secret == "" {
		return errors.New("-secret is required (the webhook secret of -repo in hookd's config)")
	}
	u, err := url.Parse(o.url)
	if err != nil || u.Host == "" {
		return fmt.Errorf("-url %q is not a URL", o.url)
	}
	if !isLoopback(u.Hostname()) {
		return fmt.Errorf("-url %q: hookd-load only sends to loopback addresses (127.0.0.0/8, ::1, localhost)", o.url)
	}
	switch {
	case o.count <= 0:
		return errors.New("-count must be positive")
	case o.duration <= 0:
		return errors.New("-duration must be positive")
	case o.concurrency <= 0:
		return errors.New("-concurrency must be positive")
	case o.rate < 0:
		return errors.New("-rate must not be negative")
	}
	return nil
}

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// result is what one run measured.
type result struct {
	elapsed   time.Duration
	latencies []time.Duration // of 2xx answers
	failed    int
	statuses  map[int]int
	errs      map[string]int
	peakRSS   string
}

func run(ctx context.Context, o options) (*result, error) {
	ctx, cancel := context.WithTimeout(ctx, o.duration)
	defer cancel()
	client := &http.Client{
		Timeout:   10 * time.Second, // GitHub's own limit for an answer
		Transport: &http.Transport{MaxIdleConnsPerHost: o.concurrency, MaxConnsPerHost: o.concurrency},
	}
	body := payload(o.repo, o.size)
	signature := sign(o.secret, body)

	// Tickets pace the senders: one per delivery, the i-th due at
	// start + i/rate (a ticker would drop ticks whenever this goroutine is
	// late, quietly lowering the rate), or all at once without -rate.
	tickets := make(chan struct{}, o.concurrency)
	go func() {
		defer close(tickets)
		begin := time.Now()
		for i := range o.count {
			if o.rate > 0 {
				due := begin.Add(time.Duration(i) * time.Second / time.Duration(o.rate))
				if wait := time.Until(due); wait > 0 {
					select {
					case <-time.After(wait):
					case <-ctx.Done():
						return
					}
				}
			}
			select {
			case tickets <- struct{}{}:
			case <-ctx.Done():
				return
			}
		}
	}()

	res := &result{statuses: map[int]int{}, errs: map[string]int{}}
	var (
		mu   sync.Mutex
		wg   sync.WaitGroup
		sent atomic.Int64
	)
	start := time.Now()
	for range o.concurrency {
		wg.Go(func() {
			for range tickets {
				n := sent.Add(1)
				took, status, err := deliver(ctx, client, o.url, body, signature, n)
				mu.Lock()
				switch {
				case err != nil:
					if ctx.Err() == nil {
						res.failed++
						res.errs[err.Error()]++
					}
				case status/100 == 2:
					res.latencies = append(res.latencies, took)
					res.statuses[status]++
				default:
					res.failed++
					res.statuses[status]++
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	res.elapsed = time.Since(start)
	if o.pid > 0 {
		res.peakRSS = peakRSS(o.pid)
	}
	if len(res.latencies) == 0 && res.failed > 0 {
		return res, fmt.Errorf("no delivery was accepted: %v %v", res.statuses, res.errs)
	}
	return res, nil
}

func deliver(ctx context.Context, client *http.Client, target string, body []byte, signature string, n int64) (time.Duration, int, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, target, bytes.NewReader(body))
	if err != nil {
		return 0, 0, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "GitHub-Hookshot/hookd-load")
	req.Header.Set("X-GitHub-Event", "push")
	req.Header.Set("X-GitHub-Delivery", deliveryID(n))
	req.Header.Set("X-GitHub-Hook-ID", "1")
	req.Header.Set("X-Hub-Signature-256", signature)
	start := time.Now()
	resp, err := client.Do(req)
	if err != nil {
		return 0, 0, err
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return time.Since(start), resp.StatusCode, nil
}

// runID keeps delivery ids of separate runs apart, so a second run against
// the same database is not answered "duplicate".
var runID = func() string {
	var b [6]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}()

// deliveryID is GUID-shaped, like GitHub's.
func deliveryID(n int64) string {
	return fmt.Sprintf("%s-%04x-4000-8000-%012x", runID[:8], n>>48&0xffff, n&0xffffffffffff)
}

func sign(secret string, body []byte) string {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write(body)
	return "sha256=" + hex.EncodeToString(m.Sum(nil))
}

// payload is a GitHub push of commits to main, padded with commits until it
// is about size bytes: the shape and size of a typical delivery. hookd
// stores it and, being a branch push, records it as ignored.
func payload(repo string, size int) []byte {
	owner, name, _ := strings.Cut(repo, "/")
	person := map[string]any{"name": "Load Tester", "email": "load@example.com", "username": "load"}
	p := map[string]any{
		"ref": "refs/heads/main", "before": strings.Repeat("a", 40), "after": strings.Repeat("b", 40),
		"created": false, "deleted": false, "forced": false, "base_ref": nil,
		"compare": "https://github.com/" + repo + "/compare/aaaaaaaaaaaa...bbbbbbbbbbbb",
		"repository": map[string]any{
			"id": 1, "name": name, "full_name": repo, "private": true, "default_branch": "main",
			"owner":    map[string]any{"login": owner, "name": owner},
			"html_url": "https://github.com/" + repo, "url": "https://github.com/" + repo,
		},
		"pusher": map[string]any{"name": "load", "email": "load@example.com"},
		"sender": map[string]any{"login": "load", "id": 1, "type": "User"},
	}
	var commits []map[string]any
	for i := 0; ; i++ {
		id := fmt.Sprintf("%040x", i+1)
		commits = append(commits, map[string]any{
			"id": id, "tree_id": strings.Repeat("c", 40), "distinct": true,
			"message":   fmt.Sprintf("Retrain churn model on the week %d data\n\nMetrics improved on the holdout set.", i),
			"timestamp": "2024-05-01T10:00:00+02:00", "url": "https://github.com/" + repo + "/commit/" + id,
			"author": person, "committer": person,
			"added": []string{}, "removed": []string{}, "modified": []string{"models/churn.pkl.dvc", "metrics.json"},
		})
		p["commits"], p["head_commit"] = commits, commits[len(commits)-1]
		b, _ := json.Marshal(p)
		if len(b) >= size {
			return b
		}
	}
}

// peakRSS reads the process's VmHWM from /proc.
func peakRSS(pid int) string {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return "unknown (" + err.Error() + ")"
	}
	for line := range strings.SplitSeq(string(data), "\n") {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			return strings.TrimSpace(v)
		}
	}
	return "unknown"
}

func (r *result) print(w io.Writer, o options) {
	ok := len(r.latencies)
	fmt.Fprintf(w, "target        %s (repository %s, %d-byte payloads)\n", o.url, o.repo, len(payload(o.repo, o.size)))
	mode := "as fast as answered"
	if o.rate > 0 {
		mode = fmt.Sprintf("%d/s", o.rate)
	}
	fmt.Fprintf(w, "load          %s, %d in flight at most\n", mode, o.concurrency)
	fmt.Fprintf(w, "accepted      %d in %s = %.0f deliveries/s\n", ok, r.elapsed.Round(time.Millisecond), float64(ok)/r.elapsed.Seconds())
	fmt.Fprintf(w, "failed        %d\n", r.failed)
	for status, n := range r.statuses {
		fmt.Fprintf(w, "  status %d   %d\n", status, n)
	}
	for e, n := range r.errs {
		fmt.Fprintf(w, "  error %q  %d\n", e, n)
	}
	if ok > 0 {
		slices.Sort(r.latencies)
		q := func(p float64) time.Duration { return r.latencies[min(ok-1, int(p*float64(ok)))] }
		fmt.Fprintf(w, "ack latency   p50 %s  p90 %s  p99 %s  max %s\n",
			q(0.50).Round(10*time.Microsecond), q(0.90).Round(10*time.Microsecond),
			q(0.99).Round(10*time.Microsecond), r.latencies[ok-1].Round(10*time.Microsecond))
	}
	if r.peakRSS != "" {
		fmt.Fprintf(w, "hookd peak RSS %s\n", r.peakRSS)
	}
}
