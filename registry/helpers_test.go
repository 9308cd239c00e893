package registry_test

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/hookd-dev/hookd/registry"
)

// Three commits, made long before any tag so that their enrichments never
// outrank a tag.
var (
	c1 = strings.Repeat("1", 40)
	c2 = strings.Repeat("2", 40)
	c3 = strings.Repeat("3", 40)
)

var t0 = time.Date(2023, 2, 1, 10, 0, 0, 0, time.UTC)

// repo is an in-memory set of tags; each tag added is one hour after the
// previous one unless placed explicitly.
type repo struct {
	tags []registry.Tag
	next time.Time
}

func newRepo() *repo { return &repo{next: t0} }

// tag adds an annotated tag on commit, one hour after the previous tag.
func (r *repo) tag(name, commit string) *repo {
	r.next = r.next.Add(time.Hour)
	return r.tagAt(name, commit, r.next)
}

func (r *repo) tagAt(name, commit string, at time.Time) *repo {
	r.tags = append(r.tags, registry.Tag{
		Name: name, Annotated: true, Object: strings.Repeat("f", 40), Commit: commit,
		Tagger: registry.Person{Name: "Tester", Email: "t@example.com"}, Date: at,
		Message: "tag " + name + "\n",
	})
	return r
}

// lightweight adds a lightweight tag.
func (r *repo) lightweight(name, commit string) *repo {
	r.tags = append(r.tags, registry.Tag{Name: name, Commit: commit})
	return r
}

func commitsFor(shas ...string) registry.CommitMap {
	m := registry.CommitMap{}
	for i, sha := range shas {
		at := time.Date(2022, 1, 1+i, 0, 0, 0, 0, time.UTC)
		p := registry.Person{Name: "Author", Email: "a@example.com"}
		m[sha] = registry.Commit{Hash: sha, Author: p, AuthorDate: at, Committer: p, CommitDate: at, Message: "commit\n"}
	}
	return m
}

func (r *repo) build(opts registry.Options) *registry.Registry {
	if opts.Commits == nil {
		opts.Commits = commitsFor(c1, c2, c3).Get
	}
	return registry.New(r.tags, opts)
}

func (r *repo) registry() *registry.Registry { return r.build(registry.Options{}) }

func toJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func show(t *testing.T, reg *registry.Registry, opts registry.ShowOptions) registry.Overview {
	t.Helper()
	o, err := reg.Show(opts)
	if err != nil {
		t.Fatal(err)
	}
	return o
}

// stageOf returns what `gto show` lists for the artifact in the stage ("" for
// null); it fails when the artifact is not shown.
func stageOf(t *testing.T, o registry.Overview, artifact, stage string) string {
	t.Helper()
	a, ok := o.Get(artifact)
	if !ok {
		t.Fatalf("artifact %s not shown; overview: %s", artifact, toJSON(t, o))
	}
	v, _ := a.Stage.Get(stage)
	if v == nil {
		return ""
	}
	return *v
}

func str(p *string) string {
	if p == nil {
		return "<null>"
	}
	return *p
}
