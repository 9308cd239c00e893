package registry

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"time"
	"unicode/utf8"
)

// WriteJSON writes v as GTO's --json prints it, Python's
// json.dumps(v, indent=4) and a newline: keys in their order, four spaces
// of indent, ", " never used, "<", ">" and "&" as they are, and every
// character outside printable ASCII escaped ("Zo\u00eb", "\ud83d\ude80"
// above U+FFFF, "\u007f").
func WriteJSON(w io.Writer, v any) error {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return err
	}
	return IndentJSON(w, b.Bytes())
}

// IndentJSON writes JSON as WriteJSON writes the value it holds, keeping
// its key order; strings must already be escaped as encoding/json escapes
// them with HTML escaping off.
func IndentJSON(w io.Writer, data []byte) error {
	var indented bytes.Buffer
	if err := json.Indent(&indented, bytes.TrimSpace(data), "", "    "); err != nil {
		return err
	}
	out := make([]byte, 0, indented.Len()+indented.Len()/8+1)
	for rest := indented.Bytes(); len(rest) > 0; {
		c := rest[0]
		if c < utf8.RuneSelf && c != 0x7f {
			out = append(out, c)
			rest = rest[1:]
			continue
		}
		// Only strings hold anything but ASCII, so each is escaped where
		// it stands, as json.dumps's ensure_ascii does.
		r, size := utf8.DecodeRune(rest)
		rest = rest[size:]
		if r > 0xffff {
			r -= 0x10000
			out = fmt.Appendf(out, `\u%04x\u%04x`, 0xd800+(r>>10), 0xdc00+(r&0x3ff))
			continue
		}
		out = fmt.Appendf(out, `\u%04x`, r)
	}
	out = append(out, '\n')
	_, err := w.Write(out)
	return err
}

// The types below are the shapes of GTO's JSON output. Their encoding/json
// encoding has GTO's field names, value types and order.

// FormatTime writes a time as GTO (Python's isoformat) does, keeping the
// UTC offset: 2023-02-09T10:00:00-05:00.
func FormatTime(t time.Time) string {
	if t.Nanosecond() != 0 {
		return t.Format("2006-01-02T15:04:05.000000-07:00")
	}
	return t.Format("2006-01-02T15:04:05-07:00")
}

func formatTimeOrNull(t time.Time) *string {
	if t.IsZero() {
		return nil
	}
	s := FormatTime(t)
	return &s
}

// KeyValue is one entry of an [OrderedMap].
type KeyValue[V any] struct {
	Key   string
	Value V
}

// OrderedMap is a JSON object whose keys keep their order, as GTO's dicts
// do.
type OrderedMap[V any] []KeyValue[V]

// Get returns the value for key.
func (m OrderedMap[V]) Get(key string) (V, bool) {
	for _, kv := range m {
		if kv.Key == key {
			return kv.Value, true
		}
	}
	var zero V
	return zero, false
}

// MarshalJSON writes the entries as one object, in order.
func (m OrderedMap[V]) MarshalJSON() ([]byte, error) {
	var b bytes.Buffer
	b.WriteByte('{')
	for i, kv := range m {
		if i > 0 {
			b.WriteByte(',')
		}
		k, err := json.Marshal(kv.Key)
		if err != nil {
			return nil, err
		}
		b.Write(k)
		b.WriteByte(':')
		v, err := json.Marshal(kv.Value)
		if err != nil {
			return nil, err
		}
		b.Write(v)
	}
	b.WriteByte('}')
	return b.Bytes(), nil
}

// Overview is `gto show`: every artifact by name, in GTO's order.
type Overview = OrderedMap[ArtifactSummary]

// ArtifactSummary is one artifact in `gto show`.
type ArtifactSummary struct {
	// Version is the greatest active registered version.
	Version *string `json:"version"`
	// Stage maps every stage of the registry to the versions in it (joined
	// with ", " when there are several), or null.
	Stage      OrderedMap[*string] `json:"stage"`
	Registered bool                `json:"registered"`
	Active     bool                `json:"active"`
}

// EventState is an event as GTO prints it inside `gto show NAME` and in
// `gto check-ref`. Fields that only some kinds of event have are left out
// for the others.
type EventState struct {
	// Priority and Addition are left out by check-ref.
	Priority    *int   `json:"priority,omitempty"`
	Addition    *bool  `json:"addition,omitempty"`
	Artifact    string `json:"artifact"`
	CreatedAt   string `json:"created_at"`
	Author      string `json:"author"`
	AuthorEmail string `json:"author_email"`
	Message     string `json:"message"`
	Commit      string `json:"commit_hexsha"`
	Tag         string `json:"tag,omitempty"`
	Version     string `json:"version,omitempty"`
	// Enrichments, Committer and CommitterEmail belong to enrichments.
	Enrichments    *[]Annotation `json:"enrichments,omitempty"`
	Committer      *string       `json:"committer,omitempty"`
	CommitterEmail *string       `json:"committer_email,omitempty"`
	Stage          string        `json:"stage,omitempty"`
	// Event is the kind's name; GTO prints it for assignments and
	// unassignments in `show` and for every event in check-ref.
	Event string `json:"event,omitempty"`
}

// eventState renders e; withPriority adds priority and addition, withKind
// adds "event".
func eventState(e *Event, withPriority, withKind bool) EventState {
	s := EventState{
		Artifact:    e.Artifact,
		CreatedAt:   FormatTime(e.Time),
		Author:      e.Author.Name,
		AuthorEmail: e.Author.Email,
		Message:     e.Message,
		Commit:      e.Commit,
		Tag:         e.Tag,
		Version:     e.Version,
		Stage:       e.Stage,
	}
	if withPriority {
		p, a := e.Kind.Priority(), e.Kind.Addition()
		s.Priority, s.Addition = &p, &a
	}
	if withKind {
		s.Event = e.Kind.String()
	}
	if e.Kind == Enrichment {
		ann := e.Annotations
		if ann == nil {
			ann = []Annotation{}
		}
		s.Enrichments = &ann
		s.Committer, s.CommitterEmail = &e.Committer.Name, &e.Committer.Email
	}
	return s
}

func eventStates(evs []*Event, withKind bool) []EventState {
	out := make([]EventState, len(evs))
	for i, e := range evs {
		out[i] = eventState(e, true, withKind)
	}
	return out
}

// Lifecycle is what GTO derives for a version or a version's stage from
// its events.
type Lifecycle struct {
	IsActive    bool    `json:"is_active"`
	ActivatedAt *string `json:"activated_at"`
	CreatedAt   *string `json:"created_at"`
	Author      *string `json:"author"`
	AuthorEmail *string `json:"author_email"`
	Message     *string `json:"message"`
	Ref         *string `json:"ref"`
}

func lifecycle(active bool, activated time.Time, authoring *Event) Lifecycle {
	l := Lifecycle{IsActive: active, ActivatedAt: formatTimeOrNull(activated)}
	if authoring != nil {
		ref := authoring.Ref()
		l.CreatedAt = formatTimeOrNull(authoring.Time)
		l.Author, l.AuthorEmail = &authoring.Author.Name, &authoring.Author.Email
		l.Message, l.Ref = &authoring.Message, &ref
	}
	return l
}

// VersionState is one version in `gto show NAME`.
type VersionState struct {
	Artifact        string       `json:"artifact"`
	Commit          string       `json:"commit_hexsha"`
	Version         string       `json:"version"`
	Enrichments     []EventState `json:"enrichments"`
	Registrations   []EventState `json:"registrations"`
	Deregistrations []EventState `json:"deregistrations"`
	Stages          []StageState `json:"stages"`
	Lifecycle
	Discovered bool `json:"discovered"`
}

// StageState is a version's record in one stage, in `gto show NAME`.
type StageState struct {
	Artifact      string       `json:"artifact"`
	Commit        string       `json:"commit_hexsha"`
	Version       string       `json:"version"`
	Stage         string       `json:"stage"`
	Assignments   []EventState `json:"assignments"`
	Unassignments []EventState `json:"unassignments"`
	Lifecycle
}

func (s *VersionStage) state() StageState {
	return StageState{
		Artifact:      s.Artifact,
		Commit:        s.Commit,
		Version:       s.Version,
		Stage:         s.Stage,
		Assignments:   eventStates(s.Assignments, true),
		Unassignments: eventStates(s.Unassignments, true),
		Lifecycle:     lifecycle(s.Active(), s.ActivatedAt(), s.Authoring()),
	}
}

func (v *Version) state(stages []StageState) VersionState {
	return VersionState{
		Artifact:        v.Artifact,
		Commit:          v.Commit,
		Version:         v.Name,
		Enrichments:     eventStates(v.Enrichments, false),
		Registrations:   eventStates(v.Registrations, false),
		Deregistrations: eventStates(v.Deregistrations, false),
		Stages:          stages,
		Lifecycle:       lifecycle(v.Active(), v.ActivatedAt(), v.authoring),
		Discovered:      v.Discovered(),
	}
}

// HistoryEntry is one line of `gto history`.
type HistoryEntry struct {
	Timestamp   string  `json:"timestamp"`
	Artifact    string  `json:"artifact"`
	Event       string  `json:"event"`
	Priority    int     `json:"priority"`
	Version     *string `json:"version"`
	Stage       *string `json:"stage"`
	Commit      string  `json:"commit"`
	Author      string  `json:"author"`
	AuthorEmail string  `json:"author_email"`
	Message     string  `json:"message"`
	Ref         string  `json:"ref"`
}
