package main

// The fault suite: hookd under the load tool's traffic while something
// goes wrong, judged by the load tool's own verifier, so that "lost" and
// "doubled" mean one thing in the tests and for an operator running the
// tool. Every load is bounded in count and time and goes to 127.0.0.1.

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hookd-dev/hookd/internal/githubtest"
	"github.com/hookd-dev/hookd/internal/hookdtest"
)

// loadUntil starts the load in the background and returns once n
// deliveries are acknowledged; wait returns the result when the load ends.
func loadUntil(t *testing.T, o options, n int64) (wait func() *result) {
	t.Helper()
	l := startLoad(t, o)
	l.waitAcked(t, n)
	return l.wait
}

// background is a load running while a test breaks something.
type background struct {
	acked atomic.Int64
	done  chan *result
	stop  context.CancelFunc
	res   *result
}

func startLoad(t *testing.T, o options) *background {
	l := &background{done: make(chan *result, 1)}
	o.onAck = func(n int) { l.acked.Store(int64(n)) }
	ctx, stop := context.WithCancel(context.Background())
	l.stop = stop
	go func() {
		res, err := run(ctx, o)
		if err != nil {
			t.Error(err)
		}
		l.done <- res
	}()
	t.Cleanup(stop)
	return l
}

// waitAcked waits until n deliveries in all are acknowledged.
func (l *background) waitAcked(t *testing.T, n int64) {
	t.Helper()
	deadline := time.Now().Add(waitLimit)
	for l.acked.Load() < n {
		select {
		case res := <-l.done:
			l.res = res
			t.Fatalf("the load ended with %d acknowledged, before %d", len(res.acked), n)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d deliveries acknowledged within %s", l.acked.Load(), n, waitLimit)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// wait returns the result once the load has ended by itself.
func (l *background) wait() *result {
	if l.res == nil {
		l.res = <-l.done
	}
	return l.res
}

// end stops the load now and returns its result.
func (l *background) end() *result {
	l.stop()
	return l.wait()
}

// logFigures puts what the load measured in the test's log, for
// docs/BENCHMARKS.md's fault runs.
func logFigures(t *testing.T, o options, res *result) {
	t.Helper()
	var b strings.Builder
	res.print(&b, o)
	t.Logf("load during the fault:\n%s", b.String())
}

// TestFaultSIGKILLOneOfThreeReplicas kills one of three replicas on one
// PostgreSQL in the middle of the load: what it had acknowledged is
// processed by the others, nothing twice, no two runs of a lane at once.
func TestFaultSIGKILLOneOfThreeReplicas(t *testing.T) {
	r := newRig(t, pg.Database(t), rigOptions{replicas: 3})
	o := r.options(600)
	o.rate = 200
	wait := loadUntil(t, o, 200)
	r.replicas[1].Kill()
	res := wait()
	logFigures(t, o, res)
	if len(res.acked) < 400 {
		t.Errorf("only %d of 600 deliveries were acknowledged with two replicas left", len(res.acked))
	}
	rep := r.verifyClean(o, res.acked)
	t.Logf("verified: %d deliveries, %d events, %d runs", rep.acknowledged, rep.events, rep.runs)
}

// TestFaultSIGKILLTheSQLiteProcess kills the only process mid-load and
// starts it again: everything it had acknowledged is processed once.
func TestFaultSIGKILLTheSQLiteProcess(t *testing.T) {
	r := newRig(t, filepath.Join(t.TempDir(), "hookd.db"), rigOptions{})
	o := r.options(400)
	o.rate = 200
	wait := loadUntil(t, o, 150)
	r.replicas[0].Kill()
	res := wait() // the rest is refused: nobody listens
	logFigures(t, o, res)
	r.start()
	r.verifyClean(o, res.acked)
}

// TestFaultPostgreSQLDownForTenSeconds stops the database under two
// replicas for about ten seconds of the load: they answer 503 meanwhile,
// never 2xx for what they could not store, /readyz fails, and both recover
// by themselves.
func TestFaultPostgreSQLDownForTenSeconds(t *testing.T) {
	r := newRig(t, pg.Database(t), rigOptions{replicas: 2})
	o := r.options(5000)
	o.rate, o.duration = 80, 2*time.Minute // ended below, once it has shown the recovery
	load := startLoad(t, o)
	load.waitAcked(t, 200)
	if err := pg.Pause(); err != nil {
		t.Fatal(err)
	}
	paused := time.Now()
	resumed := false
	resume := func() {
		if !resumed {
			resumed = true
			if err := pg.Resume(); err != nil {
				t.Fatal(err)
			}
		}
	}
	defer resume()
	for _, p := range r.replicas {
		waitStatus(t, p, "/readyz", http.StatusServiceUnavailable)
	}
	time.Sleep(time.Until(paused.Add(10 * time.Second))) // the outage itself
	duringOutage := load.acked.Load()
	resume()
	back := time.Now()
	for _, p := range r.replicas {
		waitStatus(t, p, "/readyz", http.StatusOK)
	}
	t.Logf("both replicas ready %s after the database came back", time.Since(back).Round(time.Millisecond))
	load.waitAcked(t, duringOutage+100)
	res := load.end()
	logFigures(t, o, res)
	if res.statuses[http.StatusServiceUnavailable] == 0 {
		t.Errorf("no delivery was answered 503 while the database was down: %v %v", res.statuses, res.errs)
	}
	for status, n := range res.statuses {
		if status/100 != 2 && status != http.StatusServiceUnavailable {
			t.Errorf("%d deliveries answered %d", n, status)
		}
	}
	r.verifyClean(o, res.acked)
}

// waitStatus polls GET path until it answers want.
func waitStatus(t *testing.T, p *hookdtest.Process, path string, want int) {
	t.Helper()
	deadline := time.Now().Add(waitLimit)
	for {
		got, _ := p.Get(path)
		if got == want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s answered %d for %s, want %d", path, got, waitLimit, want)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// apiCall is one request hookd made to the GitHub API, as the recorder
// in front of the stand-in saw it.
type apiCall struct {
	replica    string
	path       string
	status     int
	retryAfter string
	start, end time.Time
}

// recorder sits between hookd and the GitHub stand-in and notes each call:
// when, which replica (the first path segment, /rN/), and what came back.
type recorder struct {
	mu    sync.Mutex
	calls []apiCall
	open  map[string]int // calls in flight, by replica
	delay func(path string) time.Duration
	srv   *httptest.Server
}

func newRecorder(t *testing.T, gh *githubtest.Server) *recorder {
	t.Helper()
	target, err := url.Parse(gh.APIURL())
	if err != nil {
		t.Fatal(err)
	}
	rec := &recorder{open: map[string]int{}, delay: func(string) time.Duration { return 0 }}
	proxy := httputil.NewSingleHostReverseProxy(target)
	rec.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		replica, rest, _ := strings.Cut(strings.TrimPrefix(req.URL.Path, "/"), "/")
		req.URL.Path, req.URL.RawPath = "/"+rest, ""
		c := apiCall{replica: replica, path: req.URL.Path, start: time.Now()}
		rec.mu.Lock()
		rec.open[replica]++
		delay := rec.delay
		rec.mu.Unlock()
		time.Sleep(delay(c.path))
		sw := &statusWriter{ResponseWriter: w, status: http.StatusOK}
		proxy.ServeHTTP(sw, req)
		c.status, c.retryAfter, c.end = sw.status, sw.Header().Get("Retry-After"), time.Now()
		rec.mu.Lock()
		rec.calls = append(rec.calls, c)
		rec.open[replica]--
		rec.mu.Unlock()
	}))
	t.Cleanup(rec.srv.Close)
	return rec
}

type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	w.status = code
	w.ResponseWriter.WriteHeader(code)
}

func (rec *recorder) snapshot() []apiCall {
	rec.mu.Lock()
	defer rec.mu.Unlock()
	return slices.Clone(rec.calls)
}

// TestFaultGitHubErrorsAndRateLimits has the GitHub stand-in answer 5xx,
// hang, and rate-limit with Retry-After while tag pushes arrive:
// processing waits as GitHub asks, resumes, and loses nothing.
func TestFaultGitHubErrorsAndRateLimits(t *testing.T) {
	r := newRig(t, filepath.Join(t.TempDir(), "hookd.db"), rigOptions{recorder: true})
	rec := r.recorder
	o := r.options(300)
	o.mix = mix{gto: 60, branch: 30, redeliver: 10}
	o.rate = 100
	wait := loadUntil(t, o, 30)
	armed := time.Now()
	r.gh.InjectRESTFault(githubtest.RESTFault{Kind: githubtest.ServerError, Status: 502, Count: 3})
	r.gh.InjectRESTFault(githubtest.RESTFault{Kind: githubtest.Hang, Count: 1})
	r.gh.InjectRESTFault(githubtest.RESTFault{Kind: githubtest.SecondaryRateLimit, Status: 429, RetryAfter: 3 * time.Second, Count: 1})
	res := wait()
	logFigures(t, o, res)
	r.verifyClean(o, res.acked)

	calls := rec.snapshot()
	var limited *apiCall
	for i, c := range calls {
		if c.start.After(armed) && c.status == http.StatusTooManyRequests {
			limited = &calls[i]
			break
		}
	}
	if limited == nil {
		t.Fatalf("the rate limit was never answered; calls: %v", calls)
	}
	if limited.retryAfter != "3" {
		t.Errorf("the rate limit said Retry-After %q, want 3", limited.retryAfter)
	}
	// A call sent while the 429 was on its way to hookd arrives just after
	// it; hookd can only hold what it sends once it has read the answer.
	inFlight := 200 * time.Millisecond
	for _, c := range calls {
		if c.start.After(limited.end.Add(inFlight)) && c.start.Before(limited.end.Add(3*time.Second-50*time.Millisecond)) {
			t.Errorf("hookd called GitHub (%s) %s after being told to wait 3 s", c.path, c.start.Sub(limited.end).Round(time.Millisecond))
		}
	}
	counts := map[int]int{}
	for _, c := range calls {
		if c.start.After(armed) {
			counts[c.status]++
		}
	}
	// Three 502s from GitHub, and one from the recorder for the hung
	// request when hookd gave up on it.
	if counts[http.StatusBadGateway] != 4 || counts[http.StatusOK] == 0 {
		t.Errorf("GitHub answers after the faults were armed: %v, want 4 × 502 and then successes", counts)
	}
}

// TestFaultHangingDeployTarget points an action of two lanes at an HTTP
// target that never answers: its timeout ends each attempt, and the load's
// deploys on every other lane finish meanwhile.
func TestFaultHangingDeployTarget(t *testing.T) {
	hung := make(chan struct{})
	target := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		select {
		case <-hung:
		case <-req.Context().Done():
		}
	}))
	defer target.Close()
	defer close(hung)
	r := newRig(t, filepath.Join(t.TempDir(), "hookd.db"), rigOptions{actions: fmt.Sprintf(`  - name: notify
    on: {event: [assignment], artifact: "stuck-*"}
    http: {url: %s, timeout: 2s}
    max_attempts: 2
    backoff: {initial: 100ms, max: 100ms}
`, target.URL)})
	stuck, err := createTags(context.Background(), r.gh.BareDir(), []string{"stuck-a#prod#1", "stuck-b#prod#1"})
	if err != nil {
		t.Fatal(err)
	}
	// Announce the two stuck lanes first, then the load.
	var first []*delivery
	for i, name := range []string{"stuck-a#prod#1", "stuck-b#prod#1"} {
		d := &delivery{id: fmt.Sprintf("stuck-%d", i), kind: gto, source: "github", event: "push", gto: []string{name},
			body: gitHubPush("acme/models", "refs/tags/"+name, stuck[name].sha, stuck[name].object.Target, 0)}
		_, status, err := send(context.Background(), http.DefaultClient, r.replicas[0].URL(), d, r.options(1))
		if err != nil || status/100 != 2 {
			t.Fatalf("announcing %s: %d %v", name, status, err)
		}
		first = append(first, d)
	}
	o := r.options(300)
	o.rate = 150
	res, err := run(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	r.verifyClean(o, append(first, res.acked...))

	api := &apiClient{bases: []string{r.replicas[0].URL()}, token: rigToken, http: http.DefaultClient}
	for _, artifact := range []string{"stuck-a", "stuck-b"} {
		var runs []apiRun
		waitFor(t, fmt.Sprintf("the notify run of %s to end", artifact), func() bool {
			if err := api.list(context.Background(), "/api/v1/runs", url.Values{"action": {"notify"}, "artifact": {artifact}}, "runs", &runs); err != nil {
				t.Fatal(err)
			}
			return len(runs) == 1 && runs[0].Status != "queued" && runs[0].Status != "running"
		})
		if err := api.get(context.Background(), fmt.Sprintf("/api/v1/runs/%d", runs[0].ID), &runs[0]); err != nil {
			t.Fatal(err)
		}
		run := runs[0]
		if run.Status != "failed" || run.Attempts != 2 || len(run.History) != 2 {
			t.Fatalf("the hung run of %s: %s after %d attempts %+v, want failed after 2", artifact, run.Status, run.Attempts, run.History)
		}
		for _, a := range run.History {
			if a.FinishedAt == nil || a.FinishedAt.Sub(a.StartedAt) > 5*time.Second {
				t.Errorf("attempt %d of %s was not ended by its 2 s timeout: %+v", a.Number, artifact, a)
			}
		}
	}
}

// waitFor polls cond until it holds.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(waitLimit)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("waited %s for %s", waitLimit, what)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// TestFaultReconcileRunsOnOneReplicaAtATime re-lists every second on three
// replicas, each listing made slow: no two replicas list the repository at
// once, and when the one listing dies, the others carry on and find a tag
// no webhook announced.
func TestFaultReconcileRunsOnOneReplicaAtATime(t *testing.T) {
	r := newRig(t, pg.Database(t), rigOptions{replicas: 3, reconcile: "1s", recorder: true})
	rec := r.recorder
	rec.mu.Lock()
	rec.delay = func(path string) time.Duration {
		if path == "/graphql" || strings.Contains(path, "/git/matching-refs/") {
			return 300 * time.Millisecond
		}
		return 0
	}
	rec.mu.Unlock()
	listings := func() []apiCall {
		var out []apiCall
		for _, c := range rec.snapshot() {
			if c.path == "/graphql" || strings.Contains(c.path, "/git/matching-refs/") {
				out = append(out, c)
			}
		}
		return out
	}
	start := len(listings())
	waitFor(t, "ten listings", func() bool { return len(listings()) >= start+10 })

	// Kill whichever replica is listing right now.
	var victim int
	waitFor(t, "a listing in progress", func() bool {
		for i := range r.replicas {
			if inFlight(rec, fmt.Sprintf("r%d", i)) {
				victim = i
				return true
			}
		}
		return false
	})
	r.replicas[victim].Kill()
	if _, err := createTags(context.Background(), r.gh.BareDir(), []string{"quiet@v1.0.0"}); err != nil {
		t.Fatal(err)
	}
	killed := time.Now()
	api := &apiClient{bases: []string{r.replicas[(victim+1)%3].URL()}, token: rigToken, http: http.DefaultClient}
	waitFor(t, "the tag pushed without a webhook to be found", func() bool {
		var evs []struct{ Tag string }
		if err := api.list(context.Background(), "/api/v1/events", nil, "events", &evs); err != nil {
			t.Fatal(err)
		}
		return slices.ContainsFunc(evs, func(e struct{ Tag string }) bool { return e.Tag == "quiet@v1.0.0" })
	})
	t.Logf("found %s after replica %d was killed mid-listing", time.Since(killed).Round(time.Millisecond), victim)

	calls := listings()
	for i, a := range calls {
		for _, b := range calls[i+1:] {
			if a.replica != b.replica && a.start.Before(b.end) && b.start.Before(a.end) {
				t.Errorf("replicas %s and %s listed at once: %s–%s and %s–%s", a.replica, b.replica,
					a.start.Format("15:04:05.000"), a.end.Format("15:04:05.000"), b.start.Format("15:04:05.000"), b.end.Format("15:04:05.000"))
			}
		}
	}
	t.Logf("%d listings by replicas %v", len(calls), replicasOf(calls))
}

// inFlight says whether replica has a GitHub call open at the recorder.
func inFlight(rec *recorder, replica string) bool {
	rec.mu.Lock()
	defer rec.mu.Unlock()
	return rec.open[replica] > 0
}

func replicasOf(calls []apiCall) map[string]int {
	n := map[string]int{}
	for _, c := range calls {
		n[c.replica]++
	}
	return n
}
