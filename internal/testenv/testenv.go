// Package testenv finds the external programs hookd's tests use for real
// (git, PostgreSQL, Chromium) and decides what happens when one is missing.
//
// On a developer machine with only Go installed, a test that needs a missing
// program is skipped with a message that names the program and the Debian
// package to install. CI sets HOOKD_TEST_REQUIRE=all after installing every
// package, and there a missing program fails the test instead, so a broken
// install step can never turn into a green run that tested nothing.
package testenv

import (
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"
)

// requireAll is the environment variable CI sets so missing programs fail.
const requireAll = "HOOKD_TEST_REQUIRE"

// Missing skips or fails t because program is not installed.
func Missing(t testing.TB, program, debianPackage string) {
	t.Helper()
	msg := program + " not found: install it (Debian: apt-get install " + debianPackage + ") to run this test"
	if os.Getenv(requireAll) == "all" {
		t.Fatal(msg + " [" + requireAll + "=all]")
	}
	t.Skip(msg)
}

// Git returns the path of the git CLI, or skips/fails t.
func Git(t testing.TB) string {
	t.Helper()
	p, err := exec.LookPath("git")
	if err != nil {
		Missing(t, "git", "git")
	}
	return p
}

// PostgresBinDir returns the folder holding initdb, pg_ctl and postgres:
// from PATH, or the newest Debian install under /usr/lib/postgresql. It
// returns "" when none is installed.
func PostgresBinDir() string {
	if p, err := exec.LookPath("initdb"); err == nil {
		if real, err := filepath.EvalSymlinks(p); err == nil {
			return filepath.Dir(real)
		}
		return filepath.Dir(p)
	}
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	sort.Strings(dirs)
	for i := len(dirs) - 1; i >= 0; i-- {
		if _, err := os.Stat(filepath.Join(dirs[i], "initdb")); err == nil {
			return dirs[i]
		}
	}
	return ""
}

// Chromium returns the path of a Chromium browser, or skips/fails t.
func Chromium(t testing.TB) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	Missing(t, "chromium", "chromium")
	return ""
}

// GTOReference returns the folder of GTO's reference outputs
// (testdata/gto-reference at the top of the module): what the Python gto
// CLI printed for the repository its make-repo.sh builds.
func GTOReference(t testing.TB) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return filepath.Join(dir, "testdata", "gto-reference")
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("testenv: no go.mod above the test's folder")
		}
		dir = parent
	}
}

// CheckRef is one line of a fixture's check-ref.tsv: a tag, and what
// `gto check-ref --json TAG` prints for it, the one event as JSON or ""
// when the tag created none.
type CheckRef struct{ Tag, Want string }

// CheckRefs reads the check-ref.tsv in dir, failing t when it is missing,
// malformed or empty.
func CheckRefs(t testing.TB, dir string) []CheckRef {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(dir, "check-ref.tsv"))
	if err != nil {
		t.Fatal(err)
	}
	var out []CheckRef
	for _, line := range strings.Split(strings.TrimSuffix(string(data), "\n"), "\n") {
		tag, want, ok := strings.Cut(line, "\t")
		if !ok || tag == "" {
			t.Fatalf("%s/check-ref.tsv: malformed line %q", dir, line)
		}
		out = append(out, CheckRef{tag, want})
	}
	if len(out) == 0 {
		t.Fatalf("%s/check-ref.tsv has no lines", dir)
	}
	return out
}
