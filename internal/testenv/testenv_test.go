package testenv

import (
	"os"
	"path/filepath"
	"testing"
)

func TestPostgresBinDirHoldsTheServerPrograms(t *testing.T) {
	dir := PostgresBinDir()
	if dir == "" {
		Missing(t, "initdb", "postgresql")
	}
	for _, prog := range []string{"initdb", "pg_ctl", "postgres"} {
		if _, err := os.Stat(filepath.Join(dir, prog)); err != nil {
			t.Errorf("%s has no %s: %v", dir, prog, err)
		}
	}
}

func TestGitIsFound(t *testing.T) {
	if p := Git(t); !filepath.IsAbs(p) {
		t.Errorf("Git() = %q, want an absolute path", p)
	}
}

func TestGTOReferenceHoldsTheFixture(t *testing.T) {
	for _, f := range []string{"make-repo.sh", "show.json", "check-ref.tsv", "history.json"} {
		if _, err := os.Stat(filepath.Join(GTOReference(t), f)); err != nil {
			t.Error(err)
		}
	}
}
