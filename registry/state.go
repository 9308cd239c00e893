package registry

import (
	"cmp"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"
	"unicode"

	"github.com/hookd-dev/hookd/tagparse"
)

// Options is what New needs beside the tags.
type Options struct {
	// Config is the repository's `.gto`; the zero value is GTO's defaults.
	Config Config
	// Head is the full sha of the commit whose Index is given ("" for an
	// empty repository).
	Head string
	// Index is artifacts.yaml at Head (nil when there is none).
	Index Index
	// Commits looks up a commit by full sha. GTO enriches every version
	// with its commit; a commit the lookup does not know is left out, which
	// matches GTO only when the commit is older than every tag on it.
	Commits func(sha string) (Commit, bool)
	// IndexAt returns artifacts.yaml at a commit, for the annotations GTO
	// attaches to each version's enrichment. When nil, only Index (at Head)
	// is used.
	IndexAt func(sha string) Index
	// IndexErr says why artifacts.yaml at a commit (Head, or a version's)
	// is not an index GTO reads, or nil. GTO refuses to build the state
	// when the file is malformed at HEAD or at the commit of any version;
	// [Registry.Err] reports it. Nil means no index is malformed.
	IndexErr func(sha string) error
}

// CommitMap is a commit lookup for [Options.Commits].
type CommitMap map[string]Commit

// Get returns the commit with the given full sha.
func (m CommitMap) Get(sha string) (Commit, bool) {
	c, ok := m[sha]
	return c, ok
}

// CommitsToLookUp lists the commits New will ask Options.Commits about:
// those of annotated GTO tags (their targets, which for a tag of a tag is
// the inner tag object, to be peeled), in first-seen order, then head.
func CommitsToLookUp(tags []Tag, head string) []string {
	seen := make(map[string]bool)
	var out []string
	add := func(sha string) {
		if sha != "" && !seen[sha] {
			seen[sha] = true
			out = append(out, sha)
		}
	}
	for i := range tags {
		if !tags[i].Annotated {
			continue
		}
		if t, err := tagparse.Parse(tags[i].Name); err == nil && t.Action != tagparse.Create {
			add(cmp.Or(tags[i].Target, tags[i].Commit))
		}
	}
	add(head)
	return out
}

// Registry is GTO's view of a repository's tags. It is immutable once New
// returns, and safe for concurrent use.
type Registry struct {
	config Config
	head   string
	// artifacts are in GTO's order: deprecated ones first (by deprecation
	// time), then by first registration, first assignment, and last the
	// ones only annotated in artifacts.yaml.
	artifacts []*Artifact
	byName    map[string]*Artifact
	// names holds what the tags say of each artifact name, whether or not
	// it has events.
	names map[string]*nameInfo
	// tags maps every tag name (annotated or not) to whether it is a GTO
	// tag. Only check-ref and planning need it, so it is built on first
	// use.
	tags func() map[string]bool
	mem  *memory
	// err is why GTO would refuse to build this state, the first reason
	// in the order GTO meets them; nil when it would not.
	err error
	// twins holds, by tag name, the events already indexed under a name
	// that more than one tag object carries (a copied tag ref); GTO
	// skips an event equal to one it has. Nil when no name repeats.
	twins map[string][]*Event
}

// nameInfo is what New learns of an artifact name from its tags.
type nameInfo struct {
	// counter is the highest "#N" among all the name's tags, as digits
	// ("" for none).
	counter string
	// artifact is set once the first of its events is indexed.
	artifact *Artifact
}

// Artifact is everything that happened to one artifact.
type Artifact struct {
	Name string
	// Versions are in the order GTO created them. As in GTO, a version can
	// appear more than once: each assignment of a commit with no
	// registered version creates two versions named after the commit.
	Versions     []*Version
	Deprecations []*Event

	// explicit lists, by commit, the versions with registrations or
	// deregistrations: the only ones GTO's version lookups match. Keeping
	// discovered versions out keeps repeated assignments of an
	// unregistered commit (two new versions each) from being quadratic.
	explicit map[string][]*Version
	events   []*Event // newest first
	mem      *memory
}

// memory hands out the registry's versions, stages and enrichments from
// large blocks: New creates thousands of each.
type memory struct {
	versions slab[Version]
	stages   slab[VersionStage]
	events   slab[Event]
}

// slab allocates values of T in blocks; the values never move.
type slab[T any] struct{ block []T }

func (s *slab[T]) new() *T {
	if len(s.block) == cap(s.block) {
		s.block = make([]T, 0, 256)
	}
	s.block = s.block[:len(s.block)+1]
	return &s.block[len(s.block)-1]
}

// Version is one version of an artifact: registered (named "v1.2.3") or
// discovered through an assignment (named by its commit's full sha).
type Version struct {
	Artifact string
	Name     string
	Commit   string
	// Registrations, Deregistrations and Enrichments are oldest first.
	Registrations   []*Event
	Deregistrations []*Event
	Enrichments     []*Event
	// Stages are in the order the version first entered them.
	Stages []*VersionStage

	direct    []*Event // registrations and deregistrations, newest first
	indirect  []*Event // enrichments and stage events, newest first
	all       []*Event // newest first
	authoring *Event
}

// VersionStage is a version's record in one stage: its assignments and
// unassignments, oldest first.
type VersionStage struct {
	Artifact      string
	Version       string
	Commit        string
	Stage         string
	Assignments   []*Event
	Unassignments []*Event

	events []*Event // newest first
}

// New builds the registry from every tag of a repository. Lightweight tags,
// names that are not GTO tags and `name@created` (which GTO parses but
// cannot index) are ignored; nothing in the tags makes New fail. What makes
// GTO refuse the whole registry is kept for [Registry.Err].
//
// As in GTO, a tag's ref name decides whether it is read at all and in
// which pass (deprecations, then versions, then stages), and the name inside
// its tag object decides what it means.
func New(tags []Tag, opts Options) *Registry {
	r := &Registry{
		config: opts.Config,
		head:   opts.Head,
		byName: make(map[string]*Artifact),
		names:  make(map[string]*nameInfo),
		mem:    new(memory),
	}
	names := make([]string, len(tags))
	for i := range tags {
		names[i] = tags[i].Name
	}
	r.tags = sync.OnceValue(func() map[string]bool {
		m := make(map[string]bool, len(names))
		for _, n := range names {
			_, err := tagparse.Parse(n)
			m[n] = err == nil
		}
		return m
	})
	r.twins = repeatedNames(tags)
	// The events of all tags, in one allocation.
	events := make([]Event, 0, len(tags))
	for i := range tags {
		t := &tags[i]
		p, err := tagparse.Parse(t.Name)
		if err != nil {
			continue
		}
		info := r.nameInfo(p.Artifact)
		if p.HasCounter() && tagparse.CompareCounters(p.CounterText, info.counter) > 0 {
			info.counter = p.CounterText
		}
		// GTO stops on a ref named name@created (it looks up the action
		// the grammar gives it none of); hookd leaves it out.
		if !t.Annotated || p.Action == tagparse.Create {
			continue
		}
		e := Event{
			pass: kinds[p.Action],
			ref:  t.Name,
			Time: t.Date,
			at:   t.Date.UnixNano(),
			// GTO reads a tagger date with its offset and the tagger as
			// the source parsed it.
			Author:  t.Tagger,
			Message: tagMessage(t.Message),
			Commit:  cmp.Or(t.Target, t.Commit),
			Tag:     cmp.Or(t.ObjectName, t.Name),
		}
		meaning := p
		if e.Tag != t.Name {
			if meaning, err = tagparse.Parse(e.Tag); err != nil {
				// GTO refuses the registry: InvalidTagName.
				e.bad = true
				events = append(events, e)
				continue
			}
			if meaning.Action == tagparse.Create {
				continue // GTO crashes building the event; hookd leaves it out
			}
		}
		e.Kind, e.Artifact = kinds[meaning.Action], meaning.Artifact
		e.Version, e.Stage = meaning.Version, meaning.Stage
		e.name = r.nameInfo(meaning.Artifact)
		events = append(events, e)
	}
	// GTO indexes tags by tagger date; ties are broken by ref name (GTO
	// lists them sorted) so the result does not depend on the order a
	// source lists tags in. Ref names are unique, so the order is total
	// and needs no stable sort. The sort runs on compact keys, which is
	// several times faster than on events.
	type key struct {
		at int64
		i  int
	}
	keys := make([]key, len(events))
	for i := range events {
		keys[i] = key{events[i].at, i}
	}
	slices.SortFunc(keys, func(a, b key) int {
		if c := cmp.Compare(a.at, b.at); c != 0 {
			return c
		}
		return strings.Compare(events[a.i].ref, events[b.i].ref)
	})
	indexed := make([]*Event, len(events))
	for n, k := range keys {
		indexed[n] = &events[k.i]
	}
	// GTO indexes in three passes (artifact, version, then stage tags), so
	// an assignment resolves against every registration, even later ones,
	// and artifacts are ordered by the pass that first saw them.
	for _, pass := range [][2]EventKind{{Deprecation, Deprecation}, {Registration, Deregistration}, {Assignment, Unassignment}} {
		for _, e := range indexed {
			if e.pass == pass[0] || e.pass == pass[1] {
				r.index(e)
			}
		}
	}
	r.enrich(opts)
	for _, a := range r.artifacts {
		a.settle()
	}
	return r
}

// nameInfo returns what is known of an artifact name, creating it.
func (r *Registry) nameInfo(artifact string) *nameInfo {
	info := r.names[artifact]
	if info == nil {
		info = &nameInfo{}
		r.names[artifact] = info
	}
	return info
}

// repeatedNames returns an empty list for each name that more than one
// annotated tag object carries, or nil when none does: only a tag whose
// object's name differs from its ref's can repeat one.
func repeatedNames(tags []Tag) map[string][]*Event {
	count := make(map[string]int)
	for i := range tags {
		if t := &tags[i]; t.Annotated && t.ObjectName != "" && t.ObjectName != t.Name {
			count[t.ObjectName]++
		}
	}
	if len(count) == 0 {
		return nil
	}
	for i := range tags {
		if t := &tags[i]; t.Annotated && (t.ObjectName == "" || t.ObjectName == t.Name) && count[t.Name] > 0 {
			count[t.Name]++
		}
	}
	twins := make(map[string][]*Event)
	for name, n := range count {
		if n > 1 {
			twins[name] = []*Event{}
		}
	}
	return twins
}

// Err is why GTO refuses to build this registry's state at all, a
// *[StateError] with GTO's words, or nil. GTO then answers no command that
// reads the state (show, history, check-ref of a GTO tag, every write);
// this registry still answers from the state as hookd builds it (of two
// versions registered at one commit, an assignment there goes to the
// newer), for callers that must go on, such as the daemon.
func (r *Registry) Err() error { return r.err }

// refuse keeps the first reason GTO refuses the state.
func (r *Registry) refuse(msg string) {
	if r.err == nil {
		r.err = &StateError{Msg: msg}
	}
}

// tagMessage is the message GTO reads from a tag object: dulwich cuts it
// at the first PGP signature block (or, if none, the first SSH one), and
// GTO strips it of surrounding whitespace.
func tagMessage(raw string) string {
	if i := strings.Index(raw, "-----BEGIN PGP SIGNATURE-----"); i >= 0 {
		raw = raw[:i]
	} else if i := strings.Index(raw, "-----BEGIN SSH SIGNATURE-----"); i >= 0 {
		raw = raw[:i]
	}
	return strings.TrimFunc(raw, isPythonSpace)
}

// kinds maps the grammar's actions to the events they produce.
var kinds = [...]EventKind{
	tagparse.Register:   Registration,
	tagparse.Deregister: Deregistration,
	tagparse.Assign:     Assignment,
	tagparse.Unassign:   Unassignment,
	tagparse.Deprecate:  Deprecation,
}

// KindOf is the event a tag of the grammar's action a gives.
func KindOf(a tagparse.Action) EventKind { return kinds[a] }

// artifact returns the named artifact, creating it at the end of the order.
func (r *Registry) artifact(name string) *Artifact {
	if a := r.byName[name]; a != nil {
		return a
	}
	a := &Artifact{Name: name, explicit: make(map[string][]*Version), mem: r.mem}
	r.byName[name] = a
	r.artifacts = append(r.artifacts, a)
	return a
}

// index files the event of one tag.
func (r *Registry) index(e *Event) {
	if e.bad {
		r.refuse(fmt.Sprintf("Cannot parse tag name '%s'", e.Tag))
		return
	}
	a := e.name.artifact
	if a == nil {
		a = r.artifact(e.Artifact)
		e.name.artifact = a
	}
	e.name = nil
	switch e.Kind {
	case Deprecation:
		if !r.twin(e) {
			a.Deprecations = append(a.Deprecations, e)
		}
	case Registration, Deregistration:
		if !r.twin(e) {
			a.file(a.findOrCreate(e.Version, e.Commit), e)
		}
	case Assignment, Unassignment:
		if vs := a.explicit[e.Commit]; len(vs) > 1 {
			r.refuse(errManyVersions(a.Name, vs).Error())
		}
		v := a.findOrCreate("", e.Commit)
		e.Version = v.Name
		// GTO looks the version up (creating an empty one named by the
		// commit if there is none) before it compares the event with
		// those it has.
		if r.twin(e) {
			return
		}
		// As in GTO, the event is then filed under the version of that
		// name at its commit among versions that have registrations or
		// deregistrations. A discovered version never matches, so an
		// assignment to a commit with no registered version files itself
		// in a second, new version of the same name.
		if v.Discovered() {
			v = a.create(e.Version, e.Commit)
		}
		a.file(v, e)
	}
}

// twin reports whether an event equal to e in every field GTO compares
// was indexed already (two refs to one tag object, say), and records e
// otherwise.
func (r *Registry) twin(e *Event) bool {
	seen, ok := r.twins[e.Tag]
	if !ok {
		return false
	}
	for _, f := range seen {
		if f.Kind == e.Kind && f.Artifact == e.Artifact && f.at == e.at && f.Author == e.Author &&
			f.Message == e.Message && f.Commit == e.Commit && f.Version == e.Version && f.Stage == e.Stage {
			return true
		}
	}
	r.twins[e.Tag] = append(seen, e)
	return false
}

// find returns the versions matching name and commit ("" matches any),
// excluding discovered ones unless asked for, in creation order.
func (a *Artifact) find(name, commit string, discovered bool) []*Version {
	var out []*Version
	for _, v := range a.pool(commit, discovered) {
		if v.matches(name, commit, discovered) {
			out = append(out, v)
		}
	}
	return out
}

// pool narrows the versions find has to look at. Building the state
// always knows the commit; only planning looks versions up by name.
func (a *Artifact) pool(commit string, discovered bool) []*Version {
	if commit != "" && !discovered {
		return a.explicit[commit]
	}
	return a.Versions
}

func (v *Version) matches(name, commit string, discovered bool) bool {
	return (name == "" || v.Name == name) && (commit == "" || v.Commit == commit) && (discovered || !v.Discovered())
}

// findOrCreate is GTO's find_version(create_new=True). Where GTO stops
// with ManyVersions (two versions registered at one commit, which the
// callers report), the most recently created one is used.
func (a *Artifact) findOrCreate(name, commit string) *Version {
	pool := a.pool(commit, false)
	for i := len(pool) - 1; i >= 0; i-- {
		if pool[i].matches(name, commit, false) {
			return pool[i]
		}
	}
	if name == "" {
		name = commit
	}
	return a.create(name, commit)
}

// create adds a new version.
func (a *Artifact) create(name, commit string) *Version {
	v := a.mem.versions.new()
	*v = Version{Artifact: a.Name, Name: name, Commit: commit}
	a.Versions = append(a.Versions, v)
	return v
}

// file adds e to the version's events.
func (a *Artifact) file(v *Version, e *Event) {
	switch e.Kind {
	case Registration, Deregistration:
		if v.Discovered() {
			a.explicit[v.Commit] = append(a.explicit[v.Commit], v)
		}
		if e.Kind == Registration {
			v.Registrations = append(v.Registrations, e)
		} else {
			v.Deregistrations = append(v.Deregistrations, e)
		}
	case Enrichment:
		v.Enrichments = append(v.Enrichments, e)
	case Assignment, Unassignment:
		s := a.stage(v, e.Stage)
		if e.Kind == Assignment {
			s.Assignments = append(s.Assignments, e)
		} else {
			s.Unassignments = append(s.Unassignments, e)
		}
	}
}

// stage returns the version's record in the named stage, creating it.
func (a *Artifact) stage(v *Version, name string) *VersionStage {
	for _, s := range v.Stages {
		if s.Stage == name {
			return s
		}
	}
	s := a.mem.stages.new()
	*s = VersionStage{Artifact: v.Artifact, Version: v.Name, Commit: v.Commit, Stage: name}
	v.Stages = append(v.Stages, s)
	return s
}

// enrich adds GTO's enrichment events: the commit behind every version,
// then the HEAD commit for every artifact its artifacts.yaml annotates.
func (r *Registry) enrich(opts Options) {
	if opts.Commits == nil {
		return
	}
	indexAt := func(sha string) Index {
		if opts.IndexAt != nil {
			return opts.IndexAt(sha)
		}
		if sha == opts.Head {
			return opts.Index
		}
		return nil
	}
	// enrichment is the event of commit c, read at sha (a tag of a tag's
	// version is read at the inner tag, which git peels to c).
	enrichment := func(a *Artifact, v *Version, c Commit, sha string) *Event {
		e := a.mem.events.new()
		*e = Event{
			Kind:      Enrichment,
			Artifact:  a.Name,
			Time:      c.CommitDate,
			at:        c.CommitDate.UnixNano(),
			Author:    c.Author,
			Message:   c.Message,
			Commit:    c.Hash,
			Version:   v.Name,
			Committer: c.Committer,
		}
		if ann, ok := indexAt(sha).Get(a.Name); ok {
			e.Annotations = []Annotation{ann}
		}
		return e
	}
	indexErr := func(sha string) {
		if opts.IndexErr != nil {
			if err := opts.IndexErr(sha); err != nil {
				r.refuse(err.Error())
			}
		}
	}
	for _, a := range r.artifacts {
		for _, v := range a.Versions {
			// GTO reads the index at every version's commit, and stops
			// when it is malformed there.
			if c, ok := opts.Commits(v.Commit); ok {
				indexErr(v.Commit)
				a.file(v, enrichment(a, v, c, v.Commit))
			}
		}
	}
	if opts.Head == "" {
		return
	}
	head, ok := opts.Commits(opts.Head)
	if !ok {
		return
	}
	indexErr(opts.Head)
	for _, ann := range opts.Index {
		a := r.artifact(ann.Name)
		if vs := a.explicit[opts.Head]; len(vs) > 1 {
			r.refuse(errManyVersions(a.Name, vs).Error())
		}
		v := a.findOrCreate("", opts.Head)
		// GTO skips an event equal to one the version already has: the
		// enrichment of a version registered at HEAD.
		if !slices.ContainsFunc(v.Enrichments, func(e *Event) bool { return e.Commit == head.Hash }) {
			a.file(v, enrichment(a, v, head, opts.Head))
		}
	}
}

// settle sorts every event list the way GTO keeps them and caches what
// the queries derive from them. The derived lists are carved out of one
// buffer per artifact.
func (a *Artifact) settle() {
	size := len(a.Deprecations)
	for _, v := range a.Versions {
		d, i := len(v.Registrations)+len(v.Deregistrations), len(v.Enrichments)
		for _, s := range v.Stages {
			i += len(s.Assignments) + len(s.Unassignments)
		}
		// direct, indirect, all, the stages' own lists, and the
		// artifact's list.
		size += d + i + (d + i) + (i - len(v.Enrichments)) + (d + i)
	}
	buf := make([]*Event, 0, size)
	// take returns an empty slice of capacity n from buf.
	take := func(n int) []*Event {
		s := buf[len(buf) : len(buf) : len(buf)+n]
		buf = buf[:len(buf)+n]
		return s
	}
	oldestFirst(a.Deprecations)
	var total int
	for _, v := range a.Versions {
		v.settle(take)
		total += len(v.all)
	}
	all := append(take(len(a.Deprecations)+total), a.Deprecations...)
	for _, v := range a.Versions {
		all = append(all, v.all...)
	}
	a.events = newestFirst(all)
}

func (v *Version) settle(take func(int) []*Event) {
	oldestFirst(v.Registrations)
	oldestFirst(v.Deregistrations)
	oldestFirst(v.Enrichments)
	n := len(v.Enrichments)
	for _, s := range v.Stages {
		oldestFirst(s.Assignments)
		oldestFirst(s.Unassignments)
		s.events = newestFirst(append(append(take(len(s.Assignments)+len(s.Unassignments)), s.Assignments...), s.Unassignments...))
		n += len(s.events)
	}
	direct := append(append(take(len(v.Registrations)+len(v.Deregistrations)), v.Registrations...), v.Deregistrations...)
	indirect := append(take(n), v.Enrichments...)
	for _, s := range v.Stages {
		indirect = append(indirect, s.events...)
	}
	v.all = newestFirst(append(append(take(len(direct)+len(indirect)), direct...), indirect...))
	v.direct = newestFirst(direct)
	v.indirect = newestFirst(indirect)
	// GTO's authoring event: the newest registration, or else the newest
	// of everything else.
	for _, e := range v.direct {
		if e.Kind.Addition() {
			v.authoring = e
			return
		}
	}
	if len(v.indirect) > 0 {
		v.authoring = v.indirect[0]
	}
}

// Events returns the artifact's events, newest first, in GTO's order.
func (a *Artifact) Events() []*Event { return a.events }

// Active reports whether the artifact is not deprecated: its newest event
// is not a deprecation.
func (a *Artifact) Active() bool {
	return len(a.events) > 0 && a.events[0].Kind != Deprecation
}

// Registered reports whether the artifact has any GTO tag, rather than
// only annotations in artifacts.yaml.
func (a *Artifact) Registered() bool {
	for _, e := range a.events {
		if e.Kind != Enrichment {
			return true
		}
	}
	return false
}

// Discovered reports whether the version was never registered nor
// deregistered: it exists through assignments or annotations only.
func (v *Version) Discovered() bool {
	return len(v.Registrations) == 0 && len(v.Deregistrations) == 0
}

// Registered reports whether the version has a registration.
func (v *Version) Registered() bool { return len(v.Registrations) > 0 }

// Active reports whether the version counts: its newest registration or
// deregistration is a registration, or it has neither but has some event.
func (v *Version) Active() bool {
	if len(v.direct) > 0 {
		return v.direct[0].Kind == Registration
	}
	return len(v.indirect) > 0
}

// ActivatedAt is the first registration's time, or the first event's.
func (v *Version) ActivatedAt() time.Time {
	if len(v.Registrations) > 0 {
		return v.Registrations[0].Time
	}
	if len(v.all) > 0 {
		return oldestOf(v.all)
	}
	return time.Time{}
}

// oldestOf returns the first element of GTO's ascending order of a newest
// first list: the oldest time (all events of that time share it).
func oldestOf(newest []*Event) time.Time { return newest[len(newest)-1].Time }

// Authoring is the event GTO takes the version's created_at, author,
// message and ref from; nil for a version with no events.
func (v *Version) Authoring() *Event { return v.authoring }

// CreatedAt is the authoring event's time.
func (v *Version) CreatedAt() time.Time {
	if v.authoring == nil {
		return time.Time{}
	}
	return v.authoring.Time
}

// activeStages returns the stages the version is in, ordered by activation
// time (oldest first).
func (v *Version) activeStages() []*VersionStage {
	var out []*VersionStage
	for _, s := range v.Stages {
		if s.Active() {
			out = append(out, s)
		}
	}
	slices.SortStableFunc(out, func(a, b *VersionStage) int { return a.ActivatedAt().Compare(b.ActivatedAt()) })
	return out
}

// Events returns the stage's assignments and unassignments, newest first.
func (s *VersionStage) Events() []*Event { return s.events }

// Active reports whether the newest event is an assignment.
func (s *VersionStage) Active() bool {
	return len(s.events) > 0 && s.events[0].Kind == Assignment
}

// ActivatedAt is the newest event's time when it is an assignment.
func (s *VersionStage) ActivatedAt() time.Time {
	if s.Active() {
		return s.events[0].Time
	}
	return time.Time{}
}

// Authoring is the newest assignment; nil if there is none.
func (s *VersionStage) Authoring() *Event {
	for _, e := range s.events {
		if e.Kind == Assignment {
			return e
		}
	}
	return nil
}

// CreatedAt is the newest assignment's time.
func (s *VersionStage) CreatedAt() time.Time {
	if e := s.Authoring(); e != nil {
		return e.Time
	}
	return time.Time{}
}

// isPythonSpace matches the characters Python's str.strip removes: Go's
// white space plus the information separators U+001C to U+001F.
func isPythonSpace(r rune) bool {
	return unicode.IsSpace(r) || r >= 0x1c && r <= 0x1f
}
