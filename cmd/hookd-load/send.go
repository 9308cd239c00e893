package main

import (
	"bufio"
	"bytes"
	"context"
	crand "crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hookd-dev/hookd/handlers"
)

// result is what one run measured.
type result struct {
	elapsed   time.Duration
	latencies []time.Duration // of 2xx answers
	failed    int
	statuses  map[int]int
	errs      map[string]int
	perURL    map[string]int // acknowledged, by replica
	peakRSS   map[int]string // by pid
	acked     []*delivery    // in the order acknowledged
}

// loadPrefix starts every tag and delivery id of this process's runs, and
// the run number keeps runs apart, so a second run against the same
// database is neither answered "duplicate" nor finds its tags taken.
var (
	loadPrefix = "load-" + randomHex(4) + "-"
	runs       atomic.Int64
)

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = crand.Read(b)
	return hex.EncodeToString(b)
}

// plan lays out the run's deliveries. Their tags are made later, a batch
// at a time just ahead of sending (see prepare), as a busy repository gets
// them: made all at once, they would be one huge listing for hookd, not a
// stream of pushes.
func plan(o options) []*delivery {
	run := fmt.Sprintf("%s%d-", loadPrefix, runs.Add(1))
	branchBody := gitHubPush(o.repo, "refs/heads/main", strings.Repeat("b", 40), "", o.size)
	pick := rand.New(rand.NewPCG(o.seed, 2))
	var originals []*delivery
	out := make([]*delivery, 0, o.count)
	for i, k := range o.mix.schedule(o.count, o.seed) {
		d := &delivery{id: fmt.Sprintf("%s%06d", run, i), kind: k, source: "github", event: "push"}
		// A GTO tag (every fourth a registration, the rest assignments,
		// each of its own artifact, so that every assignment is a lane of
		// its own and deploys once however the engine orders lanes), or a
		// tag that is none.
		switch {
		case k == branch:
			d.body = branchBody
		case k == other:
			d.nonGTO = []string{fmt.Sprintf("%sother-%d", run, i)}
		case k == gto && i%4 == 0:
			d.gto = []string{fmt.Sprintf("%sg%d@v1.0.0", run, i)}
		case k == gto:
			d.gto = []string{fmt.Sprintf("%sg%d#prod#1", run, i)}
		case k == hook: // a registration and an assignment, in one push
			d.source = "git"
			d.gto = []string{fmt.Sprintf("%sh%d@v1.0.0", run, i), fmt.Sprintf("%sh%d#prod#1", run, i)}
		case k == redeliver:
			// Of any delivery planned before it: GitHub redelivers what it
			// sent, acknowledged or not.
			orig := originals[pick.IntN(len(originals))]
			copied := *orig
			copied.redelivery, copied.orig = true, orig
			d = &copied
		}
		if k != redeliver {
			originals = append(originals, d)
		}
		out = append(out, d)
	}
	return out
}

// tagBatch is how many deliveries' tags prepare makes in one go.
const tagBatch = 64

// prepare makes the tags of deliveries in their repositories and
// gives those deliveries their bodies, which name the tag objects.
func prepare(ctx context.Context, o options, deliveries []*delivery) error {
	var github, git []string
	for _, d := range deliveries {
		switch {
		case d.redelivery:
		case d.source == "git":
			git = append(git, d.gto...)
		default:
			github = append(github, append(slices.Clone(d.gto), d.nonGTO...)...)
		}
	}
	githubTags, err := createTags(ctx, o.githubDir, github)
	if err != nil {
		return err
	}
	gitTags, err := createTags(ctx, o.gitDir, git)
	if err != nil {
		return err
	}
	for _, d := range deliveries {
		switch {
		case d.redelivery, d.kind == branch:
		case d.source == "git":
			d.body = postReceive(o.gitRepo, []createdTag{gitTags[d.gto[0]], gitTags[d.gto[1]]})
		default:
			t := githubTags[append(slices.Clone(d.gto), d.nonGTO...)[0]]
			d.body = gitHubPush(o.repo, "refs/tags/"+t.name, t.sha, t.object.Target, 0)
		}
	}
	return nil
}

func run(ctx context.Context, o options) (*result, error) {
	deliveries := plan(o)
	ctx, cancel := context.WithTimeout(ctx, o.duration)
	defer cancel()
	client := &http.Client{
		Timeout:   10 * time.Second, // GitHub's own limit for an answer
		Transport: &http.Transport{MaxIdleConnsPerHost: o.concurrency, MaxConnsPerHost: o.concurrency},
	}
	var ids *bufio.Writer
	if o.ids != "" {
		f, err := os.Create(o.ids)
		if err != nil {
			return nil, err
		}
		defer f.Close()
		ids = bufio.NewWriter(f)
		defer ids.Flush()
	}

	// Tickets pace the senders: one per delivery, the i-th due at
	// start + i/rate (a ticker would drop ticks whenever this goroutine is
	// late, quietly lowering the rate), or all at once without -rate.
	// They also make each batch of tags before its first delivery is sent.
	tickets := make(chan int, o.concurrency)
	var prepErr error
	go func() {
		defer close(tickets)
		begin := time.Now()
		for i := range deliveries {
			if i%tagBatch == 0 {
				if prepErr = prepare(ctx, o, deliveries[i:min(i+tagBatch, len(deliveries))]); prepErr != nil {
					return
				}
			}
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
			case tickets <- i:
			case <-ctx.Done():
				return
			}
		}
	}()

	res := &result{statuses: map[int]int{}, errs: map[string]int{}, perURL: map[string]int{}, peakRSS: map[int]string{}}
	var (
		mu sync.Mutex
		wg sync.WaitGroup
	)
	start := time.Now()
	for range o.concurrency {
		wg.Go(func() {
			for i := range tickets {
				d, target := deliveries[i], o.urls[i%len(o.urls)]
				took, status, err := send(ctx, client, target, d, o)
				mu.Lock()
				switch {
				case err != nil:
					if ctx.Err() == nil {
						res.failed++
						res.errs[target+": "+describe(err)]++
					}
				case status/100 == 2:
					res.latencies = append(res.latencies, took)
					res.statuses[status]++
					res.perURL[target]++
					res.acked = append(res.acked, d)
					if ids != nil {
						fmt.Fprintln(ids, d.ackLine())
					}
					if o.onAck != nil {
						o.onAck(len(res.acked))
					}
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
	if prepErr != nil && ctx.Err() == nil {
		return res, prepErr
	}
	for _, pid := range o.pids {
		res.peakRSS[pid] = peakRSS(pid)
	}
	if len(res.latencies) == 0 && res.failed > 0 {
		return res, fmt.Errorf("no delivery was accepted: %v %v", res.statuses, res.errs)
	}
	return res, nil
}

// send posts d to the hookd at base, signed as GitHub or the post-receive
// hook signs it.
func send(ctx context.Context, client *http.Client, base string, d *delivery, o options) (time.Duration, int, error) {
	path, secret := "/webhooks/github", o.secret
	if d.source == "git" {
		path, secret = "/webhooks/git", o.gitSecret
	}
	body := d.body
	if d.orig != nil {
		body = d.orig.body
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, base+path, bytes.NewReader(body))
	if err != nil {
		return 0, 0, err
	}
	req.Header.Set("Content-Type", "application/json")
	if d.source == "git" {
		req.Header.Set(handlers.GitDeliveryHeader, d.id)
		req.Header.Set(handlers.GitSignatureHeader, handlers.Sign(secret, body))
	} else {
		req.Header.Set("User-Agent", "GitHub-Hookshot/hookd-load")
		req.Header.Set("X-GitHub-Event", d.event)
		req.Header.Set("X-GitHub-Delivery", d.id)
		req.Header.Set("X-GitHub-Hook-ID", "1")
		req.Header.Set("X-Hub-Signature-256", handlers.Sign(secret, body))
	}
	start := time.Now()
	resp, err := client.Do(req)
	if err != nil {
		return 0, 0, err
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return time.Since(start), resp.StatusCode, nil
}

// describe is what went wrong with a request, without the URL and the
// local port that make every failure's text unique.
func describe(err error) string {
	var op *net.OpError
	if errors.As(err, &op) {
		return op.Op + ": " + op.Err.Error()
	}
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err.Error()
	}
	return err.Error()
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

// quantile of sorted latencies.
func quantile(sorted []time.Duration, p float64) time.Duration {
	return sorted[min(len(sorted)-1, int(p*float64(len(sorted))))]
}

func (r *result) print(w io.Writer, o options) {
	ok := len(r.latencies)
	fmt.Fprintf(w, "targets       %s (mix %s)\n", strings.Join(o.urls, " "), o.mix)
	mode := "as fast as answered"
	if o.rate > 0 {
		mode = fmt.Sprintf("%d/s", o.rate)
	}
	fmt.Fprintf(w, "load          %s, %d in flight at most\n", mode, o.concurrency)
	fmt.Fprintf(w, "accepted      %d in %s = %.0f deliveries/s\n", ok, r.elapsed.Round(time.Millisecond), float64(ok)/r.elapsed.Seconds())
	if len(o.urls) > 1 {
		for _, u := range o.urls {
			fmt.Fprintf(w, "  %s   %d\n", u, r.perURL[u])
		}
	}
	fmt.Fprintf(w, "failed        %d\n", r.failed)
	for status, n := range r.statuses {
		fmt.Fprintf(w, "  status %d   %d\n", status, n)
	}
	for e, n := range r.errs {
		fmt.Fprintf(w, "  error %q  %d\n", e, n)
	}
	if ok > 0 {
		slices.Sort(r.latencies)
		fmt.Fprintf(w, "ack latency   p50 %s  p90 %s  p99 %s  max %s\n",
			quantile(r.latencies, 0.50).Round(10*time.Microsecond), quantile(r.latencies, 0.90).Round(10*time.Microsecond),
			quantile(r.latencies, 0.99).Round(10*time.Microsecond), r.latencies[ok-1].Round(10*time.Microsecond))
	}
	for _, pid := range o.pids {
		fmt.Fprintf(w, "peak RSS      pid %d: %s\n", pid, r.peakRSS[pid])
	}
}
