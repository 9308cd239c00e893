package store

import (
	"context"
	"encoding/json"
	"time"

	"github.com/hookd-dev/hookd/store/driver"
)

// AuditEntry is one write someone asked hookd to make (who, what, when, result).
type AuditEntry struct {
	ID         int64     // assigned by the store
	At         time.Time // set by the store when zero
	Principal  string    // the token's or chat user's name
	Via        string    // "api", "slack", "command" (free text, not checked)
	Repository string
	Operation  string // register, assign, unassign, deregister, deprecate
	Artifact   string
	Version    string
	Stage      string
	Request    string   // the request as JSON, as received
	Status     int      // the HTTP status it was answered with (201, 403, 409, 422, 500...)
	Tags       []string // tags created (never nil when read back)
	Error      string   // the error message when it failed
}

// AuditFilter selects audit entries; empty fields match everything.
type AuditFilter struct {
	Repository, Principal, Artifact string
	Page                            // by ID, newest first
}

// RecordAudit stores e and returns it with its ID and time (now when At
// was zero; either way truncated to the microseconds the store keeps).
func (s *Store) RecordAudit(ctx context.Context, e AuditEntry) (AuditEntry, error) {
	e.Tags = nonNil(e.Tags)
	tags, err := json.Marshal(e.Tags)
	if err != nil {
		return e, err
	}
	if e.At.IsZero() {
		e.At = now()
	}
	e.At = fromMicros(micros(e.At))
	err = s.db.QueryRow(ctx, `INSERT INTO hookd_audit (at, principal, via, repository, operation, artifact,
		version, stage, request, status, tags, error)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) RETURNING id`,
		micros(e.At), toText(e.Principal), toText(e.Via), toText(e.Repository), toText(e.Operation), toText(e.Artifact),
		toText(e.Version), toText(e.Stage), toText(e.Request), e.Status, string(tags), toText(e.Error)).Scan(&e.ID)
	return e, err
}

// Audit lists audit entries newest first.
func (s *Store) Audit(ctx context.Context, f AuditFilter) ([]AuditEntry, error) {
	var w where
	w.add("repository", toText(f.Repository))
	w.add("principal", toText(f.Principal))
	w.add("artifact", toText(f.Artifact))
	rows, err := s.db.Query(ctx, `SELECT id, at, principal, via, repository, operation, artifact, version,
		stage, request, status, tags, error FROM hookd_audit`+w.page("id", f.Page), w.args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []AuditEntry
	for rows.Next() {
		e, err := scanAudit(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, e)
	}
	return out, rows.Err()
}

func scanAudit(row driver.Row) (AuditEntry, error) {
	var (
		e    AuditEntry
		at   int64
		tags string
	)
	err := row.Scan(&e.ID, &at, &e.Principal, &e.Via, &e.Repository, &e.Operation, &e.Artifact, &e.Version,
		&e.Stage, &e.Request, &e.Status, &tags, &e.Error)
	if err != nil {
		return AuditEntry{}, err
	}
	for _, f := range []*string{&e.Principal, &e.Via, &e.Repository, &e.Operation, &e.Artifact, &e.Version, &e.Stage, &e.Request, &e.Error} {
		*f = fromText(*f)
	}
	e.At = fromMicros(at)
	if err := json.Unmarshal([]byte(tags), &e.Tags); err != nil {
		return AuditEntry{}, err
	}
	e.Tags = nonNil(e.Tags)
	return e, nil
}
