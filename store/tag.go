package store

import (
	"context"
	"database/sql"
	"errors"
	"time"

	"github.com/hookd-dev/hookd/store/driver"
)

// Tagger is who made a tag and when; When keeps the tagger's UTC offset.
type Tagger struct {
	Name  string
	Email string
	When  time.Time
}

// Tag is a git tag as hookd last saw it in a repository.
type Tag struct {
	Repository string
	Name       string
	ObjectSHA  string // the tag object (the ref's target for a lightweight tag)
	CommitSHA  string // the commit the tag peels to
	Annotated  bool
	Tagger     Tagger
	Message    string
	FirstSeen  time.Time  // when hookd first saw this tag object
	DeletedAt  *time.Time // when hookd saw the tag gone; nil while it exists
}

// UpsertTag records t as present. It reports true when the tag is new to
// hookd: never seen, seen deleted, or now pointing at another tag object.
// Of racing callers with the same tag, exactly one sees true.
func (s *Store) UpsertTag(ctx context.Context, t Tag) (bool, error) {
	n, err := upsertTag(ctx, s.db, t)
	return n == 1, err
}

func upsertTag(ctx context.Context, q driver.Querier, t Tag) (int64, error) {
	// A tag object is content-addressed: the same object sha means the same
	// tag, so only a new object (or a deleted tag's return) changes the row.
	return q.Exec(ctx, `INSERT INTO hookd_tag (repository, name, object_sha, commit_sha, annotated,
		tagger_name, tagger_email, tagger_time, tagger_offset, message, first_seen, deleted_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, NULL)
		ON CONFLICT (repository, name) DO UPDATE SET object_sha = excluded.object_sha,
		commit_sha = excluded.commit_sha, annotated = excluded.annotated,
		tagger_name = excluded.tagger_name, tagger_email = excluded.tagger_email,
		tagger_time = excluded.tagger_time, tagger_offset = excluded.tagger_offset,
		message = excluded.message, first_seen = excluded.first_seen, deleted_at = NULL
		WHERE hookd_tag.object_sha <> excluded.object_sha OR hookd_tag.deleted_at IS NOT NULL`,
		t.Repository, toText(t.Name), t.ObjectSHA, t.CommitSHA, t.Annotated,
		toText(t.Tagger.Name), toText(t.Tagger.Email), micros(t.Tagger.When), offsetOf(t.Tagger.When), toText(t.Message), micros(now()))
}

// DeleteTag marks a tag gone; it reports false when it was unknown or
// already deleted.
func (s *Store) DeleteTag(ctx context.Context, repository, name string) (bool, error) {
	n, err := deleteTag(ctx, s.db, repository, name)
	return n > 0, err
}

func deleteTag(ctx context.Context, q driver.Querier, repository, name string) (int64, error) {
	return q.Exec(ctx, `UPDATE hookd_tag SET deleted_at = $3 WHERE repository = $1 AND name = $2 AND deleted_at IS NULL`,
		repository, toText(name), micros(now()))
}

// ApplyTags marks the tags named in deleted gone and records present as
// present (see DeleteTag and UpsertTag), in one transaction.
func (s *Store) ApplyTags(ctx context.Context, repository string, deleted []string, present []Tag) error {
	if len(deleted)+len(present) == 0 {
		return nil
	}
	return inTx(ctx, s.db, func(tx driver.Tx) error {
		for _, name := range deleted {
			if _, err := deleteTag(ctx, tx, repository, name); err != nil {
				return err
			}
		}
		for _, t := range present {
			if _, err := upsertTag(ctx, tx, t); err != nil {
				return err
			}
		}
		return nil
	})
}

// Tags lists the current (not deleted) tags of a repository by name; the
// registry is rebuilt from them. With deleted, deleted tags are included.
func (s *Store) Tags(ctx context.Context, repository string, deleted bool) ([]Tag, error) {
	q := `SELECT repository, name, object_sha, commit_sha, annotated, tagger_name, tagger_email,
		tagger_time, tagger_offset, message, first_seen, deleted_at FROM hookd_tag WHERE repository = $1`
	if !deleted {
		q += ` AND deleted_at IS NULL`
	}
	rows, err := s.db.Query(ctx, q+` ORDER BY name`, repository)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []Tag
	for rows.Next() {
		var (
			t               Tag
			when, firstSeen int64
			offset          int
			deletedAt       sql.NullInt64
		)
		if err := rows.Scan(&t.Repository, &t.Name, &t.ObjectSHA, &t.CommitSHA, &t.Annotated, &t.Tagger.Name,
			&t.Tagger.Email, &when, &offset, &t.Message, &firstSeen, &deletedAt); err != nil {
			return nil, err
		}
		t.Name, t.Tagger.Name, t.Tagger.Email, t.Message = fromText(t.Name), fromText(t.Tagger.Name), fromText(t.Tagger.Email), fromText(t.Message)
		t.Tagger.When = inOffset(when, offset)
		t.FirstSeen = fromMicros(firstSeen)
		if deletedAt.Valid {
			d := fromMicros(deletedAt.Int64)
			t.DeletedAt = &d
		}
		out = append(out, t)
	}
	return out, rows.Err()
}

// Listing records that a repository's tags have been listed, and when: a
// repository without one has never been, so its first listing is a
// baseline. (The ETags of conditional requests live in the GitHub client,
// in memory: a restarted process lists once in full.)
type Listing struct {
	Repository string
	ListedAt   time.Time
}

// Listing returns the last listing state of repository; a zero Listing
// (with Repository set) when there is none yet.
func (s *Store) Listing(ctx context.Context, repository string) (Listing, error) {
	l := Listing{Repository: repository}
	var listed int64
	err := s.db.QueryRow(ctx, `SELECT listed_at FROM hookd_listing WHERE repository = $1`, repository).Scan(&listed)
	switch {
	case errors.Is(err, driver.ErrNoRows):
		return l, nil
	case err != nil:
		return l, err
	}
	l.ListedAt = fromMicros(listed)
	return l, nil
}

// SaveListing records a listing of a repository (at ListedAt, default
// now). The table's etag column, from a design that kept ETags here, is
// left empty.
func (s *Store) SaveListing(ctx context.Context, l Listing) error {
	if l.ListedAt.IsZero() {
		l.ListedAt = now()
	}
	_, err := s.db.Exec(ctx, `INSERT INTO hookd_listing (repository, etag, listed_at) VALUES ($1, '', $2)
		ON CONFLICT (repository) DO UPDATE SET listed_at = excluded.listed_at`,
		l.Repository, micros(l.ListedAt))
	return err
}

// offsetOf is t's offset from UTC in seconds.
func offsetOf(t time.Time) int {
	_, offset := t.Zone()
	return offset
}

// inOffset rebuilds a time in the fixed zone it was recorded in.
func inOffset(us int64, offset int) time.Time {
	return time.UnixMicro(us).In(time.FixedZone("", offset))
}
