package store

import (
	"context"
	"fmt"
	"strings"
	"time"
)

// TagsVersion is a fingerprint of a repository's stored tags: it changes
// whenever what Tags returns for it changes (a tag added, moved, deleted or
// back), so that a registry built from them can be kept until then. It is
// read from two indexes, at no cost that grows with the tags.
func (s *Store) TagsVersion(ctx context.Context, repository string) (string, error) {
	var seen, deleted int64
	// UpsertTag sets first_seen whenever a row changes, DeleteTag sets
	// deleted_at: every change moves one of the two.
	err := s.db.QueryRow(ctx, `SELECT COALESCE((SELECT max(first_seen) FROM hookd_tag WHERE repository = $1), 0),
		COALESCE((SELECT max(deleted_at) FROM hookd_tag WHERE repository = $1), 0)`, repository).Scan(&seen, &deleted)
	return fmt.Sprintf("%d/%d", seen, deleted), err
}

// LaneRuns are the runs of one environment's action that say where it
// stands: the newest, and the newest that succeeded (nil when none did).
type LaneRuns struct {
	Artifact, Stage, Action string
	Latest                  Run
	Succeeded               *Run
}

// LatestRuns returns, for each (artifact, stage, action) of repository
// that has runs (of artifact only, when it is not ""), its newest run and
// its newest successful one. It reads the lane index, not every run: the
// newest of each lane first, then, for lanes whose newest did not succeed,
// the way back to the last one that did.
func (s *Store) LatestRuns(ctx context.Context, repository, artifact string) ([]LaneRuns, error) {
	var w where
	w.add("repository", repository)
	w.add("artifact", artifact)
	rows, err := s.db.Query(ctx, runSelect+`WHERE id IN (SELECT max(id) FROM hookd_run`+w.filter()+
		` GROUP BY artifact, stage, action) ORDER BY artifact, stage, action`, w.args...)
	if err != nil {
		return nil, err
	}
	var out []LaneRuns
	for rows.Next() {
		r, err := scanRun(rows)
		if err != nil {
			rows.Close()
			return nil, err
		}
		out = append(out, LaneRuns{Artifact: r.Artifact, Stage: r.Stage, Action: r.Action, Latest: r})
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	for i := range out {
		l := &out[i]
		if l.Latest.Status == RunSucceeded {
			ok := l.Latest
			l.Succeeded = &ok
			continue
		}
		r, err := scanRun(s.db.QueryRow(ctx, runSelect+`WHERE repository = $1 AND artifact = $2 AND stage = $3 AND action = $4
			AND status = 'succeeded' AND id < $5 ORDER BY id DESC LIMIT 1`, repository, l.Artifact, l.Stage, l.Action, l.Latest.ID))
		switch err := notFound(err); err {
		case nil:
			l.Succeeded = &r
		case ErrNotFound:
		default:
			return nil, err
		}
	}
	return out, nil
}

// filter is the WHERE clause of w's conditions, "" for none.
func (w *where) filter() string {
	if len(w.conds) == 0 {
		return ""
	}
	return " WHERE " + strings.Join(w.conds, " AND ")
}

// RunsVersion is when a run of repository last changed (created, started,
// finished, superseded, retried): the moment its runs' newest update time,
// read from an index. Zero when it has none.
func (s *Store) RunsVersion(ctx context.Context, repository string) (time.Time, error) {
	var at int64
	err := s.db.QueryRow(ctx, `SELECT COALESCE(max(updated_at), 0) FROM hookd_run WHERE repository = $1`, repository).Scan(&at)
	if err != nil || at == 0 {
		return time.Time{}, err
	}
	return fromMicros(at), nil
}

// RunsChangedSince lists repository's runs that changed at or after since,
// oldest change first, at most limit of them; more means "too many, read
// again from scratch".
func (s *Store) RunsChangedSince(ctx context.Context, repository string, since time.Time, limit int) ([]Run, error) {
	return s.queryRuns(ctx, runSelect+`WHERE repository = $1 AND updated_at >= $2 ORDER BY updated_at LIMIT $3`,
		repository, micros(since), limit)
}
