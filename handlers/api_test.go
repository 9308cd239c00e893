package handlers_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hookd-dev/hookd/handlers"
	"github.com/hookd-dev/hookd/store"
)

// api calls the operations API with the fixture's token and decodes any
// JSON answer.
func (f *fixture) api(method, path string) (int, http.Header, map[string]any) {
	f.t.Helper()
	return f.apiAs("Bearer "+apiToken, method, path)
}

func (f *fixture) apiAs(authorization, method, path string) (int, http.Header, map[string]any) {
	f.t.Helper()
	req, err := http.NewRequestWithContext(ctx(f.t), method, f.url+path, nil)
	if err != nil {
		f.t.Fatal(err)
	}
	if authorization != "" {
		req.Header.Set("Authorization", authorization)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		f.t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var body map[string]any
	if err := json.Unmarshal(raw, &body); err != nil {
		f.t.Fatalf("%s %s: body %q is not JSON: %v", method, path, raw, err)
	}
	return resp.StatusCode, resp.Header, body
}

// seedEvents records n assignment events of churn to prod.
func (f *fixture) seedEvents(n int) []store.Event {
	f.t.Helper()
	var out []store.Event
	for i := range n {
		e, _, err := f.store.RecordEvent(ctx(f.t), store.Event{
			Repository: repo, Artifact: "churn", Type: store.EventAssignment, Version: fmt.Sprintf("v1.0.%d", i),
			Stage: "prod", CommitSHA: strings.Repeat("c", 40), TagName: fmt.Sprintf("churn#prod#%d", i+1),
			TagObjectSHA: fmt.Sprintf("%040d", i), Message: "promote",
			Tagger:      store.Tagger{Name: "T", Email: "t@example.com", When: time.Date(2024, 1, 2, 3, 4, 5, 0, time.FixedZone("", -5*3600))},
			ActiveAfter: []string{fmt.Sprintf("v1.0.%d", i)},
		})
		if err != nil {
			f.t.Fatal(err)
		}
		out = append(out, e)
	}
	return out
}

func TestEventsArePagedAndFilteredNewestFirst(t *testing.T) {
	f := newFixture(t)
	evs := f.seedEvents(3)
	status, _, body := f.api("GET", "/api/v1/events?repository="+repo+"&stage=prod&limit=2")
	list, _ := body["events"].([]any)
	if status != http.StatusOK || len(list) != 2 {
		t.Fatalf("first page: %d %v", status, body)
	}
	first := list[0].(map[string]any)
	if first["tag"] != "churn#prod#3" || first["type"] != "assignment" || first["version"] != "v1.0.2" {
		t.Errorf("newest event first: %v", first)
	}
	if tagger := first["tagger"].(map[string]any); tagger["date"] != "2024-01-02T03:04:05-05:00" {
		t.Errorf("tagger date lost its offset: %v", tagger)
	}
	next := body["next_before"].(float64)
	_, _, body = f.api("GET", fmt.Sprintf("/api/v1/events?limit=2&before=%d", int64(next)))
	if list, _ := body["events"].([]any); len(list) != 1 || body["next_before"] != nil {
		t.Errorf("last page: %v", body)
	}
	_, _, body = f.api("GET", "/api/v1/events?type=deprecation")
	if list, _ := body["events"].([]any); len(list) != 0 {
		t.Errorf("type filter returned %v", list)
	}
	status, _, body = f.api("GET", fmt.Sprintf("/api/v1/events/%d", evs[0].ID))
	if status != http.StatusOK || body["tag"] != "churn#prod#1" {
		t.Errorf("get event: %d %v", status, body)
	}
}

func TestAPIRejectsBadParametersAndUnknownIDs(t *testing.T) {
	f := newFixture(t)
	for _, c := range []struct {
		path   string
		status int
		code   string
	}{
		{"/api/v1/events?type=promotion", http.StatusUnprocessableEntity, "invalid_parameter"},
		{"/api/v1/events?limit=0", http.StatusUnprocessableEntity, "invalid_parameter"},
		{"/api/v1/events?limit=many", http.StatusUnprocessableEntity, "invalid_parameter"},
		{"/api/v1/deliveries?status=lost", http.StatusUnprocessableEntity, "invalid_parameter"},
		{"/api/v1/runs?status=done", http.StatusUnprocessableEntity, "invalid_parameter"},
		{"/api/v1/events/999", http.StatusNotFound, "not_found"},
		{"/api/v1/events/abc", http.StatusNotFound, "not_found"},
		{"/api/v1/runs/999", http.StatusNotFound, "not_found"},
		{"/api/v1/deliveries/nope", http.StatusNotFound, "not_found"},
	} {
		status, _, body := f.api("GET", c.path)
		if status != c.status || body["error"] != c.code || body["message"] == "" {
			t.Errorf("GET %s = %d %v; want %d %s with a message", c.path, status, body, c.status, c.code)
		}
	}
	status, header, body := f.api("DELETE", "/api/v1/events")
	if status != http.StatusMethodNotAllowed || header.Get("Allow") != "GET" || body["error"] != "method_not_allowed" {
		t.Errorf("DELETE /api/v1/events = %d %v %v", status, header, body)
	}
	status, header, _ = f.api("GET", "/api/v1/deliveries/x/replay")
	if status != http.StatusMethodNotAllowed || header.Get("Allow") != "POST" {
		t.Errorf("GET replay = %d, Allow %q", status, header.Get("Allow"))
	}
}

func TestDeliveriesShowPayloadAndReplay(t *testing.T) {
	f := newFixture(t)
	if r := f.github("push", "d-1", pushBody(repo)); r.status != http.StatusAccepted {
		t.Fatalf("push: %d", r.status)
	}
	_, _, body := f.api("GET", "/api/v1/deliveries?repository="+repo)
	list := body["deliveries"].([]any)
	if len(list) != 1 || list[0].(map[string]any)["id"] != "d-1" || list[0].(map[string]any)["payload"] != nil {
		t.Fatalf("list shows %v (payloads belong to the single-delivery view)", list)
	}
	_, _, body = f.api("GET", "/api/v1/deliveries/d-1")
	payload, _ := body["payload"].(map[string]any)
	if body["status"] != "queued" || payload["ref"] != "refs/tags/churn-model#prod#3" {
		t.Errorf("delivery = %v", body)
	}
	f.failDeliveries("d-1", "source unreachable")
	status, _, body := f.api("POST", "/api/v1/deliveries/d-1/replay")
	if status != http.StatusAccepted || body["status"] != "queued" {
		t.Errorf("replay = %d %v", status, body)
	}
	if d, _ := f.store.Delivery(ctx(t), "d-1"); d.Status != store.DeliveryQueued || d.Reason != "" {
		t.Errorf("after replay the delivery is %s (%q), want queued again", d.Status, d.Reason)
	}
	if status, _, _ := f.api("POST", "/api/v1/deliveries/nope/replay"); status != http.StatusNotFound {
		t.Errorf("replay of an unknown delivery = %d", status)
	}
	f.failDeliveries("d-1", "source unreachable")
	if _, err := f.store.PrunePayloads(ctx(t), -time.Hour); err != nil {
		t.Fatal(err)
	}
	if status, _, body := f.api("POST", "/api/v1/deliveries/d-1/replay"); status != http.StatusConflict || body["error"] != "payload_pruned" {
		t.Errorf("replay of a pruned delivery = %d %v", status, body)
	}
}

func TestRunsCanBeInspectedAndRetriedOnlyWhenFinished(t *testing.T) {
	f := newFixture(t)
	ev := f.seedEvents(1)[0]
	runs, err := f.store.CreateRuns(ctx(t), ev.ID, []string{"redeploy-prod"})
	if err != nil {
		t.Fatal(err)
	}
	id := runs[0].ID
	if status, _, body := f.api("POST", fmt.Sprintf("/api/v1/runs/%d/retry", id)); status != http.StatusConflict || body["error"] != "run_not_finished" {
		t.Errorf("retry of a queued run = %d %v", status, body)
	}
	if _, err := f.store.StartRun(ctx(t), id, time.Minute); err != nil {
		t.Fatal(err)
	}
	exit := 3
	if err := f.store.FinishRun(ctx(t), id, store.RunFailed, store.AttemptResult{ExitCode: &exit, OutputTail: "boom", Error: "exit status 3"}); err != nil {
		t.Fatal(err)
	}
	status, _, body := f.api("GET", fmt.Sprintf("/api/v1/runs/%d", id))
	history, _ := body["history"].([]any)
	if status != http.StatusOK || body["status"] != "failed" || len(history) != 1 {
		t.Fatalf("run = %d %v", status, body)
	}
	if a := history[0].(map[string]any); a["exit_code"] != float64(3) || a["output_tail"] != "boom" || a["finished_at"] == nil {
		t.Errorf("attempt = %v", a)
	}
	_, _, body = f.api("GET", "/api/v1/runs?status=failed&stage=prod")
	if list := body["runs"].([]any); len(list) != 1 {
		t.Errorf("failed runs = %v", list)
	}
	if status, _, _ := f.api("POST", fmt.Sprintf("/api/v1/runs/%d/retry", id)); status != http.StatusAccepted {
		t.Errorf("retry of a failed run = %d", status)
	}
	if run, _ := f.store.Run(ctx(t), id); run.Status != store.RunQueued {
		t.Errorf("after retry the run is %s", run.Status)
	}
}

// failDeliveries runs workers whose processing fails for good until the
// delivery id is failed, with the reason, then stops them.
func (f *fixture) failDeliveries(id, reason string) {
	f.t.Helper()
	err := f.store.StartWorkers(ctx(f.t), store.Workers{
		ProcessDelivery: func(context.Context, store.Delivery) (store.Outcome, error) {
			return store.Outcome{Status: store.DeliveryFailed, Reason: reason}, nil
		},
		ReconcileRepository: func(context.Context, string) error { return nil },
		RunAction:           func(context.Context, int64) error { return nil },
	})
	if err != nil {
		f.t.Fatal(err)
	}
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		if d, _ := f.store.Delivery(ctx(f.t), id); d.Status == store.DeliveryFailed && d.Reason == reason {
			break
		}
		if time.Now().After(deadline) {
			f.t.Fatalf("delivery %s was not failed by its worker", id)
		}
	}
	if err := f.store.StopWorkers(ctx(f.t)); err != nil {
		f.t.Fatal(err)
	}
}

func TestAPINeedsAConfiguredToken(t *testing.T) {
	f := newFixture(t)
	if _, err := f.store.Accept(ctx(t), store.Delivery{ID: "d-1", Source: store.SourceGitHub, Event: "push",
		Repository: repo, Body: []byte(`{}`)}); err != nil {
		t.Fatal(err)
	}
	for _, auth := range []string{"", "Bearer ", "Bearer wrong", "Basic " + apiToken, apiToken, "bearer " + apiToken} {
		for _, call := range [][2]string{{"GET", "/api/v1/deliveries"}, {"POST", "/api/v1/deliveries/d-1/replay"}, {"POST", "/api/v1/runs/1/retry"}} {
			status, header, body := f.apiAs(auth, call[0], call[1])
			if status != http.StatusUnauthorized || body["error"] != "unauthorized" || header.Get("WWW-Authenticate") == "" {
				t.Errorf("%s %s with %q: %d %v", call[0], call[1], auth, status, body)
			}
		}
	}
	if status, _, _ := f.api("GET", "/api/v1/deliveries"); status != http.StatusOK {
		t.Errorf("with the token: %d", status)
	}
	// Webhooks and probes are not behind the token.
	if r := f.do("GET", "/healthz", nil, nil); r.status != http.StatusOK {
		t.Errorf("/healthz: %d", r.status)
	}
}

func TestAPIWithoutTokensSaysHowToConfigureThem(t *testing.T) {
	s := openStore(t, filepath.Join(t.TempDir(), "hookd.db"))
	srv := httptest.NewServer(handlers.New(handlers.Options{Store: s}))
	defer srv.Close()
	f := &fixture{t: t, url: srv.URL, store: s}
	status, _, body := f.api("GET", "/api/v1/events")
	if status != http.StatusUnauthorized || !strings.Contains(body["message"].(string), "add tokens:") {
		t.Errorf("no tokens configured: %d %v", status, body)
	}
}

// A token reads and retries only within its scopes; a refusal is 403 and
// changes nothing.
func TestAPIScopes(t *testing.T) {
	f := newFixture(t)
	if _, err := f.store.Accept(ctx(t), store.Delivery{ID: "d-1", Source: store.SourceGitHub, Event: "push",
		Repository: repo, Body: []byte(`{}`)}); err != nil {
		t.Fatal(err)
	}
	if _, err := f.store.Accept(ctx(t), store.Delivery{ID: "d-other", Source: store.SourceGitHub, Event: "push",
		Repository: "globex/other", Body: []byte(`{}`)}); err != nil {
		t.Fatal(err)
	}
	ev := f.seedEvents(1)[0]
	reader := "Bearer " + readerToken
	for _, c := range []struct {
		method, path string
		want         int
	}{
		{"GET", "/api/v1/events?repository=" + repo, http.StatusOK},
		{"GET", fmt.Sprintf("/api/v1/events/%d", ev.ID), http.StatusOK},
		{"GET", "/api/v1/deliveries/d-1", http.StatusOK},
		{"GET", "/api/v1/events", http.StatusForbidden}, // every repository
		{"GET", "/api/v1/deliveries?repository=globex/other", http.StatusForbidden},
		{"GET", "/api/v1/runs", http.StatusForbidden},
		// Another repository's record looks like a missing one, so ids
		// cannot be probed across repositories.
		{"GET", "/api/v1/deliveries/d-other", http.StatusNotFound},
		{"POST", "/api/v1/deliveries/d-other/replay", http.StatusNotFound},
		{"POST", "/api/v1/deliveries/d-1/replay", http.StatusForbidden}, // read only
	} {
		status, _, body := f.apiAs(reader, c.method, c.path)
		if status != c.want || (c.want == http.StatusForbidden && body["error"] != "forbidden") {
			t.Errorf("reader %s %s: %d %v, want %d", c.method, c.path, status, body, c.want)
		}
	}
	_, _, hidden := f.apiAs(reader, "GET", "/api/v1/deliveries/d-other")
	_, _, missing := f.apiAs(reader, "GET", "/api/v1/deliveries/d-none")
	if fmt.Sprint(hidden) != fmt.Sprint(missing) {
		t.Errorf("another repository's delivery answers %v, a missing one %v: they must not differ", hidden, missing)
	}
	status, _, body := f.apiAs(reader, "GET", "/api/v1/events")
	if msg, _ := body["message"].(string); status != http.StatusForbidden || !strings.Contains(msg, "add ?repository=owner/name") {
		t.Errorf("unfiltered list: %d %q", status, msg)
	}
	d, err := f.store.Delivery(ctx(t), "d-1")
	if err != nil || d.Status != store.DeliveryQueued {
		t.Errorf("refused replay touched the delivery: %+v %v", d, err)
	}
	if status, _, _ := f.api("GET", "/api/v1/deliveries/d-other"); status != http.StatusOK {
		t.Errorf("ops token reads every repository: %d", status)
	}
}

// An environment's desired and deployed versions, as the lane holds them.
func TestLanesShowDesiredBesideDeployed(t *testing.T) {
	f := newFixture(t)
	ev := f.seedEvents(1)[0]
	runs, err := f.store.Converge(ctx(t), ev.ID, []store.LaneChange{
		{Action: "deploy", Stage: "prod", After: []string{"v1.0.0"}, Trigger: store.EventAssignment, Version: "v1.0.0"},
		{Action: "notify", Stage: "prod", After: []string{"v1.0.0"}},
	})
	if err != nil || len(runs) != 1 {
		t.Fatalf("Converge: %v %v", runs, err)
	}
	status, _, body := f.api("GET", "/api/v1/lanes?repository="+repo)
	lanes, _ := body["lanes"].([]any)
	if status != http.StatusOK || len(lanes) != 2 {
		t.Fatalf("lanes: %d %v", status, body)
	}
	deploy := lanes[0].(map[string]any)
	if deploy["action"] != "deploy" || fmt.Sprint(deploy["desired"]) != "[v1.0.0]" || fmt.Sprint(deploy["deployed"]) != "[]" ||
		deploy["in_sync"] != false {
		t.Errorf("before its run: %v", deploy)
	}
	if _, err := f.store.StartLane(ctx(t), runs[0].ID, time.Minute, store.LanePolicy{}); err != nil {
		t.Fatal(err)
	}
	if err := f.store.FinishRun(ctx(t), runs[0].ID, store.RunSucceeded, store.AttemptResult{Attempt: 1}); err != nil {
		t.Fatal(err)
	}
	_, _, body = f.api("GET", "/api/v1/lanes?repository="+repo+"&action=deploy")
	lanes, _ = body["lanes"].([]any)
	if len(lanes) != 1 {
		t.Fatalf("lanes of deploy: %v", body)
	}
	deploy = lanes[0].(map[string]any)
	if fmt.Sprint(deploy["deployed"]) != "[v1.0.0]" || deploy["in_sync"] != true || deploy["deployed_run_id"] != float64(runs[0].ID) {
		t.Errorf("after its run: %v", deploy)
	}
	if status, _, _ := f.apiAs("Bearer "+readerToken, "GET", "/api/v1/lanes?repository=acme/other"); status != http.StatusForbidden {
		t.Errorf("another repository's lanes: %d, want 403", status)
	}
}
