package ui

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/hookd-dev/hookd/ingest"
	"github.com/hookd-dev/hookd/registry"
	"github.com/hookd-dev/hookd/source"
	"github.com/hookd-dev/hookd/store"
)

const (
	// filesEvery is how often a repository's `.gto` and artifacts index
	// are read again; pages in between use the copy read last.
	filesEvery = time.Minute
	// filesWait bounds reading them when a page needs them the first
	// time; past it the page shows the registry without them.
	filesWait = 5 * time.Second
)

// registries keeps each repository's registry, built from its stored tags
// and the files read last, until either changes.
type registries struct {
	store   Store
	sources func(identity string) (source.Source, error)
	log     *slog.Logger

	mu     sync.Mutex
	byRepo map[string]*entry
}

func newRegistries(st Store, sources func(string) (source.Source, error), log *slog.Logger) *registries {
	return &registries{store: st, sources: sources, log: log, byRepo: map[string]*entry{}}
}

// entry is one repository's registry and files.
type entry struct {
	mu         sync.Mutex
	snap       *snapshot
	files      files
	refreshing bool // the files are being read again
	building   bool // a registry is being built
}

// files is what a registry needs besides the tags.
type files struct {
	source.Files
	head    registry.Commit // the default branch's commit, for annotated artifacts without tags
	problem string          // why they could not be read; "" when they were
	at      time.Time       // when they were read; zero: never
}

// snapshot is a repository's registry as built from one state of its
// stored tags and files. It never changes; what pages derive from it is
// computed once.
type snapshot struct {
	Registry *registry.Registry
	Config   registry.Config
	Index    registry.Index
	// FilesProblem says why `.gto` or the index could not be read.
	FilesProblem string

	tags    string
	filesAt time.Time
	rows    func() []modelRow
}

// get returns the repository's registry. The first time, it is built
// from the stored tags there and then; after that, a change to the tags or
// files is built in the background while pages keep the registry built
// before, so that no page view waits for a rebuild: the next one, a poll
// or two later, shows the change.
func (rs *registries) get(ctx context.Context, repo Repository) (*snapshot, error) {
	version, err := rs.store.TagsVersion(ctx, repo.Identity)
	if err != nil {
		return nil, err
	}
	rs.mu.Lock()
	e := rs.byRepo[repo.Identity]
	if e == nil {
		e = &entry{}
		rs.byRepo[repo.Identity] = e
	}
	rs.mu.Unlock()

	e.mu.Lock()
	defer e.mu.Unlock()
	switch {
	case e.files.at.IsZero():
		rctx, cancel := context.WithTimeout(ctx, filesWait)
		e.files = rs.readFiles(rctx, repo)
		cancel()
	case time.Since(e.files.at) > filesEvery && !e.refreshing:
		e.refreshing = true
		go rs.refresh(e, repo)
	}
	s := e.snap
	switch {
	case s == nil:
		if s, err = rs.build(ctx, repo, version, e.files); err != nil {
			return nil, err
		}
		e.snap = s
	case (s.tags != version || !s.filesAt.Equal(e.files.at)) && !e.building:
		e.building = true
		go rs.rebuild(e, repo, version, e.files)
	}
	return s, nil
}

// rebuildWait bounds a rebuild in the background.
const rebuildWait = 30 * time.Second

func (rs *registries) rebuild(e *entry, repo Repository, version string, f files) {
	ctx, cancel := context.WithTimeout(context.Background(), rebuildWait)
	defer cancel()
	s, err := rs.build(ctx, repo, version, f)
	e.mu.Lock()
	defer e.mu.Unlock()
	e.building = false
	if err != nil {
		rs.log.Warn("dashboard: could not rebuild the registry from the stored tags; showing the one built before", "repository", repo.Identity, "error", err)
		return
	}
	e.snap = s
}

// build makes the registry of the stored tags with the files f.
func (rs *registries) build(ctx context.Context, repo Repository, version string, f files) (*snapshot, error) {
	tags, err := rs.store.Tags(ctx, repo.Identity, false)
	if err != nil {
		return nil, err
	}
	reg := ingest.Registry(tags, registry.Options{Config: f.Config, Head: f.Head, Index: f.Index,
		Commits: func(sha string) (registry.Commit, bool) { return f.head, sha != "" && sha == f.head.Hash }})
	s := &snapshot{Registry: reg, Config: f.Config, Index: f.Index, FilesProblem: f.problem, tags: version, filesAt: f.at}
	s.rows = sync.OnceValue(func() []modelRow { return rowsOf(repo, s) })
	return s, nil
}

// refresh reads the files again in the background; the next page view
// after it rebuilds the registry with them.
func (rs *registries) refresh(e *entry, repo Repository) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	f := rs.readFiles(ctx, repo)
	e.mu.Lock()
	defer e.mu.Unlock()
	e.refreshing = false
	// A failed read keeps the files read before, and is tried again at
	// the next interval.
	if f.problem == "" || e.files.problem != "" {
		e.files = f
	} else {
		e.files.at = f.at
	}
}

func (rs *registries) readFiles(ctx context.Context, repo Repository) files {
	f := files{at: time.Now()}
	src, err := rs.sources(repo.Identity)
	if err == nil {
		f.Files, err = source.ReadFiles(ctx, src)
	}
	if err == nil && f.Head != "" {
		f.head, err = src.Commit(ctx, f.Head)
	}
	if err != nil {
		rs.log.Warn("dashboard: could not read the repository's .gto and artifacts index; showing its tags without them",
			"repository", repo.Identity, "error", err)
		f.problem = err.Error()
	}
	return f
}

// eventCache keeps events by id: a recorded event never changes, and run
// lists show each run's.
type eventCache struct {
	store Store
	mu    sync.Mutex
	byID  map[int64]store.Event
}

// eventCacheSize bounds the cache; past it, it starts again empty.
const eventCacheSize = 20000

func newEventCache(st Store) *eventCache {
	return &eventCache{store: st, byID: map[int64]store.Event{}}
}

func (c *eventCache) get(ctx context.Context, id int64) (store.Event, error) {
	c.mu.Lock()
	e, ok := c.byID[id]
	c.mu.Unlock()
	if ok {
		return e, nil
	}
	e, err := c.store.Event(ctx, id)
	if err != nil {
		return e, err
	}
	c.mu.Lock()
	if len(c.byID) >= eventCacheSize {
		c.byID = map[int64]store.Event{}
	}
	c.byID[id] = e
	c.mu.Unlock()
	return e, nil
}
