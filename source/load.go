package source

import (
	"context"
	"errors"
	"fmt"

	"golang.org/x/sync/errgroup"

	"github.com/hookd-dev/hookd/registry"
)

// CommitReader is a Source that reads many commits in one go (gitdir does
// it in one git process). Load uses it when the source has it. The map is
// keyed by the shas asked for; a tag object's sha gives the commit it
// peels to, as GTO's resolve_commit does.
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

// ConfigReader is a Source that keeps `.gto` somewhere other than the
// default branch, where GTO reads it: a local repository's working tree,
// or a bare repository's git directory. A missing file is ErrNotFound.
type ConfigReader interface {
	GTOConfig(ctx context.Context) ([]byte, error)
}

// ConfigFile returns the repository's `.gto` as GTO reads it: where a
// ConfigReader keeps it, else on the default branch (GitHub). A missing
// file is ErrNotFound.
func ConfigFile(ctx context.Context, src Source) ([]byte, error) {
	if cr, ok := src.(ConfigReader); ok {
		return cr.GTOConfig(ctx)
	}
	return src.ReadFile(ctx, registry.ConfigFile, "")
}

// HeadReader is a Source that can tell the commit of its default branch,
// and that it has none yet (an empty repository), without an error.
type HeadReader interface {
	Head(ctx context.Context) (string, error)
}

// commitLookups bounds the concurrent Commit calls of a source without
// CommitReader: enough to hide latency, few enough for an API's limits.
const commitLookups = 8

// Load reads everything registry.New needs from src: the tags, `.gto`
// (see ConfigFile), the artifacts index at HEAD and at the tags' commits,
// and the commits behind the tags, and returns the registry GTO would see.
// A malformed `.gto` is an error, as it is for GTO. When GTO would refuse
// to build the state (a malformed index at HEAD or at a version's commit,
// ManyVersions: see registry.Registry.Err), Load returns the registry and
// that *registry.StateError both, so that what GTO answers without the
// state (check-ref of a tag that is not GTO's, the stages `.gto` lists) can
// still be answered.
//
// Listing the tags is the slow part on a large registry, so the files are
// read meanwhile.
func Load(ctx context.Context, src Source) (*registry.Registry, error) {
	var (
		tags  []registry.Tag
		files repoFiles
	)
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() (err error) {
		if tags, err = src.Tags(gctx); err != nil {
			return fmt.Errorf("list tags: %w", err)
		}
		return nil
	})
	g.Go(func() (err error) {
		files, err = readFiles(gctx, src)
		return err
	})
	if err := g.Wait(); err != nil {
		return nil, err
	}
	shas := registry.CommitsToLookUp(tags, files.head)
	var (
		commits registry.CommitMap
		indexes indexes
	)
	g, gctx = errgroup.WithContext(ctx)
	g.Go(func() (err error) {
		commits, err = readCommits(gctx, src, shas)
		return err
	})
	g.Go(func() (err error) {
		indexes, err = readIndexes(gctx, src, files, shas)
		return err
	})
	if err := g.Wait(); err != nil {
		return nil, err
	}
	opts := registry.Options{
		Config: files.config, Head: files.head, Index: files.index,
		Commits: commits.Get, IndexErr: indexes.err,
	}
	if indexes.at != nil {
		opts.IndexAt = indexes.get
	}
	reg := registry.New(tags, opts)
	return reg, reg.Err()
}

// indexes are the artifacts index at commits, and why it is malformed at
// those where it is.
type indexes struct {
	at   map[string]registry.Index
	errs map[string]error
}

func (x indexes) get(sha string) registry.Index { return x.at[sha] }
func (x indexes) err(sha string) error          { return x.errs[sha] }

// readIndexes reads the artifacts index at every commit in shas, when the
// source can do it in one go; without, the registry has the index at HEAD
// only. GTO reads the index at every version's commit and refuses a
// malformed one there as at HEAD, so each is parsed and its error kept.
func readIndexes(ctx context.Context, src Source, files repoFiles, shas []string) (indexes, error) {
	x := indexes{errs: map[string]error{files.head: files.indexErr}}
	fr, ok := src.(FileReader)
	if !ok {
		return x, nil
	}
	data, err := fr.Files(ctx, files.config.IndexFile(), shas)
	if err != nil {
		return x, err
	}
	x.at = make(map[string]registry.Index, len(data))
	for sha, d := range data {
		if x.at[sha], err = registry.ParseIndex(d); err != nil {
			x.errs[sha] = err
		}
	}
	x.at[files.head], x.errs[files.head] = files.index, files.indexErr
	return x, nil
}

// repoFiles is what the registry reads beside the tags: `.gto`, the head
// of the default branch and the index there.
type repoFiles struct {
	config   registry.Config
	head     string
	index    registry.Index
	indexErr error // why the index at head is malformed
}

func readFiles(ctx context.Context, src Source) (repoFiles, error) {
	var f repoFiles
	data, err := ConfigFile(ctx, src)
	switch {
	case err == nil:
		if f.config, err = registry.ParseConfig(data); err != nil {
			return f, err
		}
	case !errors.Is(err, ErrNotFound):
		return f, err
	}
	if f.head, err = headOf(ctx, src); err != nil || f.head == "" {
		return f, err
	}
	data, err = src.ReadFile(ctx, f.config.IndexFile(), f.head)
	switch {
	case err == nil:
		f.index, f.indexErr = registry.ParseIndex(data)
		return f, nil
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
	for i, c := range found {
		if c.Hash != "" {
			m[shas[i]] = c
		}
	}
	return m, nil
}

// Files is what a registry needs beside the tags: `.gto`, the head of the
// default branch, and the artifacts index there.
type Files struct {
	Config registry.Config
	Head   string // "" for an empty repository
	Index  registry.Index
	// IndexErr says why the index at Head is malformed (registry.Options'
	// IndexErr for Head).
	IndexErr error
}

// ReadFiles reads src's Files as Load does beside the tags, for a
// registry built from tags stored elsewhere. A malformed `.gto` is an
// error, as it is for GTO.
func ReadFiles(ctx context.Context, src Source) (Files, error) {
	f, err := readFiles(ctx, src)
	return Files{Config: f.config, Head: f.head, Index: f.index, IndexErr: f.indexErr}, err
}
