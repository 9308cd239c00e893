package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hookd-dev/hookd/internal/githubtest"
)

// TestGitHubRepository runs the CLI against a repository on (a stand-in
// for) GitHub: reads print the same JSON as for the local clone, and
// writes create the tag through the API, with nothing to push.
func TestGitHubRepository(t *testing.T) {
	r := referenceRepo(t)
	gh := githubtest.New(t, githubtest.Options{})
	r.git("push", "-q", gh.BareDir(), "main", "refs/tags/*:refs/tags/*")
	env := append(r.env, "GITHUB_API_URL="+gh.APIURL(), "GITHUB_TOKEN="+gh.Token())
	spec := "github:" + gh.FullName()
	elsewhere := t.TempDir()

	want, err := os.ReadFile(filepath.Join(referenceDir(t), "show.json"))
	if err != nil {
		t.Fatal(err)
	}
	res := runHookd(t, elsewhere, env, "show", "--json", "-r", spec)
	if res.code != 0 {
		t.Fatalf("show: exit %d: %s", res.code, res.stderr)
	}
	if d := diffJSON(res.stdout, string(want)); d != "" {
		t.Errorf("show --json on GitHub differs from gto:\n%s", d)
	}

	res = runHookd(t, elsewhere, env, "assign", "nn", "--version", "v0.0.3", "--stage", "staging", "-r", "https://github.com/"+gh.FullName())
	if want := "Created git tag 'nn#staging#5' that assigns stage to version 'v0.0.3'\n"; res.code != 0 || res.stdout != want {
		t.Fatalf("assign: exit %d, stdout %q, stderr %q; want %q", res.code, res.stdout, res.stderr, want)
	}
	cmd := []string{"--git-dir", gh.BareDir(), "for-each-ref", "--format=%(objecttype) %(*objectname) %(contents)", "refs/tags/nn#staging#5"}
	got := r.git(cmd...)
	v3 := r.git("rev-parse", "nn@v0.0.3^{commit}")
	if want := "tag " + v3 + " Assigning stage staging to artifact nn version v0.0.3"; strings.TrimSpace(got) != want {
		t.Errorf("created tag: %q, want %q", got, want)
	}
}
