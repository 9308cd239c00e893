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

// FileReader is a Source that reads one file at many refs in one go
// (gitdir again). Load uses it for the artifacts index at every tagged
// commit, whose annotations GTO attaches to each version; a source without
// it gets the index at HEAD only, which saves a call per commit on an API.
type FileReader interface {
	Files(ctx context.Context, path string, refs []string) (map[string][]byte, error)
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
//
// Listing the tags is the slow part on a large registry, so the files are
// read meanwhile.
func Load(ctx context.Context, src Source) (*registry.Registry, error) {
	var (
		tags  []registry.Tag
		files Files
	)
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() (err error) {
		if tags, err = src.Tags(gctx); err != nil {
			return fmt.Errorf("list tags: %w", err)
		}
		return nil
	})
	g.Go(func() (err error) {
		files, err = ReadFiles(gctx, src)
		return err
	})
	if err := g.Wait(); err != nil {
		return nil, err
	}
	shas := registry.CommitsToLookUp(tags, files.Head)
	var (
		commits registry.CommitMap
		indexAt func(sha string) registry.Index
	)
	g, gctx = errgroup.WithContext(ctx)
	g.Go(func() (err error) {
		commits, err = readCommits(gctx, src, shas)
		return err
	})
	g.Go(func() (err error) {
		indexAt, err = readIndexes(gctx, src, files, shas)
		return err
	})
	if err := g.Wait(); err != nil {
		return nil, err
	}
	return registry.New(tags, registry.Options{
		Config: files.Config, Head: files.Head, Index: files.Index,
		Commits: commits.Get, IndexAt: indexAt,
	}), nil
}

// readIndexes reads the artifacts index at every commit in shas, when the
// source can do it in one go; nil leaves the registry with the index at
// HEAD. An index that does not parse at an older commit counts as absent:
// HEAD's is checked, and a mistake in history must not make the registry
// unreadable for good.
func readIndexes(ctx context.Context, src Source, files Files, shas []string) (func(string) registry.Index, error) {
	fr, ok := src.(FileReader)
	if !ok {
		return nil, nil
	}
	data, err := fr.Files(ctx, files.Config.IndexFile(), shas)
	if err != nil {
		return nil, err
	}
	indexes := make(map[string]registry.Index, len(data))
	for sha, d := range data {
		if idx, err := registry.ParseIndex(d); err == nil {
			indexes[sha] = idx
		}
	}
	indexes[files.Head] = files.Index
	return func(sha string) registry.Index { return indexes[sha] }, nil
}

// Files is what the registry reads from the default branch: `.gto`, the
// branch's commit, and the artifacts index there.
type Files struct {
	Config registry.Config
	Head   string // "" for an empty repository
	Index  registry.Index
}

// ReadFiles reads src's Files; a malformed `.gto` or index is an error, as
// it is for GTO. A registry built from stored tags needs them beside the
// tags.
func ReadFiles(ctx context.Context, src Source) (Files, error) {
	var f Files
	data, err := src.ReadFile(ctx, registry.ConfigFile, "")
	switch {
	case err == nil:
		if f.Config, err = registry.ParseConfig(data); err != nil {
			return f, err
		}
	case !errors.Is(err, ErrNotFound):
		return f, err
	}
	if f.Head, err = headOf(ctx, src); err != nil || f.Head == "" {
		return f, err
	}
	data, err = src.ReadFile(ctx, f.Config.IndexFile(), f.Head)
	switch {
	case err == nil:
		f.Index, err = registry.ParseIndex(data)
		return f, err
	case errors.Is(err, ErrNotFound):
		return f, nil
	}
	return f, err
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
