package github

import (
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

// tagCache keeps every tag object read so far. Tag objects are immutable,
// so an entry never goes stale.
type tagCache struct {
	mu      sync.Mutex
	objects map[string]tagObject // by tag object sha
}

// tagObject is what Tags needs of an annotated tag object.
type tagObject struct {
	name       string // as the object records it
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
// nothing changed) plus, for the annotated tag objects this Repo has not
// seen before, one GraphQL query per hundred.
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
	// whose target is not listed itself adds it to the next round.
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
			t.ObjectName, t.Target = o.name, o.target
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
	var todo []string
	seen := map[string]bool{}
	for _, sha := range shas {
		if _, ok := r.tags.object(sha); !ok && !seen[sha] {
			seen[sha] = true
			todo = append(todo, sha)
		}
	}
	err := r.objects(ctx, todo, tagFields, func(sha string, raw json.RawMessage) error {
		var t struct {
			OID     string    `json:"oid"`
			Name    string    `json:"name"`
			Message string    `json:"message"`
			Tagger  *gqlActor `json:"tagger"` // null in a tag object without one
			Target  struct {
				OID      string `json:"oid"`
				Typename string `json:"__typename"`
			} `json:"target"`
		}
		if err := json.Unmarshal(raw, &t); err != nil {
			return err
		}
		if t.OID == "" {
			return errors.New("not a tag object")
		}
		o := tagObject{name: t.Name, message: t.Message, target: t.Target.OID, targetType: strings.ToLower(t.Target.Typename)}
		if t.Tagger != nil {
			o.tagger, o.date = registry.Person{Name: t.Tagger.Name, Email: t.Tagger.Email}, t.Tagger.Date
		}
		r.tags.store(sha, o)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("tag objects: %w", err)
	}
	var next []string
	for _, sha := range shas {
		o, ok := r.tags.object(sha)
		if !ok {
			return nil, fmt.Errorf("tag object %s: %w", sha, source.ErrNotFound)
		}
		if o.targetType == "tag" {
			next = append(next, o.target)
		}
	}
	return next, nil
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
	// The answer's date is in UTC, so the tag object is not cached from
	// it: the next listing reads it through GraphQL, with the offset it was
	// stored with. The date returned is the one asked for, if any: the same
	// instant, in the offset the caller chose.
	date := nt.Date
	if date.IsZero() {
		date = created.GetTagger().GetDate().Time
	}
	return registry.Tag{
		Name:       nt.Name,
		ObjectName: created.GetTag(),
		Annotated:  true,
		Object:     created.GetSHA(),
		Commit:     created.GetObject().GetSHA(),
		Target:     created.GetObject().GetSHA(),
		Tagger:     registry.Person{Name: created.GetTagger().GetName(), Email: created.GetTagger().GetEmail()},
		Date:       date,
		Message:    created.GetMessage(),
	}, nil
}

func isRefExists(err error) bool {
	var e *Error
	return errors.As(err, &e) && e.Status == http.StatusUnprocessableEntity &&
		strings.Contains(e.Message, "Reference already exists")
}
