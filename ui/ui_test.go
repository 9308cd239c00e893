package ui_test

import (
	"context"
	"crypto/sha256"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/hookd-dev/hookd/access"
	"github.com/hookd-dev/hookd/change"
	"github.com/hookd-dev/hookd/ingest"
	"github.com/hookd-dev/hookd/internal/gittest"
	"github.com/hookd-dev/hookd/source"
	"github.com/hookd-dev/hookd/source/gitdir"
	"github.com/hookd-dev/hookd/store"
	"github.com/hookd-dev/hookd/ui"
)

// The dashboard over HTTP, without a browser: what it answers and what it
// writes. A real git repository, a real SQLite store, the change service
// and ingest wired as hookd serve wires them.

const repoName = "acme/models"

var quiet = slog.New(slog.DiscardHandler)

type rig struct {
	t     *testing.T
	repo  *gittest.Repo
	store *store.Store
	srv   *httptest.Server
	dash  *ui.Handler
}

var (
	admin = access.Principal{Name: "admin", Scopes: []access.Scope{{Repositories: []string{"*"}, Operations: []string{"*"}, Stages: []string{"*"}}}}
	ci    = access.Principal{Name: "ci", Scopes: []access.Scope{{Repositories: []string{"acme/*"}, Operations: []string{"read", "assign"}, Stages: []string{"dev", "staging"}}}}
)

func newRig(t *testing.T, opts ui.Options) *rig {
	t.Helper()
	ctx := context.Background()
	r := &rig{t: t, repo: gittest.New(t)}
	r.repo.Commit(".gto", "stages: [dev, staging, prod]\n", "2024-01-01T09:00:00+00:00")
	head := r.repo.Commit("artifacts.yaml", "churn:\n  type: model\n  description: Predicts churn\n", "2024-01-01T09:30:00+00:00")
	r.repo.Tag("churn@v1.0.0", head, "2024-01-02T10:00:00+00:00", "first")
	r.repo.Tag("churn#dev#1", head, "2024-01-02T11:00:00+00:00", "to dev")
	src, err := gitdir.Open(ctx, r.repo.Dir)
	if err != nil {
		t.Fatal(err)
	}
	st, err := store.Open(ctx, filepath.Join(t.TempDir(), "hookd.db"), store.WithLogger(quiet))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	r.store = st
	sources := func(string) (source.Source, error) { return src, nil }
	proc := ingest.New(st, sources, ingest.WithLogger(quiet))
	if err := proc.Reconcile(ctx, repoName); err != nil {
		t.Fatal(err)
	}
	opts.Store, opts.Sources, opts.Logger = st, sources, quiet
	opts.Changes = &change.Service{
		Repository: func(name string) (change.Repository, error) {
			if name != repoName {
				return change.Repository{}, change.ErrUnknownRepository
			}
			return change.Repository{Source: src}, nil
		},
		Store: st, Settle: proc.Reconcile, Logger: quiet,
	}
	r.dash = ui.New(opts)
	r.dash.SetTokens(ui.Tokens{sha256.Sum256([]byte("admin-token")): admin, sha256.Sum256([]byte("ci-token")): ci})
	r.dash.SetRepositories([]ui.Repository{{Name: repoName, Identity: repoName}})
	r.srv = httptest.NewServer(r.dash)
	t.Cleanup(r.srv.Close)
	return r
}

// client is a browser's cookie jar, without redirects followed, so that
// the tests see them.
type client struct {
	r  *rig
	hc *http.Client
}

func (r *rig) client() *client {
	jar, _ := cookiejar.New(nil)
	return &client{r: r, hc: &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
}

func (c *client) do(method, path string, form url.Values) (*http.Response, string) {
	c.r.t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, _ := http.NewRequest(method, c.r.srv.URL+path, body)
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		c.r.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

var csrfField = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

// csrf is the CSRF token of the page's forms.
func (c *client) csrf(page string) string {
	c.r.t.Helper()
	m := csrfField.FindStringSubmatch(page)
	if m == nil {
		c.r.t.Fatalf("no CSRF field in:\n%s", page)
	}
	return m[1]
}

func (c *client) signIn(token string) *http.Response {
	c.r.t.Helper()
	_, page := c.do("GET", "/ui/signin", nil)
	resp, _ := c.do("POST", "/ui/signin", url.Values{"csrf": {c.csrf(page)}, "token": {token}, "next": {"/ui/"}})
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/ui/" {
		c.r.t.Fatalf("sign-in with %s: %d to %q", token, resp.StatusCode, resp.Header.Get("Location"))
	}
	return resp
}

func (r *rig) tags(prefix string) []string {
	r.t.Helper()
	out := r.repo.Git("tag", "--list", prefix+"*")
	if out == "" {
		return nil
	}
	return strings.Split(out, "\n")
}

func TestHeadersAndSessionCookie(t *testing.T) {
	for _, secure := range []bool{false, true} {
		t.Run(fmt.Sprintf("secure=%v", secure), func(t *testing.T) {
			r := newRig(t, ui.Options{SecureCookies: secure})
			c := r.client()
			resp, _ := c.do("GET", "/ui/", nil)
			if resp.StatusCode != http.StatusSeeOther || !strings.HasPrefix(resp.Header.Get("Location"), "/ui/signin?next=") {
				t.Fatalf("a page without a session: %d to %q", resp.StatusCode, resp.Header.Get("Location"))
			}
			csp := resp.Header.Get("Content-Security-Policy")
			for _, want := range []string{"script-src 'self'", "style-src 'self'", "frame-ancestors 'none'", "default-src 'none'"} {
				if !strings.Contains(csp, want) {
					t.Errorf("CSP %q lacks %q", csp, want)
				}
			}
			if strings.Contains(csp, "unsafe") || resp.Header.Get("X-Frame-Options") != "DENY" {
				t.Errorf("CSP %q, X-Frame-Options %q", csp, resp.Header.Get("X-Frame-Options"))
			}
			var session *http.Cookie
			for _, ck := range c.signIn("admin-token").Cookies() {
				if ck.Name == "hookd_session" {
					session = ck
				}
			}
			if session == nil || !session.HttpOnly || session.SameSite != http.SameSiteStrictMode || session.Secure != secure ||
				session.Path != "/ui/" || session.MaxAge <= 0 {
				t.Errorf("session cookie %+v, want HttpOnly, SameSite=Strict, Secure=%v, Path=/ui/, an expiry", session, secure)
			}
			if _, page := c.do("GET", "/ui/", nil); !strings.Contains(page, "churn") || !strings.Contains(page, "Predicts churn") {
				t.Errorf("signed in, the models page shows:\n%s", page)
			}
			// Signing out ends the session.
			_, page := c.do("GET", "/ui/", nil)
			if resp, _ := c.do("POST", "/ui/signout", url.Values{"csrf": {c.csrf(page)}}); resp.StatusCode != http.StatusSeeOther {
				t.Errorf("sign out: %d", resp.StatusCode)
			}
			if resp, _ := c.do("GET", "/ui/", nil); resp.StatusCode != http.StatusSeeOther {
				t.Errorf("after signing out, the models page answers %d", resp.StatusCode)
			}
		})
	}
}

// A session ends when its token is removed from the configuration.
func TestSessionEndsWithItsToken(t *testing.T) {
	r := newRig(t, ui.Options{})
	c := r.client()
	c.signIn("ci-token")
	r.dash.SetTokens(ui.Tokens{sha256.Sum256([]byte("admin-token")): admin})
	if resp, _ := c.do("GET", "/ui/", nil); resp.StatusCode != http.StatusSeeOther {
		t.Errorf("the removed token's session still gets %d", resp.StatusCode)
	}
}

// Signing in needs the sign-in page's CSRF token too, so another site
// cannot sign a visitor in with a token of its choosing.
func TestSignInNeedsItsCSRFToken(t *testing.T) {
	r := newRig(t, ui.Options{})
	c := r.client()
	c.do("GET", "/ui/signin", nil)
	resp, _ := c.do("POST", "/ui/signin", url.Values{"token": {"admin-token"}})
	if resp.StatusCode != http.StatusForbidden {
		t.Errorf("sign-in without CSRF token: %d", resp.StatusCode)
	}
	for _, next := range []string{"//evil.example/", "https://evil.example/", "/ui/\\evil"} {
		c := r.client()
		_, page := c.do("GET", "/ui/signin", nil)
		resp, _ := c.do("POST", "/ui/signin", url.Values{"csrf": {c.csrf(page)}, "token": {"admin-token"}, "next": {next}})
		if loc := resp.Header.Get("Location"); loc != "/ui/" {
			t.Errorf("next=%q sent the browser to %q", next, loc)
		}
	}
}

func TestUnknownRecordsAreNotFoundPages(t *testing.T) {
	r := newRig(t, ui.Options{})
	c := r.client()
	c.signIn("admin-token")
	for _, path := range []string{"/ui/repos/acme/models/artifacts/nope", "/ui/repos/acme/other/artifacts/churn", "/ui/runs/42",
		"/ui/runs/abc", "/ui/repos/acme/models/frobnicate", "/ui/nowhere"} {
		resp, page := c.do("GET", path, nil)
		if resp.StatusCode != http.StatusNotFound || !strings.Contains(page, "<h2>Not Found</h2>") || !strings.Contains(resp.Header.Get("Content-Type"), "text/html") {
			t.Errorf("GET %s: %d\n%s", path, resp.StatusCode, page)
		}
	}
	if resp, _ := c.do("POST", "/ui/deliveries/nope/replay", url.Values{"csrf": {c.csrf(mustGet(c, "/ui/deliveries"))}}); resp.StatusCode != http.StatusNotFound {
		t.Errorf("replay of an unknown delivery: %d", resp.StatusCode)
	}
}

func mustGet(c *client, path string) string {
	c.r.t.Helper()
	resp, page := c.do("GET", path, nil)
	if resp.StatusCode != http.StatusOK {
		c.r.t.Fatalf("GET %s: %d\n%s", path, resp.StatusCode, page)
	}
	return page
}

// A write through the dialog is the API's: the tag is created with the
// dashboard named in its message, the audit log has it, and a form sent
// again after the stage changed gets GTO's refusal and writes nothing.
func TestWriteThroughTheDialog(t *testing.T) {
	r := newRig(t, ui.Options{})
	c := r.client()
	c.signIn("admin-token")
	page := mustGet(c, "/ui/repos/acme/models/assign?artifact=churn&stage=staging")
	form := url.Values{"csrf": {c.csrf(page)}, "artifact": {"churn"}, "version": {"v1.0.0"}, "stage": {"staging"}, "message": {"after review"}}

	resp, preview := c.do("POST", "/ui/repos/acme/models/assign/preview", form)
	if resp.StatusCode != http.StatusOK || !strings.Contains(preview, "churn#staging#2") || !strings.Contains(preview, "promotion") {
		t.Errorf("preview: %d\n%s", resp.StatusCode, preview)
	}
	if got := r.tags("churn#staging"); got != nil {
		t.Fatalf("the preview created %q", got)
	}
	resp, result := c.do("POST", "/ui/repos/acme/models/assign", form)
	if resp.StatusCode != http.StatusCreated || !strings.Contains(result, "churn#staging#2") {
		t.Fatalf("assign: %d\n%s", resp.StatusCode, result)
	}
	if msg := r.repo.Git("for-each-ref", "--format=%(contents)", "refs/tags/churn#staging#2"); !strings.Contains(msg, "after review") ||
		!strings.Contains(msg, "Requested-by: admin via dashboard") {
		t.Errorf("the tag's message is %q", msg)
	}
	entries, err := r.store.Audit(context.Background(), store.AuditFilter{Principal: "admin"})
	if err != nil || len(entries) != 1 || entries[0].Via != "dashboard" || entries[0].Status != 201 || entries[0].Stage != "staging" {
		t.Errorf("audit: %+v %v", entries, err)
	}
	// The same form again: GTO's words, in place, and no tag.
	resp, result = c.do("POST", "/ui/repos/acme/models/assign", form)
	if resp.StatusCode != http.StatusConflict || !strings.Contains(result, "Refused (409)") || !strings.Contains(result, "already") {
		t.Errorf("the stale form: %d\n%s", resp.StatusCode, result)
	}
	if got := r.tags("churn#staging"); len(got) != 1 {
		t.Errorf("staging tags after the stale form: %q", got)
	}
	// The models page shows the new assignment once the registry is
	// rebuilt from the stored tags, in the background.
	staging := regexp.MustCompile(`(?s)<td data-label="staging" class="stage">\s*<span class="version">v1\.0\.0</span>`)
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		models := mustGet(c, "/ui/")
		if staging.MatchString(models) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the models page does not show v1.0.0 in staging:\n%s", models)
		}
	}
}

// What a principal may not do is not offered, and refused with 403 and
// nothing written when it is posted anyway, or posted without the form's
// CSRF token.
func TestRefusedWrites(t *testing.T) {
	r := newRig(t, ui.Options{})
	c := r.client()
	c.signIn("ci-token")
	page := mustGet(c, "/ui/repos/acme/models/assign?artifact=churn")
	if strings.Contains(page, `value="prod"`) || !strings.Contains(page, `value="staging"`) {
		t.Errorf("the CI token's dialog offers:\n%s", page)
	}
	if models := mustGet(c, "/ui/"); strings.Contains(models, "stage=prod") || strings.Contains(models, "/deprecate") {
		t.Errorf("the CI token's models page offers prod or deprecation:\n%s", models)
	}
	if resp, _ := c.do("GET", "/ui/repos/acme/models/deprecate?artifact=churn", nil); resp.StatusCode != http.StatusForbidden {
		t.Errorf("the deprecate dialog for the CI token: %d", resp.StatusCode)
	}
	form := url.Values{"csrf": {c.csrf(page)}, "artifact": {"churn"}, "version": {"v1.0.0"}, "stage": {"prod"}}
	resp, result := c.do("POST", "/ui/repos/acme/models/assign", form)
	if resp.StatusCode != http.StatusForbidden || !strings.Contains(result, `ci may not assign stage &#34;prod&#34;`) {
		t.Errorf("assign prod as CI: %d\n%s", resp.StatusCode, result)
	}
	form.Set("stage", "staging")
	form.Del("csrf")
	if resp, _ := c.do("POST", "/ui/repos/acme/models/assign", form); resp.StatusCode != http.StatusForbidden {
		t.Errorf("assign without CSRF token: %d", resp.StatusCode)
	}
	form.Set("csrf", "forged")
	if resp, _ := c.do("POST", "/ui/repos/acme/models/assign", form); resp.StatusCode != http.StatusForbidden {
		t.Errorf("assign with a forged CSRF token: %d", resp.StatusCode)
	}
	if got := append(r.tags("churn#prod"), r.tags("churn#staging")...); len(got) != 0 {
		t.Errorf("refused writes created %q", got)
	}
	entries, err := r.store.Audit(context.Background(), store.AuditFilter{Principal: "ci"})
	if err != nil || len(entries) != 1 || entries[0].Status != 403 || entries[0].Via != "dashboard" {
		t.Errorf("audit of the refusals: %+v %v (the CSRF refusals never reach the change service)", entries, err)
	}
}

// Register, unassign, deregister and deprecate have their dialogs too,
// each writing what the gto command of its name would.
func TestOtherWrites(t *testing.T) {
	r := newRig(t, ui.Options{})
	c := r.client()
	c.signIn("admin-token")
	r.repo.Commit("model.txt", "v2\n", "2024-01-03T09:00:00+00:00") // a commit with no version yet
	for _, w := range []struct {
		op   string
		form url.Values
		tag  string
	}{
		{"register", url.Values{"artifact": {"churn"}, "version": {"v1.1.0"}}, "churn@v1.1.0"},
		{"unassign", url.Values{"artifact": {"churn"}, "version": {"v1.0.0"}, "stage": {"dev"}}, "churn#dev!#2"},
		{"deregister", url.Values{"artifact": {"churn"}, "version": {"v1.0.0"}}, "churn@v1.0.0!"},
		{"deprecate", url.Values{"artifact": {"churn"}}, "churn@deprecated"},
	} {
		page := mustGet(c, "/ui/repos/acme/models/"+w.op+"?"+w.form.Encode())
		w.form.Set("csrf", c.csrf(page))
		resp, result := c.do("POST", "/ui/repos/acme/models/"+w.op, w.form)
		if resp.StatusCode != http.StatusCreated || !strings.Contains(result, w.tag) {
			t.Errorf("%s: %d, want the tag %s:\n%s", w.op, resp.StatusCode, w.tag, result)
		}
		if got := r.tags(w.tag); len(got) != 1 {
			t.Errorf("%s: the repository has %q", w.op, got)
		}
	}
}
