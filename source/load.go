package source

import (
	"context"
	"errors"
	"fmt"

	"golang.org/x/sync/errgroup"

	"github.com/hookd-dev/hookd/registry"
)

// CommitReader is a Source that reads many commits in one go (gitdir does
// it in one git process). Load uses it when the source has it.
type CommitReader interface {
	Commits(ctx context.Context, shas []string) (registry.CommitMap, error)
}

// HeadReader is a Source that can tell the commit of its default branch,
// and that it has none yet (an empty repository), without an error.
type HeadReader interface {
	Head(ctx context.Context) (string, error)
}

// commitLookups bounds the concurrent Commit calls of a source without
// CommitReader: enough to hide latency, few enough for an API's limits.
const commitLookups = 8

// Load reads everything registry.New needs from src: the tags, `.gto`,
// the artifacts index at HEAD and the commits behind the tags, and returns
// the registry GTO would see. A malformed `.gto` or index is an error, as
// it is for GTO.
func Load(ctx context.Context, src Source) (*registry.Registry, error) {
	tags, err := src.Tags(ctx)
	if err != nil {
		return nil, fmt.Errorf("list tags: %w", err)
	}
	return LoadWithTags(ctx, src, tags)
}

// LoadWithTags is Load with the tags already listed.
func LoadWithTags(ctx context.Context, src Source, tags []registry.Tag) (*registry.Registry, error) {
	var cfg registry.Config
	data, err := src.ReadFile(ctx, registry.ConfigFile, "")
	switch {
	case err == nil:
		if cfg, err = registry.ParseConfig(data); err != nil {
			return nil, err
		}
	case !errors.Is(err, ErrNotFound):
		return nil, err
	}
	head, err := headOf(ctx, src)
	if err != nil {
		return nil, err
	}
	var index registry.Index
	if head != "" {
		data, err := src.ReadFile(ctx, cfg.IndexFile(), head)
		switch {
		case err == nil:
			if index, err = registry.ParseIndex(data); err != nil {
				return nil, err
			}
		case !errors.Is(err, ErrNotFound):
			return nil, err
		}
	}
	commits, err := readCommits(ctx, src, registry.CommitsToLookUp(tags, head))
	if err != nil {
		return nil, err
	}
	return registry.New(tags, registry.Options{Config: cfg, Head: head, Index: index, Commits: commits.Get}), nil
}

// headOf is the full sha of the default branch's commit, "" when the
// repository has no commit.
func headOf(ctx context.Context, src Source) (string, error) {
	if h, ok := src.(HeadReader); ok {
		return h.Head(ctx)
	}
	c, err := src.Commit(ctx, "HEAD")
	if errors.Is(err, ErrNotFound) {
		return "", nil
	}
	return c.Hash, err
}

func readCommits(ctx context.Context, src Source, shas []string) (registry.CommitMap, error) {
	if cr, ok := src.(CommitReader); ok {
		return cr.Commits(ctx, shas)
	}
	found := make([]registry.Commit, len(shas))
	g, ctx := errgroup.WithContext(ctx)
	g.SetLimit(commitLookups)
	for i, sha := range shas {
		g.Go(func() error {
			c, err := src.Commit(ctx, sha)
			if errors.Is(err, ErrNotFound) {
				return nil // the registry leaves unknown commits out
			}
			found[i] = c
			return err
		})
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	m := make(registry.CommitMap, len(shas))
	for _, c := range found {
		if c.Hash != "" {
			m[c.Hash] = c
		}
	}
	return m, nil
}
