package github

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/google/go-github/v60/github"

	"github.com/hookd-dev/hookd/registry"
	"github.com/hookd-dev/hookd/source"
)

// ReadFile reads a file through the contents API. A file at a full sha
// is kept, found or not (a commit's tree never changes); at a branch or
// the default branch it is read conditionally: reading `.gto` again costs
// a 304 while it is unchanged, and reads within a second of an answer
// share it (see recentReads).
func (r *Repo) ReadFile(ctx context.Context, path, ref string) ([]byte, error) {
	if !isSHA(ref) {
		return r.recent.read(ctx, ref+":"+path, func() ([]byte, error) { return r.readFile(conditionally(ctx), path, ref) })
	}
	key := ref + ":" + path
	if f, ok := r.files.get(key); ok {
		return bytes.Clone(f.data), f.err
	}
	data, err := r.readFile(ctx, path, ref)
	// A commit that is missing may yet be pushed; a file missing from a
	// commit stays missing.
	var ge *Error
	if err == nil || errors.Is(err, source.ErrNotFound) && errors.As(err, &ge) && !strings.Contains(ge.Message, "No commit found") {
		r.files.put(key, fileAt{bytes.Clone(data), err})
	}
	return data, err
}

// recentWindow is how long an answer about a file at a branch serves
// later reads without asking GitHub (which itself lets clients cache
// these answers for 60 s). Every deploy reads `.gto` and the artifacts
// index at the default branch for its annotations: a burst of 1,000 runs
// asked 2,000 times, one round trip each, where a few now do.
const recentWindow = time.Second

// recentReads shares reads of a file at a branch: concurrent reads wait
// for the one in flight, and a read within recentWindow of an answer (the
// file, or that it is not there) takes that answer.
type recentReads struct {
	mu sync.Mutex
	m  map[string]*recentRead
}

type recentRead struct {
	done chan struct{} // closed once the read has its answer
	at   time.Time     // when the answer came
	data []byte
	err  error
}

func (rr *recentRead) fresh(now time.Time) bool {
	select {
	case <-rr.done:
		return now.Sub(rr.at) < recentWindow && (rr.err == nil || errors.Is(rr.err, source.ErrNotFound))
	default:
		return true // in flight
	}
}

func (c *recentReads) read(ctx context.Context, key string, fetch func() ([]byte, error)) ([]byte, error) {
	c.mu.Lock()
	if c.m == nil {
		c.m = map[string]*recentRead{}
	}
	now := time.Now()
	if rr, ok := c.m[key]; ok && rr.fresh(now) {
		c.mu.Unlock()
		select {
		case <-rr.done:
		case <-ctx.Done():
			return nil, context.Cause(ctx)
		}
		if rr.err == nil || !askAgain(ctx, rr.err) {
			return bytes.Clone(rr.data), rr.err
		}
		return fetch()
	}
	rr := &recentRead{done: make(chan struct{})}
	for k, old := range c.m { // what no read can take any more
		if !old.fresh(now) {
			delete(c.m, k)
		}
	}
	c.m[key] = rr
	c.mu.Unlock()
	rr.data, rr.err = fetch()
	rr.at = time.Now()
	close(rr.done)
	return bytes.Clone(rr.data), rr.err
}

// askAgain reports whether a shared read's error says nothing to a caller
// under ctx: its own caller gave up, or would not wait out a rate limit
// (source.WithoutWaiting) that this caller may wait out.
func askAgain(ctx context.Context, err error) bool {
	var rl *RateLimitError
	return errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) ||
		errors.As(err, &rl) && rl.MaxWait == 0 && source.MayWait(ctx)
}

// fileAt is what ReadFile answered for a path at a commit.
type fileAt struct {
	data []byte
	err  error
}

// readFile asks GitHub. Files over 1 MB come without inline content; those
// are read as a git blob.
func (r *Repo) readFile(ctx context.Context, path, ref string) ([]byte, error) {
	var file *github.RepositoryContent
	var dir []*github.RepositoryContent
	_, err := r.call(ctx, true, func() (resp *github.Response, err error) {
		file, dir, resp, err = r.gh.Repositories.GetContents(ctx, r.owner, r.name, path, &github.RepositoryContentGetOptions{Ref: ref})
		return resp, err
	})
	at := ref
	if at == "" {
		at = "the default branch"
	}
	switch {
	case statusOf(err) == http.StatusNotFound:
		return nil, fmt.Errorf("%s at %s: %w: %w", path, at, source.ErrNotFound, err)
	case err != nil:
		return nil, fmt.Errorf("read %s at %s: %w", path, at, err)
	case file == nil || dir != nil:
		return nil, fmt.Errorf("read %s at %s: a directory, not a file", path, at)
	case file.GetEncoding() == "none" && file.GetSize() > 0:
		var b []byte
		_, err := r.call(ctx, true, func() (resp *github.Response, err error) {
			b, resp, err = r.gh.Git.GetBlobRaw(ctx, r.owner, r.name, file.GetSHA())
			return resp, err
		})
		if err != nil {
			return nil, fmt.Errorf("read %s at %s: %w", path, at, err)
		}
		return b, nil
	}
	s, err := file.GetContent()
	if err != nil {
		return nil, fmt.Errorf("read %s at %s: %w", path, at, err)
	}
	return []byte(s), nil
}

// Commit resolves ref: a full sha is read through GraphQL, once (commits
// are immutable); any other ref (branch, tag, short sha) is first resolved
// with a conditional GET /repos/{o}/{r}/commits/{ref}, a 304 while it has
// not moved. REST's dates are in UTC, so the commit itself always comes
// from GraphQL, whose dates keep git's offsets.
func (r *Repo) Commit(ctx context.Context, ref string) (registry.Commit, error) {
	sha := ref
	if !isSHA(ref) {
		var err error
		if sha, err = r.resolve(ctx, ref); err != nil {
			return registry.Commit{}, err
		}
	}
	m, err := r.Commits(ctx, []string{sha})
	if err != nil {
		return registry.Commit{}, fmt.Errorf("commit %s: %w", ref, err)
	}
	c, ok := m[sha]
	if !ok {
		return registry.Commit{}, fmt.Errorf("commit %s: %w", ref, source.ErrNotFound)
	}
	return c, nil
}

// resolve turns a ref into the sha of its commit.
func (r *Repo) resolve(ctx context.Context, ref string) (string, error) {
	var c *github.RepositoryCommit
	_, err := r.call(ctx, true, func() (resp *github.Response, err error) {
		c, resp, err = r.gh.Repositories.GetCommit(conditionally(ctx), r.owner, r.name, escapePath(ref), nil)
		return resp, err
	})
	// GitHub answers 422 "No commit found for SHA: x" for a ref that names
	// nothing, and 404 for some malformed ones.
	if s := statusOf(err); s == http.StatusNotFound ||
		(s == http.StatusUnprocessableEntity && strings.Contains(err.Error(), "No commit found")) {
		return "", fmt.Errorf("commit %s: %w", ref, source.ErrNotFound)
	}
	if err != nil {
		return "", fmt.Errorf("commit %s: %w", ref, err)
	}
	return c.GetSHA(), nil
}

// Commits reads the commits behind many tags (source.CommitReader): the
// ones not read before cost one GraphQL query per hundred, and nothing
// after. Unknown shas are left out.
func (r *Repo) Commits(ctx context.Context, shas []string) (registry.CommitMap, error) {
	m := make(registry.CommitMap, len(shas))
	var todo []string
	asked := map[string]bool{}
	for _, sha := range shas {
		switch c, ok := r.commits.get(sha); {
		case ok:
			m[sha] = c
		case !isSHA(sha):
			// Not a full sha, so not an oid GraphQL takes: resolve it.
			c, err := r.Commit(ctx, sha)
			if errors.Is(err, source.ErrNotFound) {
				continue
			}
			if err != nil {
				return nil, err
			}
			m[c.Hash] = c
		case !asked[sha]:
			asked[sha] = true
			todo = append(todo, sha)
		}
	}
	err := r.objects(ctx, todo, commitFields, func(sha string, raw json.RawMessage) error {
		var c struct {
			OID       string   `json:"oid"`
			Message   string   `json:"message"`
			Author    gqlActor `json:"author"`
			Committer gqlActor `json:"committer"`
		}
		if err := json.Unmarshal(raw, &c); err != nil {
			return err
		}
		if c.OID == "" {
			return nil // not a commit: left out, like an unknown sha
		}
		// GitHub strips the newline git ends every message with (git
		// commit always writes one); put it back so both sources agree.
		msg := c.Message
		if msg != "" && !strings.HasSuffix(msg, "\n") {
			msg += "\n"
		}
		rc := registry.Commit{
			Hash:       c.OID,
			Author:     registry.Person{Name: c.Author.Name, Email: c.Author.Email},
			AuthorDate: c.Author.Date,
			Committer:  registry.Person{Name: c.Committer.Name, Email: c.Committer.Email},
			CommitDate: c.Committer.Date,
			Message:    msg,
		}
		r.commits.put(rc)
		m[sha] = rc
		return nil
	})
	if err != nil {
		return nil, err
	}
	return m, nil
}

// Head is the sha of the default branch's commit, "" for an empty
// repository (source.HeadReader). GitHub answers 409 "Git Repository is
// empty." there.
func (r *Repo) Head(ctx context.Context) (string, error) {
	sha, err := r.resolve(ctx, "HEAD")
	var ge *Error
	if errors.Is(err, source.ErrNotFound) || errors.As(err, &ge) && ge.Status == http.StatusConflict {
		return "", nil
	}
	return sha, err
}

// commitCache holds commits by full sha.
type commitCache struct {
	mu sync.Mutex
	m  map[string]registry.Commit
}

func (c *commitCache) get(sha string) (registry.Commit, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	rc, ok := c.m[sha]
	return rc, ok
}

func (c *commitCache) put(rc registry.Commit) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil {
		c.m = map[string]registry.Commit{}
	}
	c.m[rc.Hash] = rc
}

// isSHA reports whether s is a full sha, which, unlike a branch, always
// names the same commit.
func isSHA(s string) bool {
	if len(s) != 40 {
		return false
	}
	for _, c := range []byte(s) {
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return false
		}
	}
	return true
}
