package source_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/hookd-dev/hookd/registry"
	"github.com/hookd-dev/hookd/source"
)

// TestLoadAnnotatesVersionsFromTheirCommit checks that a version's
// enrichment carries the artifacts.yaml annotation of its own commit, not
// HEAD's, as GTO's does.
func TestLoadAnnotatesVersionsFromTheirCommit(t *testing.T) {
	r := newRepo(t)
	write := func(content string) {
		if err := os.WriteFile(filepath.Join(r.dir, "artifacts.yaml"), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		r.git("add", "artifacts.yaml")
	}
	write("nn:\n  type: model\n  path: old.pkl\n")
	r.git("commit", "-q", "-m", "annotate")
	first := r.git("rev-parse", "HEAD")
	r.git("tag", "-a", "-m", "register", "nn@v1.0.0", first)
	write("nn:\n  type: model\n  path: new.pkl\n")
	r.git("commit", "-q", "-m", "move the model")

	reg, err := source.Load(context.Background(), r.open())
	if err != nil {
		t.Fatal(err)
	}
	// HEAD's annotation shows too, as a version "discovered" at HEAD.
	versions, err := reg.ShowArtifact("nn@v1.0.0", "", registry.DefaultShowOptions())
	if err != nil {
		t.Fatal(err)
	}
	if len(versions) != 1 || len(versions[0].Enrichments) != 1 {
		t.Fatalf("versions %+v, want v1.0.0 with one enrichment", versions)
	}
	ann := versions[0].Enrichments[0].Enrichments
	if ann == nil || len(*ann) != 1 || (*ann)[0].Path != "old.pkl" {
		t.Errorf("v1.0.0's annotations = %+v, want path old.pkl from its own commit", ann)
	}
}

// defaultBranchOnly is a Source that keeps .gto on its default branch
// only and reads files one at a time, as GitHub does: it hides gitdir's
// ConfigReader and FileReader.
type defaultBranchOnly struct{ source.Source }

// Load reads .gto where GTO reads it (a local working tree; the default
// branch of a source without one), and returns a registry GTO refuses
// together with its StateError: a malformed index at HEAD, or at the commit
// of a version (GTO reads the index there to annotate the version).
func TestLoadReadsWhatGTOReads(t *testing.T) {
	r := newRepo(t)
	write := func(path, content string) {
		t.Helper()
		if err := os.WriteFile(filepath.Join(r.dir, path), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write(".gto", "stages: [dev]\n")
	write("artifacts.yaml", "nn:\n  description: 123\n")
	r.git("add", ".gto", "artifacts.yaml")
	r.git("commit", "-q", "-m", "configure")
	r.git("tag", "-a", "-m", "register", "nn@v1.0.0")
	write("artifacts.yaml", "nn: {}\n")
	r.git("add", "artifacts.yaml")
	r.git("commit", "-q", "-m", "fix the index")
	write(".gto", "stages: [dev, prod]\n") // not committed
	const wrong = "artifacts.yaml file doesn't conform to GTO format: line 2: nn: description: line 2: want a string, not \"123\""
	for _, c := range []struct {
		name   string
		src    source.Source
		stages []string
		err    string
	}{
		{"a working tree", r.open(), []string{"dev", "prod"}, wrong},
		// It reads no index but HEAD's (an API costs a call per commit).
		{"a default branch", defaultBranchOnly{r.open()}, []string{"dev"}, ""},
	} {
		reg, err := source.Load(context.Background(), c.src)
		var se *registry.StateError
		if reg == nil || c.err != "" && (!errors.As(err, &se) || err.Error() != c.err) || c.err == "" && err != nil {
			t.Errorf("%s: Load = %v, %v; want the registry and %q", c.name, reg, err, c.err)
			continue
		}
		if got := reg.Stages(true, false); !slices.Equal(got, c.stages) {
			t.Errorf("%s: stages %v, want %v", c.name, got, c.stages)
		}
	}
	// Without the version at the malformed commit, nothing is refused.
	r.git("tag", "-d", "nn@v1.0.0")
	if _, err := source.Load(context.Background(), r.open()); err != nil {
		t.Errorf("Load without the version: %v", err)
	}
}
