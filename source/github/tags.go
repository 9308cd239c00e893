package github

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/google/go-github/v60/github"
	"golang.org/x/sync/errgroup"

	"github.com/hookd-dev/hookd/registry"
	"github.com/hookd-dev/hookd/source"
)

// fetchers is how many tag objects are fetched at once on a cold listing.
// GitHub's secondary limits punish many concurrent requests from one
// client; a handful keeps a 10,000-tag repository from taking an age.
const fetchers = 4

// tagCache keeps every tag object read so far. Tag objects are immutable,
// so an entry never goes stale.
type tagCache struct {
	mu      sync.Mutex
	objects map[string]tagObject // by tag object sha
}

// tagObject is what Tags needs of an annotated tag object.
type tagObject struct {
	tagger     registry.Person
	date       time.Time
	message    string
	target     string
	targetType string
}

func (c *tagCache) object(sha string) (tagObject, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	o, ok := c.objects[sha]
	return o, ok
}

func (c *tagCache) store(sha string, o tagObject) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.objects == nil {
		c.objects = map[string]tagObject{}
	}
	c.objects[sha] = o
}

// Tags lists every tag: one conditional request for the refs (a 304 when
// nothing changed) plus one request per annotated tag object this Repo has
// not seen before.
func (r *Repo) Tags(ctx context.Context) ([]registry.Tag, error) {
	refs, err := r.listTagRefs(ctx)
	if err != nil {
		return nil, err
	}
	var pending []string
	for _, ref := range refs {
		if ref.GetObject().GetType() == "tag" {
			pending = append(pending, ref.GetObject().GetSHA())
		}
	}
	// Each round fetches the tag objects not cached yet; a tag of a tag
	// adds its target to the next round.
	for len(pending) > 0 {
		if pending, err = r.fetchTagObjects(ctx, pending); err != nil {
			return nil, err
		}
	}
	tags := make([]registry.Tag, 0, len(refs))
	for _, ref := range refs {
		name, ok := strings.CutPrefix(ref.GetRef(), "refs/tags/")
		if !ok {
			continue
		}
		obj := ref.GetObject()
		t := registry.Tag{Name: name}
		switch obj.GetType() {
		case "commit":
			t.Commit = obj.GetSHA()
		case "tag":
			o, _ := r.tags.object(obj.GetSHA())
			t.Annotated, t.Object = true, obj.GetSHA()
			t.Tagger, t.Date, t.Message = o.tagger, o.date, o.message
			t.Commit = r.peel(o)
		}
		tags = append(tags, t)
	}
	return tags, nil
}

// peel follows a chain of tag objects, all cached by now, to the commit at
// its end; "" if the chain ends in a tree or blob.
func (r *Repo) peel(o tagObject) string {
	for o.targetType == "tag" {
		o, _ = r.tags.object(o.target)
	}
	if o.targetType != "commit" {
		return ""
	}
	return o.target
}

// listTagRefs lists the tag refs with a conditional request: GitHub
// answers 304 when no tag changed.
func (r *Repo) listTagRefs(ctx context.Context) ([]*github.Reference, error) {
	// "tags/" with the slash, so that a branch named "tagsfoo" is not
	// matched. GitHub answers every match at once; there is no paging.
	u := fmt.Sprintf("repos/%s/%s/git/matching-refs/tags/", escapePath(r.owner), escapePath(r.name))
	var refs []*github.Reference
	_, err := r.call(ctx, true, func() (*github.Response, error) {
		req, err := r.gh.NewRequest(http.MethodGet, u, nil)
		if err != nil {
			return nil, err
		}
		return r.gh.Do(conditionally(ctx), req, &refs)
	})
	return refs, err
}

// fetchTagObjects reads the tag objects in shas that are not cached and
// returns the targets of all of them that are further tag objects (git's
// objects cannot form a cycle, so following them ends).
func (r *Repo) fetchTagObjects(ctx context.Context, shas []string) ([]string, error) {
	var (
		mu   sync.Mutex
		next []string
	)
	follow := func(o tagObject) {
		if o.targetType == "tag" {
			mu.Lock()
			next = append(next, o.target)
			mu.Unlock()
		}
	}
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(fetchers)
	for _, sha := range shas {
		if o, ok := r.tags.object(sha); ok {
			follow(o)
			continue
		}
		g.Go(func() error {
			o, err := r.getTagObject(gctx, sha)
			if err == nil {
				follow(o)
			}
			return err
		})
	}
	return next, g.Wait()
}

func (r *Repo) getTagObject(ctx context.Context, sha string) (tagObject, error) {
	var t *github.Tag
	_, err := r.call(ctx, true, func() (resp *github.Response, err error) {
		t, resp, err = r.gh.Git.GetTag(ctx, r.owner, r.name, sha)
		return resp, err
	})
	if err != nil {
		return tagObject{}, fmt.Errorf("tag object %s: %w", sha, err)
	}
	o := toTagObject(t)
	r.tags.store(sha, o)
	return o, nil
}

func toTagObject(t *github.Tag) tagObject {
	return tagObject{
		tagger:     registry.Person{Name: t.GetTagger().GetName(), Email: t.GetTagger().GetEmail()},
		date:       t.GetTagger().GetDate().Time,
		message:    t.GetMessage(),
		target:     t.GetObject().GetSHA(),
		targetType: t.GetObject().GetType(),
	}
}

// CreateTag creates the tag object, then its ref. When the ref is taken
// GitHub answers 422 "Reference already exists" and the tag object just
// created is left unreferenced, to be collected by GitHub like any garbage.
func (r *Repo) CreateTag(ctx context.Context, nt source.NewTag) (registry.Tag, error) {
	req := &github.Tag{
		Tag:     &nt.Name,
		Message: &nt.Message,
		Object:  &github.GitObject{SHA: &nt.Commit, Type: github.String("commit")},
	}
	// Without a tagger GitHub uses the authenticated identity and the
	// current time; a date alone cannot be sent.
	if nt.Tagger.Name != "" {
		req.Tagger = &github.CommitAuthor{Name: &nt.Tagger.Name, Email: &nt.Tagger.Email}
		if !nt.Date.IsZero() {
			req.Tagger.Date = &github.Timestamp{Time: nt.Date}
		}
	}
	var created *github.Tag
	_, err := r.call(ctx, false, func() (resp *github.Response, err error) {
		created, resp, err = r.gh.Git.CreateTag(ctx, r.owner, r.name, req)
		return resp, err
	})
	if err != nil {
		return registry.Tag{}, fmt.Errorf("create tag object %s: %w", nt.Name, err)
	}
	ref := &github.Reference{
		Ref:    github.String("refs/tags/" + nt.Name),
		Object: &github.GitObject{SHA: created.SHA},
	}
	_, err = r.call(ctx, false, func() (resp *github.Response, err error) {
		_, resp, err = r.gh.Git.CreateRef(ctx, r.owner, r.name, ref)
		return resp, err
	})
	if err != nil {
		if isRefExists(err) {
			return registry.Tag{}, fmt.Errorf("create tag %s: %w: %w", nt.Name, source.ErrTagExists, err)
		}
		return registry.Tag{}, fmt.Errorf("create tag %s: %w", nt.Name, err)
	}
	o := toTagObject(created)
	r.tags.store(created.GetSHA(), o)
	return registry.Tag{
		Name:      nt.Name,
		Annotated: true,
		Object:    created.GetSHA(),
		Commit:    o.target,
		Tagger:    o.tagger,
		Date:      o.date,
		Message:   o.message,
	}, nil
}

func isRefExists(err error) bool {
	var e *Error
	return errors.As(err, &e) && e.Status == http.StatusUnprocessableEntity &&
		strings.Contains(e.Message, "Reference already exists")
}
