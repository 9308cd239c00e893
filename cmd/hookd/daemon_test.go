package main

import (
	"context"
	"io"
	"log/slog"
	"path/filepath"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/hookd-dev/hookd/config"
	"github.com/hookd-dev/hookd/internal/githubtest"
	"github.com/hookd-dev/hookd/store"
)

const listRefs = "GET /repos/{owner}/{repo}/git/matching-refs/{ref}"

// A reload keeps the GitHub client of a repository whose settings did not
// change, and with it its ETags: its next listing is a 304, which GitHub
// does not count against the rate limit. A repository whose settings
// changed gets a new client.
func TestReloadKeepsUnchangedGitHubClients(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	defer cancel()
	kept := githubtest.New(t, githubtest.Options{Owner: "acme", Name: "kept"})
	moved := githubtest.New(t, githubtest.Options{Owner: "acme", Name: "moved"})
	r := referenceRepo(t)
	for _, gh := range []*githubtest.Server{kept, moved} {
		r.git("push", "-q", gh.BareDir(), "main", "refs/tags/*:refs/tags/*")
	}
	repos := func(movedURL string) *config.Config {
		cfg := config.Default()
		cfg.Repositories = []config.Repository{
			{GitHub: kept.FullName(), Secret: "s", Token: config.Secret(kept.Token()), APIURL: kept.APIURL()},
			{GitHub: moved.FullName(), Secret: "s", Token: config.Secret(moved.Token()), APIURL: movedURL},
		}
		return cfg
	}
	st, err := store.Open(ctx, filepath.Join(t.TempDir(), "hookd.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	d, err := newDaemon(slog.New(slog.NewTextHandler(io.Discard, nil)), st, repos(moved.APIURL()), prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	list := func(gh *githubtest.Server) (status int) {
		t.Helper()
		src, err := d.source(gh.FullName())
		if err != nil {
			t.Fatal(err)
		}
		if _, err := src.Tags(ctx); err != nil {
			t.Fatal(err)
		}
		reqs := gh.Requests()
		for i := len(reqs) - 1; i >= 0; i-- {
			if reqs[i].Endpoint == listRefs {
				return reqs[i].Status
			}
		}
		t.Fatalf("%s: no listing", gh.FullName())
		return 0
	}
	list(kept)
	list(moved)

	// The same server under its Enterprise-style path: another setting.
	if err := d.apply(repos(moved.APIURL() + "api/v3/")); err != nil {
		t.Fatal(err)
	}
	if got := list(kept); got != 304 {
		t.Errorf("unchanged repository after a reload: listing answered %d, want 304 (its ETag kept)", got)
	}
	if got := list(moved); got != 200 {
		t.Errorf("repository whose api_url changed: listing answered %d, want 200 from a new client", got)
	}
}
