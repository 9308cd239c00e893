package githubtest

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"sort"
	"strconv"
	"strings"
	"time"
)

// zeroSHA is what GitHub puts in before/after for a ref that did not or no
// longer exists.
const zeroSHA = "0000000000000000000000000000000000000000"

// gitEnv is the environment for every git process the server starts: the
// caller's git configuration (system and global) must not change what the
// stand-in does, so both are cut off and HOME points into the test's temp dir.
func gitEnv(home string) []string {
	var env []string
	for _, kv := range os.Environ() {
		if strings.HasPrefix(kv, "GIT_") || strings.HasPrefix(kv, "HOME=") {
			continue
		}
		env = append(env, kv)
	}
	return append(env, "HOME="+home, "GIT_CONFIG_NOSYSTEM=1", "LC_ALL=C")
}

// git runs a git command against the bare repository and returns its stdout.
func (s *Server) git(stdin string, args ...string) (string, error) {
	return s.gitWith(nil, stdin, args...)
}

// gitWith is git with extra environment variables.
func (s *Server) gitWith(env []string, stdin string, args ...string) (string, error) {
	cmd := exec.Command("git", args...)
	cmd.Dir = s.bareDir
	cmd.Env = append(append(gitEnv(s.home), "GIT_DIR="+s.bareDir), env...)
	if stdin != "" {
		cmd.Stdin = strings.NewReader(stdin)
	}
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("git %s: %v: %s", strings.Join(args, " "), err, strings.TrimSpace(stderr.String()))
	}
	return stdout.String(), nil
}

// refInfo is one ref of the bare repository.
type refInfo struct {
	Name string // full name, refs/tags/X
	SHA  string // what the ref points to (the tag object for annotated tags)
	Type string // type of SHA: commit, tag, tree or blob
	// Peeled is the commit an annotated tag points to; for a ref that
	// points at a commit it is that commit.
	Peeled string
}

// listRefs returns every ref by full name.
func (s *Server) listRefs() (map[string]refInfo, error) {
	out, err := s.git("", "for-each-ref", "--format=%(refname)%00%(objectname)%00%(objecttype)%00%(*objectname)%00%(*objecttype)")
	if err != nil {
		return nil, err
	}
	refs := map[string]refInfo{}
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		if line == "" {
			continue
		}
		f := strings.Split(line, "\x00")
		ri := refInfo{Name: f[0], SHA: f[1], Type: f[2]}
		switch {
		case ri.Type == "commit":
			ri.Peeled = ri.SHA
		case f[4] == "commit":
			ri.Peeled = f[3]
		}
		refs[ri.Name] = ri
	}
	return refs, nil
}

// sortedRefNames returns the names of refs in byte order, which is the order
// GitHub lists refs in.
func sortedRefNames(refs map[string]refInfo) []string {
	names := make([]string, 0, len(refs))
	for n := range refs {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// objectType returns the type of an object, or "" when it does not exist.
func (s *Server) objectType(sha string) string {
	out, err := s.git("", "cat-file", "-t", sha)
	if err != nil {
		return ""
	}
	return strings.TrimSpace(out)
}

// ident is a git author, committer or tagger line.
type ident struct {
	Name  string
	Email string
	When  time.Time // in the ident's own time zone
}

// parseIdent parses "Name <email> 1700000000 +0100".
func parseIdent(s string) (ident, error) {
	lt, gt := strings.Index(s, "<"), strings.LastIndex(s, ">")
	if lt < 0 || gt < lt {
		return ident{}, fmt.Errorf("malformed ident %q", s)
	}
	id := ident{Name: strings.TrimSpace(s[:lt]), Email: s[lt+1 : gt]}
	f := strings.Fields(s[gt+1:])
	if len(f) != 2 {
		return ident{}, fmt.Errorf("malformed ident date %q", s)
	}
	secs, err := strconv.ParseInt(f[0], 10, 64)
	if err != nil {
		return ident{}, err
	}
	tz, err := time.Parse("-0700", f[1])
	if err != nil {
		return ident{}, err
	}
	id.When = time.Unix(secs, 0).In(tz.Location())
	return id, nil
}

// String formats the ident the way tag and commit objects store it.
func (id ident) String() string {
	return fmt.Sprintf("%s <%s> %d %s", id.Name, id.Email, id.When.Unix(), id.When.Format("-0700"))
}

// gitObject is a parsed commit or tag object: header lines then a message.
type gitObject struct {
	headers map[string][]string
	message string
}

func (s *Server) readObject(kind, sha string) (gitObject, error) {
	out, err := s.git("", "cat-file", kind, sha)
	if err != nil {
		return gitObject{}, err
	}
	return parseObject(out), nil
}

// parseObject splits the raw content of a commit or tag object.
func parseObject(out string) gitObject {
	head, msg, _ := strings.Cut(out, "\n\n")
	o := gitObject{headers: map[string][]string{}, message: msg}
	for _, line := range strings.Split(head, "\n") {
		if strings.HasPrefix(line, " ") { // continuation (gpgsig, mergetag)
			continue
		}
		k, v, _ := strings.Cut(line, " ")
		o.headers[k] = append(o.headers[k], v)
	}
	return o
}

func (o gitObject) header(k string) string {
	if v := o.headers[k]; len(v) > 0 {
		return v[0]
	}
	return ""
}

// tagObject is an annotated tag as stored in the repository.
type tagObject struct {
	SHA        string
	Name       string
	Object     string
	ObjectType string
	Tagger     ident
	Message    string
}

func (s *Server) readTag(sha string) (tagObject, error) {
	o, err := s.readObject("tag", sha)
	if err != nil {
		return tagObject{}, err
	}
	return o.tag(sha)
}

func (o gitObject) tag(sha string) (tagObject, error) {
	var err error
	t := tagObject{SHA: sha, Name: o.header("tag"), Object: o.header("object"), ObjectType: o.header("type"), Message: o.message}
	if tg := o.header("tagger"); tg != "" {
		if t.Tagger, err = parseIdent(tg); err != nil {
			return tagObject{}, err
		}
	}
	return t, nil
}

// commitObject is a commit as stored in the repository.
type commitObject struct {
	SHA       string
	Tree      string
	Parents   []string
	Author    ident
	Committer ident
	Message   string
}

func (s *Server) readCommit(sha string) (commitObject, error) {
	o, err := s.readObject("commit", sha)
	if err != nil {
		return commitObject{}, err
	}
	return o.commit(sha)
}

func (o gitObject) commit(sha string) (commitObject, error) {
	var err error
	c := commitObject{SHA: sha, Tree: o.header("tree"), Parents: o.headers["parent"], Message: o.message}
	if c.Author, err = parseIdent(o.header("author")); err != nil {
		return commitObject{}, err
	}
	if c.Committer, err = parseIdent(o.header("committer")); err != nil {
		return commitObject{}, err
	}
	return c, nil
}

// resolveCommit turns a branch, tag or sha into a commit sha, or "" if it
// names no commit.
func (s *Server) resolveCommit(ref string) string {
	out, err := s.git("", "rev-parse", "--verify", "--quiet", "--end-of-options", ref+"^{commit}")
	if err != nil {
		return ""
	}
	return strings.TrimSpace(out)
}

// changedFiles lists the paths a commit added, removed and modified relative
// to its first parent, as push payloads report them.
func (s *Server) changedFiles(sha string) (added, removed, modified []string, err error) {
	out, err := s.git("", "diff-tree", "-r", "--root", "--no-commit-id", "--name-status", "--no-renames", sha)
	if err != nil {
		return nil, nil, nil, err
	}
	added, removed, modified = []string{}, []string{}, []string{}
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		status, path, ok := strings.Cut(line, "\t")
		if !ok {
			continue
		}
		switch status {
		case "A":
			added = append(added, path)
		case "D":
			removed = append(removed, path)
		default:
			modified = append(modified, path)
		}
	}
	return added, removed, modified, nil
}

// revList lists commits oldest first: reachable from include, not from any
// of exclude.
func (s *Server) revList(include string, exclude []string) ([]string, error) {
	args := []string{"rev-list", "--reverse", include}
	if len(exclude) > 0 {
		args = append(append(args, "--not"), exclude...)
	}
	out, err := s.git("", args...)
	if err != nil {
		return nil, err
	}
	return strings.Fields(out), nil
}

// isAncestor reports whether a is an ancestor of (or equal to) b.
func (s *Server) isAncestor(a, b string) bool {
	_, err := s.git("", "merge-base", "--is-ancestor", a, b)
	return err == nil
}
