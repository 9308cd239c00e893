// Package gitdir is a [source.Source] over a repository on disk (a working
// tree or a bare repository), driven through the git CLI. Every call runs
// git with an argument vector, never a shell, and reads what it needs in as
// few git invocations as it can: all tags, with their tag objects, in one
// `git for-each-ref`, any number of commits in one `git cat-file --batch`.
//
// It reads what GTO reads the way GTO (scmrepo over dulwich) reads it: a
// tag object's own name, target, tagger (split by scmrepo's rule) and
// message, and `.gto` from the working tree rather than from HEAD. Tags
// are created with their message exactly as given.
package gitdir

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/hookd-dev/hookd/registry"
	"github.com/hookd-dev/hookd/source"
)

// Repo is a local git repository.
type Repo struct {
	dir string
	// root is the top of the working tree, or a bare repository's git
	// directory: where GTO reads .gto.
	root string
}

var _ source.Source = (*Repo)(nil)

// Open checks that dir is inside a git repository (working tree or bare).
func Open(ctx context.Context, dir string) (*Repo, error) {
	r := &Repo{dir: dir}
	out, err := r.git(ctx, nil, nil, "rev-parse", "--is-bare-repository", "--absolute-git-dir", "--show-cdup")
	if err != nil {
		return nil, fmt.Errorf("%s: not a git repository", dir)
	}
	lines := strings.Split(strings.TrimSuffix(string(out), "\n"), "\n")
	switch {
	case len(lines) >= 2 && lines[0] == "true":
		r.root = lines[1]
	case len(lines) >= 2:
		cdup := ""
		if len(lines) > 2 {
			cdup = lines[2]
		}
		if r.root, err = filepath.Abs(filepath.Join(dir, cdup)); err != nil {
			return nil, err
		}
	default:
		return nil, fmt.Errorf("%s: git rev-parse answered %q", dir, out)
	}
	return r, nil
}

// Dir is the directory the repository was opened at.
func (r *Repo) Dir() string { return r.dir }

// gitError is a failed git command: its arguments and the first line of
// what it printed on stderr.
type gitError struct {
	args   []string
	stderr string
}

func (e *gitError) Error() string {
	return fmt.Sprintf("git %s: %s", e.args[0], e.stderr)
}

// git runs one git command in the repository and returns its stdout.
func (r *Repo) git(ctx context.Context, env []string, stdin []byte, args ...string) ([]byte, error) {
	cmd := exec.CommandContext(ctx, "git", append([]string{"-C", r.dir}, args...)...)
	// LC_ALL=C keeps git's messages in English, which CreateTag matches;
	// no terminal prompt may ever block a daemon.
	cmd.Env = append(os.Environ(), "LC_ALL=C", "GIT_TERMINAL_PROMPT=0")
	cmd.Env = append(cmd.Env, env...)
	if stdin != nil {
		cmd.Stdin = bytes.NewReader(stdin)
	}
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		msg := strings.TrimSpace(stderr.String())
		if i := strings.IndexByte(msg, '\n'); i >= 0 {
			msg = msg[:i]
		}
		if msg == "" {
			msg = err.Error()
		}
		return nil, &gitError{args: args, stderr: msg}
	}
	return stdout.Bytes(), nil
}

// tagFormat prints one tag: NUL-separated fields, then for an annotated tag
// its object's raw content, which is read by its size since a message may
// hold any byte.
const tagFormat = "%(refname)%00%(objecttype)%00%(objectname)%00%(*objectname)%00%(*objecttype)%00" +
	"%(if:equals=tag)%(objecttype)%(then)%(raw:size)%(end)%00%(if:equals=tag)%(objecttype)%(then)%(raw)%(end)"

const tagFields = 6 // before the raw content

// Tags lists every tag, annotated or lightweight, in one git call. An
// annotated tag is read from its object the way GTO reads it (dulwich and
// scmrepo): its name is the one the object records, its target the object
// it names, its tagger split by GTO's rule.
func (r *Repo) Tags(ctx context.Context) ([]registry.Tag, error) {
	return r.tags(ctx, "refs/tags")
}

func (r *Repo) tags(ctx context.Context, pattern string) ([]registry.Tag, error) {
	out, err := r.git(ctx, nil, nil, "for-each-ref", "--format="+tagFormat, pattern)
	if err != nil {
		return nil, err
	}
	var tags []registry.Tag
	var unpeeled []int // annotated tags whose object is not a commit
	for rest := string(out); rest != ""; {
		f := make([]string, tagFields)
		for i := range f {
			var ok bool
			if f[i], rest, ok = strings.Cut(rest, "\x00"); !ok {
				return nil, fmt.Errorf("git for-each-ref: a record ends early: %q", f[0])
			}
		}
		var raw string
		if f[5] != "" {
			size, err := strconv.Atoi(f[5])
			if err != nil || size > len(rest) {
				return nil, fmt.Errorf("git for-each-ref: bad size %q of %s", f[5], f[0])
			}
			raw, rest = rest[:size], rest[size:]
		}
		// for-each-ref ends each record with a newline.
		rest = strings.TrimPrefix(rest, "\n")
		t := parseTag(f[0], f[1:5], raw)
		if t.Annotated && f[4] != "commit" {
			unpeeled = append(unpeeled, len(tags))
		}
		tags = append(tags, t)
	}
	if err := r.peel(ctx, tags, unpeeled); err != nil {
		return nil, err
	}
	return tags, nil
}

// peel sets the commit of the tags at idx, whose %(*objectname) is not a
// commit: git (2.39 at least) peels a tag of a tag by one level only. One
// cat-file call resolves them all; a chain that ends in a tree or blob
// has no commit.
func (r *Repo) peel(ctx context.Context, tags []registry.Tag, idx []int) error {
	if len(idx) == 0 {
		return nil
	}
	var in bytes.Buffer
	for _, i := range idx {
		// The tag object, not the ref: the ref may have moved since the listing.
		fmt.Fprintf(&in, "%s^{commit}\n", tags[i].Object)
	}
	out, err := r.git(ctx, nil, in.Bytes(), "cat-file", "--batch-check=%(objectname) %(objecttype)")
	if err != nil {
		return err
	}
	lines := strings.Split(strings.TrimSuffix(string(out), "\n"), "\n")
	if len(lines) != len(idx) {
		return fmt.Errorf("git cat-file: %d answers for %d tags", len(lines), len(idx))
	}
	for k, i := range idx {
		sha, typ, _ := strings.Cut(lines[k], " ")
		tags[i].Commit = ""
		if typ == "commit" {
			tags[i].Commit = sha
		}
	}
	return nil
}

// parseRawDate reads git's raw date ("1675245600 +0300"), keeping the
// offset, which GTO prints.
func parseRawDate(s string) (time.Time, error) {
	secs, zone, ok := strings.Cut(strings.TrimSpace(s), " ")
	unix, err := strconv.ParseInt(secs, 10, 64)
	if !ok || err != nil || len(zone) != 5 {
		return time.Time{}, fmt.Errorf("bad git date %q", s)
	}
	h, err1 := strconv.Atoi(zone[1:3])
	m, err2 := strconv.Atoi(zone[3:5])
	if err1 != nil || err2 != nil || zone[0] != '+' && zone[0] != '-' {
		return time.Time{}, fmt.Errorf("bad git date %q", s)
	}
	off := h*3600 + m*60
	if zone[0] == '-' {
		off = -off
	}
	return time.Unix(unix, 0).In(time.FixedZone("", off)), nil
}

// ReadFile returns a file's content at ref (HEAD when ref is "").
func (r *Repo) ReadFile(ctx context.Context, path, ref string) ([]byte, error) {
	if ref == "" {
		ref = "HEAD"
	}
	out, err := r.git(ctx, nil, nil, "cat-file", "blob", ref+":"+path)
	if err != nil {
		var ge *gitError
		if errors.As(err, &ge) {
			return nil, fmt.Errorf("%s at %s: %w", path, ref, source.ErrNotFound)
		}
		return nil, err
	}
	return out, nil
}

// GTOConfig reads `.gto` where GTO reads it: at the top of the working
// tree, so that an edit not committed yet counts and a file deleted since
// the last commit does not; in a bare repository, in the git directory
// itself (where there normally is none). A missing file, or a directory
// of that name, is ErrNotFound.
func (r *Repo) GTOConfig(ctx context.Context) ([]byte, error) {
	path := filepath.Join(r.root, registry.ConfigFile)
	if fi, err := os.Stat(path); err != nil || !fi.Mode().IsRegular() {
		if err == nil || errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("%s: %w", path, source.ErrNotFound)
		}
		return nil, err
	}
	return os.ReadFile(path)
}

// Head returns the full sha of HEAD, or "" in a repository with no commit.
func (r *Repo) Head(ctx context.Context) (string, error) {
	c, err := r.resolve(ctx, "HEAD")
	if errors.Is(err, source.ErrNotFound) {
		return "", nil
	}
	return c, err
}

func (r *Repo) resolve(ctx context.Context, ref string) (string, error) {
	out, err := r.git(ctx, nil, nil, "rev-parse", "--verify", "--quiet", "--end-of-options", ref+"^{commit}")
	if err != nil {
		var ge *gitError
		if errors.As(err, &ge) {
			return "", fmt.Errorf("unknown ref %q: %w", ref, source.ErrNotFound)
		}
		return "", err
	}
	return strings.TrimSpace(string(out)), nil
}

// Commit resolves ref to its commit.
func (r *Repo) Commit(ctx context.Context, ref string) (registry.Commit, error) {
	sha, err := r.resolve(ctx, ref)
	if err != nil {
		return registry.Commit{}, err
	}
	out, err := r.git(ctx, nil, nil, "cat-file", "commit", sha)
	if err != nil {
		return registry.Commit{}, err
	}
	return parseCommit(sha, out)
}

// Commits reads many commits, given by full sha, in one git call. A tag
// object's sha gives the commit it peels to, keyed by the tag's sha. Shas
// that name no commit are left out of the map.
func (r *Repo) Commits(ctx context.Context, shas []string) (registry.CommitMap, error) {
	m := make(registry.CommitMap, len(shas))
	peeled := make([]string, len(shas))
	for i, sha := range shas {
		peeled[i] = sha + "^{commit}"
	}
	err := r.batch(ctx, peeled, func(i int, typ string, body []byte, sha string) error {
		if typ != "commit" {
			return nil
		}
		c, err := parseCommit(sha, body)
		m[shas[i]] = c
		return err
	})
	return m, err
}

// Files reads one file at many refs in one git call, e.g. artifacts.yaml
// at every version's commit. The map is keyed by ref; refs where the file
// does not exist are left out.
func (r *Repo) Files(ctx context.Context, path string, refs []string) (map[string][]byte, error) {
	m := make(map[string][]byte, len(refs))
	objects := make([]string, len(refs))
	for i, ref := range refs {
		objects[i] = ref + ":" + path
	}
	err := r.batch(ctx, objects, func(i int, typ string, body []byte, _ string) error {
		if typ == "blob" {
			m[refs[i]] = body
		}
		return nil
	})
	return m, err
}

// batch runs `git cat-file --batch` over objects and calls found for each
// one that exists, with its position in objects, its type, content and sha.
func (r *Repo) batch(ctx context.Context, objects []string, found func(i int, typ string, body []byte, sha string) error) error {
	if len(objects) == 0 {
		return nil
	}
	var in bytes.Buffer
	for _, o := range objects {
		if strings.ContainsAny(o, "\n") {
			return fmt.Errorf("object name %q holds a newline", o)
		}
		in.WriteString(o)
		in.WriteByte('\n')
	}
	out, err := r.git(ctx, nil, in.Bytes(), "cat-file", "--batch")
	if err != nil {
		return err
	}
	rd := bufio.NewReader(bytes.NewReader(out))
	for i := range objects {
		header, err := rd.ReadString('\n')
		if err != nil {
			return fmt.Errorf("git cat-file: output ends before object %d of %d", i+1, len(objects))
		}
		// "<sha> <type> <size>", or "<name> missing" (or "ambiguous"),
		// where the name may hold spaces.
		header = strings.TrimSuffix(header, "\n")
		if strings.HasSuffix(header, " missing") || strings.HasSuffix(header, " ambiguous") {
			continue
		}
		parts := strings.Fields(header)
		if len(parts) != 3 {
			return fmt.Errorf("git cat-file: bad header %q", header)
		}
		size, err := strconv.Atoi(parts[2])
		if err != nil {
			return fmt.Errorf("git cat-file: bad header %q", header)
		}
		body := make([]byte, size+1) // the content and a newline
		if _, err := io.ReadFull(rd, body); err != nil {
			return fmt.Errorf("git cat-file: %w", err)
		}
		if err := found(i, parts[1], body[:size], parts[0]); err != nil {
			return err
		}
	}
	return nil
}

// parseCommit reads a raw commit object: headers, a blank line, and the
// message exactly as stored.
func parseCommit(sha string, raw []byte) (registry.Commit, error) {
	c := registry.Commit{Hash: sha}
	head, msg, _ := bytes.Cut(raw, []byte("\n\n"))
	c.Message = string(msg)
	for _, line := range strings.Split(string(head), "\n") {
		key, val, _ := strings.Cut(line, " ")
		var p *registry.Person
		var d *time.Time
		switch key {
		case "author":
			p, d = &c.Author, &c.AuthorDate
		case "committer":
			p, d = &c.Committer, &c.CommitDate
		default:
			continue
		}
		// "Name <email> 1672567200 +0000"
		lt, gt := strings.IndexByte(val, '<'), strings.LastIndexByte(val, '>')
		if lt < 0 || gt < lt {
			return c, fmt.Errorf("commit %s: bad %s line", sha, key)
		}
		p.Name, p.Email = strings.TrimSpace(val[:lt]), val[lt+1:gt]
		t, err := parseRawDate(val[gt+1:])
		if err != nil {
			return c, fmt.Errorf("commit %s: %w", sha, err)
		}
		*d = t
	}
	return c, nil
}

// CreateTag creates an annotated tag. The tagger is t.Tagger when set,
// else git's configured identity; the date is t.Date when set, else now.
func (r *Repo) CreateTag(ctx context.Context, t source.NewTag) (registry.Tag, error) {
	if _, err := r.resolve(ctx, t.Commit); err != nil {
		return registry.Tag{}, err
	}
	var env []string
	if t.Tagger.Name != "" {
		env = append(env, "GIT_COMMITTER_NAME="+t.Tagger.Name)
	}
	if t.Tagger.Email != "" {
		env = append(env, "GIT_COMMITTER_EMAIL="+t.Tagger.Email)
	}
	if !t.Date.IsZero() {
		env = append(env, "GIT_COMMITTER_DATE="+t.Date.Format(time.RFC3339))
	}
	// --cleanup=verbatim: the message is stored as given, as gto (dulwich)
	// stores it; git's default drops '#' lines, trailing spaces and
	// repeated blank lines.
	if _, err := r.git(ctx, env, nil, "tag", "-a", "--cleanup=verbatim", "-m", t.Message, "--end-of-options", t.Name, t.Commit); err != nil {
		var ge *gitError
		if errors.As(err, &ge) && strings.Contains(ge.stderr, "already exists") {
			return registry.Tag{}, fmt.Errorf("tag %q: %w", t.Name, source.ErrTagExists)
		}
		return registry.Tag{}, err
	}
	tags, err := r.tags(ctx, "refs/tags/"+t.Name)
	if err != nil {
		return registry.Tag{}, err
	}
	for _, tag := range tags {
		if tag.Name == t.Name {
			return tag, nil
		}
	}
	return registry.Tag{}, fmt.Errorf("tag %q was created but cannot be read back", t.Name)
}

// DeleteTag deletes a local tag (GTO's --delete).
func (r *Repo) DeleteTag(ctx context.Context, name string) error {
	if _, err := r.git(ctx, nil, nil, "tag", "-d", "--end-of-options", name); err != nil {
		return fmt.Errorf("tag %q: %w", name, source.ErrNotFound)
	}
	return nil
}

// Push pushes a tag to the "origin" remote, as `gto ... --push` does.
func (r *Repo) Push(ctx context.Context, tagName string) error {
	_, err := r.git(ctx, nil, nil, "push", "origin", "refs/tags/"+tagName)
	return err
}

// PushDeletion deletes a tag from the "origin" remote.
func (r *Repo) PushDeletion(ctx context.Context, tagName string) error {
	_, err := r.git(ctx, nil, nil, "push", "--delete", "origin", "refs/tags/"+tagName)
	return err
}
