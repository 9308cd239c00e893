package gitdir_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/hookd-dev/hookd/source/gitdir"
	"github.com/hookd-dev/hookd/source/sourcetest"
)

// TestContract runs the contract every Source passes against a bare
// repository that the suite pushes to, as a server-side hook would see it.
func TestContract(t *testing.T) {
	sourcetest.Run(t, func(t *testing.T) sourcetest.Fixture {
		dir := filepath.Join(t.TempDir(), "registry.git")
		for _, args := range [][]string{
			{"init", "--quiet", "--bare", "--initial-branch=main", dir},
			// The identity CreateTag falls back to without a tagger.
			{"-C", dir, "config", "user.name", "Registry Bot"},
			{"-C", dir, "config", "user.email", "bot@example.com"},
		} {
			cmd := exec.Command("git", args...)
			cmd.Env = append(os.Environ(), "GIT_CONFIG_NOSYSTEM=1", "HOME="+t.TempDir())
			if out, err := cmd.CombinedOutput(); err != nil {
				t.Fatalf("git %v: %v: %s", args, err, out)
			}
		}
		repo, err := gitdir.Open(t.Context(), dir)
		if err != nil {
			t.Fatal(err)
		}
		return sourcetest.Fixture{Source: repo, Remote: dir}
	})
}
