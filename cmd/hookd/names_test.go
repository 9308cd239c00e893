package main

import (
	"crypto/sha256"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/hookd-dev/hookd/ingest"
	"github.com/hookd-dev/hookd/source"
	"github.com/hookd-dev/hookd/source/gitdir"
	"github.com/hookd-dev/hookd/store"
)

// A path repository is known by its as: name everywhere: an action's
// on.repo matches it, the hook's deliveries, the events, the runs and
// their HOOKD_REPOSITORY carry it, and the records an older hookd stored
// under the path are renamed at start, so its history and baseline carry
// on under the name.
func TestPathRepositoryIsKnownByItsName(t *testing.T) {
	const (
		secret = "hook-s3cret"
		name   = "research/models"
	)
	dir := t.TempDir()
	g := newGitServer(t, "http://127.0.0.1:1", secret) // hookd's address is set once it runs
	g.work.git("tag", "-a", "-m", "register", "churn@v1.0.0")
	g.push(t, "main", "--tags")

	// What an older hookd left in the database: a baseline, an event and
	// a delivery, all under the repository's path.
	dbPath := filepath.Join(dir, "hookd.db")
	ctx, st := openDatabase(t, dbPath)
	old := ingest.New(st, func(string) (source.Source, error) { return gitdir.Open(ctx, g.bare) })
	if err := old.Reconcile(ctx, g.bare); err != nil {
		t.Fatal(err)
	}
	g.work.git("tag", "-a", "-m", "to dev", "churn#dev#1")
	g.push(t, "--tags")
	if err := old.Reconcile(ctx, g.bare); err != nil {
		t.Fatal(err)
	}
	if _, err := st.Accept(ctx, store.Delivery{ID: "from-before", Source: store.SourceGit, Event: "push", Repository: g.bare,
		Body: []byte(`{}`), Status: store.DeliveryIgnored, Reason: "stored by an older hookd"}); err != nil {
		t.Fatal(err)
	}
	st.Close()

	ledger := filepath.Join(dir, "ledger")
	cfg := filepath.Join(dir, "hookd.yaml")
	writeFile(t, cfg, fmt.Sprintf(`database_url: %s
repositories:
  - path: %s
    as: %s
    secret: %s
    reconcile_interval: 1h
tokens:
  - name: tests
    sha256: %x
    scopes: [{repositories: "*", operations: [read]}]
actions:
  - name: deploy-models
    on: {repo: %s, event: [assignment], stage: prod}
    exec: {command: [sh, -c, 'echo "$HOOKD_REPOSITORY" >> "$1"', record, %s]}
`, dbPath, g.bare, name, secret, sha256.Sum256([]byte(pipelineToken)), name, ledger))
	if res := runHookd(t, dir, gitEnv(t), "config", "validate", cfg); res.code != 0 || res.stdout != cfg+": OK\n" {
		t.Errorf("config validate: exit %d, stdout %q, stderr %q", res.code, res.stdout, res.stderr)
	}

	d := startDaemon(t, dir, gitEnv(t), "--config", cfg)
	if renamed := d.WaitLog("records stored under a repository's path now carry its name"); renamed["repository"] != name {
		t.Errorf("rename logged %v", renamed)
	}
	if listed := d.WaitLog("tags listed"); listed["baseline"] != false || listed["repository"] != name {
		t.Errorf("the first listing after the rename: %v; want no new baseline", listed)
	}
	g.work.git("-C", g.bare, "config", "hookd.url", "http://"+d.Addr)
	g.work.git("tag", "-a", "-m", "to prod", "churn#prod#2")
	if out := g.push(t, "--tags"); !strings.Contains(out, "reported 1 tag update(s)") {
		t.Fatalf("pusher's terminal:\n%s", out)
	}

	p := &pipeline{t: t, hookd: d}
	runs := p.waitRunsFinished(1)
	evs := p.apiList("/api/v1/events?repository="+name, "events")
	ds := p.apiList("/api/v1/deliveries?repository="+name, "deliveries")
	var got []string
	for _, e := range evs {
		got = append(got, fmt.Sprintf("%v %v %v", e["repository"], e["type"], e["tag"]))
	}
	if want := []string{name + " assignment churn#prod#2", name + " assignment churn#dev#1"}; !slices.Equal(got, want) {
		t.Errorf("events %q, want %q", got, want)
	}
	if len(ds) != 2 || ds[0]["repository"] != name || ds[1]["id"] != "from-before" || ds[1]["repository"] != name {
		t.Errorf("deliveries %v, want the hook's and the older one, both under %s", ds, name)
	}
	if len(runs) != 1 || runs[0]["repository"] != name || runs[0]["status"] != "succeeded" {
		t.Errorf("runs %v", runs)
	}
	if data, err := os.ReadFile(ledger); err != nil || string(data) != name+"\n" {
		t.Errorf("the action saw HOOKD_REPOSITORY %q (%v), want %s", data, err, name)
	}
	d.Stop()
}

// config validate warns, with its line, about an on.repo that matches no
// configured repository; the file is still valid.
func TestConfigValidateWarnsAboutOnRepoMatchingNothing(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "hookd.yaml")
	writeFile(t, cfg, `repositories:
  - path: /srv/git/models.git
    as: research/models
    secret: s3cret
actions:
  - name: deploy
    on: {repo: /srv/git/models.git}
    exec: {command: [./deploy.sh]}
`)
	res := runHookd(t, dir, gitEnv(t), "config", "validate", cfg)
	want := cfg + `:7: warning: action deploy: on.repo "/srv/git/models.git" matches no configured repository ` +
		"(it matches the path of research/models, but on.repo matches a repository's name: write research/models)\n" + cfg + ": OK\n"
	if res.code != 0 || res.stdout != want {
		t.Errorf("exit %d, stdout\n%s\nwant\n%s", res.code, res.stdout, want)
	}
}
