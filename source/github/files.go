package github

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"

	"github.com/google/go-github/v60/github"
	"golang.org/x/sync/errgroup"

	"github.com/hookd-dev/hookd/registry"
	"github.com/hookd-dev/hookd/source"
)

// ReadFile reads a file through the contents API. A file at a full sha
// is kept, found or not (a commit's tree never changes); at a branch or
// the default branch it is read conditionally: reading `.gto` again costs
// a 304 while it is unchanged.
func (r *Repo) ReadFile(ctx context.Context, path, ref string) ([]byte, error) {
	if !isSHA(ref) {
		return r.readFile(conditionally(ctx), path, ref)
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

// Commit resolves ref with GET /repos/{o}/{r}/commits/{ref}, which takes
// branches, tags and full or short shas. A full sha seen before costs
// nothing, commits being immutable; other refs are asked conditionally.
func (r *Repo) Commit(ctx context.Context, ref string) (registry.Commit, error) {
	rctx := ctx
	if isSHA(ref) {
		if c, ok := r.commits.get(ref); ok {
			return c, nil
		}
	} else {
		// A branch moves; asking again is cheap when it did not.
		rctx = conditionally(ctx)
	}
	var c *github.RepositoryCommit
	_, err := r.call(ctx, true, func() (resp *github.Response, err error) {
		c, resp, err = r.gh.Repositories.GetCommit(rctx, r.owner, r.name, escapePath(ref), nil)
		return resp, err
	})
	// GitHub answers 422 "No commit found for SHA: x" for a ref that names
	// nothing, and 404 for some malformed ones.
	if s := statusOf(err); s == http.StatusNotFound ||
		(s == http.StatusUnprocessableEntity && strings.Contains(err.Error(), "No commit found")) {
		return registry.Commit{}, fmt.Errorf("commit %s: %w", ref, source.ErrNotFound)
	}
	if err != nil {
		return registry.Commit{}, fmt.Errorf("commit %s: %w", ref, err)
	}
	gc := c.GetCommit()
	// The API strips the newline git ends every message with (git commit
	// always writes one); put it back so both sources agree.
	msg := gc.GetMessage()
	if msg != "" && !strings.HasSuffix(msg, "\n") {
		msg += "\n"
	}
	rc := registry.Commit{
		Hash:       c.GetSHA(),
		Author:     registry.Person{Name: gc.GetAuthor().GetName(), Email: gc.GetAuthor().GetEmail()},
		AuthorDate: gc.GetAuthor().GetDate().Time,
		Committer:  registry.Person{Name: gc.GetCommitter().GetName(), Email: gc.GetCommitter().GetEmail()},
		CommitDate: gc.GetCommitter().GetDate().Time,
		Message:    msg,
	}
	r.commits.put(rc)
	return rc, nil
}

// Commits reads the commits behind many tags (source.CommitReader): each
// commit costs one request the first time and nothing after. Unknown shas
// are left out.
func (r *Repo) Commits(ctx context.Context, shas []string) (registry.CommitMap, error) {
	m := make(registry.CommitMap, len(shas))
	var mu sync.Mutex
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(fetchers)
	for _, sha := range shas {
		g.Go(func() error {
			c, err := r.Commit(gctx, sha)
			if errors.Is(err, source.ErrNotFound) {
				return nil
			}
			if err != nil {
				return err
			}
			mu.Lock()
			m[c.Hash] = c
			mu.Unlock()
			return nil
		})
	}
	return m, g.Wait()
}

// Head is the sha of the default branch's commit, "" for an empty
// repository (source.HeadReader). GitHub answers 409 "Git Repository is
// empty." there.
func (r *Repo) Head(ctx context.Context) (string, error) {
	c, err := r.Commit(ctx, "HEAD")
	var ge *Error
	if errors.Is(err, source.ErrNotFound) || errors.As(err, &ge) && ge.Status == http.StatusConflict {
		return "", nil
	}
	return c.Hash, err
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
