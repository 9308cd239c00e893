package main

import (
	"bytes"
	"errors"
	"fmt"
	"github.com/hookd-dev/hookd/internal/gittest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hookd-dev/hookd/internal/testenv"
)

// hookdBin is the binary under test, built once by TestMain: the tests run
// it as users do, so flag parsing, output and exit codes are all covered.
var hookdBin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "hookd-cli-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	hookdBin = filepath.Join(dir, "hookd")
	build := exec.Command("go", "build", "-o", hookdBin, ".")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "building hookd:", err)
		os.Exit(1)
	}
	code := m.Run()
	stopPostgres()
	os.RemoveAll(dir)
	os.Exit(code)
}

// gitEnv is the environment for git and hookd in tests: git isolated
// from the developer's configuration, and a fixed locale and time zone.
func gitEnv(t testing.TB) []string {
	t.Helper()
	return append(gittest.Env(t), "LC_ALL=C", "TZ=UTC")
}

// repo is a git repository in a temp dir with its isolated environment.
type repo struct {
	t   *testing.T
	dir string
	env []string
}

// newRepo makes an empty repository with one commit.
func newRepo(t *testing.T) *repo {
	t.Helper()
	testenv.Git(t)
	r := &repo{t: t, dir: t.TempDir(), env: gitEnv(t)}
	r.git("init", "-q", "-b", "main")
	r.commit("first")
	return r
}

// referenceDir is GTO's reference output for make-repo.sh's repository.
func referenceDir(t *testing.T) string {
	t.Helper()
	return testenv.GTOReference(t)
}

// referenceRepo builds make-repo.sh's repository in a temp dir.
func referenceRepo(t *testing.T) *repo {
	t.Helper()
	testenv.Git(t)
	r := &repo{t: t, dir: filepath.Join(t.TempDir(), "registry"), env: gitEnv(t)}
	cmd := exec.Command("bash", filepath.Join(referenceDir(t), "make-repo.sh"), r.dir)
	cmd.Env = r.env
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("make-repo.sh: %v\n%s", err, out)
	}
	return r
}

// git runs git in the repository and returns its trimmed stdout.
func (r *repo) git(args ...string) string {
	r.t.Helper()
	cmd := exec.Command("git", args...)
	cmd.Dir = r.dir
	cmd.Env = r.env
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		r.t.Fatalf("git %s: %v\n%s", strings.Join(args, " "), err, stderr.String())
	}
	return strings.TrimSpace(stdout.String())
}

// commit commits a change and returns the commit's sha.
func (r *repo) commit(msg string) string {
	r.t.Helper()
	f := filepath.Join(r.dir, "model.txt")
	if err := os.WriteFile(f, []byte(msg+"\n"), 0o644); err != nil {
		r.t.Fatal(err)
	}
	r.git("add", "model.txt")
	r.git("commit", "-q", "-m", msg)
	return r.git("rev-parse", "HEAD")
}

// tags returns the repository's tag names, sorted.
func (r *repo) tags() []string {
	r.t.Helper()
	out := r.git("tag", "--list")
	if out == "" {
		return nil
	}
	return strings.Split(out, "\n")
}

// result is one run of the binary.
type result struct {
	stdout, stderr string
	code           int
}

// hookd runs the binary in the repository's directory.
func (r *repo) hookd(args ...string) result {
	r.t.Helper()
	return runHookd(r.t, r.dir, r.env, args...)
}

func runHookd(t *testing.T, dir string, env []string, args ...string) result {
	t.Helper()
	cmd := exec.Command(hookdBin, args...)
	cmd.Dir = dir
	cmd.Env = env
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	res := result{stdout: stdout.String(), stderr: stderr.String()}
	var exit *exec.ExitError
	switch {
	case errors.As(err, &exit):
		res.code = exit.ExitCode()
	case err != nil:
		t.Fatalf("running hookd %s: %v", strings.Join(args, " "), err)
	}
	return res
}

// ok runs the binary and fails the test unless it exits 0.
func (r *repo) ok(args ...string) string {
	r.t.Helper()
	res := r.hookd(args...)
	if res.code != 0 {
		r.t.Fatalf("hookd %s: exit %d\nstdout: %s\nstderr: %s", strings.Join(args, " "), res.code, res.stdout, res.stderr)
	}
	return res.stdout
}
