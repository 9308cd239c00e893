package source_test

import (
	"context"
	"os"
	"path/filepath"
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
