package githubtest_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-github/v60/github"

	"github.com/hookd-dev/hookd/internal/githubtest"
)

const hookSecret = "It's a Secret to Everybody"

// newClient is a go-github client for the stand-in, as hookd configures one.
func newClient(t *testing.T, gh *githubtest.Server) *github.Client {
	t.Helper()
	c := github.NewClient(nil).WithAuthToken(gh.Token())
	u, err := url.Parse(gh.APIURL())
	if err != nil {
		t.Fatal(err)
	}
	c.BaseURL = u
	return c
}

// ctx is a context bounded well below the test timeout.
func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	return c
}

// received is one webhook request as a receiver saw it.
type received struct {
	header http.Header
	body   []byte
}

func (r received) event() string { return r.header.Get("X-GitHub-Event") }

func (r received) decode(t *testing.T) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(r.body, &m); err != nil {
		t.Fatalf("payload is not JSON: %v", err)
	}
	return m
}

// receiver is a webhook endpoint that records what arrives.
type receiver struct {
	srv    *httptest.Server
	mu     sync.Mutex
	got    []received
	status int
}

func newReceiver(t *testing.T) *receiver {
	rc := &receiver{status: http.StatusAccepted}
	rc.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		rc.mu.Lock()
		rc.got = append(rc.got, received{header: r.Header.Clone(), body: body})
		status := rc.status
		rc.mu.Unlock()
		w.WriteHeader(status)
	}))
	t.Cleanup(rc.srv.Close)
	return rc
}

// since returns what arrived after the first n requests.
func (rc *receiver) since(n int) []received {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return append([]received(nil), rc.got[n:]...)
}

func (rc *receiver) count() int {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return len(rc.got)
}

// fixture is a stand-in with a hook receiver and a clone that has pushed one
// commit to main.
type fixture struct {
	gh   *githubtest.Server
	rc   *receiver
	hook int64
	work *workdir
}

func newFixture(t *testing.T, opts githubtest.Options) *fixture {
	t.Helper()
	gh := githubtest.New(t, opts)
	f := &fixture{gh: gh, rc: newReceiver(t)}
	f.hook = gh.AddHook(f.rc.srv.URL, hookSecret)
	f.work = cloneRepo(t, gh)
	f.work.commit("model.yaml", "name: churn\n", "Add churn model")
	f.work.git("push", "origin", "main")
	f.settle(t)
	return f
}

// settle waits for every delivery the server owes.
func (f *fixture) settle(t *testing.T) {
	t.Helper()
	if err := f.gh.WaitIdle(ctx(t)); err != nil {
		t.Fatal(err)
	}
}

// pushAndCollect runs git push with args and returns the webhooks it caused.
func (f *fixture) pushAndCollect(t *testing.T, args ...string) []received {
	t.Helper()
	n := f.rc.count()
	f.work.git(append([]string{"push", "origin"}, args...)...)
	f.settle(t)
	return f.rc.since(n)
}

// workdir is a clone driven by the real git CLI, isolated from the
// machine's git configuration.
type workdir struct {
	t   *testing.T
	dir string
	env []string
}

// cloneEnv is a git environment cut off from the machine's configuration,
// with a fixed author and date.
func cloneEnv(t *testing.T) []string {
	return append(os.Environ(),
		"HOME="+t.TempDir(), "GIT_CONFIG_NOSYSTEM=1", "GIT_TERMINAL_PROMPT=0",
		"GIT_AUTHOR_NAME=Ada Lovelace", "GIT_AUTHOR_EMAIL=ada@example.com",
		"GIT_COMMITTER_NAME=Ada Lovelace", "GIT_COMMITTER_EMAIL=ada@example.com",
		"GIT_AUTHOR_DATE=2024-03-01T10:00:00+01:00", "GIT_COMMITTER_DATE=2024-03-01T10:00:00+01:00",
	)
}

func cloneRepo(t *testing.T, gh *githubtest.Server) *workdir {
	t.Helper()
	w := &workdir{t: t, dir: t.TempDir(), env: cloneEnv(t)}
	w.git("clone", "--quiet", gh.AuthGitURL(), ".")
	w.git("checkout", "--quiet", "-B", "main")
	return w
}

// runErr runs git in the work dir and returns its combined output.
func (w *workdir) runErr(args ...string) (string, error) {
	cmd := exec.Command("git", append([]string{"-c", "init.defaultBranch=main", "-c", "tag.gpgSign=false", "-c", "commit.gpgSign=false"}, args...)...)
	cmd.Dir, cmd.Env = w.dir, w.env
	out, err := cmd.CombinedOutput()
	return strings.TrimSpace(string(out)), err
}

func (w *workdir) git(args ...string) string {
	w.t.Helper()
	out, err := w.runErr(args...)
	if err != nil {
		w.t.Fatalf("git %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return out
}

func (w *workdir) commit(file, content, msg string) string {
	w.t.Helper()
	if err := os.MkdirAll(filepath.Dir(filepath.Join(w.dir, file)), 0o755); err != nil {
		w.t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(w.dir, file), []byte(content), 0o644); err != nil {
		w.t.Fatal(err)
	}
	w.git("add", file)
	w.git("commit", "--quiet", "-m", msg)
	return w.git("rev-parse", "HEAD")
}

// annotate creates an annotated tag at HEAD and returns the tag object sha.
func (w *workdir) annotate(name, msg string) string {
	w.t.Helper()
	w.git("tag", "-a", name, "-m", msg)
	return w.git("rev-parse", "refs/tags/"+name)
}

// eventsOf returns the deliveries of one event type.
func eventsOf(rs []received, event string) []received {
	var out []received
	for _, r := range rs {
		if r.event() == event {
			out = append(out, r)
		}
	}
	return out
}

// str reads a string field out of a decoded payload path like "head_commit.id".
func str(m map[string]any, path string) string {
	var v any = m
	for _, k := range strings.Split(path, ".") {
		mm, ok := v.(map[string]any)
		if !ok {
			return ""
		}
		v = mm[k]
	}
	s, _ := v.(string)
	return s
}
