package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"

	"github.com/hookd-dev/hookd/internal/githubtest"
)

// The companion API end to end: `hookd serve` creates GTO tags through the
// GitHub stand-in's REST API or in a local repository, and the events
// arrive through the same pipeline as pushed tags.

const companionToken = "companion-t0ken"

// newCompanionPipeline is newPipeline's setup with the stand-in sending
// webhooks for tags created through its REST API, or not: GitHub's
// behaviour there is unconfirmed.
func newCompanionPipeline(t *testing.T, databaseURL string, restTagEvents bool) *pipeline {
	t.Helper()
	return newPipelineWith(t, databaseURL, githubtest.Options{RESTTagEvents: restTagEvents}, fmt.Sprintf(`  - name: ci
    sha256: %x
    scopes:
      - repositories: "acme/*"
        operations: "*"
        stages: "*"
        force: true
`, sha256.Sum256([]byte(companionToken))))
}

// apiCall sends a JSON body (nil for none) to hookd's API with the
// companion token and decodes the answer.
func apiCall(t testing.TB, addr, method, path string, body any) (int, map[string]any) {
	t.Helper()
	var r io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			t.Fatal(err)
		}
		r = bytes.NewReader(b)
	}
	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, method, "http://"+addr+path, r)
	req.Header.Set("Authorization", "Bearer "+companionToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var out map[string]any
	if err := json.Unmarshal(raw, &out); err != nil {
		t.Fatalf("%s %s: %d %q is not a JSON object", method, path, resp.StatusCode, raw)
	}
	return resp.StatusCode, out
}

// apiWrite posts a write and returns the tags and events of its 201
// answer, with the answer.
func apiWrite(t testing.TB, addr, path string, req any) ([]string, []map[string]any, map[string]any) {
	t.Helper()
	status, body := apiCall(t, addr, "POST", path, req)
	if status != http.StatusCreated {
		t.Fatalf("write: %d %v", status, body)
	}
	var tags []string
	for _, tag := range body["tags"].([]any) {
		tags = append(tags, tag.(string))
	}
	var events []map[string]any
	for _, e := range body["events"].([]any) {
		events = append(events, e.(map[string]any))
	}
	return tags, events, body
}

// tagOf reads a tag of the repository in dir: the commit it points at and
// its message.
func tagOf(t testing.TB, env []string, dir, name string) (commit, message string) {
	t.Helper()
	p := &pipeline{t: t, env: env}
	return p.git(dir, "rev-parse", name+"^{commit}"), p.git(dir, "for-each-ref", "--format=%(contents)", "refs/tags/"+name)
}

// Writes through the GitHub API create the tags `hookd register` and
// `hookd assign` create in a clone, with a Requested-by trailer; each
// answer carries its event, recorded by the pipeline; the webhook GitHub
// may send for the same tag adds no second event.
func TestCompanionAPIWritesThroughGitHub(t *testing.T) {
	for _, events := range []bool{false, true} {
		t.Run(fmt.Sprintf("rest_tag_events=%v", events), func(t *testing.T) {
			databases(t, func(t *testing.T, databaseURL string) {
				testCompanionAPIWritesThroughGitHub(t, databaseURL, events)
			})
		})
	}
}

func testCompanionAPIWritesThroughGitHub(t *testing.T, databaseURL string, restTagEvents bool) {
	p := newCompanionPipeline(t, databaseURL, restTagEvents)
	addr := p.hookd.Addr
	head := p.git(p.clone, "rev-parse", "HEAD")

	// What hookd's own CLI writes in a clone of the same repository.
	local := filepath.Join(t.TempDir(), "local")
	p.git(filepath.Dir(local), "clone", "-q", p.gh.AuthGitURL(), local)
	for _, args := range [][]string{
		{"register", "churn", "--version", "v1.0.0"},
		{"assign", "churn", "--version", "v1.0.0", "--stage", "prod"},
	} {
		if res := runHookd(t, local, p.env, args...); res.code != 0 {
			t.Fatalf("hookd %s: %d %s", strings.Join(args, " "), res.code, res.stderr)
		}
	}

	tags, evs, _ := apiWrite(t, addr, "/api/v1/repos/acme/models/register", map[string]any{"artifact": "churn", "version": "v1.0.0"})
	if !slices.Equal(tags, []string{"churn@v1.0.0"}) || len(evs) != 1 || evs[0]["type"] != "registration" || evs[0]["commit"] != head {
		t.Fatalf("register: tags %q, events %v", tags, evs)
	}
	tags, evs, _ = apiWrite(t, addr, "/api/v1/repos/acme/models/assign", map[string]any{"artifact": "churn", "version": "v1.0.0", "stage": "prod"})
	if !slices.Equal(tags, []string{"churn#prod#1"}) || len(evs) != 1 || evs[0]["type"] != "assignment" ||
		evs[0]["version"] != "v1.0.0" || fmt.Sprint(evs[0]["active_after"]) != "[v1.0.0]" {
		t.Fatalf("assign: tags %q, events %v", tags, evs)
	}

	p.git(p.clone, "fetch", "-q", "--tags", "origin")
	for _, name := range []string{"churn@v1.0.0", "churn#prod#1"} {
		wantCommit, wantMessage := tagOf(t, p.env, local, name)
		commit, message := tagOf(t, p.env, p.clone, name)
		if commit != wantCommit || message != wantMessage+"\n\nRequested-by: ci via api" {
			t.Errorf("%s through the API: %s %q; hookd locally: %s %q + the trailer", name, commit, message, wantCommit, wantMessage)
		}
	}

	// Whatever webhooks GitHub sends for the API's tags: no second event,
	// now or after a reconcile.
	want := []string{"registration churn v1.0.0 <nil> []->[]", "assignment churn v1.0.0 prod []->[v1.0.0]"}
	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	defer cancel()
	if err := p.gh.WaitIdle(ctx); err != nil {
		t.Fatal(err)
	}
	p.waitDeliveriesSettled(0)
	pushes := 0
	for _, d := range p.gh.Deliveries() {
		if d.Event == "push" && strings.Contains(string(d.Payload), "refs/tags/churn") {
			pushes++
			if d.StatusCode != http.StatusAccepted {
				t.Errorf("hookd answered the push webhook %d", d.StatusCode)
			}
		}
	}
	if restTagEvents != (pushes == 2) {
		t.Errorf("the stand-in sent %d push webhooks for the API's two tags (REST tag events %v)", pushes, restTagEvents)
	}
	p.hookd.Signal(syscall.SIGHUP)
	p.hookd.WaitLog("tags listed")
	if got := p.events(); !slices.Equal(got, want) {
		t.Errorf("events %q, want %q", got, want)
	}
	p.hookd.Stop()
}

// Twenty assignments of one artifact at once through the GitHub API: each
// answered 201 with its own counter, and one event each.
func TestCompanionAPIConcurrentAssignsThroughGitHub(t *testing.T) {
	p := newCompanionPipeline(t, filepath.Join(t.TempDir(), "hookd.db"), false)
	const n = 20
	var refs []string
	for i := range n {
		p.commit("model.txt", fmt.Sprint("v", i), fmt.Sprintf("2024-01-02T10:%02d:00+00:00", i))
		name := fmt.Sprintf("churn@v1.0.%d", i)
		p.tag(name, fmt.Sprintf("2024-01-02T11:%02d:00+00:00", i))
		refs = append(refs, name)
	}
	p.push(append([]string{"HEAD:main"}, refs...)...) // no webhooks: more than three tags

	statuses := make([]int, n)
	tags := make([][]string, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			status, body := apiCall(t, p.hookd.Addr, "POST", "/api/v1/repos/acme/models/assign",
				map[string]any{"artifact": "churn", "version": fmt.Sprintf("v1.0.%d", i), "stage": "prod"})
			statuses[i] = status
			if list, ok := body["tags"].([]any); ok {
				for _, tag := range list {
					tags[i] = append(tags[i], tag.(string))
				}
			}
		}()
	}
	wg.Wait()
	seen := map[string]bool{}
	for i := range n {
		if statuses[i] != http.StatusCreated || len(tags[i]) != 1 || seen[tags[i][0]] {
			t.Errorf("writer %d: %d %q", i, statuses[i], tags[i])
			continue
		}
		seen[tags[i][0]] = true
	}
	for i := 1; i <= n; i++ {
		if !seen[fmt.Sprintf("churn#prod#%d", i)] {
			t.Errorf("no churn#prod#%d among %v", i, seen)
		}
	}
	evs := p.waitEvents(2 * n)
	assignments := 0
	for _, e := range evs {
		if strings.HasPrefix(e, "assignment churn v1.0.") {
			assignments++
		}
	}
	if len(evs) != 2*n || assignments != n {
		t.Errorf("%d events, %d assignments; want %d and %d: %q", len(evs), assignments, 2*n, n, evs)
	}
	p.hookd.Stop()
}

// On a local repository, every write creates the tags `hookd` creates for
// the same command in an identical clone, and answers gto's lines.
func TestCompanionAPIWritesWhatHookdWritesLocally(t *testing.T) {
	r := newRepo(t)
	first := r.git("rev-parse", "HEAD")
	r.commit("second")
	served := filepath.Join(t.TempDir(), "acme", "served")
	r.git("clone", "-q", r.dir, served)

	dir := t.TempDir()
	config := filepath.Join(dir, "hookd.yaml")
	cfg := fmt.Sprintf(`database_url: %s
repositories:
  - path: %s
    as: acme/local
    secret: local-s3cret
tokens:
  - name: ci
    sha256: %x
    scopes:
      - repositories: "acme/local"
        operations: "*"
        stages: "*"
`, filepath.Join(dir, "hookd.db"), served, sha256.Sum256([]byte(companionToken)))
	if err := os.WriteFile(config, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	d := startDaemon(t, dir, r.env, "--config", config)
	d.WaitLog("tags listed")

	for _, step := range []struct {
		op      string
		req     map[string]any
		cli     []string
		types   []string
		newTags int
	}{
		{"register", map[string]any{"artifact": "nn", "ref": first, "version": "v1.0.0"},
			[]string{"register", "nn", first, "--version", "v1.0.0"}, []string{"registration"}, 1},
		{"assign", map[string]any{"artifact": "nn", "ref": "HEAD", "name_version": "v1.1.0", "stage": "dev", "message": "to dev"},
			[]string{"assign", "nn", "HEAD", "--version", "v1.1.0", "--stage", "dev", "-m", "to dev"}, []string{"registration", "assignment"}, 2},
		{"assign", map[string]any{"artifact": "nn", "version": "v1.0.0", "stage": "prod"},
			[]string{"assign", "nn", "--version", "v1.0.0", "--stage", "prod"}, []string{"assignment"}, 1},
		{"unassign", map[string]any{"artifact": "nn", "version": "v1.0.0", "stage": "prod"},
			[]string{"unassign", "nn", "v1.0.0", "--stage", "prod"}, []string{"unassignment"}, 1},
		{"deregister", map[string]any{"artifact": "nn", "version": "v1.0.0"},
			[]string{"deregister", "nn", "v1.0.0"}, []string{"deregistration"}, 1},
		{"register", map[string]any{"artifact": "other"},
			[]string{"register", "other"}, []string{"registration"}, 1},
		{"deprecate", map[string]any{"artifact": "other"},
			[]string{"deprecate", "other"}, []string{"deprecation"}, 1},
	} {
		before := r.tags()
		res := r.hookd(step.cli...)
		if res.code != 0 {
			t.Fatalf("hookd %s: %d %s", strings.Join(step.cli, " "), res.code, res.stderr)
		}
		var wantTags, wantOutput []string
		for _, name := range r.tags() {
			if !slices.Contains(before, name) {
				wantTags = append(wantTags, name)
			}
		}
		for _, line := range strings.Split(strings.TrimSpace(res.stdout), "\n") {
			if line != "To push the changes upstream, run:" && !strings.HasPrefix(line, "    git push ") {
				wantOutput = append(wantOutput, line)
			}
		}

		tags, evs, body := apiWrite(t, d.Addr, "/api/v1/repos/acme/local/"+step.op, step.req)
		sortedTags := slices.Sorted(slices.Values(tags))
		if len(tags) != step.newTags || !slices.Equal(sortedTags, wantTags) {
			t.Errorf("%s: the API created %q, hookd %q", step.op, tags, wantTags)
		}
		var output []string
		for _, line := range body["output"].([]any) {
			output = append(output, line.(string))
		}
		if !slices.Equal(output, wantOutput) {
			t.Errorf("%s: output %q, hookd printed %q", step.op, output, wantOutput)
		}
		for _, name := range wantTags {
			wantCommit, wantMessage := tagOf(t, r.env, r.dir, name)
			commit, message := tagOf(t, r.env, served, name)
			if commit != wantCommit || message != wantMessage+"\n\nRequested-by: ci via api" {
				t.Errorf("%s: %s through the API: %s %q; hookd locally: %s %q + the trailer", step.op, name, commit, message, wantCommit, wantMessage)
			}
		}
		var types []string
		for _, e := range evs {
			types = append(types, e["type"].(string))
		}
		if !slices.Equal(types, step.types) {
			t.Errorf("%s: events %q, want %q", step.op, types, step.types)
		}
	}
	// The tokens' scopes hold here too: another repository's name is
	// refused before anything is looked up.
	if status, body := apiCall(t, d.Addr, "POST", "/api/v1/repos/acme/models/register", map[string]any{"artifact": "nn"}); status != http.StatusForbidden {
		t.Errorf("outside the token's scopes: %d %v", status, body)
	}
	d.Stop()
}
