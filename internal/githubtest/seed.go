package githubtest

import (
	"path/filepath"
	"sort"
	"strings"
	"testing"
)

// Commit writes files (path → content) on top of branch in the bare
// repository as one commit and moves the branch to it, creating the branch
// (with a root commit) if it does not exist. It returns the commit sha.
//
// It is setup, not a push: no webhooks are sent, as if the repository had
// looked like this before the test began. Tests that only talk REST use it to
// have commits to tag without cloning.
func (s *Server) Commit(t testing.TB, branch string, files map[string]string, message string) string {
	t.Helper()
	s.refMu.Lock()
	defer s.refMu.Unlock()
	must := func(out string, err error) string {
		t.Helper()
		if err != nil {
			t.Fatalf("githubtest: Commit: %v", err)
		}
		return strings.TrimSpace(out)
	}
	ref := "refs/heads/" + branch
	parent := s.resolveCommit(ref)
	// A private index keeps the bare repository free of a working state.
	index := []string{"GIT_INDEX_FILE=" + filepath.Join(t.TempDir(), "index")}
	if parent != "" {
		must(s.gitWith(index, "", "read-tree", parent))
	}
	paths := make([]string, 0, len(files))
	for p := range files {
		paths = append(paths, p)
	}
	sort.Strings(paths)
	for _, p := range paths {
		blob := must(s.git(files[p], "hash-object", "-w", "--stdin"))
		must(s.gitWith(index, "", "update-index", "--add", "--cacheinfo", "100644,"+blob+","+p))
	}
	tree := must(s.gitWith(index, "", "write-tree"))
	args := []string{"commit-tree", tree, "-m", message}
	if parent != "" {
		args = append(args, "-p", parent)
	}
	author := []string{
		"GIT_AUTHOR_NAME=" + s.opts.Owner, "GIT_AUTHOR_EMAIL=" + s.opts.Owner + "@users.noreply.github.com",
		"GIT_COMMITTER_NAME=GitHub", "GIT_COMMITTER_EMAIL=noreply@github.com",
	}
	sha := must(s.gitWith(author, "", args...))
	// The old value (empty: must not exist) guards against a racing push.
	must(s.git("", "update-ref", ref, sha, parent))
	return sha
}
