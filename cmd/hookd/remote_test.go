package main

import (
	"context"
	"crypto/sha256"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hookd-dev/hookd/access"
	"github.com/hookd-dev/hookd/change"
	"github.com/hookd-dev/hookd/handlers"
	"github.com/hookd-dev/hookd/internal/gittest"
	"github.com/hookd-dev/hookd/source/gitdir"
	"github.com/hookd-dev/hookd/store"
)

// The tokens of a remoteServer's principals.
const (
	adminToken  = "admin-token-0123456789"
	readerToken = "reader-token-0123456789"
	devToken    = "dev-token-0123456789"
	remoteName  = "acme/models"
)

// remoteServer is a real hookd API (handlers and the change service over a
// SQLite store) serving a test repository as acme/models, on 127.0.0.1.
type remoteServer struct {
	url string
}

// serve starts a hookd API for r. promotion is the repository's
// promotion order (none when empty).
func serve(t *testing.T, r *repo, promotion ...string) *remoteServer {
	t.Helper()
	// The server creates tags with git, in this process: as the test
	// identity, away from the user's configuration.
	gittest.Isolate(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	t.Cleanup(cancel)
	st, err := store.Open(ctx, filepath.Join(t.TempDir(), "hookd.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	src, err := gitdir.Open(ctx, r.dir)
	if err != nil {
		t.Fatal(err)
	}
	svc := &change.Service{
		Repository: func(name string) (change.Repository, error) {
			if name != remoteName {
				return change.Repository{}, fmt.Errorf("%s: %w", name, change.ErrUnknownRepository)
			}
			return change.Repository{Source: src, Promotion: promotion}, nil
		},
		Store: st,
	}
	h := handlers.New(handlers.Options{Store: st, Changes: svc, Logger: slog.New(slog.DiscardHandler)})
	h.SetTokens(handlers.Tokens{
		sha256.Sum256([]byte(adminToken)): {Name: "admin", Scopes: []access.Scope{
			{Repositories: []string{"*"}, Operations: []string{"*"}, Stages: []string{"*"}, Force: true},
		}},
		sha256.Sum256([]byte(readerToken)): {Name: "reader", Scopes: []access.Scope{
			{Repositories: []string{remoteName}, Operations: []string{"read"}},
		}},
		sha256.Sum256([]byte(devToken)): {Name: "dev", Scopes: []access.Scope{
			{Repositories: []string{remoteName}, Operations: []string{"read", "register", "assign"}, Stages: []string{"dev", "staging", "prod"}},
		}},
	})
	srv := httptest.NewServer(h) // 127.0.0.1
	t.Cleanup(srv.Close)
	return &remoteServer{url: srv.URL}
}

// remote runs hookd in remote mode against s, with token in HOOKD_TOKEN,
// from a folder that is no repository.
func (s *remoteServer) remote(t *testing.T, env []string, token string, args ...string) result {
	t.Helper()
	env = append(slices.Clone(env), "HOOKD_SERVER="+s.url, "HOOKD_TOKEN="+token)
	return runHookd(t, t.TempDir(), env, append(args, "-r", remoteName)...)
}

// reminderLines are local mode's git push reminders,
// which remote mode has no reason to print: the server created the tags.
var reminderLines = regexp.MustCompile(`(?m)^To push the changes upstream, run:\n    git push .*\n`)

// TestRemoteWritesPrintWhatLocalPrints runs the same writes on two
// repositories with the same history, one in local mode and one through a
// hookd server: they print the same lines and create the same tags.
func TestRemoteWritesPrintWhatLocalPrints(t *testing.T) {
	// One history, twice: commits dated alike keep the two repositories'
	// hashes equal whatever second the clock turns between them.
	local := newRepo(t)
	served := &repo{t: t, dir: filepath.Join(t.TempDir(), "served"), env: local.env}
	local.git("clone", "-q", local.dir, served.dir)
	s := serve(t, served)
	steps := []struct {
		commit bool
		args   []string
	}{
		{false, []string{"register", "nn"}},
		{false, []string{"assign", "nn", "--version", "v0.0.1", "--stage", "prod", "-m", "ship it"}},
		{true, []string{"assign", "nn", "HEAD", "--version", "v0.1.0", "--stage", "dev"}},
		{false, []string{"promote", "nn", "--version", "v0.1.0", "--stage", "staging", "--simple", "true"}},
		{false, []string{"assign", "nn", "--version", "v0.1.0", "--stage", "dev", "--force"}},
		{true, []string{"assign", "nn", "--stage", "qa"}}, // REF is HEAD: registers the next version there
		{true, []string{"assign", "nn", "--stage", "qa", "--sr"}},
		{false, []string{"unassign", "nn", "v0.0.1", "--stage", "prod"}},
		{false, []string{"deprecate", "nn", "v0.1.0", "staging"}},
		{false, []string{"unassign", "nn", "--ref", "HEAD~1", "--stage", "qa"}},
		{true, []string{"register", "nn", "--bump-minor", "--simple", "false"}},
		{true, []string{"register", "nn", "HEAD", "--version", "v2.0.0-rc.1"}},
		{false, []string{"deregister", "nn", "v0.0.1"}},
		{false, []string{"deprecate", "nn", "v0.1.1"}},
		{false, []string{"deregister", "nn", "--ref", "HEAD"}},
		{true, []string{"register", "other"}},
		{false, []string{"deprecate", "other"}},
	}
	for i, st := range steps {
		if st.commit {
			msg := fmt.Sprintf("step %d", i)
			date := time.Now().UTC().Format(time.RFC3339)
			local.commitAt(msg, date)
			served.commitAt(msg, date)
		}
		want := reminderLines.ReplaceAllString(local.ok(st.args...), "")
		res := s.remote(t, served.env, adminToken, st.args...)
		if res.code != 0 || res.stdout != want || res.stderr != "" {
			t.Fatalf("remote %s: exit %d, stdout %q, stderr %q; want exit 0, stdout %q",
				strings.Join(st.args, " "), res.code, res.stdout, res.stderr, want)
		}
		if l, r := local.tags(), served.tags(); !slices.Equal(l, r) {
			t.Fatalf("after %s: tags %v through the server, %v locally", strings.Join(st.args, " "), r, l)
		}
	}
	// The tags are where local mode puts them, and say who asked.
	for _, tag := range local.tags() {
		subject := func(r *repo) string { return r.git("log", "-1", "--format=%s", "refs/tags/"+tag) }
		if l, r := subject(local), subject(served); l != r {
			t.Errorf("%s is on commit %q through the server, %q locally", tag, r, l)
		}
	}
	if msg := served.tag("nn#prod#1").message; !strings.HasPrefix(msg, "ship it") || !strings.HasSuffix(msg, "Requested-by: admin via api") {
		t.Errorf("nn#prod#1's message %q: want -m's, then who asked", msg)
	}
}

// TestRemoteReadsPrintWhatLocalPrints checks that every read prints through
// a server exactly what it prints on the repository itself: tables, plain
// tables, --json and errors.
func TestRemoteReadsPrintWhatLocalPrints(t *testing.T) {
	r := referenceRepo(t)
	s := serve(t, r)
	for _, args := range [][]string{
		{"show"},
		{"show", "--json"},
		{"show", "--plain"},
		{"show", "-d", "--av", "-1", "--vs", "-1", "--json"},
		{"show", "--ro", "--sort", "semver", "--json"},
		{"show", "-d"},
		{"show", "nn"},
		{"show", "nn", "--json"},
		{"show", "nn", "-d", "--plain"},
		{"show", "nn#prod", "--json"},
		{"show", "nn@latest"},
		{"show", "nn", "--ref", "HEAD~1", "--json"},
		{"show", "models/churn:rf"},
		{"show", "models/churn:rf", "--json"},
		{"show", "annotated-only", "--json"},
		{"show", "annotated-only", "-d"},
		{"show", "missing"},
		{"show", "nn", "--ref", "no-such-ref"},
		{"history"},
		{"history", "--json"},
		{"history", "nn", "--asc", "--plain"},
		{"history", "nn", "--json"},
		{"history", "missing", "--json"},
		{"stages"},
		{"stages", "--used", "--json"},
		{"stages", "--allowed", "--json"},
		{"check-ref", "nn#prod#4"},
		{"check-ref", "refs/tags/nn@v0.0.1", "--json"},
		{"check-ref", "models/churn=rf#prod#1", "--json"},
		{"check-ref", "nn#dev", "--stage"},
		{"check-ref", "no-such-tag", "--json"},
	} {
		want := r.hookd(args...)
		if fails := slices.Contains(args, "missing") && args[0] == "show" || slices.Contains(args, "no-such-ref"); (want.code != 0) != fails {
			t.Fatalf("hookd %s locally: exit %d: %s", strings.Join(args, " "), want.code, want.stderr)
		}
		got := s.remote(t, r.env, readerToken, args...)
		if got != want {
			t.Errorf("hookd %s\nthrough the server: exit %d\n%s%s\nlocally: exit %d\n%s%s", strings.Join(args, " "),
				got.code, got.stdout, got.stderr, want.code, want.stdout, want.stderr)
		}
	}
}

// TestRemoteErrors checks that the server's refusals are printed as it
// words them and exit 1, and that a command line remote mode cannot carry
// out is a usage error.
func TestRemoteErrors(t *testing.T) {
	r := newRepo(t)
	s := serve(t, r, "dev", "staging", "prod")
	if res := s.remote(t, r.env, adminToken, "register", "nn"); res.code != 0 {
		t.Fatalf("register: exit %d: %s", res.code, res.stderr)
	}
	if res := s.remote(t, r.env, adminToken, "assign", "nn", "--version", "v0.0.1", "--stage", "dev"); res.code != 0 {
		t.Fatalf("assign: exit %d: %s", res.code, res.stderr)
	}
	for _, c := range []struct {
		token string
		args  []string
		want  string
	}{
		{"", []string{"show"}, "send Authorization: Bearer TOKEN (no token given: set $HOOKD_TOKEN)"},
		{"not-a-token", []string{"assign", "nn", "--version", "v0.0.1", "--stage", "staging"}, "❌ the token is not one of hookd's\n"},
		{readerToken, []string{"assign", "nn", "--version", "v0.0.1", "--stage", "staging"}, `❌ reader may not assign stage "staging" in acme/models` + "\n"},
		{devToken, []string{"deprecate", "nn"}, "❌ dev may not deprecate in acme/models\n"},
		{devToken, []string{"assign", "nn", "--version", "v0.0.1", "--stage", "dev", "--force"}, `❌ dev may not assign stage "dev" with force in acme/models` + "\n"},
		{adminToken, []string{"assign", "nn", "--version", "v0.0.1", "--stage", "dev"}, "Version 'v0.0.1' is already in stage 'dev'"},
		{devToken, []string{"assign", "nn", "--version", "v0.0.1", "--stage", "prod"}, "was never in stage 'staging', which comes before 'prod'"},
		{adminToken, []string{"unassign", "missing", "v0.0.1", "--stage", "prod"}, "Cannot find artifact 'missing'"},
		{adminToken, []string{"register", "nn", "no-such-ref"}, "unknown Git revision 'no-such-ref'"},
		{adminToken, []string{"register", "nn", "no-such-ref", "--bump-major", "--bump-minor"}, "Need to specify either version or single bump argument"},
		{adminToken, []string{"deregister", "nn"}, "give version or ref, one of them"},
	} {
		before := r.tags()
		res := s.remote(t, r.env, c.token, c.args...)
		if res.code != 1 || res.stdout != "" || strings.Count(res.stderr, "\n") != 1 || !strings.HasPrefix(res.stderr, "❌ ") || !strings.Contains(res.stderr, c.want) {
			t.Errorf("remote %s: exit %d, stdout %q, stderr %q; want exit 1, one line with %q",
				strings.Join(c.args, " "), res.code, res.stdout, res.stderr, c.want)
		}
		if after := r.tags(); !slices.Equal(before, after) {
			t.Errorf("remote %s changed the tags: %v → %v", strings.Join(c.args, " "), before, after)
		}
	}
	// The repository the server does not have.
	env := append(slices.Clone(r.env), "HOOKD_SERVER="+s.url, "HOOKD_TOKEN="+adminToken)
	res := runHookd(t, t.TempDir(), env, "show", "-r", "acme/other")
	if res.code != 1 || !strings.Contains(res.stderr, "not configured") {
		t.Errorf("unknown repository: exit %d, stderr %q", res.code, res.stderr)
	}
	// A server that is not there.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	gone := "http://" + ln.Addr().String()
	ln.Close()
	res = runHookd(t, t.TempDir(), r.env, "show", "--server", gone, "-r", remoteName)
	if res.code != 1 || !strings.Contains(res.stderr, "cannot reach the hookd server at "+gone) {
		t.Errorf("server down: exit %d, stderr %q", res.code, res.stderr)
	}

	// A URL where no hookd answers.
	other := httptest.NewServer(http.NotFoundHandler())
	t.Cleanup(other.Close)
	res = runHookd(t, t.TempDir(), r.env, "show", "--server", other.URL+"/", "-r", remoteName)
	if want := "❌ the hookd server at " + other.URL + " answered 404 Not Found to GET /api/v1/repos/acme/models/artifacts\n"; res.code != 1 || res.stderr != want {
		t.Errorf("no hookd: exit %d, stderr %q; want %q", res.code, res.stderr, want)
	}

	// Usage errors: exit 2, nothing sent.
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"show", "--server", s.url}, "--server needs -r/--repo owner/name"},
		{[]string{"assign", "nn", "--version", "v0.0.1", "--stage", "staging", "--server", s.url}, "--server needs -r/--repo"},
		{[]string{"register", "nn", "--push", "--server", s.url, "-r", remoteName}, "--push applies to a local repository only"},
		{[]string{"unassign", "nn", "v0.0.1", "--stage", "dev", "--delete", "--server", s.url, "-r", remoteName}, "--delete applies to a local repository only"},
		{[]string{"register", "nn", "--author", "me", "--server", s.url, "-r", remoteName}, "--author applies to a local repository only"},
		{[]string{"show", "--server", "ftp://example.com", "-r", remoteName}, "want the server's http:// or https:// URL"},
		{[]string{"show", "--server", s.url, "-r", "/srv/git/models"}, "name the repository owner/name"},
	} {
		res := runHookd(t, t.TempDir(), append(slices.Clone(r.env), "HOOKD_TOKEN="+adminToken), c.args...)
		if res.code != 2 || res.stdout != "" || !strings.Contains(res.stderr, c.want) {
			t.Errorf("hookd %s: exit %d, stdout %q, stderr %q; want exit 2 and %q", strings.Join(c.args, " "), res.code, res.stdout, res.stderr, c.want)
		}
	}
	if tags := r.tags(); !slices.Equal(tags, []string{"nn#dev#1", "nn@v0.0.1"}) {
		t.Errorf("tags %v after refusals", tags)
	}

	// --token works, is never printed, and is discouraged.
	res = runHookd(t, t.TempDir(), r.env, "stages", "--server", s.url, "--token", adminToken, "-r", "github:"+remoteName)
	if res.code != 0 || res.stdout != "dev\n" || !strings.Contains(res.stderr, "prefer $HOOKD_TOKEN") || strings.Contains(res.stderr+res.stdout, adminToken) {
		t.Errorf("--token: exit %d, stdout %q, stderr %q", res.code, res.stdout, res.stderr)
	}
	// --server "" is local mode, whatever HOOKD_SERVER says.
	env = append(slices.Clone(r.env), "HOOKD_SERVER="+gone)
	if res := runHookd(t, r.dir, env, "stages", "--server", ""); res.code != 0 || res.stdout != "dev\n" {
		t.Errorf("--server '': exit %d, stdout %q, stderr %q", res.code, res.stdout, res.stderr)
	}
}

// A write is done when the server says so: 201 Created. Any other success
// (a proxy's 200, another service at that URL) is not taken for one, and
// a redirect (http:// to https://, say) is reported with where it leads
// rather than followed, which would turn a write into a GET.
func TestRemoteOddAnswers(t *testing.T) {
	r := newRepo(t)
	s := serve(t, r)
	env := append(slices.Clone(r.env), "HOOKD_TOKEN="+adminToken)
	assign := []string{"register", "nn", "-r", remoteName}

	notHookd := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{}`))
	}))
	t.Cleanup(notHookd.Close)
	res := runHookd(t, t.TempDir(), env, append(assign, "--server", notHookd.URL)...)
	want := "❌ the hookd server at " + notHookd.URL + " answered 200 OK to POST /api/v1/repos/acme/models/register, not 201 Created: nothing is known to have been created\n"
	if res.code != 1 || res.stderr != want {
		t.Errorf("a write answered 200: exit %d, stdout %q, stderr %q; want exit 1 and %q", res.code, res.stdout, res.stderr, want)
	}

	moved := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		http.Redirect(w, req, s.url+req.URL.RequestURI(), http.StatusMovedPermanently)
	}))
	t.Cleanup(moved.Close)
	for _, args := range [][]string{assign, {"show", "-r", remoteName}} {
		res := runHookd(t, t.TempDir(), env, append(args, "--server", moved.URL)...)
		if res.code != 1 || !strings.Contains(res.stderr, "redirects to "+s.url+"/api/v1/repos/acme/models/") ||
			!strings.Contains(res.stderr, "use --server "+s.url) {
			t.Errorf("%s through a redirect: exit %d, stdout %q, stderr %q", args[0], res.code, res.stdout, res.stderr)
		}
	}
	if tags := r.tags(); len(tags) != 0 {
		t.Errorf("tags %v", tags)
	}
}

// A write whose answer never arrives may have been carried out: the error
// says so, and how to find out, before anyone runs it again.
func TestRemoteWriteWithoutAnAnswer(t *testing.T) {
	r := newRepo(t)
	hangUp := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		_, _ = io.Copy(io.Discard, req.Body)
		conn, _, err := w.(http.Hijacker).Hijack()
		if err == nil {
			conn.Close()
		}
	}))
	t.Cleanup(hangUp.Close)
	env := append(slices.Clone(r.env), "HOOKD_TOKEN="+adminToken)
	res := runHookd(t, t.TempDir(), env, "assign", "nn", "--version", "v0.0.1", "--stage", "dev", "--server", hangUp.URL, "-r", remoteName)
	if res.code != 1 || !strings.Contains(res.stderr, "cannot reach the hookd server at "+hangUp.URL) ||
		!strings.Contains(res.stderr, "the write may have been carried out: check with hookd history nn") {
		t.Errorf("exit %d, stderr %q", res.code, res.stderr)
	}
	// A read has nothing to check.
	res = runHookd(t, t.TempDir(), env, "show", "--server", hangUp.URL, "-r", remoteName)
	if res.code != 1 || strings.Contains(res.stderr, "carried out") {
		t.Errorf("read: exit %d, stderr %q", res.code, res.stderr)
	}
}

// commitAt commits as commit does, dated date.
func (r *repo) commitAt(msg, date string) {
	r.t.Helper()
	env := r.env
	r.env = append(slices.Clone(env), "GIT_AUTHOR_DATE="+date, "GIT_COMMITTER_DATE="+date)
	defer func() { r.env = env }()
	r.commit(msg)
}
