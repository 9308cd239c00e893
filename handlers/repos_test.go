package handlers_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hookd-dev/hookd/access"
	"github.com/hookd-dev/hookd/change"
	"github.com/hookd-dev/hookd/handlers"
	"github.com/hookd-dev/hookd/ingest"
	"github.com/hookd-dev/hookd/internal/gittest"
	"github.com/hookd-dev/hookd/internal/testenv"
	"github.com/hookd-dev/hookd/registry"
	"github.com/hookd-dev/hookd/source"
	"github.com/hookd-dev/hookd/source/gitdir"
	"github.com/hookd-dev/hookd/store"
)

// companion is the companion API over a real local repository (the git
// CLI through source/gitdir), a real SQLite store and the real ingest
// pipeline, which records the events of the tags it creates. The
// repository is called acme/models; every answer from /api/v1 is
// validated against the OpenAPI document.
type companion struct {
	t      *testing.T
	url    string
	dir    string // the repository
	src    *gitdir.Repo
	store  *store.Store
	client *http.Client
	tokens map[string]access.Principal
}

const companionRepo = "acme/models"

// The tokens of most companion tests.
var (
	adminToken = "admin-t0ken"
	admin      = access.Principal{Name: "admin", Scopes: []access.Scope{
		{Repositories: []string{"*"}, Operations: []string{"*"}, Stages: []string{"*"}, Force: true},
	}}
)

type companionOptions struct {
	// dir is an existing repository to serve; default a new one with one
	// commit.
	dir       string
	promotion []string
	tokens    map[string]access.Principal // default: adminToken
	// noChanges leaves the change service out.
	noChanges bool
	// wrap, when set, wraps the source the change service writes through.
	wrap func(source.Source) source.Source
}

func newCompanion(t *testing.T, o companionOptions) *companion {
	t.Helper()
	gittest.Isolate(t)
	c := &companion{t: t, client: checkedClient(t), tokens: o.tokens}
	c.dir = o.dir
	if c.dir == "" {
		r := gittest.New(t)
		r.Commit("model.txt", "v1", "2024-01-01T10:00:00Z")
		c.dir = r.Dir
	}
	src, err := gitdir.Open(ctx(t), c.dir)
	if err != nil {
		t.Fatal(err)
	}
	c.src = src
	c.store = openStore(t, filepath.Join(t.TempDir(), "hookd.db"))
	proc := ingest.New(c.store, func(repository string) (source.Source, error) {
		if repository != companionRepo {
			return nil, fmt.Errorf("%s is not configured", repository)
		}
		return src, nil
	})
	// The first listing is the baseline: later tags are events.
	if err := proc.Reconcile(ctx(t), companionRepo); err != nil {
		t.Fatal(err)
	}
	opts := handlers.Options{Store: c.store}
	if !o.noChanges {
		opts.Changes = &change.Service{
			Repository: func(name string) (change.Repository, error) {
				if name != companionRepo {
					return change.Repository{}, fmt.Errorf("%s: %w", name, change.ErrUnknownRepository)
				}
				var writeTo source.Source = src
				if o.wrap != nil {
					writeTo = o.wrap(src)
				}
				return change.Repository{Source: writeTo, Promotion: o.promotion}, nil
			},
			Store:  c.store,
			Settle: proc.Reconcile,
		}
	}
	h := handlers.New(opts)
	if c.tokens == nil {
		c.tokens = map[string]access.Principal{adminToken: admin}
	}
	tokens := handlers.Tokens{}
	for token, p := range c.tokens {
		tokens[sha256.Sum256([]byte(token))] = p
	}
	h.SetTokens(tokens)
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	c.url = srv.URL
	return c
}

// answer is an API answer: its status, raw body, and the body decoded.
type answer struct {
	status int
	raw    []byte
	body   map[string]any
}

func (a answer) String() string { return fmt.Sprintf("%d %s", a.status, bytes.TrimSpace(a.raw)) }

// call sends a request with token ("" for none) to path under
// /api/v1/repos/acme/models unless path starts with /.
func (c *companion) call(token, method, path string, body []byte) answer {
	c.t.Helper()
	if !strings.HasPrefix(path, "/") {
		path = "/api/v1/repos/" + companionRepo + "/" + path
	}
	req, err := http.NewRequestWithContext(ctx(c.t), method, c.url+path, bytes.NewReader(body))
	if err != nil {
		c.t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.client.Do(req)
	if err != nil {
		c.t.Fatal(err)
	}
	defer resp.Body.Close()
	a := answer{status: resp.StatusCode}
	a.raw, _ = io.ReadAll(resp.Body)
	_ = json.Unmarshal(a.raw, &a.body) // arrays stay in raw
	return a
}

// write posts req as op with token.
func (c *companion) write(token string, op access.Operation, req any) answer {
	c.t.Helper()
	b, err := json.Marshal(req)
	if err != nil {
		c.t.Fatal(err)
	}
	return c.call(token, "POST", string(op), b)
}

// git runs git in the repository and returns its trimmed output.
func (c *companion) git(args ...string) string {
	c.t.Helper()
	cmd := exec.Command("git", args...)
	cmd.Dir = c.dir
	out, err := cmd.Output()
	if err != nil {
		c.t.Fatalf("git %s: %v", strings.Join(args, " "), err)
	}
	return strings.TrimSpace(string(out))
}

// tags lists the repository's tags, sorted.
func (c *companion) tags() []string {
	c.t.Helper()
	out := c.git("tag", "--list")
	if out == "" {
		return nil
	}
	return strings.Split(out, "\n")
}

// tag is what a tag holds: the commit it points at and its message.
type tagInfo struct{ commit, message string }

func (c *companion) tag(name string) tagInfo {
	c.t.Helper()
	return tagInfo{
		commit:  c.git("rev-parse", name+"^{commit}"),
		message: c.git("for-each-ref", "--format=%(contents)", "refs/tags/"+name),
	}
}

// registry is the repository's registry as GTO reads it now.
func (c *companion) registry() *registry.Registry {
	c.t.Helper()
	reg, err := source.Load(ctx(c.t), c.src)
	if err != nil {
		c.t.Fatal(err)
	}
	return reg
}

// gitTag makes an annotated tag at HEAD, as a person with git would,
// dated a day ago: so that it is older than what the API creates.
func (c *companion) gitTag(name string) {
	c.t.Helper()
	cmd := exec.Command("git", "tag", "-a", "-m", "by hand", name)
	cmd.Dir = c.dir
	cmd.Env = append(os.Environ(), "GIT_COMMITTER_DATE="+time.Now().Add(-24*time.Hour).Format(time.RFC3339))
	if out, err := cmd.CombinedOutput(); err != nil {
		c.t.Fatalf("git tag %s: %v\n%s", name, err, out)
	}
}

// commit makes an empty commit and returns its sha.
func (c *companion) commit(msg string) string {
	c.t.Helper()
	c.git("commit", "-q", "--allow-empty", "-m", msg)
	return c.git("rev-parse", "HEAD")
}

// stringsOf reads a JSON array of strings out of a decoded body.
func stringsOf(v any) []string {
	var out []string
	for _, s := range v.([]any) {
		out = append(out, s.(string))
	}
	return out
}

// audit lists the audit log, newest first.
func (c *companion) audit() []store.AuditEntry {
	c.t.Helper()
	entries, err := c.store.Audit(ctx(c.t), store.AuditFilter{Page: store.Page{Limit: 500}})
	if err != nil {
		c.t.Fatal(err)
	}
	return entries
}

// Each write creates exactly the tags GTO's plan for it creates (names,
// commits, messages), each message followed by a Requested-by trailer;
// the answer carries gto's lines and the events the pipeline recorded.
func TestWritesCreateTheTagsGTOWould(t *testing.T) {
	c := newCompanion(t, companionOptions{})
	first := c.git("rev-parse", "HEAD")
	second := c.commit("second")
	third := c.commit("third")
	for _, step := range []struct {
		op   access.Operation
		req  change.Request
		plan func(*registry.Registry) (registry.Plan, error)
		// types are the events, one per tag.
		types []string
	}{
		{access.Register, change.Request{Artifact: "churn", Version: "v1.0.0", Ref: first},
			func(r *registry.Registry) (registry.Plan, error) {
				return r.PlanRegister(registry.RegisterRequest{Artifact: "churn", Commit: first, Version: "v1.0.0"})
			}, []string{"registration"}},
		{access.Register, change.Request{Artifact: "churn", Ref: second[:10], Bump: "minor"},
			func(r *registry.Registry) (registry.Plan, error) {
				return r.PlanRegister(registry.RegisterRequest{Artifact: "churn", Commit: second, BumpMinor: true})
			}, []string{"registration"}},
		{access.Register, change.Request{Artifact: "fraud"}, // the first version, at HEAD
			func(r *registry.Registry) (registry.Plan, error) {
				return r.PlanRegister(registry.RegisterRequest{Artifact: "fraud", Commit: third})
			}, []string{"registration"}},
		{access.Assign, change.Request{Artifact: "churn", Version: "v1.0.0", Stage: "prod"},
			func(r *registry.Registry) (registry.Plan, error) {
				return r.PlanAssign(registry.AssignRequest{Artifact: "churn", Version: "v1.0.0", Stage: "prod"})
			}, []string{"assignment"}},
		{access.Assign, change.Request{Artifact: "churn", Ref: "main", NameVersion: "v1.5.0", Stage: "staging", Message: "try it"},
			func(r *registry.Registry) (registry.Plan, error) {
				return r.PlanAssign(registry.AssignRequest{Artifact: "churn", Commit: third, NameVersion: "v1.5.0", Stage: "staging", Message: "try it"})
			}, []string{"registration", "assignment"}},
		{access.Assign, change.Request{Artifact: "fraud", Ref: "main", Stage: "dev", Simple: change.Simple(registry.SimpleTrue)},
			func(r *registry.Registry) (registry.Plan, error) {
				return r.PlanAssign(registry.AssignRequest{Artifact: "fraud", Commit: third, Stage: "dev", Simple: registry.SimpleTrue})
			}, []string{"assignment"}},
		{access.Unassign, change.Request{Artifact: "churn", Version: "v1.0.0", Stage: "prod"},
			func(r *registry.Registry) (registry.Plan, error) {
				return r.PlanUnassign(registry.UnassignRequest{Artifact: "churn", Version: "v1.0.0", Stage: "prod"})
			}, []string{"unassignment"}},
		{access.Deregister, change.Request{Artifact: "churn", Version: "v1.0.0", Simple: change.Simple(registry.SimpleFalse)},
			func(r *registry.Registry) (registry.Plan, error) {
				return r.PlanDeregister(registry.DeregisterRequest{Artifact: "churn", Version: "v1.0.0", Simple: registry.SimpleFalse})
			}, []string{"deregistration"}},
		{access.Deprecate, change.Request{Artifact: "fraud"},
			func(r *registry.Registry) (registry.Plan, error) {
				return r.PlanDeprecate(registry.DeprecateRequest{Artifact: "fraud"})
			}, []string{"deprecation"}},
	} {
		plan, err := step.plan(c.registry())
		if err != nil {
			t.Fatalf("%s %+v: the plan fails: %v", step.op, step.req, err)
		}
		before := c.tags()
		a := c.write(adminToken, step.op, step.req)
		if a.status != http.StatusCreated {
			t.Fatalf("%s %+v: %s", step.op, step.req, a)
		}
		var wantTags []string
		for _, p := range plan.Create {
			wantTags = append(wantTags, p.Name)
			got := c.tag(p.Name)
			want := tagInfo{commit: p.Commit, message: p.Message + "\n\nRequested-by: admin via api"}
			if got != want {
				t.Errorf("%s: tag %s = %+v, want %+v", step.op, p.Name, got, want)
			}
		}
		if got := stringsOf(a.body["tags"]); !slices.Equal(got, wantTags) {
			t.Errorf("%s: tags %q, want %q", step.op, got, wantTags)
		}
		if got := stringsOf(a.body["output"]); !slices.Equal(got, plan.Output) {
			t.Errorf("%s: output %q, want gto's %q", step.op, got, plan.Output)
		}
		if added := len(c.tags()) - len(before); added != len(wantTags) {
			t.Errorf("%s: %d tags added, want %d", step.op, added, len(wantTags))
		}
		events := a.body["events"].([]any)
		if len(events) != len(step.types) {
			t.Fatalf("%s: events %v, want %d", step.op, events, len(step.types))
		}
		for i, e := range events {
			e := e.(map[string]any)
			if e["tag"] != wantTags[i] || e["type"] != step.types[i] || e["artifact"] != step.req.Artifact {
				t.Errorf("%s: event %d = %v, want a %s of %s", step.op, i, e, step.types[i], wantTags[i])
			}
			if v, _ := e["version"].(string); step.op != access.Deprecate && !strings.HasPrefix(v, "v") {
				t.Errorf("%s: event %d (%s) names version %q, not a registered one", step.op, i, e["tag"], v)
			}
		}
	}
	// The events are the pipeline's: listed by the operations API too,
	// once each.
	evs, err := c.store.Events(ctx(t), store.EventFilter{Page: store.Page{Limit: 100}})
	if err != nil || len(evs) != 10 {
		t.Errorf("%d events recorded (%v), want 10", len(evs), err)
	}
}

// The reads answer what gto --json prints for GTO's reference repository:
// compared with the reference files, key order included.
func TestReadsPrintWhatGTOPrints(t *testing.T) {
	ref := testenv.GTOReference(t)
	gittest.Isolate(t)
	dir := filepath.Join(t.TempDir(), "registry")
	cmd := exec.Command("bash", filepath.Join(ref, "make-repo.sh"), dir)
	cmd.Env = append(gittest.Env(t), "LC_ALL=C", "TZ=UTC")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("make-repo.sh: %v\n%s", err, out)
	}
	c := newCompanion(t, companionOptions{dir: dir})
	for _, r := range []struct{ file, path string }{
		{"show.json", "artifacts"},
		{"show_deprecated.json", "artifacts?deprecated=true"},
		{"show_sort_semver.json", "artifacts?sort=semver"},
		{"show_all_versions_per_stage.json", "artifacts?assignments_per_version=-1&versions_per_stage=-1"},
		{"show_nn.json", "artifacts/nn"},
		{"show_nn_deprecated.json", "artifacts/nn?deprecated=true"},
		{"show_models_churn_rf.json", "artifacts/" + url.PathEscape("models/churn:rf")},
		{"show_models_churn_rf.json", "artifacts/models%2Fchurn%3Arf"},
		{"history.json", "history"},
		{"history_nn.json", "artifacts/nn/history"},
		{"stages.json", "stages"},
	} {
		want, err := os.ReadFile(filepath.Join(ref, r.file))
		if err != nil {
			t.Fatal(err)
		}
		a := c.call(adminToken, "GET", r.path, nil)
		if a.status != http.StatusOK {
			t.Errorf("GET %s: %s", r.path, a)
			continue
		}
		if d := diffJSONTokens(a.raw, want); d != "" {
			t.Errorf("GET %s differs from %s: %s", r.path, r.file, d)
		}
	}

	for _, cr := range testenv.CheckRefs(t, ref) {
		// The endpoint answers a list: [] where gto prints nothing, else
		// the one event gto prints.
		list := "[]"
		if cr.Want != "" {
			list = "[" + cr.Want + "]"
		}
		path := "check-ref?" + url.Values{"tag": {cr.Tag}}.Encode()
		a := c.call(adminToken, "GET", path, nil)
		if d := diffJSONTokens(a.raw, []byte(list)); a.status != http.StatusOK || d != "" {
			t.Errorf("GET %s: %d, differs from gto: %s", path, a.status, d)
		}
	}

	// Shortcuts and --ref give what the registry gives.
	reg := c.registry()
	for _, r := range []struct{ name, ref, path string }{
		{"nn#prod", "", "artifacts/nn%23prod"},
		{"nn@latest", "", "artifacts/nn@latest"},
		{"nn", "nn@v0.0.1", "artifacts/nn?ref=" + url.QueryEscape("nn@v0.0.1")},
	} {
		var commit string
		if r.ref != "" {
			commit = c.git("rev-parse", r.ref+"^{commit}")
		}
		vs, err := reg.ShowArtifact(r.name, commit, registry.DefaultShowOptions())
		if err != nil {
			t.Fatal(err)
		}
		want, _ := json.Marshal(vs)
		a := c.call(adminToken, "GET", r.path, nil)
		if d := diffJSONTokens(a.raw, want); a.status != http.StatusOK || d != "" {
			t.Errorf("GET %s: %d %s", r.path, a.status, d)
		}
	}
}

// diffJSONTokens compares two JSON texts token by token: the same values
// with object keys in the same order. It returns "" when they are equal.
func diffJSONTokens(got, want []byte) string {
	g, w := json.NewDecoder(bytes.NewReader(got)), json.NewDecoder(bytes.NewReader(want))
	g.UseNumber()
	w.UseNumber()
	for i := 0; ; i++ {
		gt, gerr := g.Token()
		wt, werr := w.Token()
		if errors.Is(gerr, io.EOF) && errors.Is(werr, io.EOF) {
			return ""
		}
		if gerr != nil || werr != nil {
			return fmt.Sprintf("token %d: %v / %v\ngot  %s\nwant %s", i, gerr, werr, got, want)
		}
		if fmt.Sprintf("%T %v", gt, gt) != fmt.Sprintf("%T %v", wt, wt) {
			return fmt.Sprintf("token %d: got %v, want %v\ngot  %s\nwant %s", i, gt, wt, got, want)
		}
	}
}

// Reads refuse what they cannot answer, with the right status.
func TestReadErrors(t *testing.T) {
	c := newCompanion(t, companionOptions{tokens: map[string]access.Principal{
		adminToken: admin,
		"other-t0ken": {Name: "other", Scopes: []access.Scope{
			{Repositories: []string{"globex/*"}, Operations: []string{"read"}},
		}},
		"writer-t0ken": {Name: "writer", Scopes: []access.Scope{
			{Repositories: []string{"acme/*"}, Operations: []string{"register"}},
		}},
	}})
	c.write(adminToken, access.Register, change.Request{Artifact: "churn", Version: "v1.0.0"})
	for _, r := range []struct {
		token, path string
		status      int
		code, msg   string
	}{
		{adminToken, "check-ref", 422, "invalid_parameter", "tag is required"},
		{adminToken, "check-ref?tag=", 422, "invalid_parameter", "tag is required"},
		{adminToken, "artifacts?sort=newest", 422, "invalid_parameter", "invalid value 'newest' for sort"},
		{adminToken, "artifacts?versions_per_stage=-2", 422, "invalid_parameter", "versions_per_stage must be"},
		{adminToken, "artifacts?deprecated=maybe", 422, "invalid_parameter", "deprecated must be true or false"},
		{adminToken, "artifacts?registered-only=true", 422, "invalid_parameter", "unknown parameter registered-only"},
		{adminToken, "stages?allowed=true&used=true", 422, "invalid_parameter", "exclude each other"},
		{adminToken, "artifacts/nope", 404, "not_found", "Cannot find artifact 'nope'"},
		{adminToken, "artifacts/churn?ref=nope", 404, "not_found", "Ref 'nope' was not found in the repository history"},
		{adminToken, "/api/v1/repos/globex/other/artifacts", 404, "not_found", "not configured"},
		{"", "artifacts", 401, "unauthorized", "Bearer"},
		{"wrong", "artifacts", 401, "unauthorized", "not one of hookd's"},
		{"other-t0ken", "artifacts", 403, "forbidden", "other may not read in acme/models"},
		{"writer-t0ken", "stages", 403, "forbidden", "writer may not read in acme/models"},
	} {
		a := c.call(r.token, "GET", r.path, nil)
		msg, _ := a.body["message"].(string)
		if a.status != r.status || a.body["error"] != r.code || !strings.Contains(msg, r.msg) {
			t.Errorf("GET %s: %s; want %d %s with %q", r.path, a, r.status, r.code, r.msg)
		}
	}
	// An artifact's history of an artifact that does not exist is
	// empty, as in gto; an unescaped "/" in a name is no route.
	if a := c.call(adminToken, "GET", "artifacts/nope/history", nil); a.status != 200 || string(bytes.TrimSpace(a.raw)) != "[]" {
		t.Errorf("history of nothing: %s", a)
	}
	if a := c.call(adminToken, "GET", "artifacts/models/churn:rf", nil); a.status != 404 ||
		!strings.Contains(a.body["message"].(string), "send an artifact name's / as %2F: artifacts/models%2Fchurn:rf") {
		t.Errorf("unescaped name: %s", a)
	}
	if a := c.call(adminToken, "GET", "artifacts/models/churn:rf/history", nil); a.status != 404 ||
		!strings.Contains(a.body["message"].(string), "as %2F: artifacts/models%2Fchurn:rf/history") {
		t.Errorf("unescaped name's history: %s", a)
	}
}

// Writes refuse malformed requests (422), unknown things (404) and what
// GTO's rules refuse (409, in GTO's words), and create no tag then.
func TestWriteErrors(t *testing.T) {
	c := newCompanion(t, companionOptions{})
	if a := c.write(adminToken, access.Register, change.Request{Artifact: "churn", Version: "v1.0.0"}); a.status != 201 {
		t.Fatal(a)
	}
	if a := c.write(adminToken, access.Assign, change.Request{Artifact: "churn", Version: "v1.0.0", Stage: "prod"}); a.status != 201 {
		t.Fatal(a)
	}
	c.commit("second") // where new versions would go
	tags := c.tags()
	big := `{"artifact":"churn","message":"` + strings.Repeat("x", handlers.MaxWriteBodyBytes) + `"}`
	for _, r := range []struct {
		op        string
		body      string
		status    int
		code, msg string
	}{
		{"assign", `{"artifact":"churn","version":"v1.0.0","stage":"prod"}`, 409, "conflict",
			"Version 'v1.0.0' is already in stage 'prod'. Use the '--force' flag to create a new Git tag nevertheless."},
		{"register", `{"artifact":"churn","version":"v1.0.0"}`, 409, "conflict", "Version 'v1.0.0' already was registered."},
		{"unassign", `{"artifact":"churn","version":"v1.0.0","stage":"dev"}`, 409, "conflict", "Stage 'dev' is not assigned to a version 'v1.0.0'"},
		{"assign", `{"artifact":"churn","version":"v9.0.0","stage":"prod"}`, 404, "not_found", "Version 'v9.0.0' is not registered"},
		{"deprecate", `{"artifact":"nope"}`, 404, "not_found", "Cannot find artifact 'nope'"},
		{"register", `{"artifact":"churn","ref":"nope"}`, 404, "not_found", "unknown Git revision 'nope'"},
		{"register", `{"artifact":"churn","version":"1.0"}`, 422, "invalid", "Supplied version '1.0' cannot be parsed"},
		{"assign", `{"artifact":"churn","version":"v1.0.0","stage":"p r o d"}`, 422, "invalid", "Invalid value 'p r o d'"},
		{"register", ``, 422, "invalid", "the body is empty"},
		{"register", `{"artifact":`, 422, "invalid", "not valid JSON"},
		{"register", `{"artifact":"churn"} {}`, 422, "invalid", "more than one JSON value"},
		{"register", `["churn"]`, 422, "invalid", "must be a JSON object"},
		{"register", `{"artifact":1}`, 422, "invalid", "artifact must be a string, not number"},
		{"register", `{"artifact":"churn","stages":"prod"}`, 422, "invalid", `unknown field "stages"; a request's fields are artifact, version`},
		{"register", `{"artifact":"churn","stage":"prod"}`, 422, "invalid", "stage does not apply to register"},
		{"register", `{"artifact":"churn","simple":"maybe"}`, 422, "invalid", "simple must be auto, true or false"},
		{"assign", `{"version":"v1.0.0","stage":"prod"}`, 422, "invalid", "artifact is required"},
		{"assign", `{"artifact":"churn","version":"v1.0.0"}`, 422, "invalid", "stage is required"},
		{"register", big, 413, "too_large", "larger than 65536 bytes"},
	} {
		a := c.call(adminToken, "POST", r.op, []byte(r.body))
		msg, _ := a.body["message"].(string)
		if a.status != r.status || a.body["error"] != r.code || !strings.Contains(msg, r.msg) {
			body := r.body
			if len(body) > 80 {
				body = body[:80] + "..."
			}
			t.Errorf("%s %s: %s; want %d %s with %q", r.op, body, a, r.status, r.code, r.msg)
		}
	}
	// Unknown repository, operation and method.
	for _, r := range []struct {
		method, path string
		status       int
		code         string
	}{
		{"POST", "/api/v1/repos/globex/other/register", 404, "not_found"},
		{"POST", "promote", 404, "not_found"},
		{"POST", "read", 404, "not_found"},
		{"GET", "assign", 405, "method_not_allowed"},
		{"POST", "artifacts", 405, "method_not_allowed"},
	} {
		a := c.call(adminToken, r.method, r.path, []byte(`{"artifact":"churn","version":"v2.0.0"}`))
		if a.status != r.status || a.body["error"] != r.code {
			t.Errorf("%s %s: %s; want %d %s", r.method, r.path, a, r.status, r.code)
		}
	}
	if got := c.tags(); !slices.Equal(got, tags) {
		t.Errorf("refused writes changed the tags: %q, was %q", got, tags)
	}
	// GTO's --force goes past the rule.
	if a := c.write(adminToken, access.Assign, change.Request{Artifact: "churn", Version: "v1.0.0", Stage: "prod", Force: true}); a.status != 201 {
		t.Errorf("forced assignment: %s", a)
	}
}

// With a promotion order, a version enters a stage only from the one
// before it; forcing past it takes a token allowed to force.
func TestPromotionOrder(t *testing.T) {
	c := newCompanion(t, companionOptions{promotion: []string{"dev", "staging", "prod"}, tokens: map[string]access.Principal{
		adminToken: admin,
		"deployer-t0ken": {Name: "deployer", Scopes: []access.Scope{
			{Repositories: []string{"acme/*"}, Operations: []string{"register", "assign"}, Stages: []string{"*"}},
		}},
	}})
	deployer := "deployer-t0ken"
	assign := func(token, version, stage string, force bool) answer {
		return c.write(token, access.Assign, change.Request{Artifact: "churn", Version: version, Stage: stage, Force: force})
	}
	if a := c.write(deployer, access.Register, change.Request{Artifact: "churn", Version: "v1.0.0"}); a.status != 201 {
		t.Fatal(a)
	}
	a := assign(deployer, "v1.0.0", "prod", false)
	want := "v1.0.0 of 'churn' was never in stage 'staging', which comes before 'prod' (promotion order dev → staging → prod); a principal allowed to force may skip it"
	if a.status != 409 || a.body["error"] != "conflict" || a.body["message"] != want {
		t.Errorf("prod before staging: %s; want 409 %q", a, want)
	}
	if a := assign(deployer, "v1.0.0", "prod", true); a.status != 403 || a.body["message"] != `deployer may not assign stage "prod" with force in acme/models` {
		t.Errorf("forced by a token that may not force: %s", a)
	}
	if a := assign(deployer, "v1.0.0", "staging", false); a.status != 409 {
		t.Errorf("staging before dev: %s", a)
	}
	if got := c.tags(); !slices.Equal(got, []string{"churn@v1.0.0"}) {
		t.Fatalf("refusals created tags: %q", got)
	}
	for _, stage := range []string{"dev", "staging", "prod"} {
		if a := assign(deployer, "v1.0.0", stage, false); a.status != 201 {
			t.Errorf("%s in order: %s", stage, a)
		}
	}
	// A new version skips the order only when forced by a token that may.
	c.commit("second")
	if a := c.write(adminToken, access.Register, change.Request{Artifact: "churn", Version: "v1.1.0"}); a.status != 201 {
		t.Fatal(a)
	}
	if a := assign(adminToken, "v1.1.0", "prod", false); a.status != 409 {
		t.Errorf("admin without force: %s", a)
	}
	if a := assign(adminToken, "v1.1.0", "prod", true); a.status != 201 {
		t.Errorf("admin with force: %s", a)
	}
	// The first stage has no stage before it; stages outside the order
	// are free.
	c.commit("third")
	if a := c.write(adminToken, access.Register, change.Request{Artifact: "churn", Version: "v1.2.0"}); a.status != 201 {
		t.Fatal(a)
	}
	for _, stage := range []string{"dev", "canary"} {
		if a := assign(deployer, "v1.2.0", stage, false); a.status != 201 {
			t.Errorf("%s: %s", stage, a)
		}
	}
}

// Every token kind × write operation × stage × force: 201 exactly when a
// scope covers it, else 401 (no or unknown token) or 403; a refusal
// creates no tag, and a 403 is audited.
func TestWriteAuthorizationMatrix(t *testing.T) {
	scope := func(repos, ops, stages []string, force bool) []access.Scope {
		return []access.Scope{{Repositories: repos, Operations: ops, Stages: stages, Force: force}}
	}
	all := []string{"*"}
	type token struct {
		name   string
		scopes []access.Scope
		// allows says whether the token may do op at stage (with force);
		// written out here independently of package access.
		allows func(op access.Operation, stage string, force bool) bool
	}
	never := func(access.Operation, string, bool) bool { return false }
	tokens := []token{
		{"admin", scope(all, all, all, true), func(access.Operation, string, bool) bool { return true }},
		{"noforce", scope(all, all, all, false), func(_ access.Operation, _ string, force bool) bool { return !force }},
		{"reader", scope([]string{companionRepo}, []string{"read"}, nil, false), never},
		{"globex", scope([]string{"globex/*"}, all, all, true), never},
		{"devs", scope([]string{"acme/*"}, []string{"assign", "unassign"}, []string{"de*", "staging"}, false),
			func(op access.Operation, stage string, force bool) bool {
				return (op == access.Assign || op == access.Unassign) && stage == "dev" && !force
			}},
		{"releaser", scope([]string{"acme/models"}, []string{"register", "deregister", "deprecate"}, nil, true),
			func(op access.Operation, _ string, _ bool) bool {
				return op == access.Register || op == access.Deregister || op == access.Deprecate
			}},
		{"prod-forcer", append(scope([]string{"acme/mod*"}, []string{"*assign"}, []string{"prod"}, true),
			scope([]string{"acme/models"}, []string{"register"}, nil, false)...),
			func(op access.Operation, stage string, force bool) bool {
				return (op == access.Assign || op == access.Unassign) && stage == "prod" || op == access.Register && !force
			}},
	}
	principals := map[string]access.Principal{}
	for _, tk := range tokens {
		principals[tk.name+"-t0ken"] = access.Principal{Name: tk.name, Scopes: tk.scopes}
	}
	c := newCompanion(t, companionOptions{tokens: principals})

	n := 0
	for _, tk := range append(tokens, token{name: "", allows: never}, token{name: "unknown", allows: never}) {
		for _, op := range []access.Operation{access.Register, access.Assign, access.Unassign, access.Deregister, access.Deprecate} {
			stages := []string{""}
			if op.Staged() {
				stages = []string{"dev", "prod"}
			}
			for _, stage := range stages {
				for _, force := range []bool{false, true} {
					n++
					artifact := fmt.Sprintf("m%d", n)
					req := change.Request{Artifact: artifact, Version: "v1.0.0", Stage: stage, Force: force}
					// Set up what makes the write valid, as a person
					// with git would.
					if op != access.Register {
						c.gitTag(artifact + "@v1.0.0")
					}
					switch op {
					case access.Unassign:
						c.gitTag(artifact + "#" + stage + "#1")
					case access.Deprecate:
						req.Version = ""
					}
					before, audits := c.tags(), len(c.audit())
					tokenValue := ""
					if tk.name != "" {
						tokenValue = tk.name + "-t0ken"
					}
					a := c.write(tokenValue, op, req)
					want := http.StatusCreated
					switch {
					case tk.name == "" || tk.name == "unknown":
						want = http.StatusUnauthorized
					case !tk.allows(op, stage, force):
						want = http.StatusForbidden
					}
					what := fmt.Sprintf("%q %s stage=%q force=%v", tk.name, op, stage, force)
					if a.status != want {
						t.Errorf("%s: %s, want %d", what, a, want)
						continue
					}
					after, entries := c.tags(), c.audit()
					switch want {
					case http.StatusCreated:
						if len(after) <= len(before) {
							t.Errorf("%s: 201 but no tag was created", what)
						}
					default:
						if !slices.Equal(after, before) {
							t.Errorf("%s: refused with %d, yet the tags changed: %q → %q", what, want, before, after)
						}
					}
					switch want {
					case http.StatusUnauthorized:
						if len(entries) != audits {
							t.Errorf("%s: a request without a valid token was audited: %+v", what, entries[0])
						}
					default:
						e := entries[0]
						if len(entries) != audits+1 || e.Principal != tk.name || e.Via != "api" || e.Repository != companionRepo ||
							e.Operation != string(op) || e.Artifact != artifact || e.Stage != stage || e.Status != want {
							t.Errorf("%s: audit %+v (%d entries, was %d)", what, e, len(entries), audits)
						}
					}
				}
			}
		}
	}
}

// The audit log says who asked for what through the API and how it was
// answered: successes with their tags, refusals with their reason.
func TestWritesAreAudited(t *testing.T) {
	c := newCompanion(t, companionOptions{tokens: map[string]access.Principal{
		adminToken: admin,
		"reader-t0ken": {Name: "reader", Scopes: []access.Scope{
			{Repositories: []string{"*"}, Operations: []string{"read"}},
		}},
	}})
	c.write(adminToken, access.Assign, change.Request{Artifact: "churn", Ref: "HEAD", NameVersion: "v1.0.0", Stage: "prod"})
	c.write(adminToken, access.Assign, change.Request{Artifact: "churn", Version: "v1.0.0", Stage: "prod"})
	c.write("reader-t0ken", access.Deprecate, change.Request{Artifact: "churn"})
	c.commit("second")
	c.write(adminToken, access.Register, change.Request{Artifact: "churn", Version: "bad"})
	entries := c.audit()
	slices.Reverse(entries)
	type row struct {
		principal, op, artifact, version, stage string
		status                                  int
		tags                                    []string
		err                                     string
	}
	want := []row{
		{"admin", "assign", "churn", "", "prod", 201, []string{"churn@v1.0.0", "churn#prod#1"}, ""},
		{"admin", "assign", "churn", "v1.0.0", "prod", 409, []string{}, "Version 'v1.0.0' is already in stage 'prod'"},
		{"reader", "deprecate", "churn", "", "", 403, []string{}, "reader may not deprecate in acme/models"},
		{"admin", "register", "churn", "bad", "", 422, []string{}, "Supplied version 'bad' cannot be parsed"},
	}
	if len(entries) != len(want) {
		t.Fatalf("%d audit entries, want %d: %+v", len(entries), len(want), entries)
	}
	for i, e := range entries {
		w := want[i]
		if e.Principal != w.principal || e.Via != "api" || e.Repository != companionRepo || e.Operation != w.op ||
			e.Artifact != w.artifact || e.Version != w.version || e.Stage != w.stage || e.Status != w.status ||
			!slices.Equal(e.Tags, w.tags) || !strings.Contains(e.Error, w.err) || (w.err == "") != (e.Error == "") || e.At.IsZero() {
			t.Errorf("audit %d = %+v, want %+v", i, e, w)
		}
		var req map[string]any
		if err := json.Unmarshal([]byte(e.Request), &req); err != nil || req["artifact"] != "churn" {
			t.Errorf("audit %d keeps the request %q (%v)", i, e.Request, err)
		}
	}

	// The API serves the same log, newest first, to a token that reads the
	// repository; filters and paging work as on the other lists.
	var page struct {
		Entries []struct {
			Principal, Operation, Error string
			Status                      int
			Tags                        []string
			Request                     map[string]any
		}
		NextBefore *int64 `json:"next_before"`
	}
	a := c.call("reader-t0ken", "GET", "/api/v1/audit?repository="+companionRepo+"&limit=3", nil)
	if err := json.Unmarshal(a.raw, &page); a.status != http.StatusOK || err != nil || len(page.Entries) != 3 || page.NextBefore == nil {
		t.Fatalf("GET /api/v1/audit: %s", a)
	}
	if e := page.Entries[0]; e.Principal != "admin" || e.Operation != "register" || e.Status != 422 || e.Request["version"] != "bad" {
		t.Errorf("newest entry %+v", e)
	}
	a = c.call("reader-t0ken", "GET", fmt.Sprintf("/api/v1/audit?principal=admin&before=%d", *page.NextBefore), nil)
	if err := json.Unmarshal(a.raw, &page); err != nil || len(page.Entries) != 1 || page.Entries[0].Status != 201 ||
		!slices.Equal(page.Entries[0].Tags, []string{"churn@v1.0.0", "churn#prod#1"}) {
		t.Errorf("second page for admin: %s", a)
	}
}

// The audit log is read with the read operation, like the other records.
func TestAuditNeedsRead(t *testing.T) {
	c := newCompanion(t, companionOptions{tokens: map[string]access.Principal{
		adminToken: admin,
		"other-t0ken": {Name: "other", Scopes: []access.Scope{
			{Repositories: []string{"globex/*"}, Operations: []string{"read"}},
		}},
	}})
	c.write(adminToken, access.Assign, change.Request{Artifact: "churn", Ref: "HEAD", NameVersion: "v1.0.0", Stage: "prod"})
	for _, path := range []string{"/api/v1/audit", "/api/v1/audit?repository=" + companionRepo} {
		if a := c.call("other-t0ken", "GET", path, nil); a.status != http.StatusForbidden {
			t.Errorf("GET %s by a token reading globex/* only: %s", path, a)
		}
	}
	if a := c.call("", "GET", "/api/v1/audit", nil); a.status != http.StatusUnauthorized {
		t.Errorf("without a token: %s", a)
	}
	if a := c.call(adminToken, "GET", "/api/v1/audit?limit=0", nil); a.status != http.StatusUnprocessableEntity {
		t.Errorf("limit=0: %s", a)
	}
}

// Twenty writers assigning versions of one artifact to one stage at once
// all succeed, each with its own counter, through the retry on taken
// names.
func TestConcurrentAssignsAllLand(t *testing.T) {
	c := newCompanion(t, companionOptions{})
	const n = 20
	commits := make([]string, n)
	for i := range n {
		// GTO registers one version per commit: an assignment tag names
		// the version by its commit.
		commits[i] = c.commit(fmt.Sprint("model ", i))
		c.gitTag(fmt.Sprintf("churn@v1.0.%d", i))
	}
	var wg sync.WaitGroup
	answers := make([]answer, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			answers[i] = c.write(adminToken, access.Assign, change.Request{Artifact: "churn", Version: fmt.Sprintf("v1.0.%d", i), Stage: "prod"})
		}()
	}
	wg.Wait()
	seen := map[string]bool{}
	for i, a := range answers {
		if a.status != http.StatusCreated {
			t.Errorf("writer %d: %s", i, a)
			continue
		}
		tags := stringsOf(a.body["tags"])
		if len(tags) != 1 || seen[tags[0]] || !strings.HasPrefix(tags[0], "churn#prod#") {
			t.Errorf("writer %d created %q (seen: %v)", i, tags, seen)
			continue
		}
		seen[tags[0]] = true
		if info := c.tag(tags[0]); info.commit != commits[i] {
			t.Errorf("%s points at %s", tags[0], info.commit)
		}
		evs := a.body["events"].([]any)
		if len(evs) != 1 || evs[0].(map[string]any)["tag"] != tags[0] || evs[0].(map[string]any)["version"] != fmt.Sprintf("v1.0.%d", i) {
			t.Errorf("writer %d: events %v", i, evs)
		}
	}
	for i := 1; i <= n; i++ {
		if !seen[fmt.Sprintf("churn#prod#%d", i)] {
			t.Errorf("no writer created churn#prod#%d: %v", i, seen)
		}
	}
	evs, err := c.store.Events(ctx(t), store.EventFilter{Type: store.EventAssignment, Page: store.Page{Limit: 100}})
	if err != nil || len(evs) != n {
		t.Errorf("%d assignment events (%v), want %d", len(evs), err, n)
	}
}

// Without the change service the companion API says so, after the token.
func TestCompanionAPIWithoutChangeService(t *testing.T) {
	c := newCompanion(t, companionOptions{noChanges: true})
	for _, r := range []struct{ method, path string }{{"GET", "artifacts"}, {"POST", "register"}} {
		a := c.call(adminToken, r.method, r.path, []byte(`{"artifact":"churn"}`))
		if a.status != http.StatusServiceUnavailable || a.body["error"] != "unavailable" || !strings.Contains(a.body["message"].(string), "change service") {
			t.Errorf("%s %s: %s", r.method, r.path, a)
		}
		if a := c.call("", r.method, r.path, nil); a.status != http.StatusUnauthorized {
			t.Errorf("%s %s without a token: %s", r.method, r.path, a)
		}
	}
}

// An assignment that registers its version first creates both tags in the
// same second; the assignment's event must name the registered version,
// as GTO (which orders same-second events by priority) does.
func TestAssignThatRegistersRecordsTheVersion(t *testing.T) {
	c := newCompanion(t, companionOptions{})
	a := c.write(adminToken, access.Assign, change.Request{Artifact: "churn", Ref: "HEAD", NameVersion: "v1.0.0", Stage: "prod"})
	if a.status != http.StatusCreated {
		t.Fatal(a)
	}
	evs := a.body["events"].([]any)
	if len(evs) != 2 {
		t.Fatalf("events %v", evs)
	}
	if e := evs[1].(map[string]any); e["version"] != "v1.0.0" || fmt.Sprint(e["active_after"]) != "[v1.0.0]" {
		t.Errorf("assignment event %v, want version v1.0.0 active after", e)
	}
}

// The command endpoint's answers validate against the document too.
func TestCommandAnswersMatchTheDocument(t *testing.T) {
	c := newCompanion(t, companionOptions{})
	c.write(adminToken, access.Register, change.Request{Artifact: "churn", Version: "v1.0.0"})
	for _, r := range []struct {
		body   string
		status int
	}{
		{`{"text":"assign churn v1.0.0 prod","repository":"acme/models"}`, 200},
		{`{"text":"assign churn v1.0.0 prod","repository":"acme/models"}`, 200}, // refused by GTO: ok false
		{`{"text":"frobnicate","repository":"acme/models"}`, 200},
		{`{"txt":"help"}`, 422},
	} {
		if a := c.call(adminToken, "POST", "/api/v1/command", []byte(r.body)); a.status != r.status {
			t.Errorf("%s: %s, want %d", r.body, a, r.status)
		}
	}
	if !slices.Contains(c.tags(), "churn#prod#1") {
		t.Errorf("the command assigned nothing: %q", c.tags())
	}
}

// A write the server has accepted is carried out whole even when its
// client goes away halfway: an assignment that registers its version
// first must not stop between the two tags.
func TestWriteOutlivesItsClient(t *testing.T) {
	gate := newGate()
	c := newCompanion(t, companionOptions{wrap: gate.wrap})
	body, _ := json.Marshal(change.Request{Artifact: "churn", Ref: "HEAD", NameVersion: "v1.0.0", Stage: "prod"})
	e := hangUpDuringTheWrite(t, c, gate, "/api/v1/repos/"+companionRepo+"/assign", body)
	if e.Status != http.StatusCreated || !slices.Equal(e.Tags, []string{"churn@v1.0.0", "churn#prod#1"}) {
		t.Fatalf("the abandoned write ended %d with tags %q: %s", e.Status, e.Tags, e.Error)
	}
	for _, tag := range []string{"churn@v1.0.0", "churn#prod#1"} {
		if c.git("tag", "-l", tag) != tag {
			t.Errorf("tag %s missing", tag)
		}
	}
}

// hangUpDuringTheWrite posts body to path as the admin and hangs up once
// the server is creating the first tag; then it lets the write go on and
// returns its audit entry, once there is one.
func hangUpDuringTheWrite(t *testing.T, c *companion, gate *gatedSource, path string, body []byte) store.AuditEntry {
	t.Helper()
	reqCtx, cancel := context.WithCancel(ctx(t))
	req, err := http.NewRequestWithContext(reqCtx, "POST", c.url+path, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+adminToken)
	done := make(chan error, 1)
	go func() {
		resp, err := http.DefaultClient.Do(req)
		if err == nil {
			resp.Body.Close()
		}
		done <- err
	}()
	<-gate.entered // the server is creating the first tag
	cancel()       // and the client hangs up
	if err := <-done; err == nil {
		t.Fatal("the request was answered before the client hung up")
	}
	time.Sleep(100 * time.Millisecond) // let the server notice the closed connection
	close(gate.release)
	deadline := time.Now().Add(30 * time.Second)
	for {
		if entries := c.audit(); len(entries) == 1 {
			return entries[0]
		}
		if time.Now().After(deadline) {
			t.Fatal("the abandoned write was never audited")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// gatedSource holds every tag creation until release is closed, and says
// on entered when the first one starts.
type gatedSource struct {
	source.Source
	entered chan struct{}
	release chan struct{}
}

func newGate() *gatedSource {
	return &gatedSource{entered: make(chan struct{}, 1), release: make(chan struct{})}
}

// wrap is companionOptions.wrap: writes go through the gate.
func (g *gatedSource) wrap(src source.Source) source.Source {
	g.Source = src
	return g
}

func (g *gatedSource) CreateTag(ctx context.Context, t source.NewTag) (registry.Tag, error) {
	select {
	case g.entered <- struct{}{}:
	default:
	}
	<-g.release
	return g.Source.CreateTag(ctx, t)
}

// Writes are checked against the repository's .gto on its default branch,
// as gto checks them: a stage it does not allow is invalid input, and
// nothing is created.
func TestWritesFollowTheRepositorysGTOConfig(t *testing.T) {
	c := newCompanion(t, companionOptions{})
	if err := os.WriteFile(filepath.Join(c.dir, ".gto"), []byte("stages: [dev, staging, prod]\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	c.git("add", ".gto")
	c.git("commit", "-q", "-m", "allow three stages")
	if a := c.write(adminToken, access.Register, change.Request{Artifact: "churn", Version: "v1.0.0"}); a.status != 201 {
		t.Fatal(a)
	}
	tags := c.tags()
	a := c.write(adminToken, access.Assign, change.Request{Artifact: "churn", Version: "v1.0.0", Stage: "qa"})
	if msg, _ := a.body["message"].(string); a.status != 422 || !strings.Contains(msg, "Allowed stages are: '['dev', 'staging', 'prod']'") {
		t.Errorf("a stage .gto does not allow: %s", a)
	}
	if got := c.tags(); !slices.Equal(got, tags) {
		t.Errorf("the refused write created tags: %q", got)
	}
	if a := c.write(adminToken, access.Assign, change.Request{Artifact: "churn", Version: "v1.0.0", Stage: "staging"}); a.status != 201 {
		t.Errorf("a stage .gto allows: %s", a)
	}
}

// A registry GTO refuses to read (here ManyVersions: two versions at the
// commit an assignment points to) answers 409 with GTO's words wherever
// gto reads the state, and check-ref of a tag that is not GTO's answers []
// as gto's check-ref does without reading it.
func TestReadsOfARegistryGTORefuses(t *testing.T) {
	c := newCompanion(t, companionOptions{})
	for _, name := range []string{"churn@v1.0.0", "churn@v2.0.0", "churn#prod#1"} {
		c.gitTag(name)
	}
	c.git("tag", "release-1")
	const many = "Multiple versions are not allowed on the same Git commit. Violation detected for artifact 'churn', versions '['v1.0.0', 'v2.0.0']'."
	for _, r := range []struct {
		path   string
		status int
		body   string // the answer's message, or its JSON for a 200
	}{
		{"artifacts", 409, many},
		{"artifacts/churn", 409, many},
		{"history", 409, many},
		{"stages?used=true", 409, many},
		{"check-ref?" + url.Values{"tag": {"churn#prod#1"}}.Encode(), 409, many},
		{"check-ref?tag=release-1", 200, "[]"},
		{"check-ref?" + url.Values{"tag": {"churn@v9.9.9"}}.Encode(), 200, "[]"},
	} {
		a := c.call(adminToken, "GET", r.path, nil)
		got := strings.TrimSpace(string(a.raw))
		if a.status == 409 {
			got, _ = a.body["message"].(string)
		}
		if a.status != r.status || got != r.body || a.status == 409 && a.body["error"] != "conflict" {
			t.Errorf("GET %s: %s; want %d %s", r.path, a, r.status, r.body)
		}
	}
}
