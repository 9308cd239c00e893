package main

import (
	"bytes"
	"context"
	"crypto/hmac"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hookd-dev/hookd/handlers"
	"github.com/hookd-dev/hookd/store"
)

func branchOnly(t *testing.T, url string, count int) options {
	t.Helper()
	m, err := parseMix("branch=100")
	if err != nil {
		t.Fatal(err)
	}
	return options{urls: []string{url}, secret: "s3cret", repo: "acme/models", mix: m, count: count,
		duration: time.Minute, concurrency: 8, size: 8 << 10}
}

func TestSendsSignedDistinctDeliveriesAndStopsAtCount(t *testing.T) {
	var (
		n   atomic.Int64
		mu  sync.Mutex
		ids = map[string]bool{}
	)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if r.URL.Path != "/webhooks/github" || !hmac.Equal([]byte(r.Header.Get("X-Hub-Signature-256")), []byte(handlers.Sign("s3cret", body))) {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		var p struct {
			Repository struct {
				FullName string `json:"full_name"`
			} `json:"repository"`
		}
		if json.Unmarshal(body, &p) != nil || p.Repository.FullName != "acme/models" || r.Header.Get("X-GitHub-Event") != "push" {
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		mu.Lock()
		dup := ids[r.Header.Get("X-GitHub-Delivery")]
		ids[r.Header.Get("X-GitHub-Delivery")] = true
		mu.Unlock()
		if dup {
			w.WriteHeader(http.StatusOK)
			return
		}
		n.Add(1)
		w.WriteHeader(http.StatusAccepted)
	}))
	defer srv.Close()

	res, err := run(context.Background(), branchOnly(t, srv.URL, 300))
	if err != nil {
		t.Fatal(err)
	}
	if got := n.Load(); got != 300 || len(res.latencies) != 300 || res.failed != 0 || res.statuses[http.StatusAccepted] != 300 {
		t.Errorf("server accepted %d, tool counted %d ok / %d failed / %v", got, len(res.latencies), res.failed, res.statuses)
	}
}

func TestCountsRejectedDeliveriesAsFailures(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusUnauthorized)
	}))
	defer srv.Close()
	res, err := run(context.Background(), branchOnly(t, srv.URL, 5))
	if err == nil || res.failed != 5 || res.statuses[http.StatusUnauthorized] != 5 || len(res.acked) != 0 {
		t.Errorf("err %v, failed %d, statuses %v, acknowledged %d", err, res.failed, res.statuses, len(res.acked))
	}
}

// A replica that is gone is one line of the report, not one per port.
func TestGroupsConnectionErrorsByReplica(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	gone := srv.URL
	srv.Close()
	res, err := run(context.Background(), branchOnly(t, gone, 20))
	if err == nil || res.failed != 20 || len(res.errs) != 1 {
		t.Fatalf("err %v, %d failed, errors %v; want 20 under one line", err, res.failed, res.errs)
	}
	for e := range res.errs {
		if !strings.HasPrefix(e, gone+": dial: ") {
			t.Errorf("error line %q does not name the replica and what failed", e)
		}
	}
}

func TestSpreadsDeliveriesOverEveryReplica(t *testing.T) {
	var hits [3]atomic.Int64
	var urls []string
	for i := range hits {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			hits[i].Add(1)
			w.WriteHeader(http.StatusAccepted)
		}))
		defer srv.Close()
		urls = append(urls, srv.URL)
	}
	o := branchOnly(t, urls[0], 90)
	o.urls = urls
	if _, err := run(context.Background(), o); err != nil {
		t.Fatal(err)
	}
	for i := range hits {
		if n := hits[i].Load(); n != 30 {
			t.Errorf("replica %d got %d of 90 deliveries, want 30", i, n)
		}
	}
}

func TestBranchPayloadIsARealisticPushOfTheAskedSize(t *testing.T) {
	b := gitHubPush("acme/models", "refs/heads/main", strings.Repeat("b", 40), "", 8<<10)
	var p struct {
		Ref     string           `json:"ref"`
		Commits []map[string]any `json:"commits"`
	}
	if err := json.Unmarshal(b, &p); err != nil {
		t.Fatal(err)
	}
	if len(b) < 8<<10 || len(b) > 9<<10 || p.Ref != "refs/heads/main" || len(p.Commits) < 5 {
		t.Errorf("payload: %d bytes, ref %q, %d commits", len(b), p.Ref, len(p.Commits))
	}
}

func TestMixIsLaidOutInItsProportions(t *testing.T) {
	m, err := parseMix("branch=50,gto=20,other=10,hook=10,redeliver=10")
	if err != nil {
		t.Fatal(err)
	}
	s := m.schedule(1000, 7)
	got := map[kind]int{}
	for _, k := range s {
		got[k]++
	}
	want := map[kind]int{branch: 500, gto: 200, other: 100, hook: 100, redeliver: 100}
	for k, n := range want {
		if got[k] != n {
			t.Errorf("%d %s deliveries of 1000, want %d", got[k], k, n)
		}
	}
	if s[0] == redeliver {
		t.Error("the first delivery is a redelivery of nothing")
	}
	if again := m.schedule(1000, 7); !equalKinds(s, again) {
		t.Error("the same seed laid out another sequence")
	}
	for _, bad := range []string{"", "branch", "branch=x", "tags=5", "branch=-1", "branch=0", "redeliver=10"} {
		if _, err := parseMix(bad); err == nil {
			t.Errorf("parseMix(%q) accepted", bad)
		}
	}
}

func equalKinds(a, b []kind) bool {
	return strings.Join(kindStrings(a), ",") == strings.Join(kindStrings(b), ",")
}

func kindStrings(ks []kind) []string {
	out := make([]string, len(ks))
	for i, k := range ks {
		out[i] = string(k)
	}
	return out
}

func TestRefusesTargetsOffThisMachine(t *testing.T) {
	for _, u := range []string{"http://10.0.0.1:8080", "http://example.com/webhooks/github", "http://192.168.1.5/", "http://127.0.0.1:8080,http://10.1.1.1"} {
		if _, err := parseFlags([]string{"-secret", "s", "-url", u}); err == nil || !strings.Contains(err.Error(), "loopback") {
			t.Errorf("-url %s: %v, want a loopback refusal", u, err)
		}
	}
	for _, u := range []string{"http://127.0.0.1:8080/webhooks/github", "http://localhost:1/", "http://[::1]:8080"} {
		if _, err := parseFlags([]string{"-secret", "s", "-url", u}); err != nil {
			t.Errorf("-url %s: %v", u, err)
		}
	}
}

func TestFlagsSayWhatAMixNeeds(t *testing.T) {
	for args, want := range map[string]string{
		"-mix gto=1 -secret s":              "-github-dir",
		"-mix hook=1":                       "-git-dir",
		"-mix branch=1":                     "-secret",
		"-mix hook=1 -git-dir /tmp/r":       "-git-secret",
		"-secret s -ledger l":               "-action",
		"-secret s -pid x":                  "process id",
		"-secret s -mix redeliver=3":        "need something else",
		"-secret s -count 0":                "-count",
		"-secret s -url http://127.0.0.1 x": "unexpected",
	} {
		if _, err := parseFlags(strings.Fields(args)); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: %v, want an error naming %q", args, err, want)
		}
	}
}

func TestHoldsTheAskedRate(t *testing.T) {
	var n atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n.Add(1)
		w.WriteHeader(http.StatusAccepted)
	}))
	defer srv.Close()
	// 400 deliveries at 2,000/s: the run cannot end before 200 ms.
	o := branchOnly(t, srv.URL, 400)
	o.rate, o.size = 2000, 512
	res, err := run(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	if n.Load() != 400 || res.elapsed < 199*time.Millisecond {
		t.Errorf("sent %d in %s; want 400, paced over at least 200ms", n.Load(), res.elapsed)
	}
}

// loadCLI runs the hookd-load binary and returns its output and exit code.
func loadCLI(t *testing.T, args ...string) (string, int) {
	t.Helper()
	cmd := exec.Command(loadBin, args...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	var exit *exec.ExitError
	if err != nil && !errors.As(err, &exit) {
		t.Fatal(err)
	}
	return out.String(), cmd.ProcessState.ExitCode()
}

func (r *rig) cliArgs(urls string, count int, ids string) []string {
	return []string{"-url", urls, "-secret", rigSecret, "-github-dir", r.gh.BareDir(),
		"-git-dir", r.gitDir, "-count", fmt.Sprint(count), "-concurrency", "8", "-ids", ids,
		"-token", rigToken, "-action", "deploy", "-ledger", r.ledger, "-settle", "60s"}
}

// TestCLIVerifiesACleanRunAndExitsZero: against a real hookd, every kind
// of delivery, verified from the API; exit 0, and every acknowledged id in
// the -ids file.
func TestCLIVerifiesACleanRunAndExitsZero(t *testing.T) {
	r := newRig(t, filepath.Join(t.TempDir(), "hookd.db"), rigOptions{})
	ids := filepath.Join(t.TempDir(), "ids")
	out, code := loadCLI(t, r.cliArgs(r.replicas[0].URL(), 300, ids)...)
	if code != 0 {
		t.Fatalf("exit %d:\n%s", code, out)
	}
	for _, line := range []string{"lost          0", "duplicated    0", "overlapping   0", "unprocessed   0"} {
		if !strings.Contains(out, line) {
			t.Errorf("output has no %q:\n%s", line, out)
		}
	}
	acked := readIDs(t, ids)
	if len(acked) != 300 {
		t.Errorf("-ids holds %d acknowledged deliveries, want 300", len(acked))
	}
}

// TestCLIExitsNonZeroWhenDeliveriesAreLost puts a front that answers 202
// to every tenth webhook without passing it on (as a broken proxy or a
// hookd acknowledging before storing would): the tool reports them lost.
func TestCLIExitsNonZeroWhenDeliveriesAreLost(t *testing.T) {
	r := newRig(t, filepath.Join(t.TempDir(), "hookd.db"), rigOptions{})
	target, _ := url.Parse(r.replicas[0].URL())
	proxy := httputil.NewSingleHostReverseProxy(target)
	var n atomic.Int64
	front := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if strings.HasPrefix(req.URL.Path, "/webhooks/") && n.Add(1)%10 == 0 {
			w.WriteHeader(http.StatusAccepted)
			return
		}
		proxy.ServeHTTP(w, req)
	}))
	defer front.Close()
	out, code := loadCLI(t, r.cliArgs(front.URL, 100, filepath.Join(t.TempDir(), "ids"))...)
	// Ten were swallowed; a redelivery of one of them may have brought it
	// in after all.
	if lost := regexp.MustCompile(`(?m)^lost +(\d+)$`).FindStringSubmatch(out); code != 1 || lost == nil || lost[1] == "0" {
		t.Fatalf("exit %d, want 1 with deliveries lost:\n%s", code, out)
	}
}

// TestCLIExitsNonZeroWhenATagHasTwoEvents records a second event for one
// of the run's tags in hookd's database, as a store that let a tag through
// twice would, and verifies the run again from its -ids file.
func TestCLIExitsNonZeroWhenATagHasTwoEvents(t *testing.T) {
	db := filepath.Join(t.TempDir(), "hookd.db")
	r := newRig(t, db, rigOptions{})
	ids := filepath.Join(t.TempDir(), "ids")
	if out, code := loadCLI(t, r.cliArgs(r.replicas[0].URL(), 100, ids)...); code != 0 {
		t.Fatalf("the clean run exited %d:\n%s", code, out)
	}
	r.replicas[0].Stop()
	st, err := store.Open(context.Background(), db)
	if err != nil {
		t.Fatal(err)
	}
	evs, err := st.Events(context.Background(), store.EventFilter{Type: "assignment", Page: store.Page{Limit: 1}})
	if err != nil || len(evs) != 1 {
		t.Fatalf("events %v: %v", evs, err)
	}
	twin := evs[0]
	twin.ID, twin.TagObjectSHA = 0, strings.Repeat("f", 40)
	if _, _, err := st.RecordEvent(context.Background(), twin); err != nil {
		t.Fatal(err)
	}
	st.Close()
	r.replicas = nil
	r.start()

	out, code := loadCLI(t, "-url", r.replicas[0].URL(), "-verify", ids, "-token", rigToken, "-settle", "10s")
	if code != 1 || !strings.Contains(out, "duplicated    1") || !strings.Contains(out, twin.TagName) {
		t.Fatalf("exit %d, want 1 with the doubled tag %s:\n%s", code, twin.TagName, out)
	}
}

func readIDs(t *testing.T, path string) []*delivery {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	acked, err := readAcked(f)
	if err != nil {
		t.Fatal(err)
	}
	return acked
}
