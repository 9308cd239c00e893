package registry

import (
	"cmp"
	"slices"
	"time"
)

// EventKind is what an [Event] records. Its numeric value is GTO's event
// priority, which orders events that happened in the same second.
type EventKind uint8

// The kinds of events, with GTO's priorities. GTO also defines "creation"
// (priority 1) but never produces it.
const (
	// Enrichment is GTO's "commit" event: the commit behind a version, or
	// the HEAD commit whose artifacts.yaml annotates an artifact.
	Enrichment     EventKind = 0
	Deprecation    EventKind = 2
	Registration   EventKind = 3
	Deregistration EventKind = 4
	Assignment     EventKind = 5
	Unassignment   EventKind = 6
)

// String is the event's name as GTO prints it ("registration", ...; "commit"
// for an Enrichment).
func (k EventKind) String() string {
	switch k {
	case Enrichment:
		return "commit"
	case Deprecation:
		return "deprecation"
	case Registration:
		return "registration"
	case Deregistration:
		return "deregistration"
	case Assignment:
		return "assignment"
	case Unassignment:
		return "unassignment"
	}
	return "unknown"
}

// Priority is GTO's priority of the event kind.
func (k EventKind) Priority() int { return int(k) }

// Addition reports whether the event adds something (a registration, an
// assignment, an enrichment) rather than taking it away.
func (k EventKind) Addition() bool {
	return k == Enrichment || k == Registration || k == Assignment
}

// Event is one thing that happened to an artifact: a GTO tag, or the
// commit behind a version.
type Event struct {
	Kind     EventKind
	Artifact string
	// Time is the tagger date of the tag (the committer date for an
	// Enrichment), with its UTC offset.
	Time    time.Time
	Author  Person
	Message string
	// Commit is the full sha the tag points to.
	Commit string
	// Tag is the tag's name; "" for an Enrichment.
	Tag string
	// Version is the version the event concerns: the tag's for
	// registrations, the one registered at Commit (or Commit itself) for
	// assignments. "" for a Deprecation.
	Version string
	// Stage is set for assignments and unassignments.
	Stage string
	// Committer and Annotations are set for an Enrichment.
	Committer   Person
	Annotations []Annotation

	at   int64     // Time in Unix nanoseconds: what ordering compares
	pos  int       // position in the list being sorted, see oldestFirst
	name *nameInfo // the artifact's entry, while New indexes the event
	// What New knows of the tag's ref while it indexes the event: its
	// name, the pass its name puts it in, and whether the name inside
	// its object is no GTO tag.
	ref  string
	pass EventKind
	bad  bool
}

// Ref is what GTO calls the event's ref: the tag, or the commit for an
// Enrichment.
func (e *Event) Ref() string {
	if e.Tag == "" {
		return e.Commit
	}
	return e.Tag
}

// newestFirst orders events the way GTO's get_events does: a stable sort by
// time, oldest first, then the whole list reversed, so that events of the
// same second come out in reverse of the order they were listed in. GTO
// compares times as instants, whatever their UTC offsets.
func newestFirst(evs []*Event) []*Event {
	oldestFirst(evs)
	slices.Reverse(evs)
	return evs
}

// oldestFirst is a stable sort by time, oldest first. Most lists arrive
// sorted, as tags are indexed in time order. Others are sorted by time and
// then position, which is stable and much faster than a stable sort; an
// event is in one list being sorted at a time, so pos is free to reuse.
func oldestFirst(evs []*Event) {
	byTime := func(a, b *Event) int { return cmp.Compare(a.at, b.at) }
	if slices.IsSortedFunc(evs, byTime) {
		return
	}
	for i, e := range evs {
		e.pos = i
	}
	slices.SortFunc(evs, func(a, b *Event) int {
		if c := cmp.Compare(a.at, b.at); c != 0 {
			return c
		}
		return a.pos - b.pos
	})
}
