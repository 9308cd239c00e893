// Package gittest makes real git repositories for tests: isolated from the
// user's git configuration, with pinned identities and dates so that commit
// and tag hashes are the same on every run.
package gittest

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hookd-dev/hookd/internal/testenv"
)

// Identity is the author, committer and tagger of everything Repo writes.
const (
	Name  = "Test Tagger"
	Email = "tagger@example.com"
)

// Isolate keeps the user's and the system's git configuration out of t,
// for git run by the test itself (see Env for programs it starts).
func Isolate(t testing.TB) {
	t.Helper()
	for _, kv := range isolation(t) {
		k, v, _ := strings.Cut(kv, "=")
		t.Setenv(k, v)
	}
}

// Env is the environment for programs a test starts (git, hookd): the
// test's own, without any GIT_* setting, with git isolated as by Isolate.
func Env(t testing.TB) []string {
	t.Helper()
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "GIT_") && !strings.HasPrefix(kv, "HOME=") && !strings.HasPrefix(kv, "XDG_CONFIG_HOME=") {
			env = append(env, kv)
		}
	}
	return append(env, isolation(t)...)
}

// isolation makes a fresh home whose .gitconfig names the test identity
// (which a repository's own configuration may still override) and returns
// the variables that point git at it.
func isolation(t testing.TB) []string {
	t.Helper()
	testenv.Git(t)
	home := t.TempDir()
	cfg := "[user]\n\tname = " + Name + "\n\temail = " + Email + "\n[init]\n\tdefaultBranch = main\n"
	if err := os.WriteFile(filepath.Join(home, ".gitconfig"), []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	return []string{"HOME=" + home, "XDG_CONFIG_HOME=" + home, "GIT_CONFIG_NOSYSTEM=1"}
}

// Repo is a working repository in a temporary folder.
type Repo struct {
	t   testing.TB
	Dir string
}

// New initialises an empty repository with branch main.
func New(t testing.TB) *Repo {
	t.Helper()
	Isolate(t)
	r := &Repo{t: t, Dir: filepath.Join(t.TempDir(), "repo")}
	r.Git("init", "-q", "-b", "main", r.Dir)
	return r
}

// Git runs git in the repository and returns its trimmed output; it fails
// the test on error.
func (r *Repo) Git(args ...string) string {
	r.t.Helper()
	return r.GitEnv(nil, args...)
}

// GitEnv is Git with extra environment variables.
func (r *Repo) GitEnv(env []string, args ...string) string {
	r.t.Helper()
	cmd := exec.Command("git", args...)
	if args[0] != "init" {
		cmd.Dir = r.Dir
	}
	cmd.Env = append(os.Environ(), env...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		r.t.Fatalf("git %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return strings.TrimSpace(string(out))
}

// Commit writes content to path, commits it at date (RFC 3339 or git's
// formats) and returns the commit's full sha.
func (r *Repo) Commit(path, content, date string) string {
	r.t.Helper()
	full := filepath.Join(r.Dir, path)
	if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
		r.t.Fatal(err)
	}
	if err := os.WriteFile(full, []byte(content), 0o644); err != nil {
		r.t.Fatal(err)
	}
	r.Git("add", path)
	r.GitEnv([]string{"GIT_AUTHOR_DATE=" + date, "GIT_COMMITTER_DATE=" + date}, "commit", "-q", "-m", "change "+path)
	return r.Git("rev-parse", "HEAD")
}

// Tag creates an annotated tag at target, tagged at date, and returns the
// tag object's sha.
func (r *Repo) Tag(name, target, date, message string) string {
	r.t.Helper()
	r.GitEnv([]string{"GIT_COMMITTER_DATE=" + date}, "tag", "-a", "-m", message, name, target)
	return r.Git("rev-parse", "refs/tags/"+name)
}

// LightTag creates a lightweight tag at target.
func (r *Repo) LightTag(name, target string) {
	r.t.Helper()
	r.Git("tag", name, target)
}

// RawTag writes a tag object from its headers and message exactly as given
// (git hash-object, so tags git itself would not create can be made: a
// tagger line git's tools refuse, no tagger, a fake signature) and points
// refs/tags/ref at it. It returns the object's sha.
func (r *Repo) RawTag(ref, headers, message string) string {
	r.t.Helper()
	return RawTag(r.t, r.Dir, os.Environ(), ref, headers, message)
}

// RawTag is Repo.RawTag for the repository in dir, git run with env.
func RawTag(t testing.TB, dir string, env []string, ref, headers, message string) string {
	t.Helper()
	git := func(stdin string, args ...string) string {
		cmd := exec.Command("git", args...)
		cmd.Dir, cmd.Env, cmd.Stdin = dir, env, strings.NewReader(stdin)
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("git %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return strings.TrimSpace(string(out))
	}
	sha := git(headers+"\n"+message, "hash-object", "-t", "tag", "-w", "--literally", "--stdin")
	git("", "update-ref", "refs/tags/"+ref, sha)
	return sha
}
