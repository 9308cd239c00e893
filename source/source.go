// Package source owns where tags live. A [Source] reads a repository's tags
// and files and creates annotated tags; its implementations are
// source/gitdir (a repository on disk, through the git CLI) and
// source/github (the GitHub REST API). Everything above this package works
// with either.
package source

import (
	"context"
	"errors"
	"time"

	"github.com/hookd-dev/hookd/registry"
)

// Source is a repository that holds GTO tags.
type Source interface {
	// Tags lists every tag of the repository, annotated or lightweight.
	Tags(ctx context.Context) ([]registry.Tag, error)
	// ReadFile returns a file's content at ref; "" means the default
	// branch (HEAD for a local repository). A missing file is ErrNotFound.
	ReadFile(ctx context.Context, path, ref string) ([]byte, error)
	// Commit resolves a ref (branch, tag, short or full sha) to the commit
	// it names. An unknown ref is ErrNotFound.
	Commit(ctx context.Context, ref string) (registry.Commit, error)
	// CreateTag creates an annotated tag and its ref. A name that is
	// already taken is ErrTagExists, and nothing is created.
	CreateTag(ctx context.Context, t NewTag) (registry.Tag, error)
}

// NewTag is an annotated tag to create.
type NewTag struct {
	Name    string
	Commit  string // full sha
	Message string
	// Tagger and Date are optional: the source's identity and the current
	// time are used when they are zero.
	Tagger registry.Person
	Date   time.Time
}

var (
	// ErrNotFound is returned for a ref or file that does not exist.
	ErrNotFound = errors.New("not found")
	// ErrTagExists is returned when a tag name is already taken.
	ErrTagExists = errors.New("tag already exists")
)

// WithoutWaiting marks ctx for calls that must not wait out a limit the
// source is under, such as GitHub's rate limit: such a call fails at once
// with an error whose RetryAt() time.Time method says when calling again
// can succeed. A queued job uses it to wait in the queue, where what it
// works on can show the wait, instead of holding a worker meanwhile.
func WithoutWaiting(ctx context.Context) context.Context {
	return context.WithValue(ctx, noWaiting{}, true)
}

// MayWait reports whether calls under ctx may wait out the source's limits
// (see WithoutWaiting).
func MayWait(ctx context.Context) bool {
	no, _ := ctx.Value(noWaiting{}).(bool)
	return !no
}

type noWaiting struct{}
