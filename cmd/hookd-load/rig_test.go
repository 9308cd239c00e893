package main

import (
	"bufio"
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/hookd-dev/hookd/internal/githubtest"
	"github.com/hookd-dev/hookd/internal/gittest"
	"github.com/hookd-dev/hookd/internal/pgtest"
)

// The binaries under test, built once by TestMain, and the package's
// PostgreSQL server (its own, so that stopping it hurts no other package).
var (
	hookdBin, loadBin string
	pg                *pgtest.Server
)

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "hookd-load-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	hookdBin, loadBin = filepath.Join(dir, "hookd"), filepath.Join(dir, "hookd-load")
	for bin, pkg := range map[string]string{hookdBin: "../hookd", loadBin: "."} {
		build := exec.Command("go", "build", "-o", bin, pkg)
		build.Stdout, build.Stderr = os.Stderr, os.Stderr
		if err := build.Run(); err != nil {
			fmt.Fprintln(os.Stderr, "building", pkg, ":", err)
			os.Exit(1)
		}
	}
	code := pgtest.Main(m, &pg)
	os.RemoveAll(dir)
	os.Exit(code)
}

const (
	rigSecret = "load-s3cret"
	rigToken  = "load-t0ken"
	// waitLimit bounds every wait on a replica.
	waitLimit = 60 * time.Second
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
	replicas []*replica
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
func (r *rig) start() *replica {
	r.t.Helper()
	n := len(r.replicas)
	config := filepath.Join(r.dir, fmt.Sprintf("hookd-%d.yaml", n))
	if err := os.WriteFile(config, []byte(strings.ReplaceAll(r.config, "{{replica}}", fmt.Sprint(n))), 0o600); err != nil {
		r.t.Fatal(err)
	}
	p := startReplica(r.t, r.env, config)
	if len(r.replicas) == 0 {
		p.waitLog("tags listed")
		p.waitLog("tags listed")
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
		select {
		case <-p.done:
		default:
			urls = append(urls, p.url())
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

// replica is one `hookd serve` process, logging JSON.
type replica struct {
	t    *testing.T
	cmd  *exec.Cmd
	addr string
	done chan struct{}

	mu   sync.Mutex
	logs []map[string]any
	seen map[int]bool // log entries waitLog returned
	more *sync.Cond
}

func startReplica(t *testing.T, env []string, config string) *replica {
	t.Helper()
	p := &replica{t: t, done: make(chan struct{}), seen: map[int]bool{}}
	p.more = sync.NewCond(&p.mu)
	p.cmd = exec.Command(hookdBin, "serve", "--config", config, "--listen", "127.0.0.1:0", "--log-format", "json")
	p.cmd.Env = env
	stderr, err := p.cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		sc := bufio.NewScanner(stderr)
		sc.Buffer(nil, 1<<20)
		for sc.Scan() {
			entry := map[string]any{}
			if json.Unmarshal(sc.Bytes(), &entry) != nil {
				entry["msg"] = sc.Text()
			}
			p.mu.Lock()
			p.logs = append(p.logs, entry)
			p.more.Broadcast()
			p.mu.Unlock()
		}
		_ = p.cmd.Wait()
		close(p.done)
		p.mu.Lock()
		p.more.Broadcast()
		p.mu.Unlock()
	}()
	t.Cleanup(func() {
		_ = p.cmd.Process.Kill()
		<-p.done
	})
	p.addr = p.waitLog("hookd listening")["address"].(string)
	return p
}

func (p *replica) url() string { return "http://" + p.addr }

// waitLog returns the first entry whose message starts with msg that it
// has not returned before, waiting for it if need be.
func (p *replica) waitLog(msg string) map[string]any {
	p.t.Helper()
	expired := make(chan struct{})
	timer := time.AfterFunc(waitLimit, func() {
		close(expired)
		p.mu.Lock()
		p.more.Broadcast()
		p.mu.Unlock()
	})
	defer timer.Stop()
	p.mu.Lock()
	defer p.mu.Unlock()
	for {
		for i, e := range p.logs {
			if m, _ := e["msg"].(string); !p.seen[i] && strings.HasPrefix(m, msg) {
				p.seen[i] = true
				return e
			}
		}
		select {
		case <-p.done:
			p.t.Fatalf("hookd exited before logging %q:\n%s", msg, p.logTextLocked())
		case <-expired:
			p.t.Fatalf("hookd did not log %q within %s:\n%s", msg, waitLimit, p.logTextLocked())
		default:
		}
		p.more.Wait()
	}
}

// logged counts the entries whose message starts with msg.
func (p *replica) logged(msg string) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	n := 0
	for _, e := range p.logs {
		if m, _ := e["msg"].(string); strings.HasPrefix(m, msg) {
			n++
		}
	}
	return n
}

func (p *replica) logTextLocked() string {
	var b strings.Builder
	for _, e := range p.logs[max(0, len(p.logs)-60):] {
		fmt.Fprintln(&b, e)
	}
	return b.String()
}

// kill ends the replica with SIGKILL: no drain, no goodbye.
func (p *replica) kill() {
	p.t.Helper()
	if err := p.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		p.t.Fatal(err)
	}
	<-p.done
}

// stop ends the replica with SIGTERM and waits for its clean exit.
func (p *replica) stop() {
	p.t.Helper()
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		p.t.Fatal(err)
	}
	select {
	case <-p.done:
	case <-time.After(waitLimit):
		p.t.Fatalf("hookd did not stop after SIGTERM")
	}
}

// get answers the status of GET path on the replica.
func (p *replica) get(path string) int {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, p.url()+path, nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0
	}
	resp.Body.Close()
	return resp.StatusCode
}

// verifyClean runs the load tool's verifier and fails the test unless it
// found nothing lost, doubled, overlapping or left undone.
func (r *rig) verifyClean(o options, acked []*delivery) *report {
	r.t.Helper()
	o.urls = nil
	for _, p := range r.replicas {
		select {
		case <-p.done:
		default:
			o.urls = append(o.urls, p.url())
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
