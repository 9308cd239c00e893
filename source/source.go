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
