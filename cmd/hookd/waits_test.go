package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hookd-dev/hookd/internal/githubtest"
)

// apiCall sends an operations API request with the tests' token and
// decodes its JSON answer.
func (p *pipeline) apiCall(method, path string) (int, map[string]any) {
	p.t.Helper()
	req, _ := http.NewRequest(method, "http://"+p.hookd.Addr+path, nil)
	req.Header.Set("Authorization", "Bearer "+pipelineToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		p.t.Fatal(err)
	}
	defer resp.Body.Close()
	var body map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		p.t.Fatalf("%s %s: %v", method, path, err)
	}
	return resp.StatusCode, body
}

// A delivery that cannot be processed because GitHub answers errors shows,
// in the API and the metrics, that it waits, why and until when; replayed
// once GitHub is back, it is processed.
func TestWaitingDeliveryShowsWhy(t *testing.T) {
	p := newPipeline(t, filepath.Join(t.TempDir(), "hookd.db"))
	// The push sends two deliveries (push and create), whose attempts each
	// list the tags once, retried three times: two attempts' worth of 502s
	// for each.
	p.gh.InjectRESTFault(githubtest.RESTFault{Kind: githubtest.ServerError, Path: "/git/matching-refs/", Count: 16})
	p.tag("churn@v1.0.0", "2024-01-02T10:00:00+00:00")
	p.push("churn@v1.0.0")

	var waiting []map[string]any
	deadline := time.Now().Add(waitLimit)
	for len(waiting) < 2 {
		waiting = slices.DeleteFunc(p.apiList("/api/v1/deliveries?status=queued", "deliveries"), func(d map[string]any) bool {
			return d["attempts"] != 2.0
		})
		if time.Now().After(deadline) {
			t.Fatalf("no two deliveries wait after two failed attempts:\n%v\nlog:\n%s", p.apiList("/api/v1/deliveries", "deliveries"), p.hookd.LogText())
		}
		time.Sleep(20 * time.Millisecond)
	}
	for _, d := range waiting {
		code, one := p.apiCall("GET", "/api/v1/deliveries/"+d["id"].(string))
		if code != http.StatusOK {
			t.Fatalf("GET the delivery: %d %v", code, one)
		}
		for _, d := range []map[string]any{d, one} {
			if e, _ := d["last_error"].(string); d["status"] != "queued" || d["attempts"] != 2.0 || !strings.Contains(e, "502") {
				t.Errorf("waiting delivery %v: want queued after two attempts, with GitHub's 502 as its last error", d)
			}
			next, err := time.Parse(time.RFC3339Nano, d["next_attempt_at"].(string))
			// River's schedule: 2⁴ = 16 s after the second failure, ±10%.
			if wait := time.Until(next); err != nil || wait < 5*time.Second || wait > 18*time.Second {
				t.Errorf("next attempt %v (%v from now, %v): want about 16 s after the second failure", d["next_attempt_at"], wait, err)
			}
		}
	}
	if m := p.metrics(); !strings.Contains(m, "\nhookd_deliveries_waiting 2\n") || !strings.Contains(m, "\nhookd_deliveries_waiting_oldest_seconds ") {
		t.Errorf("/metrics does not count the waiting deliveries:\n%s", m)
	}

	// GitHub answers again; replayed, the deliveries need not wait.
	for _, d := range waiting {
		if code, body := p.apiCall("POST", "/api/v1/deliveries/"+d["id"].(string)+"/replay"); code != http.StatusAccepted {
			t.Fatalf("replay: %d %v", code, body)
		}
	}
	for _, d := range p.waitDeliveriesSettled(2) {
		if d["status"] != "processed" || d["next_attempt_at"] != nil {
			t.Errorf("replayed delivery %v: want processed, with no next attempt", d)
		}
	}
	if got := p.events(); !slices.Equal(got, []string{"registration churn v1.0.0 <nil> []->[]"}) {
		t.Errorf("events %q", got)
	}
	if m := p.metrics(); !strings.Contains(m, "\nhookd_deliveries_waiting 0\n") {
		t.Errorf("/metrics still counts a waiting delivery:\n%s", m)
	}
	p.hookd.Stop()
}

// While GitHub rate-limits hookd, a tag delivery says so: the API shows it
// queued after its attempt, with GitHub's rate limit and when it lifts as
// its last error (and no credential), and its next attempt no earlier than
// GitHub said; hookd asks GitHub nothing meanwhile. Once the limit lifts,
// every delivery, those that arrived during it too, is processed and each
// tag makes one event.
func TestRateLimitedDeliveryShowsTheWait(t *testing.T) {
	for _, limit := range []githubtest.RESTFault{
		// A secondary limit: 429 with Retry-After.
		{Kind: githubtest.SecondaryRateLimit, Status: http.StatusTooManyRequests, Path: "/git/matching-refs/", RetryAfter: 4 * time.Second},
		// The hourly budget spent: 403, X-RateLimit-Remaining 0 and the reset.
		{Kind: githubtest.PrimaryRateLimit, Path: "/git/matching-refs/", RetryAfter: 4 * time.Second},
	} {
		t.Run(limit.Kind.String(), func(t *testing.T) { testRateLimitedDeliveryShowsTheWait(t, limit) })
	}
}

// untilRE finds when a wait ends in an error's text.
var untilRE = regexp.MustCompile(`until (\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ)`)

func testRateLimitedDeliveryShowsTheWait(t *testing.T, limit githubtest.RESTFault) {
	p := newPipeline(t, filepath.Join(t.TempDir(), "hookd.db"))
	p.gh.InjectRESTFault(limit)
	p.tag("churn@v1.0.0", "2024-01-02T10:00:00+00:00")
	p.push("churn@v1.0.0") // a push and a create delivery

	// Both wait, the one whose listing GitHub refused and the one held
	// back by what GitHub said.
	var waiting []map[string]any
	deadline := time.Now().Add(waitLimit)
	for len(waiting) < 2 {
		queued := p.apiList("/api/v1/deliveries?status=queued", "deliveries")
		waiting = slices.DeleteFunc(queued, func(d map[string]any) bool { return d["attempts"] == 0.0 })
		if len(queued) == 0 || time.Now().After(deadline) {
			t.Fatalf("no two deliveries wait for the rate limit:\n%v\nlog:\n%s", p.apiList("/api/v1/deliveries", "deliveries"), p.hookd.LogText())
		}
		time.Sleep(20 * time.Millisecond)
	}
	var limited githubtest.Request
	for _, r := range p.gh.Requests() {
		if r.Fault == limit.Kind.String() {
			limited = r
		}
	}
	if limited.LimitLifts.IsZero() {
		t.Fatalf("GitHub never rate-limited hookd: %+v", p.gh.Requests())
	}
	for _, d := range waiting {
		code, one := p.apiCall("GET", "/api/v1/deliveries/"+d["id"].(string))
		if code != http.StatusOK {
			t.Fatalf("GET the delivery: %d %v", code, one)
		}
		e, _ := one["last_error"].(string)
		t.Logf("delivery %s (%s): %v attempt(s), next at %v, last error %q", one["id"], one["event"], one["attempts"], one["next_attempt_at"], e)
		if one["status"] != "queued" || one["attempts"].(float64) < 1 || !strings.Contains(e, "rate limit") || strings.Contains(e, p.gh.Token()) {
			t.Errorf("waiting delivery %v: want queued after an attempt, with GitHub's rate limit as its last error", one)
		}
		// The error says until when, never earlier than GitHub said.
		var until time.Time
		if m := untilRE.FindStringSubmatch(e); m != nil {
			until, _ = time.Parse(time.RFC3339, m[1])
		}
		if until.Before(limited.LimitLifts) {
			t.Errorf("last error %q: want it to say until when, no earlier than %v", e, limited.LimitLifts)
		}
		next, err := time.Parse(time.RFC3339Nano, fmt.Sprint(one["next_attempt_at"]))
		if err != nil || next.Before(limited.LimitLifts) {
			t.Errorf("next attempt %v (%v): want no earlier than when GitHub's limit lifts, %v", one["next_attempt_at"], err, limited.LimitLifts)
		}
	}
	if m := p.metrics(); !strings.Contains(m, "\nhookd_deliveries_waiting 2\n") {
		t.Errorf("/metrics does not count the two deliveries waiting for GitHub:\n%s", m)
	}

	// A push during the limit is accepted and waits its turn.
	p.tag("churn#prod#1", "2024-01-03T10:00:00+00:00")
	p.push("churn#prod#1")

	for _, d := range p.waitDeliveriesSettled(4) {
		if d["status"] != "processed" || d["next_attempt_at"] != nil {
			t.Errorf("delivery %v: want processed once the limit lifted", d)
		}
	}
	want := []string{"registration churn v1.0.0 <nil> []->[]", "assignment churn v1.0.0 prod []->[v1.0.0]"}
	if got := p.events(); !slices.Equal(got, want) {
		t.Errorf("events %q, want %q", got, want)
	}
	for _, r := range p.gh.Requests() {
		if r.At.After(limited.At) && r.At.Before(limited.LimitLifts) {
			t.Errorf("hookd asked GitHub %s %s at %v, while told to wait until %v", r.Method, r.Path, r.At, limited.LimitLifts)
		}
	}
	p.hookd.Stop()
}
