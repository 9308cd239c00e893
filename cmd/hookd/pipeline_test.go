package main

import (
	"crypto/sha256"
	"io"

	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"github.com/hookd-dev/hookd/handlers"
	"maps"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/hookd-dev/hookd/internal/githubtest"
)

const (
	pipelineSecret = "pipeline-s3cret"
	pipelineToken  = "pipeline-t0ken"
)

// pipeline is the whole path of issue 4: a working clone pushing with the
// real git CLI to the GitHub stand-in, which sends signed webhooks to a
// `hookd serve` process that reads tags back through the stand-in's API.
type pipeline struct {
	t      testing.TB
	gh     *githubtest.Server
	hookID int64
	env    []string
	clone  string
	hookd  *process
	config string
}

func newPipeline(t testing.TB, databaseURL string) *pipeline {
	t.Helper()
	return newPipelineWith(t, databaseURL, githubtest.Options{}, "")
}

// newPipelineWith starts a pipeline whose stand-in has the options gh
// (its repository is always acme/models) and whose configuration lists
// the tokens in tokensYAML (entries of tokens:) after the tests' own.
func newPipelineWith(t testing.TB, databaseURL string, gh githubtest.Options, tokensYAML string) *pipeline {
	t.Helper()
	p := &pipeline{t: t, env: gitEnv(t)}
	gh.Owner, gh.Name = "acme", "models"
	p.gh = githubtest.New(t, gh)
	dir := t.TempDir()
	p.clone = filepath.Join(dir, "clone")
	p.git(dir, "clone", "-q", p.gh.AuthGitURL(), p.clone)
	p.commit("model.txt", "v1", "2024-01-01T10:00:00+00:00")
	p.git(p.clone, "push", "-q", "origin", "HEAD:main")

	p.config = filepath.Join(dir, "hookd.yaml")
	cfg := fmt.Sprintf(`database_url: %s
repositories:
  - github: acme/models
    secret: %s
    token: %s
    api_url: %s
    reconcile_interval: 1h
tokens:
  - name: tests
    sha256: %x
    scopes:
      - repositories: "*"
        operations: "*"
        stages: "*"
`, databaseURL, pipelineSecret, p.gh.Token(), p.gh.APIURL(), sha256.Sum256([]byte(pipelineToken))) + tokensYAML
	if err := os.WriteFile(p.config, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	p.start()
	return p
}

// start runs hookd and waits for the start-up listing (the baseline) to
// finish, so that what the test pushes next is news to hookd.
func (p *pipeline) start() {
	p.t.Helper()
	p.hookd = startDaemon(p.t, filepath.Dir(p.config), p.env, "--config", p.config)
	p.hookd.WaitLog("tags listed")
	if p.hookID == 0 {
		p.hookID = p.gh.AddHook("http://"+p.hookd.Addr+"/webhooks/github", pipelineSecret)
	}
}

func (p *pipeline) git(dir string, args ...string) string {
	p.t.Helper()
	cmd := exec.Command("git", args...)
	cmd.Dir, cmd.Env = dir, p.env
	out, err := cmd.CombinedOutput()
	if err != nil {
		p.t.Fatalf("git %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return strings.TrimSpace(string(out))
}

func (p *pipeline) commit(path, content, date string) string {
	p.t.Helper()
	if err := os.WriteFile(filepath.Join(p.clone, path), []byte(content), 0o644); err != nil {
		p.t.Fatal(err)
	}
	p.git(p.clone, "add", path)
	cmd := exec.Command("git", "commit", "-q", "-m", "change "+path)
	cmd.Dir, cmd.Env = p.clone, append(slices.Clone(p.env), "GIT_AUTHOR_DATE="+date, "GIT_COMMITTER_DATE="+date)
	if out, err := cmd.CombinedOutput(); err != nil {
		p.t.Fatalf("git commit: %v\n%s", err, out)
	}
	return p.git(p.clone, "rev-parse", "HEAD")
}

// tag makes an annotated tag at HEAD, tagged at date.
func (p *pipeline) tag(name, date string) {
	p.t.Helper()
	cmd := exec.Command("git", "tag", "-a", "-m", "tag "+name, name)
	cmd.Dir, cmd.Env = p.clone, append(slices.Clone(p.env), "GIT_COMMITTER_DATE="+date)
	if out, err := cmd.CombinedOutput(); err != nil {
		p.t.Fatalf("git tag %s: %v\n%s", name, err, out)
	}
}

// push pushes refs in one git push and waits until the stand-in has sent
// every webhook the push caused.
func (p *pipeline) push(refs ...string) {
	p.t.Helper()
	p.git(p.clone, append([]string{"push", "-q", "origin"}, refs...)...)
	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	defer cancel()
	if err := p.gh.WaitIdle(ctx); err != nil {
		p.t.Fatal(err)
	}
}

// apiList reads every page of a list of the operations API.
func (p *pipeline) apiList(path, key string) []map[string]any {
	p.t.Helper()
	var all []map[string]any
	for before := ""; ; {
		req, _ := http.NewRequest("GET", "http://"+p.hookd.Addr+path+before, nil)
		req.Header.Set("Authorization", "Bearer "+pipelineToken)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			p.t.Fatal(err)
		}
		var page struct {
			Next *int64 `json:"next_before"`
		}
		var items map[string]json.RawMessage
		err = json.NewDecoder(resp.Body).Decode(&items)
		resp.Body.Close()
		if next, ok := items["next_before"]; ok && err == nil { // lists that are not paged have none
			err = json.Unmarshal(next, &page.Next)
		}
		var list []map[string]any
		if err == nil {
			err = json.Unmarshal(items[key], &list)
		}
		if err != nil {
			p.t.Fatalf("GET %s: %v", path, err)
		}
		all = append(all, list...)
		if page.Next == nil {
			return all
		}
		before = fmt.Sprintf("&before=%d", *page.Next)
	}
}

// events lists the events as "type artifact version stage before->after",
// oldest first.
func (p *pipeline) events() []string {
	var out []string
	for _, e := range p.apiList("/api/v1/events?limit=500", "events") {
		out = append(out, fmt.Sprintf("%v %v %v %v %v->%v", e["type"], e["artifact"], e["version"], e["stage"],
			e["active_before"], e["active_after"]))
	}
	slices.Reverse(out)
	return out
}

// waitEvents waits until hookd has recorded n events and returns them.
func (p *pipeline) waitEvents(n int) []string {
	p.t.Helper()
	deadline := time.Now().Add(waitLimit)
	for {
		evs := p.events()
		if len(evs) >= n {
			return evs
		}
		if time.Now().After(deadline) {
			p.t.Fatalf("hookd recorded %d events, want %d: %q\nlog:\n%s", len(evs), n, evs, p.hookd.LogText())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// waitDeliveriesSettled waits until at least n deliveries are stored and
// none is queued.
func (p *pipeline) waitDeliveriesSettled(n int) []map[string]any {
	p.t.Helper()
	deadline := time.Now().Add(waitLimit)
	for {
		// The hook's ping is recorded too (ignored); it is not one of the
		// deliveries a test waits for.
		ds := slices.DeleteFunc(p.apiList("/api/v1/deliveries?limit=500", "deliveries"), func(d map[string]any) bool { return d["event"] == "ping" })
		queued := slices.ContainsFunc(ds, func(d map[string]any) bool { return d["status"] == "queued" })
		if len(ds) >= n && !queued {
			return ds
		}
		if time.Now().After(deadline) {
			p.t.Fatalf("%d deliveries stored (want %d), queued ones left: %v\nlog:\n%s", len(ds), n, queued, p.hookd.LogText())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// databases runs a test on SQLite and on PostgreSQL.
func databases(t *testing.T, test func(t *testing.T, databaseURL string)) {
	t.Run("sqlite", func(t *testing.T) { test(t, filepath.Join(t.TempDir(), "hookd.db")) })
	t.Run("postgres", func(t *testing.T) { test(t, postgresDatabase(t)) })
}

func TestPipelineTurnsPushedTagsIntoEventsOnce(t *testing.T) {
	databases(t, testPipelineTurnsPushedTagsIntoEventsOnce)
}

func testPipelineTurnsPushedTagsIntoEventsOnce(t *testing.T, databaseURL string) {
	p := newPipeline(t, databaseURL)

	// Annotated GTO tags: one event each, with the stage's before and after.
	p.tag("churn@v1.0.0", "2024-01-02T10:00:00+00:00")
	p.tag("churn#prod#1", "2024-01-03T10:00:00+00:00")
	p.push("churn@v1.0.0", "churn#prod#1")
	want := []string{
		"registration churn v1.0.0 <nil> []->[]",
		"assignment churn v1.0.0 prod []->[v1.0.0]",
	}
	if got := p.waitEvents(2); !slices.Equal(got, want) {
		t.Fatalf("events = %q, want %q", got, want)
	}

	// GitHub's manual redelivery, three times, each processed again (202),
	// and the same tags found again by a reconciliation (SIGHUP re-lists
	// every repository): nothing new.
	sent := p.gh.Deliveries()
	for range 3 {
		for _, d := range sent {
			if d.Event == "push" {
				again, err := p.gh.Redeliver(p.hookID, d.ID)
				if err != nil {
					t.Fatal(err)
				}
				if again.StatusCode != http.StatusAccepted {
					t.Errorf("redelivery of %s answered %d, want 202: processed again", d.GUID, again.StatusCode)
				}
			}
		}
	}
	p.hookd.Signal(syscall.SIGHUP)
	p.hookd.WaitLog("tags listed")
	p.waitDeliveriesSettled(0)
	if got := p.events(); !slices.Equal(got, want) {
		t.Fatalf("after redeliveries and a reconcile, events = %q, want still %q", got, want)
	}

	// Lightweight and non-GTO tags, and a branch push: no event, and the
	// deliveries say why.
	p.git(p.clone, "tag", "churn@v9.9.9")
	p.tag("release-1", "2024-01-04T10:00:00+00:00")
	p.commit("model.txt", "v2", "2024-01-05T10:00:00+00:00")
	p.push("churn@v9.9.9", "release-1", "HEAD:main")
	ds := p.waitDeliveriesSettled(0)
	reasons := map[string]bool{}
	for _, d := range ds {
		if d["status"] == "ignored" {
			reasons[d["reason"].(string)] = true
		}
	}
	for _, why := range []string{"churn@v9.9.9: lightweight tag (GTO reads annotated tags only)", "no tag refs in this push delivery"} {
		if !reasons[why] {
			t.Errorf("no delivery ignored with reason %q; ignored: %v", why, reasons)
		}
	}
	if !slices.ContainsFunc(slices.Collect(maps.Keys(reasons)), func(r string) bool { return strings.HasPrefix(r, "release-1: not a GTO tag") }) {
		t.Errorf("the non-GTO tag's delivery was not ignored with its reason: %v", reasons)
	}
	if got := p.events(); len(got) != 2 {
		t.Fatalf("ignored refs produced events: %q", got)
	}

	// Five tags in one push: GitHub sends nothing at all; one reconcile
	// finds all five.
	before := len(p.gh.Deliveries())
	p.tag("churn@v1.1.0", "2024-01-06T10:00:00+00:00")
	p.tag("churn#staging#2", "2024-01-06T11:00:00+00:00")
	p.tag("churn#prod#3", "2024-01-06T12:00:00+00:00")
	p.tag("other@v0.1.0", "2024-01-06T13:00:00+00:00")
	p.tag("other#dev#1", "2024-01-06T14:00:00+00:00")
	p.push("churn@v1.1.0", "churn#staging#2", "churn#prod#3", "other@v0.1.0", "other#dev#1")
	if n := len(p.gh.Deliveries()); n != before {
		t.Fatalf("the stand-in sent %d webhooks for a push of five tags; GitHub sends none", n-before)
	}
	p.hookd.Signal(syscall.SIGHUP)
	want = append(want,
		"registration churn v1.1.0 <nil> []->[]",
		"assignment churn v1.1.0 staging []->[v1.1.0]",
		"assignment churn v1.1.0 prod [v1.0.0]->[v1.1.0]",
		"registration other v0.1.0 <nil> []->[]",
		"assignment other v0.1.0 dev []->[v0.1.0]",
	)
	if got := p.waitEvents(7); !slices.Equal(got, want) {
		t.Fatalf("after one reconcile, events = %q, want %q", got, want)
	}

	// A deleted tag is recorded, and the stage falls back.
	p.git(p.clone, "tag", "-d", "churn#prod#3")
	p.push(":refs/tags/churn#prod#3")
	want = append(want, "tag_deleted churn v1.1.0 prod [v1.1.0]->[v1.0.0]")
	if got := p.waitEvents(8); !slices.Equal(got, want) {
		t.Fatalf("after deleting churn#prod#3, events = %q, want %q", got, want)
	}

	// What /metrics says about all that.
	metrics := p.metrics()
	for _, line := range []string{
		`hookd_events_total{type="assignment"} 4`,
		`hookd_events_total{type="registration"} 3`,
		`hookd_events_total{type="tag_deleted"} 1`,
		`hookd_queue_jobs{state="available"}`,
		`hookd_github_rate_limit_remaining{api="rest",repository="acme/models"}`,
		`hookd_github_rate_limit_remaining{api="graphql",repository="acme/models"}`,
		`hookd_delivery_processing_seconds_count`,
		`hookd_webhook_deliveries_total{outcome="accepted",source="github"}`,
	} {
		if !strings.Contains(metrics, line) {
			t.Errorf("/metrics has no %s", line)
		}
	}
	if !strings.Contains(metrics, `hookd_github_requests_total{repository="acme/models"}`) ||
		strings.Contains(metrics, `hookd_github_requests_total{repository="acme/models"} 0`+"\n") {
		t.Errorf("/metrics does not count GitHub requests:\n%s", metrics)
	}
	p.hookd.Stop()
}

// metrics scrapes /metrics.
func (p *pipeline) metrics() string {
	p.t.Helper()
	resp, err := http.Get("http://" + p.hookd.Addr + "/metrics")
	if err != nil {
		p.t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		p.t.Fatal(err)
	}
	return string(body)
}

// addAction appends one exec action on assignments, running command, to
// the configuration and has hookd reload it.
func (p *pipeline) addAction(name string, command ...string) {
	p.t.Helper()
	data, err := os.ReadFile(p.config)
	if err != nil {
		p.t.Fatal(err)
	}
	argv, _ := json.Marshal(command) // a JSON list is a YAML flow sequence
	data = fmt.Appendf(data, "actions:\n  - name: %s\n    on: {event: [assignment]}\n    exec: {command: %s}\n", name, argv)
	if err := os.WriteFile(p.config, data, 0o600); err != nil {
		p.t.Fatal(err)
	}
	p.hookd.Signal(syscall.SIGHUP)
	p.hookd.WaitLog("config reloaded")
}

// postPush sends GitHub's push delivery for an existing annotated tag,
// signed, under its own delivery id, and returns the status code.
func (p *pipeline) postPush(id, tag string) int {
	body, _ := json.Marshal(map[string]any{
		"ref": "refs/tags/" + tag, "before": strings.Repeat("0", 40), "after": strings.Repeat("1", 40),
		"created": true, "deleted": false, "head_commit": map[string]any{"id": strings.Repeat("2", 40)},
		"repository": map[string]any{"full_name": "acme/models"},
	})
	req, _ := http.NewRequest("POST", "http://"+p.hookd.Addr+"/webhooks/github", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-GitHub-Event", "push")
	req.Header.Set("X-GitHub-Delivery", id)
	req.Header.Set("X-Hub-Signature-256", handlers.Sign(pipelineSecret, body))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0
	}
	resp.Body.Close()
	return resp.StatusCode
}
