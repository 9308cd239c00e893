package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hookd-dev/hookd/handlers"
	"github.com/hookd-dev/hookd/ingest"
	"github.com/hookd-dev/hookd/store"
)

// gitServer is a bare repository with `hookd hook post-receive` installed,
// and a working clone that pushes to it.
type gitServer struct {
	bare string // as git reports it: the path the hook sends
	work *repo
}

func newGitServer(t *testing.T, hookdURL, secret string) *gitServer {
	t.Helper()
	work := newRepo(t)
	bare := filepath.Join(t.TempDir(), "models.git")
	work.git("init", "-q", "--bare", bare)
	script := "#!/bin/sh\nexec '" + hookdBin + "' hook post-receive --timeout 10s\n"
	if err := os.WriteFile(filepath.Join(bare, "hooks", "post-receive"), []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	work.git("-C", bare, "config", "hookd.url", hookdURL)
	work.git("-C", bare, "config", "hookd.secret", secret)
	work.git("remote", "add", "origin", bare)
	real, err := filepath.EvalSymlinks(bare)
	if err != nil {
		t.Fatal(err)
	}
	return &gitServer{bare: real, work: work}
}

// push runs git push and returns what the pusher sees on stderr; the push
// must succeed whatever hookd did.
func (g *gitServer) push(t *testing.T, args ...string) string {
	t.Helper()
	cmd := exec.Command("git", append([]string{"push", "origin"}, args...)...)
	cmd.Dir = g.work.dir
	cmd.Env = g.work.env
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("git push %s failed: %v\n%s", strings.Join(args, " "), err, stderr.String())
	}
	return stderr.String()
}

// ingress is hookd's HTTP handler on 127.0.0.1 over a SQLite store.
func ingress(t *testing.T) (*store.Store, *handlers.Handler, string) {
	t.Helper()
	st, err := store.Open(context.Background(), filepath.Join(t.TempDir(), "hookd.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	h := handlers.New(handlers.Options{Store: st})
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return st, h, srv.URL
}

func TestPostReceiveHookReportsPushedTags(t *testing.T) {
	const secret = "hook-secret"
	st, h, url := ingress(t)
	g := newGitServer(t, url, secret)
	// The repository is configured by its name; the hook reports its path.
	h.SetSecrets(handlers.Secrets{"research/models": secret})
	h.SetRepositoryPaths(map[string]string{g.bare: "research/models"})

	commit := g.work.git("rev-parse", "HEAD")
	g.work.git("tag", "-a", "-m", "Registering artifact churn version v1.0.0", "churn@v1.0.0")
	g.work.git("tag", "-a", "-m", "Assigning stage prod to artifact churn version v1.0.0", "churn#prod#1")
	g.work.git("tag", "lightweight")
	out := g.push(t, "main", "--tags")
	if !strings.Contains(out, "remote: hookd: reported 3 tag update(s)") {
		t.Errorf("pusher's terminal:\n%s", out)
	}
	out = g.push(t, ":refs/tags/churn#prod#1")
	if !strings.Contains(out, "remote: hookd: reported 1 tag update(s)") {
		t.Errorf("pusher's terminal after a deletion:\n%s", out)
	}

	ctx := context.Background()
	ds, err := st.Deliveries(ctx, store.DeliveryFilter{})
	if err != nil {
		t.Fatal(err)
	}
	if len(ds) != 2 {
		t.Fatalf("stored %d deliveries, want 2 (one per push)", len(ds))
	}
	pushes := map[string]ingest.RefUpdate{}
	for _, d := range ds {
		if d.Source != store.SourceGit || d.Repository != "research/models" || d.Event != "push" {
			t.Errorf("delivery %+v", d)
		}
		full, err := st.Delivery(ctx, d.ID)
		if err != nil {
			t.Fatal(err)
		}
		var p ingest.GitPush
		if err := json.Unmarshal(full.Body, &p); err != nil {
			t.Fatal(err)
		}
		for _, u := range p.Updates {
			key := u.Ref
			if strings.Trim(u.New, "0") == "" {
				key = "deleted " + u.Ref
			}
			pushes[key] = u
		}
	}
	if len(pushes) != 4 {
		t.Fatalf("updates %+v, want 3 created tags and 1 deletion", pushes)
	}
	reg := pushes["refs/tags/churn@v1.0.0"]
	tag := reg.Tag
	if tag == nil || tag.Name != "churn@v1.0.0" || tag.Target != commit || tag.TargetType != "commit" ||
		tag.TaggerName != "Test Tagger" || tag.TaggerEmail != "tagger@example.com" || tag.TaggerDate == "" ||
		tag.Message != "Registering artifact churn version v1.0.0\n" || strings.Trim(reg.Old, "0") != "" {
		t.Errorf("annotated tag update %+v, tag %+v", reg, tag)
	}
	if lw := pushes["refs/tags/lightweight"]; lw.Tag != nil || lw.New != commit {
		t.Errorf("lightweight tag update %+v", lw)
	}
	if del, ok := pushes["deleted refs/tags/churn#prod#1"]; !ok || del.Tag != nil || del.Old == "" {
		t.Errorf("deletion %+v", del)
	}
}

func TestPostReceiveHookWhenHookdIsDownOrRefuses(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	down := "http://" + ln.Addr().String()
	ln.Close()

	g := newGitServer(t, down, "hook-secret")
	g.work.git("tag", "-a", "-m", "v1", "churn@v1.0.0")
	out := g.push(t, "main", "--tags")
	for _, want := range []string{"remote: hookd: could not report the pushed tags: hookd at " + down + " is unreachable",
		"remote: hookd: the push itself succeeded; hookd will find the tags at its next reconciliation"} {
		if !strings.Contains(out, want) {
			t.Errorf("pusher's terminal lacks %q:\n%s", want, out)
		}
	}
	if tags := g.work.git("-C", g.bare, "tag", "--list"); tags != "churn@v1.0.0" {
		t.Errorf("tags on the server: %q", tags)
	}
	// The hook itself exits 0: a failing post-receive would only alarm the
	// pusher about a push that did happen.
	sha := g.work.git("rev-parse", "churn@v1.0.0")
	hook := exec.Command(hookdBin, "hook", "post-receive")
	hook.Dir, hook.Env = g.bare, g.work.env
	hook.Stdin = strings.NewReader(strings.Repeat("0", 40) + " " + sha + " refs/tags/churn@v1.0.0\n")
	if out, err := hook.CombinedOutput(); err != nil || !strings.Contains(string(out), "is unreachable") {
		t.Errorf("hook with hookd down: %v\n%s", err, out)
	}

	// Up, but the secret is wrong: the pusher sees hookd's reason.
	st, h, url := ingress(t)
	h.SetSecrets(handlers.Secrets{g.bare: "the-real-secret"})
	g.work.git("-C", g.bare, "config", "hookd.url", url)
	g.work.git("tag", "-a", "-m", "v2", "churn@v2.0.0")
	out = g.push(t, "--tags")
	if !strings.Contains(out, "remote: hookd: could not report the pushed tags: hookd at "+url+" answered 401 Unauthorized") ||
		strings.Contains(out, "hook-secret") {
		t.Errorf("pusher's terminal:\n%s", out)
	}
	if ds, _ := st.Deliveries(context.Background(), store.DeliveryFilter{}); len(ds) != 0 {
		t.Errorf("stored %+v from a badly signed hook", ds)
	}
}
