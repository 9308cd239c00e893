package main

import (
	"cmp"
	"context"
	"crypto/sha256"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hookd-dev/hookd/internal/githubtest"
	"github.com/hookd-dev/hookd/internal/gittest"
	"github.com/hookd-dev/hookd/internal/hookdtest"
	"github.com/hookd-dev/hookd/internal/pgtest"
)

// The binaries under test, built once by TestMain, and the package's
// PostgreSQL server (its own, so that stopping it hurts no other package).
var (
	hookdBin, loadBin string
	pg                *pgtest.Server
)

func TestMain(m *testing.M) {
	os.Exit(hookdtest.Main(m, &pg, map[string]*string{"cmd/hookd": &hookdBin, "cmd/hookd-load": &loadBin}))
}

const (
	rigSecret = "load-s3cret"
	rigToken  = "load-t0ken"
	// waitLimit bounds every wait on a replica.
	waitLimit = hookdtest.WaitLimit
)

// rig is hookd as the load tool meets it: replicas of `hookd serve` on one
// database, a GitHub repository played by the stand-in, a path: repository
// on disk, and a deploy action on every assignment that appends its
// idempotency key to a ledger when it starts.
type rig struct {
	t        *testing.T
	gh       *githubtest.Server
	gitDir   string // the path: repository
	config   string // the configuration; {{replica}} is the replica's number
	dir      string
	recorder *recorder // between hookd and the stand-in, if asked for
	env      []string
	ledger   string
	replicas []*hookdtest.Process
}

type rigOptions struct {
	replicas int
	// actions are extra entries of actions:, in YAML.
	actions string
	// reconcile is both repositories' reconcile_interval (default 1h).
	reconcile string
	// recorder puts a recorder between hookd and the GitHub stand-in.
	recorder bool
}

func newRig(t *testing.T, databaseURL string, o rigOptions) *rig {
	t.Helper()
	r := &rig{t: t, env: append(gittest.Env(t), "LC_ALL=C", "TZ=UTC")}
	dir := t.TempDir()
	r.gh = githubtest.New(t, githubtest.Options{Owner: "acme", Name: "models"})
	clone := filepath.Join(dir, "clone")
	r.git(dir, "clone", "-q", r.gh.AuthGitURL(), clone)
	r.commitIn(clone)
	r.git(clone, "push", "-q", "origin", "HEAD:main")
	r.gitDir = filepath.Join(dir, "models")
	r.git(dir, "init", "-q", "-b", "main", r.gitDir)
	r.commitIn(r.gitDir)

	r.ledger = filepath.Join(dir, "ledger")
	r.dir = dir
	apiURL := r.gh.APIURL()
	if o.recorder {
		r.recorder = newRecorder(t, r.gh)
		apiURL = r.recorder.srv.URL + "/r{{replica}}/"
	}
	r.config = fmt.Sprintf(`database_url: %s
repositories:
  - github: acme/models
    secret: %s
    token: %s
    api_url: %s
    reconcile_interval: %[7]s
  - path: %[5]s
    secret: %[2]s
    reconcile_interval: %[7]s
tokens:
  - name: load
    sha256: %[6]x
    scopes:
      - {repositories: "*", operations: "*", stages: "*"}
actions:
  - name: deploy
    on: {event: [assignment]}
    exec: {command: [sh, -c, 'echo "$HOOKD_IDEMPOTENCY_KEY" >> "$1"', deploy, %[8]s], timeout: 30s}
%[9]s`, databaseURL, rigSecret, r.gh.Token(), apiURL, r.gitDir,
		sha256.Sum256([]byte(rigToken)), cmp.Or(o.reconcile, "1h"), r.ledger, o.actions)
	for range max(o.replicas, 1) {
		r.start()
	}
	return r
}

func (r *rig) git(dir string, args ...string) {
	r.t.Helper()
	cmd := exec.Command("git", args...)
	cmd.Dir, cmd.Env = dir, r.env
	if out, err := cmd.CombinedOutput(); err != nil {
		r.t.Fatalf("git %s: %v\n%s", strings.Join(args, " "), err, out)
	}
}

func (r *rig) commitIn(dir string) {
	r.t.Helper()
	if err := os.WriteFile(filepath.Join(dir, "model.txt"), []byte("v1\n"), 0o644); err != nil {
		r.t.Fatal(err)
	}
	r.git(dir, "add", "model.txt")
	r.git(dir, "commit", "-q", "-m", "first model")
}

// start adds a replica. The first one is waited for until it has listed
// both repositories: those listings are the baseline, and what the load
// creates afterwards is news. (A later replica's own listings may be
// answered by another's.)
func (r *rig) start() *hookdtest.Process {
	r.t.Helper()
	n := len(r.replicas)
	config := filepath.Join(r.dir, fmt.Sprintf("hookd-%d.yaml", n))
	if err := os.WriteFile(config, []byte(strings.ReplaceAll(r.config, "{{replica}}", fmt.Sprint(n))), 0o600); err != nil {
		r.t.Fatal(err)
	}
	p := hookdtest.Serve(r.t, hookdBin, "", r.env, "--config", config)
	if len(r.replicas) == 0 {
		p.WaitLog("tags listed")
		p.WaitLog("tags listed")
	}
	r.replicas = append(r.replicas, p)
	return p
}

// options are the load tool's options for this rig: every kind of
// delivery, spread over the live replicas, verified with the deploy
// action and its ledger.
func (r *rig) options(count int) options {
	var urls []string
	for _, p := range r.replicas {
		if p.Alive() {
			urls = append(urls, p.URL())
		}
	}
	m, err := parseMix("branch=50,gto=20,other=5,hook=15,redeliver=10")
	if err != nil {
		r.t.Fatal(err)
	}
	return options{
		urls: urls, secret: rigSecret, repo: "acme/models", githubDir: r.gh.BareDir(),
		gitDir: r.gitDir, gitRepo: r.gitDir, gitSecret: rigSecret, mix: m, seed: 1,
		count: count, duration: time.Minute, concurrency: 16, size: 8 << 10,
		token: rigToken, action: "deploy", ledger: r.ledger, settle: 90 * time.Second,
	}
}

// verifyClean runs the load tool's verifier and fails the test unless it
// found nothing lost, doubled, overlapping or left undone.
func (r *rig) verifyClean(o options, acked []*delivery) *report {
	r.t.Helper()
	o.urls = nil
	for _, p := range r.replicas {
		if p.Alive() {
			o.urls = append(o.urls, p.URL())
		}
	}
	rep, err := verify(context.Background(), o, acked)
	if err != nil {
		r.t.Fatal(err)
	}
	if !rep.clean() {
		var b strings.Builder
		rep.print(&b)
		r.t.Errorf("verification:\n%s", b.String())
	}
	return rep
}
