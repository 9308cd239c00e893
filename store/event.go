package store

import (
	"context"
	"encoding/json"
	"errors"
	"time"

	"github.com/hookd-dev/hookd/store/driver"
)

// EventType is a GTO lifecycle event, or a tag's deletion.
type EventType string

const (
	EventRegistration   EventType = "registration"
	EventDeregistration EventType = "deregistration"
	EventAssignment     EventType = "assignment"
	EventUnassignment   EventType = "unassignment"
	EventDeprecation    EventType = "deprecation"
	EventTagDeleted     EventType = "tag_deleted"
)

// Event is what one tag object meant, recorded once however many paths
// (webhook, redelivery, git hook, reconciler) brought it.
type Event struct {
	ID           int64 // assigned by the store
	Repository   string
	Artifact     string
	Type         EventType
	Version      string
	Stage        string
	CommitSHA    string
	TagName      string
	TagObjectSHA string
	Tagger       Tagger // Tagger.When is the event's creation time
	Message      string
	DeliveryID   string   // the delivery that brought it ("" for the reconciler)
	ActiveBefore []string // versions active in Stage before the event
	ActiveAfter  []string // and after
	// Stages are the stages of Artifact whose versions the event changed,
	// each before and after, as GTO shows them; an assignment's or
	// unassignment's own stage is there even when it changed nothing (a
	// re-assignment of the version the stage holds). Deploys follow these.
	Stages     []StageChange
	RecordedAt time.Time
}

// StageChange is one stage's versions before and after an event.
type StageChange struct {
	Stage  string   `json:"stage"`
	Before []string `json:"before"`
	After  []string `json:"after"`
}

// RecordEvent stores e unless an event of the same type for the same tag
// object of the repository exists. It returns the stored event (the earlier
// one when it already existed) and whether e was new.
func (s *Store) RecordEvent(ctx context.Context, e Event) (Event, bool, error) {
	stored, isNew, err := s.RecordEvents(ctx, []Event{e})
	if err != nil {
		return e, false, err
	}
	return stored[0], isNew[0], nil
}

// RecordEvents is RecordEvent of each of evs, in order, in one
// transaction: a burst of new tags costs one commit, not one per event.
func (s *Store) RecordEvents(ctx context.Context, evs []Event) (stored []Event, isNew []bool, err error) {
	if len(evs) == 0 {
		return nil, nil, nil
	}
	stored, isNew = make([]Event, len(evs)), make([]bool, len(evs))
	err = inTx(ctx, s.db, func(tx driver.Tx) error {
		for i, e := range evs {
			if stored[i], isNew[i], err = recordEvent(ctx, tx, e); err != nil {
				return err
			}
		}
		return nil
	})
	return stored, isNew, err
}

func recordEvent(ctx context.Context, q driver.Querier, e Event) (Event, bool, error) {
	before, err := json.Marshal(nonNil(e.ActiveBefore))
	if err != nil {
		return e, false, err
	}
	after, err := json.Marshal(nonNil(e.ActiveAfter))
	if err != nil {
		return e, false, err
	}
	stages, err := json.Marshal(nonNilStages(e.Stages))
	if err != nil {
		return e, false, err
	}
	e.RecordedAt = now()
	err = q.QueryRow(ctx, `INSERT INTO hookd_event (repository, artifact, type, version, stage, commit_sha,
		tag_name, tag_object_sha, tagger_name, tagger_email, tagger_time, tagger_offset, message, delivery_id,
		active_before, active_after, recorded_at, stages)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18)
		ON CONFLICT (repository, tag_object_sha, type) DO NOTHING RETURNING id`,
		e.Repository, e.Artifact, string(e.Type), e.Version, e.Stage, e.CommitSHA, toText(e.TagName), e.TagObjectSHA,
		toText(e.Tagger.Name), toText(e.Tagger.Email), micros(e.Tagger.When), offsetOf(e.Tagger.When), toText(e.Message), e.DeliveryID,
		string(before), string(after), micros(e.RecordedAt), string(stages)).Scan(&e.ID)
	if err == nil {
		e.RecordedAt = fromMicros(micros(e.RecordedAt))
		return e, true, nil
	}
	if !errors.Is(err, driver.ErrNoRows) {
		return e, false, err
	}
	existing, err := scanEvent(q.QueryRow(ctx, eventSelect+`WHERE repository = $1 AND tag_object_sha = $2 AND type = $3`,
		e.Repository, e.TagObjectSHA, string(e.Type)))
	return existing, false, notFound(err)
}

func nonNilStages(s []StageChange) []StageChange {
	if s == nil {
		return []StageChange{}
	}
	return s
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// EventFilter selects events; empty fields match everything.
type EventFilter struct {
	Repository string
	Artifact   string
	Stage      string
	Type       EventType
	// DeliveryID keeps the events a delivery brought.
	DeliveryID string
	// Relisted keeps the events no delivery brought: found by re-listing
	// the repository's tags, because no webhook arrived for them.
	Relisted bool
	Page     // by ID, newest first
}

const eventSelect = `SELECT id, repository, artifact, type, version, stage, commit_sha, tag_name, tag_object_sha,
	tagger_name, tagger_email, tagger_time, tagger_offset, message, delivery_id, active_before, active_after,
	recorded_at, stages FROM hookd_event `

// Events lists events newest first.
func (s *Store) Events(ctx context.Context, f EventFilter) ([]Event, error) {
	var w where
	w.add("repository", f.Repository)
	w.add("artifact", f.Artifact)
	w.add("stage", f.Stage)
	w.add("type", string(f.Type))
	w.add("delivery_id", f.DeliveryID)
	if f.Relisted {
		w.conds = append(w.conds, "delivery_id = ''")
	}
	rows, err := s.db.Query(ctx, eventSelect+w.page("id", f.Page), w.args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []Event
	for rows.Next() {
		e, err := scanEvent(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, e)
	}
	return out, rows.Err()
}

// Event returns one event.
func (s *Store) Event(ctx context.Context, id int64) (Event, error) {
	return s.queryEvent(ctx, `WHERE id = $1`, id)
}

func (s *Store) queryEvent(ctx context.Context, where string, args ...any) (Event, error) {
	e, err := scanEvent(s.db.QueryRow(ctx, eventSelect+where, args...))
	return e, notFound(err)
}

func scanEvent(row driver.Row) (Event, error) {
	var (
		e                  Event
		typ, before, after string
		stages             string
		when, recorded     int64
		offset             int
	)
	err := row.Scan(&e.ID, &e.Repository, &e.Artifact, &typ, &e.Version, &e.Stage, &e.CommitSHA, &e.TagName,
		&e.TagObjectSHA, &e.Tagger.Name, &e.Tagger.Email, &when, &offset, &e.Message, &e.DeliveryID,
		&before, &after, &recorded, &stages)
	if err != nil {
		return Event{}, err
	}
	e.Type = EventType(typ)
	e.TagName, e.Tagger.Name, e.Tagger.Email, e.Message = fromText(e.TagName), fromText(e.Tagger.Name), fromText(e.Tagger.Email), fromText(e.Message)
	e.Tagger.When = inOffset(when, offset)
	e.RecordedAt = fromMicros(recorded)
	if err := json.Unmarshal([]byte(before), &e.ActiveBefore); err != nil {
		return Event{}, err
	}
	if err := json.Unmarshal([]byte(stages), &e.Stages); err != nil {
		return Event{}, err
	}
	if len(e.Stages) == 0 {
		e.Stages = nil
	}
	return e, json.Unmarshal([]byte(after), &e.ActiveAfter)
}
