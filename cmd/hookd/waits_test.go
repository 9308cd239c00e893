package main

import (
	"encoding/json"
	"net/http"
	"path/filepath"
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
	req, _ := http.NewRequest(method, "http://"+p.hookd.addr+path, nil)
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
			t.Fatalf("no two deliveries wait after two failed attempts:\n%v\nlog:\n%s", p.apiList("/api/v1/deliveries", "deliveries"), p.hookd.logText())
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
	p.hookd.stop()
}
