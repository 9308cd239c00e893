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
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hookd-dev/hookd/access"
	"github.com/hookd-dev/hookd/handlers"
	"github.com/hookd-dev/hookd/ingest"
	"github.com/hookd-dev/hookd/store"
)

const (
	repo        = "acme/models"
	secret      = "s3cret"
	apiToken    = "ops-t0ken"
	readerToken = "reader-t0ken" // reads repo only
)

// fixture is hookd's HTTP surface over a real SQLite store on 127.0.0.1.
type fixture struct {
	t      *testing.T
	url    string
	dbPath string
	store  *store.Store
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	f := &fixture{t: t, dbPath: filepath.Join(t.TempDir(), "hookd.db")}
	f.store = openStore(t, f.dbPath)
	h := handlers.New(handlers.Options{Store: f.store})
	h.SetSecrets(handlers.Secrets{repo: secret, "/srv/git/models.git": secret})
	h.SetTokens(handlers.Tokens{
		sha256.Sum256([]byte(apiToken)): {Name: "ops", Scopes: []access.Scope{
			{Repositories: []string{"*"}, Operations: []string{"read", "retry"}},
		}},
		sha256.Sum256([]byte(readerToken)): {Name: "reader", Scopes: []access.Scope{
			{Repositories: []string{repo}, Operations: []string{"read"}},
		}},
	})
	srv := httptest.NewServer(h) // listens on 127.0.0.1
	t.Cleanup(srv.Close)
	f.url = srv.URL
	return f
}

func openStore(t *testing.T, path string) *store.Store {
	t.Helper()
	s, err := store.Open(ctx(t), path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return c
}

// deliveries lists what the store holds, reading the file with a fresh
// store so it also works after the fixture's store was closed.
func (f *fixture) deliveries() []store.Delivery {
	f.t.Helper()
	s := f.store
	if err := s.Ping(ctx(f.t)); err != nil {
		s = openStore(f.t, f.dbPath)
	}
	ds, err := s.Deliveries(ctx(f.t), store.DeliveryFilter{})
	if err != nil {
		f.t.Fatal(err)
	}
	return ds
}

type response struct {
	status int
	header http.Header
	body   map[string]string
}

func (f *fixture) do(method, path string, header map[string]string, body []byte) response {
	f.t.Helper()
	req, err := http.NewRequestWithContext(ctx(f.t), method, f.url+path, bytes.NewReader(body))
	if err != nil {
		f.t.Fatal(err)
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		f.t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	r := response{status: resp.StatusCode, header: resp.Header}
	if path != "/metrics" {
		if err := json.Unmarshal(raw, &r.body); err != nil {
			f.t.Fatalf("%s %s: body %q is not JSON: %v", method, path, raw, err)
		}
	}
	return r
}

// github sends body as GitHub would, signed with the right secret.
func (f *fixture) github(event, id string, body []byte) response {
	return f.do("POST", "/webhooks/github", githubHeaders(event, id, secret, body), body)
}

func githubHeaders(event, id, key string, body []byte) map[string]string {
	return map[string]string{
		"Content-Type":        "application/json",
		"X-GitHub-Event":      event,
		"X-GitHub-Delivery":   id,
		"X-Hub-Signature-256": handlers.Sign(key, body),
	}
}

func pushBody(fullName string) []byte {
	return []byte(`{"ref":"refs/tags/churn-model#prod#3","before":"0000000000000000000000000000000000000000",` +
		`"after":"1111111111111111111111111111111111111111","created":true,"deleted":false,` +
		`"repository":{"full_name":"` + fullName + `"}}`)
}

func TestGitHubSignatureVector(t *testing.T) {
	got := handlers.Sign("It's a Secret to Everybody", []byte("Hello, World!"))
	want := "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"
	if got != want {
		t.Fatalf("Sign = %s, want %s", got, want)
	}
	// And the handler accepts exactly that signature.
	f := newFixture(t)
	h := handlers.New(handlers.Options{Store: f.store})
	h.SetSecrets(handlers.Secrets{repo: "It's a Secret to Everybody"})
	srv := httptest.NewServer(h)
	defer srv.Close()
	f.url = srv.URL
	body := pushBody(repo)
	hdr := githubHeaders("push", "vector-1", "It's a Secret to Everybody", body)
	if r := f.do("POST", "/webhooks/github", hdr, body); r.status != http.StatusAccepted {
		t.Fatalf("status %d %v", r.status, r.body)
	}
}

func TestGitHubAcceptAndRedelivery(t *testing.T) {
	f := newFixture(t)
	body := pushBody(repo)
	r := f.github("push", "guid-1", body)
	if r.status != http.StatusAccepted || r.body["status"] != "accepted" || r.body["delivery"] != "guid-1" {
		t.Fatalf("push: %d %v", r.status, r.body)
	}
	ds := f.deliveries()
	if len(ds) != 1 || ds[0].ID != "guid-1" || ds[0].Event != "push" || ds[0].Repository != repo ||
		ds[0].Source != store.SourceGitHub || ds[0].Status != store.DeliveryQueued {
		t.Fatalf("stored: %+v", ds)
	}
	full, err := f.store.Delivery(ctx(t), "guid-1")
	if err != nil || !bytes.Equal(full.Body, body) {
		t.Fatalf("stored body %q, %v; want the raw body", full.Body, err)
	}

	// GitHub's Redeliver reuses the id: the delivery is processed again.
	if r := f.github("push", "guid-1", body); r.status != http.StatusAccepted || r.body["status"] != "redelivered" {
		t.Fatalf("redelivery: %d %v", r.status, r.body)
	}
	if n := len(f.deliveries()); n != 1 {
		t.Fatalf("redelivery stored something: %d deliveries", n)
	}
	if st, err := f.store.QueueStats(ctx(t)); err != nil || st.Available != 2 {
		t.Errorf("jobs queued: %+v, %v; want one more for the redelivery", st, err)
	}
	// A delivery hookd ignores stays ignored, and once is enough.
	branch := []byte(`{"ref":"refs/heads/main","repository":{"full_name":"` + repo + `"}}`)
	f.github("push", "branch-1", branch)
	if r := f.github("push", "branch-1", branch); r.status != http.StatusOK || r.body["status"] != "duplicate" {
		t.Fatalf("redelivery of an ignored delivery: %d %v", r.status, r.body)
	}
}

func TestGitHubPingAndIgnoredEvents(t *testing.T) {
	f := newFixture(t)
	ping := []byte(`{"zen":"Design for failure.","hook_id":1,"repository":{"full_name":"` + repo + `"}}`)
	if r := f.github("ping", "ping-1", ping); r.status != http.StatusOK {
		t.Fatalf("ping: %d %v", r.status, r.body)
	}
	// The ping is recorded, so that whoever set the hook up can see it
	// arrived, and nothing is queued for it.
	if ds := f.deliveries(); len(ds) != 1 || ds[0].Event != "ping" || ds[0].Status != store.DeliveryIgnored ||
		ds[0].Reason != "ping: the webhook reaches hookd" {
		t.Fatalf("ping stored as %+v", ds)
	}
	if r := f.github("issues", "issue-1", pushBody(repo)); r.status != http.StatusAccepted || r.body["status"] != "ignored" {
		t.Fatalf("issues: %d %v", r.status, r.body)
	}
	ds := f.deliveries()
	if len(ds) != 2 || ds[0].Status != store.DeliveryIgnored || ds[0].Event != "issues" ||
		ds[0].Reason != "hookd does not act on issues events" {
		t.Fatalf("ignored event stored as %+v", ds)
	}
	// A branch push is the commonest delivery and never a GTO event: it is
	// stored as ignored at once, with no job to process it.
	branch := []byte(`{"ref":"refs/heads/main","after":"` + strings.Repeat("1", 40) + `","repository":{"full_name":"` + repo + `"}}`)
	if r := f.github("push", "branch-1", branch); r.status != http.StatusAccepted || r.body["status"] != "ignored" {
		t.Fatalf("branch push: %d %v", r.status, r.body)
	}
	if r := f.github("push", "tag-1", pushBody(repo)); r.status != http.StatusAccepted || r.body["status"] != "accepted" {
		t.Fatalf("tag push: %d %v", r.status, r.body)
	}
	// So are pushes of tags GTO never reads: a release tag beside GTO's,
	// and a lightweight tag (its "after" is the commit itself).
	sha := strings.Repeat("2", 40)
	release := []byte(`{"ref":"refs/tags/v1.2.0","after":"` + sha + `","head_commit":{"id":"` + strings.Repeat("3", 40) + `"},"repository":{"full_name":"` + repo + `"}}`)
	light := []byte(`{"ref":"refs/tags/churn@v9.9.9","after":"` + sha + `","head_commit":{"id":"` + sha + `"},"repository":{"full_name":"` + repo + `"}}`)
	for id, body := range map[string][]byte{"release-1": release, "light-1": light} {
		if r := f.github("push", id, body); r.status != http.StatusAccepted || r.body["status"] != "ignored" {
			t.Fatalf("%s: %d %v", id, r.status, r.body)
		}
	}
	got := map[string]string{}
	for _, d := range f.deliveries() {
		got[d.ID] = string(d.Status) + ": " + d.Reason
	}
	if got["branch-1"] != "ignored: no tag refs in this push delivery" || got["tag-1"] != "queued: " ||
		!strings.HasPrefix(got["release-1"], "ignored: v1.2.0: not a GTO tag") ||
		got["light-1"] != "ignored: churn@v9.9.9: lightweight tag (GTO reads annotated tags only)" {
		t.Errorf("stored %v", got)
	}
	if st, err := f.store.QueueStats(ctx(t)); err != nil || st.Available != 1 {
		t.Errorf("jobs queued: %+v, %v; want one, for the tag push only", st, err)
	}
}

func TestGitHubFormEncodedPayload(t *testing.T) {
	f := newFixture(t)
	payload := pushBody(repo)
	body := []byte(url.Values{"payload": {string(payload)}}.Encode())
	hdr := githubHeaders("push", "form-1", secret, body)
	hdr["Content-Type"] = "application/x-www-form-urlencoded"
	if r := f.do("POST", "/webhooks/github", hdr, body); r.status != http.StatusAccepted {
		t.Fatalf("form: %d %v", r.status, r.body)
	}
	d, err := f.store.Delivery(ctx(t), "form-1")
	if err != nil || !bytes.Equal(d.Body, payload) {
		t.Fatalf("stored %q, %v; want the JSON payload", d.Body, err)
	}
}

// Every rejected request leaves the store as it was.
func TestGitHubRejections(t *testing.T) {
	body := pushBody(repo)
	big := append(append([]byte(`{"repository":{"full_name":"acme/models"},"pad":"`), bytes.Repeat([]byte("x"), handlers.MaxBodyBytes)...), `"}`...)
	sha1Only := githubHeaders("push", "d", secret, body)
	delete(sha1Only, "X-Hub-Signature-256")
	sha1Only["X-Hub-Signature"] = "sha1=0123456789abcdef0123456789abcdef01234567"
	noSig := githubHeaders("push", "d", secret, body)
	delete(noSig, "X-Hub-Signature-256")
	noID := githubHeaders("push", "", secret, body)
	// Signed as GitHub would, but with headers PostgreSQL cannot store.
	latin1ID := githubHeaders("push", "caf\xe9", secret, body)
	latin1Event := githubHeaders("p\xfcsh", "d", secret, body)
	longID := githubHeaders("push", strings.Repeat("d", 300), secret, body)

	for _, c := range []struct {
		name   string
		method string
		header map[string]string
		body   []byte
		status int
		code   string
	}{
		{"wrong secret", "POST", githubHeaders("push", "d", "not-the-secret", body), body, 401, "bad_signature"},
		{"signature of another body", "POST", githubHeaders("push", "d", secret, []byte("{}")), body, 401, "bad_signature"},
		{"garbage signature", "POST", map[string]string{"X-GitHub-Event": "push", "X-GitHub-Delivery": "d", "X-Hub-Signature-256": "sha256=zz"}, body, 401, "bad_signature"},
		{"missing signature", "POST", noSig, body, 401, "missing_signature"},
		{"sha-1 signature only", "POST", sha1Only, body, 401, "missing_signature"},
		{"malformed JSON", "POST", githubHeaders("push", "d", secret, []byte(`{"repository":`)), []byte(`{"repository":`), 400, "malformed_json"},
		{"missing delivery id", "POST", noID, body, 400, "missing_header"},
		{"delivery id not UTF-8", "POST", latin1ID, body, 400, "bad_header"},
		{"event not UTF-8", "POST", latin1Event, body, 400, "bad_header"},
		{"delivery id of 300 bytes", "POST", longID, body, 400, "bad_header"},
		{"over 25 MiB", "POST", githubHeaders("push", "d", secret, big), big, 413, "too_large"},
		{"GET", "GET", nil, nil, 405, "method_not_allowed"},
		{"PUT", "PUT", githubHeaders("push", "d", secret, body), body, 405, "method_not_allowed"},
		{"repository not configured", "POST", githubHeaders("push", "d", secret, pushBody("acme/other")), pushBody("acme/other"), 401, "bad_signature"},
	} {
		t.Run(c.name, func(t *testing.T) {
			f := newFixture(t)
			r := f.do(c.method, "/webhooks/github", c.header, c.body)
			if r.status != c.status || r.body["error"] != c.code || r.body["message"] == "" {
				t.Fatalf("got %d %v, want %d %s with a message", r.status, r.body, c.status, c.code)
			}
			if c.status == 405 && r.header.Get("Allow") != "POST" {
				t.Errorf("Allow: %q, want POST", r.header.Get("Allow"))
			}
			if ds := f.deliveries(); len(ds) != 0 {
				t.Fatalf("rejected request stored %+v", ds)
			}
		})
	}
}

func TestStoreUnavailable(t *testing.T) {
	f := newFixture(t)
	if r := f.do("GET", "/readyz", nil, nil); r.status != http.StatusOK {
		t.Fatalf("readyz with the store up: %d %v", r.status, r.body)
	}
	f.store.Close()
	r := f.github("push", "guid-503", pushBody(repo))
	if r.status != http.StatusServiceUnavailable || r.body["error"] != "store_unavailable" {
		t.Fatalf("push with the store down: %d %v", r.status, r.body)
	}
	if r := f.do("GET", "/readyz", nil, nil); r.status != http.StatusServiceUnavailable {
		t.Fatalf("readyz with the store down: %d %v", r.status, r.body)
	}
	if r := f.do("GET", "/healthz", nil, nil); r.status != http.StatusOK {
		t.Fatalf("healthz: %d %v", r.status, r.body)
	}
	if ds := f.deliveries(); len(ds) != 0 {
		t.Fatalf("stored %+v after a 503", ds)
	}
}

func gitPush(repository string) []byte {
	b, _ := json.Marshal(ingest.GitPush{Repository: repository, Updates: []ingest.RefUpdate{{
		Ref: "refs/tags/churn-model@v1.0.0", Old: strings.Repeat("0", 40), New: strings.Repeat("a", 40),
		Tag: &ingest.TagObject{Name: "churn-model@v1.0.0", Target: strings.Repeat("b", 40), TargetType: "commit",
			TaggerName: "A", TaggerEmail: "a@example.com", TaggerDate: "2026-01-02T03:04:05+01:00", Message: "v1\n"},
	}}})
	return b
}

func gitHeaders(id, key string, body []byte) map[string]string {
	return map[string]string{handlers.GitDeliveryHeader: id, handlers.GitSignatureHeader: handlers.Sign(key, body)}
}

func TestGitHookEndpoint(t *testing.T) {
	f := newFixture(t)
	body := gitPush("/srv/git/models.git")
	if r := f.do("POST", "/webhooks/git", gitHeaders("git-1", secret, body), body); r.status != http.StatusAccepted {
		t.Fatalf("git push: %d %v", r.status, r.body)
	}
	if r := f.do("POST", "/webhooks/git", gitHeaders("git-1", secret, body), body); r.status != http.StatusOK {
		t.Fatalf("retry: %d %v", r.status, r.body)
	}
	for _, c := range []struct {
		header map[string]string
		body   []byte
		status int
	}{
		{gitHeaders("git-2", "wrong", body), body, 401},
		{map[string]string{handlers.GitDeliveryHeader: "git-2"}, body, 401},
		{gitHeaders("git-2", secret, []byte("nope")), []byte("nope"), 400},
		{gitHeaders("git-2", secret, gitPush("/srv/git/other.git")), gitPush("/srv/git/other.git"), 401},
		{gitHeaders("", secret, body), body, 400},
		{gitHeaders("git-\xff", secret, body), body, 400},
	} {
		if r := f.do("POST", "/webhooks/git", c.header, c.body); r.status != c.status {
			t.Errorf("got %d %v, want %d", r.status, r.body, c.status)
		}
	}
	if r := f.do("GET", "/webhooks/git", nil, nil); r.status != 405 || r.header.Get("Allow") != "POST" {
		t.Errorf("GET: %d Allow %q", r.status, r.header.Get("Allow"))
	}
	ds := f.deliveries()
	if len(ds) != 1 || ds[0].Source != store.SourceGit || ds[0].Repository != "/srv/git/models.git" || ds[0].Event != "push" {
		t.Fatalf("stored %+v", ds)
	}
}

func TestSetSecretsSwapsRepositories(t *testing.T) {
	f := newFixture(t)
	h := handlers.New(handlers.Options{Store: f.store})
	srv := httptest.NewServer(h)
	defer srv.Close()
	f.url = srv.URL
	body := pushBody(repo)
	if r := f.github("push", "swap-1", body); r.status != http.StatusUnauthorized {
		t.Fatalf("before SetSecrets: %d", r.status)
	}
	h.SetSecrets(handlers.Secrets{repo: secret})
	if r := f.github("push", "swap-1", body); r.status != http.StatusAccepted {
		t.Fatalf("after SetSecrets: %d %v", r.status, r.body)
	}
}

func TestMetrics(t *testing.T) {
	f := newFixture(t)
	f.github("push", "m-1", pushBody(repo))
	f.github("push", "m-1", pushBody(repo))
	branch := []byte(`{"ref":"refs/heads/main","repository":{"full_name":"` + repo + `"}}`)
	f.github("push", "m-3", branch)
	f.github("push", "m-3", branch)
	f.do("POST", "/webhooks/github", githubHeaders("push", "m-2", "bad", pushBody(repo)), pushBody(repo))

	resp, err := http.Get(f.url + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	text, _ := io.ReadAll(resp.Body)
	for _, want := range []string{
		`hookd_webhook_deliveries_total{outcome="accepted",source="github"} 1`,
		`hookd_webhook_deliveries_total{outcome="redelivered",source="github"} 1`,
		`hookd_webhook_deliveries_total{outcome="duplicate",source="github"} 1`,
		`hookd_webhook_deliveries_total{outcome="bad_signature",source="github"} 1`,
		`hookd_http_request_duration_seconds_count{code="202",route="github"} 3`,
	} {
		if !strings.Contains(string(text), want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
}

// While bodies already being received fill the memory budget, a further
// delivery is answered 503 (GitHub shows the failure, and it can be
// redelivered) instead of being held in memory. A body takes its room as
// its bytes arrive.
func TestBodiesInFlightAreBounded(t *testing.T) {
	const budget = 256 << 10
	s := openStore(t, filepath.Join(t.TempDir(), "hookd.db"))
	h := handlers.New(handlers.Options{Store: s, BodyBytes: budget})
	h.SetSecrets(handlers.Secrets{repo: secret})
	srv := httptest.NewServer(h)
	defer srv.Close()

	// A delivery whose body arrives slowly has sent nearly the budget.
	slow, w := io.Pipe()
	req, _ := http.NewRequest("POST", srv.URL+"/webhooks/github", slow)
	req.ContentLength = handlers.MaxBodyBytes
	first := make(chan int, 1)
	go func() {
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			first <- 0
			return
		}
		resp.Body.Close()
		first <- resp.StatusCode
	}()
	if _, err := w.Write(make([]byte, budget-16<<10)); err != nil {
		t.Fatal(err)
	}

	// The server may not have taken the room for all of it yet; a few
	// tries (each a distinct delivery) find it taken.
	body := pushBody(repo)
	f := &fixture{t: t, url: srv.URL, store: s}
	var last response
	for i := range 50 {
		last = f.do("POST", "/webhooks/github", githubHeaders("push", fmt.Sprintf("second-%d", i), secret, body), body)
		if last.status == http.StatusServiceUnavailable {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if last.status != http.StatusServiceUnavailable || last.body["error"] != "busy" {
		t.Errorf("deliveries while the budget is taken: %d %v, want 503 busy", last.status, last.body)
	}
	w.CloseWithError(errors.New("sender gave up"))
	<-first
	if r := f.do("POST", "/webhooks/github", githubHeaders("push", "third", secret, body), body); r.status != http.StatusAccepted {
		t.Errorf("once the budget is free again: %d %v", r.status, r.body)
	}
}

// A request cannot tell a repository hookd does not know from one whose
// secret it got wrong: both are answered alike, so the configured names
// cannot be probed.
func TestUnknownRepositoryAnswersAsBadSignature(t *testing.T) {
	f := newFixture(t)
	other := pushBody("acme/other")
	unknown := f.do("POST", "/webhooks/github", githubHeaders("push", "u-1", secret, other), other)
	known := f.do("POST", "/webhooks/github", githubHeaders("push", "u-2", "guess", pushBody(repo)), pushBody(repo))
	if unknown.status != http.StatusUnauthorized || fmt.Sprint(unknown.body) != fmt.Sprint(known.body) || unknown.status != known.status {
		t.Errorf("unknown repository: %d %v; configured one with a wrong secret: %d %v; want both alike, 401",
			unknown.status, unknown.body, known.status, known.body)
	}
	gitOther := gitPush("/srv/git/other.git")
	gitUnknown := f.do("POST", "/webhooks/git", gitHeaders("g-1", secret, gitOther), gitOther)
	gitKnown := f.do("POST", "/webhooks/git", gitHeaders("g-2", "guess", gitPush("/srv/git/models.git")), gitPush("/srv/git/models.git"))
	if gitUnknown.status != http.StatusUnauthorized || fmt.Sprint(gitUnknown.body) != fmt.Sprint(gitKnown.body) {
		t.Errorf("git hook: unknown repository %d %v, wrong secret %d %v; want both alike, 401",
			gitUnknown.status, gitUnknown.body, gitKnown.status, gitKnown.body)
	}
	if ds := f.deliveries(); len(ds) != 0 {
		t.Errorf("stored %+v", ds)
	}
}
