// Package ingest is where a tag becomes an event. It owns the step between
// a stored delivery (or a periodic re-listing) and the GTO events hookd
// records: which refs a delivery names, which tags are new, what each new
// tag means under GTO's rules, and what the stage held before and after.
//
// Every path ends in one place, [Processor.sync], so that a tag that arrives
// by webhook, by redelivery, by the post-receive hook and by the reconciler
// produces one event, not four:
//
//   - [Processor.ProcessDelivery] reads a stored delivery. A GitHub push of a
//     tag makes it re-list the repository's tags through its source (GitHub
//     sends no tagger or message, and the listing is cheap when unchanged);
//     a post-receive hook delivery carries the tag objects itself, and what
//     it claims is held against the repository first (trust.go).
//   - [Processor.Reconcile] re-lists a repository and catches everything no
//     delivery announced: GitHub sends nothing for a push of more than three
//     tags, deliveries get lost, and hookd is sometimes down.
//
// sync holds the repository while it works, within the process and across
// every replica on the database (the store's HoldRepository), and lists
// only once it holds it: a listing older than tags another replica stored
// meanwhile would make them look deleted, and before/after states must see
// every event before them.
//
// sync compares what it sees with the tags the store has, records an event
// for each new annotated GTO tag (in tagger-date order, the order GTO reads
// them in) and for each deletion, and only then stores the tags themselves.
// Recording and dispatching the event first means a crash in between can
// only make the next sync do both again, which the store's uniqueness on
// (repository, tag object, type) and on (event, action) turns into no-ops:
// an event and its deploy runs are never lost and never doubled.
//
// The first listing of a repository hookd has never listed is a baseline:
// its existing tags are stored without events, so that pointing hookd at a
// registry with years of history does not replay every old assignment into
// deploy actions. Tags that a delivery announced still get their events:
// the delivery being processed, and every one of the repository's
// deliveries still queued, which were accepted before the baseline ran.
package ingest

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"maps"
	"math"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/hookd-dev/hookd/registry"
	"github.com/hookd-dev/hookd/source"
	"github.com/hookd-dev/hookd/store"
	"github.com/hookd-dev/hookd/tagparse"
)

// Store is what ingest needs of the store.
type Store interface {
	Tags(ctx context.Context, repository string, deleted bool) ([]store.Tag, error)
	// ApplyTags and RecordEvents write a batch in one transaction each.
	ApplyTags(ctx context.Context, repository string, deleted []string, present []store.Tag) error
	RecordEvents(ctx context.Context, evs []store.Event) ([]store.Event, []bool, error)
	Listing(ctx context.Context, repository string) (store.Listing, error)
	SaveListing(ctx context.Context, l store.Listing) error
	// QueuedDeliveries calls fn with each still-queued delivery of a
	// repository, payload included.
	QueuedDeliveries(ctx context.Context, repository string, fn func(store.Delivery) error) error
	// HoldRepository gives one sync at a time a repository, across
	// processes (see store.Store.HoldRepository).
	HoldRepository(ctx context.Context, repository string) (context.Context, func(), error)
	// ClockSkew bounds how far the clocks of the processes sharing the
	// store may disagree.
	ClockSkew() time.Duration
}

// Sources finds the source of a configured repository.
type Sources func(repository string) (source.Source, error)

// Processor turns deliveries and listings into events.
type Processor struct {
	store   Store
	sources Sources
	logger  *slog.Logger
	// dispatch hands events to what acts on them (deploy's engine).
	dispatch func(context.Context, []store.Event) error
	names    func(string) string // see WithRepositoryNames

	mu    sync.Mutex
	repos map[string]chan struct{} // a repository's turn in this process
	// listed is, by repository, when the newest full listing applied in
	// this process started (baselines excepted): a GitHub delivery
	// received before it needs no listing of its own.
	listed map[string]time.Time

	events  *prometheus.CounterVec
	latency prometheus.Histogram
}

// Option configures a Processor.
type Option func(*Processor)

// WithLogger sets the logger (default: slog.Default()).
func WithLogger(l *slog.Logger) Option { return func(p *Processor) { p.logger = l } }

// WithDispatch sets what acts on events. It is called with stored events,
// in order, before the tags behind them are stored, every time the tags
// are not stored yet: so it may see an event more than once (after a
// crash) and must be idempotent, as deploy's Engine.DispatchAll is; an
// error fails the sync, which is retried. A burst of new tags comes in
// batches of up to writeBatch tags' events.
func WithDispatch(f func(context.Context, []store.Event) error) Option {
	return func(p *Processor) { p.dispatch = f }
}

// WithRepositoryNames sets the name ingest records a repository by when it
// is reported otherwise: a path repository by its path, in a delivery or a
// reconciliation an older hookd queued (default: as reported).
func WithRepositoryNames(name func(reported string) string) Option {
	return func(p *Processor) { p.names = name }
}

// repositoryName is the name of the repository reported as reported.
func (p *Processor) repositoryName(reported string) string {
	if p.names == nil {
		return reported
	}
	return p.names(reported)
}

// WithMetrics registers the processor's metrics in reg: events recorded by
// type, and how long deliveries took from receipt to processed.
func WithMetrics(reg prometheus.Registerer) Option {
	return func(p *Processor) { reg.MustRegister(p.events, p.latency) }
}

// New returns a Processor that reads and writes st and lists tags through
// sources.
func New(st Store, sources Sources, opts ...Option) *Processor {
	p := &Processor{store: st, sources: sources, logger: slog.Default(), repos: map[string]chan struct{}{}, listed: map[string]time.Time{},
		events: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "hookd_events_total",
			Help: "GTO events recorded, by type (registration, assignment, ..., tag_deleted).",
		}, []string{"type"}),
		latency: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "hookd_delivery_processing_seconds",
			Help:    "Time from a delivery's receipt to its processing done (queue wait included).",
			Buckets: []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60},
		}),
	}
	for _, o := range opts {
		o(p)
	}
	return p
}

// A sync holds its repository first within this process (lock), so that
// its own syncs queue here rather than poll the database, then across
// processes through the store (holdAcross). Each event's before/after
// state must see the events before it, and a listing must be newer than
// whatever another sync stored, or a tag stored meanwhile looks deleted.

// holdAcross holds repository across processes; the returned context ends
// if the hold is lost, and release gives the repository up.
func (p *Processor) holdAcross(ctx context.Context, repository string) (context.Context, func(), error) {
	held, release, err := p.store.HoldRepository(ctx, repository)
	if err != nil {
		return nil, nil, fmt.Errorf("hold %s: %w", repository, err)
	}
	return held, release, nil
}

// lock serialises the syncs of one repository in this process; the wait
// ends with ctx.
func (p *Processor) lock(ctx context.Context, repository string) (func(), error) {
	p.mu.Lock()
	m, ok := p.repos[repository]
	if !ok {
		m = make(chan struct{}, 1)
		p.repos[repository] = m
	}
	p.mu.Unlock()
	select {
	case m <- struct{}{}:
		return func() { <-m }, nil
	case <-ctx.Done():
		return nil, context.Cause(ctx)
	}
}

// coveredSince reports whether a full listing of repository that started
// after t has been applied. t may be another process's clock, when a
// replica accepted the delivery, so the listing must have started the
// store's clock skew later: a wrong guess would leave the delivery's tags
// to the next reconciliation.
func (p *Processor) coveredSince(repository string, t time.Time) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.listed[repository].After(t.Add(p.store.ClockSkew()))
}

func (p *Processor) markListed(repository string, started time.Time) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if started.After(p.listed[repository]) {
		p.listed[repository] = started
	}
}

// Reconcile re-lists repository's tags and records the events of every tag
// hookd has not seen, and of every tag that is gone.
func (p *Processor) Reconcile(ctx context.Context, repository string) error {
	repository = p.repositoryName(repository)
	src, err := p.sources(repository)
	if err != nil {
		return err
	}
	_, err = p.sync(ctx, change{repository: repository, list: src.Tags})
	return err
}

// change is what one delivery or listing saw of a repository.
type change struct {
	repository string
	// list, when set, lists every tag of the repository; sync calls it
	// while it holds the repository, so that the listing is never older
	// than what another sync stored meanwhile, and a stored tag missing
	// from it was deleted.
	list func(context.Context) ([]registry.Tag, error)
	// present are tags that exist (the listing's, or a delivery's own).
	present []registry.Tag
	// deleted names tags the delivery reports deleted.
	deleted []string
	// deliveryID and announced credit events to the delivery that named
	// their tags.
	deliveryID string
	announced  map[string]bool
	// receivedAt is when the delivery arrived. A listing that started
	// later saw its tags already (GitHub announces a ref once it is
	// updated), so a burst of deliveries for one repository costs one
	// listing, not one each.
	receivedAt time.Time
}

// sync records the events of c and brings the stored tags up to date. It
// returns the events it recorded.
func (p *Processor) sync(ctx context.Context, c change) ([]store.Event, error) {
	full := c.list != nil
	covered := func() bool { return full && !c.receivedAt.IsZero() && p.coveredSince(c.repository, c.receivedAt) }
	if covered() {
		// Known without the hold: a burst of deliveries for one
		// repository costs no round trips to the database each.
		p.logger.Debug("delivery covered by a later listing", "repository", c.repository, "delivery", c.deliveryID)
		return nil, nil
	}
	unlock, err := p.lock(ctx, c.repository)
	if err != nil {
		return nil, err
	}
	defer unlock()
	if covered() { // a listing applied while this sync waited its turn
		p.logger.Debug("delivery covered by a later listing", "repository", c.repository, "delivery", c.deliveryID)
		return nil, nil
	}
	ctx, release, err := p.holdAcross(ctx, c.repository)
	if err != nil {
		return nil, err
	}
	defer release()
	started := time.Now()
	if full {
		tags, err := c.list(ctx)
		if err != nil {
			return nil, fmt.Errorf("list tags of %s: %w", c.repository, err)
		}
		c.present, c.deleted = tags, nil
	}
	stored, err := p.store.Tags(ctx, c.repository, false)
	if err != nil {
		return nil, err
	}
	current := newTagSet(len(stored) + len(c.present))
	storedObject := make(map[string]string, len(stored))
	for _, t := range stored {
		current.put(fromStore(t))
		storedObject[t.Name] = t.ObjectSHA
	}
	baseline := false
	if full {
		l, err := p.store.Listing(ctx, c.repository)
		if err != nil {
			return nil, err
		}
		baseline = l.ListedAt.IsZero()
	}
	if baseline {
		if err := p.announceQueued(ctx, &c); err != nil {
			return nil, err
		}
	}

	var fresh []registry.Tag
	seen := make(map[string]bool, len(c.present))
	for _, t := range c.present {
		seen[t.Name] = true
		if obj, ok := storedObject[t.Name]; !ok || obj != objectOf(t) {
			fresh = append(fresh, t)
		}
	}
	gone := slices.Clone(c.deleted)
	if full {
		for name := range storedObject {
			if !seen[name] {
				gone = append(gone, name)
			}
		}
	}
	slices.Sort(gone)
	// GTO reads tags in tagger-date order, and among tags of one moment
	// puts registrations before assignments (its event priority): `gto
	// assign NAME REF` creates both within one second, and the assignment
	// must find the version registered. Names break the remaining ties.
	slices.SortStableFunc(fresh, func(a, b registry.Tag) int {
		return cmp.Or(a.Date.Compare(b.Date), cmp.Compare(priority(a), priority(b)), strings.Compare(a.Name, b.Name))
	})

	// What the change means is decided in memory, in GTO's order
	// (deletions, then new tags by date); it is written in batches, each
	// batch's events recorded and dispatched before its tags are stored.
	var steps []step
	for _, name := range gone {
		old, ok := current.all[name]
		if !ok {
			continue // a deletion of a tag hookd never stored
		}
		steps = append(steps, step{events: c.apply(current, old, true), deleted: name})
	}
	for _, t := range fresh {
		// A tag that moved to another object: GTO sees only the new one.
		current.drop(t.Name)
		st := step{present: toStore(c.repository, t)}
		if baseline && !c.announced[t.Name] {
			current.put(t) // history, not news; and no registry to build
		} else {
			st.events = c.apply(current, t, false)
		}
		steps = append(steps, st)
	}
	var recorded []store.Event
	for batch := range slices.Chunk(steps, writeBatch) {
		if err := p.write(ctx, c.repository, batch, &recorded); err != nil {
			return recorded, err
		}
	}
	if full {
		if err := p.store.SaveListing(ctx, store.Listing{Repository: c.repository}); err != nil {
			return recorded, err
		}
		if !baseline {
			p.markListed(c.repository, started)
		}
		p.logger.Info("tags listed", "repository", c.repository, "tags", len(c.present), "new", len(fresh),
			"deleted", len(gone), "events", len(recorded), "baseline", baseline)
	}
	return recorded, nil
}

// step is what one tag does: its events, and then the tag deleted or
// stored.
type step struct {
	events  []store.Event
	deleted string    // the tag's name, when it is gone
	present store.Tag // otherwise, the tag to store
}

// writeBatch bounds the tags written per transaction: large enough that a
// burst of new tags costs a few commits, small enough that on SQLite (one
// writer) acknowledging deliveries never waits long behind one.
const writeBatch = 200

// write records the events of batch and dispatches them, then stores its
// tags. A crash in between leaves the tags unstored, so the next sync
// decides the same events again, which the store and dispatch take as the
// ones they have. Events that are new are added to recorded.
func (p *Processor) write(ctx context.Context, repository string, batch []step, recorded *[]store.Event) error {
	var (
		evs     []store.Event
		deleted []string
		present []store.Tag
	)
	for _, st := range batch {
		evs = append(evs, st.events...)
		if st.deleted != "" {
			deleted = append(deleted, st.deleted)
		} else {
			present = append(present, st.present)
		}
	}
	stored, isNew, err := p.store.RecordEvents(ctx, evs)
	if err != nil {
		return err
	}
	for i, e := range stored {
		if !isNew[i] {
			continue
		}
		*recorded = append(*recorded, e)
		p.events.WithLabelValues(string(e.Type)).Inc()
		p.logger.Info("event recorded", "repository", e.Repository, "artifact", e.Artifact,
			"event", e.Type, "version", e.Version, "stage", e.Stage, "tag", e.TagName,
			"delivery", e.DeliveryID, "event_id", e.ID)
	}
	if p.dispatch != nil && len(stored) > 0 {
		if err := p.dispatch(ctx, stored); err != nil {
			return fmt.Errorf("dispatch the events of %d tags of %s: %w", len(batch), repository, err)
		}
	}
	return p.store.ApplyTags(ctx, repository, deleted, present)
}

// announceQueued adds to what c announces the tags named by deliveries of
// its repository that are still queued. A baseline stores the tags it
// finds as history; a delivery accepted before it but processed after
// would then find its tag stored and give it no event, and an accepted
// delivery must never be swallowed so.
func (p *Processor) announceQueued(ctx context.Context, c *change) error {
	if c.announced == nil {
		c.announced = map[string]bool{}
	}
	err := p.store.QueuedDeliveries(ctx, c.repository, func(d store.Delivery) error {
		refs, err := decode(d)
		if err != nil {
			return nil // its own processing fails it, saying why
		}
		for _, r := range refs {
			if !r.deleted && r.skip() == "" {
				c.announced[r.name] = true
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("read the queued deliveries of %s: %w", c.repository, err)
	}
	return nil
}

// priority is GTO's priority of the event t gives; tags that give none
// come last.
func priority(t registry.Tag) int {
	p, err := tagparse.Parse(t.Name)
	if err != nil || p.Action == tagparse.Create {
		return math.MaxInt
	}
	return registry.KindOf(p.Action).Priority()
}

// apply adds t to current (or, with deleted, removes it) and returns the
// events that change is: for an added tag the events GTO gives it, for a
// removed one the events it had given, as tag_deleted. Each carries the
// stage's holders before and after, and every stage of the artifact whose
// versions the change moved (Stages), which is what deploys follow. A
// lightweight or non-GTO tag is no event. Only t's artifact is rebuilt:
// GTO's state of one artifact depends on its own tags alone.
func (c change) apply(current *tagSet, t registry.Tag, deleted bool) []store.Event {
	edit := func() {
		if deleted {
			current.drop(t.Name)
		} else {
			current.put(t)
		}
	}
	parsed, err := tagparse.Parse(t.Name)
	if err != nil || !t.Annotated || parsed.Action.Event() == "" {
		edit()
		return nil
	}
	before, was := current.registry(parsed.Artifact)
	edit()
	after, is := current.registry(parsed.Artifact)
	holder := after
	if deleted {
		holder = before
	}
	moved := stageChanges(was, is)
	var out []store.Event
	for _, s := range holder.CheckRef(t.Name) {
		e := store.Event{
			Repository:   c.repository,
			Artifact:     s.Artifact,
			Type:         store.EventType(s.Event),
			Version:      s.Version,
			Stage:        s.Stage,
			CommitSHA:    t.Commit,
			TagName:      t.Name,
			TagObjectSHA: objectOf(t),
			Tagger:       store.Tagger{Name: t.Tagger.Name, Email: t.Tagger.Email, When: t.Date},
			Message:      s.Message,
			Stages:       moved,
		}
		if deleted {
			e.Type = store.EventTagDeleted
		}
		if c.announced[t.Name] {
			e.DeliveryID = c.deliveryID
		}
		if e.Stage != "" {
			e.ActiveBefore, e.ActiveAfter = was[e.Stage], is[e.Stage]
			if !slices.ContainsFunc(moved, func(sc store.StageChange) bool { return sc.Stage == e.Stage }) {
				// The event's own stage, even unchanged: a re-assignment
				// of the version it holds asks for a redeploy.
				e.Stages = append(slices.Clone(moved), store.StageChange{Stage: e.Stage, Before: e.ActiveBefore, After: e.ActiveAfter})
			}
		}
		out = append(out, e)
	}
	return out
}

// stageChanges lists the stages whose versions differ between two states
// of one artifact, in stage order.
func stageChanges(before, after stageState) []store.StageChange {
	stages := slices.Collect(maps.Keys(before))
	for stage := range after {
		if _, ok := before[stage]; !ok {
			stages = append(stages, stage)
		}
	}
	slices.Sort(stages)
	var out []store.StageChange
	for _, stage := range stages {
		if b, a := before[stage], after[stage]; !slices.Equal(b, a) {
			out = append(out, store.StageChange{Stage: stage, Before: b, After: a})
		}
	}
	return out
}

// stageState is what `gto show` says each stage of one artifact holds.
type stageState map[string][]string

// tagSet is a repository's tags while a sync applies its changes, grouped
// by artifact, with each artifact's registry and stage state built once per
// change of its tags rather than the whole repository's twice per tag.
type tagSet struct {
	all        map[string]registry.Tag
	byArtifact map[string]map[string]registry.Tag
	built      map[string]builtArtifact
}

type builtArtifact struct {
	registry *registry.Registry
	stages   stageState
}

func newTagSet(n int) *tagSet {
	return &tagSet{all: make(map[string]registry.Tag, n), byArtifact: map[string]map[string]registry.Tag{},
		built: map[string]builtArtifact{}}
}

// artifactOf is the artifact a tag name belongs to ("" for a non-GTO name).
func artifactOf(name string) string {
	p, err := tagparse.Parse(name)
	if err != nil {
		return ""
	}
	return p.Artifact
}

func (s *tagSet) put(t registry.Tag) {
	s.drop(t.Name)
	s.all[t.Name] = t
	if a := artifactOf(t.Name); a != "" {
		if s.byArtifact[a] == nil {
			s.byArtifact[a] = map[string]registry.Tag{}
		}
		s.byArtifact[a][t.Name] = t
		delete(s.built, a)
	}
}

func (s *tagSet) drop(name string) {
	if _, ok := s.all[name]; !ok {
		return
	}
	delete(s.all, name)
	if a := artifactOf(name); a != "" {
		delete(s.byArtifact[a], name)
		delete(s.built, a)
	}
}

// registry is the registry of artifact's tags and its stage state. Events
// need only the tags: the version a tag resolves to and a stage's holders
// do not depend on `.gto` or the artifacts index.
func (s *tagSet) registry(artifact string) (*registry.Registry, stageState) {
	if b, ok := s.built[artifact]; ok {
		return b.registry, b.stages
	}
	tags := s.byArtifact[artifact]
	list := make([]registry.Tag, 0, len(tags))
	for _, t := range tags {
		list = append(list, t)
	}
	b := builtArtifact{registry: registry.New(list, registry.Options{}), stages: stageState{}}
	held, _ := b.registry.StageVersions(artifact, registry.DefaultShowOptions())
	for _, kv := range held {
		for _, vs := range kv.Value {
			b.stages[kv.Key] = append(b.stages[kv.Key], vs.Version)
		}
	}
	s.built[artifact] = b
	return b.registry, b.stages
}

// objectOf is the sha a tag ref points at: the tag object, or the commit
// of a lightweight tag.
func objectOf(t registry.Tag) string {
	if t.Object != "" {
		return t.Object
	}
	return t.Commit
}

func fromStore(t store.Tag) registry.Tag {
	rt := registry.Tag{
		Name:      t.Name,
		Annotated: t.Annotated,
		Commit:    t.CommitSHA,
		Tagger:    registry.Person{Name: t.Tagger.Name, Email: t.Tagger.Email},
		Date:      t.Tagger.When,
		Message:   t.Message,
	}
	if t.Annotated {
		rt.Object = t.ObjectSHA
	}
	return rt
}

func toStore(repository string, t registry.Tag) store.Tag {
	return store.Tag{
		Repository: repository,
		Name:       t.Name,
		ObjectSHA:  objectOf(t),
		CommitSHA:  t.Commit,
		Annotated:  t.Annotated,
		Tagger:     store.Tagger{Name: t.Tagger.Name, Email: t.Tagger.Email, When: t.Date},
		Message:    t.Message,
	}
}

// ProcessDelivery turns a stored delivery into events and says what became
// of it: processed; ignored, with the reason, when it names no tag hookd
// can act on (a branch push, a non-GTO or lightweight tag); failed when its
// payload can never be read. An error means "try again later".
func (p *Processor) ProcessDelivery(ctx context.Context, d store.Delivery) (store.Outcome, error) {
	o, err := p.process(ctx, d)
	if err == nil {
		p.latency.Observe(time.Since(d.ReceivedAt).Seconds())
	}
	return o, err
}

func (p *Processor) process(ctx context.Context, d store.Delivery) (store.Outcome, error) {
	if d.Pruned {
		return store.Outcome{Status: store.DeliveryFailed, Reason: "the payload was pruned before it was processed"}, nil
	}
	refs, err := decode(d)
	if err != nil {
		// A payload that will never decode: retrying cannot help.
		return store.Outcome{Status: store.DeliveryFailed, Reason: err.Error()}, nil
	}
	repository := p.repositoryName(d.Repository)
	c := change{repository: repository, deliveryID: d.ID, announced: map[string]bool{}, receivedAt: d.ReceivedAt}
	var reasons []string
	for _, r := range refs {
		if why := r.skip(); why != "" {
			reasons = append(reasons, why)
			continue
		}
		c.announced[r.name] = true
		switch {
		case r.deleted:
			c.deleted = append(c.deleted, r.name)
		case r.tag != nil:
			c.present = append(c.present, *r.tag)
		}
	}
	if d.Source == store.SourceGit {
		refused, err := p.checkGitPush(ctx, &c)
		if err != nil {
			return store.Outcome{}, err
		}
		reasons = append(reasons, refused...)
	}
	if len(c.announced) == 0 {
		return store.Outcome{Status: store.DeliveryIgnored, Reason: nothingToDo(d.Event, reasons)}, nil
	}
	if d.Source == store.SourceGitHub {
		// GitHub's payload has no tagger or message, and deliveries may
		// arrive out of order: the listing is the truth, deletions included.
		src, err := p.sources(repository)
		if err != nil {
			return store.Outcome{}, err
		}
		c.list = src.Tags
	}
	if _, err := p.sync(ctx, c); err != nil {
		return store.Outcome{}, err
	}
	// What it named besides the tags it carried, hookd ignored, and says why.
	return store.Outcome{Status: store.DeliveryProcessed, Reason: strings.Join(reasons, "; ")}, nil
}

// ref is one tag ref update a delivery names.
type ref struct {
	name    string
	deleted bool
	// lightweight is true when the ref names a commit, not a tag object.
	lightweight bool
	// tag is the tag itself, when the delivery carries it (git hook).
	tag *registry.Tag
	// unusable says why a tag the delivery carries cannot be a GTO tag.
	unusable string
}

// skip says why hookd does nothing with r, or "".
func (r ref) skip() string {
	if _, err := tagparse.Parse(r.name); err != nil {
		return fmt.Sprintf("%s: %v", r.name, err)
	}
	if r.lightweight {
		return r.name + ": lightweight tag (GTO reads annotated tags only)"
	}
	if r.unusable != "" {
		return r.name + ": " + r.unusable
	}
	return ""
}

const zeroSHA = "0000000000000000000000000000000000000000"

// decode reads the tag refs a delivery names.
func decode(d store.Delivery) ([]ref, error) {
	switch d.Source {
	case store.SourceGit:
		return decodeGitPush(d.Body)
	case store.SourceGitHub:
		return decodeGitHub(d.Event, d.Body)
	}
	return nil, fmt.Errorf("delivery %s: unknown source %q", d.ID, d.Source)
}

// gitHubPayload is what hookd reads of GitHub's push, create and delete
// payloads.
type gitHubPayload struct {
	Ref        string `json:"ref"`
	RefType    string `json:"ref_type,omitempty"`
	After      string `json:"after,omitempty"`
	Deleted    bool   `json:"deleted,omitempty"`
	HeadCommit *struct {
		ID string `json:"id"`
	} `json:"head_commit,omitempty"`
	Repository *struct {
		FullName string `json:"full_name"`
	} `json:"repository,omitempty"`
}

// Preview is what a GitHub delivery says before any work is done: which
// repository it is for, and whether hookd can act on it at all.
type Preview struct {
	// Repository is the payload's repository.full_name ("" when absent).
	Repository string
	// Ignore says why hookd will do nothing with the delivery ("" when it
	// names a tag): it is then stored as ignored, with no job.
	Ignore string
	// Kept is, for an ignored push, create or delete, what to store in
	// place of the payload: the fields hookd reads, so that a replay
	// decides the same, in a few hundred bytes instead of the 8–10 KB of
	// commits a branch push carries (nil: store the payload).
	Kept []byte
	// Announces is, for a push of one annotated GTO tag, that tag and
	// the object it names: the store settles a new delivery of a tag it
	// holds at that object already without processing it
	// (store.Delivery.Announces).
	Announces *store.AnnouncedTag
}

// gitHubEvents are the events whose payloads can name a tag.
var gitHubEvents = map[string]bool{"push": true, "create": true, "delete": true}

// PreviewGitHub reads a GitHub delivery's payload once, at ingress: its
// repository, and whether it can be left alone: an event hookd does not
// use, a branch push, or a push of tags GTO never reads (names that are
// not GTO's, lightweight tags), ignored for the reasons ProcessDelivery
// would give. Release tags such as v1.2.0 are common beside GTO's; a job
// for each would spend a commit, a fetch and a settle of the one SQLite
// writer on nothing. The other tags are decided later, by ProcessDelivery.
func PreviewGitHub(event string, payload []byte) (Preview, error) {
	p, err := parseGitHub(payload)
	if err != nil {
		return Preview{}, fmt.Errorf("the payload is not valid JSON: %w", err)
	}
	pv := Preview{}
	if p.Repository != nil {
		pv.Repository = p.Repository.FullName
	}
	if !gitHubEvents[event] {
		pv.Ignore = "hookd does not act on " + event + " events"
		return pv, nil
	}
	var reasons []string
	for _, r := range refsOf(event, p) {
		why := r.skip()
		if why == "" { // a tag to decide
			if event == "push" && !r.deleted {
				pv.Announces = &store.AnnouncedTag{Name: r.name, Object: p.After}
			}
			return pv, nil
		}
		reasons = append(reasons, why)
	}
	pv.Ignore = nothingToDo(event, reasons)
	if pv.Kept, err = json.Marshal(p); err != nil {
		return Preview{}, err
	}
	return pv, nil
}

// nothingToDo is why a delivery of event is ignored when none of its refs
// is a tag to act on: the reasons its refs were skipped, or that it named
// no tag at all. Ingress (PreviewGitHub) and processing say it alike.
func nothingToDo(event string, skipped []string) string {
	return cmp.Or(strings.Join(skipped, "; "), "no tag refs in this "+event+" delivery")
}

// decodeGitHub reads push, create and delete events; only tag refs count.
func decodeGitHub(event string, body []byte) ([]ref, error) {
	p, err := parseGitHub(body)
	if err != nil {
		return nil, fmt.Errorf("malformed %s payload: %w", event, err)
	}
	return refsOf(event, p), nil
}

// refsOf lists the tag refs a GitHub payload names.
func refsOf(event string, p gitHubPayload) []ref {
	switch event {
	case "push":
		name, ok := strings.CutPrefix(p.Ref, "refs/tags/")
		if !ok {
			return nil
		}
		r := ref{name: name, deleted: p.Deleted || p.After == zeroSHA}
		// An annotated tag's "after" is the tag object; a lightweight
		// tag's is the commit itself.
		r.lightweight = !r.deleted && p.HeadCommit != nil && p.HeadCommit.ID == p.After
		return []ref{r}
	case "create", "delete":
		if p.RefType != "tag" {
			return nil
		}
		return []ref{{name: p.Ref, deleted: event == "delete"}}
	}
	return nil
}

func decodeGitPush(body []byte) ([]ref, error) {
	var p GitPush
	if err := json.Unmarshal(body, &p); err != nil {
		return nil, fmt.Errorf("malformed git push: %w", err)
	}
	var out []ref
	for _, u := range p.Updates {
		name, ok := strings.CutPrefix(u.Ref, "refs/tags/")
		if !ok {
			continue
		}
		r := ref{name: name, deleted: u.New == zeroSHA || u.New == ""}
		switch {
		case r.deleted:
		case u.Tag == nil:
			r.lightweight = true
		case u.Tag.TargetType != "commit":
			r.unusable = "the tag points at a " + u.Tag.TargetType + ", not a commit"
		case u.Tag.TaggerDate == "":
			r.unusable = "the tag object has no tagger (GTO orders events by tagger date)"
		default:
			when, err := time.Parse(time.RFC3339, u.Tag.TaggerDate)
			if err != nil {
				return nil, fmt.Errorf("tag %s: tagger date: %w", name, err)
			}
			r.tag = &registry.Tag{
				Name:      name,
				Annotated: true,
				Object:    u.New,
				Commit:    u.Tag.Target,
				Tagger:    registry.Person{Name: u.Tag.TaggerName, Email: u.Tag.TaggerEmail},
				Date:      when,
				Message:   u.Tag.Message,
			}
		}
		out = append(out, r)
	}
	return out, nil
}
