package main

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/hookd-dev/hookd/internal/gittest"
	"github.com/hookd-dev/hookd/registry"
	"github.com/hookd-dev/hookd/source"
	"github.com/hookd-dev/hookd/source/gitdir"
	"github.com/hookd-dev/hookd/tagparse"
)

// TestGeneratedRegistry checks a small generated repository: the asked
// number of annotated GTO tags, counters unique per artifact, every
// artifact known to the registry, and the same repository for the same seed.
func TestGeneratedRegistry(t *testing.T) {
	gittest.Isolate(t)
	ctx := context.Background()
	const nTags, nArtifacts = 300, 10
	dir := filepath.Join(t.TempDir(), "registry")
	if err := generate(dir, nTags, nArtifacts, 7); err != nil {
		t.Fatal(err)
	}
	repo, err := gitdir.Open(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	tags, err := repo.Tags(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(tags) != nTags {
		t.Fatalf("%d tags, want %d", len(tags), nTags)
	}
	counters := map[string]map[int]string{}
	actions := map[tagparse.Action]int{}
	for _, tag := range tags {
		p, err := tagparse.Parse(tag.Name)
		if err != nil || !tag.Annotated {
			t.Fatalf("tag %q: annotated %v, parse error %v", tag.Name, tag.Annotated, err)
		}
		actions[p.Action]++
		if p.Counter == 0 {
			continue
		}
		if counters[p.Artifact] == nil {
			counters[p.Artifact] = map[int]string{}
		}
		if other, dup := counters[p.Artifact][p.Counter]; dup {
			t.Errorf("counter %d used by %s and %s", p.Counter, other, tag.Name)
		}
		counters[p.Artifact][p.Counter] = tag.Name
	}
	for _, a := range []tagparse.Action{tagparse.Register, tagparse.Assign, tagparse.Unassign, tagparse.Deregister} {
		if actions[a] == 0 {
			t.Errorf("no %s tags: %v", a, actions)
		}
	}

	reg, err := source.Load(ctx, repo)
	if err != nil {
		t.Fatal(err)
	}
	if n := len(reg.Artifacts()); n != nArtifacts {
		t.Errorf("registry has %d artifacts, want %d", n, nArtifacts)
	}
	if _, err := reg.Show(registry.DefaultShowOptions()); err != nil {
		t.Error(err)
	}

	again := filepath.Join(t.TempDir(), "again")
	if err := generate(again, nTags, nArtifacts, 7); err != nil {
		t.Fatal(err)
	}
	head := func(dir string) string {
		r, err := gitdir.Open(ctx, dir)
		if err != nil {
			t.Fatal(err)
		}
		h, err := r.Head(ctx)
		if err != nil {
			t.Fatal(err)
		}
		return h
	}
	if head(dir) != head(again) {
		t.Error("the same seed built different histories")
	}
}
